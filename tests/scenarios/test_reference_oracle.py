#!/usr/bin/env python3
"""ghaminer against an independent implementation: tests/sim/reference_miner.py, a small
Python miner (one listing pass, a thread pool for jobs) that shares no code with ghaminer
nor with the harness's expected values. Both mine the same simulated repository over HTTP
(gzip, Link pagination of runs and of a run's 150 jobs, old runs without names or actors,
unfinished runs, quoted branches, multi-line commit messages, +05:30 step times), once in
full and once with -fd/-td. Their CSVs must hold the same runs with the same values, cell
by cell (numbers at 1e-6, job_details as JSON), and so must their NDJSON runs and
run_jobs lines. The reference's CSV is itself checked against the simulator's truth, so a
disagreement says which side is wrong."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CSV_HEADER, SRC, Sim, _first_diff, _same, assert_run_rows, case, check,  # noqa: E402
                     check_exit, compare_value, load_result_csv, repo_args, run_miner, scenario)
from harness3 import fast_config  # noqa: E402

REFERENCE = os.path.join(SRC, "tests", "sim", "reference_miner.py")
REPO = "octo/oracle"
RUNS = 240   # three listing pages of 100 for the reference; created windows for ghaminer
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 31, "jobs_min": 0, "jobs_max": 4,
                       "big_runs": {"17": 150}, "in_progress": 2, "queued": 1,
                       "start": "2024-03-01T00:00:00Z", "spacing_s": 3600}]}
# -fd/-td: whole UTC days inside the ten days the history spans
FROM, TO = "2024-03-04", "2024-03-07"


def mine_both(sim, extra):
    """ghaminer and the reference on the same simulator → (ghaminer result, its CSV rows,
    reference result, its CSV rows)."""
    check(os.path.isfile(REFERENCE), "the reference miner %s is missing" % REFERENCE)
    out = []
    for binary in (None, [sys.executable, REFERENCE]):
        with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
            cfg = fast_config(d, max_in_flight=8)
            res = run_miner(repo_args(sim, REPO) + ["-c", cfg] + extra, cwd=d, timeout=120, binary=binary)
            check_exit(res, 0)
            out += [res, load_result_csv(d)]
    return out


def by_id(rows, who):
    m = {}
    for r in rows:
        check(r["id_build"] not in m, "%s: run %s twice in the CSV" % (who, r["id_build"]))
        m[r["id_build"]] = r
    return m


def same_csv(rows, ref_rows):
    got, exp = by_id(rows, "ghaminer"), by_id(ref_rows, "reference")
    check(set(got) == set(exp), "ghaminer and the reference collected different runs: only ghaminer %s, "
          "only the reference %s" % (sorted(set(got) - set(exp))[:5], sorted(set(exp) - set(got))[:5]))
    problems = []
    for rid, e in exp.items():
        for field in CSV_HEADER:
            d = compare_value(field, got[rid][field], e[field])
            if d:
                problems.append("run %s, column %s: %s" % (rid, field, d))
    check(not problems, "%d cells differ between ghaminer's CSV and the reference's; first ones:\n  %s"
          % (len(problems), "\n  ".join(problems[:8])))
    return len(exp)


def same_ndjson(res, ref):
    """The runs of runs_page lines and the run_jobs lines, value by value."""
    for kind, key in (("runs_page", "runs"), ("run_jobs", None)):
        sides = []
        for who, r in (("ghaminer", res), ("reference", ref)):
            items = [x for p in r.of_type(kind) for x in p[key]] if key else r.of_type(kind)
            m = {}
            for x in items:
                check(x["id_build"] not in m, "%s: run %s twice in %s lines" % (who, x["id_build"], kind))
                m[x["id_build"]] = {k: v for k, v in x.items() if k in CSV_HEADER}
            sides.append(m)
        got, exp = sides
        check(set(got) == set(exp), "%s lines: runs only from ghaminer %s, only from the reference %s"
              % (kind, sorted(set(got) - set(exp))[:5], sorted(set(exp) - set(got))[:5]))
        for rid in exp:
            check(_same(got[rid], exp[rid]), "%s run %s: %s" % (kind, rid, _first_diff(got[rid], exp[rid], kind)))


@scenario("reference oracle: ghaminer and an independent miner agree cell by cell")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        check(max(len(j) for j in truth["jobs"].values()) == 150, "scenario setup: no run with 150 jobs")

        with case("all %d runs" % RUNS):
            res, rows, ref, ref_rows = mine_both(sim, [])
            assert_run_rows(ref_rows, truth, REPO, with_jobs=True)
            n = same_csv(rows, ref_rows)
            check(n == RUNS, "%d runs compared, expected %d" % (n, RUNS))
            same_ndjson(res, ref)

        with case("-fd %s -td %s" % (FROM, TO)):
            res, rows, ref, ref_rows = mine_both(sim, ["-fd", FROM, "-td", TO])
            inside = {r["id"] for r in truth["runs"] if FROM <= r["created_at"][:10] <= TO}
            check(0 < len(inside) < RUNS, "scenario setup: %d runs in the range" % len(inside))
            assert_run_rows(ref_rows, truth, REPO, with_jobs=True, only_ids=inside)
            n = same_csv(rows, ref_rows)
            check(n == len(inside), "%d runs compared, expected the %d in the range" % (n, len(inside)))
            same_ndjson(res, ref)


if __name__ == "__main__":
    main()
