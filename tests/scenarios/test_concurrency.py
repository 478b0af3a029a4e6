#!/usr/bin/env python3
"""100 ms latency, 60 runs, max_in_flight 8 in config.yaml: jobs are fetched concurrently,
never more than 8 at a time."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)

REPO = "octo/parallel"
MAX = 8
SCENARIO = {"latency_ms": 100,
            "repos": [{"full_name": REPO, "runs": 60, "seed": 13, "jobs_min": 0, "jobs_max": 3}]}


@scenario("concurrency: at most max_in_flight requests")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # pacing (requests_per_minute) is not under test here; let concurrency show
        cfg = write_config(d, max_in_flight=MAX, requests_per_minute=60000)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        st = sim.stats()
        check(st["max_in_flight"] > 1, "requests were never concurrent (max_in_flight %d)" % st["max_in_flight"])
        check(st["max_in_flight"] <= MAX, "%d requests in flight, config allows %d" % (st["max_in_flight"], MAX))
        # 61 requests at 100 ms each take 6 s one by one
        check(res.elapsed < 5, "took %.1fs: hardly concurrent" % res.elapsed)


if __name__ == "__main__":
    main()
