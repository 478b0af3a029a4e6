#!/usr/bin/env python3
"""ghaminer serve, the HTTP API over the CSV (issue 11):
  - POST /api/refresh/OWNER/REPO starts a pass (202 with its id); a second one during it
    gets 409; the pass mines what the simulator added;
  - GET /api/runs/OWNER/REPO: every filter (since, until, status, conclusion, workflow_id)
    and the paging (limit, cursor) against the CSV read here; NDJSON when asked;
  - GET /api/runs/OWNER/REPO/ID: the run with its job_details as JSON;
  - GET /api/repos: run counts, jobs collected, data age; GET /health;
  - watch_interval: a pass starts on its own for a repository the server has seen, but
    not for one GitHub does not have (until it is asked for again)."""

import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, check, load_result_csv, scenario  # noqa: E402
from harness3 import fast_config  # noqa: E402
from wsclient import Server, stage  # noqa: E402

REPO = "octo/api"
RUNS = 230
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 21, "jobs_min": 0, "jobs_max": 2,
                       "workflows": 3}]}
AUTH = {}


def wait_idle(srv, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = srv.json("GET", "/api/repos")
        repo = next((r for r in body["repos"] if r["repo"] == REPO), None)
        if repo and not repo["mining"]:
            return repo
        time.sleep(0.05)
    check(False, "the pass did not end within %ss" % timeout)


def all_pages(srv, query, limit):
    out, cursor, pages = [], None, 0
    while True:
        q = query + "&limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
        st, body = srv.json("GET", "/api/runs/%s?%s" % (REPO, q))
        check(st == 200, "GET runs ?%s answered %s %r" % (q, st, body))
        check(len(body["runs"]) <= limit, "a page of %d runs for limit=%d" % (len(body["runs"]), limit))
        out += body["runs"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return out, pages


def check_filters(srv, rows):
    ids = [int(r["id_build"]) for r in rows]
    got, pages = all_pages(srv, "", 70)
    check([r["id_build"] for r in got] == ids, "paging 70 at a time gave %d runs in another order "
          "than the CSV's %d" % (len(got), len(ids)))
    check(pages == (len(ids) + 69) // 70, "%d pages of 70 for %d runs" % (pages, len(ids)))
    wf = rows[0]["workflow_id"]
    created = sorted(r["created_at"] for r in rows)
    since, until = created[40], created[150][:10]
    cases = {
        "conclusion=failure": lambda r: r["conclusion"] == "failure",
        "status=completed": lambda r: r["status"] == "completed",
        "workflow_id=" + wf: lambda r: r["workflow_id"] == wf,
        "since=" + since: lambda r: r["created_at"] >= since,
        "until=" + until: lambda r: r["created_at"][:10] <= until,
        "since=%s&until=%s&conclusion=success" % (since, until):
            lambda r: r["created_at"] >= since and r["created_at"][:10] <= until and r["conclusion"] == "success",
    }
    for q, pred in cases.items():
        want = [int(r["id_build"]) for r in rows if pred(r)]
        got, _ = all_pages(srv, q, 50)
        check([r["id_build"] for r in got] == want, "?%s: %d runs, the CSV has %d" % (q, len(got), len(want)))
        check(want, "?%s matches nothing: a weak case" % q)
    st, _, body = srv.http("GET", "/api/runs/%s?conclusion=failure&limit=5" % REPO,
                           headers={"Accept": "application/x-ndjson"})
    lines = body.decode().splitlines()
    check(st == 200 and len(lines) == 5 and all(json.loads(x)["conclusion"] == "failure" for x in lines),
          "NDJSON: %s, %d lines" % (st, len(lines)))
    for bad in ("limit=0", "limit=abc", "cursor=-1", "workflow_id=x"):
        st, _, _ = srv.http("GET", "/api/runs/%s?%s" % (REPO, bad))
        check(st == 400, "?%s answered %s, expected 400" % (bad, st))


def check_run(srv, rows):
    row = next(r for r in rows if r["total_jobs"] not in ("", "0"))
    st, run = srv.json("GET", "/api/runs/%s/%s" % (REPO, row["id_build"]))
    check(st == 200 and run["job_details"] == json.loads(row["job_details"]) and
          run["total_jobs"] == int(row["total_jobs"]), "GET the run %s: %s %r" % (row["id_build"], st, run))
    st, _ = srv.json("GET", "/api/runs/%s/123" % REPO)
    check(st == 404, "an unknown run answered %s" % st)


MISSING = "octo/nowhere"


@scenario("serve: the HTTP API over the CSV, refresh, watch_interval")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, api_url=sim.url, max_in_flight=4, watch_interval="2s")
        with Server(d, ["-c", cfg]) as srv:
            st, body = srv.json("POST", "/api/refresh/" + REPO)
            check(st == 202 and body["pass"] == 1, "the first refresh answered %s %r" % (st, body))
            st, body = srv.json("POST", "/api/refresh/" + REPO)
            check(st == 409 and body["pass"] == 1, "a refresh during the pass answered %s %r" % (st, body))
            st, _ = srv.json("GET", "/api/refresh/" + REPO)
            check(st == 405, "GET on the refresh endpoint answered %s" % st)
            repo = wait_idle(srv)
            check(repo["runs"] == RUNS and repo["jobs_collected"] == RUNS and repo["data_age_s"] is not None
                  and repo["data_age_s"] < 10, "/api/repos after the pass: %r" % repo)

            deadline = time.monotonic() + 10  # the jobs are folded into the CSV in the background
            while True:
                rows = [r for r in load_result_csv(d) if r["repo"] == REPO]
                if all(r["total_jobs"] != "" for r in rows) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            check(all(r["total_jobs"] != "" for r in rows), "the jobs are not in the CSV 10 s after the pass")
            check(len(rows) == RUNS, "the CSV holds %d runs" % len(rows))
            check_filters(srv, rows)
            check_run(srv, rows)
            st, health = srv.json("GET", "/health")
            check(st == 200 and health["ok"] and health["repos"] == 1, "/health: %s %r" % (st, health))

            # watch_interval: new runs arrive without a refresh, seen by a client
            added = set(sim.post("/_sim/add_runs", {"repo": REPO, "count": 3})["ids"])
            ws = srv.ws("/stream/" + REPO)
            msgs = ws.messages(lambda m: stage("pass_done")(m) and m["data"]["new_runs"] == 3, timeout=20,
                               what="a pass with the 3 new runs")
            live = {r["id_build"] for m in msgs if m["type"] == "runs_page" and not m["data"].get("from_csv")
                    for r in m["data"]["runs"]}
            check(live == added, "the pass streamed %s, expected the new %s" % (sorted(live), sorted(added)))
            ws.close()
            started = lambda: max(int(n) for n in re.findall(r"pass (\d+) started", srv.stderr()))  # noqa: E731
            last = started()
            deadline = time.monotonic() + 10
            while started() == last and time.monotonic() < deadline:
                time.sleep(0.1)
            check(started() > last, "no pass started on its own within watch_interval:\n" + srv.stderr()[-1500:])

            # a repository GitHub does not have is not polled again: one pass, then none
            # for two intervals, until asked again
            st, body = srv.json("POST", "/api/refresh/" + MISSING)
            check(st == 202, "refreshing %s answered %s %r" % (MISSING, st, body))
            passes = lambda: srv.stderr().count("%s: pass " % MISSING)  # noqa: E731
            deadline = time.monotonic() + 10
            while "%s: not polled again" % MISSING not in srv.stderr() and time.monotonic() < deadline:
                time.sleep(0.1)
            check("%s: not polled again" % MISSING in srv.stderr(),
                  "the log does not say %s is no longer polled:\n%s" % (MISSING, srv.stderr()[-1500:]))
            seen = passes()
            time.sleep(4.5)
            check(passes() == seen, "%s was polled again after it was not found" % MISSING)
            st, body = srv.json("POST", "/api/refresh/" + MISSING)
            check(st == 202, "asking for %s again answered %s %r" % (MISSING, st, body))
            check(srv.stop() == 143, "exit code after SIGTERM")


if __name__ == "__main__":
    main()
