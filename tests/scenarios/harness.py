"""Scenario harness: the ghaminer binary against the GitHub simulator (tests/sim/ghsim.py).

Each tests/scenarios/test_*.py is a script (exit 0 = pass). ctest runs them with
GHAMINER_BIN (the built binary) and GHAMINER_SRC (repository root) in the environment.
Shared material (real GitHub recordings) is read from ../shared relative to the project
root; a missing file there fails the scenario (shared_file), it never skips it.

Every ghaminer run the harness collects (run_miner, MinerResult, harness3.Bg) goes through
check_miner_stderr: a sanitizer report or an event loop that closed with handles still
open fails the scenario, whatever the scenario itself checks.

Under a wrapper (scripts/test --valgrind) every ghaminer command the harness starts is
prefixed by the words of GHAMINER_WRAPPER (miner_cmd), every timeout the harness applies is
multiplied by GHAMINER_TIMEOUT_SCALE (scaled), and check_wrapper fails a run whose exit code
is GHAMINER_WRAPPER_EXIT (the wrapper's own error code, valgrind's --error-exitcode) or
whose wrapper log (GHAMINER_WRAPPER_LOG, %p = the pid) reports an error.

Expected values are computed here from the simulator's truth objects, independently of the
simulator's generator and of the miner, following the CSV specification:

  repo,id_build,workflow_id,workflow_name,status,conclusion,created_at,updated_at,branch,
  commit_sha,event,issuer_name,run_number,build_duration,total_jobs,job_details
"""

import contextlib
import csv
import http.client
import io
import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("GHAMINER_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))
GHSIM = os.path.join(SRC, "tests", "sim", "ghsim.py")
SHARED = os.path.normpath(os.path.join(SRC, "..", "shared"))  # beside the project root
TOKEN = "ghp_simtoken_AAAA"

CSV_HEADER = ["repo", "id_build", "workflow_id", "workflow_name", "status", "conclusion",
              "created_at", "updated_at", "branch", "commit_sha", "event", "issuer_name",
              "run_number", "build_duration", "total_jobs", "job_details"]
INT_FIELDS = {"id_build", "workflow_id", "run_number", "total_jobs"}
FLOAT_FIELDS = {"build_duration"}
NDJSON_TYPES = {"status", "runs_page", "job_progress", "run_jobs", "csv_updated", "error"}
TOL = 1e-6

# Direct connections only: a proxy from the environment must never sit between the
# miner (libcurl honours http_proxy) or the harness and 127.0.0.1.
PROXY_VARS = ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY", "no_proxy", "NO_PROXY"]
# Variables the miner reads; a developer's real values must not leak into a scenario.
MINER_VARS = ["GITHUB_TOKEN", "GITHUB_TOKENS", "GH_TOKEN", "GITHUB_API_URL"]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ScenarioFailure(AssertionError):
    pass


def fail(msg):
    raise ScenarioFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def shared_file(*parts):
    """The path of a file under ../shared (from the project root); fails, never skips, when
    it is missing."""
    path = os.path.join(SHARED, *parts)
    check(os.path.isdir(SHARED), "the shared folder %s is missing: it must sit beside the project "
          "root (%s/../shared); GHAMINER_SRC=%r" % (SHARED, SRC, os.environ.get("GHAMINER_SRC")))
    check(os.path.isfile(path), "shared fixture %s is missing (under %s)" % (os.path.join(*parts), SHARED))
    return path


# What ghaminer prints on stderr when uv_loop_close() fails, and what the sanitizers print
# (ASan, LSan, UBSan). Any of them fails the scenario that ran the miner.
STDERR_FATAL = [
    ("event loop closed with handles still open", "the libuv loop closed with handles still open"),
    ("ERROR: AddressSanitizer", "an AddressSanitizer report"),
    ("ERROR: LeakSanitizer", "a LeakSanitizer report"),
    ("runtime error:", "an UndefinedBehaviorSanitizer report"),
]


def known_tokens():
    """The tokens the scenarios hand out: TOKEN and those of every running simulator."""
    out = {TOKEN}
    for sim in LIVE_SIMS:
        out.update(sim.tokens())
    return out


def check_no_known_token(text, where, cmd):
    for t in known_tokens():
        check(t not in text, "a token appears on ghaminer's %s (%s)" % (where, " ".join(cmd)))


def check_miner_stderr(stderr, cmd):
    """Fails when a ghaminer run's stderr holds a sanitizer report, says the event loop
    closed with handles still open, or shows a token a simulator accepts. Called wherever
    the harness collects a run's stderr."""
    check_no_known_token(stderr, "stderr", cmd)
    for needle, what in STDERR_FATAL:
        at = stderr.find(needle)
        if at >= 0:
            start = stderr.rfind("\n", 0, max(0, at - 1500)) + 1
            fail("%s on ghaminer's stderr (%s):\n%s" % (what, " ".join(cmd), stderr[start:at + 4000]))


# The wrapper (scripts/test --valgrind): see the module comment.
WRAPPER = shlex.split(os.environ.get("GHAMINER_WRAPPER", ""))
WRAPPER_EXIT = int(os.environ["GHAMINER_WRAPPER_EXIT"]) if os.environ.get("GHAMINER_WRAPPER_EXIT") else None
WRAPPER_LOG = os.environ.get("GHAMINER_WRAPPER_LOG", "")
TIMEOUT_SCALE = float(os.environ.get("GHAMINER_TIMEOUT_SCALE") or 1)
# Valgrind memcheck's error headers: a run killed before its ERROR SUMMARY still fails.
_WRAPPER_ERROR = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|"
                            r"Syscall param|Mismatched free|Source and destination overlap|"
                            r"Argument '.*' of function .* has a fishy|.* definitely lost in loss record)",
                            re.M)
_WRAPPER_SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")


def scaled(seconds):
    """A timeout, stretched for a slow wrapper (GHAMINER_TIMEOUT_SCALE)."""
    return seconds * TIMEOUT_SCALE


def check_wrapper(pid, code, cmd):
    """Fails when the wrapper reported an error for the ghaminer run of this pid: its exit
    code is GHAMINER_WRAPPER_EXIT, or its log holds an error. The log is removed when
    clean. Nothing to check without a wrapper."""
    if not WRAPPER:
        return
    log = ""
    path = WRAPPER_LOG.replace("%p", str(pid)) if WRAPPER_LOG else ""
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            log = f.read()
    counts = [int(n) for n in _WRAPPER_SUMMARY.findall(log)]
    bad = (WRAPPER_EXIT is not None and code == WRAPPER_EXIT) or any(counts) or \
        (not counts and _WRAPPER_ERROR.search(log))
    if bad:
        fail("the wrapper (%s) reported errors for %s (exit code %s); its log %s:\n%s"
             % (WRAPPER[0], " ".join(cmd), code, path or "(none)", log[-12000:]))
    if path and os.path.exists(path):
        os.unlink(path)


def miner_cmd(args=(), binary=None):
    """The command that runs ghaminer with args, behind the wrapper; or binary (a list,
    another program such as the reference miner) with args, never wrapped."""
    return (list(binary) if binary else WRAPPER + [miner_bin()]) + [str(a) for a in args]


# --------------------------------------------------------------------------------------
# Simulator
# --------------------------------------------------------------------------------------

LIVE_SIMS = []  # the simulators running now: assert_token_never_leaks scans their header logs


class Sim:
    """`with Sim({...}) as sim:` starts ghsim.py on an ephemeral port in a temp dir. Its
    header log (every request received, headers and body) is scanned for tokens by
    assert_token_never_leaks."""

    def __init__(self, scenario=None, start_timeout=15):
        self.scenario = scenario or {}
        self.start_timeout = start_timeout
        self.proc = None
        self.url = None
        self.port = None

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ghsim-")
        d = self._tmp.name
        self.dir = d
        spath = os.path.join(d, "scenario.json")
        with open(spath, "w", encoding="utf-8") as f:
            json.dump(self.scenario, f)
        pfile = os.path.join(d, "port")
        self.log_path = os.path.join(d, "requests.jsonl")
        self.header_log_path = os.path.join(d, "received.jsonl")
        self._err = open(os.path.join(d, "ghsim.stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, GHSIM, "--scenario", spath, "--port-file", pfile, "--log", self.log_path,
             "--header-log", self.header_log_path],
            stdout=subprocess.DEVNULL, stderr=self._err, cwd=d)
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(pfile):
            if self.proc.poll() is not None:
                self._err.seek(0)
                raise RuntimeError("ghsim exited with %s:\n%s" % (self.proc.returncode, self._err.read()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ghsim did not start within %ss" % self.start_timeout)
            time.sleep(0.02)
        with open(pfile) as f:
            self.port = int(f.read().strip())
        self.url = "http://127.0.0.1:%d" % self.port
        LIVE_SIMS.append(self)
        return self

    def tokens(self):
        """The tokens this simulator accepts (its scenario's, or the default)."""
        return [t if isinstance(t, str) else t["token"] for t in self.scenario.get("tokens", [TOKEN])]

    def __exit__(self, et, ev, tb):
        if self in LIVE_SIMS:
            LIVE_SIMS.remove(self)
        self.stop()
        leak = None
        if et is None:
            # every scenario: no request carried a token anywhere but in Authorization
            try:
                assert_token_only_in_authorization(self.tokens() + [TOKEN], self.header_log_path)
            except ScenarioFailure as e:
                leak = e
        self._err.seek(0)
        err = self._err.read()
        self._err.close()
        self._tmp.cleanup()
        if "Traceback" in err:  # a simulator bug must not pass unnoticed
            if et is None:
                fail("the simulator raised an exception:\n" + err[-4000:])
            print("--- ghsim stderr ---\n" + err[-4000:], flush=True)
        if leak is not None:
            raise leak
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- control endpoints (no auth, not counted) --

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with _OPENER.open(req, timeout=30) as r:
            return json.loads(r.read())

    def get(self, path):
        return self._call("GET", path)

    def post(self, path, body=None):
        return self._call("POST", path, body or {})

    def log(self):
        return self.get("/_sim/log")

    def stats(self):
        return self.get("/_sim/stats")

    def truth(self, repo):
        return self.get("/_sim/truth?repo=" + urllib.parse.quote(repo, safe=""))

    def reset_stats(self):
        return self.post("/_sim/reset_stats")

    def configure(self, **changes):
        """Change scenario knobs at runtime (faults, latency_ms, secondary, rate_limit ...)."""
        return self.post("/_sim/config", changes)

    # -- raw API access for simulator self-tests --

    def api(self, path, *, token=TOKEN, headers=None, user_agent="ghsim-selftest"):
        """GET an API path or full URL → (status, headers dict (lower-case keys), raw body).
        http.client, so that no header is added behind our back (urllib adds a User-Agent)."""
        if not path.startswith("/"):
            u = urllib.parse.urlsplit(path)
            path = u.path + ("?" + u.query if u.query else "")
        h = {"Accept": "application/vnd.github+json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if user_agent is not None:
            h["User-Agent"] = user_agent
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


# --------------------------------------------------------------------------------------
# The miner
# --------------------------------------------------------------------------------------

class MinerResult:
    def __init__(self, args, code, stdout, stderr, elapsed):
        self.args, self.code, self.stdout, self.stderr, self.elapsed = args, code, stdout, stderr, elapsed
        self.ndjson = []
        check_miner_stderr(stderr, args)
        check_no_known_token(stdout, "stdout", args)
        if stdout and not stdout.endswith("\n"):
            fail("stdout does not end with a newline (last line %r)\n%s" % (stdout[-200:], self.describe()))
        for n, line in enumerate(stdout.split("\n"), 1):
            if line == "" and n == stdout.count("\n") + 1:
                break  # the text after the final newline
            try:
                obj = json.loads(line)
            except ValueError:
                fail("stdout line %d is not JSON: %r\n%s" % (n, line[:300], self.describe()))
            check(isinstance(obj, dict), "stdout line %d is JSON but not an object: %r" % (n, line[:300]))
            self.ndjson.append(obj)

    def of_type(self, t):
        return [m["data"] for m in self.ndjson if m.get("type") == t]

    def messages(self):
        """stderr plus every NDJSON error/status message, for 'the message says …' checks."""
        parts = [self.stderr]
        for m in self.ndjson:
            if m.get("type") in ("error", "status") and isinstance(m.get("data"), dict):
                parts.append(str(m["data"].get("message", "")))
        return "\n".join(parts)

    def describe(self, tail=2500):
        return ("command: %s\nexit code: %s, %.2fs\n--- stderr (tail) ---\n%s\n--- stdout (tail) ---\n%s"
                % (" ".join(self.args), self.code, self.elapsed, self.stderr[-tail:], self.stdout[-tail:]))


LAST_RESULT = None  # printed on failure by @scenario


def miner_bin():
    b = os.path.abspath(os.environ.get("GHAMINER_BIN") or os.path.join(SRC, "build", "ghaminer"))
    if not os.access(b, os.X_OK):
        fail("ghaminer binary not found: set GHAMINER_BIN (tried %s)" % b)
    return b


def run_miner(args, *, env=None, cwd, timeout=120, token=TOKEN, binary=None):
    """Run ghaminer with args (list). Token via GITHUB_TOKEN unless token is None.
    binary: another command (a list) in place of the built ghaminer."""
    global LAST_RESULT
    e = {k: v for k, v in os.environ.items() if k not in PROXY_VARS + MINER_VARS}
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    if token is not None:
        e["GITHUB_TOKEN"] = token
    e.update(env or {})
    cmd = miner_cmd(args, binary)
    timeout = scaled(timeout)
    t0 = time.monotonic()
    with subprocess.Popen(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            fail("ghaminer did not finish within %ss: %s\n--- stderr ---\n%s\n--- stdout ---\n%s"
                 % (timeout, " ".join(cmd), err.decode("utf-8", "replace")[-2500:],
                    out.decode("utf-8", "replace")[-2500:]))
    elapsed = time.monotonic() - t0
    if not binary:
        check_wrapper(p.pid, p.returncode, cmd)
    try:
        out = stdout.decode("utf-8")
    except UnicodeDecodeError as x:
        fail("stdout is not valid UTF-8 (%s)" % x)
    LAST_RESULT = None
    res = MinerResult(cmd, p.returncode, out, stderr.decode("utf-8", "replace"), elapsed)
    LAST_RESULT = res
    return res


def write_config(cwd, **keys):
    """A small config.yaml (flat keys; lists as flow sequences) → its path. Job details
    come through REST unless jobs_api is given: the scenarios written for the REST path
    count its requests; the GraphQL scenarios say jobs_api."""
    keys.setdefault("jobs_api", "rest")
    lines = []
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[" + ", ".join(str(x) for x in v) + "]"
        lines.append("%s: %s" % (k, v))
    path = os.path.join(cwd, "config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def closed_port():
    """A local port nobody listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------------------
# CSV and expected values
# --------------------------------------------------------------------------------------

def read_csv(path):
    """→ (header, rows as dicts). Fails unless the file is well-formed RFC 4180-ish CSV:
    UTF-8, ends with a newline, every record has the header's field count."""
    check(os.path.exists(path), "CSV %s does not exist" % path)
    with open(path, "rb") as f:
        raw = f.read()
    check(raw.endswith(b"\n"), "CSV %s does not end with a newline" % path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("CSV %s is not UTF-8: %s" % (path, e))
    check(not text.startswith("\ufeff"), "CSV %s starts with a BOM" % path)
    csv.field_size_limit(sys.maxsize)  # job_details of a 150-job run is far above 128 KiB
    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    check(records, "CSV %s is empty" % path)
    header = records[0]
    rows = []
    for n, rec in enumerate(records[1:], 2):
        check(len(rec) == len(header), "CSV %s record %d has %d fields, header has %d: %r"
              % (path, n, len(rec), len(header), rec[:4]))
        rows.append(dict(zip(header, rec)))
    return header, rows


_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_ts(s):
    """ISO 8601 as GitHub writes it (Z or ±HH:MM, optional fraction) → aware datetime."""
    m = _TS.match(s)
    if not m:
        raise ValueError("unparsable timestamp %r" % s)
    y, mo, d, h, mi, sec = map(int, m.groups()[:6])
    frac = m.group(7)
    us = round(float(frac) * 1e6) if frac else 0
    tz = m.group(8)
    if tz == "Z":
        off = timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        off = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime(y, mo, d, h, mi, sec, us, tzinfo=off)


def seconds_between(a, b):
    return (parse_ts(b) - parse_ts(a)).total_seconds()


def expected_job_details(jobs):
    out = []
    for j in jobs:
        start, end = j.get("started_at"), j.get("completed_at")
        steps = []
        for s in j.get("steps") or []:
            ss, se = s.get("started_at"), s.get("completed_at")
            steps.append({"step_name": s.get("name"), "step_conclusion": s.get("conclusion"),
                          "step_start": ss, "step_end": se,
                          "step_duration": seconds_between(ss, se) if ss and se else "N/A"})
        out.append({"job_name": j.get("name"), "job_start": start or None, "job_end": end or None,
                    "job_duration": seconds_between(start, end) if start and end else "N/A",
                    "job_result": j.get("conclusion"), "steps": steps})
    return out


def expected_row(run, jobs, repo):
    """The CSV row (all strings, as written) for one truth run; jobs None = not collected."""
    s = lambda v: "" if v is None else str(v)
    start = run.get("run_started_at") or run.get("created_at")
    row = {
        "repo": repo, "id_build": str(run["id"]), "workflow_id": str(run["workflow_id"]),
        "workflow_name": s(run.get("name")), "status": s(run.get("status")),
        "conclusion": s(run.get("conclusion")), "created_at": s(run.get("created_at")),
        "updated_at": s(run.get("updated_at")), "branch": s(run.get("head_branch")),
        "commit_sha": s(run.get("head_sha")), "event": s(run.get("event")),
        "issuer_name": s((run.get("actor") or {}).get("login")),
        "run_number": s(run.get("run_number")),
        "build_duration": repr(seconds_between(start, run["updated_at"])),
        "total_jobs": "", "job_details": "",
    }
    if jobs is not None:
        row["total_jobs"] = str(len(jobs))
        row["job_details"] = json.dumps(expected_job_details(jobs), ensure_ascii=False)
    return row


def _same(a, b):
    """Deep equality with numbers compared at TOL (bools are not numbers)."""
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)
    if num(a) and num(b):
        return math.isclose(a, b, rel_tol=0, abs_tol=TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b


def _first_diff(got, exp, path="job_details"):
    """A readable pointer to the first difference between two JSON values."""
    if isinstance(got, dict) and isinstance(exp, dict):
        if got.keys() != exp.keys():
            return "%s: keys %s, expected %s" % (path, sorted(got), sorted(exp))
        for k in exp:
            if not _same(got[k], exp[k]):
                return _first_diff(got[k], exp[k], "%s.%s" % (path, k))
    if isinstance(got, list) and isinstance(exp, list):
        if len(got) != len(exp):
            return "%s: %d items, expected %d" % (path, len(got), len(exp))
        for i, (x, y) in enumerate(zip(got, exp)):
            if not _same(x, y):
                return _first_diff(x, y, "%s[%d]" % (path, i))
    return "%s: got %r, expected %r" % (path, got, exp)


def compare_value(field, got, exp):
    """None when a CSV cell matches, else a description of the difference."""
    if field == "job_details":
        if exp == "" or got == "":
            return None if got == exp else "got %r, expected %r" % (got[:200], exp[:200])
        try:
            g = json.loads(got)
        except ValueError as e:
            return "not JSON (%s): %r" % (e, got[:200])
        e = json.loads(exp)
        return None if _same(g, e) else _first_diff(g, e)
    if field in FLOAT_FIELDS and exp != "":
        try:
            return None if abs(float(got) - float(exp)) <= TOL else "got %r, expected %r" % (got, exp)
        except ValueError:
            return "got %r, expected a number %r" % (got, exp)
    if field in INT_FIELDS and exp != "":
        check_int = re.fullmatch(r"-?\d+", got or "")
        return None if check_int and int(got) == int(exp) else "got %r, expected %r" % (got, exp)
    return None if got == exp else "got %r, expected %r" % (got, exp)


def assert_run_rows(rows, truth, repo, with_jobs=True, only_ids=None, missing_jobs=()):
    """Every truth run (or only_ids) appears exactly once and matches value by value.
    with_jobs: total_jobs/job_details must be filled, except for runs in missing_jobs
    (which must be empty); with_jobs=False: both must be empty."""
    by_id = {}
    for n, r in enumerate(rows):
        by_id.setdefault(r.get("id_build"), []).append(n)
    dups = {k: v for k, v in by_id.items() if len(v) > 1}
    check(not dups, "runs appear more than once in the CSV: %s" % list(dups)[:10])
    runs = [r for r in truth["runs"] if only_ids is None or r["id"] in only_ids]
    want = {str(r["id"]) for r in runs}
    extra = set(by_id) - want
    check(not extra, "CSV has runs the simulator does not expect: %s" % sorted(extra)[:10])
    missing = want - set(by_id)
    check(not missing, "%d runs missing from the CSV, e.g. %s" % (len(missing), sorted(missing)[:10]))
    problems = []
    for run in runs:
        row = rows[by_id[str(run["id"])][0]]
        jobs = truth["jobs"][str(run["id"])] if with_jobs and run["id"] not in missing_jobs else None
        exp = expected_row(run, jobs, repo)
        for field in CSV_HEADER:
            d = compare_value(field, row.get(field), exp[field])
            if d:
                problems.append("run %s (%s), column %s: %s" % (run["id"], run.get("name"), field, d))
    check(not problems, "%d CSV differences; first ones:\n  %s" % (len(problems), "\n  ".join(problems[:8])))


def assert_ndjson_run(obj, run, repo):
    """A runs_page run: CSV column names as keys, numbers as numbers, null for empty,
    total_jobs/job_details null (not collected yet)."""
    check(isinstance(obj, dict) and set(obj) == set(CSV_HEADER),
          "runs_page run keys %s, expected the CSV columns" % (sorted(obj) if isinstance(obj, dict) else obj))
    exp = expected_row(run, None, repo)
    for field in CSV_HEADER:
        e, g = exp[field], obj[field]
        if e == "":
            check(g is None, "runs_page run %s: %s is %r, expected null" % (run["id"], field, g))
        elif field in INT_FIELDS:
            check(isinstance(g, int) and not isinstance(g, bool) and g == int(e),
                  "runs_page run %s: %s is %r, expected the number %s" % (run["id"], field, g, e))
        elif field in FLOAT_FIELDS:
            check(isinstance(g, (int, float)) and not isinstance(g, bool) and abs(g - float(e)) <= TOL,
                  "runs_page run %s: %s is %r, expected the number %s" % (run["id"], field, g, e))
        else:
            check(g == e, "runs_page run %s: %s is %r, expected %r" % (run["id"], field, g, e))


def assert_no_secret(secret, *texts, where=""):
    for t in texts:
        if isinstance(t, bytes):
            t = t.decode("utf-8", "replace")
        check(secret not in t, "the token appears in %s" % (where or "the output"))


def assert_no_secret_in_dir(secret, d, inputs=()):
    """No file under d holds secret, except the paths in inputs (files the test wrote)."""
    skip = {os.path.abspath(p) for p in inputs}
    for root, _, files in os.walk(d):
        for name in files:
            path = os.path.join(root, name)
            if os.path.abspath(path) in skip or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                check(secret.encode() not in f.read(), "the token appears in file %s" % name)


def assert_token_only_in_authorization(tokens, path):
    """Every request a simulator received (its --header-log at path) holds none of tokens
    except as the value of an Authorization header: not in the target (path, query), not
    in another header, not in the body."""
    if isinstance(tokens, str):
        tokens = [tokens]
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not any(t in line for t in tokens):
                continue  # the common case, without parsing
            e = json.loads(line)
            target = e["target"]
            for t in tokens:
                target = target.replace(t, "<token>")
            where = "request %d (%s %s)" % (n, e["method"], target[:100])
            for t in tokens:
                check(t not in e["target"], "the token was sent in the request target of %s" % where)
                check(t not in e["body"], "the token was sent in the body of %s" % where)
                for name, value in e["headers"]:
                    check(name.lower() == "authorization" or t not in value,
                          "the token was sent in header %s of %s" % (name, where))


def assert_token_never_leaks(tokens, res, d, csv_name="builds_features.csv", files=True, inputs=()):
    """None of tokens (a string or a list) appears in the run's stdout, its stderr, the CSV,
    the state file (<csv>.state), the journal (<csv>.journal), or any other file in d, nor
    anywhere but in an Authorization header in the requests every running simulator received
    (their header logs). files=True: the CSV, the state file and the journal must exist (a
    run that got as far as writing them); files=False: those that exist are checked.
    inputs: files the test wrote itself (a config.yaml holding a token), not scanned."""
    if isinstance(tokens, str):
        tokens = [tokens]
    base = os.path.join(d, csv_name)
    named = [("the CSV", base), ("the state file", base + ".state"), ("the journal", base + ".journal")]
    if files:
        missing = [what for what, path in named if not os.path.exists(path)]
        check(not missing, "%s missing in %s (files: %s)" % (", ".join(missing), d, sorted(os.listdir(d))))
    for t in tokens:
        check(t, "an empty token")
        assert_no_secret(t, res.stdout, where="stdout")
        assert_no_secret(t, res.stderr, where="stderr")
        for what, path in named:
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    check(t.encode() not in f.read(), "the token appears in %s (%s)" % (what, path))
        assert_no_secret_in_dir(t, d, inputs)
    for sim in LIVE_SIMS:
        assert_token_only_in_authorization(tokens, sim.header_log_path)


def api_log(log, kind=None):
    """API log entries, optionally only 'runs' or 'jobs' requests."""
    if kind == "jobs":
        return [e for e in log if e["path"].endswith("/jobs")]
    if kind == "runs":
        return [e for e in log if e["path"].endswith("/actions/runs")]
    return log


def assert_polite_headers(log):
    """Every request identifies itself like GitHub asks."""
    for e in log:
        h = e.get("headers", {})
        check("ghaminer" in h.get("user-agent", "").lower(),
              "request %d (%s) has User-Agent %r, expected one containing 'ghaminer'" % (e["seq"], e["path"], h.get("user-agent")))
        check("application/vnd.github+json" in h.get("accept", ""),
              "request %d has Accept %r" % (e["seq"], h.get("accept")))
        check(h.get("x-github-api-version") == "2022-11-28",
              "request %d has X-GitHub-Api-Version %r" % (e["seq"], h.get("x-github-api-version")))
        check("gzip" in h.get("accept-encoding", ""),
              "request %d has Accept-Encoding %r" % (e["seq"], h.get("accept-encoding")))
        check(e.get("token_ok"), "request %d was not authenticated with the token" % e["seq"])


# --------------------------------------------------------------------------------------
# Running scenarios
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def case(name):
    """A named part of a scenario: prints 'ok' or re-raises with the name prefixed."""
    t0 = time.monotonic()
    try:
        yield
    except ScenarioFailure as e:
        raise ScenarioFailure("[%s] %s" % (name, e)) from None
    print("  ok   %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)


def scenario(name):
    """Decorator: the function becomes the script's entry point; prints PASS/FAIL and exits."""
    def deco(fn):
        def runner():
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
            t0 = time.monotonic()
            try:
                fn()
            except ScenarioFailure as e:
                print("FAIL %s (%.1fs)\n%s" % (name, time.monotonic() - t0, e), flush=True)
                if LAST_RESULT is not None:
                    print("--- last ghaminer run ---\n" + LAST_RESULT.describe(), flush=True)
                sys.exit(1)
            except Exception:
                print("FAIL %s (%.1fs): unexpected error\n%s" % (name, time.monotonic() - t0, traceback.format_exc()), flush=True)
                if LAST_RESULT is not None:
                    print("--- last ghaminer run ---\n" + LAST_RESULT.describe(), flush=True)
                sys.exit(1)
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
            sys.exit(0)
        runner.__name__ = fn.__name__
        return runner
    return deco


# --------------------------------------------------------------------------------------
# Shortcuts used by most scenarios
# --------------------------------------------------------------------------------------

def repo_args(sim, repo):
    return ["-s", "https://github.com/" + repo, "--api-url", sim.url]


def load_result_csv(cwd, name="builds_features.csv"):
    header, rows = read_csv(os.path.join(cwd, name))
    check(header == CSV_HEADER, "CSV header is %r,\nexpected %r" % (header, CSV_HEADER))
    return rows


def jobs_requests(log):
    """{run id: [log entries of its jobs requests]}"""
    out = {}
    for e in log:
        m = re.search(r"/actions/runs/(\d+)/jobs$", e["path"])
        if m:
            out.setdefault(int(m.group(1)), []).append(e)
    return out


def check_exit(res, code):
    check(res.code == code, "ghaminer exit code %s, expected %s\n%s" % (res.code, code, res.describe()))


def assert_ndjson(res, truth, repo, csv_name="builds_features.csv", with_jobs=True, allow_errors=False):
    """The NDJSON stream of a complete mining run, checked against the truth."""
    runs_by_id = {r["id"]: r for r in truth["runs"]}
    for n, m in enumerate(res.ndjson, 1):
        check(m.get("type") in NDJSON_TYPES and isinstance(m.get("data"), dict),
              "NDJSON line %d has type %r / data %r" % (n, m.get("type"), type(m.get("data")).__name__))
    if not allow_errors:
        errs = res.of_type("error")
        check(not errs, "NDJSON error messages: %s" % [e.get("message") for e in errs][:5])
    for s in res.of_type("status"):
        check(isinstance(s.get("message"), str) and "stage" in s, "status message shape %r" % s)

    pages = res.of_type("runs_page")
    check(pages, "no runs_page messages")
    check(all(isinstance(p.get("runs"), list) for p in pages), "runs_page without a runs array")
    numbers = [p.get("page") for p in pages]
    check(numbers == list(range(1, len(pages) + 1)), "runs_page numbers %s" % numbers)
    collected, seen = 0, {}
    for k, p in enumerate(pages):
        collected += len(p["runs"])
        check(p.get("total_collected") == collected, "runs_page %s total_collected %r, expected %d" % (p["page"], p.get("total_collected"), collected))
        check(p.get("has_more") is (k < len(pages) - 1), "runs_page %s has_more %r" % (p["page"], p.get("has_more")))
        for r in p["runs"]:
            rid = r.get("id_build")
            check(rid in runs_by_id, "runs_page %d has unknown run %r" % (p["page"], rid))
            check(rid not in seen, "run %s in runs_page %s and %s" % (rid, seen.get(rid), p.get("page")))
            seen[rid] = p["page"]
            assert_ndjson_run(r, runs_by_id[rid], repo)
    check(len(seen) == len(runs_by_id), "runs_page messages hold %d runs, expected %d" % (len(seen), len(runs_by_id)))

    if with_jobs:
        rj = res.of_type("run_jobs")
        got = {}
        for m in rj:
            check(m.get("repo") == repo, "run_jobs repo %r" % m.get("repo"))
            rid = m.get("id_build")
            check(isinstance(rid, int) and rid in runs_by_id, "run_jobs for unknown run %r" % rid)
            check(rid not in got, "run_jobs twice for run %s" % rid)
            got[rid] = m
            jobs = truth["jobs"][str(rid)]
            check(m.get("total_jobs") == len(jobs), "run_jobs %s total_jobs %r, expected %d" % (rid, m.get("total_jobs"), len(jobs)))
            exp = expected_job_details(jobs)
            check(isinstance(m.get("job_details"), list), "run_jobs %s job_details is %s, expected a JSON array" % (rid, type(m.get("job_details")).__name__))
            check(_same(m["job_details"], exp), "run_jobs %s: %s" % (rid, _first_diff(m["job_details"], exp)))
        check(len(got) == len(runs_by_id), "run_jobs for %d runs, expected %d" % (len(got), len(runs_by_id)))
        prog = res.of_type("job_progress")
        check(prog, "no job_progress messages")
        for p in prog:
            check(isinstance(p.get("processed"), int) and isinstance(p.get("total"), int) and p["processed"] <= p["total"],
                  "job_progress %r" % p)
            # the spec leaves the type open: a number, or its decimal string
            cur = p.get("current_run_id")
            check(cur is None or (int(cur) if isinstance(cur, str) and cur.isdigit() else cur) in runs_by_id,
                  "job_progress current_run_id %r is not a run id" % (cur,))
        last = max(prog, key=lambda p: p["processed"])
        check(last["processed"] == last["total"] == len(runs_by_id), "highest job_progress %r, expected %d/%d" % (last, len(runs_by_id), len(runs_by_id)))

    upd = res.of_type("csv_updated")
    check(upd, "no csv_updated message")
    check(all(str(u.get("file_path", "")).endswith(csv_name) for u in upd), "csv_updated file_path %r" % upd[-1].get("file_path"))
