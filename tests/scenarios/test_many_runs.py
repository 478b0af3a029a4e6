#!/usr/bin/env python3
"""450 runs over 5 pages: every run exactly once, value by value; every request is
well-formed (headers, jobs query parameters)."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, api_log, write_config, assert_ndjson, assert_polite_headers, assert_run_rows,  # noqa: E402
                     case, check, check_exit, jobs_requests, load_result_csv, repo_args, run_miner, scenario)

REPO = "octo/many"
N = 450
SCENARIO = {"repos": [{"full_name": REPO, "runs": N, "seed": 11, "jobs_min": 0, "jobs_max": 3,
                       "in_progress": 2, "queued": 1}]}


@scenario("many runs: 450 runs, 5 pages")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # ~455 requests: lift the default pacing (600/min) so the scenario takes seconds
        cfg = write_config(d, requests_per_minute=60000)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=120)
        check_exit(res, 0)
        log = sim.log()
        with case("CSV value by value"):
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        with case("NDJSON"):
            assert_ndjson(res, truth, REPO)
        with case("request headers"):
            assert_polite_headers(log)
        with case("runs listing: Link next followed, no query asked twice"):
            runs_req = [e for e in api_log(log, "runs") if e["status"] == 200]
            # The first page, then created-date windows (crawled concurrently on big
            # repositories); within a query, later pages are the URLs of Link headers,
            # which the simulator writes as /repositories/{id}/... like GitHub does.
            keys = [(e["path"].split("/actions/")[0].startswith("/repositories"),
                     tuple(sorted(e["query"].items()))) for e in runs_req]
            check(len(keys) == len(set(keys)), "a runs query was asked twice: %s" % keys)
            for e in runs_req:
                if int(e["query"].get("page", "1")) > 1:
                    check(e["path"].startswith("/repositories/"),
                          "page %s of a listing was not taken from a Link header: %s"
                          % (e["query"]["page"], e["path"]))
            check(len(runs_req) <= 6, "%d listing requests for %d runs" % (len(runs_req), N))
            for e in runs_req:
                check(e["query"].get("per_page") == "100" and e["query"].get("exclude_pull_requests") == "true",
                      "runs request %d query %r" % (e["seq"], e["query"]))
        with case("one jobs request per run, filter=latest&per_page=100"):
            jr = jobs_requests(log)
            ids = {r["id"] for r in truth["runs"]}
            check(set(jr) == ids, "jobs requested for %d runs, expected %d" % (len(set(jr) & ids), len(ids)))
            for rid, entries in jr.items():
                ok = [e for e in entries if e["status"] == 200]
                check(len(ok) == 1, "run %s: %d successful jobs requests" % (rid, len(ok)))
                for e in entries:
                    q = e["query"]
                    check(q.get("filter") == "latest" and q.get("per_page") == "100",
                          "jobs request %d query %r" % (e["seq"], q))
            check(all(e["status"] == 200 for e in log), "unexpected statuses: %s" % sim.stats()["by_status"])
        check(sim.stats()["violations"] == 0, "violations: %s" % sim.stats())


if __name__ == "__main__":
    main()
