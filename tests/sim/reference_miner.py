#!/usr/bin/env python3
"""Reference model of ghaminer's observable behaviour (NOT the product).

An independent oracle: tests/scenarios/test_reference_oracle.py mines the same simulated
repository with ghaminer and with this, and requires the two CSVs (and the NDJSON runs and
run_jobs lines) to agree value by value. The simplest scenarios also run with it in place
of the binary:

    GHAMINER_BIN=tests/sim/reference_miner.py python3 tests/scenarios/test_basic_small.py

Deliberately simple: one listing pass, a thread pool for jobs, a shared gate that honours
Retry-After, X-RateLimit-Remaining/Reset (keeping budget_reserve plus in-flight back) and
requests_per_minute, retries with backoff for 5xx and transport errors."""

import argparse
import csv
import gzip
import http.client
import io
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

HEADER = ["repo", "id_build", "workflow_id", "workflow_name", "status", "conclusion", "created_at",
          "updated_at", "branch", "commit_sha", "event", "issuer_name", "run_number", "build_duration",
          "total_jobs", "job_details"]
OUT_LOCK = threading.Lock()


def emit(t, data):
    with OUT_LOCK:
        sys.stdout.write(json.dumps({"type": t, "data": data}, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def die(code, msg):
    sys.stderr.write("ghaminer: " + msg + "\n")
    emit("error", {"message": msg})
    sys.exit(code)


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def dur(a, b):
    if not a or not b:
        return "N/A"
    d = (ts(b) - ts(a)).total_seconds()
    return int(d) if d == int(d) else d


class Net(Exception):
    pass


class Client:
    def __init__(self, api, token, cfg):
        self.api = api.rstrip("/")
        self.token = token
        self.cfg = cfg
        self.lock = threading.Lock()
        self.remaining = None
        self.reset = 0
        self.inflight = 0
        self.pause_until = 0.0
        self.local = threading.local()
        self.sem = threading.Semaphore(cfg["max_in_flight"])
        self.min_gap = 60.0 / cfg["requests_per_minute"]
        self.last_send = 0.0

    def conn(self):
        u = urlsplit(self.api)
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=self.cfg["request_timeout"])
            self.local.c = c
        return c

    def _gate(self):
        """Block until a request may leave; counts it in flight."""
        while True:
            with self.lock:
                now = time.time()
                if now < self.pause_until:
                    wait = self.pause_until - now
                elif self.remaining is not None and self.remaining - self.inflight <= self.cfg["budget_reserve"] and now < self.reset:
                    wait = self.reset - now + 0.05
                elif now - self.last_send < self.min_gap:
                    wait = self.min_gap - (now - self.last_send)
                else:
                    self.inflight += 1
                    self.last_send = now
                    return
            time.sleep(min(wait, 1.0))

    def get(self, url):
        """→ (status, headers, body). Retries 5xx/transport, honours limits."""
        attempt = 0
        while True:
            with self.sem:
                self._gate()
                try:
                    u = urlsplit(url)
                    c = self.conn()
                    try:
                        c.request("GET", u.path + ("?" + u.query if u.query else ""), headers={
                            "Authorization": "Bearer " + self.token, "User-Agent": "ghaminer-ref/0.1",
                            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                            "Accept-Encoding": "gzip"})
                        r = c.getresponse()
                        body = r.read()
                        status, h = r.status, {k.lower(): v for k, v in r.getheaders()}
                    except (OSError, http.client.HTTPException) as e:
                        c.close()
                        self.local.c = None
                        status, h, body = 0, {}, str(e).encode()
                finally:
                    with self.lock:
                        self.inflight -= 1
            if h.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            with self.lock:
                if "x-ratelimit-remaining" in h:
                    self.remaining = int(h["x-ratelimit-remaining"])
                    self.reset = int(h["x-ratelimit-reset"])
                if status in (403, 429) and "retry-after" in h:
                    self.pause_until = max(self.pause_until, time.time() + int(h["retry-after"]))
                    continue
                if status in (403, 429) and h.get("x-ratelimit-remaining") == "0":
                    continue
            if status == 0 or status >= 500:
                attempt += 1
                if attempt > self.cfg["max_retries"]:
                    if status == 0:
                        raise Net("cannot connect to %s: %s" % (self.api, body.decode()))
                    return status, h, body
                time.sleep(0.2 * 2 ** attempt)
                continue
            return status, h, body


def next_link(h):
    for part in h.get("link", "").split(","):
        m = re.match(r'\s*<([^>]+)>;\s*rel="next"', part)
        if m:
            return m.group(1)
    return None


def load_cfg(path):
    cfg = {"max_in_flight": 16, "requests_per_minute": 600, "budget_reserve": 50, "max_retries": 5,
           "request_timeout": 30.0, "output_csv": None, "api_url": None}
    if path:
        for line in open(path):
            if ":" in line:
                k, v = line.split(":", 1)
                v = v.strip()
                cfg[k.strip()] = float(v) if k.strip() == "request_timeout" else int(v) if v.isdigit() else v
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-t")
    ap.add_argument("-s")
    ap.add_argument("-c")
    ap.add_argument("-o")
    ap.add_argument("-fd")
    ap.add_argument("-td")
    ap.add_argument("--api-url")
    ap.add_argument("--quiet", action="store_true")
    try:
        a = ap.parse_args()
    except SystemExit:
        sys.exit(2)
    cfg = load_cfg(a.c)
    token = a.t or os.environ.get("GITHUB_TOKEN")
    if not token:
        die(2, "no token: set GITHUB_TOKEN or use -t")
    m = re.fullmatch(r"(?:https?://)?(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?|([\w.-]+)/([\w.-]+)", a.s or "")
    if not m:
        die(2, "not a repository URL: %r (expected https://github.com/OWNER/REPO)" % a.s)
    repo = "/".join(g for g in m.groups() if g)
    api = a.api_url or cfg["api_url"] or "https://api.github.com"
    out = a.o or cfg["output_csv"] or "builds_features.csv"
    cl = Client(api, token, cfg)

    rows, order = {}, []
    if os.path.exists(out):
        with open(out, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows[r["id_build"]] = r
                order.append(r["id_build"])
    before = open(out, "rb").read() if os.path.exists(out) else None

    url = "%s/repos/%s/actions/runs?per_page=100&exclude_pull_requests=true" % (api.rstrip("/"), repo)
    if a.fd or a.td:
        url += "&created=%s..%s" % (a.fd or "*", a.td or "*")
    page, collected = 0, 0
    emit("status", {"message": "listing runs of " + repo, "stage": "runs"})
    try:
        while url:
            st, h, body = cl.get(url)
            if st == 401:
                die(3, "authentication failed (401): check GITHUB_TOKEN")
            if st == 404:
                die(3, "repository %s not found (404)" % repo)
            if st != 200:
                die(1, "runs listing failed: HTTP %d" % st)
            d = json.loads(body)
            page += 1
            nxt = next_link(h)
            out_runs = []
            for r in d["workflow_runs"]:
                start = r.get("run_started_at") or r["created_at"]
                bd = (ts(r["updated_at"]) - ts(start)).total_seconds()
                rec = {"repo": repo, "id_build": r["id"], "workflow_id": r["workflow_id"],
                       "workflow_name": r.get("name"), "status": r["status"], "conclusion": r["conclusion"],
                       "created_at": r["created_at"], "updated_at": r["updated_at"], "branch": r["head_branch"],
                       "commit_sha": r["head_sha"], "event": r["event"],
                       "issuer_name": (r.get("actor") or {}).get("login"), "run_number": r["run_number"],
                       "build_duration": int(bd) if bd == int(bd) else bd, "total_jobs": None, "job_details": None}
                out_runs.append(rec)
                if str(r["id"]) not in rows:
                    rows[str(r["id"])] = {k: "" if v is None else str(v) for k, v in rec.items()}
                    order.append(str(r["id"]))
            collected += len(out_runs)
            emit("runs_page", {"page": page, "runs": out_runs, "total_collected": collected, "has_more": bool(nxt)})
            url = nxt
    except Net as e:
        die(4, str(e))

    # runs already collected by an earlier invocation (total_jobs filled) are not fetched again
    todo = [rid for rid in order if rows[rid]["total_jobs"] == ""]
    done = [0]
    failed = []
    plock = threading.Lock()

    def work(rid):
        details, u = [], "%s/repos/%s/actions/runs/%s/jobs?per_page=100&filter=latest" % (api.rstrip("/"), repo, rid)
        while u:
            st, h, body = cl.get(u)
            if st != 200:
                with plock:
                    failed.append(rid)
                emit("error", {"message": "jobs of run %s failed: HTTP %d" % (rid, st)})
                return
            for j in json.loads(body)["jobs"]:
                details.append({"job_name": j["name"], "job_start": j["started_at"], "job_end": j["completed_at"],
                                "job_duration": dur(j["started_at"], j["completed_at"]), "job_result": j["conclusion"],
                                "steps": [{"step_name": s["name"], "step_conclusion": s["conclusion"],
                                           "step_start": s["started_at"], "step_end": s["completed_at"],
                                           "step_duration": dur(s["started_at"], s["completed_at"])} for s in j["steps"]]})
            u = next_link(h)
        rows[rid]["total_jobs"] = str(len(details))
        rows[rid]["job_details"] = json.dumps(details, ensure_ascii=False)
        emit("run_jobs", {"repo": repo, "id_build": int(rid), "total_jobs": len(details), "job_details": details})
        with plock:
            done[0] += 1
            emit("job_progress", {"processed": done[0], "total": len(todo), "current_run_id": int(rid)})

    try:
        with ThreadPoolExecutor(cfg["max_in_flight"]) as ex:
            list(ex.map(work, todo))
    except Net as e:
        die(4, str(e))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    for rid in order:
        w.writerow(rows[rid])
    data = buf.getvalue().encode()
    if data != before:  # a no-op run leaves the file untouched
        with open(out, "wb") as f:
            f.write(data)
    emit("csv_updated", {"message": "written", "file_path": os.path.abspath(out)})
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
