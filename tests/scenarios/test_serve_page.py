#!/usr/bin/env python3
"""ghaminer serve's live page in a real browser (issue 11): Debian's chromium, driven by
npm playwright-core (tests/browser/live_page.mjs), opens /?repo=OWNER/REPO against the
simulator and waits until the table holds every run with its jobs; the table, the
duration chart's points (one per run, colored by conclusion) and the failure rate per
workflow must match the CSV. The screenshot goes to the build folder (serve_page.png).
Needs chromium (apt) and `npm ci` in tests/browser: scripts/test installs both."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Sim, check, fail, load_result_csv, miner_bin, scenario  # noqa: E402
from harness3 import fast_config  # noqa: E402
from wsclient import Server  # noqa: E402

REPO = "octo/page"
RUNS = 120
SCENARIO = {"repos": [{"full_name": REPO, "runs": RUNS, "seed": 33, "jobs_min": 0, "jobs_max": 2,
                       "workflows": 4}], "latency_ms": 10}
COLORS = {"success": "#1a7f37", "failure": "#cf222e", "cancelled": "#888888"}


def tools():
    browser_dir = os.path.join(SRC, "tests", "browser")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not chromium:
        fail("chromium not found: apt-get install chromium (scripts/test installs it)")
    if not shutil.which("node"):
        fail("node not found: apt-get install nodejs npm (scripts/test installs it)")
    if not os.path.isdir(os.path.join(browser_dir, "node_modules", "playwright-core")):
        fail("playwright-core not installed: cd tests/browser && npm ci (scripts/test does it)")
    return chromium, os.path.join(browser_dir, "live_page.mjs")


@scenario("serve: the live page in chromium")
def main():
    chromium, script = tools()
    shot = os.path.join(os.path.dirname(miner_bin()), "serve_page.png")
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = fast_config(d, api_url=sim.url, max_in_flight=4)
        with Server(d, ["-c", cfg]) as srv:
            st, _, body = srv.http("GET", "/")
            check(st == 200 and b"<svg" in body and b"http" not in body.replace(b"http://www.w3.org", b"")
                  .replace(b"ws://", b""), "GET / answered %s, or the page loads something from elsewhere" % st)
            p = subprocess.run(["node", script, "http://" + srv.base, REPO, str(RUNS), shot],
                               capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, CHROMIUM=chromium))
            check(p.returncode == 0, "the browser run failed (%s):\n%s\n%s" % (p.returncode, p.stderr[-3000:], p.stdout[-2000:]))
            shown = json.loads(p.stdout.strip().splitlines()[-1])
            check(not shown["errors"], "the page logged errors: %s" % shown["errors"])
            deadline = time.monotonic() + 10
            while True:
                rows = [r for r in load_result_csv(d) if r["repo"] == REPO]
                if all(r["total_jobs"] for r in rows) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            srv.stop()
    check(len(rows) == RUNS, "the CSV holds %d runs" % len(rows))
    csv = {r["id_build"]: r for r in rows}
    table = {row[0]: row for row in shown["rows"]}
    check(set(table) == set(csv), "the table shows %d runs, the CSV holds %d" % (len(table), len(csv)))
    for rid, row in table.items():
        r = csv[rid]
        check(row[1] == r["workflow_name"] and row[3] == r["conclusion"] and row[7] == r["total_jobs"],
              "run %s: the table shows %s, the CSV %s" % (rid, row, [r["workflow_name"], r["conclusion"], r["total_jobs"]]))
    points = {p["id"]: p for p in shown["points"]}
    check(set(points) == {i for i, r in csv.items() if r["build_duration"]},
          "the duration chart has %d points for %d runs with a duration" % (len(points), len(csv)))
    for rid, pt in points.items():
        r = csv[rid]
        check(abs(pt["duration"] - float(r["build_duration"])) < 1e-6 and pt["conclusion"] == r["conclusion"],
              "point of run %s: %r, the CSV says %s s, %s" % (rid, pt, r["build_duration"], r["conclusion"]))
        if r["conclusion"] in COLORS:
            check(pt["fill"] == COLORS[r["conclusion"]], "run %s (%s) drawn in %s" % (rid, r["conclusion"], pt["fill"]))
    want = {}
    for r in rows:
        if r["status"] == "completed":
            n, f = want.get(r["workflow_name"], (0, 0))
            want[r["workflow_name"]] = (n + 1, f + (r["conclusion"] == "failure"))
    bars = {b["workflow"]: b for b in shown["bars"]}
    check(set(bars) == set(want), "bars for %s, workflows %s" % (sorted(bars), sorted(want)))
    for w, (n, f) in want.items():
        check(bars[w]["runs"] == n and abs(bars[w]["rate"] - f / n) < 1e-3,
              "workflow %r: bar %r, expected %d of %d failed" % (w, bars[w], f, n))
    check(any(b["rate"] > 0 for b in bars.values()), "no workflow failed: a weak case")
    check(os.path.getsize(shot) > 10000, "the screenshot %s is missing or empty" % shot)


if __name__ == "__main__":
    main()
