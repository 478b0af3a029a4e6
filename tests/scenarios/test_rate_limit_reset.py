#!/usr/bin/env python3
"""Primary limit of 25 per 2 s window, 61 requests needed: the miner paces itself on
X-RateLimit-Remaining/Reset, waits for the reset, never hits a primary-limit 403."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)

REPO = "octo/limited"
LIMIT, WINDOW = 25, 2
SCENARIO = {"rate_limit": {"limit": LIMIT, "window_s": WINDOW},
            "repos": [{"full_name": REPO, "runs": 60, "seed": 5, "jobs_min": 0, "jobs_max": 2}]}


@scenario("primary rate limit: wait for the reset")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # the default reserve (50) exceeds this tiny limit: keep 2 back; and no pacing, so
        # that the budget, not requests_per_minute, is what slows the miner down
        cfg = write_config(d, budget_reserve=2, max_in_flight=4, requests_per_minute=60000)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=90)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        st = sim.stats()
        check(st["violations"] == 0 and st["primary_403"] == 0,
              "requests arrived with the budget spent: %s" % st)
        check("403" not in st["by_status"], "403 answers: %s" % st["by_status"])
        # 61 requests cannot fit in one window of 25: the miner must have waited
        log = sorted(sim.log(), key=lambda e: e["t_start"])
        check(len(log) > LIMIT, "only %d requests?" % len(log))
        span = log[-1]["t_start"] - log[0]["t_start"]
        check(span >= WINDOW, "all %d requests within %.2fs: no wait for the reset?" % (len(log), span))


if __name__ == "__main__":
    main()
