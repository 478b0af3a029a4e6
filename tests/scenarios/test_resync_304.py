#!/usr/bin/env python3
"""Re-runs cost almost nothing when nothing changed, and fetch exactly what changed.

Two repositories without queued or in-progress runs, 150 runs each (2 pages):
  octo/quiet   runs from 2024 (older than the 30 days GitHub allows re-runs for);
  octo/recent  runs from yesterday (the miner re-checks recent days for re-runs).

For each: a complete run; a re-run with nothing new appends nothing, fetches no jobs, exit
0, and sends at most 2 API requests, all answered 304, for octo/quiet; for octo/recent the
top page plus one request per page of yesterday (2 pages): the first time unconditional
(no ETag yet), the next time all 304. Then 5 runs are added:
the next run lists only the top page (and, for octo/recent, the re-checked day) and fetches
the jobs of exactly those 5. Then a run on page 1 is re-run (new attempt, conclusion,
updated_at, jobs): the next run rewrites its row and re-collects its jobs, nothing else.
For octo/recent also a run on page 2, which only the day re-check can see."""

import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario)
from harness3 import CSV_NAME, Failures, LogTail, fast_config  # noqa: E402

QUIET, RECENT = "octo/quiet", "octo/recent"
RUNS = 150
_yesterday = (int(time.time()) // 86400 - 1) * 86400 + 3600   # yesterday 01:00 UTC
YESTERDAY = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_yesterday))
SCENARIO = {"repos": [
    {"full_name": QUIET, "runs": RUNS, "seed": 41, "jobs_min": 0, "jobs_max": 3,
     "in_progress": 0, "queued": 0},
    # 60 s apart: 150 runs (and the 5 added) stay within yesterday
    {"full_name": RECENT, "runs": RUNS, "seed": 43, "jobs_min": 0, "jobs_max": 3,
     "in_progress": 0, "queued": 0, "start": YESTERDAY, "spacing_s": 60},
]}
DAY_PAGES = (RUNS + 99) // 100
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def list_requests(log):
    return [e for e in log if e["path"].endswith("/actions/runs")]


def describe(log):
    return "; ".join("%s %s?%s → %s" % (e["method"], e["path"], "&".join("%s=%s" % kv for kv in e["query"].items()),
                                         e["status"]) for e in log[:12])


def top_page(e):
    return "created" not in e["query"] and "page" not in e["query"]


def day_query(e):
    return bool(DAY_RE.match(e["query"].get("created", "")))


def exercise(sim, repo, recent):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=8)
        args = repo_args(sim, repo) + ["-c", cfg]
        csv_path = os.path.join(d, CSV_NAME)
        tail = LogTail(sim)

        def run():
            tail.mark()
            res = run_miner(args, cwd=d, timeout=60)
            check_exit(res, 0)
            return res, tail.entries()

        def snapshot():
            with open(csv_path, "rb") as f:
                return f.read()

        res, log = run()
        assert_run_rows(load_result_csv(d), sim.truth(repo), repo, with_jobs=True)

        # -- nothing new
        before = snapshot()
        rounds = 2 if recent else 1
        for k in range(rounds):
            res, log = run()
            # octo/recent: the top page and each page of the re-checked day (a re-run on the
            # day's page 2 leaves page 1 unchanged, so every page needs its own look); the
            # first time without ETags, afterwards all 304
            limit = 1 + DAY_PAGES if recent else 2
            check(len(log) <= limit, "re-run %d with nothing new sent %d API requests: %s"
                  % (k + 1, len(log), describe(log)))
            check(not jobs_requests(log), "re-run %d fetched jobs" % (k + 1))
            check(snapshot() == before, "re-run %d with nothing new changed the CSV" % (k + 1))
            check(not any(p.get("runs") or p.get("updated_runs") for p in res.of_type("runs_page")),
                  "re-run %d streamed runs" % (k + 1))
        not304 = [e for e in log if e["status"] != 304]
        check(not not304, "a re-run with nothing new got answers other than 304 (%s)%s"
              % (describe(not304), " on its second time" if recent else ""))
        check(any(top_page(e) and e["headers"].get("if-none-match") for e in log),
              "the top page was not asked conditionally: %s" % describe(log))

        # -- 5 new runs
        new_ids = set(sim.post("/_sim/add_runs", {"repo": repo, "count": 5})["ids"])
        check(len(new_ids) == 5, "add_runs returned %s" % new_ids)
        res, log = run()
        truth = sim.truth(repo)
        assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
        lists = list_requests(log)
        tops = [e for e in lists if top_page(e)]
        check(len(tops) == 1 and tops[0]["status"] == 200,
              "expected one top page answered 200, got: %s" % describe(lists))
        others = [e for e in lists if not top_page(e) and not (recent and day_query(e))]
        check(not others, "after 5 new runs the miner listed more than the top page: %s" % describe(others))
        jr = jobs_requests(log)
        check(set(jr) == new_ids and all(len(v) == 1 for v in jr.values()),
              "after 5 new runs, jobs requests for %s, expected once for each of %s"
              % (sorted(jr), sorted(new_ids)))
        check(len(log) == len(lists) + len(jr), "unexpected requests: %s"
              % describe([e for e in log if e not in lists and not e["path"].endswith("/jobs")]))
        added = {r["id_build"] for p in res.of_type("runs_page") for r in p.get("runs") or []}
        check(added == new_ids, "runs_page lines hold %s, expected the 5 new runs" % sorted(added))

        # -- re-runs: one on page 1 (and, when recent, one on page 2)
        targets = [("page 1", truth["runs"][20]["id"])]
        if recent:
            targets.append(("page 2", truth["runs"][130]["id"]))
        for where, rid in targets:
            old = next(r for r in truth["runs"] if r["id"] == rid)
            sim.post("/_sim/rerun", {"repo": repo, "id": rid})
            truth = sim.truth(repo)
            new = next(r for r in truth["runs"] if r["id"] == rid)
            check(new["updated_at"] != old["updated_at"] and new["run_attempt"] != old["run_attempt"],
                  "the simulator's re-run changed nothing")
            res, log = run()
            try:
                assert_run_rows(load_result_csv(d), truth, repo, with_jobs=True)
            except AssertionError as e:
                raise type(e)("after a re-run of run %s on %s of the listing (%s): %s"
                              % (rid, where, describe(log), e)) from None
            jr = jobs_requests(log)
            check(set(jr) == {rid} and len(jr[rid]) == 1,
                  "after a re-run of the run on %s, jobs requests for %s, expected once for %s"
                  % (where, sorted(jr), rid))
            upd = {u.get("id_build") for p in res.of_type("runs_page") for u in p.get("updated_runs") or []}
            check(upd == {rid}, "updated_runs %s, expected [%s]" % (sorted(upd), rid))
            check(not any(p.get("runs") for p in res.of_type("runs_page")), "new runs streamed after a re-run")


@scenario("304 resync: nothing new is (almost) free; new and re-run runs exactly")
def main():
    with Sim(SCENARIO) as sim:
        fl = Failures()
        with fl.case("runs from 2024"):
            exercise(sim, QUIET, recent=False)
        with fl.case("runs from yesterday"):
            exercise(sim, RECENT, recent=True)
        fl.raise_if_any()


if __name__ == "__main__":
    main()
