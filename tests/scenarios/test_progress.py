#!/usr/bin/env python3
"""Progress on stderr, and stdout pure NDJSON whatever stderr is.

  plain      stderr a pipe: plain lines `ghaminer: <repo>: listed|runs N/M, R/s, ETA …,
             budget …`, one every 5 s during a phase (the jobs phase lasts ~7 s here, so at
             least one line shows a phase part-way) and one at the end of each phase; no
             carriage return, no escape sequence.
  quiet      --quiet, and `quiet: true` in config.yaml: stderr empty for a clean run, the
             NDJSON stream complete.
  windows    2,500 runs, listed in created= windows (more pages than total_count / 100):
             `listed N/M` never shows N > M.
  terminal   stderr a pty, stdout a pipe: the progress line is redrawn in place with
             `\\r\\033[K` (at least one redraw part-way through the jobs phase), the last
             one ends with a newline; stdout is still pure NDJSON."""

import os
import pty
import re
import subprocess
import sys
import tempfile
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (MinerResult, Sim, assert_ndjson, assert_run_rows, check, check_exit, check_wrapper,  # noqa: E402
                     load_result_csv, miner_cmd, repo_args, run_miner, scenario, write_config)
from harness3 import Failures, miner_env  # noqa: E402

REPO = "octo/progress"
RUNS = 70
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 71, "jobs_min": 0, "jobs_max": 2}]}
NUM = r"(\d+)"
BODY = (r"%s: (pages|runs|listed) %s/%s, (?:[\d.]+/s, ETA [0-9hms?]+|waiting for the rate limit: [0-9hms?]+), "
        r"budget (?:\d+|\?)" % (re.escape(REPO), NUM, NUM))
PLAIN = re.compile(r"^ghaminer: " + BODY + r"$")


def plain():
    # 4 at a time, 400 ms each: the jobs phase (70 requests) lasts ~7 s, past the 5 s tick
    # (requests_per_minute is a ceiling over any 60 s, not a pace: 70 fit in one burst)
    with Sim(dict(SCENARIO, latency_ms=400)) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = write_config(d, max_in_flight=4)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        assert_ndjson(res, truth, REPO)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        check("\r" not in res.stderr and "\033" not in res.stderr,
              "stderr is not a terminal but has \\r or escape sequences: %r" % res.stderr[-600:])
        lines = res.stderr.splitlines()
        prog = [ln for ln in lines if re.match(r"^ghaminer: %s: (pages|runs|listed) \d" % re.escape(REPO), ln)]
        bad = [ln for ln in prog if not PLAIN.match(ln)]
        check(not bad, "progress lines not in the form `ghaminer: %s: runs N/M, R/s, ETA …, budget …`: %r"
              % (REPO, bad[:3]))
        runs = [tuple(map(int, PLAIN.match(ln).group(2, 3))) for ln in prog if PLAIN.match(ln).group(1) == "runs"]
        check(runs and runs[-1] == (RUNS, RUNS), "no final `runs %d/%d` progress line: %r" % (RUNS, RUNS, prog))
        check(any(0 < n < RUNS for n, _ in runs),
              "no periodic progress line part-way through the ~7 s jobs phase (lines: %r)" % prog)
        check(any(PLAIN.match(ln).group(1) == "listed" for ln in prog), "no `listed` progress line (phase 1): %r" % prog)
        check(all(int(PLAIN.match(ln).group(2)) <= int(PLAIN.match(ln).group(3)) for ln in prog),
              "a progress line shows more done than its total: %r" % prog)


def never_past_total():
    """2,500 runs crawled in created= windows: the pages phase makes more requests than
    total_count / 100; its progress must still never show more done than its total."""
    repo = "octo/windows"
    sc = {"repos": [{"full_name": repo, "runs": 2500, "seed": 73, "jobs_min": 0, "jobs_max": 0}]}
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = write_config(d, requests_per_minute=100000, fetch_job_details=False)
        res = run_miner(repo_args(sim, repo) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        line = re.compile(r"^ghaminer: %s: (pages|runs|listed) (\d+)/(\d+)," % re.escape(repo))
        prog = [m for m in map(line.match, res.stderr.splitlines()) if m]
        check(prog, "no progress line: %r" % res.stderr[-600:])
        past = [m.string for m in prog if int(m.group(2)) > int(m.group(3))]
        check(not past, "progress shows more done than its total: %r (%d listing requests for 2,500 runs)"
              % (past, len(sim.log())))


def quiet():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = write_config(d, requests_per_minute=100000)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg, "--quiet"], cwd=d, timeout=60)
        check_exit(res, 0)
        check(res.stderr == "", "--quiet, clean run: stderr is %r" % res.stderr[-600:])
        assert_ndjson(res, truth, REPO)
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = write_config(d, requests_per_minute=100000, quiet=True)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=60)
        check_exit(res, 0)
        check(res.stderr == "", "quiet: true in config.yaml, clean run: stderr is %r" % res.stderr[-600:])
        assert_ndjson(res, truth, REPO)


def terminal():
    # 4 at a time, 200 ms each: the jobs phase lasts ~3.5 s, several 1 s redraws
    with Sim(dict(SCENARIO, latency_ms=200)) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        cfg = write_config(d, max_in_flight=4)
        cmd = miner_cmd(repo_args(sim, REPO) + ["-c", cfg])
        master, slave = pty.openpty()
        tty.setraw(slave)   # no newline translation: read the bytes as written
        chunks = []

        def read_pty():
            while True:
                try:
                    b = os.read(master, 65536)
                except OSError:      # EIO once the miner closed its end
                    break
                if not b:
                    break
                chunks.append(b)

        t0 = time.monotonic()
        try:
            p = subprocess.Popen(cmd, cwd=d, env=miner_env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=slave)
        finally:
            os.close(slave)
        reader = threading.Thread(target=read_pty, daemon=True)
        reader.start()
        try:
            out, _ = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            check(False, "ghaminer did not finish within 60 s with stderr on a terminal")
        reader.join(10)
        os.close(master)
        err = b"".join(chunks).decode("utf-8", "replace")
        check_wrapper(p.pid, p.returncode, cmd)
        res = MinerResult(cmd, p.returncode, out.decode("utf-8"), err, time.monotonic() - t0)
        harness.LAST_RESULT = res
        check_exit(res, 0)
        assert_ndjson(res, truth, REPO)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        redraw = re.compile(r"\r\033\[K" + BODY)
        draws = [m for m in redraw.finditer(err)]
        check(draws, "no `\\r\\033[K<repo>: runs N/M, …` redraw on the terminal: %r" % err[-800:])
        part_way = [m for m in draws if m.group(1) == "runs" and 0 < int(m.group(2)) < int(m.group(3))]
        check(part_way, "no live redraw part-way through the ~3.5 s jobs phase: %r"
              % [m.group(0) for m in draws])
        check(not re.search(r"^ghaminer: " + BODY, err, re.M),
              "on a terminal the progress came as plain lines: %r" % err[-800:])
        check(err.endswith("\n"), "the terminal output does not end with a newline: %r" % err[-200:])
        last = err.rstrip("\n").split("\n")[-1]
        print("    %d redraws; last terminal line %r" % (len(draws), last[-120:]), flush=True)


@scenario("progress: plain lines, --quiet, live line on a terminal")
def main():
    fl = Failures()
    with fl.case("stderr a pipe: plain progress lines"):
        plain()
    with fl.case("2,500 runs in windows: listed N/M never past M"):
        never_past_total()
    with fl.case("--quiet / quiet: true: stderr empty"):
        quiet()
    with fl.case("stderr a terminal: \\r\\033[K redraws, stdout NDJSON"):
        terminal()
    fl.raise_if_any()


if __name__ == "__main__":
    main()
