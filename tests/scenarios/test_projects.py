#!/usr/bin/env python3
"""-p FILE: several repositories in one CSV. Two real repositories (one listed twice, in
two URL forms, plus blank and comment lines) are mined into the same CSV, each run once,
values right; a repository the API does not know is named in the error and gives exit 3
while the others are still collected. A second run appends nothing."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     run_miner, scenario, write_config)

A, B = "octo/alpha", "octo/beta"
SCENARIO = {"repos": [{"full_name": A, "runs": 35, "seed": 3, "jobs_min": 0, "jobs_max": 2},
                      {"full_name": B, "runs": 140, "seed": 4, "jobs_min": 0, "jobs_max": 2}]}


@scenario("projects file: several repositories, one CSV")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        projects = os.path.join(d, "projects.txt")
        with open(projects, "w") as f:
            f.write("# repositories to mine\nhttps://github.com/%s\n\n%s.git\n"
                    "https://github.com/octo/missing\nhttps://github.com/%s/\n" % (A, B, A))
        cfg = write_config(d, requests_per_minute=100000)
        args = ["-p", projects, "--api-url", sim.url, "-c", cfg]
        res = run_miner(args, cwd=d, timeout=120)
        check_exit(res, 1)  # one repository missing among several: partial
        check("octo/missing" in res.stderr and "not found" in res.stderr,
              "the unknown repository is not named:\n%s" % res.stderr[-600:])
        rows = load_result_csv(d)
        for repo in (A, B):
            assert_run_rows([r for r in rows if r["repo"] == repo], sim.truth(repo), repo,
                            with_jobs=True)
        check({r["repo"] for r in rows} == {A, B}, "repositories in the CSV: %s"
              % sorted({r["repo"] for r in rows}))
        check(len(rows) == 35 + 140, "%d rows, expected %d" % (len(rows), 175))
        sim.reset_stats()
        res = run_miner(args, cwd=d, timeout=60)
        check_exit(res, 1)  # one repository missing among several: partial
        check(len(load_result_csv(d)) == 175, "the second run changed the row count")
        check(not jobs_requests(sim.log()), "the second run fetched jobs")


if __name__ == "__main__":
    main()
