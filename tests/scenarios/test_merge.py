#!/usr/bin/env python3
"""ghaminer merge: shard CSVs into one, every run once (the row with jobs, then the most
recently updated, then the later input's), extra columns kept, sorted runs spilled to
temporary files and merged in rounds when memory is small, an earlier merge read as it is
(incremental), sync states merged, and bad input refused with nothing written."""

import csv
import fcntl
import json
import os
import random
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CSV_HEADER, case, check, run_miner, scenario  # noqa: E402

HEADER = CSV_HEADER + ["note"]


def iso(t):
    return "2024-%02d-%02dT%02d:%02d:00Z" % (1 + t // 40000 % 12, 1 + t // 1440 % 28,
                                               t // 60 % 24, t % 60)


def make_row(rng, repo, rid, updated, jobs):
    name = rng.choice(["ci", "build, test", 'say "hi"', "multi\nline", " padded "])
    details = json.dumps([{"name": "j%d" % k, "steps": k} for k in range(jobs)]) if jobs else ""
    return {"repo": repo, "id_build": str(rid), "workflow_id": "7", "workflow_name": name,
            "status": "completed", "conclusion": "success", "created_at": iso(rid % 9000),
            "updated_at": iso(updated), "branch": "main", "commit_sha": "%040x" % rid,
            "event": "push", "issuer_name": "u", "run_number": str(rid % 1000),
            "build_duration": "12.5", "total_jobs": str(jobs) if jobs else "",
            "job_details": details, "note": rng.choice(["", "x", "a,b"])}


def field(v):
    """Quoted as ghaminer quotes: when needed, and when a value has blanks at its edges."""
    if any(c in v for c in ',"\n\r') or v[:1] in (" ", "\t") or v[-1:] in (" ", "\t"):
        return '"' + v.replace('"', '""') + '"'
    return v


def write_csv(path, header, rows, tail=""):
    lines = [",".join(field(c) for c in header)]
    lines += [",".join(field(r[c]) for c in header) for r in rows]
    with open(path, "w", newline="") as f:
        f.write("\n".join(lines) + "\n" + tail)


def read_rows(path):
    with open(path, newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        return header, [dict(zip(header, r)) for r in rd]


def oracle(inputs):
    """The expected merge: per key the best row, sorted by (repo lower case, id)."""
    best = {}
    for i, rows in enumerate(inputs):
        for n, r in enumerate(rows):
            key = (r["repo"].lower(), int(r["id_build"]))
            rank = (r["total_jobs"] != "", r["updated_at"], i, n)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, r)
    return [best[k][1] for k in sorted(best)]


def shards(rng, n_inputs, n_keys):
    repos = ["Octo/Alpha", "octo/beta", "z/last", "a/first"]
    inputs = [[] for _ in range(n_inputs)]
    for k in range(n_keys):
        repo = repos[k % len(repos)]
        for i in rng.sample(range(n_inputs), rng.randint(1, n_inputs)):
            spelled = repo.lower() if rng.random() < 0.2 else repo
            inputs[i].append(make_row(rng, spelled, 1000 + k, rng.randint(0, 5000),
                                      rng.choice([0, 0, 1, 3])))
    for rows in inputs:
        rng.shuffle(rows)
    return inputs


def merge(d, out, *ins, env=None, extra=()):
    return run_miner(["merge", "-o", out] + list(extra) + list(ins), cwd=d, env=env, token=None)


def check_equal(path, expected):
    header, got = read_rows(path)
    check(header == HEADER, "merged header %r" % header)
    check(len(got) == len(expected), "%d rows merged, %d expected" % (len(got), len(expected)))
    for n, (g, e) in enumerate(zip(got, expected)):
        check(g == e, "row %d: got %r,\nexpected %r" % (n + 1, g, e))


@scenario("merge: every run once, bounded memory, incremental, states, bad input")
def main():
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="ghaminer-merge-") as d:
        inputs = shards(rng, 3, 9000)
        names = ["s0.csv", "s1.csv", "s2.csv"]
        for i, name in enumerate(names):
            header = HEADER if i != 1 else list(reversed(HEADER))  # columns in another order
            write_csv(os.path.join(d, name), header, inputs[i])

        with case("sorted runs spilled and merged in rounds equal the oracle"):
            res = merge(d, "m1.csv", *names, env={"GHAMINER_MERGE_FAN_IN": "3"},
                        extra=["--memory", "1M"])
            check(res.code == 0, "exit code %s\n%s" % (res.code, res.describe()))
            stats = res.ndjson[-1]
            check(stats["spills"] >= 4, "only %s spills with 1 MB of memory" % stats["spills"])
            check_equal(os.path.join(d, "m1.csv"), oracle(inputs))
            check(stats["runs"] == len(oracle(inputs)) and stats["repos"] == 4, "stats %r" % stats)
            leftovers = [f for f in os.listdir(d) if "tmp" in f or "ghaminer-merge" in f]
            check(not leftovers, "temporary files left: %s" % leftovers)

        with case("the default memory gives the same file"):
            res = merge(d, "m1b.csv", *names)
            check(res.code == 0, res.describe())
            check(open(os.path.join(d, "m1.csv"), "rb").read() ==
                  open(os.path.join(d, "m1b.csv"), "rb").read(), "outputs differ")

        with case("an earlier merge is read as it is: merged with a newer shard"):
            newer = shards(random.Random(7), 1, 3000)[0]
            for r in newer[:500]:
                r["total_jobs"], r["job_details"] = "", ""  # not collected: loses to jobs
            write_csv(os.path.join(d, "s3.csv"), HEADER, newer)
            res = merge(d, "m2.csv", "m1.csv", "s3.csv")
            check(res.code == 0, res.describe())
            check(res.ndjson[-1]["sorted_inputs"] == 1 and "in key order" in res.stderr,
                  "the merged input was sorted again:\n%s" % res.stderr)
            check_equal(os.path.join(d, "m2.csv"), oracle(inputs + [newer]))

        with case("a merged file with rows appended out of order: sorted after all"):
            # Its first rows are in key order (only those are checked before the merge):
            # the rest is checked as it is merged, and the merge starts again sorting it.
            _, merged = read_rows(os.path.join(d, "m1.csv"))
            tail = [make_row(random.Random(9), "a/first", 1000 + k, 9000, 1) for k in (5, 1, 3)]
            write_csv(os.path.join(d, "appended.csv"), HEADER, merged + tail)
            res = merge(d, "m3.csv", "appended.csv", "s3.csv",
                        env={"GHAMINER_MERGE_PROBE": "50"})
            check(res.code == 0 and "not in key order after all" in res.stderr, res.describe())
            check(res.ndjson[-1]["sorted_inputs"] == 0, "stats %r" % res.ndjson[-1])
            check_equal(os.path.join(d, "m3.csv"), oracle([merged + tail, newer]))
        with case("a torn last line of a file in key order past the rows checked first"):
            with open(os.path.join(d, "torn-sorted.csv"), "w", newline="") as f:
                f.write(open(os.path.join(d, "m1.csv"), newline="").read() + 'z/z,9,"torn')
            res = merge(d, "m5.csv", "torn-sorted.csv", env={"GHAMINER_MERGE_PROBE": "50"})
            check(res.code == 0 and "torn row" in res.stderr, res.describe())
            check(open(os.path.join(d, "m5.csv"), "rb").read() ==
                  open(os.path.join(d, "m1.csv"), "rb").read(), "m5.csv differs from m1.csv")
        with case("a damaged row deep in a file in key order: named as such"):
            lines = open(os.path.join(d, "m1.csv"), newline="").read().split("\n")
            lines[300] = "o/x,1,2"
            with open(os.path.join(d, "damaged.csv"), "w", newline="") as f:
                f.write("\n".join(lines))
            res = merge(d, "m4.csv", "damaged.csv", env={"GHAMINER_MERGE_PROBE": "50"})
            check(res.code == 2 and re.search(r"damaged.csv' row \d+ has 3 fields", res.stderr),
                  res.describe())
            check(not os.path.exists(os.path.join(d, "m4.csv")), "m4.csv written")
            check(not [f for f in os.listdir(d) if "m4.csv.tmp" in f], "temporary file left")

        bad_inputs(d, names)
        states(d)


def bad_inputs(d, names):
    before = open(os.path.join(d, "m1.csv"), "rb").read()
    with case("different headers: the columns named, nothing written"):
        write_csv(os.path.join(d, "other.csv"), CSV_HEADER + ["extra_col"], [])
        res = merge(d, "m1.csv", names[0], "other.csv")
        check(res.code == 2, res.describe())
        check("'note'" in res.stderr and "'extra_col'" in res.stderr and "other.csv" in res.stderr,
              "the message does not name the columns:\n%s" % res.stderr)
        check(open(os.path.join(d, "m1.csv"), "rb").read() == before, "m1.csv changed")
    with case("not a ghaminer CSV"):
        with open(os.path.join(d, "plain.csv"), "w") as f:
            f.write("a,b\n1,2\n")
        res = merge(d, "x.csv", "plain.csv")
        check(res.code == 2 and "no column 'repo'" in res.stderr, res.describe())
        check(not os.path.exists(os.path.join(d, "x.csv")), "x.csv written")
    with case("a missing file"):
        res = merge(d, "x.csv", names[0], "nope.csv")
        check(res.code == 2 and "'nope.csv'" in res.stderr and "No such file" in res.stderr,
              res.describe())
        check(not os.path.exists(os.path.join(d, "x.csv")), "x.csv written")
    with case("the output is an input"):
        res = merge(d, "m1.csv", "m1.csv", names[0])
        check(res.code == 2 and "also an input" in res.stderr, res.describe())
        check(open(os.path.join(d, "m1.csv"), "rb").read() == before, "m1.csv changed")
    with case("a torn last line: left out with a warning, the rest merged"):
        rows = [make_row(random.Random(1), "o/t", 50 + k, 10, 1) for k in range(3)]
        write_csv(os.path.join(d, "torn.csv"), HEADER, rows, tail='o/t,99,7,"half a ro')
        res = merge(d, "t.csv", "torn.csv")
        check(res.code == 0 and "torn row" in res.stderr, res.describe())
        check_equal(os.path.join(d, "t.csv"), rows)
        check(open(os.path.join(d, "torn.csv")).read().endswith("half a ro"),
              "the input was modified")
    with case("an input a running ghaminer holds: merged with a warning"):
        with open(os.path.join(d, names[0] + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            res = merge(d, "busy.csv", names[0])
        check(res.code == 0 and "being written by a running ghaminer" in res.stderr,
              res.describe())
    with case("an output a running ghaminer holds: refused"):
        with open(os.path.join(d, "m1.csv.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            res = merge(d, "m1.csv", names[0])
        check(res.code == 5 and "in use by another ghaminer" in res.stderr, res.describe())
        check(open(os.path.join(d, "m1.csv"), "rb").read() == before, "m1.csv changed")
    with case("a row with no run id: left out with a warning; an empty repo is kept"):
        r = random.Random(5)
        rows = [make_row(r, "", 5, 10, 0), make_row(r, "", 5, 20, 0), make_row(r, "o/x", 6, 1, 1)]
        bad = dict(rows[2], id_build="abc")
        write_csv(os.path.join(d, "odd.csv"), HEADER, rows + [bad])
        res = merge(d, "odd-out.csv", "odd.csv")
        check(res.code == 0 and "id_build 'abc' is not a run id" in res.stderr, res.describe())
        check(res.ndjson[-1]["dropped"] == 1 and res.ndjson[-1]["repos"] == 2, res.describe())
        check_equal(os.path.join(d, "odd-out.csv"), [rows[1], rows[2]])
    with case("a stale temporary file of a killed merge is removed"):
        stale = os.path.join(d, "m1.csv.tmp.abcdef")
        open(stale, "w").write("partial")
        res = merge(d, "m1.csv", names[0])
        check(res.code == 0 and not os.path.exists(stale), res.describe())


SALT_A, SALT_C = "0123456789abcdef" * 2, "fedcba9876543210" * 2


def state(listings, etags, salt):
    return json.dumps({"ghaminer_state": 2, "salt": salt, "listings": listings,
                       "etags": etags})


def states(d):
    with case("sync states: ranges united, ETags of one salt kept, a torn input proves nothing"):
        rows = [make_row(random.Random(2), "o/a", 1, 10, 1)]
        write_csv(os.path.join(d, "a.csv"), HEADER, rows)
        write_csv(os.path.join(d, "b.csv"), HEADER, [make_row(random.Random(3), "o/b", 2, 10, 1)])
        write_csv(os.path.join(d, "c.csv"), HEADER, [make_row(random.Random(4), "o/c", 3, 10, 1)],
                  tail="o/c,4,")
        key_a = "o/a|wf=0|from=-|to=-"
        open(os.path.join(d, "a.csv.state"), "w").write(state(
            [{"key": key_a, "last_sync": 100,
              "covered": [["*", "2024-01-01T00:00:00+00:00"]]}],
            [{"token_id": "t1", "url": "https://x/o/a/runs", "etag": "W/\"a\""}], SALT_A))
        open(os.path.join(d, "b.csv.state"), "w").write(state(
            [{"key": key_a, "last_sync": 200,
              "covered": [["2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"]]},
             {"key": "o/b|wf=0|from=-|to=-", "last_sync": 50, "covered": []}],
            [{"token_id": "t1", "url": "https://x/o/a/runs", "etag": "W/\"newer\""}], SALT_A))
        open(os.path.join(d, "c.csv.state"), "w").write(state(
            [{"key": "o/c|wf=0|from=-|to=-", "last_sync": 70,
              "covered": [["*", "2025-01-01T00:00:00+00:00"]]}],
            [{"token_id": "t9", "url": "https://x/o/c/runs", "etag": "W/\"c\""}], SALT_C))
        res = merge(d, "st.csv", "a.csv", "b.csv", "c.csv")
        check(res.code == 0, res.describe())
        st = json.load(open(os.path.join(d, "st.csv.state")))
        lst = {l["key"]: l for l in st["listings"]}
        check(len(lst[key_a]["covered"]) == 2 and lst[key_a]["last_sync"] == 200,
              "listing of o/a: %r" % lst.get(key_a))
        check("o/c|wf=0|from=-|to=-" not in lst or not lst["o/c|wf=0|from=-|to=-"]["covered"],
              "the torn input's ranges were kept: %r" % lst)
        check(st.get("salt") == SALT_A, "merged salt %r" % st.get("salt"))
        etags = [e for e in st["etags"] if e["url"] == "https://x/o/a/runs"]
        check(len(etags) == 1 and etags[0]["etag"] == 'W/"newer"', "etags %r" % st["etags"])
        check(not [e for e in st["etags"] if e["url"] == "https://x/o/c/runs"],
              "an ETag keyed by another salt was kept: %r" % st["etags"])


if __name__ == "__main__":
    main()
