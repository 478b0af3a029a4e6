#!/usr/bin/env python3
"""Redirects and the token. A redirect on the API's own origin (a renamed repository's 301)
is followed with the token, and the run completes. A redirect to another host (another
simulator on another port) is refused: that host receives no request at all, the API host
received the token on every request, the miner says which URL pointed where and what to
check, and the CSV on disk is byte-identical to before."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOKEN, Sim, assert_run_rows, assert_token_never_leaks, case, check,  # noqa: E402
                     check_exit, load_result_csv, repo_args, run_miner, scenario)

REPO = "octo/moved"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 30, "seed": 23, "jobs_min": 1, "jobs_max": 2}]}
CSV = "builds_features.csv"


def redirect_rules(to, times):
    """The listing and the jobs pages answer a 301 to the same path and query under `to`."""
    return [{"path_regex": r"/actions/runs$", "status": 301, "location_prefix": to, "times": times},
            {"path_regex": r"/jobs$", "status": 307, "location_prefix": to, "times": times}]


def presented(log):
    return [e for e in log if e.get("path", "").startswith(("/repos/", "/repositories/"))]


@scenario("redirects: followed on the API's origin, refused to another host")
def main():
    with Sim(SCENARIO) as api, Sim(SCENARIO) as other:
        truth = api.truth(REPO)
        with case("same origin: followed with the token, complete"), \
                tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
            api.configure(faults=redirect_rules(api.url, 3))
            res = run_miner(repo_args(api, REPO), cwd=d, timeout=60)
            check_exit(res, 0)
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
            log = presented(api.log())
            st = api.stats()
            check(st["faults_by_kind"].get("301") and st["faults_by_kind"].get("307"),
                  "the redirects were not served: %s" % st["faults_by_kind"])
            check(log and all(e.get("token_sha") for e in log),
                  "a request reached the API without the token")
            assert_token_never_leaks([TOKEN], res, d)

        for first in (True, False):
            name = "an existing CSV" if first else "no CSV yet"
            with case("another host, %s: refused, nothing sent there, CSV untouched" % name), \
                    tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
                api.configure(faults=[])
                if first:   # a complete CSV whose re-sync is redirected (no ETag: no 304)
                    check_exit(run_miner(repo_args(api, REPO), cwd=d, timeout=60), 0)
                    os.unlink(os.path.join(d, CSV + ".state"))
                before = open(os.path.join(d, CSV), "rb").read() if first else None
                other.reset_stats()
                api.configure(faults=redirect_rules(other.url, 1000))
                res = run_miner(repo_args(api, REPO), cwd=d, timeout=60)
                check_exit(res, 1)   # partial: the repository could not be listed
                said = "which is not on %s: not followed" % api.url
                check(said in res.stderr and other.url in res.stderr and "--api-url" in res.stderr,
                      "stderr does not say what was refused and what to check:\n%s" % res.stderr[-1500:])
                check(other.stats()["requests"] == 0,
                      "the other host received %d requests" % other.stats()["requests"])
                log = presented(api.log())
                check(log and all(e.get("token_sha") for e in log), "the API host missed the token")
                if first:
                    after = open(os.path.join(d, CSV), "rb").read()
                    check(after == before, "the CSV changed after a refused redirect")
                assert_token_never_leaks([TOKEN], res, d, files=False)
                print("    exit %d; the other host got 0 requests" % res.code, flush=True)


if __name__ == "__main__":
    main()
