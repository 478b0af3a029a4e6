#!/usr/bin/env python3
"""Primary limit of 25 per 2 s window, 61 requests needed: the miner paces itself on
X-RateLimit-Remaining/Reset, waits for the reset, never hits a primary-limit 403, and says
so: rate_limited status lines naming the reset, a stderr line, and no line per request."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, assert_run_rows, check, check_exit, load_result_csv, repo_args,  # noqa: E402
                     run_miner, scenario, write_config)

REPO = "octo/limited"
LIMIT, WINDOW = 25, 2
SCENARIO = {"rate_limit": {"limit": LIMIT, "window_s": WINDOW},
            "repos": [{"full_name": REPO, "runs": 60, "seed": 5, "jobs_min": 0, "jobs_max": 2}]}


@scenario("primary rate limit: wait for the reset")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        # the default reserve (50) exceeds this tiny limit: keep 2 back; and no pacing, so
        # that the budget, not requests_per_minute, is what slows the miner down
        cfg = write_config(d, budget_reserve=2, max_in_flight=4, requests_per_minute=60000)
        started = time.time()
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg], cwd=d, timeout=90)
        check_exit(res, 0)
        assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
        st = sim.stats()
        check(st["violations"] == 0 and st["primary_403"] == 0,
              "requests arrived with the budget spent: %s" % st)
        check("403" not in st["by_status"], "403 answers: %s" % st["by_status"])
        # 61 requests cannot fit in one window of 25: the miner must have waited
        log = sorted(sim.log(), key=lambda e: e["t_start"])
        check(len(log) > LIMIT, "only %d requests?" % len(log))
        span = log[-1]["t_start"] - log[0]["t_start"]
        check(span >= WINDOW, "all %d requests within %.2fs: no wait for the reset?" % (len(log), span))
        # the waits are announced: stage rate_limited with a reset time in the run's span
        limited = [m for m in res.of_type("status") if m.get("stage") == "rate_limited"]
        check(limited, "no rate_limited status line:\n%s" % res.describe())
        for m in limited:
            check(isinstance(m.get("reset_at"), (int, float))
                  and started - 1 <= m["reset_at"] <= time.time() + WINDOW + 2,
                  "rate_limited line without a plausible reset_at: %s" % m)
        check(any(w in m["message"] for m in limited for w in ("budget spent", "budget short")),
              "no line says the budget holds the miner back: %s" % limited)
        check("budget" in res.stderr and ("waiting" in res.stderr or "one request every" in res.stderr),
              "stderr does not say why the miner waits:\n%s" % res.stderr[-1500:])
        # once per reset and kind, not once per request
        windows = int(span / WINDOW) + 2
        check(len(limited) <= 2 * windows + 2,
              "%d rate_limited lines for %d windows: one per request?" % (len(limited), windows))


if __name__ == "__main__":
    main()
