#!/usr/bin/env python3
"""Bad input, one row of tests/badinput/cases.json per call: run_case.py --row ID
(--list prints the ids; ctest has one test per row, badinput/ID).

A row gives what a user can get wrong (command-line arguments, the environment, files in the
working folder: config.yaml, a projects file, an existing CSV ...) and what ghaminer must
answer: the exit code, a fixed substring of the message, and what becomes of the CSV.
Every error row (exit code other than 0 and 1) leaves the CSV byte-identical (or absent, if
there was none). Every row runs with a recognisable token and scans stdout, stderr, every
file in the working folder (the CSV, .state, .journal ...) and every request the simulator
received: the token may appear only in Authorization headers.

Row keys (cases.json documents them in "keys"): id, what, args, token, env, files, before,
edit, csv_path, user, sim, sim_extra, expect{code, message, absent, csv_unchanged, csv,
symlink_kept, requests_to, max_seconds, timeout}.
Placeholders in args, env, files and token: {api} (the server's URL), {dir} (the working
folder), {secret} (the row's token).
"""

import argparse
import base64
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scenarios"))
from harness import (CSV_HEADER, Sim, assert_run_rows, assert_token_never_leaks, check,  # noqa: E402
                     check_exit, miner_bin, read_csv, run_miner, scenario)

TABLE = os.path.join(HERE, "cases.json")


def load_table():
    with open(TABLE, encoding="utf-8") as f:
        return json.load(f)


class Trap:
    """A listener standing in for the API where no request may be made: every connection
    it accepts is counted (and closed)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.connections = 0
        self.header_log_path = os.devnull
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            c.close()

    def close(self):
        self.sock.close()


def fill(value, ctx):
    """Placeholders in a string (or in each string of a list / dict values)."""
    if isinstance(value, str):
        for k, v in ctx.items():
            value = value.replace("{%s}" % k, v)
        return value
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ctx) for k, v in value.items()}
    return value


def write_files(d, files, ctx):
    """files: {relative path: text | {"base64"} | {"symlink"} | {"dir": true} | {"mode"}}.
    Modes are applied last (a read-only folder is filled first)."""
    modes = []
    for rel, spec in files.items():
        path = os.path.join(d, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(spec, str):
            with open(path, "wb") as f:
                f.write(fill(spec, ctx).encode("utf-8"))
            continue
        if "base64" in spec:
            with open(path, "wb") as f:
                f.write(base64.b64decode(spec["base64"]))
        elif "symlink" in spec:
            os.symlink(fill(spec["symlink"], ctx), path)
        elif spec.get("dir"):
            os.makedirs(path, exist_ok=True)
        if "text" in spec:
            with open(path, "wb") as f:
                f.write(fill(spec["text"], ctx).encode("utf-8"))
        if "mode" in spec:
            modes.append((path, int(spec["mode"], 8)))
    for path, mode in modes:
        os.chmod(path, mode)


# Edits of a CSV mined by the row's "before" run: damage a user (or a crash) can leave.
def _tear_last_line(raw):
    body = raw.rstrip(b"\n")
    start = body.rfind(b"\n") + 1
    return raw[:start + (len(body) - start) // 2]


def _duplicate_row(raw):
    lines = raw.split(b"\n")
    return raw + lines[1] + b"\n"


def _add_column(raw):
    lines = raw.rstrip(b"\n").split(b"\n")
    out = [lines[0] + b",note"] + [l + b",kept-%d" % n for n, l in enumerate(lines[1:], 1)]
    return b"\n".join(out) + b"\n"


def _invalid_utf8(raw):
    lines = raw.split(b"\n")
    cells = lines[1].split(b",", 4)
    cells[3] = cells[3][:1] + b"\xff\xfe" + cells[3][1:]   # in the first row's workflow_name
    lines[1] = b",".join(cells)
    return b"\n".join(lines)


EDITS = {"tear_last_line": _tear_last_line, "duplicate_row": _duplicate_row,
         "add_column": _add_column, "invalid_utf8": _invalid_utf8}


def snapshot(path):
    """The CSV's bytes, None when absent; a symlink is read through."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "a directory"


def as_user(name):
    """The command prefix that runs ghaminer as that user (root bypasses permissions)."""
    setpriv = shutil.which("setpriv")
    check(setpriv, "setpriv not found: install util-linux (apt-get install util-linux)")
    check(os.geteuid() == 0, "rows run as another user need root (setpriv): run the suite as root")
    u = pwd.getpwnam(name)
    prefix = [setpriv, "--reuid=%d" % u.pw_uid, "--regid=%d" % u.pw_gid, "--clear-groups", "--"]
    check(subprocess.run(prefix + ["test", "-x", miner_bin()]).returncode == 0,
          "user %s cannot run %s (a folder above it is closed to others): build in a folder "
          "others can read" % (name, miner_bin()))
    return prefix + [miner_bin()]


def leak_pieces(tokens):
    """What must not leak: each token, and each line of one that holds a newline or control
    character (the run may have split it), when long enough to be recognisable."""
    out = set()
    for t in filter(None, tokens):
        for piece in [t] + t.replace("\r", "\n").replace("\x01", "\n").split("\n"):
            piece = piece.strip()
            if len(piece) >= 12:
                out.add(piece)
    return sorted(out)


def check_csv(csv_path, exp, sim):
    """The CSV holds exactly the truth of exp["repos"], value by value, with jobs; the extra
    columns of exp["extra_columns"] kept with their values."""
    header, rows = read_csv(csv_path)
    extra = exp.get("extra_columns", [])
    check(header == CSV_HEADER + extra, "CSV header %r, expected %r" % (header, CSV_HEADER + extra))
    for col in extra:
        vals = [r[col] for r in rows]
        check(any(v.startswith("kept-") for v in vals), "column %s lost its values: %r" % (col, vals[:5]))
    repos = exp["repos"]
    by_repo = {}
    for r in rows:
        by_repo.setdefault(r["repo"], []).append(r)
    check(set(by_repo) <= set(repos), "CSV has rows of %s, expected only %s" % (sorted(by_repo), repos))
    for repo in repos:
        assert_run_rows(by_repo.get(repo, []), sim.truth(repo), repo, with_jobs=True)


def prepare(row, table, d, server, use_sim):
    """The row's working folder: the CSV of a first run (then edited), the row's files.
    → (placeholders, the CSV's path, its bytes before the run)."""
    secret = table["secret"]
    ctx = {"api": server.url, "dir": d, "secret": secret, "seed_csv": table["seed_csv"]}
    csv_path = os.path.join(d, fill(row.get("csv_path", "builds_features.csv"), ctx))
    if row.get("before") == "mine":
        check(use_sim, "table error: row %s mines before without a simulator" % row["id"])
        check_exit(run_miner(["-s", "octo/hello", "--api-url", server.url], cwd=d, token=secret,
                             timeout=60), 0)
        with open(csv_path, "rb") as f:
            raw = f.read()
        for e in row.get("edit", []):
            raw = EDITS[e](raw)
        with open(csv_path, "wb") as f:
            f.write(raw)
        server.reset_stats()
    write_files(d, row.get("files", {}), ctx)
    return ctx, csv_path, snapshot(csv_path)


def check_said(res, exp, ctx, took):
    msgs = res.messages()
    wanted = exp.get("message", [])
    for m in [wanted] if isinstance(wanted, str) else wanted:
        check(fill(m, ctx) in msgs, "the message does not say %r:\n%s" % (fill(m, ctx), msgs[-1500:]))
    for m in exp.get("absent", []):
        check(fill(m, ctx) not in msgs, "the message says %r, it should not:\n%s" % (fill(m, ctx), msgs[-1500:]))
    if "max_seconds" in exp:
        check(took <= exp["max_seconds"], "took %.1fs, at most %ss expected" % (took, exp["max_seconds"]))


def check_files(exp, csv_path, before, server):
    if exp.get("csv_unchanged"):
        after = snapshot(csv_path)
        check(after == before, "the CSV changed: %s before, %s after" % (
            "absent" if before is None else "%s bytes" % len(before),
            "absent" if after is None else "%s bytes" % len(after)))
    if "csv" in exp:
        check_csv(csv_path, exp["csv"], server)
    if "symlink_kept" in exp:
        check(os.path.islink(csv_path) and os.readlink(csv_path) == exp["symlink_kept"],
              "the CSV is no longer a symlink to %s" % exp["symlink_kept"])


def check_requests(exp, server, use_sim, token, secret):
    if not use_sim:
        check(server.connections == 0, "ghaminer connected to the API %d times, expected no "
              "request" % server.connections)
        return
    for path, n in exp.get("requests_to", {}).items():
        got = sum(1 for e in server.log() if e["path"].lower() == path.lower())
        check(got == n, "%d requests to %s, expected %d" % (got, path, n))
    if server.stats()["requests"] and token == secret:
        with open(server.header_log_path, encoding="utf-8") as f:
            sent = any(secret in v for line in f for k, v in json.loads(line)["headers"]
                       if k.lower() == "authorization")
        check(sent, "the simulator was asked but never saw the token in Authorization: the "
              "header log is not recording (the leak scan would be vacuous)")


def run_row(row, table):
    exp = row["expect"]
    code = exp["code"]
    check(code in (0, 1) or exp.get("csv_unchanged") is True,
          "table error: row %s expects exit %d but not csv_unchanged" % (row["id"], code))
    secret = table["secret"]
    use_sim = row.get("sim", not (code == 2 and not row.get("before")))
    d = tempfile.mkdtemp(prefix="ghaminer-badinput-")
    os.chmod(d, 0o755)   # a row run as another user enters it
    server = None
    try:
        if use_sim:
            sc = json.loads(json.dumps(table["sim"]))
            sc.update(row.get("sim_extra", {}))
            server = Sim(sc).__enter__()
        else:
            server = Trap()
        ctx, csv_path, before = prepare(row, table, d, server, use_sim)
        token = fill(row.get("token", "{secret}"), ctx)
        env = fill(row.get("env", {}), ctx)
        args = fill(row.get("args", ["-s", "octo/hello", "--api-url", "{api}"]), ctx)
        binary = as_user(row["user"]) if row.get("user") else None
        t0 = time.monotonic()
        res = run_miner(args, cwd=d, token=token, env=env, binary=binary, timeout=exp.get("timeout", 60))
        took = time.monotonic() - t0
        print("  exit %d in %.1fs; stderr:\n    %s" % (res.code, took, "\n    ".join(
            res.stderr.rstrip("\n").split("\n")[:4])), flush=True)

        check_exit(res, code)
        check_said(res, exp, ctx, took)
        check_files(exp, csv_path, before, server)
        check_requests(exp, server, use_sim, token, secret)
        # the token scan: outputs, every file in the folder (but the row's own), every
        # request received (the simulator's header log)
        inputs = [os.path.join(d, rel) for rel in row.get("files", {}) if os.path.join(d, rel) != csv_path]
        tokens = [secret] + table.get("other_tokens", []) + [token] + list(env.values())
        assert_token_never_leaks(leak_pieces(tokens), res, d, csv_name=os.path.relpath(csv_path, d),
                                 files=False, inputs=inputs)
    finally:
        if server is not None:
            if use_sim:
                server.__exit__(*sys.exc_info())
            else:
                server.close()
        for root, dirs, _ in os.walk(d):   # read-only folders of the row
            for x in dirs:
                p = os.path.join(root, x)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", help="the id of the row to run")
    ap.add_argument("--list", action="store_true", help="print the ids of the rows")
    a = ap.parse_args()
    table = load_table()
    ids = [r["id"] for r in table["rows"]]
    if len(set(ids)) != len(ids):
        print("FAIL cases.json: duplicate ids")
        sys.exit(1)
    if a.list:
        print("\n".join(ids))
        return
    rows = {r["id"]: r for r in table["rows"]}
    if a.row not in rows:
        print("FAIL no row %r in %s" % (a.row, TABLE))
        sys.exit(1)
    row = rows[a.row]
    scenario("badinput/%s: %s" % (row["id"], row["what"]))(lambda: run_row(row, table))()


if __name__ == "__main__":
    main()
