#!/usr/bin/env python3
"""Durability without write amplification: phase 2 journals job details and folds them
into the CSV in a few geometric batches, never a whole-file rewrite per run, and never a
fold just before the pass's own. The miner's own account of what it wrote stays within
2.5x the final CSV: about 1x of rows and journal entries, and folds that add up to about
1.25x (store_fold_due). The fold threshold is forced low enough that intermediate folds
really happen."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario, write_config)

REPO = "octo/heavy"
RUNS = 1200
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 23, "jobs_min": 2, "jobs_max": 6,
                       "in_progress": 0, "queued": 0}],
            "rate_limit": {"limit": 100000, "window_s": 3600}}


@scenario("phase 2 writes stay within 2.5x the final CSV")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = write_config(d, requests_per_minute=100000, max_in_flight=16)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=120,
                        env={"GHAMINER_FOLD_MIN": "65536"})
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
        m = re.search(r"wrote (\d+) bytes \((\d+) rewrites\) for a (\d+)-byte CSV", res.stderr)
        check(m, "no write account on stderr:\n%s" % res.stderr[-800:])
        written, rewrites, final = (int(x) for x in m.groups())
        size = os.path.getsize(os.path.join(d, "builds_features.csv"))
        check(final == size, "reported CSV size %d, on disk %d" % (final, size))
        check(rewrites >= 2, "only %d rewrites: the batching was not exercised" % rewrites)
        check(rewrites <= 12, "%d rewrites for %d runs: not batched" % (rewrites, RUNS))
        check(written <= 2.5 * final, "wrote %d bytes for a %d-byte CSV (%.2fx)"
              % (written, final, written / final))
        print("    wrote %d bytes in %d rewrites for a %d-byte CSV (%.2fx)"
              % (written, rewrites, final, written / final))


if __name__ == "__main__":
    main()
