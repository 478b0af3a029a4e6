#!/usr/bin/env python3
"""Failures with clear exit codes and messages, and a transient 500 that is retried.
The token never shows up in stdout, stderr or any file the miner writes."""

import os
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOKEN, Sim, assert_run_rows, assert_token_never_leaks, case,  # noqa: E402
                     check, check_exit, closed_port, jobs_requests, load_result_csv, repo_args,
                     run_miner, scenario, write_config)
from harness3 import CSV_NAME, Bg, fast_config, wait_until  # noqa: E402

REPO = "octo/errors"
BAD_TOKEN = "ghp_badtoken_ZZZZ9999"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 12, "seed": 19, "jobs_min": 1, "jobs_max": 3}]}


def no_secrets(res, d, *secrets, files=True):
    """stdout, stderr, the CSV, the state file, the journal and every other file in d;
    files=False for a run that stops before writing them all."""
    assert_token_never_leaks(list(secrets), res, d, files=files)


def fresh():
    return tempfile.TemporaryDirectory(prefix="ghaminer-")


@scenario("errors: exit codes, messages, retries, no token leaks")
def main():
    with Sim(SCENARIO) as sim:
        with case("bad token → exit 3, message names GITHUB_TOKEN"), fresh() as d:
            res = run_miner(repo_args(sim, REPO), cwd=d, token=BAD_TOKEN, timeout=60)
            check_exit(res, 3)
            check("GITHUB_TOKEN" in res.messages(), "no mention of GITHUB_TOKEN in:\n%s" % res.messages()[-800:])
            no_secrets(res, d, BAD_TOKEN, TOKEN, files=False)

        with case("unknown repository → exit 3, message names it"), fresh() as d:
            res = run_miner(repo_args(sim, "octo/does-not-exist"), cwd=d, timeout=60)
            check_exit(res, 3)
            check("octo/does-not-exist" in res.messages(), "the repository is not named in:\n%s" % res.messages()[-800:])
            no_secrets(res, d, TOKEN, files=False)

        sim.reset_stats()
        for bad in ("https://github.com/onlyowner", "not a repository url"):
            with case("bad repository URL %r → exit 2, no request" % bad), fresh() as d:
                res = run_miner(["-s", bad, "--api-url", sim.url], cwd=d, timeout=30)
                check_exit(res, 2)
                # the message quotes what was given, names the option and shows the expected form
                said = "error: invalid repository '%s' for -s: expected https://github.com/OWNER/REPO" % bad
                check(said in res.stderr, "stderr does not say %r:\n%s" % (said, res.stderr[-800:]))
                no_secrets(res, d, TOKEN, files=False)
        check(sim.stats()["requests"] == 0, "bad URLs still reached the API: %s" % sim.stats())

        with case("unreachable API → exit 4, clear message"), fresh() as d:
            port = closed_port()
            cfg = write_config(d, max_retries=1, request_timeout=5)
            res = run_miner(["-s", "https://github.com/" + REPO, "--api-url", "http://127.0.0.1:%d" % port, "-c", cfg],
                            cwd=d, timeout=90)
            check_exit(res, 4)
            msg = res.messages().lower()
            check(any(w in msg for w in ("127.0.0.1", "connect", "unreachable", "network")),
                  "the message does not say what failed:\n%s" % res.messages()[-800:])
            no_secrets(res, d, TOKEN, files=False)

        with case("token given with -t works and is not echoed"), fresh() as d:
            res = run_miner(repo_args(sim, REPO) + ["-t", TOKEN], cwd=d, token=None, timeout=60)
            check_exit(res, 0)
            no_secrets(res, d, TOKEN)

    with Sim(dict(SCENARIO, faults=[{"path_regex": "/jobs$", "status": 500, "times": 2}])) as sim:
        with case("500 twice on jobs → retried, complete"), fresh() as d:
            truth = sim.truth(REPO)
            res = run_miner(repo_args(sim, REPO), cwd=d, timeout=90)
            check_exit(res, 0)
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
            st = sim.stats()
            check(st["by_status"].get("500") == 2, "expected two 500 answers: %s" % st["by_status"])
            failed = [rid for rid, es in jobs_requests(sim.log()).items() if any(e["status"] == 500 for e in es)]
            for rid in failed:
                check(any(e["status"] == 200 for e in jobs_requests(sim.log())[rid]), "run %s never retried" % rid)
            no_secrets(res, d, TOKEN)

    # A completed run leaves an empty journal; a run killed in phase 2 leaves one that holds
    # the job details collected so far, which must not hold the token either.
    with Sim(dict(SCENARIO, latency_ms=50)) as sim:
        with case("killed in phase 2: the journal holds job details, not the token; resume"), fresh() as d:
            truth = sim.truth(REPO)
            journal = os.path.join(d, CSV_NAME + ".journal")
            bg = Bg(repo_args(sim, REPO) + ["-c", fast_config(d, max_in_flight=1)], d)
            try:
                wait_until(lambda: os.path.exists(journal) and os.path.getsize(journal) > 0, 30,
                           what="job details in the journal")
                bg.kill()
                killed = types.SimpleNamespace(stdout=bg.stdout(), stderr=bg.stderr())
            finally:
                bg.close()
            check(os.path.getsize(journal) > 0, "the journal is empty after the kill")
            no_secrets(killed, d, TOKEN)
            res = run_miner(repo_args(sim, REPO) + ["-c", os.path.join(d, "config.yaml")], cwd=d, timeout=60)
            check_exit(res, 0)
            assert_run_rows(load_result_csv(d), truth, REPO, with_jobs=True)
            no_secrets(res, d, TOKEN)


if __name__ == "__main__":
    main()
