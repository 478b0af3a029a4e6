#!/usr/bin/env python3
"""One run's jobs keep failing (502): the miner gives up on that run after its retries,
exits 1 (partial), leaves that run's total_jobs/job_details empty and completes the others.
Another run's jobs request is cut once (connection reset): retried, complete."""

import os
import re
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
        tries = [e["status"] for e in jr.get(bad, [])]
        check(tries == [502] * (RETRIES + 1), "the failing run's jobs requests were answered %s; with "
              "max_retries %d, expected %d tries, all 502" % (tries, RETRIES, RETRIES + 1))
        cut_tries = [e["status"] for e in jr.get(cut, [])]
        check(cut_tries == [0, 200], "the reset jobs request: answers %s, expected the reset (0) then "
              "one retry answered 200" % cut_tries)
        # the failure is reported, naming the run and the answer, on stderr and as an NDJSON error
        said = "listing jobs of run %d failed: HTTP 502" % bad
        check(said in res.stderr and "after %d attempts" % (RETRIES + 1) in res.stderr,
              "stderr does not say %r ... 'after %d attempts':\n%s" % (said, RETRIES + 1, res.stderr[-1500:]))
        errors = [m.get("message", "") for m in res.of_type("error")]
        check(any(said in m for m in errors), "no NDJSON error %r; errors: %s" % (said, errors))
        check(not any(str(cut) in m for m in errors), "the run whose request was retried is reported "
              "as failed: %s" % errors)
        check(any(re.search(r"jobs of 1 runs? of %s could not be collected" % re.escape(REPO), m) for m in errors),
              "no NDJSON error saying that the jobs of 1 run could not be collected: %s" % errors)
        check(not [m for m in res.of_type("run_jobs") if m.get("id_build") == bad], "run_jobs for the failed run")


if __name__ == "__main__":
    main()
