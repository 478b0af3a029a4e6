#!/usr/bin/env python3
"""A secondary-limit 403 with Retry-After: 2 at request 5: the refused request is retried
no sooner than 2 s later, nothing else leaves meanwhile (except what other workers had
already on its way), and the miner finishes with all data."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)

REPO = "octo/secondary"
RETRY_AFTER = 2
# Other workers may not have seen the 403 yet: requests leaving within RACE of it are
# tolerated (a few of them), so the test does not flake on a loaded machine.
RACE = 0.25
MAX_IN_FLIGHT = 4
SCENARIO = {"secondary": {"at_requests": [5], "retry_after": RETRY_AFTER, "status": 403, "send_retry_after": True,
                          "grace_ms": int(RACE * 1000)},
            "repos": [{"full_name": REPO, "runs": 40, "seed": 9, "jobs_min": 0, "jobs_max": 3}]}


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
        retry = [e for e in log if e["seq"] > 5 and e["path"] == hit[0]["path"]]
        check(retry, "the refused request %s was never retried" % hit[0]["path"])
        wait = retry[0]["t_start"] - t403
        check(wait >= RETRY_AFTER - 0.05, "the refused request was retried after %.3fs, Retry-After is %ss" % (wait, RETRY_AFTER))
        # a miner ignoring Retry-After sends everything left at once
        racing = [e for e in log if t403 < e["t_start"] <= t403 + RACE]
        check(len(racing) <= 2 * MAX_IN_FLIGHT, "%d requests right after the 403 (max_in_flight %d): Retry-After ignored?"
              % (len(racing), MAX_IN_FLIGHT))
        early = [e for e in log if t403 + RACE < e["t_start"] < t403 + RETRY_AFTER - 0.05]
        if early:
            check(False, "%d requests within Retry-After (%ss) of the 403, the first %.3fs after it: %s"
                  % (len(early), RETRY_AFTER, early[0]["t_start"] - t403, [(e["seq"], e["path"]) for e in early[:3]]))
        st = sim.stats()
        check(st["violations"] == 0 and st["secondary_answers"] == 1, "stats %s" % st)


if __name__ == "__main__":
    main()
