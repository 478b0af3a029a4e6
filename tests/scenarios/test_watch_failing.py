#!/usr/bin/env python3
"""Watch mode survives a failing poll: after a good first pass the API stops answering
(connections reset); a pass triggered by SIGUSR1 fails, reports it in its "watching"
status (ok: false, the data's age, what it found) and the process stays up. Once the API
answers again, the next pass brings in the runs added meanwhile. SIGTERM → 143."""

import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, assert_run_rows, check, load_result_csv, repo_args, scenario  # noqa: E402
from harness3 import Bg, fast_config  # noqa: E402

REPO = "octo/flaky"
RUNS, ADDED = 40, 3
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
            s1 = bg.objs[w1]["data"]
            check(s1.get("ok") is True and s1.get("new_runs") == RUNS,
                  "first pass status %r" % s1)

            sim.post("/_sim/config", {"faults": [{"path_regex": "/actions/runs", "kind": "reset",
                                                  "times": 1000}]})
            sim.post("/_sim/add_runs", {"repo": REPO, "count": ADDED})
            bg.signal(signal.SIGUSR1)
            w2 = bg.wait_obj(watching, 30, start=w1 + 1, what="the 'watching' status of the failing pass")
            s2 = bg.objs[w2]["data"]
            check(s2.get("ok") is False, "a pass against a dead API reported %r" % s2)
            check(s2.get("data_age_s", -1) >= 0, "no data age in %r" % s2)
            check(bg.running(), "the miner exited after a failing poll")
            check("cannot reach" in bg.stderr(), "no clear error on stderr:\n%s" % bg.stderr()[-600:])

            sim.post("/_sim/config", {"faults": []})
            bg.signal(signal.SIGUSR1)
            w3 = bg.wait_obj(watching, 30, start=w2 + 1, what="the 'watching' status after recovery")
            s3 = bg.objs[w3]["data"]
            check(s3.get("ok") is True and s3.get("new_runs") == ADDED,
                  "the pass after recovery reported %r" % s3)
            assert_run_rows(load_result_csv(d), sim.truth(REPO), REPO, with_jobs=True)
            bg.signal(signal.SIGTERM)
            bg.wait(20)
            check(bg.result().code == 143, "SIGTERM gave exit %s" % bg.result().code)
        finally:
            bg.close()


if __name__ == "__main__":
    main()
