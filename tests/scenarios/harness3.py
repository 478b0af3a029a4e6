"""Shared helpers for the robustness scenarios (kill/resume, growth, 304 resync, torn files,
lock, disk errors, signals, watch mode). Built on harness.py.

  Bg            a ghaminer running in the background: stdout read line by line by a thread
                (NDJSON objects as they arrive), stderr to a file, signals, SIGKILL
  fast_config   config.yaml without the default pacing
  answered      API requests the simulator has answered since its last reset_stats
  LogTail       the same, counted from the simulator's log file (no HTTP round trip)
  wait_until    poll a condition
  tolerant_csv  parse a CSV that may end with a torn row → (header, rows, torn bytes)
  assert_consistent_rows  rows of a partial CSV: each one exactly once and right, with or
                without its jobs
  Failures      run several independent cases, report every failure at the end
  write_runs_csv  a large CSV of one repository's runs, written directly (serve's tests
                and benchmarks)
  rss_kb        a process's resident set (or another /proc status field), in KB
"""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import (CSV_HEADER, MINER_VARS, PROXY_VARS, TOKEN, MinerResult, check, compare_value,  # noqa: F401
                     expected_row, fail, miner_bin, miner_cmd, scaled, write_config)
import harness

CSV_NAME = "builds_features.csv"


def miner_env(token=TOKEN, env=None):
    e = {k: v for k, v in os.environ.items() if k not in PROXY_VARS + MINER_VARS}
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    if token is not None:
        e["GITHUB_TOKEN"] = token
    e.update(env or {})
    return e


def fast_config(cwd, name="config.yaml", **keys):
    """A config file (cwd/name) with pacing out of the way (the default is 850 requests a
    minute) → its path."""
    keys.setdefault("requests_per_minute", 100000)
    path = write_config(cwd, **keys)
    if name != "config.yaml":
        dest = os.path.join(cwd, name)
        os.replace(path, dest)
        path = dest
    return path


def answered(sim):
    """API requests answered (any status) since the simulator's last reset_stats."""
    return sum(sim.stats()["by_status"].values())


class LogTail:
    """Counts the API requests the simulator answers from its --log file, without asking
    the simulator (its control endpoints can be slow to answer while it is busy):
        tail = LogTail(sim); tail.mark(); ...; tail.count()  # answered since mark()"""

    def __init__(self, sim):
        self.path = sim.log_path
        self.mark()

    def _size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def mark(self):
        self.start = self._size()
        self.pos = self.start
        self.n = 0

    def count(self):
        size = self._size()
        if size > self.pos:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read(size - self.pos)
            cut = data.rfind(b"\n") + 1
            self.n += data.count(b"\n")
            self.pos += cut
        return self.n

    def entries(self):
        """The log entries since mark()."""
        with open(self.path, "rb") as f:
            f.seek(self.start)
            data = f.read()
        return [json.loads(x) for x in data.split(b"\n")[:data.count(b"\n")]]


def wait_until(cond, timeout, interval=0.005, what="condition"):
    """Poll cond() until it is truthy → its value; fail after timeout seconds (scaled
    for a wrapper)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Bg:
    """ghaminer in the background. Lines of stdout are collected as they arrive
    (self.lines: raw text; self.objs: parsed JSON objects, None for unparsable lines)."""

    def __init__(self, args, cwd, *, token=TOKEN, env=None, preexec_fn=None, read_stdout=True):
        self.cmd = miner_cmd(args)
        self.cwd = cwd
        self.lines, self.objs = [], []
        self.partial = b""
        self._cv = threading.Condition()
        fd, self._err_path = tempfile.mkstemp(prefix="ghaminer-stderr-")
        self._err = os.fdopen(fd, "w+b")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=miner_env(token, env),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if read_stdout else subprocess.DEVNULL,
                                     stderr=self._err, preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self.code = None
        self.elapsed = None
        self._reader = None
        if read_stdout:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self):
        buf = b""
        f = self.proc.stdout
        while True:
            chunk = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            if done:
                with self._cv:
                    for raw in done:
                        text = raw.decode("utf-8", "replace")
                        self.lines.append(text)
                        try:
                            self.objs.append(json.loads(text))
                        except ValueError:
                            self.objs.append(None)
                    self._cv.notify_all()
        with self._cv:
            self.partial = buf
            self._cv.notify_all()

    def running(self):
        return self.proc.poll() is None

    def wait_obj(self, pred, timeout, start=0, what="an NDJSON line"):
        """Wait for an NDJSON object at index >= start satisfying pred → its index."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        i = start
        with self._cv:
            while True:
                while i < len(self.objs):
                    o = self.objs[i]
                    if isinstance(o, dict) and pred(o):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 (self._reader is None or not self._reader.is_alive())):
                    break
                self._cv.wait(min(left, 0.1))
        fail("timed out after %.1fs waiting for %s (exit code %s)\n--- stderr (tail) ---\n%s\n"
             "--- stdout (tail) ---\n%s" % (timeout, what, self.proc.poll(), self.stderr()[-2000:],
                                             "\n".join(self.lines[-10:])[-2000:]))

    def status_stage(self, stage):
        return lambda o: o.get("type") == "status" and (o.get("data") or {}).get("stage") == stage

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def kill(self):
        """SIGKILL → exit code (negative)."""
        self.signal(signal.SIGKILL)
        return self.wait(10, check_stdout=False)

    def wait(self, timeout, check_stdout=True):
        timeout = scaled(timeout)
        try:
            self.code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("ghaminer did not exit within %ss\n--- stderr (tail) ---\n%s"
                 % (timeout, self.stderr()[-2500:]))
        self.elapsed = time.monotonic() - self.t0
        if self._reader:
            self._reader.join(10)
        harness.check_miner_stderr(self.stderr(), self.cmd)
        harness.check_wrapper(self.pid, self.code, self.cmd)
        return self.code

    def stderr(self):
        self._err.flush()
        with open(self._err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with self._cv:
            return "".join(line + "\n" for line in self.lines) + self.partial.decode("utf-8", "replace")

    def result(self):
        """A harness MinerResult (stdout must be whole NDJSON lines); also sets
        harness.LAST_RESULT so a failure prints this run."""
        res = MinerResult(self.cmd, self.code, self.stdout(), self.stderr(), self.elapsed or 0.0)
        harness.LAST_RESULT = res
        return res

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()
        try:
            os.unlink(self._err_path)
        except OSError:
            pass


def journal_entry(line):
    """One journal line (bytes, without its newline) → its entry as a dict, the raw cell
    (header, a tab, raw_len bytes) back under "set". ValueError when it is not whole."""
    head, tab, raw = line.partition(b"\t")
    entry = json.loads(head)
    if tab or "raw" in entry:
        if not tab or entry.get("raw_len") != len(raw):
            raise ValueError("raw cell of %d bytes, raw_len %r" % (len(raw), entry.get("raw_len")))
        entry["set"][entry["raw"]] = raw.decode("utf-8")
    return entry


def tolerant_csv(path):
    """→ (header, rows as dicts, torn bytes at the end). Everything before a torn tail must
    be well-formed CSV with the header's field count."""
    with open(path, "rb") as f:
        raw = f.read()
    # bytes.find of quotes is much faster than a Python loop on big files
    end = _fast_boundary(raw)
    torn = len(raw) - end
    text = raw[:end].decode("utf-8")
    csv.field_size_limit(sys.maxsize)
    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if not records:
        return None, [], torn
    header = records[0]
    rows = []
    for n, rec in enumerate(records[1:], 2):
        check(len(rec) == len(header), "CSV %s record %d has %d fields, header has %d"
              % (path, n, len(rec), len(header)))
        rows.append(dict(zip(header, rec)))
    return header, rows, torn


def _fast_boundary(raw):
    # Quote parity at each newline: walk the newlines, counting quotes between them.
    last, inq, pos = 0, False, 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return last
        if raw.count(b'"', pos, nl) % 2:
            inq = not inq
        if not inq:
            last = nl + 1
        pos = nl + 1


def assert_consistent_rows(rows, truth, repo, where=""):
    """A CSV that may be partial: no run twice, no unknown run, every value right; the jobs
    columns either both empty or both exactly the truth's."""
    seen = set()
    runs = {str(r["id"]): r for r in truth["runs"]}
    problems = []
    for row in rows:
        rid = row.get("id_build")
        check(rid not in seen, "%srun %s appears twice in the CSV" % (where, rid))
        seen.add(rid)
        check(rid in runs, "%sCSV has run %r the simulator does not know" % (where, rid))
        has_jobs = row.get("total_jobs", "") != "" or row.get("job_details", "") != ""
        exp = expected_row(runs[rid], truth["jobs"][rid] if has_jobs else None, repo)
        for field in CSV_HEADER:
            d = compare_value(field, row.get(field), exp[field])
            if d:
                problems.append("run %s column %s: %s" % (rid, field, d))
    check(not problems, "%s%d wrong values, first ones:\n  %s" % (where, len(problems), "\n  ".join(problems[:6])))
    return seen


class Failures:
    """Run independent cases to the end and fail once with all of them:
        fl = Failures()
        with fl.case("name"): ...
        fl.raise_if_any()"""

    def __init__(self):
        self.failed = []

    def case(self, name):
        return _SoftCase(self, name)

    def raise_if_any(self):
        if self.failed:
            harness.LAST_RESULT = None  # each failure already carries its own run
            fail("%d case(s) failed:\n\n%s" % (len(self.failed), "\n\n".join(self.failed)))


class _SoftCase:
    def __init__(self, fl, name):
        self.fl, self.name = fl, name

    def __enter__(self):
        self.t0 = time.monotonic()
        harness.LAST_RESULT = None
        return self

    def __exit__(self, et, ev, tb):
        dt = time.monotonic() - self.t0
        if et is None:
            print("  ok   %s (%.1fs)" % (self.name, dt), flush=True)
            return False
        if issubclass(et, AssertionError):
            extra = ""
            if harness.LAST_RESULT is not None:
                extra = "\n--- last ghaminer run ---\n" + harness.LAST_RESULT.describe(1500)
            self.fl.failed.append("[%s] %s%s" % (self.name, ev, extra))
            print("  FAIL %s (%.1fs)" % (self.name, dt), flush=True)
            harness.LAST_RESULT = None
            return True
        return False


def csv_records(path):
    """(header, data rows as raw text, each with its newline), split outside quotes."""
    text = open(path, "rb").read().decode("utf-8")
    out, start, quoted = [], 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == "\n" and not quoted:
            out.append(text[start:i + 1])
            start = i + 1
    check(start == len(text), "%s ends with a torn row" % path)
    return out[0], out[1:]


def write_runs_csv(path, repo, runs, top_id, steps=6):
    """runs rows of repo, ids top_id down, 3 jobs of `steps` steps each, every seventh run a
    failure, created on 28 days in turn."""
    step_list = [{"step_name": "step %d" % s, "step_conclusion": "success",
                  "step_start": "2024-05-01T10:00:00Z", "step_end": "2024-05-01T10:00:30Z",
                  "step_duration": 30} for s in range(steps)]
    jobs = json.dumps([{"job_name": "build %d" % k, "job_start": "2024-05-01T10:00:00Z",
                        "job_end": "2024-05-01T10:03:00Z", "job_duration": 180,
                        "job_result": "success", "steps": step_list} for k in range(3)],
                      separators=(",", ":"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_HEADER)
        for i in range(runs):
            day = 1 + i % 28
            w.writerow([repo, top_id - i, 11, "CI", "completed", "failure" if i % 7 == 0 else "success",
                        "2024-05-%02dT10:00:00Z" % day, "2024-05-%02dT10:05:00Z" % day, "main",
                        "%040x" % i, "push", "alice", runs - i, 300.0, 3, jobs])


def rss_kb(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        return next((int(line.split()[1]) for line in f if line.startswith(field + ":")), 0)
