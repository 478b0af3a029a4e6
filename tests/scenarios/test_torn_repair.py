#!/usr/bin/env python3
"""Torn files from an interrupted write are repaired on the next start, with a warning
that says "torn", and the run still ends with the CSV equal to the truth.

  appended fragment, cut inside a quoted field / inside a plain field: the half of a row
      after a complete CSV is cut off; the CSV is byte-identical to what it was;
  last row cut in half: the run of that row is gone from the file and must be listed
      and collected again;
  torn journal line: a journal (from a miner killed in phase 2) keeping one complete
      entry and half of the next: the complete entry is folded (that run's jobs are not
      fetched again), the half one dropped (that run's jobs are fetched)."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     repo_args, run_miner, scenario)
from harness3 import CSV_NAME, Bg, Failures, LogTail, fast_config, journal_entry, wait_until  # noqa: E402

REPO = "octo/tattered"
RUNS = 120
SCENARIO = {"rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 47, "jobs_min": 1, "jobs_max": 3}]}


def complete_run(sim, d, cfg):
    res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
    check_exit(res, 0)
    assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
    with open(os.path.join(d, CSV_NAME), "rb") as f:
        return f.read()


def row_starts(raw):
    """Offsets where data rows start (a newline outside quotes precedes them)."""
    out, inq = [], False
    for i, b in enumerate(raw):
        if b == 0x22:
            inq = not inq
        elif b == 0x0A and not inq and i + 1 < len(raw):
            out.append(i + 1)
    return out


def resume_expect_torn(sim, d, cfg, what):
    tail = LogTail(sim)
    res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
    check_exit(res, 0)
    check("torn" in res.stderr.lower(), "no warning about the torn %s on stderr" % what)
    assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
    return res, tail.entries()


def fragment_case(sim, where):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d)
        good = complete_run(sim, d, cfg)
        starts = row_starts(good)
        # a row with quotes: the quirky branch 'feature/x,y "quoted"' if present, else any
        k = next((i for i, s in enumerate(starts) if b'x,y ""quoted""' in good[s:s + 400]), 5)
        row = good[starts[k]:starts[k + 1]] if k + 1 < len(starts) else good[starts[k]:]
        if where == "quoted":
            cut = row.index(b'[{""job_name') + 40      # inside the quoted job_details
        else:
            cut = row.index(b",") + 6                   # inside id_build
        frag = row[:cut]
        with open(os.path.join(d, CSV_NAME), "ab") as f:
            f.write(frag)
        res, log = resume_expect_torn(sim, d, cfg, "row")
        with open(os.path.join(d, CSV_NAME), "rb") as f:
            check(f.read() == good, "the repaired CSV is not the complete one it was")
        check(not jobs_requests(log), "jobs fetched after repairing a torn fragment")


def cut_last_row_case(sim):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d)
        good = complete_run(sim, d, cfg)
        last = row_starts(good)[-1]
        lost_id = int(good[last:].split(b",")[1])
        with open(os.path.join(d, CSV_NAME), "wb") as f:
            f.write(good[:last + (len(good) - last) // 2])
        try:
            res, log = resume_expect_torn(sim, d, cfg, "row")
        except AssertionError as e:
            raise type(e)("the last row (run %d) was cut in half after a complete run: %s"
                          % (lost_id, e)) from None
        jr = jobs_requests(log)
        check(set(jr) == {lost_id}, "jobs fetched for %s, expected only the lost run %d"
              % (sorted(jr)[:5], lost_id))


def torn_journal_case(sim):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        slow = fast_config(d, "slow.yaml", max_in_flight=2)
        fast = fast_config(d, "fast.yaml", max_in_flight=8)
        journal = os.path.join(d, CSV_NAME + ".journal")
        sim.configure(latency_ms=30)
        try:
            bg = Bg(repo_args(sim, REPO) + ["-c", slow], d, read_stdout=False)
            try:
                def entries():
                    try:
                        with open(journal, "rb") as f:
                            return f.read().count(b"\n") >= 3
                    except OSError:
                        return False
                wait_until(lambda: entries() or not bg.running(), 30, what="3 journal entries")
                bg.kill()
            finally:
                bg.close()
        finally:
            sim.configure(latency_ms=0)
        with open(journal, "rb") as f:
            lines = f.read().split(b"\n")
        check(len(lines) >= 3, "the killed miner left %d journal lines" % (len(lines) - 1))
        first, second = journal_entry(lines[0]), journal_entry(lines[1])
        kept, dropped = first["id"], second["id"]
        check(kept != dropped, "two journal entries for run %s" % kept)
        with open(journal, "wb") as f:
            f.write(lines[0] + b"\n" + lines[1][:len(lines[1]) // 2])
        res, log = resume_expect_torn(sim, d, fast, "journal line")
        jr = jobs_requests(log)
        check(kept not in jr, "the jobs of run %s, folded from the journal, were fetched again" % kept)
        check(dropped in jr, "the jobs of run %s, whose journal line was torn, were not fetched" % dropped)
        check(len(jr) == RUNS - 1, "jobs fetched for %d runs, expected %d (all but the folded one)"
              % (len(jr), RUNS - 1))
        check(not os.path.exists(journal) or os.path.getsize(journal) == 0,
              "the journal is not empty after a complete run")


@scenario("torn CSV rows and journal lines are repaired")
def main():
    with Sim(SCENARIO) as sim:
        fl = Failures()
        with fl.case("appended fragment cut inside a quoted field"):
            fragment_case(sim, "quoted")
        with fl.case("appended fragment cut inside a plain field"):
            fragment_case(sim, "plain")
        with fl.case("last row cut in half"):
            cut_last_row_case(sim)
        with fl.case("torn journal line"):
            torn_journal_case(sim)
        fl.raise_if_any()


if __name__ == "__main__":
    main()
