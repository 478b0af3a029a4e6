#!/usr/bin/env python3
"""The simulator itself behaves like GitHub (no ghaminer binary needed).

Pagination and Link headers, result caps, ETag/304, rate-limit headers, the primary limit,
secondary limits, auth, 404, gzip, faults, control endpoints, determinism, throughput, and
the realism of the payloads: the keys of runs, jobs and steps are those of real recordings
in ../shared/fixtures (beside the project root; a missing recording fails the test)."""

import collections
import gzip
import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, TOKEN, case, check, parse_ts, scenario, shared_file  # noqa: E402

REPO = "octo/hello"
MAIN = {"repos": [{"full_name": REPO, "runs": 250, "in_progress": 2, "queued": 1,
                   "big_runs": {"7": 150}, "seed": 1},
                  {"full_name": "Weird-Org/repo.js", "runs": 5, "seed": 2, "jobs_min": 1, "jobs_max": 1}]}
# real recordings, under ../shared relative to the project root
FIXTURE_RUN = ("fixtures", "pygithub", "WorkflowRun.testGetAttempt__r1__single-run.json")  # recorded 2026
FIXTURE_JOBS = ("fixtures", "pygithub", "WorkflowRun.test_jobs__r0__run-jobs.json")

LINK_RE = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(headers):
    return {rel: url for url, rel in LINK_RE.findall(headers.get("link", ""))}


def api_json(sim, path, **kw):
    status, h, body = sim.api(path, **kw)
    return status, h, (json.loads(body) if body else None)


def check_rate_headers(h, where):
    for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"):
        check(re.fullmatch(r"\d+", h.get(k, "")), "%s: header %s is %r" % (where, k, h.get(k)))
    check(int(h["x-ratelimit-used"]) + int(h["x-ratelimit-remaining"]) == int(h["x-ratelimit-limit"]),
          "%s: used + remaining != limit" % where)
    check(h.get("x-ratelimit-resource") == "core", "%s: X-RateLimit-Resource" % where)


def pagination(sim, truth):
    repo_id = truth["runs"][0]["repository"]["id"]
    seen, pages = [], []
    url = "/repos/%s/actions/runs?per_page=100&exclude_pull_requests=true" % REPO
    while url:
        status, h, d = api_json(sim, url)
        check(status == 200, "page %s: status %s" % (url, status))
        check(d["total_count"] == 250, "total_count %s" % d["total_count"])
        check(h.get("content-type") == "application/json; charset=utf-8", "content-type %r" % h.get("content-type"))
        check(h.get("x-github-api-version-selected") == "2022-11-28", "api version header")
        check(re.fullmatch(r'W/"[0-9a-f]{64}"', h.get("etag", "")), "etag %r" % h.get("etag"))
        check_rate_headers(h, url)
        pages.append(links(h))
        seen += d["workflow_runs"]
        url = links(h).get("next")
    check(len(pages) == 3, "expected 3 pages, got %d" % len(pages))
    check([sorted(p) for p in pages] == [["last", "next"], ["first", "last", "next", "prev"], ["first", "prev"]],
          "rels per page: %s" % [sorted(p) for p in pages])
    base = "%s/repositories/%d/actions/runs?" % (sim.url, repo_id)
    check(pages[0]["next"] == base + "per_page=100&exclude_pull_requests=true&page=2",
          "page 1 next link %r" % pages[0]["next"])
    check(pages[0]["last"] == base + "per_page=100&exclude_pull_requests=true&page=3", "last link")
    check(pages[2]["first"] == base + "per_page=100&exclude_pull_requests=true&page=1", "first link")
    ids = [r["id"] for r in seen]
    check(len(set(ids)) == 250, "pagination returned %d distinct runs" % len(set(ids)))
    check(ids == [r["id"] for r in truth["runs"]], "pagination order differs from truth order")
    keys = [(r["created_at"], r["id"]) for r in seen]
    check(keys == sorted(keys, reverse=True), "runs not newest first (created_at desc, id desc)")
    check(all(r["pull_requests"] == [] for r in seen), "exclude_pull_requests=true left pull_requests")
    # GitHub keeps the request's parameter order and replaces page in place
    status, h, _ = sim.api("/repos/%s/actions/runs?page=2&per_page=100" % REPO)
    check(links(h)["prev"] == "%s/repositories/%d/actions/runs?page=1&per_page=100" % (sim.url, repo_id),
          "page-first parameter order: %r" % links(h)["prev"])
    # defaults and clamps
    _, _, d = api_json(sim, "/repos/%s/actions/runs" % REPO)
    check(len(d["workflow_runs"]) == 30, "default per_page is 30")
    _, _, d = api_json(sim, "/repos/%s/actions/runs?per_page=500" % REPO)
    check(len(d["workflow_runs"]) == 100, "per_page is capped at 100")
    _, _, d = api_json(sim, "/repositories/%d/actions/runs?per_page=5&page=2" % repo_id)
    check([r["id"] for r in d["workflow_runs"]] == ids[5:10], "/repositories/{id} alias")
    check(any(r["pull_requests"] for r in truth["runs"]), "no run lists pull_requests without exclude")
    # single run, workflows, workflow runs
    status, _, r = api_json(sim, "/repos/%s/actions/runs/%d" % (REPO, ids[3]))
    check(status == 200 and r == truth["runs"][3], "single run differs from truth")
    status, _, w = api_json(sim, "/repos/%s/actions/workflows" % REPO)
    check(status == 200 and w["total_count"] == 3 and len(w["workflows"]) == 3, "workflows list")
    wf = w["workflows"][1]
    status, _, d = api_json(sim, "/repos/%s/actions/workflows/%d/runs?per_page=100" % (REPO, wf["id"]))
    exp = [r["id"] for r in truth["runs"] if r["workflow_id"] == wf["id"]]
    check(status == 200 and d["total_count"] == len(exp), "workflow runs total_count")
    check([r["id"] for r in d["workflow_runs"]] == exp[:100], "workflow runs")
    status, _, _ = api_json(sim, "/repos/%s/actions/workflows/%s/runs" % (REPO, wf["path"].split("/")[-1]))
    check(status == 200, "workflow by file name")


def created_filters(sim, truth):
    runs = truth["runs"]
    ts = lambda r: parse_ts(r["created_at"]).timestamp()
    day1 = parse_ts("2024-01-01T00:00:00Z").timestamp()
    day2 = day1 + 86400
    mid = ts(runs[100])
    cases = {
        "2024-01-01": lambda t: day1 <= t < day2,
        ">=2024-01-02": lambda t: t >= day2,
        ">2024-01-01": lambda t: t >= day2,
        "<2024-01-02": lambda t: t < day2,
        "<=2024-01-01": lambda t: t < day2,
        "2024-01-01..2024-01-01": lambda t: day1 <= t < day2,
        "2024-01-02..*": lambda t: t >= day2,
        "*..2024-01-01": lambda t: t < day2,
        ">=" + runs[100]["created_at"]: lambda t: t >= mid,
        "<" + runs[100]["created_at"].replace("Z", "+00:00"): lambda t: t < mid,
        runs[120]["created_at"] + ".." + runs[100]["created_at"]: lambda t: ts(runs[120]) <= t <= mid,
    }
    from urllib.parse import quote
    for expr, pred in cases.items():
        status, h, d = api_json(sim, "/repos/%s/actions/runs?per_page=100&created=%s" % (REPO, quote(expr, safe="")))
        exp = [r["id"] for r in runs if pred(ts(r))]
        check(status == 200, "created=%s: status %s" % (expr, status))
        check(d["total_count"] == len(exp), "created=%s: total_count %d, expected %d" % (expr, d["total_count"], len(exp)))
        check([r["id"] for r in d["workflow_runs"]] == exp[:100], "created=%s: runs differ" % expr)
        nxt = links(h).get("next")
        if nxt:
            check("created=" + quote(expr, safe="") in nxt, "created=%s: next link lost the filter: %s" % (expr, nxt))
    status, _, _ = sim.api("/repos/%s/actions/runs?created=yesterday" % REPO)
    check(status == 422, "invalid created → 422, got %s" % status)
    for name, val in (("status", "in_progress"), ("status", "failure"), ("event", "schedule"), ("branch", "main")):
        _, _, d = api_json(sim, "/repos/%s/actions/runs?per_page=100&%s=%s" % (REPO, name, val))
        key = {"branch": "head_branch"}.get(name, name)
        exp = [r["id"] for r in runs if r[key] == val or (name == "status" and r["conclusion"] == val)]
        check(d["total_count"] == len(exp) and [r["id"] for r in d["workflow_runs"]] == exp[:100], "%s=%s filter" % (name, val))


def caps():
    with Sim({"caps": {"filtered": 50, "unfiltered": 120}, "repos": [{"full_name": REPO, "runs": 150, "jobs_max": 0}]}) as sim:
        status, h, d = api_json(sim, "/repos/%s/actions/runs?per_page=30&page=2&created=>2020-01-01" % REPO)
        check(status == 200 and len(d["workflow_runs"]) == 20, "filtered page 2 holds the 20 results up to the cap")
        check(d["total_count"] == 150, "filtered total_count stays the true count")
        check("next" not in links(h), "no next link at the filtered cap")
        status, h, d = api_json(sim, "/repos/%s/actions/runs?per_page=30&page=3&created=>2020-01-01" % REPO)
        check(status == 200 and d["workflow_runs"] == [] and d["total_count"] == 150, "filtered page beyond the cap is empty")
        status, _, d = api_json(sim, "/repos/%s/actions/runs?per_page=100&page=2" % REPO)
        check(status == 200 and len(d["workflow_runs"]) == 20, "unfiltered page up to the cap")
        status, _, d = api_json(sim, "/repos/%s/actions/runs?per_page=100&page=3" % REPO)
        check(status == 422 and "Pagination is limited" in d["message"], "unfiltered beyond the cap → 422")


def etag_304(sim):
    path = "/repos/%s/actions/runs?per_page=10" % REPO
    _, h1, b1 = sim.api(path)
    before = int(h1["x-ratelimit-remaining"])
    status, h2, b2 = sim.api(path, headers={"If-None-Match": h1["etag"]})
    check(status == 304 and b2 == b"", "If-None-Match → 304 with no body (got %s)" % status)
    check(h2.get("etag") == h1["etag"], "304 carries the ETag")
    check(int(h2["x-ratelimit-remaining"]) == before, "a 304 must not use rate-limit budget")
    status, h3, b3 = sim.api(path, headers={"If-None-Match": 'W/"0000"'})
    check(status == 200 and b3 == b1 and int(h3["x-ratelimit-remaining"]) == before - 1, "stale ETag → 200, uses 1")


def auth_404_gzip(sim):
    status, h, d = api_json(sim, "/repos/%s/actions/runs" % REPO, token="ghp_wrong")
    check(status == 401 and d == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, "bad token → 401")
    status, _, _ = sim.api("/repos/%s/actions/runs" % REPO, token=None)
    check(status == 401, "no token → 401")
    status, _, _ = sim.api("/repos/%s/actions/runs" % REPO, token=None, headers={"Authorization": "token " + TOKEN})
    check(status == 200, "'token X' scheme accepted")
    status, _, _ = sim.api("/repos/%s/actions/runs" % REPO, user_agent=None)
    check(status == 403, "missing User-Agent → 403")
    status, _, d = api_json(sim, "/repos/octo/missing/actions/runs")
    check(status == 404 and d["message"] == "Not Found" and "workflow-runs" in d["documentation_url"], "unknown repo → 404")
    status, _, _ = sim.api("/repos/%s/actions/runs/1/jobs" % REPO)
    check(status == 404, "unknown run → 404")
    status, _, d = api_json(sim, "/repos/weird-org/REPO.JS/actions/runs")
    check(status == 200 and d["total_count"] == 5, "owner/repo match case-insensitively")
    path = "/repos/%s/actions/runs?per_page=20" % REPO
    _, h, plain = sim.api(path)
    check("content-encoding" not in h, "no gzip unless asked")
    _, h, gz = sim.api(path, headers={"Accept-Encoding": "gzip, deflate"})
    check(h.get("content-encoding") == "gzip" and gzip.decompress(gz) == plain, "gzip body decompresses to the plain body")
    _, h, _ = sim.api("/repos/%s/actions/runs/1" % REPO, headers={"Accept-Encoding": "gzip"})
    check("content-encoding" not in h, "small bodies (< 1 KiB) are not compressed")


def primary_limit():
    with Sim({"rate_limit": {"limit": 5, "window_s": 2}, "repos": [{"full_name": REPO, "runs": 3}]}) as sim:
        for i in range(5):
            status, h, _ = sim.api("/repos/%s/actions/runs" % REPO)
            check(status == 200 and int(h["x-ratelimit-remaining"]) == 4 - i, "request %d within budget" % (i + 1))
        reset = int(h["x-ratelimit-reset"])
        status, h, d = api_json(sim, "/repos/%s/actions/runs" % REPO)
        check(status == 403 and d["message"].startswith("API rate limit exceeded"), "6th request → 403 (%s)" % status)
        check(h["x-ratelimit-remaining"] == "0" and int(h["x-ratelimit-reset"]) == reset, "403 headers")
        check("retry-after" not in h, "primary 403 has no Retry-After")
        check(sim.stats()["violations"] == 1, "the 403 counts as a violation")
        time.sleep(max(0, reset - time.time()) + 0.05)
        status, h, _ = sim.api("/repos/%s/actions/runs" % REPO)
        check(status == 200 and h["x-ratelimit-remaining"] == "4", "budget back after X-RateLimit-Reset")


def secondary_limit():
    sc = {"secondary": {"at_requests": [3], "retry_after": 1, "grace_ms": 50}, "repos": [{"full_name": REPO, "runs": 3}]}
    with Sim(sc) as sim:
        path = "/repos/%s/actions/runs" % REPO
        check(sim.api(path)[0] == 200 and sim.api(path)[0] == 200, "first requests fine")
        status, h, d = api_json(sim, path)
        check(status == 403 and h.get("retry-after") == "1" and "secondary rate limit" in d["message"], "3rd request → secondary 403")
        time.sleep(0.1)
        check(sim.api(path)[0] == 403, "request during Retry-After is refused")
        time.sleep(1.0)
        check(sim.api(path)[0] == 200, "after Retry-After the request passes")
        st = sim.stats()
        check(st["violations"] == 1 and st["secondary_answers"] == 2, "stats: %s" % st)
    with Sim({"secondary": {"max_concurrent": 2, "retry_after": 1}, "latency_ms": 300,
              "repos": [{"full_name": REPO, "runs": 3}]}) as sim:
        res = []
        ts = [threading.Thread(target=lambda: res.append(sim.api("/repos/%s/actions/runs/1" % REPO)[0])) for _ in range(3)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        check(sorted(res) == [403, 404, 404], "3 concurrent with max_concurrent 2 → one secondary 403: %s" % res)
        check(sim.stats()["violations"] == 1, "concurrency violation counted")
    with Sim({"secondary": {"per_minute": 3, "retry_after": 1, "status": 429, "send_retry_after": False},
              "repos": [{"full_name": REPO, "runs": 3}]}) as sim:
        got = [sim.api("/repos/%s/actions/runs" % REPO) for _ in range(4)]
        check([g[0] for g in got] == [200, 200, 200, 429], "per_minute 3: %s" % [g[0] for g in got])
        check("retry-after" not in got[3][1] and "secondary rate limit" in got[3][2].decode(), "429 without Retry-After")


def faults():
    sc = {"faults": [{"path_regex": "/jobs$", "status": 500, "times": 2}], "repos": [{"full_name": REPO, "runs": 3}]}
    with Sim(sc) as sim:
        rid = sim.truth(REPO)["runs"][0]["id"]
        path = "/repos/%s/actions/runs/%d/jobs" % (REPO, rid)
        got = [sim.api(path)[0] for _ in range(3)]
        check(got == [500, 500, 200], "500 twice then 200: %s" % got)
        sim.configure(faults=[{"path_regex": "/runs/%d/jobs" % rid, "kind": "reset", "times": 1},
                              {"path_regex": "/runs/%d$" % rid, "kind": "delay", "delay_ms": 300, "times": 1}])
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + TOKEN, "User-Agent": "t"})
            conn.getresponse().read()
            check(False, "reset fault answered")
        except (ConnectionError, http.client.HTTPException, OSError):
            pass
        conn.close()
        check(sim.api(path)[0] == 200, "after the reset the next request works")
        t0 = time.monotonic()
        check(sim.api("/repos/%s/actions/runs/%d" % (REPO, rid))[0] == 200 and time.monotonic() - t0 >= 0.3, "delay fault")
        log = sim.log()
        check([e["status"] for e in log] == [500, 500, 200, 0, 200, 200], "log statuses %s" % [e["status"] for e in log])


def jobs_pages(sim, truth):
    big = [r for r in truth["runs"] if len(truth["jobs"][str(r["id"])]) == 150]
    check(len(big) == 1, "one run with 150 jobs")
    rid = big[0]["id"]
    status, h, d = api_json(sim, "/repos/%s/actions/runs/%d/jobs?per_page=100&filter=latest" % (REPO, rid))
    check(status == 200 and d["total_count"] == 150 and len(d["jobs"]) == 100, "jobs page 1")
    nxt = links(h)["next"]
    check(nxt.endswith("/actions/runs/%d/jobs?per_page=100&filter=latest&page=2" % rid), "jobs next link %s" % nxt)
    status, h, d2 = api_json(sim, nxt)
    check(status == 200 and len(d2["jobs"]) == 50 and "next" not in links(h), "jobs page 2")
    check(d["jobs"] + d2["jobs"] == truth["jobs"][str(rid)], "jobs pages equal truth")
    check(len({j["name"] for j in d["jobs"] + d2["jobs"]}) == 150, "job names unique within the run")


def realism(truth):
    runs = truth["runs"]
    jobs = [j for r in runs for j in truth["jobs"][str(r["id"])]]
    steps = [s for j in jobs for s in j["steps"]]
    check(any(r["conclusion"] is None for r in runs), "a null conclusion")
    check({r["status"] for r in runs} == {"completed", "in_progress", "queued"}, "statuses")
    check(all((r["conclusion"] is None) == (r["status"] != "completed") for r in runs), "conclusion null iff unfinished")
    check(any(r["head_branch"] is None for r in runs), "a null head_branch")
    check(any(r["head_commit"] is None for r in runs), "a null head_commit")
    check(any(r["head_repository"] is None for r in runs), "a null head_repository")
    check(all(r["id"] > 2 ** 32 for r in runs) and all(j["id"] > 2 ** 32 for j in jobs), "ids > 2^32")
    retried = [r for r in runs if r.get("run_attempt", 1) > 1]
    check({r["run_attempt"] for r in retried} >= {2, 3}, "attempts 2 and 3")
    for r in retried:
        check(parse_ts(r["run_started_at"]) > parse_ts(r["created_at"]) and r["previous_attempt_url"]
              and r["previous_attempt_url"].endswith("/attempts/%d" % (r["run_attempt"] - 1)), "re-run %s shape" % r["id"])
    old = [r for r in runs if "name" not in r]
    check(old and all(not ({"actor", "run_attempt", "run_started_at", "triggering_actor", "display_title", "path"} & set(r)) for r in old),
          "old runs lack the post-2020 fields")
    check({r["event"] for r in runs} == {"push", "pull_request", "schedule", "workflow_dispatch", "release"}, "events")
    check({r["conclusion"] for r in runs} >= {"success", "failure", "cancelled", "skipped", "timed_out"}, "conclusions")
    check(any(r.get("actor", {}).get("login", "").endswith("[bot]") for r in runs), "a bot actor")
    names = {r.get("name") for r in runs} | {r["head_branch"] for r in runs}
    check(any(n and "," in n and '"' in n for n in names), "names with commas and quotes")
    check(any(n and "é" in n for n in names) and any(n and "🚀" in n for n in names), "é and emoji")
    check('feature/x,y "quoted"' in names, "the awkward branch")
    check(any(r["head_commit"] and "\n" in r["head_commit"]["message"] for r in runs), "a multi-line commit message")
    check(all(len(r["display_title"]) <= 71 for r in runs if "display_title" in r), "display_title truncated to 70 + …")
    check(any(len(truth["jobs"][str(r["id"])]) == 0 for r in runs), "a run with no jobs")
    check(any(re.fullmatch(r"test \(3\.\d+, \w+-\w+\)", j["name"]) for j in jobs), "matrix job names")
    check(any('"' in j["name"] and "," in j["name"] for j in jobs), "job names with quotes and commas")
    check(any(s["name"] == "Run actions/checkout@v4" for s in steps) and any('"' in s["name"] for s in steps), "step names")
    check(any(re.search(r"\.\d{3}[+-]\d{2}:\d{2}$", s["started_at"] or "") for s in steps), "step times with local offsets")
    check(any(re.search(r"\.\d{3}[+-]05:30$", s["started_at"] or "") for s in steps), "a half-hour offset")
    check(any(re.search(r"\.[1-9]\d{2}Z$|\.\d[1-9]\dZ$", s["started_at"] or "") for s in steps), "non-zero millis")
    check(any(re.search(r":\d\dZ$", s["started_at"] or "") for s in steps), "plain Z step times")
    check(any(s["conclusion"] == "skipped" and s["started_at"] is None for s in steps), "skipped step without times")
    check(any(s["conclusion"] == "skipped" and s["started_at"] and s["started_at"] == s["completed_at"] for s in steps), "skipped step, start == end")
    check(any(s["started_at"] and s["completed_at"] and parse_ts(s["completed_at"]) < parse_ts(s["started_at"]) for s in steps),
          "a step ending before it starts (seen in the recordings)")
    check(any(any(b - a > 1 for a, b in zip([s["number"] for s in j["steps"]], [s["number"] for s in j["steps"]][1:])) for j in jobs),
          "gaps in step numbers")
    check(any(j["status"] == "in_progress" and j["completed_at"] is None and j["conclusion"] is None for j in jobs), "in-progress jobs")
    check(any(j["status"] == "queued" and j["started_at"] is None and j["completed_at"] is None for j in jobs), "queued jobs")
    for r in runs:
        if r["status"] == "completed":
            for j in truth["jobs"][str(r["id"])]:
                check(j["status"] == "completed" and j["completed_at"], "completed run %s has unfinished job" % r["id"])
                check(parse_ts(j["completed_at"]) <= parse_ts(r["updated_at"]), "job ends after its run's updated_at")
    # the same fields, in the same order, as real recordings
    with open(shared_file(*FIXTURE_RUN), encoding="utf-8") as f:
        real = json.load(f)
    modern = [r for r in runs if "name" in r][0]
    check(list(modern) == list(real), "run keys differ from a real run:\n%s\n%s" % (list(modern), list(real)))
    check(list(modern["repository"]) == list(real["repository"]), "repository keys differ")
    check(list(modern["actor"]) == list(real["actor"]), "user object keys differ")
    check(list(modern["head_commit"]) == list(real["head_commit"]), "head_commit keys differ")
    with open(shared_file(*FIXTURE_JOBS), encoding="utf-8") as f:
        real = json.load(f)["jobs"][0]
    modern = [j for j in jobs if "workflow_name" in j and j["steps"]][0]
    check(list(modern) == list(real), "job keys differ from a real job:\n%s\n%s" % (list(modern), list(real)))
    check(list(modern["steps"][0]) == list(real["steps"][0]), "step keys differ")


def control(sim):
    before = sim.truth(REPO)
    newest = before["runs"][0]
    r = sim.post("/_sim/add_runs", {"repo": REPO, "count": 3})
    t = sim.truth(REPO)
    check(len(t["runs"]) == 253 and [x["id"] for x in t["runs"][:3]] == sorted(r["ids"], reverse=True), "add_runs on top")
    check(all(x["status"] == "completed" and parse_ts(x["created_at"]) >= parse_ts(newest["created_at"]) for x in t["runs"][:3]), "new runs completed and newer")
    _, _, d = api_json(sim, "/repos/%s/actions/runs?per_page=1" % REPO)
    check(d["total_count"] == 253 and d["workflow_runs"][0]["id"] == t["runs"][0]["id"], "page cache refreshed after add_runs")
    unfinished = [x for x in t["runs"] if x["status"] != "completed"]
    sim.post("/_sim/complete_runs", {"repo": REPO})
    t2 = sim.truth(REPO)
    byid = {x["id"]: x for x in t2["runs"]}
    for x in unfinished:
        y = byid[x["id"]]
        check(y["status"] == "completed" and y["conclusion"] and parse_ts(y["updated_at"]) > parse_ts(x["updated_at"]), "complete_runs %s" % x["id"])
        js = t2["jobs"][str(x["id"])]
        check(all(j["status"] == "completed" and j["conclusion"] and all(s["status"] == "completed" for s in j["steps"]) for j in js), "jobs completed")
        old_ids = [j["id"] for j in t["jobs"][str(x["id"])]]
        check([j["id"] for j in js] == old_ids, "job ids kept on completion")
    target = [x for x in t2["runs"] if x.get("run_attempt") == 1][5]
    sim.post("/_sim/rerun", {"repo": REPO, "id": target["id"]})
    t3 = sim.truth(REPO)
    y = [x for x in t3["runs"] if x["id"] == target["id"]][0]
    check(y["run_attempt"] == 2 and y["previous_attempt_url"].endswith("/attempts/1"), "rerun attempt")
    check(parse_ts(y["run_started_at"]) > parse_ts(target["updated_at"]) and parse_ts(y["updated_at"]) > parse_ts(y["run_started_at"]), "rerun times")
    check(y["created_at"] == target["created_at"], "rerun keeps created_at")
    new_jobs, old_jobs = t3["jobs"][str(y["id"])], t2["jobs"][str(y["id"])]
    check(len(new_jobs) == len(old_jobs), "rerun keeps the job count")
    check(not {j["id"] for j in new_jobs} & {j["id"] for j in old_jobs}, "rerun jobs get new ids")
    check(all(j["run_attempt"] == 2 for j in new_jobs), "rerun jobs carry the attempt")
    _, _, single = api_json(sim, "/repos/%s/actions/runs/%d" % (REPO, y["id"]))
    check(single["run_attempt"] == 2, "served run reflects the rerun")


def log_and_stats(sim):
    sim.reset_stats()
    sim.api("/repos/%s/actions/runs?per_page=2&page=1" % REPO, headers={"X-GitHub-Api-Version": "2022-11-28", "Accept-Encoding": "gzip"})
    sim.api("/repos/%s/actions/runs" % REPO, token="ghp_secret_should_not_be_logged")
    log = sim.log()
    check(len(log) == 2, "log has the two requests")
    e = log[0]
    check(set(e) >= {"seq", "method", "path", "query", "status", "t_start", "t_end", "in_flight", "token_ok", "headers"}, "log keys %s" % sorted(e))
    check(e["query"] == {"per_page": "2", "page": "1"} and e["status"] == 200 and e["token_ok"] is True, "log entry %s" % e)
    check(e["headers"].get("x-github-api-version") == "2022-11-28" and e["headers"].get("accept-encoding") == "gzip", "logged headers")
    check(e["t_end"] >= e["t_start"] and log[1]["token_ok"] is False, "times and token_ok")
    check("ghp_secret_should_not_be_logged" not in json.dumps(log), "Authorization must never be logged")
    with open(sim.log_path) as f:
        check("ghp_secret" not in f.read(), "log file holds no token")
    st = sim.stats()
    check(st["requests"] == 2 and st["by_status"] == {"200": 1, "401": 1}, "stats %s" % st)


def throughput(sim, truth):
    """~1000 requests/s with a few keep-alive clients; concurrency is recorded."""
    sim.reset_stats()
    ids = [r["id"] for r in truth["runs"]]
    n_threads, per_thread = 8, 150
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        h = {"Authorization": "Bearer " + TOKEN, "User-Agent": "bench", "Accept-Encoding": "gzip"}
        for i in range(per_thread):
            conn.request("GET", "/repos/%s/actions/runs/%d/jobs?per_page=100&filter=latest" % (REPO, ids[(k * per_thread + i) % len(ids)]), headers=h)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
        conn.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    rate = n_threads * per_thread / (time.monotonic() - t0)
    print("       throughput: %.0f requests/s" % rate)
    check(not errors, "errors under load: %s" % collections.Counter(errors))
    check(rate > 300, "simulator too slow: %.0f requests/s" % rate)
    st = sim.stats()
    check(1 < st["max_in_flight"] <= n_threads, "max_in_flight %s" % st["max_in_flight"])


def determinism(truth):
    with Sim(MAIN) as other:
        check(json.dumps(other.truth(REPO), sort_keys=True) == json.dumps(truth, sort_keys=True), "same scenario → same data")
    with Sim(dict(MAIN, repos=[dict(MAIN["repos"][0], seed=2)])) as other:
        check(other.truth(REPO)["runs"][0]["head_sha"] != truth["runs"][0]["head_sha"] or
              other.truth(REPO)["runs"] != truth["runs"], "another seed → other data")


@scenario("simulator self-test")
def main():
    with Sim(MAIN) as sim:
        truth = sim.truth(REPO)
        with case("pagination, Link, envelopes"):
            pagination(sim, truth)
        with case("created/status/event/branch filters"):
            created_filters(sim, truth)
        with case("jobs pages (150 jobs)"):
            jobs_pages(sim, truth)
        with case("payload realism"):
            realism(truth)
        with case("ETag / 304"):
            etag_304(sim)
        with case("auth, 404, user agent, gzip"):
            auth_404_gzip(sim)
        with case("request log and stats"):
            log_and_stats(sim)
        with case("throughput"):
            throughput(sim, truth)
        with case("determinism"):
            determinism(truth)
        with case("control endpoints"):
            control(sim)
        proc = sim.proc
    check(proc.returncode == 0, "SIGTERM → clean exit 0, got %s" % proc.returncode)
    with case("result caps"):
        caps()
    with case("primary rate limit"):
        primary_limit()
    with case("secondary rate limits"):
        secondary_limit()
    with case("faults"):
        faults()


if __name__ == "__main__":
    main()
