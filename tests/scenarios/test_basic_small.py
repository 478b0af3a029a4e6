#!/usr/bin/env python3
"""30 runs: the CSV and the NDJSON stream match the simulator value by value."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOKEN, Sim, api_log, assert_ndjson, assert_token_never_leaks,  # noqa: E402
                     assert_run_rows, check, check_exit, load_result_csv, repo_args, run_miner, scenario)

REPO = "octo/hello"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 30, "seed": 7, "jobs_min": 0, "jobs_max": 4,
                       "in_progress": 1, "queued": 1}]}


@scenario("basic: 30 runs, CSV and NDJSON value by value")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        res = run_miner(repo_args(sim, REPO), cwd=d, timeout=60)
        check_exit(res, 0)
        rows = load_result_csv(d)
        assert_run_rows(rows, truth, REPO, with_jobs=True)
        assert_ndjson(res, truth, REPO)

        # jq sees one run object per line, equal to what Python parsed
        jq = subprocess.run(["jq", "-c", 'select(.type=="runs_page") | .data.runs[]'],
                            input=res.stdout.encode(), capture_output=True, timeout=30)
        check(jq.returncode == 0, "jq failed on stdout: %s" % jq.stderr.decode(errors="replace"))
        lines = jq.stdout.decode().splitlines()
        check(len(lines) == 30, "jq printed %d runs, expected 30" % len(lines))
        py_runs = [r for p in res.of_type("runs_page") for r in p["runs"]]
        for line, py in zip(lines, py_runs):
            check(json.loads(line) == py, "jq and Python read a run differently:\n%s\n%r" % (line, py))

        # the listing asked for what the spec says, and the token stayed secret
        log = sim.log()
        runs_req = api_log(log, "runs")
        check(runs_req, "no runs listing request")
        first = runs_req[0]["query"]
        check(first.get("per_page") == "100" and first.get("exclude_pull_requests") == "true",
              "first runs request query %r" % first)
        assert_token_never_leaks(TOKEN, res, d)
        check(sim.stats()["violations"] == 0, "rate-limit violations: %s" % sim.stats())


if __name__ == "__main__":
    main()
