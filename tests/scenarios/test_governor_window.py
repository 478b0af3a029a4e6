#!/usr/bin/env python3
"""requests_per_minute is a ceiling over any 60 s, per token (GitHub counts its secondary
limits per user), not an even pace.

  under      ~200 requests at the default 850 a minute, 8 in flight, 30 ms latency: the
             whole repository goes at the concurrency bound (an even pace of 850 a minute
             would take 14 s; the run takes a fraction of it), 8 in flight at the peak.
  per token  two users' tokens, requests_per_minute 450 over a window shortened to 4 s
             (GHAMINER_RATE_WINDOW_MS: 30 per token in any 4 s), ~80 requests: no token
             sends more than 30 in any 4 s, but the pool sends about 60 (at least 90 % of
             it): one user's allowance does not cap the pool.
  same user  the same with tokens_same_user: true: at most 30 in any 4 s over both
             tokens, and at least 90 % of it in the busiest 4 s."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)
from harness3 import Failures  # noqa: E402

TOK_A, TOK_B = "ghp_windowTOKa_q1W2e3", "ghp_windowTOKb_r4T5y6"
WINDOW_S, RPM = 4, 450
CEILING = RPM * WINDOW_S // 60   # 30 a token in any 4 s


def busiest(starts, window):
    """The most requests that arrived within any `window` seconds."""
    best, lo = 0, 0
    starts = sorted(starts)
    for hi, t in enumerate(starts):
        while starts[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def under_the_ceiling():
    repo = "octo/quick"
    sc = {"latency_ms": 30, "repos": [{"full_name": repo, "runs": 200, "seed": 81, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(repo)
        cfg = write_config(d, max_in_flight=8)   # requests_per_minute: the default 850
        res = run_miner(repo_args(sim, repo) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
        st = sim.stats()
        starts = sorted(e["t_start"] for e in sim.log())
        span = starts[-1] - starts[0]
        check(len(starts) > 200, "only %d requests" % len(starts))
        check(span < 5, "%d requests took %.1fs: paced, not at the concurrency bound" % (len(starts), span))
        check(st["max_in_flight"] >= 7, "at most %d in flight: the concurrency was not used" % st["max_in_flight"])
        print("    %d requests in %.2fs, %d at most in flight" % (len(starts), span, st["max_in_flight"]), flush=True)


def pool(same_user):
    repo = "octo/pool2"
    sc = {"tokens": [{"token": TOK_A, "limit": 5000}, {"token": TOK_B, "limit": 5000}],
          "latency_ms": 20,
          "repos": [{"full_name": repo, "runs": 80, "seed": 83, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(repo)
        cfg = write_config(d, max_in_flight=8, requests_per_minute=RPM, tokens_same_user=same_user)
        res = run_miner(repo_args(sim, repo) + ["-c", cfg], cwd=d, timeout=60, token=None,
                        env={"GITHUB_TOKENS": TOK_A + "," + TOK_B,
                             "GHAMINER_RATE_WINDOW_MS": str(WINDOW_S * 1000)})
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
        log = sim.log()
        check(all(e["token_ok"] for e in log), "requests without an accepted token")
        check(sim.stats()["violations"] == 0, "violations: %s" % sim.stats())
        per = {k: busiest([e["t_start"] for e in log if e["token"] == k], WINDOW_S) for k in (0, 1)}
        both = busiest([e["t_start"] for e in log], WINDOW_S)
        used = {k: sum(e["token"] == k for e in log) for k in (0, 1)}
        check(used[0] and used[1], "requests per token: %s, expected both used" % used)
        allowance = CEILING if same_user else 2 * CEILING
        for k in (0, 1):
            check(per[k] <= CEILING, "token #%d sent %d requests within %d s, its allowance is %d"
                  % (k + 1, per[k], WINDOW_S, CEILING))
        check(0.9 * allowance <= both <= allowance, "both tokens sent %d requests within %d s: expected %d "
              "(at least %d)" % (both, WINDOW_S, allowance, int(0.9 * allowance + 0.99)))
        print("    %d requests (%d, %d per token); busiest %d s: %d (token #1 %d, #2 %d)"
              % (len(log), used[0], used[1], WINDOW_S, both, per[0], per[1]), flush=True)


@scenario("governor: the per-minute ceiling is a sliding window, one per token")
def main():
    fl = Failures()
    with fl.case("fewer requests than the ceiling: at the concurrency bound"):
        under_the_ceiling()
    with fl.case("two users' tokens: an allowance each"):
        pool(False)
    with fl.case("tokens_same_user: one allowance for both"):
        pool(True)
    fl.raise_if_any()


if __name__ == "__main__":
    main()
