#!/usr/bin/env python3
"""ghaminer serve, a late joiner on a large CSV: what the CSV holds is sent a few rows at a
time as the client reads it, while the repository's pass goes on.
  - Every run exactly once, with its latest values and its jobs, when the snapshot is slowed
    down (GHAMINER_SNAPSHOT_ROWS=1 a tick) so that the pass's new runs, changed runs and
    jobs arrive while it is under way: the jobs of runs the CLI could not collect (502s)
    come while the snapshot has yet to read them, and are left to it (the log counts
    messages held and left).
  - A client that does not read costs the server a bounded queue, not the CSV: its memory
    grows by far less than the CSV while the client sits on a 28 MB snapshot, the API
    answers meanwhile, and once the client reads it gets every row.
  - The API reads a bounded number of rows a request (GHAMINER_API_SCAN_ROWS=50): a sparse
    filter gives short pages whose cursors still lead through every match, in order."""

import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Sim, assert_run_rows, check, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario)
from harness3 import fast_config, rss_kb, write_runs_csv  # noqa: E402
from wsclient import Server, stage  # noqa: E402

REPO = "octo/joined"
RUNS, ADDED, MISSED = 600, 60, 150
BIG = "octo/big"
BIG_RUNS = 8000
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 5, "jobs_min": 0, "jobs_max": 3,
                       "in_progress": 6, "queued": 4},
                      {"full_name": BIG, "runs": 0, "seed": 6}],
            "latency_ms": 15}


def check_stream(msgs, rows):
    """msgs: one client's stream up to pass_done; rows: the final CSV's rows of REPO."""
    final = {r["id_build"]: r for r in rows}
    status = [i for i, m in enumerate(msgs) if stage("from_csv")(m)]
    check(len(status) == 1, "%d from_csv statuses" % len(status))
    csv_pages = [i for i, m in enumerate(msgs) if m["type"] == "runs_page" and m["data"].get("from_csv")]
    check(csv_pages and max(csv_pages) < status[0], "the CSV's pages did not all come before its status")
    runs, state, jobs = [], {}, {}
    for m in msgs:
        if m["type"] == "runs_page":
            for r in m["data"]["runs"]:
                runs.append(str(r["id_build"]))
                state[str(r["id_build"])] = dict(r)
            for r in m["data"]["updated_runs"]:
                check(str(r["id_build"]) in state, "run %s updated before it was listed" % r["id_build"])
                state[str(r["id_build"])].update(r)
        elif m["type"] == "run_jobs":
            rid = str(m["data"]["id_build"])
            prev = jobs.get(rid)
            check(prev != m["data"], "run %s: the same run_jobs twice" % rid)
            jobs[rid] = m["data"]
    dup = sorted({i for i in runs if runs.count(i) > 1})
    check(not dup, "runs listed twice: %s" % dup[:10])
    check(set(runs) == set(final), "runs missing: %s; unknown: %s"
          % (sorted(set(final) - set(runs))[:10], sorted(set(runs) - set(final))[:10]))
    for rid, row in final.items():
        for col in ("status", "conclusion", "updated_at"):
            got = state[rid].get(col)
            check((got or "") == row[col], "run %s: %s %r in the stream, %r in the CSV"
                  % (rid, col, got, row[col]))
        if row["total_jobs"]:
            check(rid in jobs, "run %s: no run_jobs, the CSV has %s jobs" % (rid, row["total_jobs"]))
            check(jobs[rid]["job_details"] == json.loads(row["job_details"])
                  and str(jobs[rid]["total_jobs"]) == row["total_jobs"],
                  "run %s: the last run_jobs differs from the CSV" % rid)
        else:
            check(rid not in jobs, "run %s: run_jobs, but no jobs in the CSV" % rid)


def interleaved(sim):
    """A pass's news arriving while a slowed snapshot is under way."""
    with tempfile.TemporaryDirectory(prefix="ghaminer-serve-") as d:
        cfg = fast_config(d, max_in_flight=4, jobs_api="rest", max_retries=0)
        sim.configure(faults=[{"path_regex": "/jobs$", "status": 502, "times": MISSED}])
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d)
        check(res.code == 1, "the CLI run with %d jobs answered 502 exited %s:\n%s"
              % (MISSED, res.code, res.describe()))
        harness.LAST_RESULT = None
        sim.configure(faults=[])
        sim.post("/_sim/add_runs", {"repo": REPO, "count": ADDED})
        sim.post("/_sim/complete_runs", {"repo": REPO})
        cfg = fast_config(d, max_in_flight=4, jobs_api="rest", api_url=sim.url)
        with Server(d, ["-c", cfg], env={"GHAMINER_SNAPSHOT_ROWS": "1"}) as srv:
            ws = srv.ws("/stream/" + REPO)
            msgs = ws.messages(stage("pass_done"), timeout=120, what="the end of the pass")
            check(msgs[-1]["data"]["ok"] and msgs[-1]["data"]["new_runs"] == ADDED,
                  "pass_done says %r, expected ok with %d new runs" % (msgs[-1]["data"], ADDED))
            ws.close()
            code = srv.stop()
            check(code == 143, "SIGTERM: exit code %s" % code)
            log = srv.stderr()
        line = next((ln for ln in log.splitlines() if "from the CSV in" in ln), "")
        m = re.search(r"(\d+) live messages held meanwhile, (\d+) runs' news left", line)
        check(m and int(m.group(1)) > 0 and int(m.group(2)) > 0,
              "no live message held or left to the snapshot: the case was not exercised\n"
              + log[-2000:])
        print("    " + line.split(": ", 2)[-1])
        rows = load_result_csv(d)
        assert_run_rows(rows, sim.truth(REPO), REPO, with_jobs=True)
        check_stream(msgs, [r for r in rows if r["repo"] == REPO])


def big_and_paused(sim):
    with tempfile.TemporaryDirectory(prefix="ghaminer-serve-big-") as d:
        path = os.path.join(d, "builds_features.csv")
        write_runs_csv(path, BIG, BIG_RUNS, 900000000, steps=8)
        size = os.path.getsize(path)
        cfg = fast_config(d, api_url=sim.url)
        env = {"GHAMINER_API_SCAN_ROWS": "50"}
        if os.environ.get("ASAN_OPTIONS"):
            # ASan keeps freed memory in quarantine (256 MB): it would count as grown
            env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=1"
        with Server(d, ["-c", cfg], env=env) as srv:
            # the index is built by the first read; memory is measured after it
            st, body = srv.json("GET", "/api/runs/%s?limit=1" % BIG)
            check(st == 200 and body["runs"][0]["id_build"] == 900000000, "first run: %s %r" % (st, body))
            before = rss_kb(srv.proc.pid)
            ws = srv.ws("/stream/" + BIG, rcvbuf=4096, timeout=120)
            time.sleep(1.5)  # the client reads nothing meanwhile
            grown = rss_kb(srv.proc.pid) - before
            if harness.WRAPPER:
                # the process is valgrind's: its shadow memory and queue of freed blocks
                print("    paused client: RSS not compared under %s" % harness.WRAPPER[0])
            else:
                check(grown * 1024 < size / 4, "a client that reads nothing grew the server by "
                      "%d KB for a %d KB CSV" % (grown, size // 1024))
                print("    paused client on a %.1f MB CSV: server grew %.1f MB"
                      % (size / 2**20, grown / 1024))
            # the API answers meanwhile, from the index
            last = 900000000 - BIG_RUNS + 1
            st, run = srv.json("GET", "/api/runs/%s/%d" % (BIG, last))
            check(st == 200 and run["run_number"] == 1 and run["job_details"][0]["job_name"] == "build 0",
                  "GET the last run: %s %r" % (st, str(run)[:300]))
            got, cursor, pages, short = [], None, 0, 0
            while True:
                q = "conclusion=failure&limit=100" + ("&cursor=" + cursor if cursor else "")
                st, body = srv.json("GET", "/api/runs/%s?%s" % (BIG, q))
                check(st == 200, "GET ?%s: %s %r" % (q, st, body))
                got += [int(r["id_build"]) for r in body["runs"]]
                pages += 1
                short += len(body["runs"]) < 100 and body["next_cursor"] is not None
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            want = [900000000 - i for i in range(BIG_RUNS) if i % 7 == 0]
            check(got == want, "paging the failures gave %d runs, expected %d in CSV order"
                  % (len(got), len(want)))
            check(short > 0, "no short page: the read bound was not exercised")
            print("    %d failures in %d pages of at most 50 rows read" % (len(got), pages))
            # now it reads: every row once, every run's jobs once
            msgs = ws.messages(stage("from_csv"), timeout=120, what="the end of the CSV's part")
            ids = [r["id_build"] for m in msgs if m["type"] == "runs_page" for r in m["data"]["runs"]]
            check(len(ids) == BIG_RUNS and len(set(ids)) == BIG_RUNS,
                  "%d runs (%d distinct) from a %d-run CSV" % (len(ids), len(set(ids)), BIG_RUNS))
            jobs = [m for m in msgs if m["type"] == "run_jobs"]
            check(len(jobs) == BIG_RUNS and jobs[-1]["data"]["job_details"][2]["steps"][7]["step_name"] == "step 7",
                  "%d run_jobs from a %d-run CSV" % (len(jobs), BIG_RUNS))
            ws.close()
            check(srv.stop() == 143, "SIGTERM did not end the server with 143")


@scenario("serve: a late joiner's snapshot, a few rows at a time, every run once")
def main():
    with Sim(SCENARIO) as sim:
        interleaved(sim)
        big_and_paused(sim)


if __name__ == "__main__":
    main()
