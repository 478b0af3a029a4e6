#!/usr/bin/env python3
"""Scale-out end to end (issue 12): a projects file of 40 repositories split by
`ghaminer shard` into 4 disjoint shards covering it, 4 miner processes at once (one a
shard, each its own CSV), `ghaminer merge` of their CSVs: byte for byte the rows one
process mining everything wrote (after sorting). Then the repositories grow (runs added,
unfinished ones completed), the shards are mined again into their CSVs, the earlier merge
is merged with them (read as it is: incremental) and equals the single process's CSV
after its own second run. The merged CSV with its merged state also resumes: mining
everything into it fetches no job the shards already had."""

import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Sim, case, check, check_exit, jobs_requests, miner_bin,  # noqa: E402
                     run_miner, scenario)
from harness3 import csv_records, fast_config, miner_env  # noqa: E402

NREPOS, NSHARDS = 40, 4
rng = random.Random(404)
REPOS = ["org%d/Repo-%d" % (i % 7, i) for i in range(NREPOS)]
SCENARIO = {"rate_limit": {"limit": 10000000},
            "repos": [{"full_name": r, "runs": rng.randint(3, 25), "seed": 100 + i,
                       "jobs_min": 0, "jobs_max": 2, "in_progress": i % 3, "queued": 0}
                      for i, r in enumerate(REPOS)]}


def same_rows(got_path, want_path):
    gh, got = csv_records(got_path)
    wh, want = csv_records(want_path)
    check(gh == wh, "headers differ:\n%s%s" % (gh, wh))
    check(len(got) == len(want), "%d rows merged, %d from one process" % (len(got), len(want)))
    got.sort()
    want.sort()
    for g, w in zip(got, want):
        check(g == w, "first difference:\nmerged: %r\none process: %r" % (g[:400], w[:400]))


def mine_shards(d, sim, cfg):
    """The 4 shard miners at once; each exits 0."""
    procs = []
    for i in range(NSHARDS):
        cmd = [miner_bin(), "-p", "shard%d.txt" % i, "-o", "shard-%d.csv" % i, "--api-url",
               sim.url, "-c", cfg, "--quiet"]
        procs.append(subprocess.Popen(cmd, cwd=d, env=miner_env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    for i, p in enumerate(procs):
        _, err = p.communicate(timeout=120)
        check(p.returncode == 0, "shard %d exited %s:\n%s" % (i, p.returncode,
                                                            err.decode()[-1500:]))


def split(d):
    seen = []
    for i in range(NSHARDS):
        p = subprocess.run([miner_bin(), "shard", "-p", "projects.txt", "-n", str(NSHARDS),
                            "-i", str(i)], cwd=d, capture_output=True, text=True)
        check(p.returncode == 0, "shard %d: %s" % (i, p.stderr))
        lines = p.stdout.split()
        check(lines, "shard %d is empty" % i)
        open(os.path.join(d, "shard%d.txt" % i), "w").write(p.stdout)
        seen += lines
    want = ["https://github.com/" + r for r in REPOS]
    check(sorted(seen) == sorted(want), "the shards do not cover the projects file once: "
          "%d lines for %d repositories" % (len(seen), len(want)))


@scenario("scale-out: 4 shards mined and merged equal one process, twice")
def main():
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-scale-") as d:
        with open(os.path.join(d, "projects.txt"), "w") as f:
            f.write("".join("https://github.com/%s\n" % r for r in REPOS))
        cfg = fast_config(d, max_in_flight=8)
        all_args = ["-p", "projects.txt", "-o", "all.csv", "--api-url", sim.url, "-c", cfg,
                    "--quiet"]
        with case("shard: 4 disjoint shards cover the projects file"):
            split(d)
        with case("shard: bad arguments are usage errors, with the reason"):
            for args, says in ((["-n", "4", "-i", "4"], "not below the shard count"),
                               (["-n", "0", "-i", "0"], "invalid shard count"),
                               (["-n", "4"], "pass -p FILE -n N -i I")):
                p = subprocess.run([miner_bin(), "shard", "-p", "projects.txt"] + args, cwd=d,
                                   capture_output=True, text=True)
                check(p.returncode == 2 and says in p.stderr and not p.stdout,
                      "%s: exit %s, stderr %r" % (args, p.returncode, p.stderr))
            p = subprocess.run([miner_bin(), "shard", "-p", "nope.txt", "-n", "2", "-i", "0"],
                               cwd=d, capture_output=True, text=True)
            check(p.returncode == 2 and "nope.txt" in p.stderr, p.stderr)
        with case("round 1: merged shards equal one process"):
            mine_shards(d, sim, cfg)
            check_exit(run_miner(all_args, cwd=d), 0)
            res = run_miner(["merge", "-o", "merged.csv"] +
                            ["shard-%d.csv" % i for i in range(NSHARDS)], cwd=d, token=None)
            check_exit(res, 0)
            same_rows(os.path.join(d, "merged.csv"), os.path.join(d, "all.csv"))
            check(os.path.exists(os.path.join(d, "merged.csv.state")), "no merged state")
        with case("shard --weights: balanced by the runs of the merged CSV"):
            counts = {}
            for line in csv_records(os.path.join(d, "merged.csv"))[1]:
                counts[line.split(",", 1)[0]] = counts.get(line.split(",", 1)[0], 0) + 1
            loads = []
            for i in range(NSHARDS):
                p = subprocess.run([miner_bin(), "shard", "-p", "projects.txt", "-n",
                                    str(NSHARDS), "-i", str(i), "--weights", "merged.csv"],
                                   cwd=d, capture_output=True, text=True)
                check(p.returncode == 0, p.stderr)
                loads.append(sum(counts[u.split("github.com/")[1]] for u in p.stdout.split()))
            total = sum(counts.values())
            cap = max(total / NSHARDS * 1.05, max(counts.values()))
            check(max(loads) <= cap and sum(loads) == total, "shard loads %s of %d runs"
                  % (loads, total))
        with case("round 2: after growth, an incremental merge equals one process"):
            for i, r in enumerate(REPOS):
                if i % 4 == 0:
                    sim.post("/_sim/add_runs", {"repo": r, "count": 3 + i % 5})
                sim.post("/_sim/complete_runs", {"repo": r})
            mine_shards(d, sim, cfg)
            check_exit(run_miner(all_args, cwd=d), 0)
            res = run_miner(["merge", "-o", "merged2.csv", "merged.csv"] +
                            ["shard-%d.csv" % i for i in range(NSHARDS)], cwd=d, token=None)
            check_exit(res, 0)
            check(res.ndjson[-1]["sorted_inputs"] >= 1, "the earlier merge was sorted again: %r"
                  % res.ndjson[-1])
            same_rows(os.path.join(d, "merged2.csv"), os.path.join(d, "all.csv"))
        with case("the merged CSV and state resume: no job fetched again"):
            sim.reset_stats()
            args = ["-p", "projects.txt", "-o", "merged2.csv", "--api-url", sim.url, "-c", cfg,
                    "--quiet"]
            check_exit(run_miner(args, cwd=d), 0)
            check(not jobs_requests(sim.log()), "jobs fetched again: %d runs"
                  % len(jobs_requests(sim.log())))
            same_rows(os.path.join(d, "merged2.csv"), os.path.join(d, "all.csv"))


if __name__ == "__main__":
    main()
