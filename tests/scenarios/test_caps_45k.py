#!/usr/bin/env python3
"""45,000 runs under both of GitHub's pagination caps: 1,000 results for a filtered query,
40,000 for the unfiltered listing (422 "Pagination is limited for this resource" past it).

The listing alone cannot reach the 5,000 oldest runs; the miner must cover the history with
created= windows, split wherever a window holds more than 1,000 runs. Jobs are not fetched
(fetch_job_details: false): this is about the listing. Expected: every run exactly once in
the CSV (ids checked against the simulator; the values of a sample of runs, the oldest and
newest among them, checked column by column), the job columns empty, no listing page past
a cap asked, no 422, no violation.

The simulator renders runs lazily, so 45,000 runs start in about a second."""

import os
import random
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, api_log, assert_run_rows, case, check, check_exit, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario)
from harness3 import fast_config  # noqa: E402

REPO = "octo/huge"
N = 45000
FILTERED, UNFILTERED = 1000, 40000
# 45,000 runs 10 minutes apart: about 10 months of history
SCENARIO = {"caps": {"filtered": FILTERED, "unfiltered": UNFILTERED},
            "repos": [{"full_name": REPO, "runs": N, "seed": 31, "jobs_min": 0, "jobs_max": 0,
                       "in_progress": 0, "queued": 0}]}


@scenario("caps: 45,000 runs, 1,000 filtered / 40,000 unfiltered")
def main():
    with Sim(SCENARIO, start_timeout=60) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        ids = [r["id"] for r in sim.get("/_sim/truth?repo=%s&fields=id&jobs=0"
                                          % urllib.parse.quote(REPO, safe=""))["runs"]]
        check(len(ids) == N == len(set(ids)), "the simulator has %d runs (%d distinct)" % (len(ids), len(set(ids))))
        cfg = fast_config(d, max_in_flight=16, fetch_job_details=False)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=120)
        check_exit(res, 0)
        rows = load_result_csv(d)
        log = sim.log()
        with case("every one of the %d runs exactly once" % N):
            got = [r["id_build"] for r in rows]
            dups = len(got) - len(set(got))
            check(not dups, "%d runs appear more than once in the CSV" % dups)
            want = {str(i) for i in ids}
            extra, missing = set(got) - want, want - set(got)
            check(not extra, "CSV has %d runs the simulator does not have, e.g. %s" % (len(extra), sorted(extra)[:5]))
            check(not missing, "%d runs missing from the CSV, e.g. %s" % (len(missing), sorted(missing)[:5]))
        with case("values of a sample (newest, oldest, 300 at random), job columns empty"):
            pick = set(ids[:50] + ids[-50:] + random.Random(7).sample(ids, 300))
            truth = sim.get("/_sim/truth?repo=%s&jobs=0&ids=%s" % (urllib.parse.quote(REPO, safe=""),
                                                                   ",".join(map(str, sorted(pick)))))
            check(len(truth["runs"]) == len(pick), "truth of the sample: %d runs" % len(truth["runs"]))
            sample_rows = [r for r in rows if int(r["id_build"]) in pick]
            assert_run_rows(sample_rows, truth, REPO, with_jobs=False)
        with case("no page past a cap, no 422, no violation"):
            runs_req = api_log(log, "runs")
            for e in runs_req:
                page = int(e["query"].get("page", "1"))
                cap = FILTERED if "created" in e["query"] else UNFILTERED
                check(page * 100 <= cap, "listing request %d asks page %d of %s: past the %d cap"
                      % (e["seq"], page, e["query"].get("created", "the unfiltered listing"), cap))
            st = sim.stats()
            check("422" not in st["by_status"], "422 answers: %s" % st["by_status"])
            check(set(st["by_status"]) == {"200"}, "answers %s" % st["by_status"])
            check(st["violations"] == 0, "violations: %s" % st)
            check(len(runs_req) <= N // 100 * 1.3 + 50, "%d listing requests for %d runs" % (len(runs_req), N))
        print("  %d listing requests (%d with created=), miner %.1fs"
              % (len(api_log(log, "runs")), sum("created" in e["query"] for e in api_log(log, "runs")),
                 res.elapsed), flush=True)


if __name__ == "__main__":
    main()
