#!/usr/bin/env python3
"""ghaminer serve with 100 WebSocket clients on 10 repositories at once (issue 11): every
client gets every run of its repository exactly once (from the CSV or live) and every
run's jobs exactly once; the repositories are mined concurrently on one engine, and the
CSV ends complete; SIGHUP (a closed terminal) stops the server with 129. (Memory and delay are measured by scripts/bench --serve, not here.)"""

import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, assert_run_rows, check, load_result_csv, scenario  # noqa: E402
from harness3 import fast_config  # noqa: E402
from wsclient import Reader, Server, stage  # noqa: E402

NREPOS, PER_REPO, RUNS = 10, 10, 25
REPOS = ["octo/many%02d" % i for i in range(NREPOS)]
SCENARIO = {"repos": [{"full_name": r, "runs": RUNS, "seed": 100 + i, "jobs_min": 0, "jobs_max": 1}
                      for i, r in enumerate(REPOS)], "latency_ms": 5}


@scenario("serve: 100 clients on 10 repositories")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, api_url=sim.url, max_in_flight=16)
        truth = {r: {run["id"] for run in sim.truth(r)["runs"]} for r in REPOS}
        with Server(d, ["-c", cfg]) as srv:
            readers = []
            for k in range(PER_REPO):
                for repo in REPOS:
                    ws = srv.ws("/stream/" + repo)
                    check(ws.status == 101, "client %d of %s: upgrade answered %s" % (k, repo, ws.status))
                    readers.append((repo, Reader(ws, stage("pass_done"), timeout=90, what="pass_done")))
            for repo, rd in readers:
                msgs = rd.result()
                ids = [r["id_build"] for m in msgs if m["type"] == "runs_page" for r in m["data"]["runs"]]
                check(sorted(ids) == sorted(truth[repo]),
                      "a client of %s got %d runs (%d distinct), expected the %d of the repository once"
                      % (repo, len(ids), len(set(ids)), len(truth[repo])))
                jobs = [m["data"]["id_build"] for m in msgs if m["type"] == "run_jobs"]
                check(sorted(jobs) == sorted(truth[repo]),
                      "a client of %s got run_jobs for %d runs (%d distinct), expected %d once each"
                      % (repo, len(jobs), len(set(jobs)), len(truth[repo])))
                rd.ws.close()
            st, health = srv.json("GET", "/health")
            check(st == 200 and health["repos"] == NREPOS, "/health: %r" % health)
            check(srv.stop(signal.SIGHUP) == 129, "exit code after SIGHUP (a closed terminal)")
            check(srv.stderr().count("joined") == NREPOS * PER_REPO, "not every client joined")
        rows = load_result_csv(d)
        for repo in REPOS:
            assert_run_rows([r for r in rows if r["repo"] == repo], sim.truth(repo), repo, with_jobs=True)


if __name__ == "__main__":
    main()
