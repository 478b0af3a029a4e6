#!/usr/bin/env python3
"""The repository changes while the miner pages through it (150 ms per request): after
page 1 is served, 30 runs are added and the 5 queued/in-progress runs complete; after page
2, 90 more runs are added (a listing paged by offset shifts under the miner twice).

Run 1: every run that existed when it started is in the CSV exactly once, no run twice,
every row right except the 5 that changed meanwhile (stale values are fine there).
Run 2: the CSV equals the truth after the changes; it fetches the jobs of exactly the runs
run 1 missed and of the changed runs, and lists those as updated_runs.
Run 3: nothing new: no jobs requests, the CSV stays byte-identical.

Then, on another repository: unfinished runs pushed below the first page by 99 new ones
(the miner stops listing at the first page that reaches known runs) complete meanwhile;
the next run asks for each of them (GET …/runs/{id}), updates their rows and re-collects
their jobs."""

import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, compare_value, expected_row,  # noqa: E402
                     jobs_requests, load_result_csv, repo_args, run_miner, scenario, CSV_HEADER)
from harness3 import CSV_NAME, LogTail, fast_config  # noqa: E402

REPO = "octo/growing"
RUNS, IN_PROGRESS, QUEUED = 250, 3, 2
ADD_1, ADD_2 = 30, 90
SCENARIO = {"latency_ms": 150, "rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 31, "jobs_min": 0, "jobs_max": 3,
                       "in_progress": IN_PROGRESS, "queued": QUEUED}]}


def row_problems(row, run, jobs):
    exp = expected_row(run, jobs, REPO)
    out = []
    for field in CSV_HEADER:
        d = compare_value(field, row.get(field), exp[field])
        if d:
            out.append("run %s column %s: %s" % (run["id"], field, d))
    return out


@scenario("growth: runs added and completed while paging")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        before = sim.truth(REPO)
        changing = {r["id"] for r in before["runs"] if r["status"] != "completed"}
        check(len(changing) == IN_PROGRESS + QUEUED, "simulator has %d unfinished runs" % len(changing))
        cfg = fast_config(d, max_in_flight=16)
        tail = LogTail(sim)
        events, errors = [], []

        def grow():
            try:
                deadline = time.monotonic() + 30
                def wait_runs_pages(n):
                    while time.monotonic() < deadline:
                        if sum(1 for e in tail.entries() if e["path"].endswith("/actions/runs")) >= n:
                            return True
                        time.sleep(0.005)
                    return False
                if not wait_runs_pages(1):
                    return
                sim.post("/_sim/add_runs", {"repo": REPO, "count": ADD_1})
                sim.post("/_sim/complete_runs", {"repo": REPO})
                events.append(("after page 1", time.monotonic()))
                if not wait_runs_pages(2):
                    return
                sim.post("/_sim/add_runs", {"repo": REPO, "count": ADD_2})
                events.append(("after page 2", time.monotonic()))
                # phase 2 is not under test: let it go fast once it starts
                while time.monotonic() < deadline:
                    if any(e["path"].endswith("/jobs") for e in tail.entries()):
                        sim.configure(latency_ms=5)
                        return
                    time.sleep(0.01)
            except Exception as e:  # reported by the main thread
                errors.append(repr(e))

        th = threading.Thread(target=grow, daemon=True)
        th.start()
        res1 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        th.join(30)
        check(not errors, "the growth thread failed: %s" % errors)
        check([e[0] for e in events] == ["after page 1", "after page 2"],
              "the listing did not change while the miner paged (events %s)" % events)
        check_exit(res1, 0)
        log1 = tail.entries()
        pages1 = [e for e in log1 if e["path"].endswith("/actions/runs")]
        check(len(pages1) >= 3, "run 1 read %d runs pages, expected at least 3" % len(pages1))

        truth = sim.truth(REPO)
        check(len(truth["runs"]) == RUNS + ADD_1 + ADD_2, "truth has %d runs" % len(truth["runs"]))
        by_id = {r["id"]: r for r in truth["runs"]}
        # -- run 1: nothing that existed is missed or doubled; what it holds is right
        rows1 = load_result_csv(d)
        ids1 = [int(r["id_build"]) for r in rows1]
        check(len(ids1) == len(set(ids1)), "run 1 wrote runs twice: %s"
              % sorted({i for i in ids1 if ids1.count(i) > 1})[:10])
        unknown = set(ids1) - set(by_id)
        check(not unknown, "run 1 wrote unknown runs %s" % sorted(unknown)[:5])
        missed = {r["id"] for r in before["runs"]} - set(ids1)
        check(not missed, "run 1 missed %d runs that existed when it started, e.g. %s"
              % (len(missed), sorted(missed)[:5]))
        problems, stale = [], set()
        for row in rows1:
            rid = int(row["id_build"])
            p = row_problems(row, by_id[rid], truth["jobs"][str(rid)])
            if p and rid in changing:
                stale.add(rid)
            else:
                problems += p
        check(not problems, "run 1: %d wrong values:\n  %s" % (len(problems), "\n  ".join(problems[:8])))
        missing1 = set(by_id) - set(ids1)
        print("  run 1: %d runs pages, %d of %d added runs already caught, %d rows stale"
              % (len(pages1), ADD_1 + ADD_2 - len(missing1), ADD_1 + ADD_2, len(stale)), flush=True)

        # -- run 2: catches up exactly
        tail.mark()
        res2 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res2, 0)
        rows2 = load_result_csv(d)
        assert_run_rows(rows2, truth, REPO, with_jobs=True)
        jr = jobs_requests(tail.entries())
        want = missing1 | stale
        check(set(jr) == want, "run 2 fetched jobs of %d runs, expected %d (missed by run 1: %d, "
              "changed: %d); unexpected %s, not fetched %s"
              % (len(jr), len(want), len(missing1), len(stale), sorted(set(jr) - want)[:5],
                 sorted(want - set(jr))[:5]))
        twice = [k for k, v in jr.items() if len(v) > 1]
        check(not twice, "run 2 fetched the jobs of runs %s more than once" % twice[:5])
        updated = {u.get("id_build") for p in res2.of_type("runs_page") for u in p.get("updated_runs") or []}
        check(stale <= updated, "run 2 did not report the changed runs %s in updated_runs"
              % sorted(stale - updated))
        check(not (updated - changing), "run 2 reported unchanged runs as updated: %s"
              % sorted(updated - changing)[:5])
        added2 = {r.get("id_build") for p in res2.of_type("runs_page") for r in p.get("runs") or []}
        check(added2 == missing1, "run 2's runs_page lines hold %d new runs, expected the %d run 1 "
              "missed" % (len(added2), len(missing1)))

        # -- run 3: nothing new
        csv_path = os.path.join(d, CSV_NAME)
        with open(csv_path, "rb") as f:
            snap = f.read()
        tail.mark()
        res3 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res3, 0)
        check(not jobs_requests(tail.entries()), "run 3 fetched jobs")
        with open(csv_path, "rb") as f:
            check(f.read() == snap, "run 3 changed the CSV")

    refresh_part()


REPO2 = "octo/unfinished"
SCENARIO2 = {"repos": [{"full_name": REPO2, "runs": 120, "seed": 37, "jobs_min": 0, "jobs_max": 3,
                        "in_progress": 3, "queued": 2}]}


def refresh_part():
    with Sim(SCENARIO2) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=8)
        args = repo_args(sim, REPO2) + ["-c", cfg]
        check_exit(run_miner(args, cwd=d, timeout=60), 0)
        before = sim.truth(REPO2)
        assert_run_rows(load_result_csv(d), before, REPO2, with_jobs=True)
        unfinished = {r["id"] for r in before["runs"] if r["status"] != "completed"}
        check(len(unfinished) == 5, "%d unfinished runs" % len(unfinished))
        new_ids = set(sim.post("/_sim/add_runs", {"repo": REPO2, "count": 99})["ids"])
        sim.post("/_sim/complete_runs", {"repo": REPO2})
        truth = sim.truth(REPO2)
        on_page1 = {r["id"] for r in truth["runs"][:100]}
        below = unfinished - on_page1
        check(len(below) == 4, "%d unfinished runs below page 1" % len(below))
        tail = LogTail(sim)
        res = run_miner(args, cwd=d, timeout=60)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO2, with_jobs=True)
        log = tail.entries()
        single = {}
        for e in log:
            m = re.search(r"/actions/runs/(\d+)$", e["path"])
            if m:
                single.setdefault(int(m.group(1)), 0)
                single[int(m.group(1))] += 1
        check(set(single) == below and all(v == 1 for v in single.values()),
              "single-run requests for %s, expected one for each of %s" % (single, sorted(below)))
        jr = jobs_requests(log)
        check(set(jr) == new_ids | unfinished, "jobs fetched for %d runs, expected the %d new and "
              "the 5 completed ones" % (len(jr), len(new_ids)))
        print("  ok   unfinished runs below the first page refreshed one by one", flush=True)


if __name__ == "__main__":
    main()
