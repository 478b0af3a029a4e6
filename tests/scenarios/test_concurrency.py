#!/usr/bin/env python3
"""100 ms latency, 60 runs, max_in_flight 8 in config.yaml: jobs are fetched concurrently,
never more than 8 at a time. Measured by the simulator, not by a stopwatch: the most
requests it saw at once is exactly 8 (and the miner's own count agrees), and over the jobs
phase on average more than 2 jobs requests were being answered at once: one at a time gives
at most 1; an idle machine gives about 7, a starved one (the sanitizer build beside three
busy loops on 2 cores) about 4."""

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
        check(st["max_in_flight"] <= MAX, "%d requests in flight, config allows %d" % (st["max_in_flight"], MAX))
        check(st["max_in_flight"] == MAX, "at most %d requests in flight, expected the %d allowed "
              "(60 runs to fetch)" % (st["max_in_flight"], MAX))
        said = "at most %d in flight" % MAX
        check(said in res.stderr, "the miner's summary does not say %r:\n%s" % (said, res.stderr[-600:]))
        # The jobs phase from the simulator's log: each request is in flight from its arrival
        # to its answer; their summed durations over the phase's span is the mean concurrency.
        jobs = [e for e in sim.log() if e["path"].endswith("/jobs")]
        check(len(jobs) == 60, "%d jobs requests, expected one per run (60)" % len(jobs))
        span = max(e["t_end"] for e in jobs) - min(e["t_start"] for e in jobs)
        mean = sum(e["t_end"] - e["t_start"] for e in jobs) / span
        check(mean > MAX / 4, "on average %.2f jobs requests in flight over the %.2f s of the jobs "
              "phase; with max_in_flight %d more than %d are expected" % (mean, span, MAX, MAX // 4))
        print("    mean jobs requests in flight: %.2f of %d" % (mean, MAX), flush=True)


if __name__ == "__main__":
    main()
