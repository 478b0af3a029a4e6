#!/usr/bin/env python3
"""Faults from the server at a rate (issue 10). The simulator's `fault_rate` knob answers a
random share of the API requests with a 5xx (GitHub's JSON), a TCP reset, a 200 cut short
of its Content-Length, a 200 of half a JSON document, a 200 of the wrong shape, an HTML
error page (200 or 502), or no answer for longer than the miner's request_timeout (2 s
here). The draws are a seeded sequence per rule in arrival order: a case meets the same
number of faults each time (which requests meet them depends on the arrival order). No
request meets more than 3 in a row (max_consecutive), so no chain of backoffs lasts long.

First the knob itself (each kind on the wire, counts, seeds, rules by path). Then the
miner, with max_retries 8, request_timeout 2 and runs of 0 to 3 jobs:
  - REST, every kind mixed at 5 %, 600 runs;
  - REST, 21 repositories of 600 runs mined at once (-p) in one run, each with its own
    rule: every kind mixed at 20 %, and each kind alone at 5 % and at 20 %. One run, since
    a run lasts as long as its longest chain of backoffs (1 + 2 + 4 + 8 … s) whatever it
    holds;
  - jobs through GraphQL, every kind mixed at 5 % on REST and on POST /graphql, and at
    20 % on POST /graphql alone (600 runs: about 7 queries; the seeds put faults on them).
Each run: exit 0; every stdout line a JSON object; no NDJSON error; the token nowhere in
stdout, stderr or the files; each fault retried and the retry said on stderr (or, for a
GraphQL query, its runs handed to REST, said as such); no request answered truly asked
again. Each repository: the CSV equals the simulator's truth value by value, jobs
included; at most 1.05 requests per run besides its faults; fewer than 1.3 API requests
per run in all."""

import gzip
import http.client
import json
import os
import random
import re
import sys
import tempfile
import time
import urllib.error
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOKEN, Sim, assert_run_rows, assert_token_never_leaks, case, check, fail,  # noqa: E402
                     check_exit, load_result_csv, run_miner, scaled, scenario, write_config)

KINDS = ["500", "502", "503", "reset", "truncated", "bad_json", "wrong_shape", "html",
         "html_502", "timeout"]
BIG = 600
MAX_RETRIES = 8
# At most this many faults in a row for one request: at 20 % over ~2,700 requests, a chain
# of 6 (1 + 2 + … + 32 s of backoff) would come one run in six, and 9 (a lost run at
# max_retries 8) one in seven hundred.
IN_A_ROW = 3
RETRY_RE = re.compile(r"retrying (\S+) in [\d.]+ s \(attempt (\d+) of (\d+)\): (.*)")
# The miner's request_timeout: 2 s, longer under a slow wrapper (scripts/test --valgrind),
# where answers would otherwise time out on the miner's side and be retried with no fault met.
REQUEST_TIMEOUT = round(scaled(2))
TIMEOUT_HOLD_MS = round(scaled(3000))
HANDOFF_RE = re.compile(r"a GraphQL query failed \(([^)]*)\); REST takes its (\d+) runs?")


def repo_spec(name, runs, seed, rid):
    return {"full_name": name, "id": rid, "runs": runs, "seed": seed, "jobs_min": 0, "jobs_max": 3}


def seed_with_faults(rate, kinds, draws, want, need=(), start=1):
    """The first seed from start whose first `draws` draws of a fault_rate rule hold at
    least `want` faults, among them the kinds in need (a request draws as the simulator
    does: random(), then randrange(len(kinds)))."""
    seed = start
    while True:
        rng = random.Random(seed)
        hits = []
        for _ in range(draws):
            u, k = rng.random(), rng.randrange(len(kinds))
            if u < rate:
                hits.append(kinds[k])
        if len(hits) >= want and set(need) <= set(hits):
            return seed
        seed += 1


def is_fault(e):
    return str(e.get("kind", "")).startswith("fault_rate:")


def request_key(path, query):
    """A request as (path, sorted query pairs), from a log entry or a URL on stderr."""
    items = []
    for k, v in (query.items() if isinstance(query, dict) else parse_qsl(query, keep_blank_values=True)):
        items += [(k, x) for x in (v if isinstance(v, list) else [v])]
    return path, tuple(sorted(items))


def check_retries_said(res, faults, summary):
    """Each fault is retried and the retry said on stderr ("retrying URL in N s (attempt a
    of b): why"), request by request, except:
      - a reset on a reused keep-alive connection (conn_req > 1) that libcurl re-sent at
        once on a new connection, as it does for a connection that dies before answering:
        the miner never saw that one;
      - a fault on POST /graphql whose runs were handed to REST instead ("a GraphQL query
        failed (…); REST takes its N runs")."""
    said, timed_out = Counter(), Counter()
    for url, attempt, _, why in RETRY_RE.findall(res.stderr):
        u = urlsplit(url)
        check(int(attempt) <= MAX_RETRIES + 1, "an attempt past max_retries + 1: %s" % url)
        said[request_key(u.path, u.query)] += 1
        if "timed out" in why:
            timed_out[request_key(u.path, u.query)] += 1
    handed = len(HANDOFF_RE.findall(res.stderr))
    met, silent = Counter(), Counter()
    for e in faults:
        k = request_key(e["path"], e["query"])
        met[k] += 1
        if e.get("kind") == "fault_rate:reset" and e.get("conn_req", 1) > 1:
            silent[k] += 1
    problems = []
    for k in set(met) | set(said):
        extra = handed if k[0] == "/graphql" else 0
        # A retry no fault explains is one the miner said it gave up waiting for: two
        # cores shared by the simulator and the miner can be slower than request_timeout.
        if not (met[k] - silent[k] <= said[k] + extra and said[k] <= met[k] + timed_out[k]):
            problems.append("%s%s: %d faults met (%d resets of a reused connection), %d retries said%s"
                            % (k[0], "?" + "&".join("%s=%s" % kv for kv in k[1]) if k[1] else "",
                               met[k], silent[k], said[k],
                               ", %d queries handed to REST" % handed if extra else ""))
    if problems:   # what the miner said about those paths, to tell a miss from a cancel
        paths = {p.split("?")[0].split(":")[0] for p in problems}
        about = [l for l in res.stderr.splitlines() if any(p in l for p in paths)][:20]
        fail("retries said on stderr do not match the faults met (%s):\n  %s\nstderr about them:\n%s"
             % (summary, "\n  ".join(sorted(problems)[:6]), "\n".join(about)))
    return timed_out


def check_stdout(res):
    """NDJSON, line by line (MinerResult parses every line too)."""
    lines = res.stdout.split("\n")
    check(lines[-1] == "", "stdout does not end with a newline")
    for n, line in enumerate(lines[:-1], 1):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        check(isinstance(obj, dict) and isinstance(obj.get("type"), str),
              "stdout line %d is not an NDJSON message: %r" % (n, line[:200]))


def repo_of(e, ids):
    """The repository a log entry asked about (None for GraphQL and the like)."""
    m = re.match(r"^/(?:repos/([^/]+/[^/]+)|repositories/(\d+))/", e["path"])
    if not m:
        return None
    return m.group(1) if m.group(1) else ids.get(int(m.group(2)))


def mine(repos, rules, jobs_api="rest"):
    """Mine repos at once against a simulator with these fault_rate rules → (sim log,
    stats, miner result), after the checks on the run as a whole: exit 0, NDJSON, no error
    message, each fault retried and said, the token kept secret, nothing asked again."""
    # a `timeout` fault holds its connection longer than request_timeout
    rules = [dict(r, timeout_ms=TIMEOUT_HOLD_MS) for r in rules]
    sc = {"repos": repos, "rate_limit": {"limit": 100000}, "graphql": {"limit": 100000},
          "fault_rate": rules}
    names = [r["full_name"] for r in repos]
    with Sim(sc) as sim, tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
        cfg = write_config(d, requests_per_minute=100000, max_retries=MAX_RETRIES,
                           request_timeout=REQUEST_TIMEOUT, jobs_api=jobs_api)
        if len(names) == 1:
            args = ["-s", "https://github.com/" + names[0]]
        else:
            with open(os.path.join(d, "projects.txt"), "w") as f:
                f.write("\n".join(names) + "\n")
            args = ["-p", os.path.join(d, "projects.txt")]
        res = run_miner(args + ["--api-url", sim.url, "-c", cfg], cwd=d, timeout=240)
        log, stats = sim.log(), sim.stats()
        faults = [e for e in log if is_fault(e)]
        summary = "%d faults %s in %d API requests" % (
            len(faults), dict(sorted(stats["faults_by_kind"].items())), len(log))
        check_exit(res, 0)
        check_stdout(res)
        check(not res.of_type("error"), "NDJSON errors: %s" % [e.get("message") for e in res.of_type("error")][:3])
        timed_out = check_retries_said(res, faults, summary)
        assert_token_never_leaks(TOKEN, res, d)
        # Nothing asked again once truly answered: a REST request (path and query) gets at
        # most one answer that was not a fault; its other requests met faults.
        answered = Counter(request_key(e["path"], e["query"]) for e in log
                           if not is_fault(e) and e["path"] != "/graphql")
        # ... or once more for each time the miner gave up waiting for it (said on stderr)
        again = {k: n for k, n in answered.items() if n > 1 + timed_out[k]}
        check(not again, "requests answered more than once: %s" % list(again.items())[:4])
        rows = load_result_csv(d)
        truth = {n: sim.truth(n) for n in names}
        print("       one ghaminer run: %s, %.1f s; %d requests the miner gave up waiting for"
              " beyond the timeout faults" % (summary, res.elapsed, max(0, sum(timed_out.values()) -
                                              stats["faults_by_kind"].get("timeout", 0))), flush=True)
        return log, rows, truth


def check_repos(run, repos, ceiling=True, min_faults=1):
    """The CSV rows of these repositories equal the truth; they met at least min_faults
    faults; fewer than 1.3 API requests per run in all (ceiling), and for each, at most
    1.05 requests per run besides its faults."""
    log, rows, truth = run
    ids = {r["id"]: r["full_name"] for r in repos}
    by_repo = {r["full_name"]: Counter() for r in repos}
    alone = len(truth) == 1     # the run mined only this one: GraphQL's queries are its own
    for e in log:
        name = repo_of(e, ids) or (repos[0]["full_name"] if alone else None)
        if name in by_repo:
            by_repo[name]["fault" if is_fault(e) else "answer"] += 1
    for r in repos:
        name = r["full_name"]
        assert_run_rows([x for x in rows if x["repo"] == name], truth[name], name, with_jobs=True)
        n = by_repo[name]
        check(n["answer"] / r["runs"] <= 1.05, "%s: %.3f requests per run besides the faults (%d for %d runs)"
              % (name, n["answer"] / r["runs"], n["answer"], r["runs"]))
    runs = sum(r["runs"] for r in repos)
    sent = sum(n["answer"] + n["fault"] for n in by_repo.values())
    met = sum(n["fault"] for n in by_repo.values())
    check(met >= min_faults, "%d faults met, expected at least %d" % (met, min_faults))
    if ceiling:
        check(sent / runs < 1.3, "%.3f API requests per run (%d faults among %d)" % (sent / runs, met, sent))
    print("       %d runs: %d faults among %d requests, %.3f requests per run"
          % (runs, met, sent, sent / runs), flush=True)


def only(repo, rate, kinds, seed):
    """A fault_rate rule for one repository's requests (by name and by id)."""
    return {"rate": rate, "kinds": kinds, "seed": seed, "max_consecutive": IN_A_ROW,
            "paths": "^/(?:repos/%s|repositories/%d)/" % (re.escape(repo["full_name"]), repo["id"])}


def raw_get(sim, path, gz=False):
    """GET path on a new connection → (status, headers, body read so far, error or None)."""
    c = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        h = {"Authorization": "Bearer " + TOKEN, "User-Agent": "fault-rate-test"}
        if gz:
            h["Accept-Encoding"] = "gzip"
        c.request("GET", path, headers=h)
        r = c.getresponse()
        hdr = {k.lower(): v for k, v in r.getheaders()}
        try:
            return r.status, hdr, r.read(), None
        except http.client.IncompleteRead as e:
            return r.status, hdr, e.partial, e
    except (OSError, http.client.HTTPException) as e:
        return None, {}, b"", e
    finally:
        c.close()


def sim_knob():
    """The simulator's fault_rate: each kind's answer on the wire, the counts by kind, the
    log's kinds, the same faults for the same seed, rules by path, a bad kind refused."""
    repo = repo_spec("octo/knob", 150, 1, 9900)
    path = "/repos/octo/knob/actions/runs?per_page=100"
    with Sim({"repos": [repo]}) as sim:
        for kind in KINDS:
            sim.configure(fault_rate={"rate": 1.0, "kinds": [kind], "seed": 1, "timeout_ms": 600})
            t0 = time.monotonic()
            st, hdr, body, error = raw_get(sim, path, gz=kind == "bad_json")
            took = time.monotonic() - t0
            what = "%s: status %s, %d bytes, %s" % (kind, st, len(body), error)
            if kind in ("500", "502", "503"):
                check(st == int(kind) and "message" in json.loads(body), what)
            elif kind in ("reset", "timeout"):
                check(st is None and error is not None, what)
                check(kind == "reset" or took >= 0.6, "%s: closed after %.2f s" % (kind, took))
            elif kind == "truncated":
                check(st == 200 and isinstance(error, http.client.IncompleteRead) and
                      0 < len(body) < int(hdr["content-length"]), what)
            elif kind == "bad_json":
                text = gzip.decompress(body)
                check(st == 200 and hdr.get("content-encoding") == "gzip"
                      and int(hdr["content-length"]) == len(body) and text.startswith(b'{"total_count":'), what)
                try:
                    json.loads(text)
                    check(False, "bad_json: the body parses")
                except ValueError:
                    pass
            elif kind == "wrong_shape":
                check(st == 200 and json.loads(body) == {"total_count": 1, "message": "ok"}, what)
            else:
                check(st == (200 if kind == "html" else 502) and hdr["content-type"].startswith("text/html")
                      and body.startswith(b"<!DOCTYPE html>"), what)
        stats = sim.stats()
        check(stats["faults_by_kind"] == {k: 1 for k in KINDS} and stats["faults_injected"] == len(KINDS),
              "faults_by_kind %s" % stats["faults_by_kind"])
        kinds = [e.get("kind") for e in sim.log()]
        check(kinds == ["fault_rate:" + k for k in KINDS], "log kinds %s" % kinds)

        def pattern(rules, n=40):
            sim.configure(fault_rate=rules)
            return "".join("x" if raw_get(sim, path)[0] == 500 else "." for _ in range(n))
        a = pattern({"rate": 0.3, "kinds": ["500"], "seed": 7})
        check(a == pattern({"rate": 0.3, "kinds": ["500"], "seed": 7}) and "x" in a and "." in a,
              "seed 7 at 30 %%: %s, then another sequence" % a)
        check(a != pattern({"rate": 0.3, "kinds": ["500"], "seed": 8}), "seeds 7 and 8 draw alike")
        check(pattern([{"rate": 1.0, "kinds": ["500"], "paths": "/jobs$"}, {"rate": 0.0}], 5) == ".....",
              "a rule for other paths applied")
        check(pattern([{"rate": 1.0, "kinds": ["500"], "paths": "^/repos/octo/knob/"}], 5) == "xxxxx",
              "a rule for these paths not applied")
        got = pattern({"rate": 1.0, "kinds": ["500"], "max_consecutive": 2}, 7)
        check(got == "xx.xx.x", "max_consecutive 2 at 100 %%: %s" % got)
        try:
            sim.configure(fault_rate={"rate": 1.0, "kinds": ["teapot"]})
            check(False, "an unknown kind accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 400, "an unknown kind: HTTP %d" % e.code)
        check(pattern([], 3) == "...", "no rules, yet faults")


@scenario("faults at a rate: every kind retried, the CSV exact")
def main():
    t0 = time.monotonic()
    with case("the simulator's fault_rate: each kind on the wire, counts, seeds, rules"):
        sim_knob()
    # REST, one repository at full concurrency
    mixed5 = repo_spec("octo/flaky5", BIG, 61, 9100)
    with case("every kind mixed at 5 %%, %d runs" % BIG):
        run = mine([mixed5], [only(mixed5, 0.05, KINDS, 5)])
        check_repos(run, [mixed5], min_faults=10)
    # REST, eleven repositories in one run: a run takes as long as its longest chain of
    # backoffs (about 30 s at 20 %), so these cases share one
    mixed20 = repo_spec("octo/flaky20", BIG, 62, 9200)
    alone = {pct: [repo_spec("octo/only%d-%s" % (pct, k.replace("_", "-")), BIG, 70 + i + pct, 9300 + i + 10 * pct)
                   for i, k in enumerate(KINDS)] for pct in (5, 20)}
    rules = [only(mixed20, 0.20, KINDS, 20)]
    for pct, repos in alone.items():
        rules += [only(r, pct / 100.0, [k], 100 + i + pct) for i, (k, r) in enumerate(zip(KINDS, repos))]
    every = [mixed20] + alone[5] + alone[20]
    with case("REST: %d repositories of %d runs mined at once, each with its faults" % (len(every), BIG)):
        run = mine(every, rules)
    with case("every kind mixed at 20 %%, %d runs" % BIG):
        check_repos(run, [mixed20], min_faults=60)
    for pct, repos in alone.items():
        for k, r in zip(KINDS, repos):
            with case("%s alone at %d %%, %d runs" % (k, pct, BIG)):
                check_repos(run, [r], min_faults=10 if pct == 5 else 60)

    # GraphQL: 600 runs take about 7 queries; the seeds put faults on some of them
    gql5 = repo_spec("octo/flakygql", BIG, 63, 9400)
    with case("jobs through GraphQL, every kind mixed at 5 %% on REST and on /graphql, %d runs" % BIG):
        run = mine([gql5], [{"rate": 0.05, "kinds": KINDS, "seed": seed_with_faults(0.05, KINDS, 7, 2),
                             "paths": "^/graphql$", "max_consecutive": IN_A_ROW},
                            {"rate": 0.05, "kinds": KINDS, "seed": 9, "max_consecutive": IN_A_ROW}], jobs_api="graphql")
        check_gql_faults(run, 2)
        check_repos(run, [gql5], min_faults=0)
    gql20 = repo_spec("octo/flakygql20", BIG, 64, 9500)
    with case("jobs through GraphQL, every kind mixed at 20 %% on /graphql, %d runs" % BIG):
        seed = seed_with_faults(0.20, KINDS, 7, 3, need=("wrong_shape",))
        run = mine([gql20], [{"rate": 0.20, "kinds": KINDS, "seed": seed, "paths": "^/graphql$",
                              "max_consecutive": IN_A_ROW}],
                   jobs_api="graphql")
        check_gql_faults(run, 3)
        check_repos(run, [gql20], min_faults=0)
    print("  total %.1f s" % (time.monotonic() - t0))


def check_gql_faults(run, want):
    met = [e["kind"] for e in run[0] if is_fault(e) and e["path"] == "/graphql"]
    check(len(met) >= want, "%d faults on POST /graphql (%s), expected at least %d" % (len(met), met, want))
    print("       on POST /graphql: %s" % ", ".join(k.split(":")[1] for k in met), flush=True)


if __name__ == "__main__":
    main()
