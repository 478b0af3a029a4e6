#!/usr/bin/env python3
"""csv_formula_guard. Off (the default), formula-like workflow names reach the CSV exactly as
GitHub sends them. On, every text cell a spreadsheet would run (=, +, -, @) gets a leading
apostrophe, in appended rows and in rows rewritten by the fold alike; numbers and
job_details stay exact, and the NDJSON keeps GitHub's values."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, case, check, check_exit, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario, write_config)

REPO = "octo/formulas"
NAMES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+SUM(1,2)", "-2+3", "@cmd"]
SCENARIO = {"repos": [{"full_name": REPO, "runs": 40, "seed": 5, "workflows": len(NAMES),
                       "workflow_names": NAMES, "jobs_min": 1, "jobs_max": 2}]}


def guarded_truth(truth):
    """The truth as the guard writes it: the runs' workflow names with an apostrophe."""
    out = dict(truth)
    out["runs"] = [dict(r, name="'" + r["name"]) if r.get("name") else r for r in truth["runs"]]
    return out


@scenario("csv_formula_guard: off keeps GitHub's values, on defuses formulas")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        names = {r.get("name") for r in truth["runs"]}
        check(names & set(NAMES), "the simulator did not use the formula-like names: %s" % names)
        with case("off (default): the CSV holds the exact names"), \
                tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
            res = run_miner(repo_args(sim, REPO), cwd=d, timeout=60)
            check_exit(res, 0)
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        with case("on: every formula-like name guarded, the rest exact"), \
                tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
            cfg = write_config(d, csv_formula_guard=True)
            res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
            check_exit(res, 0)
            rows = load_result_csv(d)
            named = [r for r in rows if r["workflow_name"]]   # the oldest runs have no name
            check(named and all(r["workflow_name"][:1] == "'" for r in named),
                  "unguarded names: %s" % sorted({r["workflow_name"] for r in named})[:4])
            # Apart from the apostrophe, every value is GitHub's (jobs came by a fold).
            assert_run_rows(rows, guarded_truth(truth), REPO, with_jobs=True)
            streamed = {r["workflow_name"] for p in res.of_type("runs_page") for r in p["runs"]}
            check(streamed - {None} <= set(NAMES), "the NDJSON was guarded too: %s" % sorted(streamed - {None})[:3])


if __name__ == "__main__":
    main()
