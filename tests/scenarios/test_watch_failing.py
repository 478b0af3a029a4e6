#!/usr/bin/env python3
"""Watch mode survives a failing poll: after a good first pass the API stops answering
(connections reset); a pass triggered by SIGUSR1 fails, reports it in its "watching"
status (ok: false, nothing found, the age of the data: the time since the good pass ended)
and the process stays up. Once the API answers again, the next pass brings in the runs
added meanwhile and its data is fresh again (age 0). SIGTERM → 143."""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, assert_run_rows, check, load_result_csv, repo_args, scenario  # noqa: E402
from harness3 import Bg, fast_config  # noqa: E402

REPO = "octo/flaky"
RUNS, ADDED = 40, 3
PAUSE = 1.0  # between the good first pass and the failing one: the data is at least this old
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 71, "jobs_min": 0, "jobs_max": 2,
                       "in_progress": 0, "queued": 0}]}


def watching(o):
    return o.get("type") == "status" and (o.get("data") or {}).get("stage") == "watching"


@scenario("watch: a failing poll is reported and retried, the process lives on")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, max_in_flight=4, max_retries=1)
        bg = Bg(repo_args(sim, REPO) + ["-c", cfg, "--watch", "60s"], d)
        try:
            w1 = bg.wait_obj(watching, 20, what="the first 'watching' status")
            t_seen1 = time.monotonic()
            s1 = bg.objs[w1]["data"]
            check(s1.get("pass") == 1 and s1.get("ok") is True and s1.get("new_runs") == RUNS
                  and s1.get("jobs_collected") == RUNS and s1.get("data_age_s") == 0,
                  "first pass status %r, expected pass 1 ok with %d new runs and data 0 s old" % (s1, RUNS))

            time.sleep(PAUSE)
            t_usr1 = time.monotonic()
            sim.post("/_sim/config", {"faults": [{"path_regex": "/actions/runs", "kind": "reset",
                                                  "times": 1000}]})
            sim.post("/_sim/add_runs", {"repo": REPO, "count": ADDED})
            bg.signal(signal.SIGUSR1)
            w2 = bg.wait_obj(watching, 30, start=w1 + 1, what="the 'watching' status of the failing pass")
            t_seen2 = time.monotonic()
            s2 = bg.objs[w2]["data"]
            check(s2.get("pass") == 2 and s2.get("ok") is False, "a pass against a dead API reported %r" % s2)
            check(s2.get("new_runs") == 0 and s2.get("updated_runs") == 0 and s2.get("jobs_collected") == 0,
                  "a pass that could not list found something: %r" % s2)
            # The age of the data is the time since the good pass ended. That pass ended
            # before the test saw its status and the failing pass began after SIGUSR1, so the
            # age is at least the time between the two (the pause); the failing pass ended
            # before the test saw its status, so the age is at most the time since the start.
            # (10 ms for the miner's wall clock against the test's monotonic one.)
            age = s2.get("data_age_s")
            low, high = t_usr1 - t_seen1 - 0.01, t_seen2 - bg.t0 + 0.01
            check(isinstance(age, (int, float)) and low <= age <= high,
                  "the failing pass reported data_age_s %r, expected the time since the good pass "
                  "ended: between %.2f s (the good pass was seen %.2f s before SIGUSR1) and %.2f s "
                  "(since the miner started)" % (age, low, low + 0.01, high))
            check(bg.running(), "the miner exited after a failing poll")
            said = "cannot reach %s while listing workflow runs" % sim.url
            check(said in bg.stderr(), "stderr does not say %r:\n%s" % (said, bg.stderr()[-600:]))

            sim.post("/_sim/config", {"faults": []})
            bg.signal(signal.SIGUSR1)
            w3 = bg.wait_obj(watching, 30, start=w2 + 1, what="the 'watching' status after recovery")
            s3 = bg.objs[w3]["data"]
            check(s3.get("pass") == 3 and s3.get("ok") is True and s3.get("new_runs") == ADDED
                  and s3.get("jobs_collected") == ADDED and s3.get("data_age_s") == 0,
                  "the pass after recovery reported %r, expected pass 3 ok with %d new runs and data "
                  "0 s old" % (s3, ADDED))
            assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
            bg.signal(signal.SIGTERM)
            bg.wait(20)
            check(bg.result().code == 143, "SIGTERM gave exit %s" % bg.result().code)
        finally:
            bg.close()


if __name__ == "__main__":
    main()
