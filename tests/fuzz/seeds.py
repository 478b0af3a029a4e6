#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, from the simulator and the recorded fixtures.

    python3 tests/fuzz/seeds.py OUTDIR [--fixtures DIR] [--small]

Writes OUTDIR/<target>/<name> for every target of tests/fuzz: runs listing pages and single
runs, jobs pages, Link headers (rendered by tests/sim/ghsim.py, whose payloads are modelled
on the recordings, and taken from ../shared/fixtures), CSV files and journals as ghaminer
writes them (built from the simulated runs), config files and projects files. --small keeps
only a few short inputs per target (what tests/fuzz/corpus/ holds)."""

import argparse
import csv
import glob
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
import ghsim  # noqa: E402

HEADER = ["repo", "id_build", "workflow_id", "workflow_name", "status", "conclusion",
          "created_at", "updated_at", "branch", "commit_sha", "event", "issuer_name",
          "run_number", "build_duration", "total_jobs", "job_details"]


def get(sim, path, per_page=None, page=None):
    q = {}
    if per_page:
        q["per_page"] = str(per_page)
    if page:
        q["page"] = str(page)
    raw_q = "&".join("%s=%s" % kv for kv in q.items())
    rep, _ = sim.route(path, raw_q, q)
    return rep.body, dict(rep.headers).get("Link")


def details(jobs):
    """job_details as ghaminer writes it (roughly: the fuzz targets only need the shape)."""
    out = []
    for j in jobs:
        out.append({"job_name": j.get("name"), "job_start": j.get("started_at"),
                    "job_end": j.get("completed_at"), "job_duration": 1,
                    "job_result": j.get("conclusion"),
                    "steps": [{"step_name": s.get("name"), "step_conclusion": s.get("conclusion"),
                               "step_start": s.get("started_at"), "step_end": s.get("completed_at"),
                               "step_duration": 1} for s in j.get("steps") or []]})
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def row(full_name, run, jobs):
    return [full_name, run["id"], run.get("workflow_id"), run.get("name"), run.get("status"),
            run.get("conclusion"), run.get("created_at"), run.get("updated_at"),
            run.get("head_branch"), run.get("head_sha"), run.get("event"),
            (run.get("actor") or {}).get("login"), run.get("run_number"), "60",
            len(jobs) if jobs is not None else None,
            details(jobs) if jobs is not None else None]


def csv_text(rows, header=HEADER, crlf=False):
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return f.getvalue().encode()


def journal_text(entries):
    """Entries (repo, id, set, raw) → a journal, each "prev" chained to the run's last."""
    out, last = bytearray(), {}
    for repo, rid, sets, raw in entries:
        e = {"repo": repo, "id": rid, "prev": last.get((repo.lower(), rid), -1), "set": sets}
        if raw is not None:
            e["raw"] = "job_details"
            e["raw_len"] = len(raw.encode())
        last[(repo.lower(), rid)] = len(out)
        out += json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode()
        if raw is not None:
            out += b"\t" + raw.encode()
        out += b"\n"
    return bytes(out)


class Out:
    def __init__(self, root):
        self.root = root

    def put(self, target, name, data):
        target = "runs" if target == "run" else target  # a single run: also phase 1's
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def from_sim(out, small):
    repo = {"full_name": "octo/hello", "runs": 12 if small else 60, "jobs_min": 1,
            "jobs_max": 2 if small else 4, "in_progress": 1, "queued": 1,
            "big_runs": {} if small else {"3": 130}}
    sim = ghsim.Simulator({"repos": [repo]})
    base = "/repos/octo/hello/actions"
    pages = [(1, 1), (2, 3)] if small else [(1, 1), (3, 2), (10, 1), (10, 2), (100, 1)]
    runs = []
    for per_page, page in pages:
        body, link = get(sim, base + "/runs", per_page, page)
        out.put("runs", "sim_page_%d_%d.json" % (per_page, page), body)
        if link:
            out.put("link", "sim_%d_%d.txt" % (per_page, page), link)
        runs += json.loads(body)["workflow_runs"]
    byid = {r["id"]: r for r in runs}
    body, _ = get(sim, base + "/runs/%d" % runs[0]["id"])
    out.put("runs", "sim_single_run.json", body)
    jobs_of = {}
    for k, rid in enumerate(sorted(byid)[: 2 if small else 12]):
        body, link = get(sim, base + "/runs/%d/jobs" % rid, 100 if not small else 2, 1)
        jobs_of[rid] = json.loads(body)["jobs"]
        out.put("jobs", "sim_jobs_%d.json" % k, body)
        if link:
            out.put("link", "sim_jobs_%d.txt" % k, link)
    rows = [row("octo/hello", byid[i], jobs_of.get(i)) for i in sorted(byid)]
    n = 3 if small else len(rows)
    whole = csv_text(rows[:n])
    out.put("csv", "sim.csv", whole)
    out.put("csv", "sim_torn.csv", whole[: len(whole) - 17])
    out.put("csv", "sim_crlf.csv", csv_text(rows[:2], crlf=True))
    out.put("csv", "sim_extra_column.csv",
            csv_text([r[:5] + ["kept"] + r[5:] for r in rows[:2]],
                     header=HEADER[:5] + ["note"] + HEADER[5:]))
    out.put("csv", "sim_reordered.csv",
            csv_text([r[::-1] for r in rows[:2]], header=HEADER[::-1]))
    out.put("csv", "header_only.csv", csv_text([]))
    out.put("csv", "torn_header.csv", csv_text([])[:20])
    entries = []
    for k, rid in enumerate(sorted(jobs_of)[:6]):  # not the big run: a short journal
        d = details(jobs_of[rid])
        entries.append(("octo/hello", rid, {"total_jobs": str(len(jobs_of[rid]))}, d))
        if k % 2:
            entries.append(("octo/hello", rid, {"status": "completed", "job_details": d}, None))
    text = journal_text(entries)
    out.put("journal", "sim.journal", text)
    out.put("journal", "sim_torn.journal", text[: len(text) - 9])
    out.put("journal", "other_repo.journal",
            journal_text([("Octo/Other", 7, {"conclusion": None, "total_jobs": "0"}, "[]"),
                          ("octo/other", 7, {"total_jobs": "1"}, None)]))


def from_fixtures(out, fixtures, small):
    if not os.path.isdir(fixtures):
        sys.exit("seeds: no fixtures at %s (expected ../shared/fixtures from the project root)"
                 % fixtures)
    taken = set()  # --small: one input of each kind from each recorder

    def take(kind, path, data):
        key = (kind, os.path.basename(os.path.dirname(path)))
        if small and key in taken:
            return
        taken.add(key)
        out.put(kind, "fx_" + os.path.basename(path), data)

    for path in sorted(glob.glob(os.path.join(fixtures, "*", "*.json"))):
        if small and os.path.getsize(path) > 24000:
            continue
        data = open(path, "rb").read()
        if b'"workflow_runs"' in data:
            take("runs", path, data)
        elif b'"run_number"' in data and b'"jobs_url"' in data:
            take("run", path, data)
        elif b'"jobs"' in data or b'"steps"' in data:
            take("jobs", path, data)
    for path in sorted(glob.glob(os.path.join(fixtures, "*", "*.headers.txt"))):
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.lower().startswith("link:"):
                take("link", path, line.split(":", 1)[1].strip())


def from_repo(out):
    data = os.path.join(ROOT, "tests", "unit", "data")
    for path in sorted(glob.glob(os.path.join(data, "*.yaml"))) + [os.path.join(ROOT, "config.yaml")]:
        out.put("config", "repo_" + os.path.basename(path), open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(data, "projects*.txt"))):
        out.put("projects", "repo_" + os.path.basename(path), open(path, "rb").read())
    out.put("config", "alias_bomb.yaml",
            "a: &a [x, x, x, x, x, x, x, x, x]\n" +
            "".join("%s: &%s [%s]\n" % (c, c, ", ".join(["*" + p] * 9))
                    for p, c in zip("abcdefgh", "bcdefghi")) +
            "workflow_ids: *i\n")
    out.put("config", "workflow_ids.yaml", "workflow_ids: [1, 22, 333]\nmax_retries: 3\n"
            "watch_interval: 5m\nfrom_date: 2024-01-01\noutput_csv: ~/out.csv\n")
    out.put("projects", "forms.txt",
            "\ufeffocto/hello\nhttps://github.com/octo/world.git\n# comment\n"
            "github.com/Octo/Hello/  # duplicate\r\nhttp://example.com:8080/a/b\n"
            "not a repo\n../etc/passwd\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "..", "shared", "fixtures"))
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    out = Out(a.outdir)
    from_sim(out, a.small)
    from_fixtures(out, a.fixtures, a.small)
    from_repo(out)


if __name__ == "__main__":
    main()
