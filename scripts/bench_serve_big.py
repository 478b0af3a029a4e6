#!/usr/bin/env python3
"""scripts/bench --serve-big: `ghaminer serve` over a large CSV (not a test: prints figures).

Writes a CSV of --runs runs of one repository (about 3.5 KB each with its jobs), starts the
server on it (no mining: the API URL answers nothing) and measures, for the binary under
test and, with --baseline BIN, for another build on the same file in the same run:
  - the first API request (it indexes the file), then the median of 5 of: a page deep in
    the repository (cursor at 98 % of its rows), one run by id (the last row);
  - a late joiner on the repository: its first message, the whole snapshot read as fast as
    a Python client reads, the server's RSS growth meanwhile, and the slowest GET /health
    answered while the snapshot is under way (what the loop is held for).
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "scenarios"))
os.environ.setdefault("GHAMINER_BIN", os.path.join(ROOT, "build", "ghaminer"))

from harness import write_config  # noqa: E402
from harness3 import rss_kb, write_runs_csv  # noqa: E402
from wsclient import Server, stage  # noqa: E402

REPO = "octo/big"
TOP = 9000000000


def timed_get(base, path):
    t = time.monotonic()
    with urllib.request.urlopen("http://%s%s" % (base, path), timeout=600) as r:
        r.read()
    return time.monotonic() - t


def measure(binary, d, runs):
    os.environ["GHAMINER_BIN"] = binary
    cfg = write_config(d, api_url="http://127.0.0.1:1", max_retries=0)
    out = {}
    with Server(d, ["-c", cfg]) as srv:
        out["first_request_s"] = timed_get(srv.base, "/api/runs/%s?limit=1" % REPO)
        deep = int(runs * 0.98)
        out["deep_page_s"] = statistics.median(
            timed_get(srv.base, "/api/runs/%s?limit=100&cursor=%d" % (REPO, deep)) for _ in range(5))
        out["run_by_id_s"] = statistics.median(
            timed_get(srv.base, "/api/runs/%s/%d" % (REPO, TOP - runs + 1)) for _ in range(5))
        before = rss_kb(srv.proc.pid)
        peak = [before]
        health = []
        done = threading.Event()

        def poll():
            while not done.is_set():
                health.append(timed_get(srv.base, "/health"))
                peak.append(rss_kb(srv.proc.pid))
                time.sleep(0.05)
        t0 = time.monotonic()
        ws = srv.ws("/stream/" + REPO, timeout=600)
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        first = ws.recv()
        out["first_message_s"] = time.monotonic() - t0
        n = 1
        while not stage("from_csv")(first):
            first = ws.recv()
            n += 1
        out["snapshot_s"] = time.monotonic() - t0
        done.set()
        th.join()
        out["messages"] = n
        out["rss_growth_mb"] = (max(peak) - before) / 1024
        out["health_max_s"] = max(health) if health else float("nan")
        ws.close()
        srv.stop()
    return out


ROWS = [("first API request (indexes the file)", "first_request_s", "s"),
        ("page at 98 % of the rows (median of 5)", "deep_page_s", "s"),
        ("one run by id, the last row (median of 5)", "run_by_id_s", "s"),
        ("late joiner: first message", "first_message_s", "s"),
        ("late joiner: whole snapshot read", "snapshot_s", "s"),
        ("server RSS growth during the snapshot", "rss_growth_mb", "MB"),
        ("slowest GET /health during the snapshot", "health_max_s", "s")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50000)
    ap.add_argument("--baseline", help="another ghaminer binary, measured on the same file")
    ap.add_argument("--write-csv", metavar="PATH", help="only write the CSV there (for "
                    "scripts/bench_index.c)")
    args = ap.parse_args()
    if args.write_csv:
        write_runs_csv(args.write_csv, REPO, args.runs, TOP)
        return
    with tempfile.TemporaryDirectory(prefix="ghaminer-bench-serve-big-") as d:
        path = os.path.join(d, "builds_features.csv")
        write_runs_csv(path, REPO, args.runs, TOP)
        print("CSV: %d runs, %.1f MB" % (args.runs, os.path.getsize(path) / 2**20))
        new = measure(os.environ["GHAMINER_BIN"], d, args.runs)
        old = measure(args.baseline, d, args.runs) if args.baseline else None
    if old:
        print("| measure | baseline | this build | ratio |\n|---|---|---|---|")
    else:
        print("| measure | this build |\n|---|---|")
    for label, key, unit in ROWS:
        if old:
            ratio = old[key] / new[key] if new[key] else float("inf")
            print("| %s | %.3f %s | %.3f %s | %.1fx |" % (label, old[key], unit, new[key], unit, ratio))
        else:
            print("| %s | %.3f %s |" % (label, new[key], unit))


if __name__ == "__main__":
    main()
