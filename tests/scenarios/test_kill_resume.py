#!/usr/bin/env python3
"""SIGKILL 34 times, spread over both phases and the journal folds (24 sequences, some
chained: killed, resumed, killed again), then a run to completion: the CSV holds every run
exactly once with every value right, jobs included, and a further run fetches no jobs and
leaves the file as it is. No temporary file of an interrupted rewrite is left behind.

After every kill the CSV must already be consistent: well-formed up to an optional torn
tail, no run twice, every complete row right (with or without its jobs).

One simulator for all points (600 runs, 0-4 jobs, 6 pages): killed runs see 20 ms latency
and max_in_flight 8, so the kill points land inside pages and inside phase 2; completing
runs see no latency and max_in_flight 16 to keep the scenario short."""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CSV_HEADER, Sim, assert_run_rows, check, check_exit, jobs_requests,  # noqa: E402
                     load_result_csv, repo_args, run_miner, scenario)
from harness3 import (CSV_NAME, Bg, LogTail, assert_consistent_rows, fast_config,  # noqa: E402
                      tolerant_csv, wait_until)

REPO = "octo/killme"
RUNS = 600
SCENARIO = {"latency_ms": 20, "rate_limit": {"limit": 10000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 29, "jobs_min": 0, "jobs_max": 4}]}
# The first run of a fresh CSV: 6 pages (requests 1-6), then 600 jobs requests (7-606).
# ("ans", N): SIGKILL once the simulator has answered N requests of this run;
# ("ms", T): SIGKILL T ms after the start; ("tmp", 0): SIGKILL as soon as the temporary file
# of a CSV rewrite (a fold of the journal) appears. A list is a chain of runs, each killed.
POINTS = [
    [("ms", 3)],                 # at start-up: lock, header, first request
    [("ans", 1)],                # page 1 answered: its append / state save
    [("ans", 2)],
    [("ans", 3)],
    [("ans", 4)],
    [("ans", 5)],
    [("ans", 6)],                # the last page: end of phase 1
    [("ms", 100)],               # waiting for page 2
    [("ms", 250)],               # waiting for page 4
    [("ans", 2), ("ans", 1), ("ans", 2)],   # resumed runs killed while filling the gap
    [("ans", 7)],                # first jobs answer
    [("ans", 9)],
    [("ans", 30)],
    [("ans", 120)],
    [("ans", 250)],
    [("ans", 450)],
    [("ans", 606)],              # every answer in: the final fold
    [("tmp", 0)],                # inside the final fold
    [("ans", 150), ("ms", 10)],  # second kill while folding the leftover journal
    [("ans", 150), ("tmp", 0)],
    [("ans", 80), ("ans", 40), ("ans", 60)],  # phase 2 three times over
    [("ans", 4), ("ans", 100)],  # phase 1, then phase 2 of the resumed run
    [("ans", 606), ("ms", 3)],
    [("ans", 200), ("ans", 1), ("ms", 40)],
]


def folding(d):
    """A rewrite of the CSV is under way (its temporary file exists)."""
    return any(n.startswith(CSV_NAME + ".tmp.") for n in os.listdir(d))


def kill_run(sim, tail, d, cfg, trig, truth):
    """One run killed at trig → (exit code, torn bytes left)."""
    tail.mark()
    bg = Bg(repo_args(sim, REPO) + ["-c", cfg], d, read_stdout=False)
    try:
        kind, n = trig
        if kind == "ans":
            wait_until(lambda: tail.count() >= n or not bg.running(), 30, interval=0.002,
                       what="%d answered requests" % n)
        elif kind == "tmp":
            wait_until(lambda: folding(d) or not bg.running(), 30, interval=0.001,
                       what="a temporary file of a CSV rewrite")
        else:
            time.sleep(max(0.0, bg.t0 + n / 1000.0 - time.monotonic()))
        code = bg.kill()
        err = bg.stderr()
    finally:
        bg.close()
    check(code in (-signal.SIGKILL, 0), "a killed run exited %s\n%s" % (code, err[-1500:]))
    time.sleep(0.06)   # let the simulator finish the requests the dead miner left in flight
    path = os.path.join(d, CSV_NAME)
    torn = 0
    if os.path.exists(path):
        header, rows, torn = tolerant_csv(path)
        if header is not None:
            check(header == CSV_HEADER, "CSV header after a kill: %r" % header)
        assert_consistent_rows(rows, truth, REPO, where="after kill %s: " % (trig,))
    return code, torn


@scenario("kill -9 34 times in both phases and folds, resume, exact CSV")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        check(len(truth["runs"]) == RUNS, "simulator has %d runs" % len(truth["runs"]))
        tail = LogTail(sim)
        kills = torn_seen = finished_early = 0
        leftovers = []
        for k, chain in enumerate(POINTS, 1):
            with tempfile.TemporaryDirectory(prefix="ghaminer-kill-") as d:
                slow = fast_config(d, "slow.yaml", max_in_flight=8)
                fast = fast_config(d, "fast.yaml", max_in_flight=16)
                torn = 0
                t_point = time.monotonic()
                try:
                    sim.configure(latency_ms=20)
                    for trig in chain:
                        code, torn = kill_run(sim, tail, d, slow, trig, truth)
                        kills += 1
                        finished_early += code == 0
                        torn_seen += torn > 0
                    sim.configure(latency_ms=0)
                    sim.reset_stats()
                    t_kills = time.monotonic() - t_point
                    res = run_miner(repo_args(sim, REPO) + ["-c", fast], cwd=d, timeout=60)
                    check_exit(res, 0)
                    t_done = res.elapsed
                    if torn:
                        check("torn" in res.stderr, "the CSV ended with %d torn bytes, the resuming "
                              "run did not warn about it" % torn)
                    rows = load_result_csv(d)
                    assert_run_rows(rows, truth, REPO, with_jobs=True)
                    csv_path = os.path.join(d, CSV_NAME)
                    with open(csv_path, "rb") as f:
                        before = f.read()
                    sim.reset_stats()
                    res = run_miner(repo_args(sim, REPO) + ["-c", fast], cwd=d, timeout=60)
                    check_exit(res, 0)
                    jr = jobs_requests(sim.log())
                    check(not jr, "a run after completion fetched jobs of %d runs" % len(jr))
                    with open(csv_path, "rb") as f:
                        check(f.read() == before, "a run after completion changed the CSV")
                    tmp_left = sorted(n for n in os.listdir(d) if ".tmp" in n)
                    if tmp_left:
                        leftovers.append((k, tmp_left))
                except AssertionError as e:
                    raise type(e)("kill point %d %s: %s" % (k, chain, e)) from None
                print("  ok   point %2d %-44s %4.1fs (killed runs %.1fs, completing run %.1fs)%s"
                      % (k, chain, time.monotonic() - t_point, t_kills, t_done,
                         ("  (torn tail)" if torn else "") + ("  (temp files left)" if leftovers and leftovers[-1][0] == k else "")), flush=True)
        check(kills == sum(map(len, POINTS)) >= 20, "only %d kills" % kills)
        print("  %d kills, %d left a torn CSV tail, %d runs finished before their kill"
              % (kills, torn_seen, finished_early), flush=True)
        # A kill during a fold leaves the half-written <csv>.tmp.XXXXXX behind, as big as the
        # CSV. The next ghaminer holds the lock, so no other process can be writing one: it
        # should remove it (or never leave one) rather than leak a copy per interrupted fold.
        check(not leftovers, "temporary files of interrupted CSV rewrites are never removed "
              "(each is a partial copy of the CSV); still there after the next complete run: %s"
              % "; ".join("kill point %d: %s" % (k, ", ".join(n)) for k, n in leftovers))


if __name__ == "__main__":
    main()
