#!/usr/bin/env python3
"""The governor under GitHub-like limits, scaled down so the scenario takes seconds.

  secondary  The simulator refuses (secondary limit, counted as a violation) more than 10
             requests in flight, or more than 600 a minute, measured over a sliding 10 s
             window (at most 100 in any 10 s). The miner runs with max_in_flight 8 and
             requests_per_minute 560 over a window shortened to 10 s as well
             (GHAMINER_RATE_WINDOW_MS: 93 in any 10 s) on 200 runs at 50 ms latency; the
             first 10 jobs answers come 0.9 s late, so requests pile up to the in-flight cap.
             Expected, from the simulator's log: zero violations; the ceiling is a sliding
             window, not a pace: the first 93 requests go at the concurrency bound (within
             3 s), the 94th and the 187th one and two windows after the first (within 10 %:
             the allowance is used), and no 10 s hold more than 93 (at least 90 % of it).
  primary    A budget of 150 per 6 s window, ~350 requests needed: the miner completes
             without a violation, and, the work outlasting each window's budget, spreads
             it over the window instead of spending it at once and idling: every closed
             window used at least 80 % of its budget (135 of 150 is the most a miner keeping
             its reserve, a tenth of a small budget, can use) and its requests span at
             least half the window.
  simulator  The limits bite: a burst breaks the per-minute limit, 12 requests at once
             break max_concurrent."""

import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario, write_config)
from harness3 import Failures  # noqa: E402

RPM, MAX_IN_FLIGHT = 560, 8
RUNS = 200
WINDOW_S = 10                     # the simulator's window, and the miner's (scaled)
CEILING = RPM * WINDOW_S // 60    # 93 requests in any 10 s


def simulator_bites():
    """The simulator's limits are not vacuous: a burst of 110 requests breaks the
    100-per-10-s limit, and 12 at once break max_concurrent 10."""
    sc = {"latency_ms": 300, "secondary": {"max_concurrent": 10, "per_minute": 600, "per_minute_window_s": 10,
                                          "penalty": False},
          "repos": [{"full_name": "octo/bite", "runs": 5, "seed": 65}]}
    with Sim(sc) as sim:
        threads = [threading.Thread(target=sim.api, args=("/repos/octo/bite/actions/runs",)) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kinds = [e.get("kind") for e in sim.log()]
        check("secondary:concurrency" in kinds, "12 requests at once: no concurrency refusal (%s)" % kinds)
        sim.configure(latency_ms=0)
        sim.reset_stats()
        for _ in range(110):
            sim.api("/repos/octo/bite/actions/runs")
        kinds = [e.get("kind") for e in sim.log()]
        check("secondary:per_minute" in kinds and all(k is None for k in kinds[:80]),
              "110 requests in a burst: per-minute refusals %s" % sorted(set(map(str, kinds))))


def secondary():
    repo = "octo/paced"
    sc = {"latency_ms": 50,
          "secondary": {"max_concurrent": 10, "per_minute": 600, "per_minute_window_s": 10,
                        "retry_after": 2},
          # the first jobs answers are slow: requests pile up to the miner's in-flight cap
          "faults": [{"path_regex": "/jobs$", "kind": "delay", "delay_ms": 900, "times": 10}],
          "repos": [{"full_name": repo, "runs": RUNS, "seed": 61, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(repo)
        cfg = write_config(d, max_in_flight=MAX_IN_FLIGHT, requests_per_minute=RPM)
        res = run_miner(repo_args(sim, repo) + ["-c", cfg], cwd=d, timeout=90,
                        env={"GHAMINER_RATE_WINDOW_MS": str(WINDOW_S * 1000)})
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
        st = sim.stats()
        check(st["violations"] == 0 and st["secondary_answers"] == 0,
              "secondary limits hit: %s (kinds %s)" % (st, sorted({e.get("kind") for e in sim.log() if e.get("kind")})))
        check(st["max_in_flight"] <= MAX_IN_FLIGHT, "%d in flight, config allows %d" % (st["max_in_flight"], MAX_IN_FLIGHT))
        check(st["max_in_flight"] >= MAX_IN_FLIGHT - 1, "at most %d in flight behind slow answers: the "
              "concurrency was not used" % st["max_in_flight"])
        check(len(jobs_requests(sim.log())) >= RUNS, "not every run's jobs were asked for")
        starts = sorted(e["t_start"] for e in sim.log())   # every API request counts
        check(len(starts) > 2 * CEILING, "only %d requests" % len(starts))
        burst = starts[CEILING - 1] - starts[0]
        check(burst < 3, "the first %d requests took %.2fs: paced, not at the concurrency bound"
              % (CEILING, burst))
        for k in (1, 2):
            at = starts[k * CEILING] - starts[0]
            check(k * WINDOW_S <= at <= 1.1 * k * WINDOW_S,
                  "request %d started %.2fs after the first: expected %d s to %.1f s (%d windows of %d)"
                  % (k * CEILING + 1, at, k * WINDOW_S, 1.1 * k * WINDOW_S, k, CEILING))
        busiest, lo = 0, 0
        for hi, t in enumerate(starts):
            while starts[lo] <= t - WINDOW_S:
                lo += 1
            busiest = max(busiest, hi - lo + 1)
        check(0.9 * CEILING <= busiest <= CEILING, "the busiest %d s held %d requests, expected %d (at least %d)"
              % (WINDOW_S, busiest, CEILING, int(0.9 * CEILING + 0.99)))
        print("    %d requests: %d in %.2fs, then one window (%.2fs) and two (%.2fs) later; busiest %d s: %d; "
              "%d at most in flight" % (len(starts), CEILING, burst, starts[CEILING] - starts[0],
                                       starts[2 * CEILING] - starts[0], WINDOW_S, busiest, st["max_in_flight"]),
              flush=True)


def primary():
    repo = "octo/budget"
    limit, window = 150, 6
    sc = {"rate_limit": {"limit": limit, "window_s": window},
          "repos": [{"full_name": repo, "runs": 345, "seed": 63, "jobs_min": 0, "jobs_max": 2}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(repo)
        cfg = write_config(d, max_in_flight=MAX_IN_FLIGHT, requests_per_minute=100000)
        res = run_miner(repo_args(sim, repo) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
        st = sim.stats()
        check(st["violations"] == 0 and st["primary_403"] == 0 and "403" not in st["by_status"],
              "requests arrived with the budget spent: %s" % st)
        wins = sorted(st["windows"], key=lambda w: w["start"])
        closed, current = wins[:-1], wins[-1]
        used = ", ".join("%d" % w["used"] for w in wins)
        check(len(closed) >= 2, "%d requests fitted in %d windows (used %s)?" % (sum(w["used"] for w in wins), len(wins), used))
        for k, w in enumerate(closed, 1):
            check(w["used"] <= w["limit"], "window %d used %d of %d" % (k, w["used"], w["limit"]))
            check(w["used"] >= 0.8 * w["limit"], "window %d used %d of its budget of %d, less than 80 %% while work "
                  "was waiting (windows used: %s)" % (k, w["used"], w["limit"], used))
        # within a window the budget is spread, not spent in a burst and then idled away
        log = sorted(sim.log(), key=lambda e: e["t_start"])
        for k, w in enumerate(closed, 1):
            inside = [e["t_start"] for e in log if e.get("rl", {}).get("reset") == w["reset"]]
            if len(inside) > 1:
                spread = inside[-1] - inside[0]
                check(spread >= 0.5 * window, "window %d: %d requests within %.2fs of a %ds window"
                      % (k, len(inside), spread, window))
        print("    windows used: %s (limit %d per %ds)" % (used, limit, window), flush=True)


@scenario("governor: secondary limits (concurrency, per minute) and the primary budget")
def main():
    fl = Failures()
    with fl.case("simulator: the limits bite"):
        simulator_bites()
    with fl.case("max_concurrent 10, 600/min: 560 in any minute, no violation"):
        secondary()
    with fl.case("budget 150 per 6 s, ~350 requests: each window used, none exceeded"):
        primary()
    fl.raise_if_any()


if __name__ == "__main__":
    main()
