#!/usr/bin/env python3
"""A long rate-limit wait is put to use: the 20th request gets a secondary limit with
Retry-After: 10, and while the miner waits, the job details collected so far are folded
into the CSV (not left in the journal until the end). After the wait the run completes with
every run exactly once and exit 0."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args, scenario  # noqa: E402
from harness3 import CSV_NAME, Bg, fast_config, tolerant_csv  # noqa: E402

REPO = "octo/patient"
RUNS = 40
SCENARIO = {"secondary": {"at_requests": [20], "retry_after": 10},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 71, "jobs_min": 1, "jobs_max": 2,
                       "in_progress": 0, "queued": 0}]}


@scenario("fold the journal during a long rate-limit wait")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=4)
        bg = Bg(repo_args(sim, REPO) + ["-c", cfg], d)
        try:
            at = bg.wait_obj(lambda o: o.get("type") == "status"
                             and (o.get("data") or {}).get("stage") == "rate_limited",
                             20, what="a rate_limited status")
            msg = bg.objs[at]["data"]["message"]
            check("secondary" in msg, "the wait does not say it is a secondary limit: %r" % msg)
            # the fold happens in the same loop iteration; give the disk a moment
            time.sleep(1.5)
            check(bg.running(), "the miner did not wait out the Retry-After")
            done = {o["data"]["id_build"] for o in bg.objs[:at]
                    if isinstance(o, dict) and o.get("type") == "run_jobs"}
            check(len(done) >= 5, "only %d runs had their jobs before the wait" % len(done))
            _, rows, torn = tolerant_csv(os.path.join(d, CSV_NAME))
            check(torn == 0, "the CSV has a torn tail during the wait")
            filled = {int(r["id_build"]) for r in rows if r["total_jobs"] != ""}
            missing = sorted(done - filled)
            check(not missing, "during the wait the CSV still lacks the job details of %d runs "
                  "whose jobs were collected before it (e.g. %s): not folded" % (len(missing), missing[:3]))
            bg.wait(40)
            res = bg.result()
        finally:
            bg.close()
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)


if __name__ == "__main__":
    main()
