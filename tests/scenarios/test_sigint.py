#!/usr/bin/env python3
"""Graceful interruption. SIGINT during phase 2 (40 ms per request) → exit 130; SIGTERM
during phase 2 → 143; SIGTERM during phase 1 (between pages) → 143; SIGHUP (a closed
terminal) in either phase → 129. Each time: prompt exit,
the last NDJSON line is a status with stage "interrupted", the CSV is valid and right, the
jobs of every run streamed as run_jobs are folded into it (journal emptied), and a re-run
completes to the truth without fetching those jobs again."""

import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CSV_HEADER, Sim, assert_run_rows, check, check_exit, jobs_requests,  # noqa: E402
                     load_result_csv, read_csv, repo_args, run_miner, scenario)
from harness3 import CSV_NAME, Bg, Failures, LogTail, assert_consistent_rows, fast_config  # noqa: E402

REPO = "octo/interrupted"
RUNS = 200
SCENARIO = {"rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 61, "jobs_min": 0, "jobs_max": 3}]}


def interrupt_case(sim, truth, sig, phase):
    code_expected = 128 + sig   # 130, 143, 129: as a shell reports a signal
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=4)
        csv_path = os.path.join(d, CSV_NAME)
        sim.configure(latency_ms=40 if phase == 2 else 200)
        try:
            bg = Bg(repo_args(sim, REPO) + ["-c", cfg], d)
            try:
                if phase == 2:
                    # Jobs are fetched while the listing goes on: phase 2 proper begins
                    # once every run is listed (the runs_collected status).
                    seen = bg.wait_obj(lambda o: o.get("type") == "status" and
                                       (o.get("data") or {}).get("stage") == "runs_collected",
                                       30, what="the runs_collected status")
                    seen = 0
                    for _ in range(15):   # 15 run_jobs lines
                        seen = bg.wait_obj(lambda o: o.get("type") == "run_jobs", 30, start=seen,
                                           what="run_jobs lines") + 1
                else:
                    bg.wait_obj(lambda o: o.get("type") == "runs_page", 30, what="the first runs_page")
                check(bg.running(), "the miner ended before the signal")
                bg.signal(sig)
                bg.wait(10)
                res = bg.result()
            finally:
                bg.close()
        finally:
            sim.configure(latency_ms=0)
        check_exit(res, code_expected)
        check(res.elapsed < 15, "took %.1fs" % res.elapsed)
        last = res.ndjson[-1] if res.ndjson else {}
        check(last.get("type") == "status" and (last.get("data") or {}).get("stage") == "interrupted",
              "the last NDJSON line is %r, expected a status with stage 'interrupted'" % (last,))
        header, rows = read_csv(csv_path)
        check(header == CSV_HEADER, "header %r" % header)
        assert_consistent_rows(rows, truth, REPO, where="after the signal: ")
        streamed = {m["id_build"] for m in res.of_type("run_jobs")}
        with_jobs = {int(r["id_build"]) for r in rows if r["total_jobs"] != ""}
        check(streamed <= with_jobs, "%d runs streamed as run_jobs have no jobs in the CSV, e.g. %s"
              % (len(streamed - with_jobs), sorted(streamed - with_jobs)[:3]))
        journal = csv_path + ".journal"
        check(not os.path.exists(journal) or os.path.getsize(journal) == 0,
              "the journal was not folded (%d bytes)" % os.path.getsize(journal))
        if phase == 2:
            check(len(rows) == RUNS and len(streamed) >= 15, "%d rows, %d run_jobs" % (len(rows), len(streamed)))
        else:
            check(0 < len(rows) < RUNS, "interrupted in phase 1 with %d rows" % len(rows))
        tail = LogTail(sim)
        res2 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res2, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        jr = jobs_requests(tail.entries())
        again = with_jobs & set(jr)
        check(not again, "the re-run fetched again the jobs of %d runs already in the CSV" % len(again))
        check(len(jr) == RUNS - len(with_jobs), "the re-run fetched jobs of %d runs, expected %d"
              % (len(jr), RUNS - len(with_jobs)))
        print("    stopped with %d rows, %d with jobs (%d streamed); the re-run fetched %d"
              % (len(rows), len(with_jobs), len(streamed), len(jr)), flush=True)


@scenario("SIGINT/SIGTERM/SIGHUP: graceful stop, exit 130/143/129, resume")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        fl = Failures()
        with fl.case("SIGINT in phase 2 → 130"):
            interrupt_case(sim, truth, signal.SIGINT, 2)
        with fl.case("SIGTERM in phase 2 → 143"):
            interrupt_case(sim, truth, signal.SIGTERM, 2)
        with fl.case("SIGTERM in phase 1 → 143"):
            interrupt_case(sim, truth, signal.SIGTERM, 1)
        with fl.case("SIGHUP in phase 1 → 129"):
            interrupt_case(sim, truth, signal.SIGHUP, 1)
        with fl.case("SIGHUP in phase 2 → 129"):
            interrupt_case(sim, truth, signal.SIGHUP, 2)
        fl.raise_if_any()


if __name__ == "__main__":
    main()
