#!/usr/bin/env python3
"""ghsim - a deterministic GitHub REST API simulator for ghaminer's scenario tests.

Serves the Actions endpoints the miner uses (runs lists, single runs, jobs, workflows, and
GraphQL's check suites of runs) on 127.0.0.1 with GitHub's envelopes, Link pagination,
result caps, ETag/304, primary and secondary rate limits, and injectable faults. Payloads are modelled on the real recordings
in ../shared/fixtures from the project root (see SHAPES.md there) and are a pure function
of the scenario, so two runs of the same scenario serve byte-identical data.

    python3 ghsim.py --scenario FILE.json --port-file PATH [--port 0] [--log PATH]
                     [--header-log PATH]
    python3 ghsim.py --scenario-json '{"repos":[{"full_name":"octo/hello","runs":30}]}' ...

Python 3.11 standard library; POST /graphql (ghsim_graphql.py, beside this file) also needs
graphql-core (Debian's python3-graphql-core). The scenario knobs are documented in README.md
next to this file and in DEFAULTS below.
"""

import argparse
import base64
import bisect
import calendar
import copy
import datetime
import email.parser
import gc
import gzip
import hashlib
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from collections import deque
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghsim_graphql  # noqa: E402  (POST /graphql; needs graphql-core, see there)

# --------------------------------------------------------------------------------------
# Scenario defaults
# --------------------------------------------------------------------------------------

DEFAULTS = {
    "tokens": ["ghp_simtoken_AAAA"],
    "latency_ms": 0,
    "gzip": True,
    "require_user_agent": True,
    # Host written into payload URLs (url, jobs_url, ...). Link headers always use the
    # simulator's own http://127.0.0.1:PORT so a miner can follow them.
    "payload_host": "https://api.github.com",
    # per_token: one budget per token (also on when a token entry gives its own limit)
    "rate_limit": {"limit": 5000, "window_s": 3600, "per_token": False},
    "secondary": {"at_requests": [], "retry_after": 60, "status": 403, "send_retry_after": True,
                  "max_concurrent": 0, "per_minute": 0, "per_minute_window_s": 60,
                  # After a secondary answer GitHub keeps refusing for Retry-After seconds;
                  # requests arriving then (after a grace for requests already in flight)
                  # get the same answer and count as violations.
                  "penalty": True, "grace_ms": 100},
    # GitHub's pagination caps: a filtered runs query yields at most 1,000 results, an
    # unfiltered one answers 422 beyond 40,000. Lowerable so tests need not create 40k runs.
    "caps": {"filtered": 1000, "unfiltered": 40000},
    "faults": [],
    # Random faults at a rate (see FAULT_RATE_DEFAULTS): one rule, or a list of rules
    "fault_rate": {},
    # POST /graphql (and /api/graphql): GitHub's GraphQL API over the same data, with its
    # own budget of points (see ghsim_graphql.py and README.md)
    "graphql": {"enabled": True, "limit": 5000, "window_s": 3600, "rate_limited_status": 200,
                "points_per_minute": 0, "points_window_s": 60, "scope_error": False,
                "timeout_nodes": 0, "timeout_ms": 10000, "timeout_status": 200, "mismatch": []},
    "repos": [{"full_name": "octo/hello"}],
}

REPO_DEFAULTS = {
    "runs": 100, "workflows": 3, "seed": 1, "jobs_min": 0, "jobs_max": 4, "big_runs": {},
    "in_progress": 0, "queued": 0, "start": "2024-01-01T00:00:00Z", "spacing_s": 600,
    # old_runs: the N oldest runs look like 2020-era objects (no name, actor, run_attempt,
    # run_started_at, triggering_actor, display_title, path). Default: 2 when runs >= 10.
    "old_runs": None,
    # quirks: plant the rare shapes (null head_branch, null head_commit, attempts 2 and 3,
    # awkward branch, deleted fork, a step ending before it starts) at fixed runs so every
    # repository of >= 12 regular runs shows each at least once.
    "quirks": True,
    "private": False,
    # readers: indices in `tokens` of the tokens that can see this repository (null: all);
    # the others get GitHub's 404, as for a private repository without access.
    "readers": None,
}

# A fault_rate rule. Each API request, on arrival, draws twice from the Random(seed) of the
# first rule whose `paths` matches its path (re.search, None = every API path): a draw under
# `rate` gets a fault of a kind chosen uniformly from `kinds` (None = FAULT_KINDS), applied
# after auth and rate limits. A `timeout` holds the connection timeout_ms, then closes it.
# max_consecutive: a request (method, path, query and body) that met that many faults in a
# row is spared the next one drawn for it (None = no bound), so that a test's chains of
# backoffs stay short.
FAULT_RATE_DEFAULTS = {"rate": 0.0, "kinds": None, "seed": 1, "paths": None, "timeout_ms": 3000,
                       "max_consecutive": None}
# The kinds of fault_rate: what the server (or a proxy before it) answers instead
FAULT_KINDS = ("500", "502", "503", "reset", "truncated", "bad_json", "wrong_shape", "html",
               "html_502", "timeout")
FAULT_5XX_MESSAGES = {
    500: "Server Error",
    502: "Server Error",
    503: ("No server is currently available to service your request. Sorry about that. "
          "Please try resubmitting your request and contact us if the problem persists."),
}
FAULT_WRONG_SHAPE = b'{"total_count":1,"message":"ok"}'
FAULT_HTML = (b'<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-type" '
              b'content="text/html; charset=utf-8">\n    <title>Unicorn! &middot; GitHub</title>\n'
              b'  </head>\n  <body>\n    <h1>No server is currently available to service your '
              b'request.</h1>\n    <p>Sorry about that. Please try refreshing and contact us if the '
              b'problem persists.</p>\n  </body>\n</html>\n')

DOC_ROOT = "https://docs.github.com/rest"
DOC_RUNS = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository"
DOC_PRIMARY = ("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
               "#about-the-primary-rate-limit")
DOC_SECONDARY = ("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                 "#about-secondary-rate-limits")
DOC_GQL = "https://docs.github.com/graphql"
MSG_SECONDARY = ("You have exceeded a secondary rate limit. "
                 "Please wait a few minutes before you try again.")
MSG_NO_UA = ("Request forbidden by administrative rules. Please make sure your request has a "
             "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-"
             "api#user-agent-required). Check https://developer.github.com for other possible "
             "causes.\n")


def deep_merge(base, over):
    """Scenario dicts merge key by key so a scenario only states what it changes."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# --------------------------------------------------------------------------------------
# Time helpers (all simulated times are integer epoch seconds or milliseconds)
# --------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
                    r"(Z|[+-]\d{2}:?\d{2})$")


def _timegm(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def parse_time(text):
    """'YYYY-MM-DD' → (midnight, end of day); datetime with Z/offset → (t, t). None if bad."""
    m = _DATE_RE.match(text) or _DT_RE.match(text)
    if not m:
        return None
    g = m.groups()
    try:
        d = datetime.datetime(*map(int, g[:3]), *(map(int, g[3:6]) if len(g) > 3 else ()))
    except ValueError:
        return None
    t = calendar.timegm(d.timetuple())
    if len(g) == 3:
        return t, t + 86399
    tz = g[6]
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t, t


def parse_created(value):
    """GitHub search syntax for `created` → inclusive (lo, hi) epoch range, or None."""
    v = value.strip().replace(" ", "+")  # an unencoded '+' of "+00:00" arrives as a space
    inf = float("inf")
    try:
        if ".." in v:
            a, b = v.split("..", 1)
            lo = -inf if a == "*" else parse_time(a)[0]
            hi = inf if b == "*" else parse_time(b)[1]
        elif v.startswith(">="):
            lo, hi = parse_time(v[2:])[0], inf
        elif v.startswith("<="):
            lo, hi = -inf, parse_time(v[2:])[1]
        elif v.startswith(">"):
            lo, hi = parse_time(v[1:])[1] + 1, inf
        elif v.startswith("<"):
            lo, hi = -inf, parse_time(v[1:])[0] - 1
        else:
            lo, hi = parse_time(v)
    except TypeError:  # parse_time returned None
        return None
    return lo, hi


# Rendering a run's jobs formats dozens of timestamps, and gmtime + strftime for each was
# most of that cost: the date part is formatted once per day, the rest comes from tables.
_DAYS = {}                                                    # days since 1970 → "YYYY-MM-DDT"
_HH_MM = ["%02d:%02d:" % divmod(m, 60) for m in range(1440)]  # minute of the day → "HH:MM:"
_SS = ["%02d" % n for n in range(60)]
_MS = [".%03d" % n for n in range(1000)]
_TZ = {}                                                      # offset minutes → "+05:30"


def _ymdhms(t):
    """'YYYY-MM-DDTHH:MM:SS' of epoch seconds t, exactly as strftime(gmtime(t)) writes it."""
    if type(t) is not int:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    days, sec = divmod(t, 86400)
    day = _DAYS.get(days)
    if day is None:
        day = _DAYS[days] = time.strftime("%Y-%m-%dT", time.gmtime(days * 86400))
    m, sec = divmod(sec, 60)
    return day + _HH_MM[m] + _SS[sec]


def iso(t):
    return _ymdhms(t) + "Z"


def iso_step(ms, style, offset_min):
    """Step timestamps come in three real styles: runner-local offset with millis
    (2023-01-01T10:00:00.000+10:00), '.mmmZ', and plain 'Z' (2025+)."""
    if ms is None:
        return None
    if style == "plain":
        return iso(ms // 1000)
    if type(ms) is not int or type(offset_min) is not int:
        return _iso_step_slow(ms, style, offset_min)
    if style == "milliz":
        sec, milli = divmod(ms, 1000)
        return _ymdhms(sec) + _MS[milli] + "Z"
    sec, milli = divmod(ms + offset_min * 60000, 1000)
    tz = _TZ.get(offset_min)
    if tz is None:
        a = abs(offset_min)
        tz = _TZ[offset_min] = "%s%02d:%02d" % ("+" if offset_min >= 0 else "-", a // 60, a % 60)
    return _ymdhms(sec) + _MS[milli] + tz


def _iso_step_slow(ms, style, offset_min):
    """iso_step's plain formula, for values that are not integers."""
    if style == "milliz":
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    local = ms + offset_min * 60000
    sign = "+" if offset_min >= 0 else "-"
    a = abs(offset_min)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(local // 1000))
            + ".%03d%s%02d:%02d" % (local % 1000, sign, a // 60, a % 60))


def iso_offset(t, offset_min):
    return iso_step(t * 1000, "offset", offset_min)


# --------------------------------------------------------------------------------------
# Object builders (field order follows the recordings)
# --------------------------------------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def node(prefix, n):
    """Modern node ids look like 'WFR_kwLO…'; any stable opaque string does."""
    return prefix + "_kwDO" + base64.urlsafe_b64encode(struct.pack(">Q", n)).decode().rstrip("=")


def node_number(prefix, text):
    """The number node(prefix, n) was made from, or None when text is not such an id."""
    head = prefix + "_kwDO"
    if not isinstance(text, str) or not text.startswith(head) or len(text) != len(head) + 11:
        return None
    try:
        n = struct.unpack(">Q", base64.urlsafe_b64decode(text[len(head):] + "="))[0]
    except (ValueError, struct.error):
        return None
    return n if node(prefix, n) == text else None


def sha1(*parts):
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


# login, id, type
ACTORS = [
    ("octocat", 583231, "User"),
    ("alice-dev", 10001001, "User"),
    ("bob-o-brien", 10001002, "User"),
    ("dependabot[bot]", 49699333, "Bot"),
    ("github-actions[bot]", 41898282, "Bot"),
    ("renovate[bot]", 29139614, "Bot"),
]
BOT_APPS = {"dependabot[bot]": 29110, "github-actions[bot]": 15368, "renovate[bot]": 2740}


def user_obj(host, login, uid, utype):
    enc = quote(login, safe="")
    if utype == "Bot":
        avatar = "https://avatars.githubusercontent.com/in/%d?v=4" % BOT_APPS.get(login, 1)
        html = "https://github.com/apps/" + login.replace("[bot]", "")
    else:
        avatar = "https://avatars.githubusercontent.com/u/%d?v=4" % uid
        html = "https://github.com/" + login
    u = host + "/users/" + enc
    prefix = {"User": "MDQ6VXNlcj", "Bot": "MDM6Qm90", "Organization": "MDEyOk9yZ2FuaXphdGlvbj"}
    return {
        "login": login, "id": uid, "node_id": prefix[utype] + b64(str(uid)).rstrip("="),
        "avatar_url": avatar, "gravatar_id": "", "url": u, "html_url": html,
        "followers_url": u + "/followers", "following_url": u + "/following{/other_user}",
        "gists_url": u + "/gists{/gist_id}", "starred_url": u + "/starred{/owner}{/repo}",
        "subscriptions_url": u + "/subscriptions", "organizations_url": u + "/orgs",
        "repos_url": u + "/repos", "events_url": u + "/events{/privacy}",
        "received_events_url": u + "/received_events", "type": utype,
        "user_view_type": "public", "site_admin": False,
    }


REPO_URL_FIELDS = [
    ("forks_url", "/forks"), ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"), ("teams_url", "/teams"),
    ("hooks_url", "/hooks"), ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"), ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"), ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"), ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"), ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"), ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"), ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"), ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"), ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"), ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"), ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"), ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"), ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"), ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"), ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
]


def simple_repo(host, rid, full_name, owner, private, description, fork):
    u = host + "/repos/" + full_name
    r = {"id": rid, "node_id": "R_kgDO" + b64(str(rid)).rstrip("="),
         "name": full_name.split("/", 1)[1], "full_name": full_name, "private": private,
         "owner": owner, "html_url": "https://github.com/" + full_name,
         "description": description, "fork": fork, "url": u}
    for k, suffix in REPO_URL_FIELDS:
        r[k] = u + suffix
    return r


# name, file, events (repeats weight the choice)
WORKFLOW_TEMPLATES = [
    ("CI", "ci.yml", ["push", "push", "pull_request", "pull_request", "workflow_dispatch"]),
    ('Build, Test & "Deploy"', "build-test-deploy.yml", ["push", "pull_request", "release"]),
    ("Nightly é 🚀", "nightly.yml", ["schedule", "schedule", "workflow_dispatch"]),
    ("Lint, Format", "lint.yml", ["push", "pull_request"]),
    ("Release", "release.yml", ["release", "workflow_dispatch"]),
    ("CodeQL", "codeql.yml", ["push", "schedule", "pull_request"]),
]

BRANCHES = ["main"] * 6 + ["develop", 'feature/x,y "quoted"', "fix/café-é", "release/2024.1",
                           "emoji/🚀-launch", "UPPER.Case_branch-1"]
PR_BRANCHES = ["feature/login-form", 'feature/x,y "quoted"', "fix/null-pointer",
               "dependabot/github_actions/actions/checkout-4", "renovate/lodash-4.x",
               "docs/é-accents"]
MESSAGES = [
    "Fix parser, handle \"quoted\" fields",
    "Merge pull request #42 from octo/feature/x\n\nAdd the thing, with commas, and \"quotes\"",
    "Mise à jour du README — café ☕",
    "🚀 Release v1.2.3",
    "Revert \"Bump lodash from 4.17.20 to 4.17.21\"\n\nThis reverts commit 3f1c2a9.",
    "Bump actions/checkout from 3 to 4",
    "line one\r\nline two after a CRLF",
    "Refactor the scheduler so that the queue never starves long-running jobs under heavy load",
    "it's a fix; don't panic",
    "Add tests",
]
PR_TITLES = ['Add "quoted" feature, with commas', "Bump actions/checkout from 3 to 4",
             "Fix café encoding é", "WIP: 🚀 launch", "Update dependency lodash to v4.17.21"]
AUTHORS = [("Jonathan Piché", "jonapich@users.noreply.github.com"),
           ("Zoë O'Brien", "zoe@example.com"), ("李雷", "lilei@example.cn"),
           ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"),
           ("Octo Cat", "octocat@github.com")]
JOB_POOL = ["build", "test (3.11, ubuntu-latest)", "test (3.12, windows-latest)",
            'lint "strict", fast', "test (3.10, macos-14)", "e2e (chrome, 🚀)",
            "docs — build é", "deploy / staging"]
STEP_MAIN = ["Run actions/checkout@v4", "Set up Python 3.11", "Install dependencies",
             'Run echo "hello, world"', "Run pytest -q --maxfail=1", "Upload coverage, reports"]
STEP_POST = ["Post Run actions/checkout@v4", "Complete job"]
CONCLUSIONS = ["success"] * 40 + ["failure"] * 6 + ["cancelled"] * 2 + ["skipped", "timed_out"]
OFFSETS = [600, 60, -420, 330, 0, -180]


class _Rng(random.Random):
    """random.Random with a cheaper randint, the bulk of rendering a run's timeline.
    CPython's randint(a, b) is randrange(a, b + 1), which is a + _randbelow(b - a + 1)
    after argument checks that cost more than the draw: same draws, same data. (Every
    bound here is an int.)"""

    def randint(self, a, b):
        if b < a:
            return super().randint(a, b)    # randrange's error
        return a + self._randbelow(b - a + 1)


class RunState:
    """One run: its generation parameters (spec) and what is served (objects + bytes).

    Rendering is lazy and cached: the run object and its bytes are built the first time
    they are asked for (a listing page, the truth), the jobs' bytes the first time they are
    asked for, so a scenario of 45,000 runs starts in seconds. The spec is never mutated
    once rendered: a change (re-run, completion) installs a new spec dict, and a cache built
    from an older spec is ignored.

    Only bytes are kept for the jobs, and the timeline they are made from is dropped once
    they are rendered: every object kept here is walked by each full garbage collection,
    which holds the GIL (over 100 ms per pass with the jobs of 5,000 runs kept as objects)
    and so stalls every request in flight."""
    __slots__ = ("spec", "repo", "_r", "_ctx", "_j", "_all")

    def __init__(self, repo, spec):
        self.repo, self.spec, self._r, self._ctx, self._j, self._all = repo, spec, None, None, None, None

    def _rendered(self):
        sp = self.spec
        r = self._r
        if r is None or r[0] is not sp:
            sp, run, b, nopr, ctx = self.repo._render_run(sp)
            r = (sp, run, b, nopr)
            self._ctx = (r, ctx)    # what the jobs are made from, until they are
            self._r = r
        return r

    def _rendered_jobs(self):
        r = self._rendered()
        j = self._j
        if j is None or j[0] is not r:
            c = self._ctx
            # another thread may have rendered (and dropped) it meanwhile: rebuild it
            ctx = c[1] if c is not None and c[0] is r else self.repo._materialize_run(r[0])[1]
            j = (r, tuple(_dump(x) for x in self.repo._render_jobs(r[0], ctx)))
            self._j = j
            self._ctx = None
        return j

    def _all_jobs(self):
        """The jobs of every attempt, oldest attempt first (REST's filter=all): the earlier
        attempts' jobs, completed, then the latest attempt's (filter=latest)."""
        j = self._rendered_jobs()
        a = self._all
        if a is None or a[0] is not j:
            earlier = []
            for sp in self.repo.attempt_specs(j[0][0]):
                earlier += [_dump(x) for x in self.repo._materialize(sp)[1]]
            a = self._all = (j, tuple(earlier) + j[1])
        return a[1]

    run = property(lambda self: self._rendered()[1])
    run_bytes = property(lambda self: self._rendered()[2])
    run_bytes_nopr = property(lambda self: self._rendered()[3])
    job_bytes = property(lambda self: self._rendered_jobs()[1])
    all_job_bytes = property(_all_jobs)
    # the truth's job objects: parsed back from the bytes served (same JSON, same order)
    jobs = property(lambda self: [json.loads(b) for b in self.job_bytes])


# one encoder for every dump: json.dumps with arguments builds a new one per call
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_LOG = json.JSONEncoder(ensure_ascii=False)


def _dump(o):
    return _JSON.encode(o).encode()


_PLACEHOLDER = re.compile(rb'"@ghsim-const-\d+@"')


class Repo:
    def __init__(self, cfg, host):
        self.cfg = cfg = deep_merge(REPO_DEFAULTS, cfg)
        self.full_name = cfg["full_name"]
        self.owner, self.name = self.full_name.split("/", 1)
        self.host = host
        crc = zlib.crc32(self.full_name.encode())
        self.id = int(cfg.get("id") or 100000000 + crc % 800000000)
        self.seed = cfg["seed"]
        owner_type = "Organization" if crc % 2 else "User"
        self.owner_user = user_obj(host, self.owner, 1000000 + crc % 9000000, owner_type)
        self.simple = simple_repo(host, self.id, self.full_name, self.owner_user,
                                  cfg["private"], None if crc % 3 else "Demo é 🚀, \"quoted\"",
                                  False)
        fork_owner = user_obj(host, "contrib-user", 20002002, "User")
        self.fork = simple_repo(host, self.id + 7919, "contrib-user/" + self.name, fork_owner,
                                False, None, True)
        self.run_base = 6000000000 + (crc % 1000) * 10000000   # run ids > 2^32
        self.job_base = 20000000000 + (crc % 1000) * 1000000000
        self.suite_base = 15000000000 + (crc % 1000) * 10000000
        # sub-objects shared by many runs (the repositories, the actors) are serialised
        # once: id(object) → (placeholder, bytes), spliced into each run's bytes
        self._users = {}
        self._const = {}
        self._const_lock = threading.Lock()   # handler threads render concurrently
        self._constant(self.simple)
        self._constant(self.fork)
        self.workflows = []
        for k in range(max(1, int(cfg["workflows"]))):
            if k < len(cfg.get("workflow_names") or []):
                # a scenario's own names (e.g. formula-like ones for csv_formula_guard)
                wname, wfile, events = cfg["workflow_names"][k], "named-%d.yml" % k, ["push"]
            elif k < len(WORKFLOW_TEMPLATES):
                wname, wfile, events = WORKFLOW_TEMPLATES[k]
            else:
                wname, wfile, events = "Workflow %d" % k, "workflow-%d.yml" % k, ["push"]
            wid = 50000000 + (crc % 10000) * 100 + k
            off = OFFSETS[k % len(OFFSETS)]
            created = _timegm(2023, 5, 1 + k, 10, 48, 32)
            self.workflows.append({
                "id": wid, "node_id": node("W", wid), "name": wname,
                "path": ".github/workflows/" + wfile, "state": "active",
                "created_at": iso_offset(created, off), "updated_at": iso_offset(created + 86400 * k, off),
                "url": "%s/repos/%s/actions/workflows/%d" % (host, self.full_name, wid),
                "html_url": "https://github.com/%s/blob/main/.github/workflows/%s" % (self.full_name, wfile),
                "badge_url": "https://github.com/%s/workflows/%s/badge.svg" % (self.full_name, quote(wname)),
                "_events": events, "_file": wfile,
            })
        self.workflow_bytes = [json.dumps({k: v for k, v in w.items() if not k.startswith("_")},
                                          ensure_ascii=False, separators=(",", ":")).encode()
                               for w in self.workflows]
        self.run_numbers = [0] * len(self.workflows)
        self.states = []          # index order, 0 = oldest
        self.by_id = {}
        self.sorted = []          # newest first; replaced (never mutated) so readers see a snapshot
        self._keys = None         # (snapshot, its sort keys) for created_slice
        self.last_created = None
        self.start = parse_time(cfg["start"])[0]
        n = int(cfg["runs"])
        old_n = cfg["old_runs"] if cfg["old_runs"] is not None else (2 if n >= 10 else 0)
        n_q = min(int(cfg["queued"]), n)
        n_ip = min(int(cfg["in_progress"]), n - n_q)
        specs = [self._new_spec(i, old=i < old_n) for i in range(n)]
        for i in range(n - n_q - n_ip, n - n_q):
            specs[i]["status"] = "in_progress"
        for i in range(n - n_q, n):
            specs[i]["status"] = "queued"
        for sp in specs:
            if sp["status"] != "completed" and sp["conclusion"] == "skipped":
                sp["conclusion"] = "success"   # an unfinished run will not end up skipped
        if cfg["quirks"]:
            self._plant_quirks(specs, [i for i in range(old_n, n - n_q - n_ip)])
        for sp in specs:
            self._add_state(sp)
        self._resort()

    # ---- generation -----------------------------------------------------------------

    def _constant(self, obj):
        # the placeholder dumps as "@ghsim-const-N@", which _PLACEHOLDER finds
        self._const[id(obj)] = (obj, ('"@ghsim-const-%d@"' % len(self._const)).encode(), _dump(obj))
        return obj

    def _user(self, actor):
        u = self._users.get(actor)
        if u is None:
            with self._const_lock:     # one object (and one placeholder) per actor
                u = self._users.get(actor)
                if u is None:
                    u = self._users[actor] = self._constant(user_obj(self.host, *actor))
        return u

    def _dump_run(self, run):
        """json bytes of a run, byte-identical to a plain dump, with the shared
        sub-objects spliced in from their cached bytes."""
        tmp = dict(run)
        subs = []
        for k in ("repository", "head_repository", "actor", "triggering_actor"):
            c = self._const.get(id(tmp.get(k)))
            if c is not None and c[0] is tmp[k]:
                tmp[k] = c[1][1:-1].decode()
                subs.append(c)
        b = _dump(tmp)
        if subs:
            # one pass, not a copy of the growing bytes per sub-object
            real = {ph: r for _, ph, r in subs}
            b = _PLACEHOLDER.sub(lambda m: real.get(m.group(), m.group()), b)
        return b

    def _slot(self, i):
        """Run i's slot → (seconds after start, spacing). spacing_s is a number, or a list
        of [count, spacing] segments (the last spacing goes on for later runs), so that a
        history can have quiet and crowded stretches."""
        sched = self.cfg["spacing_s"]
        if not isinstance(sched, list):
            return i * int(sched), int(sched)
        offset = 0
        for count, spacing in sched:
            count, spacing = int(count), int(spacing)
            if i < count:
                return offset + i * spacing, spacing
            offset += count * spacing
            i -= count
        spacing = int(sched[-1][1])
        return offset + i * spacing, spacing

    def _rng(self, *parts):
        return _Rng("|".join(map(str, (self.seed, self.full_name) + parts)))

    def _new_spec(self, i, old=False):
        rng = self._rng("run", i)
        weights = [3] + [1] * (len(self.workflows) - 1)
        wf = rng.choices(range(len(self.workflows)), weights)[0]
        self.run_numbers[wf] += 1
        event = rng.choice(self.workflows[wf]["_events"])
        actor = rng.choice(ACTORS[:3])
        pr = None
        fork = None
        if event == "pull_request":
            branch = rng.choice(PR_BRANCHES)
            if branch.startswith("dependabot/"):
                actor = ACTORS[3]
            elif branch.startswith("renovate/"):
                actor = ACTORS[5]
            pr = 100 + i
            if rng.random() < 0.1:
                fork = "fork"       # fork PRs list no pull_requests and a different head repo
        elif event == "schedule":
            branch = "main"
            actor = ACTORS[0]
        elif event == "workflow_dispatch":
            branch = rng.choice(["main", "develop"])
        elif event == "release":
            branch = "v1.%d.0" % self.run_numbers[wf]
        else:
            branch = rng.choice(BRANCHES)
            if rng.random() < 0.05:
                actor = ACTORS[4]
        offset, spacing = self._slot(i)
        created = self.start + offset + rng.randint(0, max(0, spacing // 3))
        if self.last_created is not None:
            if rng.random() < 0.1:
                created = self.last_created   # several runs may share a second
            created = max(created, self.last_created)
        self.last_created = created
        r = rng.random()
        attempt = 3 if r < 0.02 else 2 if r < 0.08 else 1
        big = self.cfg["big_runs"]
        jobs_n = int(big[str(i)]) if str(i) in big else rng.randint(int(self.cfg["jobs_min"]), int(self.cfg["jobs_max"]))
        return {
            "i": i, "id": self.run_base + i * 1000 + rng.randint(0, 999), "wf": wf,
            "run_number": self.run_numbers[wf], "event": event, "branch": branch,
            "sha": sha1(self.full_name, "sha", i), "msg": rng.randrange(len(MESSAGES)),
            "author": rng.randrange(len(AUTHORS)), "actor": actor,
            "trigger": rng.choice(ACTORS[:3]) if attempt > 1 else actor,
            "created": created, "attempt": 1 if old else attempt,
            "rerun_delay": rng.randint(600, 7200), "status": "completed",
            "conclusion": rng.choice(CONCLUSIONS), "old": old, "commit_null": rng.random() < 0.01,
            "pr": pr, "fork": fork, "jobs_n": jobs_n,
            "style": rng.choice(["offset", "offset", "milliz", "plain"]),
            "offset": rng.choice(OFFSETS), "refwf": rng.random() < 0.05, "odd_step": False,
            "gen": 0,   # bumped by rerun so jobs regenerate
        }

    def _plant_quirks(self, specs, regular):
        """Make sure the rare shapes exist at least once (the miner must cope with each)."""
        if len(regular) < 12:
            return
        pick = lambda k: specs[regular[(k * len(regular)) // 12]]
        pick(1)["branch"] = None
        pick(2)["commit_null"] = True
        s = pick(3)
        s["attempt"], s["trigger"] = 2, ACTORS[1]
        s = pick(4)
        s["attempt"], s["trigger"] = 3, ACTORS[2]
        s = pick(5)
        s["event"], s["branch"], s["pr"] = "push", 'feature/x,y "quoted"', None
        s["msg"] = 1  # the multi-line, comma and quote commit message
        s = pick(6)
        s["event"], s["pr"], s["fork"], s["branch"] = "pull_request", 900 + s["i"], "deleted", "dependabot/npm/x"
        s = pick(7)
        s["odd_step"], s["jobs_n"], s["conclusion"], s["style"] = True, max(s["jobs_n"], 1), "success", "offset"
        s = pick(8)
        s["event"], s["pr"], s["fork"], s["branch"] = "pull_request", 800 + s["i"], None, "feature/login-form"
        s = pick(9)
        s["style"], s["offset"], s["jobs_n"] = "offset", 330, max(s["jobs_n"], 2)
        s = pick(10)
        s["style"], s["jobs_n"] = "milliz", max(s["jobs_n"], 2)
        pick(11)["actor"] = ACTORS[3]

    def _make_steps(self, rng, sp, start_s, outcome, odd):
        """Steps as millisecond timelines: (name, number, conclusion, start_ms, end_ms)."""
        ms_mode = sp["style"] == "milliz"
        cur = start_s * 1000 + (rng.randint(0, 999) if ms_mode else 0)
        main = ["Set up job"] + STEP_MAIN[:rng.randint(2, len(STEP_MAIN))]
        fail_at = rng.randint(2, len(main) - 1) if outcome != "success" else None
        steps = []
        num = 0

        def skipped(name):
            # Real skipped steps carry either no times or start == end.
            t = None if rng.random() < 0.5 else cur
            return [name, num, "skipped", t, t]

        for idx, name in enumerate(main):
            num += 1
            if fail_at is not None and idx > fail_at:
                steps.append(skipped(name))
                continue
            if fail_at is None and name.startswith("Upload") and rng.random() < 0.4:
                steps.append(skipped(name))
                continue
            dur = rng.randint(0, 90) * 1000 + (rng.randint(0, 999) if ms_mode else 0)
            conc = "success"
            if idx == fail_at:
                conc = "failure" if outcome == "failure" else "cancelled"
            steps.append([name, num, conc, cur, cur + dur])
            cur += dur + (rng.randint(0, 400) if ms_mode else rng.choice([0, 1000]))
        num += rng.randint(3, 6)  # post steps are numbered after a gap
        for name in STEP_POST:
            num += 1
            dur = rng.randint(0, 3) * 1000 + (rng.randint(0, 999) if ms_mode else 0)
            steps.append([name, num, "success", cur, cur + dur])
            cur += dur
        if odd:
            # One real recorded step has completed_at before started_at.
            s = steps[1] if steps[1][3] is not None else steps[0]
            s[4] = s[3] - 1000
        # tuples: a run's timeline is kept until its jobs are asked for, and tuples of
        # numbers and strings drop out of the garbage collector's sight, lists never do
        return tuple(map(tuple, steps)), cur

    def _job_names(self, n):
        if n <= len(JOB_POOL):
            return JOB_POOL[:n]
        return JOB_POOL + ["shard (%d/%d, ubuntu-latest)" % (k, n) for k in range(1, n - len(JOB_POOL) + 1)]

    def _timeline(self, sp):
        """The run's full (as if completed) timeline → (run_started, jobs, end)."""
        rng = self._rng("jobs", sp["i"], sp["attempt"], sp["gen"])
        run_started = sp["created"] + (sp["rerun_delay"] * (sp["attempt"] - 1) if sp["attempt"] > 1 else 0)
        concl = sp["conclusion"]
        n = sp["jobs_n"]
        bad = rng.randrange(n) if n and concl in ("failure", "cancelled", "timed_out") else -1
        jobs = []
        prev_end = run_started
        for j, name in enumerate(self._job_names(n)):
            created = run_started + rng.randint(0, 3)
            if concl == "skipped":
                jobs.append({"j": j, "name": name, "created": created, "started": created,
                             "completed": created, "conclusion": "skipped", "steps": ()})
                continue
            if j and rng.random() < 0.25:
                start = max(prev_end, created) + rng.randint(1, 5)   # a `needs:` chain
            else:
                start = created + rng.randint(2, 25)
            outcome = concl if j == bad else "success"
            steps, end_ms = self._make_steps(rng, sp, start, outcome, sp["odd_step"] and j == 0)
            completed = -(-end_ms // 1000) + rng.randint(0, 2)
            prev_end = completed
            jobs.append({"j": j, "name": name, "created": created, "started": start,
                         "completed": completed, "conclusion": outcome, "steps": steps,
                         "runner": rng.randint(1, 999), "selfhosted": rng.random() < 0.1})
        end = max([jb["completed"] for jb in jobs] or [run_started + rng.randint(2, 20)])
        return run_started, jobs, end + rng.randint(1, 8)

    def _materialize(self, sp):
        """spec → (run object, job objects), applying the in-progress cut when unfinished."""
        r, ctx = self._materialize_run(sp)
        return r, self._render_jobs(sp, ctx)

    def _render_run(self, sp):
        """→ (spec, run object, bytes, bytes without pull_requests, job context)."""
        run, ctx = self._materialize_run(sp)
        b = self._dump_run(run)
        nopr = b
        if run["pull_requests"]:
            # the bytes of dict(run, pull_requests=[]) without a second dump: the key is
            # unique and a JSON string cannot hold an unescaped quote, so the first match is it
            nopr = b.replace(b'"pull_requests":' + _dump(run["pull_requests"]),
                             b'"pull_requests":[]', 1)
        return (sp, run, b, nopr, ctx)

    def _render_jobs(self, sp, ctx):
        wf, tl, rid, run_url, cut = ctx
        return [self._job_obj(sp, wf, jb, rid, run_url, cut) for jb in tl]

    def _materialize_run(self, sp):
        """spec → (run object, what its jobs are made from)."""
        host, fn = self.host, self.full_name
        wf = self.workflows[sp["wf"]]
        run_started, tl, end = self._timeline(sp)
        status = sp["status"]
        if status == "queued":
            run_started = sp["created"]
            cut = run_started - 1          # nothing has started
            updated = sp["created"] + (sp["i"] % 3)
        elif status == "in_progress":
            starts = [jb["started"] for jb in tl]
            ends = [jb["completed"] for jb in tl]
            cut = (min(starts) + (max(ends) - min(starts)) // 2) if tl else run_started + 1
            if tl and cut >= max(ends):
                cut = max(ends) - 1          # at least the last job is still running
            updated = max(cut, run_started)
        else:
            cut = None
            updated = end
        rid = sp["id"]
        run_url = "%s/repos/%s/actions/runs/%d" % (host, fn, rid)
        ctx = (wf, tl, rid, run_url, cut)

        msg = MESSAGES[sp["msg"]]
        if sp["event"] == "pull_request" and sp["pr"]:
            title = PR_TITLES[sp["pr"] % len(PR_TITLES)]
        elif sp["event"] == "schedule":
            title = wf["name"]
        else:
            title = msg.split("\n")[0].rstrip("\r")
        if len(title) > 70:
            title = title[:70] + "…"
        suite = self.suite_base + sp["i"] * 10 + sp["gen"]
        ts = iso(sp["created"] - 2 - sp["i"] % 50)
        a_name, a_mail = AUTHORS[sp["author"]]
        head_commit = None if sp["commit_null"] else {
            "id": sp["sha"], "tree_id": sha1(fn, "tree", sp["i"]), "message": msg, "timestamp": ts,
            "author": {"name": a_name, "email": a_mail},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        }
        head_repo = self.simple if sp["fork"] is None else self.fork if sp["fork"] == "fork" else None
        old = sp["old"]
        r = {"id": rid}
        if not old:
            r["name"] = wf["name"]
        r["node_id"] = "MDExOldvcmtmbG93UnVu" + b64(str(rid)) if old else node("WFR", rid)
        r["head_branch"] = sp["branch"]
        r["head_sha"] = sp["sha"]
        if not old:
            r["path"] = wf["path"]
            r["display_title"] = title
        r["run_number"] = sp["run_number"]
        r["event"] = sp["event"]
        r["status"] = status
        r["conclusion"] = sp["conclusion"] if status == "completed" else None
        r["workflow_id"] = wf["id"]
        r["check_suite_id"] = suite
        r["check_suite_node_id"] = node("CS", suite)
        r["url"] = run_url
        r["html_url"] = "https://github.com/%s/actions/runs/%d" % (fn, rid)
        r["pull_requests"] = []
        if sp["pr"] and sp["fork"] is None:
            r["pull_requests"] = [self._pr_obj(sp)]
        r["created_at"] = iso(sp["created"])
        r["updated_at"] = iso(updated)
        if not old:
            r["actor"] = self._user(sp["actor"])
            r["run_attempt"] = sp["attempt"]
            r["referenced_workflows"] = [{
                "path": "octo/shared-workflows/.github/workflows/reusable.yml@v2",
                "sha": sha1("refwf", sp["i"]), "ref": "refs/tags/v2"}] if sp["refwf"] else []
            r["run_started_at"] = iso(run_started)
            r["triggering_actor"] = self._user(sp["trigger"])
        r["jobs_url"] = run_url + "/jobs"
        r["logs_url"] = run_url + "/logs"
        r["check_suite_url"] = "%s/repos/%s/check-suites/%d" % (host, fn, suite)
        r["artifacts_url"] = run_url + "/artifacts"
        r["cancel_url"] = run_url + "/cancel"
        r["rerun_url"] = run_url + "/rerun"
        if not old:
            r["previous_attempt_url"] = ("%s/attempts/%d" % (run_url, sp["attempt"] - 1)
                                         if sp["attempt"] > 1 else None)
        r["workflow_url"] = "%s/repos/%s/actions/workflows/%d" % (host, fn, wf["id"])
        r["head_commit"] = head_commit
        r["repository"] = self.simple
        r["head_repository"] = head_repo
        return r, ctx

    def _pr_obj(self, sp):
        base = {"id": self.id, "url": self.simple["url"], "name": self.name}
        return {"url": "%s/repos/%s/pulls/%d" % (self.host, self.full_name, sp["pr"]),
                "id": 1500000000 + sp["pr"], "number": sp["pr"],
                "head": {"ref": sp["branch"], "sha": sp["sha"], "repo": base},
                "base": {"ref": "main", "sha": sha1(self.full_name, "base", sp["i"]), "repo": base}}

    def _job_obj(self, sp, wf, jb, rid, run_url, cut):
        host, fn = self.host, self.full_name
        jid = self.job_base + sp["i"] * 10000 + (sp["attempt"] - 1 + sp["gen"] * 3) % 10 * 1000 + jb["j"]
        started, completed, conclusion, status = jb["started"], jb["completed"], jb["conclusion"], "completed"
        style, off = sp["style"], sp["offset"]
        steps = []
        for name, num, conc, s_ms, e_ms in jb["steps"]:
            steps.append({"name": name, "status": "completed", "conclusion": conc, "number": num,
                          "started_at": iso_step(s_ms, style, off),
                          "completed_at": iso_step(e_ms, style, off)})
        if cut is not None and completed > cut:
            conclusion, completed = None, None
            if started > cut:
                status, started, steps = "queued", None, []
            else:
                status = "in_progress"
                cut_ms = cut * 1000
                done = True
                for st, (_, _, _, s_ms, e_ms) in zip(steps, jb["steps"]):
                    if s_ms is None:                   # timeless skipped step
                        if not done:
                            st.update(status="queued", conclusion=None)
                    elif e_ms is not None and max(s_ms, e_ms) <= cut_ms and done:
                        pass
                    elif s_ms <= cut_ms and done:
                        st.update(status="in_progress", conclusion=None, completed_at=None)
                        done = False
                    else:
                        st.update(status="queued", conclusion=None, started_at=None, completed_at=None)
                        done = False
        j = {"id": jid, "run_id": rid}
        if not sp["old"]:
            j["workflow_name"] = wf["name"]
            j["head_branch"] = sp["branch"]
        j["run_url"] = run_url
        if not sp["old"]:
            j["run_attempt"] = sp["attempt"]
        j["node_id"] = node("CR", jid)
        j["head_sha"] = sp["sha"]
        j["url"] = "%s/repos/%s/actions/jobs/%d" % (host, fn, jid)
        j["html_url"] = "https://github.com/%s/actions/runs/%d/job/%d" % (fn, rid, jid)
        j["status"] = status
        j["conclusion"] = conclusion
        if not sp["old"]:
            j["created_at"] = iso(jb["created"])
        j["started_at"] = iso(started) if started is not None else None
        j["completed_at"] = iso(completed) if completed is not None else None
        j["name"] = jb["name"]
        j["steps"] = steps
        j["check_run_url"] = "%s/repos/%s/check-runs/%d" % (host, fn, jid)
        assigned = status != "queued" and not sp["old"]
        if jb.get("selfhosted"):
            j["labels"] = ["self-hosted", "linux", "x64"]
            group = (1, "Default")
        else:
            j["labels"] = [("windows-latest" if "windows" in jb["name"] else
                            "macos-14" if "macos" in jb["name"] else "ubuntu-latest")]
            group = (2, "GitHub Actions")
        if sp["old"]:
            j["labels"] = []
        n = jb.get("runner", 0)
        j["runner_id"] = n if assigned else None
        j["runner_name"] = ("GitHub Actions %d" % n) if assigned else None
        j["runner_group_id"] = group[0] if assigned else None
        j["runner_group_name"] = group[1] if assigned else None
        return j

    # ---- state ----------------------------------------------------------------------

    def _add_state(self, sp):
        st = RunState(self, sp)
        self.states.append(st)
        self.by_id[sp["id"]] = st

    def _resort(self):
        self.sorted = sorted(self.states, key=lambda s: (-s.spec["created"], -s.spec["id"]))

    def created_slice(self, snapshot, lo, hi):
        """The runs of snapshot (a value of self.sorted, newest first) with
        lo <= created <= hi, by bisection."""
        keys = self._keys
        if keys is None or keys[0] is not snapshot:
            # ascending -created (snapshot is created desc); paired with its snapshot
            keys = self._keys = (snapshot, [-s.spec["created"] for s in snapshot])
        keys = keys[1]
        a = 0 if hi == float("inf") else bisect.bisect_left(keys, -hi)
        b = len(keys) if lo == -float("inf") else bisect.bisect_right(keys, -lo)
        return snapshot[a:b]

    def add_runs(self, count):
        for _ in range(count):
            self._add_state(self._new_spec(len(self.states)))
        self._resort()

    def complete_runs(self):
        changed = 0
        for st in self.states:
            if st.spec["status"] != "completed":
                st.spec = dict(st.spec, status="completed")
                changed += 1
        return changed

    def attempt_specs(self, sp):
        """Specs of the earlier attempts of a run, oldest first: those a re-run replaced
        (kept in spec["history"], as they were served, now completed), preceded, for a run
        generated with run_attempt > 1, by its unseen first attempts (which failed or were
        cancelled, as re-run runs usually did)."""
        hist = list(sp.get("history", ()))
        base = hist[0] if hist else sp
        out = []
        for a in range(1, base["attempt"]):
            rng = self._rng("attempt", base["i"], a, base["gen"])
            out.append(dict(base, attempt=a, status="completed", history=(),
                            conclusion=rng.choice(["failure", "failure", "cancelled"])))
        return out + hist

    def rerun(self, run_id):
        st = self.by_id.get(run_id)
        if st is None:
            return None
        prev_updated = parse_time(st.run["updated_at"])[0]
        sp = dict(st.spec)
        sp["history"] = tuple(st.spec.get("history", ())) + (dict(st.spec, status="completed", history=()),)
        rng = self._rng("rerun", sp["i"], sp["gen"])
        sp["gen"] += 1
        sp["attempt"] = (sp["attempt"] if not sp["old"] else 1) + 1
        sp["old"] = False
        sp["status"] = "completed"
        sp["conclusion"] = rng.choice(["success", "success", "failure"])
        sp["trigger"] = rng.choice(ACTORS[:3])
        # the new attempt starts after the previous one was last updated
        gap = prev_updated + rng.randint(60, 900) - sp["created"]
        sp["rerun_delay"] = max(sp["rerun_delay"], -(-gap // (sp["attempt"] - 1)))
        st.spec = sp
        return st.run


# --------------------------------------------------------------------------------------
# The simulator (state shared by all handler threads)
# --------------------------------------------------------------------------------------

class Reply:
    __slots__ = ("status", "headers", "body", "etag", "kind", "hold")

    def __init__(self, status, body=b"", headers=None, etag=None, kind=None):
        self.status, self.body, self.headers, self.etag, self.kind = status, body, headers or [], etag, kind
        self.hold = 0.0     # a fault_rate timeout: seconds the connection is held unanswered


def jbody(obj):
    return _JSON.encode(obj).encode()


def err(status, message, doc=DOC_ROOT, kind=None):
    return Reply(status, jbody({"message": message, "documentation_url": doc}), kind=kind)


class _Bucket:
    """One primary budget: its current window and what it used. Keys: "shared", a token
    index or "anon" for REST (resource core); ("graphql", one of those) for GraphQL points."""
    __slots__ = ("win_start", "win_end", "used", "told")

    def __init__(self):
        self.win_start, self.win_end, self.used = None, None, 0
        self.told = set()  # clients (User-Agent) that saw this window's budget headers

    def describe(self, key, limit):
        resource = "core"
        if isinstance(key, tuple):
            resource, key = key
        return {"token": None if key == "shared" else key, "start": self.win_start,
                "reset": self.win_end, "limit": limit, "used": self.used, "resource": resource}


class Simulator:
    def __init__(self, scenario, log_path=None, header_log_path=None):
        self.lock = threading.Lock()
        self.port = 0
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        # line-buffered, under a lock of its own: a line per request, never held up by the
        # simulator's lock (nor holding it)
        self.header_log = (open(header_log_path, "a", encoding="utf-8", buffering=1)
                           if header_log_path else None)
        self.header_log_lock = threading.Lock()
        self.configure(scenario, initial=True)
        self.seq = 0
        self.buckets = {}              # primary budgets: key → _Bucket (see _bucket_key)
        self.reset_stats()
        self.penalty = (0.0, 0.0)      # (start, until) in monotonic seconds
        self.recent = deque()          # arrival times of REST requests, for per_minute
        self.gql_recent = deque()      # arrival times of GraphQL requests, for points_per_minute

    def configure(self, scenario, initial=False):
        """Apply a scenario (initially) or a partial update (POST /_sim/config)."""
        if initial:
            self.sc = deep_merge(DEFAULTS, scenario)
            host = self.sc["payload_host"].rstrip("/")
            self.repos = {}
            for rc in self.sc["repos"]:
                repo = Repo(rc, host)
                self.repos[repo.full_name.lower()] = repo
            self.repos_by_id = {r.id: r for r in self.repos.values()}
        else:
            scenario = {k: v for k, v in scenario.items() if k != "repos"}
            self.sc = deep_merge(self.sc, scenario)
            if "fault_rate" in scenario:      # replaced whole, never merged into the old rules
                self.sc["fault_rate"] = copy.deepcopy(scenario["fault_rate"])
        # each fault keeps its own remaining count
        self.faults = [dict(f, _left=int(f.get("times", 1)), _re=re.compile(f.get("path_regex", "")))
                       for f in self.sc["faults"]]
        if initial or "fault_rate" in scenario:
            # a new draw sequence each time the knob is set: the same seed, the same faults
            self.fault_rules = self._fault_rules(self.sc["fault_rate"])
        # tokens: strings, or {"token": value, "limit": own primary limit}
        self.token_list = []
        self.token_gql_limit = {}      # index → its own GraphQL limit ("graphql_limit")
        for t in self.sc["tokens"]:
            if isinstance(t, dict):
                lim = t.get("limit")
                self.token_list.append((str(t["token"]), None if lim is None else int(lim)))
                if t.get("graphql_limit") is not None:
                    self.token_gql_limit[len(self.token_list) - 1] = int(t["graphql_limit"])
            else:
                self.token_list.append((str(t), None))
        self.token_index = {}
        for k, (v, _) in enumerate(self.token_list):
            self.token_index.setdefault(v, k)
        self.tokens = set(self.token_index)
        self.per_token = bool(self.sc["rate_limit"].get("per_token")) or any(
            lim is not None for _, lim in self.token_list)
        self.cache = {}

    @staticmethod
    def _fault_rules(knob):
        """fault_rate (a rule or a list of rules) → rules with their own Random."""
        rules = []
        for spec in (knob if isinstance(knob, list) else [knob]):
            if not isinstance(spec, dict) or set(spec) - set(FAULT_RATE_DEFAULTS):
                raise ValueError("fault_rate: a rule is an object with keys %s, not %r"
                                 % (", ".join(FAULT_RATE_DEFAULTS), spec))
            r = dict(FAULT_RATE_DEFAULTS, **spec)
            kinds = [str(k) for k in (r["kinds"] or FAULT_KINDS)]
            bad = [k for k in kinds if k not in FAULT_KINDS]
            if bad:
                raise ValueError("fault_rate.kinds: unknown %s (known: %s)" % (bad, ", ".join(FAULT_KINDS)))
            most = r["max_consecutive"]
            rules.append({"rate": float(r["rate"] or 0.0), "kinds": kinds,
                          "paths": re.compile(r["paths"]) if r["paths"] else None,
                          "hold": float(r["timeout_ms"]) / 1000.0, "rng": random.Random(r["seed"]),
                          "most": None if most is None else int(most), "in_a_row": {}})
        return rules

    def _draw_fault(self, method, path, raw_q, body):
        """fault_rate's draw for a request arriving now (lock held) → (kind, hold seconds) or
        None. The first rule whose paths match draws twice, fault or not."""
        for rule in self.fault_rules:
            if rule["paths"] is None or rule["paths"].search(path):
                u, k = rule["rng"].random(), rule["rng"].randrange(len(rule["kinds"]))
                if rule["most"] is None:
                    return (rule["kinds"][k], rule["hold"]) if u < rule["rate"] else None
                # the same request again (a retry): its faults in a row so far
                key = (method, path, raw_q, hashlib.sha1(body or b"").digest())
                row = rule["in_a_row"].pop(key, 0)
                if u < rule["rate"] and row < rule["most"]:
                    rule["in_a_row"][key] = row + 1
                    return rule["kinds"][k], rule["hold"]
                return None
        return None

    def _max_hold(self):
        """The longest a fault_rate timeout may hold a connection, in seconds."""
        return max([r["hold"] for r in self.fault_rules if r["rate"] > 0 and "timeout" in r["kinds"]],
                   default=0.0)

    def reset_stats(self):
        with self.lock:
            self.log = []
            self.stats = {"requests": 0, "max_in_flight": 0, "violations": 0, "by_status": {},
                          "secondary_answers": 0, "primary_403": 0, "not_modified": 0,
                          "faults_injected": 0, "faults_by_kind": {}, "by_token": {}, "graphql_requests": 0,
                          "graphql_points": 0, "graphql_rate_limited": 0}
            self.window_history = []
            self.in_flight = getattr(self, "in_flight", 0)

    # ---- rate limits ----------------------------------------------------------------

    def _bucket_key(self, tok):
        """Which primary budget a request spends: one shared by every token (the default),
        or, with per-token budgets, its token's (index in `tokens`); requests without an
        accepted token then see the unauthenticated budget ("anon", 60, never spent)."""
        if not self.per_token:
            return "shared"
        return "anon" if tok is None else tok

    def _limit(self, key):
        if isinstance(key, tuple):            # GraphQL points
            key = key[1]
            if key == "anon":
                return 0                      # GraphQL needs a token
            if key in self.token_gql_limit:
                return self.token_gql_limit[key]
            return int(self.sc["graphql"]["limit"])
        if key == "anon":
            return 60
        if isinstance(key, int) and key < len(self.token_list) and self.token_list[key][1] is not None:
            return self.token_list[key][1]
        return int(self.sc["rate_limit"]["limit"])

    def _roll(self, now, key):
        """Primary window: starts at the first request after the previous one ended and
        resets at an integer epoch second, so waiting until X-RateLimit-Reset is enough."""
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = _Bucket()
        if b.win_end is None or now >= b.win_end:
            if b.win_end is not None and key not in ("anon", ("graphql", "anon")):
                self.window_history.append(b.describe(key, self._limit(key)))
            b.win_start = now
            knobs = self.sc["graphql"] if isinstance(key, tuple) else self.sc["rate_limit"]
            b.win_end = math.ceil(now + float(knobs["window_s"]))
            b.used = 0
            b.told = set()
        return b

    def _rate_headers(self, key):
        b = self.buckets[key]
        limit = self._limit(key)
        return [("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Remaining", str(max(0, limit - b.used))),
                ("X-RateLimit-Reset", str(int(b.win_end))),
                ("X-RateLimit-Used", str(b.used)),
                ("X-RateLimit-Resource", "graphql" if isinstance(key, tuple) else "core")]

    def windows(self):
        """Primary windows since the last reset_stats: the closed ones, then the current one
        of each budget (lock held)."""
        cur = [b.describe(k, self._limit(k)) for k, b in self.buckets.items()
               if k not in ("anon", ("graphql", "anon")) and b.win_end is not None]
        return self.window_history + cur

    def _secondary_reason(self, seq, arrived, in_flight):
        """Why this request hits a secondary limit (None if it does not), and whether
        that counts as a client violation."""
        sec = self.sc["secondary"]
        p_start, p_until = self.penalty
        if sec.get("penalty", True) and p_start + sec.get("grace_ms", 100) / 1000.0 <= arrived < p_until:
            return "penalty", True
        if seq in sec.get("at_requests", []):
            return "injected", False
        if sec.get("max_concurrent") and in_flight > sec["max_concurrent"]:
            return "concurrency", True
        # per_minute over a sliding window of per_minute_window_s (60): a shorter window
        # scales the limit down (per_minute × window / 60) so a short test can meet it
        window = float(sec.get("per_minute_window_s") or 60)
        while self.recent and self.recent[0] < arrived - window:
            self.recent.popleft()
        if sec.get("per_minute"):
            if len(self.recent) > sec["per_minute"] * window / 60.0:
                return "per_minute", True
        return None, False

    # ---- routing --------------------------------------------------------------------

    ROUTE = re.compile(r"^/(?:repos/([^/]+)/([^/]+)|repositories/(\d+))(/.*)?$")

    def route(self, path, raw_q, query, tok=None, check_access=False):
        if path == "/rate_limit":
            return None, "rate_limit"
        m = self.ROUTE.match(path)
        if not m:
            return err(404, "Not Found"), None
        if m.group(3):
            repo = self.repos_by_id.get(int(m.group(3)))
        else:
            repo = self.repos.get((unquote(m.group(1)) + "/" + unquote(m.group(2))).lower())
        if repo is None or (check_access and repo.cfg.get("readers") is not None
                            and tok not in repo.cfg["readers"]):
            return err(404, "Not Found", DOC_RUNS), None
        rest = m.group(4) or ""
        key = (repo.full_name, rest, raw_q)
        hit = self.cache.get(key)
        if hit is not None and hit[0] is repo.sorted:
            return hit[1], None
        snapshot = repo.sorted
        rep = self._compute(repo, snapshot, rest, raw_q, query)
        if rep.status == 200:
            if len(self.cache) > 20000:
                self.cache.clear()
            self.cache[key] = (snapshot, rep)
        return rep, None

    def _page_args(self, query):
        def num(name, default):
            try:
                v = int(query.get(name, default))
            except (TypeError, ValueError):
                return default
            return v if v >= 1 else default
        return min(num("per_page", 30), 100), num("page", 1)

    def _link(self, base, raw_q, page, last):
        """Link header like GitHub's: other parameters kept in request order, page replaced
        in place or appended; rels prev, next, last, first."""
        pairs = parse_qsl(raw_q, keep_blank_values=True)

        def url(p):
            out, done = [], False
            for k, v in pairs:
                if k == "page":
                    if not done:
                        out.append(("page", str(p)))
                        done = True
                    continue
                out.append((k, v))
            if not done:
                out.append(("page", str(p)))
            qs = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in out)
            return "<http://127.0.0.1:%d%s?%s>" % (self.port, base, qs)

        rels = []
        if page > 1:
            rels.append(url(page - 1) + '; rel="prev"')
        if page < last:
            rels.append(url(page + 1) + '; rel="next"')
            rels.append(url(last) + '; rel="last"')
        if page > 1:
            rels.append(url(1) + '; rel="first"')
        return ", ".join(rels)

    def _envelope(self, key, total, items):
        return b'{"total_count":%d,"%s":[' % (total, key.encode()) + b",".join(items) + b"]}"

    def _compute(self, repo, snapshot, rest, raw_q, query):
        base = "/repositories/%d" % repo.id
        per_page, page = self._page_args(query)
        if rest == "":
            r = dict(repo.simple)
            r.update({"default_branch": "main", "visibility": "private" if repo.cfg["private"] else "public"})
            return Reply(200, jbody(r))
        if rest == "/actions/workflows":
            total = len(repo.workflows)
            items = repo.workflow_bytes[(page - 1) * per_page: page * per_page]
            last = max(1, math.ceil(total / per_page))
            body = self._envelope("workflows", total, items)
            return Reply(200, body, [("Link", self._link(base + rest, raw_q, page, last))])
        m = re.match(r"^/actions/workflows/([^/]+)/runs$", rest)
        if rest == "/actions/runs" or m:
            runs = snapshot
            wf = None
            if m:
                wid = unquote(m.group(1))
                wf = [k for k, w in enumerate(repo.workflows) if str(w["id"]) == wid or w["_file"] == wid]
                if not wf:
                    return err(404, "Not Found", DOC_RUNS)
            filtered = False
            if "created" in query:
                rng = parse_created(query["created"])
                if rng is None:
                    return err(422, "Validation Failed: invalid created filter %r" % query["created"], DOC_RUNS)
                lo, hi = rng
                runs = repo.created_slice(snapshot, lo, hi)
                filtered = True
            if wf is not None:
                runs = [s for s in runs if s.spec["wf"] == wf[0]]
            for name, get in (("status", lambda r: (r["status"], r["conclusion"])),
                              ("branch", lambda r: (r["head_branch"],)),
                              ("event", lambda r: (r["event"],)),
                              ("actor", lambda r: ((r.get("actor") or {}).get("login"),)),
                              ("head_sha", lambda r: (r["head_sha"],))):
                if name in query:
                    v = query[name]
                    runs = [s for s in runs if v in get(s.run)]
                    filtered = filtered or name != "head_sha"
            total = len(runs)
            start = (page - 1) * per_page
            if filtered:
                cap = int(self.sc["caps"]["filtered"])
                items = runs[start:min(start + per_page, cap)] if start < cap else []
            else:
                cap = int(self.sc["caps"]["unfiltered"])
                if start >= cap:
                    return err(422, "Pagination is limited for this resource", DOC_RUNS)
                items = runs[start:min(start + per_page, cap)]
            nopr = str(query.get("exclude_pull_requests", "")).lower() == "true"
            body = self._envelope("workflow_runs", total,
                                  [s.run_bytes_nopr if nopr else s.run_bytes for s in items])
            last = max(1, math.ceil(min(total, cap) / per_page))
            headers = []
            link = self._link(base + rest, raw_q, page, last)
            if link:
                headers.append(("Link", link))
            return Reply(200, body, headers)
        m = re.match(r"^/actions/runs/(\d+)(/jobs)?$", rest)
        if m:
            st = repo.by_id.get(int(m.group(1)))
            if st is None:
                return err(404, "Not Found", DOC_ROOT)
            if not m.group(2):
                nopr = str(query.get("exclude_pull_requests", "")).lower() == "true"
                return Reply(200, st.run_bytes_nopr if nopr else st.run_bytes)
            filt = query.get("filter", "latest")
            if filt not in ("latest", "all"):
                return err(422, "Validation Failed: filter must be latest or all", DOC_ROOT)
            jobs = st.job_bytes if filt == "latest" else st.all_job_bytes
            total = len(jobs)
            items = jobs[(page - 1) * per_page: page * per_page]
            last = max(1, math.ceil(total / per_page))
            headers = []
            link = self._link(base + rest, raw_q, page, last)
            if link:
                headers.append(("Link", link))
            return Reply(200, self._envelope("jobs", total, items), headers)
        return err(404, "Not Found")

    # ---- the API request path -------------------------------------------------------

    def api(self, h, method, path, raw_q, body=b"", prefix=""):
        """Decide the answer to one API request on handler h → (Reply, log entry so far).
        The caller writes the answer and then calls finish(). path is without the prefix
        (/api/v3 for REST, /api for GraphQL, as on GitHub Enterprise Server); GraphQL's is
        /graphql."""
        arrived = time.monotonic()
        gql = path == "/graphql"
        with self.lock:
            self.seq += 1
            seq = self.seq
            self.in_flight += 1
            in_flight = self.in_flight
            self.stats["requests"] += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], in_flight)
            (self.gql_recent if gql else self.recent).append(arrived)
            # fault_rate: drawn in arrival order, whatever happens to the request next
            drawn = self._draw_fault(method, path, raw_q, body)
        entry = {"seq": seq, "method": method, "path": path, "query": self._query_dict(raw_q),
                 "status": None, "t_start": arrived, "t_end": None, "in_flight": in_flight}
        # which connection, and its how-manieth request: a client may re-send a request whose
        # reused connection died without an answer (libcurl does, once, unasked)
        h.conn_reqs = getattr(h, "conn_reqs", 0) + 1
        entry["conn"], entry["conn_req"] = getattr(h, "conn_id", 0), h.conn_reqs
        if prefix:
            entry["api_prefix"] = prefix
        try:
            latency = float(self.sc.get("latency_ms") or 0)
            if latency:
                if method == "GET" and not gql:
                    self._prepare(h, path, raw_q, entry)
                # the answer is decided latency_ms after arrival, however long that took
                time.sleep(max(0.0, arrived + latency / 1000.0 - time.monotonic()))
            if gql:
                rep = self._graphql(h, method, body, seq, arrived, in_flight, entry, drawn)
            else:
                rep = self._decide(h, method, path, raw_q, seq, arrived, in_flight, entry, drawn)
                if prefix and rep.headers:
                    # Link headers keep the prefix the request came with
                    base = "<http://127.0.0.1:%d/" % self.port
                    rep.headers = [(k, v.replace(base, base + prefix.strip("/") + "/") if k == "Link" else v)
                                   for k, v in rep.headers]
            # the primary budget as the answer states it
            rl = {k[12:].lower(): int(v) for k, v in rep.headers
                  if k.startswith("X-RateLimit-") and k != "X-RateLimit-Resource"}
            if rl:
                entry["rl"] = rl
            return rep, entry
        except BaseException:
            with self.lock:
                self.in_flight -= 1
            raise

    def _prepare(self, h, path, raw_q, entry):
        """Render (and cache) the answer a GET will most likely get while its latency runs,
        instead of after: _decide still decides after the sleep, and route() only serves a
        cached reply while the repository is unchanged, so the answer is the same; only the
        rendering, hashing and compressing (and waiting for the GIL between them) no longer
        add to the latency the client sees."""
        try:
            query = {k: (v[-1] if isinstance(v, list) else v) for k, v in entry["query"].items()}
            rep, special = self.route(path, raw_q, query)
            if special is None and rep.status == 200:
                if rep.etag is None:
                    rep.etag = 'W/"%s"' % hashlib.sha256(rep.body).hexdigest()
                if (len(rep.body) > 1024 and self.sc.get("gzip", True)
                        and "gzip" in h.headers.get("Accept-Encoding", "").lower()):
                    h._gzip(rep)
        except Exception:
            pass    # whatever failed fails again in _decide, at the time it used to

    @staticmethod
    def _query_dict(raw_q):
        q = {}
        for k, v in parse_qsl(raw_q, keep_blank_values=True):
            if k in q:
                q[k] = (q[k] if isinstance(q[k], list) else [q[k]]) + [v]
            else:
                q[k] = v
        return q

    def _who(self, hdr, entry):
        """The token presented (its value), its index in `tokens` (None if not accepted);
        the log entry notes the index or a short hash, never the value."""
        auth = hdr.get("Authorization", "")
        parts = auth.split(None, 1)
        presented = parts[1].strip() if len(parts) == 2 and parts[0].lower() in ("bearer", "token") else None
        tok = self.token_index.get(presented) if presented is not None else None
        entry["token_ok"] = tok is not None
        entry["token"] = tok
        entry["token_sha"] = (hashlib.sha256(presented.encode()).hexdigest()[:8]
                              if presented is not None else None)
        entry["headers"] = {k: hdr[k] for k in ("user-agent", "accept", "x-github-api-version",
                                                "accept-encoding", "if-none-match") if k in hdr}
        return presented, tok

    def _take_fault(self, path, method, drawn):
        """The fault this request gets (lock held): the first scripted `faults` entry with
        times left that matches, else the fault_rate kind drawn at arrival ({"kind": k,
        "rate": True}), else None. Counted in the stats."""
        fault = None
        for f in self.faults:
            if f["_left"] > 0 and f["_re"].search(path) and f.get("method", method) == method:
                f["_left"] -= 1
                fault = f
                break
        if fault is None and drawn is not None:
            fault = {"kind": drawn[0], "rate": True, "hold": drawn[1]}
        if fault is not None:
            kind = fault.get("kind", "status")
            name = kind if kind != "status" else str(int(fault.get("status", 500)))
            self.stats["faults_injected"] += 1
            by = self.stats["faults_by_kind"]
            by[name] = by.get(name, 0) + 1
        return fault

    @staticmethod
    def _spends(fault):
        """Whether a request that meets this fault spends its budget: all but a reset
        (a timeout was received and worked on, its answer never sent)."""
        return fault is None or fault.get("kind", "status") != "reset"

    def _fault_reply(self, fault, rate, real):
        """The Reply of a fault (after its delay for a `delay`), or None when the real answer
        goes out (a `delay`). real() → the real answer's body, for truncated and bad_json."""
        kind = fault.get("kind", "status")
        if not fault.get("rate"):
            if kind == "reset":
                return Reply(0, kind="fault:reset")
            if kind == "delay":
                time.sleep(float(fault.get("delay_ms", 1000)) / 1000.0)
                return None
            st = int(fault.get("status", 500))
            body = fault.get("body")
            return Reply(st, body.encode() if isinstance(body, str) else
                         jbody({"message": "Server Error" if st >= 500 else HTTPStatus(st).phrase}),
                         list(rate), kind="fault:%d" % st)
        tag = "fault_rate:" + kind
        if kind == "reset":
            return Reply(0, kind=tag)
        if kind == "timeout":
            r = Reply(0, kind=tag)             # the handler holds the connection, then closes
            r.hold = fault["hold"]
            return r
        if kind in ("500", "502", "503"):
            return Reply(int(kind), jbody({"message": FAULT_5XX_MESSAGES[int(kind)]}), list(rate), kind=tag)
        if kind == "wrong_shape":
            return Reply(200, FAULT_WRONG_SHAPE, list(rate), kind=tag)
        if kind in ("html", "html_502"):
            return Reply(200 if kind == "html" else 502, FAULT_HTML,
                         [("Content-Type", "text/html; charset=utf-8")] + list(rate), kind=tag)
        body = real()
        if kind == "bad_json":
            return Reply(200, body[:len(body) // 2], list(rate), kind=tag)
        return Reply(200, body, list(rate), kind=tag)   # truncated: the handler cuts it

    def _decide(self, h, method, path, raw_q, seq, arrived, in_flight, entry, drawn=None):
        hdr = h.headers
        presented, tok = self._who(hdr, entry)
        token_ok = tok is not None
        key = self._bucket_key(tok)
        query = {k: (v[-1] if isinstance(v, list) else v) for k, v in entry["query"].items()}
        with self.lock:
            bucket = self._roll(time.time(), key)
            rate = self._rate_headers(key)
        if self.sc.get("require_user_agent", True) and not hdr.get("User-Agent"):
            # GitHub answers this one in plain text, not JSON
            return Reply(403, MSG_NO_UA.encode(), [("Content-Type", "text/plain; charset=utf-8")] + rate,
                         kind="no_ua")
        if not token_ok:
            return Reply(401, jbody({"message": "Bad credentials", "documentation_url": DOC_ROOT}),
                         rate, kind="auth")
        if method != "GET":
            return err(404, "Not Found")

        with self.lock:
            bt = self.stats["by_token"]
            bt[str(tok)] = bt.get(str(tok), 0) + 1
            reason, violation = self._secondary_reason(seq, arrived, in_flight)
            if reason:
                sec = self.sc["secondary"]
                now = time.monotonic()
                self.penalty = (now, now + float(sec.get("retry_after", 60)))
                self.stats["secondary_answers"] += 1
                self.stats["violations"] += 1 if violation else 0
                if bucket.used < self._limit(key):
                    bucket.used += 1
                rep = err(int(sec.get("status", 403)), MSG_SECONDARY, DOC_SECONDARY, kind="secondary:" + reason)
                rep.headers = self._rate_headers(key)
                if sec.get("send_retry_after", True):
                    rep.headers.append(("Retry-After", str(sec.get("retry_after", 60))))
                return rep

        rep, special = self.route(path, raw_q, query, tok, check_access=True)
        if special == "rate_limit":
            with self.lock:
                limit = self._limit(key)
                core = {"limit": limit, "remaining": max(0, limit - bucket.used), "reset": int(bucket.win_end),
                        "used": bucket.used, "resource": "core"}
                headers = self._rate_headers(key)
                # the GraphQL points of the same token, as they stand (a window not yet
                # opened is shown fresh, not opened)
                gkey = ("graphql", key)
                gb = self.buckets.get(gkey)
                glimit = self._limit(gkey)
                if gb is None or gb.win_end is None or time.time() >= gb.win_end:
                    gql = {"limit": glimit, "remaining": glimit, "used": 0,
                           "reset": math.ceil(time.time() + float(self.sc["graphql"]["window_s"]))}
                else:
                    gql = {"limit": glimit, "remaining": max(0, glimit - gb.used), "reset": int(gb.win_end),
                           "used": gb.used}
                gql["resource"] = "graphql"
            body = jbody({"resources": {"core": core, "graphql": gql}, "rate": core})
            return Reply(200, body, headers)   # free, like GitHub

        etag = None
        if rep.status == 200:
            etag = rep.etag or 'W/"%s"' % hashlib.sha256(rep.body).hexdigest()
            rep.etag = etag
        with self.lock:
            inm = hdr.get("If-None-Match")
            if etag and inm and etag in [t.strip() for t in inm.split(",")]:
                self.stats["not_modified"] += 1
                return Reply(304, b"", self._rate_headers(key) + [("ETag", etag)], kind="not_modified")
            limit = self._limit(key)
            if bucket.used >= limit:
                self.stats["violations"] += 1
                self.stats["primary_403"] += 1
                r = err(403, "API rate limit exceeded for user ID 1.", DOC_PRIMARY, kind="primary")
                r.headers = self._rate_headers(key)
                return r
            fault = self._take_fault(path, method, drawn)
            if self._spends(fault):
                bucket.used += 1
            rate = self._rate_headers(key)
        if fault is not None:
            r = self._fault_reply(fault, rate, lambda: rep.body)
            if r is not None and fault.get("location_prefix"):
                # a redirect to the same path and query under another origin (or this one)
                r.headers.append(("Location", fault["location_prefix"] + path +
                                  ("?" + raw_q if raw_q else "")))
            if r is not None:
                return r
        out = Reply(rep.status, rep.body, rate + list(rep.headers), etag=etag, kind=rep.kind)
        if etag:
            out.headers.append(("ETag", etag))
        return out


    # ---- GraphQL ----------------------------------------------------------------------

    def find_node(self, node_id):
        """A global id → ("CheckSuite", RunState) or ("CheckRun", RunState, job object), or
        None. A check suite id of an attempt a re-run replaced still names its run."""
        n = node_number("CS", node_id)
        if n is not None:
            for repo in self.repos.values():
                i, g = divmod(n - repo.suite_base, 10)
                if 0 <= i < len(repo.states) and g <= repo.states[i].spec["gen"]:
                    return "CheckSuite", repo.states[i]
            return None
        n = node_number("CR", node_id)
        if n is not None:
            head = b'{"id":%d,' % n
            for repo in self.repos.values():
                i = (n - repo.job_base) // 10000
                if 0 <= i < len(repo.states):
                    st = repo.states[i]
                    for b in st.all_job_bytes:
                        if b.startswith(head):
                            return "CheckRun", st, json.loads(b)
        return None

    def _gql_secondary(self, seq, arrived, in_flight):
        """Secondary limits of a GraphQL request: the penalty, injected answers and the
        concurrency cap are shared with REST; points_per_minute counts GraphQL queries (a
        query without mutation is 1 point for it) over points_window_s (lock held)."""
        sec, g = self.sc["secondary"], self.sc["graphql"]
        p_start, p_until = self.penalty
        if sec.get("penalty", True) and p_start + sec.get("grace_ms", 100) / 1000.0 <= arrived < p_until:
            return "penalty", True
        if seq in sec.get("at_requests", []):
            return "injected", False
        if sec.get("max_concurrent") and in_flight > sec["max_concurrent"]:
            return "concurrency", True
        window = float(g.get("points_window_s") or 60)
        while self.gql_recent and self.gql_recent[0] < arrived - window:
            self.gql_recent.popleft()
        ppm = g.get("points_per_minute")
        if ppm and len(self.gql_recent) > ppm * window / 60.0:
            return "points_per_minute", True
        return None, False

    def _graphql(self, h, method, body, seq, arrived, in_flight, entry, drawn=None):
        """POST /graphql: auth, secondary limits, parse/validate/limits/cost (before any
        execution), the points budget, faults, the timeout knob, then the execution."""
        g = self.sc["graphql"]
        hdr = h.headers
        entry["resource"] = "graphql"
        with self.lock:
            self.stats["graphql_requests"] += 1
        if not g.get("enabled", True):
            return err(404, "Not Found", kind="graphql:disabled")   # a server without GraphQL
        presented, tok = self._who(hdr, entry)
        if "content-type" in hdr:
            entry["headers"]["content-type"] = hdr["content-type"]
        key = ("graphql", self._bucket_key(tok) if tok is not None else "anon")
        with self.lock:
            bucket = self._roll(time.time(), key)
            rate = self._rate_headers(key)
        if self.sc.get("require_user_agent", True) and not hdr.get("User-Agent"):
            return Reply(403, MSG_NO_UA.encode(), [("Content-Type", "text/plain; charset=utf-8")] + rate,
                         kind="no_ua")
        if tok is None:
            msg = "This endpoint requires you to be authenticated." if presented is None else "Bad credentials"
            return Reply(401, jbody({"message": msg, "documentation_url": DOC_GQL}), rate, kind="auth")
        if method != "POST":
            return Reply(404, jbody({"message": "Not Found", "documentation_url": DOC_GQL}), rate)
        with self.lock:
            bt = self.stats["by_token"]
            bt[str(tok)] = bt.get(str(tok), 0) + 1
            reason, violation = self._gql_secondary(seq, arrived, in_flight)
            if reason:
                sec = self.sc["secondary"]
                now = time.monotonic()
                self.penalty = (now, now + float(sec.get("retry_after", 60)))
                self.stats["secondary_answers"] += 1
                self.stats["violations"] += 1 if violation else 0
                rep = err(int(sec.get("status", 403)), MSG_SECONDARY, DOC_SECONDARY, kind="secondary:" + reason)
                rep.headers = self._rate_headers(key)
                if sec.get("send_retry_after", True):
                    rep.headers.append(("Retry-After", str(sec.get("retry_after", 60))))
                return rep
        req, bad = ghsim_graphql.parse_body(body)
        if bad:
            return Reply(bad[0], jbody(bad[1]), rate, kind="graphql:bad_json")
        c = ghsim_graphql.compile_request(req)
        entry["operation"] = c.operation_name
        entry["cost"] = c.cost
        entry["node_count"] = c.node_count
        entry["charged"] = 0
        if isinstance(c.raw_variables, dict) and c.raw_variables:
            entry["variables"] = c.raw_variables
        if c.errors:
            entry["gql_errors"] = [e.get("type", "INVALID") for e in c.errors]
            return Reply(200, jbody({"errors": c.errors}), rate, kind="graphql:invalid")
        with self.lock:
            bucket = self._roll(time.time(), key)
            limit = self._limit(key)
            remaining = limit - bucket.used
            client = hdr.get("User-Agent")
            if remaining <= 0 or (not c.dry_run and c.cost > remaining):
                # A violation when this client was already told the window's budget; a
                # first query into a budget someone else spent is a probe, not a violation.
                self.stats["violations"] += 1 if client in bucket.told else 0
                bucket.told.add(client)
                self.stats["graphql_rate_limited"] += 1
                entry["gql_errors"] = ["RATE_LIMITED"]
                return Reply(int(g.get("rate_limited_status", 200)),
                             jbody({"errors": [{"type": "RATE_LIMITED",
                                                "message": "API rate limit exceeded for user ID 1."}]}),
                             self._rate_headers(key), kind="graphql:rate_limited")
            fault = self._take_fault("/graphql", method, drawn)
            if not c.dry_run and self._spends(fault):
                bucket.used += c.cost
                entry["charged"] = c.cost
                self.stats["graphql_points"] += c.cost
            bucket.told.add(client)
            rate = self._rate_headers(key)
            rate_obj = {"cost": c.cost, "limit": limit, "nodeCount": c.node_count,
                        "remaining": max(0, limit - bucket.used), "resetAt": iso(int(bucket.win_end)),
                        "used": bucket.used}
        if fault is not None:
            # truncated and bad_json cut the real answer: the query runs as it would
            r = self._fault_reply(fault, rate, lambda: self._gql_execute(c, rate_obj, entry).body)
            if r is not None:
                return r
        limit_nodes = int(g.get("timeout_nodes") or 0)
        if limit_nodes and c.node_count > limit_nodes:
            time.sleep(float(g.get("timeout_ms", 10000)) / 1000.0)
            rid = hashlib.sha256(b"request|%d" % seq).hexdigest().upper()
            rid = "%s:%s:%s:%s:%s" % (rid[:4], rid[4:8], rid[8:14], rid[14:20], rid[20:28])
            entry["gql_errors"] = ["TIMEOUT"]
            return Reply(int(g.get("timeout_status", 200)),
                         jbody({"data": None, "errors": [{"message": ghsim_graphql.MSG_TIMEOUT % rid}]}),
                         rate, kind="graphql:timeout")
        return self._gql_execute(c, rate_obj, entry, rate)

    def _gql_execute(self, c, rate_obj, entry, rate=()):
        """Run a query that passed every check → its 200 Reply (rate: its headers)."""
        g = self.sc["graphql"]
        mismatch = {}
        for x in g.get("mismatch") or []:
            if isinstance(x, dict):
                mismatch[int(x["run"])] = x.get("field", "name")
            else:
                mismatch[int(x)] = "name"
        ctx = ghsim_graphql.Context(self, c.source, rate_obj, forbidden=bool(g.get("scope_error")),
                                    dry_run=c.dry_run, mismatch=mismatch)
        out = ghsim_graphql.execute(c, ctx)
        if out.get("errors"):
            entry["gql_errors"] = [e.get("type", "ERROR") for e in out["errors"]]
        return Reply(200, jbody(out), list(rate))

    def log_received(self, method, target, items, body):
        """--header-log: one JSON line per request received (control ones too), with the
        request target, every header as sent (Authorization included: the tests scan it
        for a token sent anywhere but there) and the body, so nothing the client sent
        escapes a scan."""
        if not self.header_log:
            return
        line = json.dumps({"method": method, "target": target, "headers": items,
                           "body": body.decode("iso-8859-1")}, ensure_ascii=False)
        with self.header_log_lock:
            self.header_log.write(line + "\n")

    def finish(self, entry, status, kind):
        entry["status"] = status
        entry["t_end"] = time.monotonic()
        if kind:
            entry["kind"] = kind
        with self.lock:
            self.in_flight -= 1
            by = self.stats["by_status"]
            by[str(status)] = by.get(str(status), 0) + 1
            self.log.append(entry)
            if self.log_file:
                self.log_file.write(_JSON_LOG.encode(entry) + "\n")
                self.log_file.flush()

    # ---- control endpoints ----------------------------------------------------------

    def control(self, method, path, raw_q, body):
        q = self._query_dict(raw_q)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "body is not JSON"}
        if method == "GET" and path in ("/_sim/log", "/_sim/stats"):
            # A client has its answer before finish() records it; let those land first so a
            # test reading the log right after the miner exits sees every request.
            # (a fault_rate timeout holds its connection timeout_ms: wait for those too)
            deadline = time.monotonic() + 2.0 + self._max_hold()
            while self.in_flight > 0 and time.monotonic() < deadline:
                time.sleep(0.005)
        if method == "GET" and path == "/_sim/log":
            with self.lock:
                return 200, sorted(self.log, key=lambda e: e["seq"])   # arrival order
        if method == "GET" and path == "/_sim/stats":
            with self.lock:
                out = copy.deepcopy(self.stats)
                out["windows"] = self.windows()
                return 200, out
        if method == "GET" and path == "/_sim/scenario":
            return 200, self.sc
        if method == "POST" and path == "/_sim/reset_stats":
            self.reset_stats()
            return 200, {"ok": True}
        if method == "POST" and path == "/_sim/config":
            with self.lock:
                before = self.sc
                try:
                    self.configure(req)
                except (ValueError, TypeError, re.error) as e:
                    self.sc = before            # a bad knob changes nothing
                    self.configure({})
                    return 400, {"message": "bad scenario knob: %s" % e}
            return 200, {"ok": True}
        name = q.get("repo") if method == "GET" else req.get("repo")
        repo = self.repos.get(str(name).lower())
        if repo is None:
            return 404, {"message": "unknown repo %r" % name}
        if method == "GET" and path == "/_sim/truth":
            snap = repo.sorted
            if q.get("ids"):      # ids=1,2,3: only these runs
                want = {int(x) for x in q["ids"].split(",") if x.strip().isdigit()}
                snap = [s for s in snap if s.spec["id"] in want]
            # fields=id,created_at,...: only those keys of each run (id and created_at need
            # no rendering, so the truth of a 45,000-run repository is cheap); jobs=0: no jobs
            fields = [f for f in q.get("fields", "").split(",") if f] if q.get("fields") else None
            if fields is None:
                runs = [s.run for s in snap]
            else:
                spec_only = {"id": lambda s: s.spec["id"], "created_at": lambda s: iso(s.spec["created"])}
                runs = [{f: (spec_only[f](s) if f in spec_only else s.run.get(f)) for f in fields}
                        for s in snap]
            out = {"runs": runs}
            if q.get("jobs", "1") not in ("0", "false"):
                if q.get("filter") == "all":      # every attempt's jobs, as filter=all
                    out["jobs"] = {str(s.spec["id"]): [json.loads(b) for b in s.all_job_bytes] for s in snap}
                else:
                    out["jobs"] = {str(s.spec["id"]): s.jobs for s in snap}
            return 200, out
        with self.lock:
            if method == "POST" and path == "/_sim/add_runs":
                repo.add_runs(int(req.get("count", 1)))
                ids = [s.spec["id"] for s in repo.states[-int(req.get("count", 1)):]]
            elif method == "POST" and path == "/_sim/complete_runs":
                repo.complete_runs()
                ids = []
            elif method == "POST" and path == "/_sim/rerun":
                if repo.rerun(int(req.get("id", 0))) is None:
                    return 404, {"message": "unknown run id"}
                ids = [int(req["id"])]
            else:
                return 404, {"message": "unknown control endpoint"}
            repo._resort()      # new snapshot object → page cache entries go stale
            self.cache.clear()
        return 200, {"ok": True, "ids": ids}


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------

# What every client here sends: "GET /path HTTP/1.1" and plain "Name: value" header lines
_PLAIN_REQUEST_LINE = re.compile(rb"([A-Z]+) ([!-~]+) HTTP/1\.1\r?\n")
_PLAIN_HEADER_LINE = re.compile(rb"[!-9;-~]+:[^\r\n]*\r?\n")
_PHRASES = {s.value: s.phrase for s in HTTPStatus}


class _Headers:
    """Request headers read from plain lines: get(), [] and `in` as on the
    http.client.HTTPMessage the stdlib would build (case-insensitive names, the first of
    repeated headers wins, a missing one is None), by a dict lookup instead of a scan."""
    __slots__ = ("_first", "_lines")

    def __init__(self, lines):
        first = {}
        for line in lines:
            # as the email package (compat32) splits a line: name up to the first colon,
            # value without leading blanks and the line end
            name, _, value = line.decode("iso-8859-1").partition(":")
            first.setdefault(name.lower(), value.lstrip(" \t").rstrip("\r\n"))
        self._first = first
        self._lines = lines

    def items(self):
        """Every header line as [name, value], repeated ones included, in order."""
        out = []
        for line in self._lines:
            name, _, value = line.decode("iso-8859-1").partition(":")
            out.append([name, value.strip(" \t\r\n")])
        return out

    def get(self, name, default=None):
        return self._first.get(name.lower(), default)

    def __getitem__(self, name):
        return self._first.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._first


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    timeout = 120  # idle keep-alive connections do not pin threads forever
    _date = (None, "")   # (epoch second, its Date header value), shared by all handlers

    _conns = iter(range(1, 1 << 62))   # connection numbers (next() is atomic under the GIL)

    def setup(self):
        super().setup()
        self.conn_id, self.conn_reqs = next(Handler._conns), 0
        # headers and body go out in one write; no Nagle delay on small answers
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request with a fast path for a plain HTTP/1.1
        request. The stdlib parses the header block with the email package, which took
        more CPU than everything else about a cached answer; the requests it would treat
        differently from _Headers (folded or malformed lines, other versions, bad request
        lines) still go the stdlib's way, so no answer changes."""
        m = _PLAIN_REQUEST_LINE.fullmatch(self.raw_requestline)
        if m is None:
            return super().parse_request()
        # what the stdlib sets for a valid three-word HTTP/1.1 request line
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.request_version = "HTTP/1.1"
        self.close_connection = not self.protocol_version >= "HTTP/1.1"
        self.command, self.path = m.group(1).decode("ascii"), m.group(2).decode("ascii")
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # as the stdlib does (gh-87389)
        try:
            # the stdlib's own reader: same limits, same errors
            lines = http.client._read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        # the last line is the blank one (or b"" at EOF)
        if all(_PLAIN_HEADER_LINE.fullmatch(line) for line in lines[:-1]):
            self.headers = _Headers(lines[:-1])
        else:
            self.headers = email.parser.Parser(_class=self.MessageClass).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        # the rest as in the stdlib
        conntype = self.headers.get("Connection", "")
        if conntype.lower() == "close":
            self.close_connection = True
        elif conntype.lower() == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "")
        if (expect.lower() == "100-continue" and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"):
            if not self.handle_expect_100():
                return False
        return True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def _handle(self, method):
        sim = self.server.sim
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        sim.log_received(method, self.path, [list(kv) for kv in self.headers.items()], body)
        if url.path.startswith("/_sim/"):
            status, obj = sim.control(method, url.path, url.query, body)
            self._write(status, [("Content-Type", "application/json; charset=utf-8")], jbody(obj))
            return
        path, prefix = url.path, ""
        if path in ("/graphql", "/api/graphql"):
            path, prefix = "/graphql", path[:-8]
        elif path.startswith("/api/v3/"):          # GitHub Enterprise Server's REST root
            path, prefix = path[7:], "/api/v3"
        rep, entry = sim.api(self, method, path, url.query, body, prefix)
        status = rep.status
        try:
            if rep.kind in ("fault:reset", "fault_rate:reset"):
                # close without answering; SO_LINGER 0 turns the close into a TCP RST
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                status = 0
                return
            if rep.kind == "fault_rate:timeout":
                # no answer for longer than a client's timeout, then a plain close (FIN)
                time.sleep(rep.hold)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                status = 0
                return
            headers = list(rep.headers)
            if not any(k == "Content-Type" for k, _ in headers):
                headers.insert(0, ("Content-Type", "application/json; charset=utf-8"))
            headers.append(("X-GitHub-Api-Version-Selected", "2022-11-28"))
            headers.append(("X-GitHub-Media-Type", "github.v3; format=json"))
            headers.append(("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP"))
            headers.append(("Vary", "Accept-Encoding, Accept, X-Requested-With"))
            gql = ("X-RateLimit-Resource", "graphql") in headers
            if rep.body and not gql and not any(k == "ETag" for k, _ in headers):
                # error answers carry an ETag too; only 200s can be revalidated (304)
                headers.append(("ETag", 'W/"%s"' % hashlib.sha256(rep.body).hexdigest()))
            payload = rep.body
            if (status != 304 and len(payload) > 1024 and sim.sc.get("gzip", True)
                    and "gzip" in self.headers.get("Accept-Encoding", "").lower()):
                payload = self._gzip(rep)
                headers.append(("Content-Encoding", "gzip"))
            if rep.kind == "fault_rate:truncated":
                # Content-Length announces the whole body, half of it is sent, then the close
                # (no "Connection: close": the server went away mid-body)
                self._write(status, headers, payload, cut=len(payload) // 2)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._write(status, headers, payload)
        except OSError:
            status = 0
            self.close_connection = True
        finally:
            sim.finish(entry, status, rep.kind)

    def _gzip(self, rep):
        # replies of 200s are cached per query, so cache their gzip form by ETag as well
        cache = self.server.sim.cache
        key = ("gz", rep.etag)
        hit = cache.get(key) if rep.etag else None
        if hit is not None:
            return hit
        gz = gzip.compress(rep.body, compresslevel=1, mtime=0)
        if rep.etag:
            cache[key] = gz
        return gz

    def _write(self, status, headers, body, cut=None):
        """One answer in one write; cut: send only body[:cut] (Content-Length stays whole)."""
        now = int(time.time())
        date = Handler._date
        if date[0] != now:      # formatted once a second, not once a request
            date = Handler._date = (now, formatdate(now, usegmt=True))
        out = ["HTTP/1.1 %d %s\r\n" % (status, _PHRASES.get(status, "Unknown")),
               "Server: GitHub.com\r\n",
               "Date: %s\r\n" % date[1]]
        for k, v in headers:
            out.append("%s: %s\r\n" % (k, v))
        if status != 304:
            out.append("Content-Length: %d\r\n" % len(body))
        if self.close_connection:
            out.append("Connection: close\r\n")
        if status == 304:
            body = b""
        elif cut is not None:
            body = body[:cut]
        self.wfile.write("".join(out).encode("latin-1") + b"\r\n" + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # clients hanging up (a killed miner, a timeout) are normal here; real bugs are not
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", help="scenario JSON file")
    ap.add_argument("--scenario-json", help="scenario JSON inline")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    ap.add_argument("--port-file", help="written (atomically) with the port once listening")
    ap.add_argument("--log", help="append one JSON line per API request")
    ap.add_argument("--header-log", help="append one JSON line per request received: its "
                    "target, every header (Authorization included) and its body")
    a = ap.parse_args(argv)
    scenario = {}
    if a.scenario:
        with open(a.scenario, encoding="utf-8") as f:
            scenario = json.load(f)
    if a.scenario_json:
        scenario = deep_merge(scenario, json.loads(a.scenario_json))

    sim = Simulator(scenario, a.log, a.header_log)
    # The scenario's objects (run specs, ...) live as long as the process: keep them out of
    # the garbage collector's sight, or every full collection walks them all while holding
    # the GIL, stalling every request in flight.
    gc.freeze()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.sim = sim
    sim.port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp.%d" % os.getpid()
        with open(tmp, "w") as f:
            f.write("%d\n" % sim.port)
        os.replace(tmp, a.port_file)   # readers never see a partial file

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
        if sim.log_file:
            sim.log_file.close()
        if sim.header_log:
            sim.header_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
