#!/usr/bin/env python3
"""A reader that goes away early, as `ghaminer … | head` does, in phase 1 and in phase 2.
The miner is not killed by SIGPIPE: it says once that the NDJSON stream stopped, finishes
the CSV to the truth and exits 0; every line the reader got was whole, valid NDJSON."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_miner_stderr, load_result_csv,  # noqa: E402
                     miner_bin, repo_args, scenario)
from harness3 import Failures, fast_config, miner_env  # noqa: E402

REPO = "octo/headed"
RUNS = 300
SCENARIO = {"rate_limit": {"limit": 1000000},
            "repos": [{"full_name": REPO, "runs": RUNS, "seed": 67, "jobs_min": 0, "jobs_max": 3}]}
WARNING = "stdout closed"


def read_until_then_close(proc, stop):
    """Reads whole lines from proc's stdout until stop(obj) holds, then closes the pipe →
    the lines read (each parsed: a torn or invalid line fails here)."""
    got = []
    for raw in proc.stdout:
        obj = json.loads(raw)          # every line the reader saw is one whole JSON object
        check(isinstance(obj, dict) and "type" in obj, "not an NDJSON message: %r" % raw[:200])
        got.append(obj)
        if stop(obj):
            break
    proc.stdout.close()
    return got


def closed_case(sim, truth, phase):
    with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=4)
        sim.configure(latency_ms=20)
        err_path = os.path.join(d, "stderr.txt")
        cmd = [miner_bin()] + repo_args(sim, REPO) + ["-c", cfg]
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=d, env=miner_env(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err)
            try:
                if phase == 1:
                    got = read_until_then_close(proc, lambda o: o["type"] == "runs_page")
                else:
                    got = read_until_then_close(proc, lambda o: o["type"] == "run_jobs")
                code = proc.wait(120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        sim.configure(latency_ms=0)
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        check_miner_stderr(stderr, cmd)
        check(code == 0, "exit code %s after the reader left in phase %d (expected 0):\n%s"
              % (code, phase, stderr[-1500:]))
        check(stderr.count(WARNING) == 1, "expected the %r warning once on stderr, got %d:\n%s"
              % (WARNING, stderr.count(WARNING), stderr[-1500:]))
        check(got, "the reader got no line")
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        print("    phase %d: reader left after %d lines; exit 0, CSV complete" % (phase, len(got)),
              flush=True)


@scenario("stdout closed early (| head): mining goes on, CSV complete, exit 0")
def main():
    with Sim(SCENARIO) as sim:
        truth = sim.truth(REPO)
        fl = Failures()
        with fl.case("reader leaves after the first runs_page"):
            closed_case(sim, truth, 1)
        with fl.case("reader leaves after the first run_jobs"):
            closed_case(sim, truth, 2)
        fl.raise_if_any()


if __name__ == "__main__":
    main()
