#!/usr/bin/env python3
"""Watch mode: `--watch 30s`. After the first pass (status "watching" on stdout, read as it
comes), 7 runs are added and SIGUSR1 sent: a new pass ("refreshing" … "watching") streams
exactly the 7 new runs (runs_page) and their jobs (run_jobs) and appends them to the CSV,
long before 30 s. A second SIGUSR1 with nothing new: a pass that streams nothing, sends one
304. No pass starts on its own meanwhile. SIGTERM → exit 143, last line "interrupted"."""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args, scenario  # noqa: E402
from harness3 import CSV_NAME, Bg, LogTail, fast_config  # noqa: E402

REPO = "octo/watched"
RUNS, ADDED = 80, 7
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 67, "jobs_min": 0, "jobs_max": 2}]}


def stage_is(stage):
    return lambda o: o.get("type") == "status" and (o.get("data") or {}).get("stage") == stage


def between(bg, a, b, typ):
    return [o["data"] for o in bg.objs[a:b] if isinstance(o, dict) and o.get("type") == typ]


@scenario("watch: SIGUSR1 refreshes at once, SIGTERM stops")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=8)
        tail = LogTail(sim)
        bg = Bg(repo_args(sim, REPO) + ["-c", cfg, "--watch", "30s"], d)
        try:
            w1 = bg.wait_obj(stage_is("watching"), 20, what="the first 'watching' status")
            first = {r["id_build"] for p in between(bg, 0, w1, "runs_page") for r in p["runs"]}
            check(len(first) == RUNS, "the first pass streamed %d runs, expected %d" % (len(first), RUNS))
            check(bg.running(), "the miner exited after its first pass in watch mode")
            assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)

            csv_path = os.path.join(d, CSV_NAME)
            with open(csv_path, "rb") as f:
                after_pass1 = f.read()
            new_ids = set(sim.post("/_sim/add_runs", {"repo": REPO, "count": ADDED})["ids"])
            tail.mark()
            t0 = time.monotonic()
            bg.signal(signal.SIGUSR1)
            r2 = bg.wait_obj(stage_is("refreshing"), 10, start=w1 + 1, what="a 'refreshing' status after SIGUSR1")
            w2 = bg.wait_obj(stage_is("watching"), 15, start=r2 + 1, what="the second 'watching' status")
            took = time.monotonic() - t0
            check(took < 10, "the pass after SIGUSR1 took %.1fs" % took)
            streamed = {r["id_build"] for p in between(bg, r2, w2, "runs_page") for r in p["runs"]}
            check(streamed == new_ids, "the pass after SIGUSR1 streamed runs %s, expected the %d new ones %s"
                  % (sorted(streamed), ADDED, sorted(new_ids)))
            jobs = [m["id_build"] for m in between(bg, r2, w2, "run_jobs")]
            check(sorted(jobs) == sorted(new_ids), "run_jobs in the second pass for %s, expected %s"
                  % (sorted(jobs), sorted(new_ids)))
            rows = load_result_csv(d)
            assert_run_rows(rows, sim.truth(REPO), REPO, with_jobs=True)
            check(len(rows) == RUNS + ADDED,
                  "%d rows, expected %d" % (len(rows), RUNS + ADDED))
            with open(csv_path, "rb") as f:
                check(f.read().startswith(after_pass1), "the second pass changed rows of the first "
                      "instead of only appending the new runs")

            # nothing new: a pass that costs one 304 and streams nothing
            tail.mark()
            bg.signal(signal.SIGUSR1)
            r3 = bg.wait_obj(stage_is("refreshing"), 10, start=w2 + 1, what="a third 'refreshing'")
            w3 = bg.wait_obj(stage_is("watching"), 15, start=r3 + 1, what="the third 'watching'")
            check(not any(p["runs"] for p in between(bg, r3, w3, "runs_page")), "a pass with nothing new streamed runs")
            check(not between(bg, r3, w3, "run_jobs"), "a pass with nothing new streamed run_jobs")
            log = tail.entries()
            check(len(log) == 1 and log[0]["status"] == 304,
                  "a pass with nothing new sent %s" % [(e["path"], e["status"]) for e in log])
            refreshes = [o for o in bg.objs if isinstance(o, dict) and stage_is("refreshing")(o)]
            check(len(refreshes) == 2, "%d passes started, expected 2 (one per SIGUSR1)" % len(refreshes))

            bg.signal(signal.SIGTERM)
            bg.wait(10)
            res = bg.result()
        finally:
            bg.close()
        check_exit(res, 143)
        last = res.ndjson[-1]
        check(last.get("type") == "status" and last["data"].get("stage") == "interrupted",
              "last NDJSON line %r, expected stage 'interrupted'" % last)
        assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)


if __name__ == "__main__":
    main()
