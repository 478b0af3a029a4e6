#!/usr/bin/env python3
"""The shell of scripts/actions/mine.yml, run here as the runner would run it: the `Mine`
step of each of 3 shards (ghaminer shard, config.yaml, --deadline, the exit code through
the pipe to the status file) against the simulator (GITHUB_API_URL, as Actions sets it),
then the merge job's `Merge` and `Summary` steps on the files as the artifacts lay them
out. The merged CSV equals one process mining everything (rows sorted); the summary has a
row per shard and the merged totals; a second round of the Mine steps, from the files the
first left, fetches no job again."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SRC, TOKEN, Sim, case, check, check_exit, jobs_requests,  # noqa: E402
                     miner_bin, run_miner, scenario)
from harness3 import csv_records, fast_config, miner_env  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("FAIL python3-yaml is missing: run scripts/setup (apt-get install python3-yaml)")

REPOS = ["wf/r%d" % i for i in range(12)]
SCENARIO = {"rate_limit": {"limit": 10000000},
            "repos": [{"full_name": r, "runs": 4 + 3 * i, "seed": 700 + i, "jobs_min": 0,
                       "jobs_max": 2, "in_progress": 0, "queued": 0}
                      for i, r in enumerate(REPOS)]}
SHARDS = 3


def step(workflow, job, name):
    steps = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == name]
    check(len(steps) == 1 and "run" in steps[0], "no step %r with run: in job %r" % (name, job))
    return steps[0]["run"]


def bash(script, cwd, env):
    """As the runner does: bash -e, the step's env over the workflow's."""
    p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return p


def sorted_records(path):
    header, rows = csv_records(path)
    return header, sorted(rows)


def main():
    wf = yaml.safe_load(open(os.path.join(SRC, "scripts", "actions", "mine.yml")))
    mine, merge = step(wf, "mine", "Mine"), step(wf, "merge", "Merge")
    summary = step(wf, "merge", "Summary")
    with Sim(SCENARIO) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-wf-") as d:
        os.makedirs(os.path.join(d, "bin"))
        shutil.copy(miner_bin(), os.path.join(d, "bin", "ghaminer"))
        with open(os.path.join(d, "projects.txt"), "w") as f:
            f.write("".join("https://github.com/%s\n" % r for r in REPOS))
        env = miner_env(env={"PROJECTS": "projects.txt", "SHARDS": str(SHARDS), "FROM_DATE": "",
                             "TO_DATE": "", "JOBS_API": "auto", "DEADLINE": "5h30m",
                             "GITHUB_API_URL": sim.url, "GITHUB_TOKEN": TOKEN,
                             "GITHUB_STEP_SUMMARY": os.path.join(d, "summary.md")})

        def mine_all():
            for i in range(SHARDS):
                p = bash(mine, d, dict(env, SHARD=str(i)))
                check(p.returncode == 0, "Mine of shard %d exited %d:\n%s%s"
                      % (i, p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
                cfg = open(os.path.join(d, "config.yaml")).read()
                check("requests_per_minute: %d" % (850 // SHARDS) in cfg,
                      "the per-minute ceiling is not shared out:\n%s" % cfg)

        with case("the Mine step of every shard"):
            mine_all()
        with case("Merge and Summary on the artifacts' layout equal one process"):
            shards = os.path.join(d, "shards")
            shutil.copytree(os.path.join(d, "out"), shards)
            p = bash(merge, d, env)
            check(p.returncode == 0, "Merge: %s%s" % (p.stdout, p.stderr))
            check_exit(run_miner(["-p", "projects.txt", "-o", "all.csv", "--api-url", sim.url,
                                  "-c", fast_config(d), "--quiet"], cwd=d), 0)
            got = sorted_records(os.path.join(d, "merged", "builds_features.csv"))
            want = sorted_records(os.path.join(d, "all.csv"))
            check(got == want, "the merged CSV differs from one process's (%d and %d rows)"
                  % (len(got[1]), len(want[1])))
            p = bash(summary, d, env)
            check(p.returncode == 0, "Summary: %s%s" % (p.stdout, p.stderr))
            text = open(os.path.join(d, "summary.md")).read()
            rows = [l for l in text.splitlines() if l.startswith("| ") and l[2].isdigit()]
            check(len(rows) == SHARDS and "**Merged:** %d runs of %d repositories"
                  % (len(want[1]), len(REPOS)) in text, "summary:\n%s" % text)
            check(all(l.endswith("| completed |") for l in rows), "summary:\n%s" % text)
        with case("a second round resumes from the files the first left"):
            sim.reset_stats()
            mine_all()
            check(not jobs_requests(sim.log()), "jobs fetched again")


if __name__ == "__main__":
    main()
