#!/usr/bin/env python3
"""The simulator's GraphQL API (POST /graphql) behaves like GitHub's over the same data as
REST (no ghaminer binary needed).

Parsing and validation errors, GitHub's pre-execution limits (first/last, the node limit)
and cost formula, paging check runs and steps with cursors to completion (equal to REST's
jobs, quirky timestamps included, for runs of 0, 1, 45, 150 and 260 jobs), LATEST vs ALL on
re-run runs, NOT_FOUND, the points budget and its headers, RATE_LIMITED (200 and 403),
secondary limits, faults, the scope error, a disabled endpoint, the timeout, the mismatch
knob, /api/graphql and /api/v3, the request log and stats."""

import gzip
import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sim, TOKEN, case, check, scenario  # noqa: E402

REPO = "octo/hello"
MAIN = {"repos": [{"full_name": REPO, "runs": 60, "seed": 3, "in_progress": 2, "queued": 1,
                   "big_runs": {"5": 0, "6": 1, "7": 45, "8": 150, "9": 260}}]}

STEP_FIELDS = "name status conclusion number startedAt completedAt"
RUN_FIELDS = "id databaseId name status conclusion startedAt completedAt"
RATE = "rateLimit { cost remaining resetAt limit used nodeCount }"
# the miner's three queries
Q_BATCH = """query($ids: [ID!]!, $first: Int!, $steps: Int!) {
  %s
  nodes(ids: $ids) { ... on CheckSuite { id checkRuns(first: $first, filterBy: {checkType: LATEST}) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { %s
      steps(first: $steps) { totalCount pageInfo { hasNextPage endCursor }
        nodes { %s } } } } } }
}""" % (RATE, RUN_FIELDS, STEP_FIELDS)
Q_SUITE = """query($id: ID!, $first: Int!, $after: String, $steps: Int!) { %s
  node(id: $id) { ... on CheckSuite { checkRuns(first: $first, after: $after, filterBy: {checkType: LATEST}) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { %s steps(first: $steps) { totalCount pageInfo { hasNextPage endCursor } nodes { %s } } } } } } }
""" % (RATE, RUN_FIELDS, STEP_FIELDS)
Q_STEPS = """query($id: ID!, $first: Int!, $after: String) { %s
  node(id: $id) { ... on CheckRun { steps(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { %s } } } } }
""" % (RATE, STEP_FIELDS)
Q_ALL = """query($id: ID!, $type: CheckRunType, $after: String) {
  node(id: $id) { ... on CheckSuite { checkRuns(first: 100, after: $after, filterBy: {checkType: $type}) {
    totalCount pageInfo { hasNextPage endCursor } nodes { %s steps(first: 50) { nodes { %s } } } } } } }
""" % (RUN_FIELDS, STEP_FIELDS)
MSG_RATE = "API rate limit exceeded for user ID 1."


def gql(sim, query, variables=None, *, path="/graphql", token=TOKEN, headers=None, raw=None):
    """POST a GraphQL request → (status, headers (lower-case), JSON body or None)."""
    h = {"User-Agent": "ghsim-selftest", "Content-Type": "application/json"}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    body = raw if raw is not None else json.dumps({"query": query, "variables": variables or {}}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=h)
        r = conn.getresponse()
        hd = {k.lower(): v for k, v in r.getheaders()}
        data = r.read()
        if hd.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return r.status, hd, (json.loads(data) if data else None)
    finally:
        conn.close()


def ok(sim, query, variables=None, **kw):
    status, h, d = gql(sim, query, variables, **kw)
    check(status == 200 and "errors" not in d, "query failed: %s %s" % (status, json.dumps(d)[:600]))
    return h, d["data"]


def check_budget_headers(h, where, limit=None):
    for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"):
        check(re.fullmatch(r"\d+", h.get(k, "")), "%s: header %s is %r" % (where, k, h.get(k)))
    check(h.get("x-ratelimit-resource") == "graphql", "%s: X-RateLimit-Resource %r" % (where, h.get("x-ratelimit-resource")))
    check(int(h["x-ratelimit-used"]) + int(h["x-ratelimit-remaining"]) == int(h["x-ratelimit-limit"]),
          "%s: used + remaining != limit" % where)
    if limit is not None:
        check(int(h["x-ratelimit-limit"]) == limit, "%s: limit %s" % (where, h["x-ratelimit-limit"]))


def rest_jobs(sim, run_id, filt="latest"):
    """A run's jobs through REST, every page."""
    out, url = [], "/repos/%s/actions/runs/%d/jobs?per_page=100&filter=%s" % (REPO, run_id, filt)
    while url:
        status, h, body = sim.api(url)
        check(status == 200, "REST jobs %s: %s" % (url, status))
        out += json.loads(body)["jobs"]
        m = re.search(r'<([^>]+)>; rel="next"', h.get("link", ""))
        url = m.group(1) if m else None
    return out


def up(v):
    return v.upper() if v is not None else None


def expected(job):
    """A REST job as the check run GraphQL must give."""
    return {"id": job["node_id"], "databaseId": job["id"], "name": job["name"], "status": up(job["status"]),
            "conclusion": up(job["conclusion"]), "startedAt": job["started_at"],
            "completedAt": job["completed_at"],
            "steps": [{"name": s["name"], "status": up(s["status"]), "conclusion": up(s["conclusion"]),
                       "number": s["number"], "startedAt": s["started_at"], "completedAt": s["completed_at"]}
                      for s in job["steps"]]}


def flat(runs):
    """Check runs of Q_ALL (steps { nodes }) in expected()'s shape."""
    return [dict(r, steps=r["steps"]["nodes"]) for r in runs]


def page_steps(sim, run_id_node, conn, size):
    """The rest of a check run's steps, after the page conn, through Q_STEPS."""
    steps = list(conn["nodes"])
    info = conn["pageInfo"]
    while info["hasNextPage"]:
        _, d = ok(sim, Q_STEPS, {"id": run_id_node, "first": size, "after": info["endCursor"]})
        c = d["node"]["steps"]
        check(c["totalCount"] == conn["totalCount"], "steps totalCount changed while paging")
        steps += c["nodes"]
        info = c["pageInfo"]
    check(len(steps) == conn["totalCount"], "steps paged: %d of totalCount %d" % (len(steps), conn["totalCount"]))
    return steps


def collect_runs(sim, suite_id, conn, first, steps_size):
    """A check suite's check runs, paging checkRuns (Q_SUITE) and steps (Q_STEPS)."""
    runs = list(conn["nodes"])
    info = conn["pageInfo"]
    while info["hasNextPage"]:
        _, d = ok(sim, Q_SUITE, {"id": suite_id, "first": first, "after": info["endCursor"], "steps": steps_size})
        c = d["node"]["checkRuns"]
        check(c["totalCount"] == conn["totalCount"], "checkRuns totalCount changed while paging")
        runs += c["nodes"]
        info = c["pageInfo"]
    check(len(runs) == conn["totalCount"], "check runs paged: %d of totalCount %d" % (len(runs), conn["totalCount"]))
    out = []
    for r in runs:
        r = dict(r)
        r["steps"] = page_steps(sim, r["id"], r["steps"], steps_size)
        out.append(r)
    return out


# --------------------------------------------------------------------------------------

def data_equals_rest(sim, truth):
    runs = truth["runs"]
    suites = [r["check_suite_node_id"] for r in runs]
    check(all(isinstance(s, str) and s.startswith("CS_kwDO") for s in suites), "check_suite_node_id on every run")
    check(all(list(r).index("check_suite_node_id") == list(r).index("check_suite_id") + 1 for r in runs),
          "check_suite_node_id right after check_suite_id")
    got = {}
    for k in range(0, len(suites), 50):
        batch = suites[k:k + 50]
        h, d = ok(sim, Q_BATCH, {"ids": batch, "first": 20, "steps": 50})
        check_budget_headers(h, "batch")
        if len(batch) == 50:   # 50 + 50·20 = 1,050 requests → 11 points
            check(d["rateLimit"]["cost"] == 11, "50 ids × checkRuns(20) × steps(50) cost %s, expected 11" % d["rateLimit"]["cost"])
            check(d["rateLimit"]["nodeCount"] == 50 * 20 + 50 * 20 * 50, "nodeCount %s" % d["rateLimit"]["nodeCount"])
        for sid, node in zip(batch, d["nodes"]):
            check(node is not None and node["id"] == sid, "suite %s answered as %s" % (sid, node and node["id"]))
            got[sid] = collect_runs(sim, sid, node["checkRuns"], 100, 50)
    sizes = set()
    for r in runs:
        rest = rest_jobs(sim, r["id"])
        check(rest == truth["jobs"][str(r["id"])], "REST jobs of run %d differ from the truth" % r["id"])
        exp = [expected(j) for j in rest]
        g = got[r["check_suite_node_id"]]
        if g != exp:
            diff = next((i for i, (a, b) in enumerate(zip(g, exp)) if a != b), min(len(g), len(exp)))
            check(False, "run %d (%d jobs): GraphQL differs from REST at check run %d:\n%s\n%s" % (
                r["id"], len(exp), diff, json.dumps(g[diff:diff + 1])[:800], json.dumps(exp[diff:diff + 1])[:800]))
        sizes.add(len(exp))
    check({0, 1, 45, 150, 260} <= sizes, "job counts covered: %s" % sorted(sizes))
    # the quirks came through as the very same strings
    times = [t for jobs in got.values() for j in jobs for s in j["steps"] for t in (s["startedAt"], s["completedAt"]) if t]
    check(any(t.endswith("+05:30") for t in times), "a +05:30 step time")
    check(any(re.search(r"\.\d{3}Z$", t) for t in times), "a .mmmZ step time")
    check(any(s["completedAt"] and s["startedAt"] and s["completedAt"] < s["startedAt"]
              for jobs in got.values() for j in jobs for s in j["steps"]), "a step that ends before it starts")
    statuses = {j["status"] for jobs in got.values() for j in jobs}
    check({"COMPLETED", "IN_PROGRESS", "QUEUED"} <= statuses, "check run statuses %s" % statuses)
    check(any(j["conclusion"] is None for jobs in got.values() for j in jobs), "a null conclusion")


def step_paging(sim, truth):
    run = next(r for r in truth["runs"] if len(truth["jobs"][str(r["id"])]) == 45)
    h, d = ok(sim, Q_SUITE, {"id": run["check_suite_node_id"], "first": 7, "after": None, "steps": 2})
    conn = d["node"]["checkRuns"]
    check(conn["totalCount"] == 45 and len(conn["nodes"]) == 7 and conn["pageInfo"]["hasNextPage"], "first page of 7")
    got = collect_runs(sim, run["check_suite_node_id"], conn, 7, 2)
    check(got == [expected(j) for j in truth["jobs"][str(run["id"])]], "paging by 7 check runs and 2 steps ≠ REST")
    # last/before, edges and cursors
    q = """query($id: ID!) { node(id: $id) { ... on CheckSuite { checkRuns(last: 3) {
      edges { cursor node { databaseId } } pageInfo { hasPreviousPage hasNextPage startCursor } } } } }"""
    _, d = ok(sim, q, {"id": run["check_suite_node_id"]})
    c = d["node"]["checkRuns"]
    check([e["node"]["databaseId"] for e in c["edges"]] == [j["id"] for j in truth["jobs"][str(run["id"])][-3:]], "last: 3")
    check(c["pageInfo"]["hasPreviousPage"] and not c["pageInfo"]["hasNextPage"], "last: 3 pageInfo")
    check(all(isinstance(e["cursor"], str) for e in c["edges"]), "edge cursors are strings")
    status, _, d = gql(sim, Q_STEPS, {"id": conn["nodes"][0]["id"], "first": 2, "after": "not-a-cursor"})
    check(status == 200 and d["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS", "bad cursor: %s" % d)
    # steps(number:)
    job = truth["jobs"][str(run["id"])][0]
    q = "query($id: ID!, $n: Int) { node(id: $id) { ... on CheckRun { steps(first: 5, number: $n) { totalCount nodes { number name } } } } }"
    _, d = ok(sim, q, {"id": job["node_id"], "n": job["steps"][-1]["number"]})
    check(d["node"]["steps"]["nodes"] == [{"number": job["steps"][-1]["number"], "name": job["steps"][-1]["name"]}], "steps(number:)")


def latest_vs_all(sim, truth):
    born = [r for r in truth["runs"] if r.get("run_attempt", 1) > 1 and truth["jobs"][str(r["id"])]]
    check(born, "no run with run_attempt > 1 and jobs")
    target = next(r for r in truth["runs"] if r.get("run_attempt") == 1 and len(truth["jobs"][str(r["id"])]) >= 2)
    before_latest = rest_jobs(sim, target["id"])
    sim.post("/_sim/rerun", {"repo": REPO, "id": target["id"]})
    rerun = sim.get("/_sim/truth?repo=%s&ids=%d" % (REPO, target["id"]))["runs"][0]
    check(rerun["run_attempt"] == 2, "rerun → attempt 2")
    all_truth = sim.get("/_sim/truth?repo=%s&filter=all&ids=%s" % (REPO, ",".join(str(r["id"]) for r in born + [rerun])))["jobs"]
    for r in born + [rerun]:
        n_att = r["run_attempt"]
        latest, every = rest_jobs(sim, r["id"]), rest_jobs(sim, r["id"], "all")
        check(every == all_truth[str(r["id"])], "REST filter=all ≠ truth filter=all")
        check(len(every) == n_att * len(latest) and every[-len(latest):] == latest,
              "run %d: filter=all has %d jobs for %d attempts of %d" % (r["id"], len(every), n_att, len(latest)))
        check(sorted({j["run_attempt"] for j in every}) == list(range(1, n_att + 1)), "attempts in filter=all")
        check(len({j["id"] for j in every}) == len(every), "job ids unique across attempts")
        for typ, exp in (("LATEST", latest), ("ALL", every), (None, latest)):
            _, d = ok(sim, Q_ALL, {"id": r["check_suite_node_id"], "type": typ})
            c = d["node"]["checkRuns"]
            check(c["totalCount"] == len(exp), "%s totalCount %d, expected %d" % (typ, c["totalCount"], len(exp)))
            check(flat(c["nodes"]) == [expected(j) for j in exp], "checkType %s ≠ REST for run %d" % (typ, r["id"]))
    # the replaced attempt is served as it was (now as filter=all's first part)
    every = rest_jobs(sim, target["id"], "all")
    check([j["id"] for j in every[:len(before_latest)]] == [j["id"] for j in before_latest],
          "the first attempt's jobs changed with the re-run")
    # the old check suite id still names the run
    _, d = ok(sim, "query($id: ID!) { node(id: $id) { ... on CheckSuite { databaseId } } }",
              {"id": target["check_suite_node_id"]})
    check(d["node"] is not None, "the pre-rerun check suite id no longer resolves")


def validation(sim, truth):
    suite = truth["runs"][0]["check_suite_node_id"]
    used0 = int(gql(sim, "{ rateLimit { used } }")[1]["x-ratelimit-used"])
    cases = [
        ("{ nodes(ids: [\"x\"]) { ... on CheckSuite { id ", None, r"Syntax Error|Expected"),
        ("{ node(id: \"x\") { ... on CheckSuite { bogus } } }", None, r"^Field 'bogus' doesn't exist on type 'CheckSuite'$"),
        ("{ node(id: \"x\") { ... on CheckSuite { checkRuns(first: 1, colour: 2) { totalCount } } } }", None,
         r"^Field 'checkRuns' doesn't accept argument 'colour'$"),
        ("query($first: Int!) { node(id: \"x\") { id } }", None, r"\$first"),   # unused variable
        ("query($id: ID!) { node(id: $id) { id } }", {"id": [1, 2]}, r"\$id"),   # wrong variable type
        ("query($id: ID!) { node(id: $id) { id } }", {}, r"\$id"),               # missing variable
        ("{ node(id: \"x\") { ... on CheckSuite { checkRuns(first: 1, filterBy: {checkType: NEWEST}) { totalCount } } } }",
         None, r"NEWEST"),
        ("{ node(id: \"x\") { ... on CheckRun { steps(first: 1) { nodes { status(x: 1) } } } } }", None, r"argument 'x'"),
        ("mutation { node(id: \"x\") { id } }", None, r"mutation"),
    ]
    for q, v, pattern in cases:
        status, h, d = gql(sim, q, v)
        check(status == 200 and list(d) == ["errors"], "%r: %s %s" % (q, status, d))
        check(any(re.search(pattern, e["message"]) for e in d["errors"]), "%r: messages %s" % (q, d["errors"]))
        check_budget_headers(h, q)
        if pattern not in ("mutation",):
            check(all(isinstance(e.get("locations"), list) for e in d["errors"] if "Variable" not in e["message"]
                      and "mutation" not in e["message"]), "%r: locations %s" % (q, d["errors"]))
    status, _, d = gql(sim, None, raw=json.dumps({"variables": {}}).encode())
    check(status == 200 and d == {"errors": [{"message": "A query attribute must be specified and must be a string."}]},
          "no query: %s" % d)
    status, _, d = gql(sim, None, raw=b"{not json")
    check(status == 400 and d["message"] == "Problems parsing JSON", "bad JSON: %s %s" % (status, d))
    # GitHub's limits, before execution and free of charge
    limits = [
        ("{ node(id: \"%s\") { ... on CheckSuite { checkRuns(first: 101) { totalCount } } } }" % suite,
         "EXCESSIVE_PAGINATION", "Requesting 101 records on the `checkRuns` connection exceeds the `first` limit of 100 records.",
         ["node", "checkRuns"]),
        ("{ node(id: \"%s\") { ... on CheckSuite { checkRuns(last: 500) { totalCount } } } }" % suite,
         "EXCESSIVE_PAGINATION", "Requesting 500 records on the `checkRuns` connection exceeds the `last` limit of 100 records.",
         ["node", "checkRuns"]),
        ("{ n: node(id: \"%s\") { ... on CheckSuite { checkRuns { totalCount } } } }" % suite,
         "MISSING_PAGINATION_BOUNDARIES",
         "You must provide a `first` or `last` value to properly paginate the `checkRuns` connection.", ["n", "checkRuns"]),
        ("{ node(id: \"%s\") { ... on CheckSuite { checkRuns(first: 1) { nodes { steps { totalCount } } } } } }" % suite,
         "MISSING_PAGINATION_BOUNDARIES",
         "You must provide a `first` or `last` value to properly paginate the `steps` connection.",
         ["node", "checkRuns", "nodes", "steps"]),
    ]
    for q, etype, msg, path in limits:
        status, _, d = gql(sim, q)
        e = d["errors"][0]
        check(status == 200 and len(d["errors"]) == 1 and "data" not in d, "%s: %s" % (etype, d))
        check((e["type"], e["message"], e["path"]) == (etype, msg, path), "%s: %s" % (etype, e))
        check(e["locations"][0]["line"] == 1, "%s locations %s" % (etype, e["locations"]))
    ids = json.dumps([suite] * 100)
    q = "{ nodes(ids: %s) { ... on CheckSuite { checkRuns(first: 100) { nodes { steps(first: 51) { totalCount } } } } } }" % ids
    status, _, d = gql(sim, q)
    check(d["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED" and "520,000 possible nodes" in d["errors"][0]["message"]
          and "500,000" in d["errors"][0]["message"], "node limit: %s" % d)
    q = "{ nodes(ids: %s) { id } }" % json.dumps([suite] * 101)
    check(gql(sim, q)[2]["errors"][0]["type"] == "ARGUMENT_LIMIT", "101 ids")
    used1 = int(gql(sim, "{ rateLimit(dryRun: true) { used } }")[1]["x-ratelimit-used"])
    check(used1 == used0, "invalid queries were charged: used %d → %d" % (used0, used1))


def costs(sim, truth):
    suites = [r["check_suite_node_id"] for r in truth["runs"]]
    shapes = [
        # (query, variables, cost, nodeCount)
        ("{ rateLimit { cost nodeCount } }", None, 1, 0),
        # 1 + 100 = 101 requests → 1 point; 100 + 100·100 nodes
        ("query($id: ID!) { rateLimit { cost nodeCount } node(id: $id) { ... on CheckSuite { checkRuns(first: 100) "
         "{ nodes { steps(first: 100) { totalCount } } } } } }", {"id": suites[0]}, 1, 10100),
        # 50 + 50·20 = 1,050 requests → 10.5 → 11 points (half up)
        (Q_BATCH, {"ids": suites[:50], "first": 20, "steps": 50}, 11, 51000),
        # 100 + 100·100 = 10,100 requests → 101 points; 10,000 + 400,000 nodes
        ("query($ids: [ID!]!) { rateLimit { cost nodeCount } nodes(ids: $ids) { ... on CheckSuite { checkRuns(first: 100) "
         "{ nodes { steps(first: 40) { totalCount } } } } } }", {"ids": (suites * 2)[:100]}, 101, 410000),
        # the same connection selected twice under one key counts once; edges count as nodes
        ("query($ids: [ID!]!) { rateLimit { cost nodeCount } nodes(ids: $ids) { ... on CheckSuite { checkRuns(first: 10) "
         "{ totalCount } checkRuns(first: 10) { edges { node { steps(first: 5) { totalCount } } } } } } }",
         {"ids": suites[:30]}, 3, 300 + 1500),
        # an abstract type counts its most expensive possible type
        ("query($ids: [ID!]!) { rateLimit { cost nodeCount } nodes(ids: $ids) { ... on CheckSuite { checkRuns(first: 2) "
         "{ totalCount } } ... on CheckRun { steps(first: 60) { totalCount } } } }", {"ids": suites[:10]}, 1, 600),
    ]
    for q, v, cost, nodes in shapes:
        h0 = gql(sim, "{ rateLimit(dryRun: true) { used } }")[1]
        h, d = ok(sim, q, v)
        check((d["rateLimit"]["cost"], d["rateLimit"]["nodeCount"]) == (cost, nodes),
              "cost/nodeCount %s/%s, expected %s/%s for %s" % (d["rateLimit"]["cost"], d["rateLimit"]["nodeCount"], cost, nodes, q[:80]))
        check(int(h["x-ratelimit-used"]) == int(h0["x-ratelimit-used"]) + cost, "charged %s for cost %d"
              % (int(h["x-ratelimit-used"]) - int(h0["x-ratelimit-used"]), cost))
    # dryRun: the cost without spending it, and nothing else evaluated
    h0 = gql(sim, "{ rateLimit(dryRun: true) { used } }")[1]
    h, d = ok(sim, Q_BATCH.replace("rateLimit {", "rateLimit(dryRun: true) {"), {"ids": suites[:50], "first": 20, "steps": 50})
    check(d["rateLimit"]["cost"] == 11 and d["nodes"] == [], "dryRun: %s" % json.dumps(d)[:300])
    check(h["x-ratelimit-used"] == h0["x-ratelimit-used"], "dryRun spent points")
    check(d["rateLimit"]["used"] == int(h["x-ratelimit-used"]) and
          d["rateLimit"]["remaining"] == int(h["x-ratelimit-remaining"]) and d["rateLimit"]["limit"] == 5000,
          "rateLimit object vs headers: %s %s" % (d["rateLimit"], h))
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["rateLimit"]["resetAt"]), "resetAt %r" % d["rateLimit"]["resetAt"])


def errors_and_knobs(sim, truth):
    runs = truth["runs"]
    ids = [runs[0]["check_suite_node_id"], "CS_kwDOnope", runs[1]["check_suite_node_id"]]
    q = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on CheckSuite { databaseId } } }"
    status, _, d = gql(sim, q, {"ids": ids})
    check(status == 200 and d["data"]["nodes"][1] is None and d["data"]["nodes"][0]["databaseId"] == runs[0]["check_suite_id"]
          and d["data"]["nodes"][2]["id"] == ids[2], "NOT_FOUND data: %s" % d)
    check(d["errors"] == [{"type": "NOT_FOUND", "path": ["nodes", 1], "locations": [{"line": 1, "column": 23}],
                           "message": "Could not resolve to a node with the global id of 'CS_kwDOnope'"}], "NOT_FOUND: %s" % d["errors"])
    _, _, d = gql(sim, "{ node(id: \"CR_kwDOAAAAAAAAAAE\") { id } }")
    check(d["data"] == {"node": None} and d["errors"][0]["path"] == ["node"], "node NOT_FOUND: %s" % d)
    # a check run id resolves as a CheckRun; a fragment on the other type selects nothing
    job = truth["jobs"][str(runs[0]["id"])][0] if truth["jobs"][str(runs[0]["id"])] else None
    job = job or next(j[0] for j in truth["jobs"].values() if j)
    _, d = ok(sim, "query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on CheckRun { databaseId checkSuite { databaseId } } } }",
              {"ids": [job["node_id"], runs[0]["check_suite_node_id"]]})
    check(d["nodes"][0]["__typename"] == "CheckRun" and d["nodes"][0]["databaseId"] == job["id"] and
          d["nodes"][1] == {"__typename": "CheckSuite"}, "node types: %s" % d)
    # scope error: FORBIDDEN for every node, the rest answered
    sim.configure(graphql={"scope_error": True})
    status, _, d = gql(sim, "query($ids: [ID!]!) { rateLimit { limit } nodes(ids: $ids) { id } }", {"ids": ids[:2]})
    check(status == 200 and d["data"]["nodes"] == [None, None] and d["data"]["rateLimit"]["limit"] == 5000, "scope: %s" % d)
    check([(e["type"], e["path"], e["message"]) for e in d["errors"]] ==
          [("FORBIDDEN", ["nodes", 0], "Resource not accessible by integration"),
           ("FORBIDDEN", ["nodes", 1], "Resource not accessible by integration")], "scope errors %s" % d["errors"])
    sim.configure(graphql={"scope_error": False})
    # mismatch: one field of the run's first job differs from REST
    target = next(r for r in runs if r["status"] == "completed" and len(truth["jobs"][str(r["id"])]) >= 2)
    other = next(r for r in runs if r is not target and truth["jobs"][str(r["id"])])
    exp = [expected(j) for j in truth["jobs"][str(target["id"])]]
    for knob, field, want in (([target["id"]], "name", exp[0]["name"] + " (graphql)"),
                              ([{"run": target["id"], "field": "conclusion"}], "conclusion", None),
                              ([{"run": target["id"], "field": "step_name"}], None, None),
                              ([{"run": target["id"], "field": "drop_job"}], None, None)):
        sim.configure(graphql={"mismatch": knob})
        got = flat(ok(sim, Q_ALL, {"id": target["check_suite_node_id"], "type": "LATEST"})[1]["node"]["checkRuns"]["nodes"])
        check(got != exp, "mismatch %s: no difference" % knob)
        if knob[0] == target["id"]:
            check(got[0]["name"] == want and got[1:] == exp[1:] and dict(got[0], name=exp[0]["name"]) == exp[0],
                  "mismatch name: %s" % got[0])
        elif "drop_job" in str(knob):
            check(got == exp[1:], "mismatch drop_job")
        else:
            diff = [k for k in exp[0] if got[0][k] != exp[0][k]]
            check(len(diff) == 1 and got[1:] == exp[1:], "mismatch %s changed %s" % (knob, diff))
        o = flat(ok(sim, Q_ALL, {"id": other["check_suite_node_id"], "type": "LATEST"})[1]["node"]["checkRuns"]["nodes"])
        check(o == [expected(j) for j in truth["jobs"][str(other["id"])]], "mismatch leaked into another run")
    sim.configure(graphql={"mismatch": []})
    check(flat(ok(sim, Q_ALL, {"id": target["check_suite_node_id"], "type": "LATEST"})[1]["node"]["checkRuns"]["nodes"]) == exp,
          "mismatch off")
    # auth, method, paths, gzip
    status, h, d = gql(sim, "{ rateLimit { cost } }", token=None)
    check(status == 401 and d["message"] == "This endpoint requires you to be authenticated.", "no token: %s %s" % (status, d))
    status, _, d = gql(sim, "{ rateLimit { cost } }", token="ghp_wrong")
    check(status == 401 and d["message"] == "Bad credentials", "bad token: %s %s" % (status, d))
    status, h, d = gql(sim, "{ rateLimit { limit } }", path="/api/graphql")
    check(status == 200 and d["data"]["rateLimit"]["limit"] == 5000, "/api/graphql: %s %s" % (status, d))
    check_budget_headers(h, "/api/graphql")
    status, h, body = sim.api("/api/v3/repos/%s/actions/runs?per_page=2" % REPO)
    check(status == 200 and json.loads(body)["workflow_runs"][0]["id"] == runs[0]["id"], "REST under /api/v3: %s" % status)
    check("127.0.0.1:%d/api/v3/repositories/" % sim.port in h.get("link", ""), "Link under /api/v3: %s" % h.get("link"))
    status, h, d = gql(sim, Q_BATCH, {"ids": [r["check_suite_node_id"] for r in runs[:20]], "first": 20, "steps": 50},
                       headers={"Accept-Encoding": "gzip"})
    check(status == 200 and h.get("content-encoding") == "gzip" and "etag" not in h, "gzip GraphQL answer: %s" % h)


def log_and_stats(sim):
    sim.stats()           # waits for answers still being logged, which a reset would not clear
    sim.reset_stats()
    gql(sim, "{ rateLimit { cost } }")
    gql(sim, "{ bogus }")
    st = sim.stats()
    log = [e for e in sim.log() if e.get("resource") == "graphql"]
    check(len(log) == 2 and all(e["method"] == "POST" and e["path"] == "/graphql" for e in log), "log: %s" % log)
    check([e["cost"] for e in log] == [1, 0] and [e["charged"] for e in log] == [1, 0], "log costs %s" % log)
    check(log[1]["gql_errors"] == ["INVALID"] and log[0]["rl"]["used"] >= 1, "log errors/rl: %s" % log)
    check(st["graphql_points"] == 1 and st["graphql_requests"] == 2, "stats %s" % st)
    w = [x for x in st["windows"] if x["resource"] == "graphql"]
    check(len(w) == 1 and w[0]["limit"] == 5000 and w[0]["used"] >= 1, "graphql windows %s" % st["windows"])
    check(all(x["resource"] in ("core", "graphql") for x in st["windows"]), "windows carry a resource")
    status, _, body = sim.api("/rate_limit")
    res = json.loads(body)["resources"]
    check(status == 200 and res["graphql"]["used"] == w[0]["used"] and res["graphql"]["limit"] == 5000 and
          res["graphql"]["reset"] == w[0]["reset"] and res["graphql"]["resource"] == "graphql", "/rate_limit: %s" % res)


def limits():
    """The points budget (shared and per token), RATE_LIMITED both ways, secondary limits,
    faults, the timeout and a disabled endpoint."""
    sc = {"repos": [{"full_name": REPO, "runs": 60, "seed": 3}],
          "graphql": {"limit": 30, "timeout_nodes": 5000, "timeout_ms": 300},
          "secondary": {"retry_after": 1, "grace_ms": 0}}
    with Sim(sc) as sim:
        suites = [r["check_suite_node_id"] for r in sim.get("/_sim/truth?repo=%s&jobs=0" % REPO)["runs"]]
        v = {"ids": suites[:50], "first": 20, "steps": 1}          # 11 points, 2,050 nodes
        h, _ = ok(sim, Q_BATCH, v)
        check_budget_headers(h, "budget", limit=30)
        check(h["x-ratelimit-used"] == "11", "used %s" % h["x-ratelimit-used"])
        ok(sim, Q_BATCH, v)
        status, h, d = gql(sim, Q_BATCH, v)                        # 11 > 8 remaining
        check(status == 200 and d == {"errors": [{"type": "RATE_LIMITED", "message": MSG_RATE}]}, "RATE_LIMITED: %s" % d)
        check(h["x-ratelimit-remaining"] == "8", "remaining %s" % h["x-ratelimit-remaining"])
        for _ in range(8):
            ok(sim, "{ rateLimit { cost } }")
        status, h, d = gql(sim, "{ rateLimit { cost } }")
        check(status == 200 and d["errors"][0]["type"] == "RATE_LIMITED" and h["x-ratelimit-remaining"] == "0",
              "spent: %s %s" % (status, h))
        sim.configure(graphql={"rate_limited_status": 403})
        status, h, d = gql(sim, "{ rateLimit { cost } }")
        check(status == 403 and d == {"errors": [{"type": "RATE_LIMITED", "message": MSG_RATE}]} and
              h["x-ratelimit-remaining"] == "0", "403 form: %s %s" % (status, d))
        status, h, _ = sim.api("/repos/%s/actions/runs?per_page=1" % REPO)
        check(status == 200 and h["x-ratelimit-resource"] == "core" and h["x-ratelimit-used"] == "1",
              "REST has its own budget: %s" % h)
        st = sim.stats()
        check(st["graphql_rate_limited"] == 3 and st["graphql_points"] == 30 and st["violations"] == 3, "stats %s" % st)
        # the window resets
    with Sim(dict(sc, graphql={"limit": 30, "window_s": 1})) as sim:
        h, _ = ok(sim, "{ rateLimit { cost } }")
        w = [x for x in sim.stats()["windows"] if x["resource"] == "graphql"]
        time.sleep(max(0.0, int(h["x-ratelimit-reset"]) - time.time()) + 0.05)   # waiting until Reset is enough
        h, d = ok(sim, "{ rateLimit { used remaining } }")
        check(d["rateLimit"] == {"used": 1, "remaining": 29}, "new window: %s" % d)
        ws = [x for x in sim.stats()["windows"] if x["resource"] == "graphql"]
        check(len(ws) == 2 and ws[0]["used"] == 1 and ws[0]["reset"] == w[0]["reset"], "closed window kept: %s" % ws)
    # per-token budgets
    toks = ["ghp_gql_one", {"token": "ghp_gql_two", "graphql_limit": 2}]
    with Sim({"repos": [{"full_name": REPO, "runs": 5}], "tokens": toks, "rate_limit": {"per_token": True}}) as sim:
        for _ in range(2):
            ok(sim, "{ rateLimit { cost } }", token="ghp_gql_two")
        check(gql(sim, "{ rateLimit { cost } }", token="ghp_gql_two")[2]["errors"][0]["type"] == "RATE_LIMITED", "token two spent")
        h, _ = ok(sim, "{ rateLimit { cost } }", token="ghp_gql_one")
        check(h["x-ratelimit-limit"] == "5000" and h["x-ratelimit-used"] == "1", "token one's own budget: %s" % h)
        ws = sorted((x["token"], x["used"]) for x in sim.stats()["windows"] if x["resource"] == "graphql")
        check(ws == [(0, 1), (1, 2)], "per-token windows %s" % ws)
    with Sim(sc) as sim:
        suites = [r["check_suite_node_id"] for r in sim.get("/_sim/truth?repo=%s&jobs=0" % REPO)["runs"]]
        # timeout: more nodes than timeout_nodes → GitHub's message after a pause, points spent
        t0 = time.monotonic()
        status, h, d = gql(sim, Q_BATCH, {"ids": suites[:10], "first": 20, "steps": 50})   # 10,200 nodes
        check(time.monotonic() - t0 >= 0.3, "no pause before the timeout answer")
        check(status == 200 and d["data"] is None and re.fullmatch(
            r"Something went wrong while executing your query\. This may be the result of a timeout, or it could be a "
            r"GitHub bug\. Please include `[0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{6}:[0-9A-F]{6}:[0-9A-F]{8}` when reporting "
            r"this issue\.", d["errors"][0]["message"]), "timeout: %s" % d)
        check(h["x-ratelimit-used"] == "2", "the timed-out query (10 + 10·20 → 2 points) is charged: %s" % h)
        ok(sim, Q_BATCH, {"ids": suites[:10], "first": 20, "steps": 10})                  # 2,200 nodes
        # faults: 502, a reset, a delay, on /graphql only
        sim.configure(faults=[{"path_regex": "^/graphql$", "status": 502, "times": 1},
                              {"path_regex": "graphql", "kind": "reset", "times": 1},
                              {"path_regex": "graphql", "kind": "delay", "delay_ms": 200, "times": 1}])
        check(gql(sim, "{ rateLimit { cost } }")[0] == 502, "fault 502")
        try:
            gql(sim, "{ rateLimit { cost } }")
            check(False, "fault reset answered")
        except (ConnectionError, http.client.HTTPException, OSError):
            pass
        t0 = time.monotonic()
        ok(sim, "{ rateLimit { cost } }")
        check(time.monotonic() - t0 >= 0.2, "fault delay")
        check(sim.api("/repos/%s/actions/runs?per_page=1" % REPO)[0] == 200, "faults on /graphql hit REST")
        # secondary: points per minute (1 per query) over a 0.3 s window (400/min → 2 there)
        sim.configure(graphql={"points_per_minute": 400, "points_window_s": 0.3}, faults=[])
        time.sleep(0.35)
        statuses = [gql(sim, "{ rateLimit { cost } }")[:2] for _ in range(3)]
        check([s for s, _ in statuses] == [200, 200, 403], "points_per_minute: %s" % [s for s, _ in statuses])
        check(statuses[2][1].get("retry-after") == "1", "Retry-After %s" % statuses[2][1])
        st = sim.stats()
        check(st["secondary_answers"] == 1 and st["violations"] >= 1, "secondary stats %s" % st)
        # max_concurrent is shared with REST: a slow REST request in flight + a GraphQL one
        time.sleep(1.05)     # the penalty of the answer above
        sim.configure(graphql={"points_per_minute": 0}, secondary={"max_concurrent": 1},
                      faults=[{"path_regex": "/actions/runs$", "kind": "delay", "delay_ms": 400}])
        slow = threading.Thread(target=sim.api, args=("/repos/%s/actions/runs?per_page=1" % REPO,))
        slow.start()
        time.sleep(0.15)
        status, h, d = gql(sim, "{ rateLimit { cost } }")
        slow.join()
        check(status == 403 and "secondary rate limit" in d["message"], "concurrency with REST: %s %s" % (status, d))
        check([e.get("kind") for e in sim.log() if e.get("resource") == "graphql"][-1] == "secondary:concurrency",
              "logged as a concurrency answer")
        sim.configure(graphql={"enabled": False})
        for path in ("/graphql", "/api/graphql"):
            status, h, d = gql(sim, "{ rateLimit { cost } }", path=path)
            check(status == 404 and d["message"] == "Not Found", "disabled %s: %s %s" % (path, status, d))


@scenario("simulator GraphQL self-test")
def main():
    t0 = time.monotonic()
    with Sim(MAIN) as sim:
        truth = sim.truth(REPO)
        with case("the miner's queries equal REST's jobs (0, 1, 45, 150, 260 jobs), quirks and all"):
            data_equals_rest(sim, truth)
        with case("paging check runs and steps with cursors"):
            step_paging(sim, truth)
        with case("validation errors and GitHub's limits"):
            validation(sim, truth)
        with case("cost formula, nodeCount, dryRun"):
            costs(sim, truth)
        with case("NOT_FOUND, scope error, mismatch, auth, /api/graphql, /api/v3, gzip"):
            errors_and_knobs(sim, truth)
        with case("log and stats"):
            log_and_stats(sim)
        with case("LATEST vs ALL on re-runs (REST filter=latest/all)"):
            latest_vs_all(sim, truth)
    with case("budget, RATE_LIMITED, per-token, timeout, faults, secondary, disabled"):
        limits()
    print("       %.1fs" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
