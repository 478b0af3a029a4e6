#!/usr/bin/env python3
"""A run with 150 jobs needs two jobs pages (Link next); a run with exactly 100 needs one."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario)

REPO = "octo/bigjobs"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 10, "seed": 3, "jobs_min": 1, "jobs_max": 3,
                       "big_runs": {"3": 150, "6": 100}}]}


@scenario("big jobs: 150 jobs over two pages")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        big = [r["id"] for r in truth["runs"] if len(truth["jobs"][str(r["id"])]) == 150]
        hundred = [r["id"] for r in truth["runs"] if len(truth["jobs"][str(r["id"])]) == 100]
        check(len(big) == 1 and len(hundred) == 1, "scenario setup")
        res = run_miner(repo_args(sim, REPO) + ["--jobs-api", "rest"], cwd=d, timeout=60)
        check_exit(res, 0)
        rows = load_result_csv(d)
        assert_run_rows(rows, truth, REPO, with_jobs=True)
        row = [r for r in rows if r["id_build"] == str(big[0])][0]
        check(row["total_jobs"] == "150", "total_jobs %r, expected 150" % row["total_jobs"])

        jr = jobs_requests(sim.log())
        pages = sorted(int(e["query"].get("page", "1")) for e in jr[big[0]] if e["status"] == 200)
        check(pages == [1, 2], "jobs pages requested for the 150-job run: %s" % pages)
        pages = sorted(int(e["query"].get("page", "1")) for e in jr[hundred[0]] if e["status"] == 200)
        check(pages == [1], "jobs pages requested for the 100-job run: %s (no Link next there)" % pages)
        page2 = [e for e in jr[big[0]] if e["query"].get("page") == "2"][0]
        check(page2["query"].get("per_page") == "100", "page 2 keeps per_page=100: %r" % page2["query"])


if __name__ == "__main__":
    main()
