#!/usr/bin/env python3
"""Concurrent -p: one big repository and many small ones are mined at once into one CSV.
The small ones are not starved (their jobs are all collected before the big one's are half
done, judged from the simulator's request log, not the clock); repositories that fail
(404, a 403 on a private repository, repeated 5xx) are named in a summary and do not stop
the others; the exit code says partial; a re-run is incremental per repository."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests,  # noqa: E402
                     load_result_csv, run_miner, scenario, write_config)

BIG = "octo/big"
SMALL = ["octo/small%d" % i for i in range(6)]
PRIVATE, FLAKY, MISSING = "octo/private", "octo/flaky", "octo/missing"
SCENARIO = {
    "latency_ms": 10,
    "repos": [{"full_name": BIG, "runs": 1500, "seed": 21, "jobs_min": 0, "jobs_max": 2}]
    + [{"full_name": n, "runs": 20 + 7 * i, "seed": 30 + i, "jobs_min": 0, "jobs_max": 2}
       for i, n in enumerate(SMALL)]
    + [{"full_name": PRIVATE, "runs": 5, "private": True},
       {"full_name": FLAKY, "runs": 5}],
    "faults": [
        {"path_regex": "^/repos/octo/private/", "times": 1000, "status": 403,
         "body": '{"message":"Resource not accessible by integration",'
                 '"documentation_url":"https://docs.github.com/rest"}'},
        {"path_regex": "^/repos/octo/flaky/actions/runs$", "times": 1000, "status": 502},
    ],
}


def seqs(log, repo, jobs=True):
    prefix = "/repos/%s/actions/runs" % repo
    return [e["seq"] for e in log if e["path"].startswith(prefix)
            and e["path"].endswith("/jobs") == jobs]


@scenario("projects file: repositories mined concurrently, failures contained")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        projects = os.path.join(d, "projects.txt")
        with open(projects, "w") as f:
            f.write("\n".join(["https://github.com/" + BIG] + SMALL
                              + [PRIVATE, MISSING, FLAKY]) + "\n")
        cfg = write_config(d, requests_per_minute=100000, max_in_flight=8, max_retries=1)
        args = ["-p", projects, "--api-url", sim.url, "-c", cfg]
        res = run_miner(args, cwd=d, timeout=180)
        check_exit(res, 1)

        rows = load_result_csv(d)
        for repo in [BIG] + SMALL:
            assert_run_rows([r for r in rows if r["repo"] == repo], sim.truth(repo), repo,
                            with_jobs=True)
        check({r["repo"] for r in rows} == set([BIG] + SMALL),
              "repositories in the CSV: %s" % sorted({r["repo"] for r in rows}))

        # Fairness: every small repository is done before the big one is half done.
        log = sim.log()
        big_jobs = seqs(log, BIG)
        check(len(big_jobs) == 1500, "%d jobs requests for %s" % (len(big_jobs), BIG))
        half = big_jobs[len(big_jobs) // 2]
        for repo in SMALL:
            mine = seqs(log, repo)
            check(mine and max(mine) < half,
                  "%s: its last jobs request came after half of %s's (seq %s, half at %d)"
                  % (repo, BIG, max(mine) if mine else None, half))
            first_listing = min(seqs(log, repo, jobs=False))
            check(first_listing < big_jobs[0] + 100,
                  "%s was first listed at request %d, after %s's first 100 jobs requests"
                  % (repo, first_listing, BIG))

        # Every repository's first page is among the first requests: listing requests are
        # served in the order they were queued, and every first page is queued at the
        # start. (The log orders by arrival: a request on a new connection may arrive a
        # little after later ones on reused connections, hence the slack.)
        everyone = [BIG] + SMALL + [PRIVATE, MISSING, FLAKY]
        for repo in everyone:
            first_listing = min(seqs(log, repo, jobs=False))
            check(first_listing <= 2 * len(everyone),
                  "%s was first listed at request %d, after other repositories' later pages"
                  % (repo, first_listing))

        # Each failure is named, with what went wrong; the others are summarised.
        # ... with its line in the projects file
        for repo, what, line in ((MISSING, "not found", 9), (PRIVATE, "HTTP 403", 8),
                                 (FLAKY, "HTTP 502", 10)):
            lines = [l for l in res.stderr.splitlines()
                     if "warning: %s (line %d): " % (repo, line) in l]
            check(any(what in l for l in lines),
                  "no summary line for %s saying %r:\n%s" % (repo, what, res.stderr[-1500:]))
        final = res.of_type("status")[-1]
        check(final.get("stage") == "completed" and final.get("ok") is False,
              "last status %r, expected stage completed, ok false" % final)
        summary = {s["repo"]: s for s in final.get("repos", [])}
        check(set(summary) == set([BIG] + SMALL + [PRIVATE, MISSING, FLAKY]),
              "summary repositories: %s" % sorted(summary))
        check(summary[MISSING]["outcome"] == "not found", "missing: %r" % summary[MISSING])
        check(summary[FLAKY]["outcome"] == "partial", "flaky: %r" % summary[FLAKY])
        check(summary[BIG]["outcome"] == "ok" and summary[BIG]["new_runs"] == 1500
              and summary[BIG]["jobs_collected"] == 1500, "big: %r" % summary[BIG])
        for repo in SMALL:
            s = summary[repo]
            check(s["outcome"] == "ok" and s["new_runs"] == s["jobs_collected"] > 0
                  and s["requests"] >= s["new_runs"] + 1, "%s: %r" % (repo, s))
        # NDJSON lines about a repository say which.
        for t in ("runs_page", "run_jobs", "job_progress"):
            objs = res.of_type(t)
            check(objs and all(o.get("repo") for o in objs), "%s lines without repo" % t)

        # A second run: incremental per repository, nothing fetched again.
        sim.reset_stats()
        res = run_miner(args, cwd=d, timeout=60)
        check_exit(res, 1)
        check(len(load_result_csv(d)) == len(rows), "the second run changed the row count")
        check(not jobs_requests(sim.log()), "the second run fetched jobs")


if __name__ == "__main__":
    main()
