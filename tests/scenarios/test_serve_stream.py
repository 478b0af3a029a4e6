#!/usr/bin/env python3
"""ghaminer serve, the WebSocket stream (issue 11):
  - one client receives the same runs and jobs as the CLI's NDJSON (same simulator);
  - a second client on the same repository shares the session: the simulator answers as
    many requests as for the CLI alone;
  - that late joiner gets every run exactly once (the CSV's part, then live) and every
    run's jobs exactly once;
  - a client that disconnects mid-stream stops nothing;
  - a client that does not read is closed with 1013 and a reason at its bound, the log
    names it, and the others carry on;
  - SIGTERM stops the server (143) with the CSV complete."""

import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Sim, assert_run_rows, check, load_result_csv, repo_args, run_miner, scenario  # noqa: E402
from harness3 import answered, fast_config  # noqa: E402
from wsclient import Reader, Server, stage  # noqa: E402

REPO = "octo/streamed"
RUNS = 240
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 11, "jobs_min": 0, "jobs_max": 3}],
            "latency_ms": 15}


def runs_of(msgs):
    return [r for m in msgs if m["type"] == "runs_page" for r in m["data"]["runs"]]


def jobs_of(msgs):
    return {m["data"]["id_build"]: m["data"] for m in msgs if m["type"] == "run_jobs"}


def by_id(runs):
    return {r["id_build"]: r for r in runs}


def cli_reference(sim, d):
    """The CLI's NDJSON for the repository, and the requests it cost."""
    cfg = fast_config(d, max_in_flight=4, jobs_api="rest")
    sim.reset_stats()
    res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d)
    check(res.code == 0, "the CLI run failed:\n" + res.describe())
    runs = [r for p in res.of_type("runs_page") for r in p["runs"]]
    jobs = {m["id_build"]: m for m in res.of_type("run_jobs")}
    harness.LAST_RESULT = None  # a later failure is the server's, not this run's
    return runs, jobs, answered(sim)


@scenario("serve: the WebSocket stream, shared sessions, late joiners, slow clients")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-cli-") as dc, \
            tempfile.TemporaryDirectory(prefix="ghaminer-serve-") as d:
        cli_runs, cli_jobs, cli_requests = cli_reference(sim, dc)
        check(len(cli_runs) == RUNS, "the CLI streamed %d runs, expected %d" % (len(cli_runs), RUNS))

        cfg = fast_config(d, max_in_flight=4, jobs_api="rest", api_url=sim.url, serve_queue_kb=64)
        sim.reset_stats()
        with Server(d, ["-c", cfg]) as srv:
            first = srv.ws("/stream/" + REPO)
            check(first.status == 101, "upgrade answered %s: %r" % (first.status, first.body))
            head = first.messages(lambda m: m["type"] == "runs_page" and m["data"]["runs"],
                                  what="a first live runs_page")
            # a late joiner, one that leaves at once, and one that never reads
            late = srv.ws("/stream/" + REPO)
            late_reader = Reader(late, stage("pass_done"), what="the late joiner's pass_done")
            leaver = srv.ws("/stream/" + REPO)
            leaver.recv()
            leaver.close()
            slow = srv.ws("/stream/" + REPO, rcvbuf=4096)
            # it reads nothing until the server says it closed it, then drains its socket at
            # once (the server waits 2 s for a closed client to take its close frame)
            slow_done = threading.Event()

            def drain_slow():
                deadline = time.monotonic() + 60
                while "on %s closed" % REPO not in srv.stderr() and time.monotonic() < deadline:
                    time.sleep(0.02)
                while slow.recv() is not None:
                    pass
                slow_done.set()
            threading.Thread(target=drain_slow, daemon=True).start()

            rest = first.messages(stage("pass_done"), what="the end of the pass")
            got = head + rest
            done = got[-1]["data"]
            check(done["ok"] and done["new_runs"] == RUNS,
                  "pass_done says %r, expected ok with %d new runs" % (done, RUNS))

            # 1. the same runs and jobs as the CLI
            runs = runs_of(got)
            check(len(runs) == RUNS and by_id(runs) == by_id(cli_runs),
                  "the client got %d runs (%d distinct); they differ from the CLI's %d"
                  % (len(runs), len(by_id(runs)), len(cli_runs)))
            check(jobs_of(got) == cli_jobs, "run_jobs differ from the CLI's: %d vs %d runs"
                  % (len(jobs_of(got)), len(cli_jobs)))
            check(not any(m["data"].get("from_csv") for m in got if m["type"] == "runs_page"),
                  "the first client, on an empty CSV, got runs marked from_csv")

            # 2. one session: as many requests as the CLI alone, with four clients
            served = answered(sim)
            check(served == cli_requests, "the server asked the simulator %d times for four "
                  "clients, the CLI %d times for one: the session was not shared" % (served, cli_requests))

            # 3. the late joiner: each run once, each run's jobs once
            lmsgs = late_reader.result()
            lruns = runs_of(lmsgs)
            ids = [r["id_build"] for r in lruns]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            check(not dup, "the late joiner got runs twice: %s" % dup[:10])
            check(set(ids) == set(by_id(cli_runs)), "the late joiner is missing runs: %s"
                  % sorted(set(by_id(cli_runs)) - set(ids))[:10])
            from_csv = [m for m in lmsgs if m["type"] == "runs_page" and m["data"].get("from_csv")]
            check(from_csv and any(m["data"]["runs"] for m in from_csv),
                  "the late joiner got nothing from the CSV before the live stream")
            check(lmsgs.index(next(m for m in lmsgs if stage("from_csv")(m))) > lmsgs.index(from_csv[-1]),
                  "the from_csv status did not follow the CSV's runs_page messages")
            ljobs = [m["data"]["id_build"] for m in lmsgs if m["type"] == "run_jobs"]
            check(sorted(ljobs) == sorted(cli_jobs),
                  "the late joiner got run_jobs for %d runs (%d distinct), expected %d once each"
                  % (len(ljobs), len(set(ljobs)), len(cli_jobs)))
            for rid in cli_jobs:
                j = next(m["data"] for m in lmsgs if m["type"] == "run_jobs" and m["data"]["id_build"] == rid)
                check(j["job_details"] == cli_jobs[rid]["job_details"] and j["total_jobs"] == cli_jobs[rid]["total_jobs"],
                      "run %s: the late joiner's jobs differ from the CLI's" % rid)

            # 5. the slow client: closed at its bound with 1013, named in the log
            deadline = time.monotonic() + 10
            while "on %s closed" % REPO not in srv.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            log = srv.stderr()
            check("client #4 (127.0.0.1:" in log and "(serve_queue_kb)" in log,
                  "the log does not say which client was closed for being slow:\n" + log[-2000:])
            check(slow_done.wait(30), "the slow client's stream did not end")
            check(slow.close_code == 1013 and "too slow" in (slow.close_reason or ""),
                  "the slow client was closed with %s %r, expected 1013 and a reason"
                  % (slow.close_code, slow.close_reason))

            # 4. the leaver stopped nothing (the pass ended well above); SIGTERM ends it all
            late.close()
            first.close()
            code = srv.stop()
            check(code == 143, "SIGTERM: exit code %s, expected 143\n%s" % (code, srv.stderr()[-2000:]))
            check("left %s" % REPO in srv.stderr(), "the log does not say clients left")
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)


if __name__ == "__main__":
    main()
