#!/usr/bin/env python3
"""Job details through GraphQL give the very CSV REST gives. One repository (runs with 0,
1, 45, 150 and 260 jobs, quirky times, in-progress runs) is mined three times, each against
its own simulator: jobs_api rest, graphql and auto. Pages are made small (2 check runs, 3
steps per page) so that check runs and steps are paged past the first page. Then runs are
re-run and the in-progress ones complete, and each CSV is brought up to date the same way.
The CSVs are byte-identical, the run_jobs lines identical, the graphql and auto runs asked
GitHub's GraphQL API for the jobs (no REST jobs requests past the cross-check) and spent
fewer points than REST requests, and no limit was violated."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests,  # noqa: E402
                     repo_args, run_miner, scenario, write_config)

REPO = "octo/graphed"
SCENARIO = {
    "repos": [{"full_name": REPO, "runs": 80, "seed": 71, "jobs_min": 0, "jobs_max": 1,
               "big_runs": {"5": 45, "20": 150, "40": 260}, "in_progress": 2, "queued": 1}],
    "rate_limit": {"limit": 100000},
    "graphql": {"limit": 100000},
}
SMALL_PAGES = {"GHAMINER_GQL_FIRST": "2", "GHAMINER_GQL_STEPS": "3"}


def mine(mode, d, sim):
    cfg = write_config(d, requests_per_minute=100000, jobs_api=mode)
    res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=180, env=SMALL_PAGES)
    check_exit(res, 0)
    with open(os.path.join(d, "builds_features.csv"), "rb") as f:
        data = f.read()
    lines = {o["id_build"]: json.dumps(o, sort_keys=True) for o in res.of_type("run_jobs")}
    return res, data, lines


def grow(sim):
    truth = sim.truth(REPO)
    for run in truth["runs"][-3:]:
        sim.post("/_sim/rerun", {"repo": REPO, "id": run["id"]})
    sim.post("/_sim/complete_runs", {"repo": REPO})


@scenario("job details through GraphQL: the CSV REST gives, byte for byte")
def main():
    results = {}
    for mode in ("rest", "graphql", "auto"):
        with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
            res1, csv1, lines1 = mine(mode, d, sim)
            assert_run_rows(__import__("harness").load_result_csv(d), sim.truth(REPO), REPO,
                            with_jobs=True)
            log1 = sim.log()
            sim.reset_stats()
            grow(sim)
            res2, csv2, lines2 = mine(mode, d, sim)
            assert_run_rows(__import__("harness").load_result_csv(d), sim.truth(REPO), REPO,
                            with_jobs=True)
            stats = sim.stats()
            check(stats.get("violations", 0) == 0, "%s: %d violations" % (mode, stats["violations"]))
            results[mode] = (csv1, lines1, csv2, lines2, log1, res1)
    rest = results["rest"]
    for mode in ("graphql", "auto"):
        csv1, lines1, csv2, lines2, log1, res1 = results[mode]
        check(csv1 == rest[0], "%s: the first CSV differs from REST's" % mode)
        check(lines1 == rest[1], "%s: run_jobs lines differ from REST's" % mode)
        check(csv2 == rest[2], "%s: the CSV after re-runs differs from REST's" % mode)
        check(lines2 == rest[3], "%s: run_jobs lines after re-runs differ" % mode)
        gql = [e for e in log1 if e["path"].endswith("/graphql")]
        rest_jobs = sum(len(v) for v in jobs_requests(log1).values())
        check(gql, "%s: no GraphQL request" % mode)
        # auto fetches its cross-check sample (3 completed runs) both ways, and lets REST
        # take the 3 unfinished runs listed ahead of them meanwhile; nothing else
        check(rest_jobs == (6 if mode == "auto" else 0),
              "%s: %d REST jobs requests" % (mode, rest_jobs))
        if mode == "auto":
            check("fetched both ways are identical" in res1.stderr,
                  "auto: the cross-check is not reported:\n%s" % res1.stderr[-1500:])


if __name__ == "__main__":
    main()
