#!/usr/bin/env python3
"""One run's jobs keep failing (502): the miner gives up on that run after its retries,
exits 1 (partial), leaves that run's total_jobs/job_details empty and completes the others.
Another run's jobs request is cut once (connection reset): retried, complete."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario, write_config)

REPO = "octo/faulty"
RETRIES = 2
SCENARIO = {"repos": [{"full_name": REPO, "runs": 20, "seed": 23, "jobs_min": 1, "jobs_max": 3}]}


@scenario("faults: a run whose jobs always fail → partial")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        bad = truth["runs"][4]["id"]
        cut = truth["runs"][9]["id"]
        sim.configure(faults=[{"path_regex": "/runs/%d/jobs$" % bad, "status": 502, "times": 100},
                              {"path_regex": "/runs/%d/jobs$" % cut, "kind": "reset", "times": 1}])
        cfg = write_config(d, max_retries=RETRIES)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=90)
        check_exit(res, 1)
        rows = load_result_csv(d)
        assert_run_rows(rows, truth, REPO, with_jobs=True, missing_jobs={bad})
        row = [r for r in rows if r["id_build"] == str(bad)][0]
        check(row["total_jobs"] == "" and row["job_details"] == "", "the failed run has jobs data: %r" % row["total_jobs"])
        jr = jobs_requests(sim.log())
        tries = len(jr.get(bad, []))
        check(2 <= tries <= RETRIES + 1, "the failing run was tried %d times with max_retries %d" % (tries, RETRIES))
        check(len(jr.get(cut, [])) >= 2, "the reset request was not retried")
        check(res.of_type("error") or res.stderr.strip(), "no error reported for the failed run")
        check(not [m for m in res.of_type("run_jobs") if m.get("id_build") == bad], "run_jobs for the failed run")


if __name__ == "__main__":
    main()
