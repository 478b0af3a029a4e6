#!/usr/bin/env python3
"""A 200 whose body is not what was asked for (cut in half, the wrong shape, an HTML page
from a proxy) is a transient fault like a 5xx: retried, never taken as final. 400 runs,
20 jobs answers of the wrong shape, 20 cut short, and an HTML listing page: every run is
collected, the exit code is 0, the CSV equals the truth, and each retry is said."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests,  # noqa: E402
                     load_result_csv, repo_args, run_miner, scenario, write_config)

REPO = "octo/glitchy"
RUNS = 400
SCENARIO = {
    "repos": [{"full_name": REPO, "runs": RUNS, "seed": 41, "jobs_min": 1, "jobs_max": 3}],
    "faults": [
        {"path_regex": "^/repos/octo/glitchy/actions/runs$", "times": 1, "status": 200,
         "body": "<html><body><h1>502 Bad Gateway</h1></body></html>"},
        {"path_regex": "/jobs$", "times": 20, "status": 200,
         "body": '{"total_count":1,"message":"ok"}'},
        {"path_regex": "/jobs$", "times": 20, "status": 200,
         "body": '{"total_count":2,"jobs":[{"id":1,"run_id":1,"name":"bu'},
    ],
}


@scenario("malformed 2xx answers are retried, not taken as final")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = write_config(d, requests_per_minute=100000, max_retries=3)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=120)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
        check(not res.of_type("error"), "errors reported: %r" % res.of_type("error")[:3])
        log = sim.log()
        jobs = jobs_requests(log)
        sent = sum(len(v) for v in jobs.values())
        check(len(jobs) == RUNS and sent == RUNS + 40,
              "%d jobs requests for %d runs, expected %d (one each, one more per bad answer)"
              % (sent, len(jobs), RUNS + 40))
        # (a retry may meet one of the faults left: it is asked again in turn)
        check(all(len(v) <= 4 for v in jobs.values()),
              "a run asked more than max_retries + 1 times")
        check(len(log) / RUNS < 1.3, "%.2f requests per run" % (len(log) / RUNS))
        said = [l for l in res.stderr.splitlines() if "malformed answer (HTTP 200)" in l]
        check(len(said) == 41, "%d retries said on stderr, expected 41:\n%s"
              % (len(said), "\n".join(said[:5])))


if __name__ == "__main__":
    main()
