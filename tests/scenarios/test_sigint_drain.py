#!/usr/bin/env python3
"""SIGINT while the end of a pass waits for the thread pool: an fsync made slow (an
LD_PRELOAD shim built here: 1.5 s per fsync off the main thread) keeps the pool busy when
the last run_jobs line is out. Every job streamed must be in the CSV when the process
exits 130, the journal empty, and the interrupted status the last line."""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, load_result_csv, miner_bin,  # noqa: E402
                     repo_args, scenario)
from harness3 import CSV_NAME, Bg, fast_config  # noqa: E402

REPO = "octo/drain"
RUNS = 120
SCENARIO = {"rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 5, "jobs_min": 1, "jobs_max": 2,
                       "in_progress": 0, "queued": 0}]}
HERE = os.path.dirname(os.path.abspath(__file__))


def build_shim(d):
    so = os.path.join(d, "slow_io_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", so,
                    os.path.join(HERE, "slow_io_shim.c"), "-ldl"], check=True)
    # A sanitizer build needs its runtime first in LD_PRELOAD.
    ldd = subprocess.run(["ldd", miner_bin()], capture_output=True, text=True).stdout
    asan = [l.split("=>")[1].split()[0] for l in ldd.splitlines() if "libasan" in l]
    return " ".join(asan + [so])


@scenario("SIGINT while the pass's results go to disk: nothing streamed is lost")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        preload = build_shim(d)
        truth = sim.truth(REPO)
        cfg = fast_config(d, max_in_flight=8)
        bg = Bg(repo_args(sim, REPO) + ["-c", cfg], d,
                env={"LD_PRELOAD": preload, "SLOW_FSYNC_MS": "1500"})
        n = 0
        for _ in range(RUNS):
            n = bg.wait_obj(lambda o: o.get("type") == "run_jobs", 60, start=n,
                            what="run_jobs lines") + 1
        time.sleep(0.3)  # the pass is over; its last fsync round is still in the pool
        bg.proc.send_signal(signal.SIGINT)
        code = bg.wait(60)
        check(code == 130, "exit code %s, expected 130" % code)
        last = [o for o in bg.objs if isinstance(o, dict)][-1]
        check(last.get("type") == "status" and last["data"].get("stage") == "interrupted",
              "the last NDJSON line is %r" % last)
        journal = os.path.join(d, CSV_NAME + ".journal")
        check(not os.path.exists(journal) or os.path.getsize(journal) == 0,
              "the journal still holds %d bytes" % os.path.getsize(journal))
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)


if __name__ == "__main__":
    main()
