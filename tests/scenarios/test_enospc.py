#!/usr/bin/env python3
"""Disk errors: the miner runs under RLIMIT_FSIZE (SIGXFSZ ignored, so a write past the
limit fails with EFBIG, as a full disk fails with ENOSPC), with three limits chosen from a
reference run (P = CSV size after phase 1, F = final size):

  P/2        appending page 2 fails (phase 1);
  P + (F-P)/3  the journal outgrows the limit during phase 2;
  F - 1      the final rewrite of the CSV (temp file) fails at its last byte.

Each time: exit 5, a clear error on stderr naming the file, the CSV still valid (header
right, every row complete and right), the journal without a torn entry. Then a run without
the limit completes to the truth, fetching only the jobs not already journaled."""

import os
import resource
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, jobs_requests, load_result_csv,  # noqa: E402
                     read_csv, repo_args, run_miner, scenario, CSV_HEADER)
from harness3 import (CSV_NAME, Bg, Failures, LogTail, assert_consistent_rows, fast_config,  # noqa: E402
                      journal_entry)

REPO = "octo/full-disk"
RUNS = 250
SCENARIO = {"rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 59, "jobs_min": 0, "jobs_max": 4}]}


def limited(nbytes):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return preexec


def journal_ids(path):
    """Run ids in a journal; fails on a torn or unparsable line."""
    if not os.path.exists(path):
        return set()
    with open(path, "rb") as f:
        raw = f.read()
    check(raw == b"" or raw.endswith(b"\n"), "the journal ends with a torn entry (%d bytes)" % len(raw))
    ids = set()
    for n, line in enumerate(raw.split(b"\n")[:-1], 1):
        try:
            ids.add(journal_entry(line)["id"])
        except (ValueError, KeyError) as e:
            check(False, "journal line %d is not a complete entry (%s): %r" % (n, e, line[:120]))
    return ids


def sizes(sim):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        check_exit(run_miner(repo_args(sim, REPO) + ["-c", fast_config(d, fetch_job_details=False)],
                             cwd=d, timeout=60), 0)
        p = os.path.getsize(os.path.join(d, CSV_NAME))
        check_exit(run_miner(repo_args(sim, REPO) + ["-c", fast_config(d)], cwd=d, timeout=60), 0)
        f = os.path.getsize(os.path.join(d, CSV_NAME))
    check(f > 3 * p, "jobs make the CSV only %d → %d bytes" % (p, f))
    return p, f


def limited_case(sim, truth, limit, expect_in_msg, after_phase1):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d)
        csv_path = os.path.join(d, CSV_NAME)
        bg = Bg(repo_args(sim, REPO) + ["-c", cfg], d, preexec_fn=limited(limit))
        try:
            bg.wait(60)
            res = bg.result()
        finally:
            bg.close()
        check_exit(res, 5)
        err = res.stderr
        # Jobs are fetched while the listing goes on: whichever file reaches the limit
        # first (the CSV or the journal) is the one named.
        alternatives = expect_in_msg if isinstance(expect_in_msg, tuple) else (expect_in_msg,)
        check(any(m in err for m in alternatives) and "File too large" in err,
              "stderr does not name %r with the system's reason:\n%s" % (expect_in_msg, err[-1200:]))
        check(res.ndjson and res.ndjson[-1].get("type") == "status", "no final status line")
        header, rows = read_csv(csv_path)          # strict: no torn tail allowed
        check(header == CSV_HEADER, "header %r" % header)
        check(os.path.getsize(csv_path) <= limit, "the CSV is larger than the limit")
        assert_consistent_rows(rows, truth, REPO, where="after the disk error: ")
        # Jobs are fetched while the listing goes on, so a journal that fills up may stop
        # the run before every page is listed; what is there must be whole and right
        # (checked above), and the resume below must complete it.
        if after_phase1:
            check(len(rows) <= RUNS, "the CSV has %d rows, more than the %d runs" % (len(rows), RUNS))
        journaled = journal_ids(csv_path + ".journal")
        # without the limit: completes, folding what was journaled first
        tail = LogTail(sim)
        res2 = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res2, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        jr = jobs_requests(tail.entries())
        again = journaled & set(jr)
        check(not again, "jobs of %d journaled runs were fetched again, e.g. %s" % (len(again), sorted(again)[:3]))
        with_jobs = {int(r["id_build"]) for r in rows if r["total_jobs"] != ""}
        want = RUNS - len(journaled | with_jobs)
        check(len(jr) == want, "the resuming run fetched jobs of %d runs, expected %d (%d journaled)"
              % (len(jr), want, len(journaled)))
        print("    limit %d: %d rows, %d runs journaled, %d jobs fetched on resuming"
              % (limit, len(rows), len(journaled), len(jr)), flush=True)


@scenario("disk errors (RLIMIT_FSIZE): exit 5, CSV valid, resume completes")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        p, f = sizes(sim)
        fl = Failures()
        with fl.case("append fails in phase 1 (limit P/2)"):
            limited_case(sim, truth, p // 2, ("cannot append to 'builds_features.csv'",
                                              "cannot write 'builds_features.csv.journal'"), False)
        with fl.case("journal write fails in phase 2 (limit P+(F-P)/3)"):
            limited_case(sim, truth, p + (f - p) // 3, "builds_features.csv.journal", True)
        with fl.case("final rewrite fails (limit F-1)"):
            limited_case(sim, truth, f - 1, "cannot rewrite 'builds_features.csv'", True)
        fl.raise_if_any()


if __name__ == "__main__":
    main()
