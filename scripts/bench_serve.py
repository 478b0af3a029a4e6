#!/usr/bin/env python3
"""scripts/bench --serve (issue 11): `ghaminer serve` with many WebSocket clients for a whole
mining session (not a test: prints figures).

The simulator holds --nrepos repositories of --runs runs (--latency-ms per answer). The
server starts on an empty CSV; --clients clients connect, spread over the repositories,
before mining starts, and read everything until their repository's pass is done. Printed:
  - the server's peak RSS (VmHWM) and its RSS sampled along the session, against the same
    session with one client per repository (memory must stay flat: per-client cost only);
  - the delay from a jobs answer leaving the simulator (its log's t_end, CLOCK_MONOTONIC,
    which this process shares) to the matching run_jobs message read by each client:
    p50, p99 and max over every (client, run). It includes the Python client's own
    scheduling (100 threads under one GIL), so it is an upper bound for the server.
"""
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "scenarios"))
os.environ.setdefault("GHAMINER_BIN", os.path.join(ROOT, "build", "ghaminer"))

from harness import Sim, write_config  # noqa: E402
from harness3 import rss_kb  # noqa: E402
from wsclient import Server  # noqa: E402

JOBS_PATH = re.compile(r"/repos/([^/]+/[^/]+)/actions/runs/(\d+)/jobs")


def client(srv, repo, got, errors):
    try:
        ws = srv.ws("/stream/" + repo, timeout=600)
        if ws.status != 101:
            errors.append("upgrade %s" % ws.status)
            return
        while True:
            m = ws.recv()
            t = time.monotonic()
            if m is None:
                errors.append("closed %s %s" % (ws.close_code, ws.close_reason))
                return
            if m["type"] == "run_jobs":
                got.append((repo, m["data"]["id_build"], t))
            if m["type"] == "status" and m["data"].get("stage") == "pass_done":
                ws.close()
                return
    except Exception as e:  # a bench reports, it does not stop
        errors.append(repr(e))


def session(nclients, args):
    repos = ["bench/serve%02d" % i for i in range(args.nrepos)]
    scenario = {"repos": [{"full_name": r, "runs": args.runs, "seed": 7 + i, "jobs_min": 1, "jobs_max": 3}
                          for i, r in enumerate(repos)], "latency_ms": args.latency_ms,
                "rate_limit": {"limit": 10 ** 7}}
    with Sim(scenario) as sim, tempfile.TemporaryDirectory(prefix="bench-serve-") as d:
        cfg = write_config(d, api_url=sim.url, max_in_flight=args.max_in_flight, requests_per_minute=100000,
                           jobs_api="rest", serve_max_clients=max(256, nclients + 16))
        with Server(d, ["-c", cfg]) as srv:
            got, errors, threads, samples = [], [], [], []
            t0 = time.monotonic()
            for k in range(nclients):
                th = threading.Thread(target=client, args=(srv, repos[k % len(repos)], got, errors), daemon=True)
                th.start()
                threads.append(th)
            while any(th.is_alive() for th in threads):
                samples.append(rss_kb(srv.proc.pid, "VmRSS"))
                time.sleep(0.25)
            wall = time.monotonic() - t0
            peak = rss_kb(srv.proc.pid, "VmHWM")
            srv.stop()
        t_end = {}
        with open(sim.log_path) as f:
            for line in f:
                e = json.loads(line)
                m = JOBS_PATH.search(e["path"])
                if m and e["status"] == 200:
                    t_end[(m.group(1), int(m.group(2)))] = e["t_end"]
        delays = sorted((t - t_end[(repo, rid)]) * 1000 for repo, rid, t in got if (repo, rid) in t_end)
    return {"clients": nclients, "wall": wall, "peak_kb": peak, "samples": samples, "delays": delays,
            "errors": errors, "messages": len(got)}


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def report(r):
    s = r["samples"]
    q = [s[int(i * (len(s) - 1) / 4)] // 1024 for i in range(5)] if s else []
    print("  %3d clients: %.1f s, peak RSS %.1f MB, RSS along the session (MB) %s; run_jobs received %d"
          % (r["clients"], r["wall"], r["peak_kb"] / 1024, q, r["messages"]))
    d = r["delays"]
    if d:
        print("      delay jobs answer -> client: p50 %.1f ms, p99 %.1f ms, max %.1f ms, mean %.1f ms (%d samples)"
              % (pct(d, 50), pct(d, 99), d[-1], statistics.mean(d), len(d)))
    if r["errors"]:
        print("      client errors: %d, e.g. %s" % (len(r["errors"]), r["errors"][:3]))


def bench_serve(args):
    print("serve: %d repositories x %d runs, %d ms latency, %d in flight"
          % (args.nrepos, args.runs, args.latency_ms, args.max_in_flight))
    for n in (args.nrepos, args.clients):
        report(session(n, args))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--nrepos", type=int, default=10)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--max-in-flight", type=int, default=16)
    bench_serve(ap.parse_args())
