#!/usr/bin/env python3
"""Two ghaminer processes on one CSV: while the first runs (300 ms per request), a second
one on the same CSV exits 5 at once, saying the file is in use (and by which pid), without
sending a request; the first completes normally. A third one started
after the first exited (the lock file is still there) runs normally."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scaled, scenario)
from harness3 import CSV_NAME, Bg, LogTail, fast_config, wait_until  # noqa: E402

REPO = "octo/locked"
RUNS = 30
# 300 ms per request (longer under a slow wrapper, scripts/test --valgrind): the first miner
# is still running when the second one has started and given up.
SCENARIO = {"latency_ms": int(scaled(300)),
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 53, "jobs_min": 0, "jobs_max": 2}]}


@scenario("lock: a second ghaminer on the same CSV exits 5")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # one request at a time: the first miner runs for about 31 × 300 ms, well past the
        # second one's start even on a loaded machine under ASan
        cfg = fast_config(d, max_in_flight=1)
        tail = LogTail(sim)
        first = Bg(repo_args(sim, REPO) + ["-c", cfg], d)
        try:
            # the first one holds the lock once it has asked for something
            wait_until(lambda: sim.stats()["requests"] >= 1 or not first.running(), 20,
                       what="the first miner's first request")
            check(first.running(), "the first miner ended before the test could start the second")
            time.sleep(scaled(0.35))   # page 1 answered and appended: there is a CSV to protect
            check(os.path.exists(os.path.join(d, CSV_NAME)), "no CSV after the first page")
            n_before = sim.stats()["requests"]
            second = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=30)
            check_exit(second, 5)
            check(second.elapsed < scaled(5), "the second miner took %.1fs to give up" % second.elapsed)
            check("in use" in second.messages(), "the second miner's message does not say the CSV is "
                  "in use:\n%s" % second.messages()[-800:])
            check(str(first.pid) in second.stderr, "the message does not name the first miner's pid %d"
                  % first.pid)
            check(not second.of_type("runs_page") and not second.of_type("run_jobs"),
                  "the second miner streamed runs")
            check(first.running(), "the first miner ended while the second one ran (the test needs "
                  "it to still run)")
            # whatever the first wrote meanwhile, the second must not have sent anything: all
            # requests are the first's (one listing page, then one jobs request per run)
            code = first.wait(60)
            res1 = first.result()
            check_exit(res1, 0)
            log = tail.entries()
            check(len(log) == 1 + RUNS, "%d API requests, expected %d from the first miner alone "
                  "(the second one sent some?)" % (len(log), 1 + RUNS))
            check(n_before >= 1, "no request before the second started")
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
            check(code == 0, "first exit %s" % code)
        finally:
            first.close()
        # the lock file stays behind; it must not block the next run
        res3 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=30)
        check_exit(res3, 0)


if __name__ == "__main__":
    main()
