#!/usr/bin/env python3
"""Re-syncing an unchanged repository costs one request, a free 304, even when some of its
runs were still in progress: they sit on the page the 304 proves unchanged, so they are
not asked for one by one. Once the simulator completes them, the first page changes (200)
and they are updated in place, their jobs collected again, the CSV equal to the truth."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, api_log, assert_run_rows, check, check_exit,  # noqa: E402
                     load_result_csv, repo_args, run_miner, scenario, write_config)

REPO = "octo/steady"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 300, "seed": 19, "jobs_min": 0,
                       "jobs_max": 2, "in_progress": 2, "queued": 1}],
            "rate_limit": {"limit": 100000}}


def forget_open_runs(d):
    path = os.path.join(d, "builds_features.csv.state")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(re.sub(r',\s*"open":\s*\[[0-9,\s]*\]', "", text))


@scenario("re-sync economy: unfinished runs on a 304 page cost nothing more")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = write_config(d, requests_per_minute=100000)
        args = repo_args(sim, REPO) + ["-c", cfg]
        check_exit(run_miner(args, cwd=d), 0)
        sim.reset_stats()
        res = run_miner(args, cwd=d)
        check_exit(res, 0)
        log = api_log(sim.log())
        check([e["status"] for e in log] == [304],
              "the re-sync sent %s, expected one 304" % [(e["path"], e["status"]) for e in log])
        check("refreshing" not in res.stderr, "runs refreshed one by one:\n%s" % res.stderr)
        # Unfinished runs the 304 does not cover (here: the state forgets which runs the
        # page held) are asked one by one, conditionally: the second time, free 304s.
        forget_open_runs(d)
        sim.reset_stats()
        check_exit(run_miner(args, cwd=d), 0)
        first = [e["status"] for e in api_log(sim.log())]
        check(first == [304, 200, 200, 200], "first refresh sent %s" % first)
        forget_open_runs(d)
        sim.reset_stats()
        check_exit(run_miner(args, cwd=d), 0)
        log = api_log(sim.log())
        again = [e["status"] for e in log]
        check(again == [304, 304, 304, 304], "second refresh sent %s" % again)
        check(all(e["headers"].get("if-none-match") for e in log),
              "a refresh was not conditional")
        # Once they complete, the first page changes: they are updated, jobs again.
        sim.post("/_sim/complete_runs", {"repo": REPO})
        sim.reset_stats()
        check_exit(run_miner(args, cwd=d), 0)
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)


if __name__ == "__main__":
    main()
