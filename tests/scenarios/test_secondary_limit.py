#!/usr/bin/env python3
"""A secondary-limit 403 with Retry-After: 2 at request 5: the miner sends nothing new for
2 s (requests already in flight excepted), then finishes with all data."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)

REPO = "octo/secondary"
RETRY_AFTER = 2
SCENARIO = {"secondary": {"at_requests": [5], "retry_after": RETRY_AFTER, "status": 403, "send_retry_after": True},
            "repos": [{"full_name": REPO, "runs": 30, "seed": 9, "jobs_min": 0, "jobs_max": 3}]}
RACE = 0.05   # a request leaving within 50 ms of the 403 was already on its way
MAX_IN_FLIGHT = 4


@scenario("secondary rate limit: honour Retry-After")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # concurrency on, pacing off: several requests are in flight when the 403 comes
        cfg = write_config(d, max_in_flight=MAX_IN_FLIGHT, requests_per_minute=60000)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        log = sorted(sim.log(), key=lambda e: e["seq"])
        hit = [e for e in log if e["seq"] == 5]
        check(hit and hit[0]["status"] == 403, "request 5 was not the secondary 403: %s" % hit)
        t403 = hit[0]["t_end"]
        # up to MAX_IN_FLIGHT-1 requests may leave right after the 403 (other workers were
        # already sending); nothing else until Retry-After has passed
        racing = [e for e in log if t403 < e["t_start"] <= t403 + RACE]
        check(len(racing) < MAX_IN_FLIGHT, "%d requests right after the 403 (max_in_flight %d): Retry-After ignored?"
              % (len(racing), MAX_IN_FLIGHT))
        early = [e for e in log if t403 + RACE < e["t_start"] < t403 + RETRY_AFTER - RACE]
        if early:
            check(False, "%d requests within Retry-After (%ss) of the 403, the first %.3fs after it: %s"
                  % (len(early), RETRY_AFTER, early[0]["t_start"] - t403, [(e["seq"], e["path"]) for e in early[:3]]))
        later = [e for e in log if e["t_start"] >= t403 + RETRY_AFTER - RACE]
        check(later, "no request after Retry-After: the refused request was never retried")
        st = sim.stats()
        check(st["violations"] == 0 and st["secondary_answers"] == 1, "stats %s" % st)


if __name__ == "__main__":
    main()
