#!/usr/bin/env python3
"""A pool of tokens (GITHUB_TOKENS=a,b,c or -t repeated), each with its own primary budget
in the simulator (tokens given as {"token", "limit"}; the log records each request's token
index, never its value).

  rejected   GITHUB_TOKENS=good1,bad,good2, `bad` unknown to GitHub: a warning names
             token #2 and never a token's value (stdout, stderr, CSV, files), the token is
             dropped after its first 401s, the run completes (exit 0) with all data.
  budgets    two tokens, budgets 60 and 400 (no reset during the test), ~300 requests
             needed: no 403, no token over its budget, most requests on the bigger one.
  all bad    -t bad1 -t bad2: exit 3, both rejections reported, no token value shown."""

import hashlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ScenarioFailure, Sim, assert_run_rows, assert_token_never_leaks,  # noqa: E402
                     check, check_exit, fail, load_result_csv, repo_args, run_miner, scenario)
from harness3 import Failures, fast_config  # noqa: E402

REPO = "octo/pool"
GOOD1, BAD, GOOD2 = "ghp_poolGOOD1_x7Qm2", "ghp_poolBADtok_k3Zp9", "ghp_poolGOOD2_w8Rt4"
SMALL, BIG = "ghp_poolSMALL_a1Bc2", "ghp_poolBIG_d3Ef4"
MAX_IN_FLIGHT = 4


def sha8(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def no_token_anywhere(res, d, tokens, files=True):
    """stdout, stderr, the CSV, the state file, the journal and every other file in d."""
    assert_token_never_leaks(tokens, res, d, files=files)


def simulator_budgets():
    """The simulator's per-token budgets themselves (no miner): own limits and windows, the
    log names the token by index or hash, never by value."""
    sc = {"tokens": [{"token": SMALL, "limit": 60}, {"token": BIG, "limit": 400}],
          "repos": [{"full_name": REPO, "runs": 5, "seed": 57}]}
    with Sim(sc) as sim:
        for tok, lim in ((SMALL, 60), (BIG, 400)):
            status, h, _ = sim.api("/repos/%s/actions/runs" % REPO, token=tok)
            check(status == 200 and h.get("x-ratelimit-limit") == str(lim)
                  and h.get("x-ratelimit-remaining") == str(lim - 1),
                  "token with limit %d: status %s, limit %s, remaining %s"
                  % (lim, status, h.get("x-ratelimit-limit"), h.get("x-ratelimit-remaining")))
        status, h, _ = sim.api("/repos/%s/actions/runs" % REPO, token=BAD)
        check(status == 401 and h.get("x-ratelimit-limit") == "60", "bad token: %s %s" % (status, h))
        log = sim.log()
        check([e["token"] for e in log] == [0, 1, None], "log token indexes %s" % [e["token"] for e in log])
        check(log[2]["token_sha"] == sha8(BAD), "log token_sha of the bad token")
        check([w["used"] for w in sorted(sim.stats()["windows"], key=lambda w: w["token"])] == [1, 1],
              "windows %s" % sim.stats()["windows"])
        with open(sim.log_path, encoding="utf-8") as f:
            text = f.read()
        for tok in (SMALL, BIG, BAD):
            check(tok not in text, "the simulator's log holds a token value")


def rejected_token():
    sc = {"tokens": [{"token": GOOD1, "limit": 5000}, {"token": GOOD2, "limit": 5000}],
          "latency_ms": 5,
          "repos": [{"full_name": REPO, "runs": 120, "seed": 51, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = fast_config(d, max_in_flight=MAX_IN_FLIGHT)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60, token=None,
                        env={"GITHUB_TOKENS": ",".join([GOOD1, BAD, GOOD2])})
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        check("token #2 of 3 was rejected" in res.stderr,
              "no warning naming token #2 of 3 on stderr:\n%s" % res.stderr[-1500:])
        check("token #1" not in res.stderr and "token #3" not in res.stderr,
              "a good token was reported as rejected:\n%s" % res.stderr[-1500:])
        no_token_anywhere(res, d, [GOOD1, BAD, GOOD2])
        log = sorted(sim.log(), key=lambda e: e["seq"])
        bad = [e for e in log if e.get("token_sha") == sha8(BAD)]
        check(bad, "the bad token was never tried")
        check(all(e["status"] == 401 and not e["token_ok"] for e in bad),
              "answers to the bad token: %s" % sorted({e["status"] for e in bad}))
        # requests already on their way when the first 401 came back are forgiven
        first_401 = min(e["t_end"] for e in bad)
        late = [e for e in bad if e["t_start"] > first_401 + 0.05]
        check(not late, "%d requests used the bad token after it was rejected" % len(late))
        check(len(bad) <= MAX_IN_FLIGHT, "%d requests with the bad token" % len(bad))
        used = {e["token"] for e in log if e["token_ok"]}
        check(used == {0, 1}, "requests used the good tokens %s, expected both (0 and 1)" % sorted(used))
        check(sim.stats()["violations"] == 0, "violations: %s" % sim.stats())


def budgets():
    limits = {0: 60, 1: 400}
    sc = {"tokens": [{"token": SMALL, "limit": limits[0]}, {"token": BIG, "limit": limits[1]}],
          "rate_limit": {"window_s": 3600},
          "repos": [{"full_name": REPO, "runs": 290, "seed": 53, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = fast_config(d, max_in_flight=8)
        try:
            res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=30, token=None,
                            env={"GITHUB_TOKENS": SMALL + "," + BIG})
        except ScenarioFailure as e:
            # say where it stalled: the longest silence between two requests
            now = time.monotonic()     # the simulator's log uses the same clock
            log = sorted(sim.log(), key=lambda x: x["t_start"])
            ends = [x["t_start"] for x in log[1:]] + [now]
            g, a = max(((t - x["t_start"], x) for x, t in zip(log, ends)), key=lambda p: p[0])
            fail("%s\n%d requests in 30 s (%d on the budget of 60, %d on the budget of 400); the longest "
                 "silence, %.1f s, came after request %s (token #%s, X-RateLimit %s) while the budget of "
                 "400 had %s left" % (str(e)[:1500], len(log), sum(x["token"] == 0 for x in log),
                                      sum(x["token"] == 1 for x in log), g, a and a["seq"],
                                      a and a["token"] + 1, a and a.get("rl"),
                                      min([x["rl"]["remaining"] for x in log if x["token"] == 1] or ["all"])))
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        no_token_anywhere(res, d, [SMALL, BIG])
        st = sim.stats()
        check("403" not in st["by_status"] and st["primary_403"] == 0 and st["violations"] == 0,
              "403s or violations: %s" % st)
        log = sim.log()
        check(all(e["token_ok"] for e in log), "requests without an accepted token")
        n = {k: sum(e["token"] == k for e in log) for k in limits}
        check(n[0] + n[1] >= 280, "only %d requests?" % (n[0] + n[1]))
        for w in st["windows"]:
            check(w["used"] <= w["limit"], "token %s used %d of a budget of %d" % (w["token"], w["used"], w["limit"]))
        for k, lim in limits.items():
            check(n[k] <= lim, "token #%d sent %d requests, its budget is %d" % (k + 1, n[k], lim))
        check(n[1] > 2 * n[0], "requests per token: %d on the budget of 60, %d on the budget of 400: "
              "expected most on the bigger one" % (n[0], n[1]))
        print("    requests: %d on token #1 (budget 60), %d on token #2 (budget 400)" % (n[0], n[1]))


def all_bad():
    sc = {"tokens": [GOOD1], "repos": [{"full_name": REPO, "runs": 20, "seed": 55}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=MAX_IN_FLIGHT)
        bad1, bad2 = BAD, BAD[::-1]
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg, "-t", bad1, "-t", bad2], cwd=d, timeout=60,
                        token=None)
        check_exit(res, 3)
        no_token_anywhere(res, d, [bad1, bad2, GOOD1], files=False)
        msgs = res.messages()
        check("token #1 of 2" in msgs and "token #2 of 2" in msgs,
              "expected both tokens reported as rejected:\n%s" % msgs[-1500:])
        log = sim.log()
        check(log and all(e["status"] == 401 for e in log), "answers %s" % sim.stats()["by_status"])
        check(len(log) <= 2 * MAX_IN_FLIGHT, "%d requests with rejected tokens" % len(log))


@scenario("token pool: a rejected token, per-token budgets, all tokens rejected")
def main():
    fl = Failures()
    with fl.case("simulator: per-token budgets, token index in the log"):
        simulator_budgets()
    with fl.case("GITHUB_TOKENS=good1,bad,good2: token #2 dropped, run completes"):
        rejected_token()
    with fl.case("budgets 60 and 400, ~300 requests: no 403, none over budget"):
        budgets()
    with fl.case("-t bad1 -t bad2: exit 3"):
        all_bad()
    fl.raise_if_any()


if __name__ == "__main__":
    main()
