#!/usr/bin/env python3
"""-fd/-td over a long history under GitHub's 1,000-result cap on filtered queries.

4,000 runs over 65 days: 300 in the 30 days before `-fd D1`, 3,500 in the 15 days of
`-fd D1 -td D2`, 200 in the 20 days after. Inside the range the history is uneven:
1,000 runs over 10 days, a burst of 2,000 runs in 20 hours, 500 runs over the last 4
days, so windows cut by time meet more than 1,000 runs and must be split. Every `created=`
query is filtered, so the simulator (at its default caps) returns at most 1,000 results
for any of them. Expected: exactly the in-range runs in the CSV, each once, value by value
with their jobs; every listing request inside the range; no 422, no violation."""

import calendar
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, api_log, assert_run_rows, case, check, check_exit, jobs_requests,  # noqa: E402
                     load_result_csv, repo_args, run_miner, scenario)
from harness3 import fast_config  # noqa: E402

REPO = "octo/longhistory"
START = "2024-01-01T00:00:00Z"
DAY = 86400
# [count, spacing_s] segments; each segment's jitter stays within its runs' slots
SPACING = [[300, 30 * DAY // 300],       # 2024-01-01 .. 01-30: before the range
           [1000, 10 * DAY // 1000],     # 01-31 .. 02-09
           [2000, 36],                   # 02-10 00:00 .. 20:00: the burst
           [500, (4 * DAY + 4 * 3600) // 500],   # 02-10 20:00 .. 02-14 24:00
           [200, 20 * DAY // 200]]       # 02-15 .. 03-05: after the range
D1, D2 = "2024-01-31", "2024-02-14"
N = sum(c for c, _ in SPACING)
SCENARIO = {"repos": [{"full_name": REPO, "runs": N, "seed": 23, "start": START, "spacing_s": SPACING,
                       "jobs_min": 0, "jobs_max": 2}]}
# a datetime or a date in a created= filter, as the miner may write it
BOUND = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:?\d{2})?)?")


def epoch(text, end_of_day=False):
    m = BOUND.fullmatch(text.replace(" ", "+"))
    check(m, "unparsable created bound %r" % text)
    y, mo, d = map(int, m.group(1).split("-"))
    t = calendar.timegm((y, mo, d, 0, 0, 0, 0, 0, 0))
    if m.group(2) is None:
        return t + (86399 if end_of_day else 0)
    t += int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
    tz = m.group(5)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


@scenario("date windows: -fd/-td over 65 days, 3,500 runs in range, a burst, 1,000-result cap")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        truth = sim.truth(REPO)
        inside = {r["id"] for r in truth["runs"] if D1 <= r["created_at"][:10] <= D2}
        before = sum(r["created_at"][:10] < D1 for r in truth["runs"])
        after = sum(r["created_at"][:10] > D2 for r in truth["runs"])
        check(3450 <= len(inside) <= 3550 and before >= 250 and after >= 150,
              "scenario: %d runs in range, %d before, %d after" % (len(inside), before, after))
        cfg = fast_config(d, max_in_flight=16)
        res = run_miner(repo_args(sim, REPO) + ["-c", cfg, "-fd", D1, "-td", D2], cwd=d, timeout=90)
        check_exit(res, 0)
        log = sim.log()
        with case("exactly the %d in-range runs, each once, value by value with jobs" % len(inside)):
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True, only_ids=inside)
        with case("one jobs request per in-range run"):
            jr = jobs_requests(log)
            check(set(jr) == inside, "jobs requested for %d runs outside the range, %d in-range runs missed"
                  % (len(set(jr) - inside), len(inside - set(jr))))
        with case("listing: every query inside the range, the cap honoured"):
            runs_req = api_log(log, "runs")
            check(runs_req, "no listing requests")
            lo, hi = epoch(D1), epoch(D2, end_of_day=True)
            for e in runs_req:
                c = e["query"].get("created")
                check(c, "listing request %d without created=: %s?%s" % (e["seq"], e["path"], e["query"]))
                a, _, b = c.replace(" ", "+").partition("..")
                check(b, "listing request %d: created=%r is not a range" % (e["seq"], c))
                check(a != "*" and epoch(a) >= lo and b != "*" and epoch(b, True) <= hi,
                      "listing request %d asks created=%s, outside %s..%s" % (e["seq"], c, D1, D2))
                check(int(e["query"].get("page", "1")) <= 10,
                      "listing request %d asks page %s: past the 1,000-result cap" % (e["seq"], e["query"].get("page")))
            windows = {e["query"]["created"] for e in runs_req}
            check(len(windows) >= 4, "only %d created= windows for %d runs: the cap cannot have been honoured"
                  % (len(windows), len(inside)))
            # a listing ideally costs ~ runs/100 pages plus the window probes
            check(len(runs_req) <= 2 * len(inside) // 100 + 20,
                  "%d listing requests for %d runs" % (len(runs_req), len(inside)))
        with case("no 422, no violation, only 200s"):
            st = sim.stats()
            check("422" not in st["by_status"], "422 answers: %s" % st["by_status"])
            check(set(st["by_status"]) == {"200"}, "answers %s" % st["by_status"])
            check(st["violations"] == 0, "violations: %s" % st)
        print("  %d listing requests, %d windows, miner %.1fs"
              % (len(api_log(log, "runs")), len({e["query"].get("created") for e in api_log(log, "runs")}),
                 res.elapsed), flush=True)


if __name__ == "__main__":
    main()
