#!/usr/bin/env python3
"""Running again on a finished CSV appends nothing, fetches no jobs, leaves the file
byte-identical."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario)

REPO = "octo/again"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 40, "seed": 17, "jobs_min": 0, "jobs_max": 3}]}


@scenario("re-run on a finished CSV is a no-op")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        csv_path = os.path.join(d, "builds_features.csv")
        check_exit(run_miner(repo_args(sim, REPO), cwd=d, timeout=60), 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        with open(csv_path, "rb") as f:
            before = f.read()
        sim.reset_stats()
        res = run_miner(repo_args(sim, REPO), cwd=d, timeout=60)
        check_exit(res, 0)
        with open(csv_path, "rb") as f:
            after = f.read()
        check(after == before, "the CSV changed on the second run (%d → %d bytes)" % (len(before), len(after)))
        jr = jobs_requests(sim.log())
        check(not jr, "the second run fetched jobs for %d runs, e.g. %s" % (len(jr), list(jr)[:5]))
        check(not res.of_type("run_jobs"), "the second run emitted run_jobs messages")


if __name__ == "__main__":
    main()
