"""ghsim's GitHub GraphQL API: the check suites and check runs behind workflow runs.

Imported by ghsim.py, which owns the HTTP side (auth, budgets, faults, the request log);
this module owns the GraphQL side: the schema subset (GitHub's names and types), parsing
and validation with graphql-core, GitHub's pre-execution limits and cost formula, and the
execution over the simulator's data (a run's check suite, its jobs as check runs, their
steps as check steps), with GitHub's error shapes.

graphql-core: Debian 12's python3-graphql-core (2.3.2, the graphql-core 2 API) or a
graphql-core 3 that the interpreter already sees; both work. An interpreter that does not
see Debian's dist-packages (pyenv) gets it appended to sys.path.
"""

import base64
import datetime
import hashlib
import json
import logging
import re
import sys

try:
    import graphql
except ImportError:                       # pyenv's python3 does not see Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import graphql

V3 = hasattr(graphql, "graphql_sync")
# graphql-core 2 logs every resolver exception with its traceback on stderr
logging.getLogger("graphql").addHandler(logging.NullHandler())
logging.getLogger("graphql").propagate = False

# The subset of GitHub's schema (https://docs.github.com/graphql/reference) that the
# check suite of a workflow run involves: names, types, arguments and enum values as there.
SDL = '''
schema { query: Query }

type Query {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  rateLimit(dryRun: Boolean = false): RateLimit
}

interface Node { id: ID! }

scalar DateTime

type RateLimit {
  cost: Int!
  limit: Int!
  nodeCount: Int!
  remaining: Int!
  resetAt: DateTime!
  used: Int!
}

type CheckSuite implements Node {
  checkRuns(after: String, before: String, filterBy: CheckRunFilter, first: Int, last: Int): CheckRunConnection
  conclusion: CheckConclusionState
  databaseId: Int
  id: ID!
  status: CheckStatusState!
}

input CheckRunFilter {
  appId: Int
  checkName: String
  checkType: CheckRunType
  conclusions: [CheckConclusionState!]
  status: CheckStatusState
  statuses: [CheckStatusState!]
}

enum CheckRunType { ALL LATEST }

type CheckRunConnection {
  edges: [CheckRunEdge]
  nodes: [CheckRun]
  pageInfo: PageInfo!
  totalCount: Int!
}

type CheckRunEdge { cursor: String!, node: CheckRun }

type CheckRun implements Node {
  checkSuite: CheckSuite!
  completedAt: DateTime
  conclusion: CheckConclusionState
  databaseId: Int
  id: ID!
  name: String!
  startedAt: DateTime
  status: CheckStatusState!
  steps(after: String, before: String, first: Int, last: Int, number: Int): CheckStepConnection
}

type CheckStepConnection {
  edges: [CheckStepEdge]
  nodes: [CheckStep]
  pageInfo: PageInfo!
  totalCount: Int!
}

type CheckStepEdge { cursor: String!, node: CheckStep }

type CheckStep {
  completedAt: DateTime
  conclusion: CheckConclusionState
  externalId: String
  name: String!
  number: Int!
  secondsToCompletion: Int
  startedAt: DateTime
  status: CheckStatusState!
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

enum CheckStatusState { COMPLETED IN_PROGRESS PENDING QUEUED REQUESTED WAITING }

enum CheckConclusionState {
  ACTION_REQUIRED CANCELLED FAILURE NEUTRAL SKIPPED STALE STARTUP_FAILURE SUCCESS TIMED_OUT
}
'''

MAX_PAGE = 100             # first/last
MAX_IDS = 100              # nodes(ids:)
MAX_NODES = 500000         # the node limit
ACTIONS_APP_ID = 15368     # GitHub Actions' app: every check run here is its
MSG_NO_QUERY = "A query attribute must be specified and must be a string."
MSG_TIMEOUT = ("Something went wrong while executing your query. This may be the result of a "
               "timeout, or it could be a GitHub bug. Please include `%s` when reporting this issue.")
MSG_FORBIDDEN = "Resource not accessible by integration"


def _kind(node):
    """AST node kind without graphql-core 3's 'Node' suffix ('Field', 'IntValue' …)."""
    n = type(node).__name__
    return n[:-4] if n.endswith("Node") and n != "Node" else n


def _named(t):
    while hasattr(t, "of_type"):
        t = t.of_type
    return t


def _set_resolver(schema, type_name, field, fn):
    f = schema.get_type(type_name).fields[field]
    if V3:
        f.resolve = fn
    else:
        f.resolver = fn


def _big_int(value):
    """GitHub's Int carries database ids past 2^31 (job ids are ~5·10^10): serialise any
    integer, as GitHub does, where graphql-core stops at 32 bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("Int cannot represent non-integer value: %r" % (value,))
    return value


def _build_schema():
    schema = graphql.build_ast_schema(graphql.parse(SDL))
    schema.get_type("DateTime").serialize = lambda v: v   # the very strings REST serves
    schema.get_type("Int").serialize = _big_int
    schema.get_type("Node").resolve_type = lambda v, info, *rest: v.get("__typename")
    for t, f, fn in ((("Query", "node", _r_node)), ("Query", "nodes", _r_nodes),
                     ("Query", "rateLimit", _r_rate_limit), ("CheckSuite", "checkRuns", _r_check_runs),
                     ("CheckRun", "steps", _r_steps)):
        _set_resolver(schema, t, f, fn)
    return schema


POSSIBLE = {"Node": ("CheckSuite", "CheckRun")}


# --------------------------------------------------------------------------------------
# Errors, locations, cursors
# --------------------------------------------------------------------------------------

def _line_col(source, offset):
    line = source.count("\n", 0, offset) + 1
    return {"line": line, "column": offset - source.rfind("\n", 0, offset)}


def _loc(source, node):
    loc = getattr(node, "loc", None)
    if loc is None or source is None:
        return None
    start = loc.start if hasattr(loc, "start") else loc["start"]
    return [_line_col(source, start)]


def _gh_error(message, etype=None, path=None, locations=None, extensions=None):
    """An error in GitHub's key order: type, path, extensions, locations, message."""
    e = {}
    if etype:
        e["type"] = etype
    if path is not None:
        e["path"] = path
    if extensions:
        e["extensions"] = extensions
    if locations:
        e["locations"] = locations
    e["message"] = message
    return e


_UNDEFINED_FIELD = re.compile(r"""^Cannot query field ['"](\w+)['"] on type ['"](\w+)['"]\.""")
_UNKNOWN_ARG = re.compile(r"""^Unknown argument ['"](\w+)['"] on field ['"](?:\w+\.)?(\w+)['"]""")


def _library_error(e):
    """A graphql-core error (either version) → GitHub's shape; the two messages clients
    most often meet are worded as GitHub (graphql-ruby) words them."""
    if V3:
        f = e.formatted
    else:
        f = graphql.error.format_error(e)
    msg = f.get("message") or str(e)
    ext = None
    m = _UNDEFINED_FIELD.match(msg)
    if m:
        msg = "Field '%s' doesn't exist on type '%s'" % (m.group(1), m.group(2))
        ext = {"code": "undefinedField", "typeName": m.group(2), "fieldName": m.group(1)}
    m = _UNKNOWN_ARG.match(msg)
    if m:
        msg = "Field '%s' doesn't accept argument '%s'" % (m.group(2), m.group(1))
        ext = {"code": "argumentNotAccepted", "name": m.group(2), "typeName": "Field",
               "argumentName": m.group(1)}
    locs = f.get("locations")
    if locs:
        locs = [{"line": x["line"], "column": x["column"]} if isinstance(x, dict)
                else {"line": x.line, "column": x.column} for x in locs]
    return _gh_error(msg, path=f.get("path"), locations=locs or None, extensions=ext)


def cursor(index):
    return base64.b64encode(b"cursor:v2:%d" % index).decode()


def _cursor_index(text):
    try:
        raw = base64.b64decode(text.encode(), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    m = re.fullmatch(rb"cursor:v2:(\d+)", raw)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------
# Compiling a request: parse, validate, coerce variables, limits and cost (no execution)
# --------------------------------------------------------------------------------------

class Compiled:
    """One GraphQL request before execution. errors (GitHub-shaped dicts) is non-empty when
    it must not run; otherwise cost, node_count and dry_run are known."""

    def __init__(self):
        self.errors = []
        self.document = self.operation = None
        self.variables = {}         # coerced (for the cost)
        self.raw_variables = {}     # as sent (for the execution, which coerces them itself)
        self.source = None
        self.requests = 0          # sum of the requests each connection needs
        self.node_count = 0        # the nodes the query could return
        self.cost = 0
        self.dry_run = False
        self.operation_name = None


def parse_body(body):
    """Request bytes → (query, variables, operation name) or a ('http', status, obj)
    answer for a body that is not JSON."""
    try:
        req = json.loads(body or b"null")
    except ValueError:
        return None, (400, {"message": "Problems parsing JSON",
                            "documentation_url": "https://docs.github.com/graphql"})
    if not isinstance(req, dict):
        req = {}
    return req, None


def compile_request(req):
    c = Compiled()
    query = req.get("query")
    if not isinstance(query, str) or not query.strip():
        c.errors = [_gh_error(MSG_NO_QUERY)]
        return c
    variables = req.get("variables")
    if isinstance(variables, str):          # GitHub takes variables as a JSON string too
        try:
            variables = json.loads(variables) if variables.strip() else None
        except ValueError:
            c.errors = [_gh_error("Variables are invalid JSON.")]
            return c
    if variables is not None and not isinstance(variables, dict):
        c.errors = [_gh_error("Variables are invalid JSON.")]
        return c
    c.source = query
    try:
        doc = graphql.parse(query)
    except graphql.GraphQLError as e:
        c.errors = [_library_error(e)]
        return c
    errs = graphql.validate(SCHEMA, doc)
    if errs:
        c.errors = [_library_error(e) for e in errs]
        return c
    ops = [d for d in doc.definitions if _kind(d) == "OperationDefinition"]
    name = req.get("operationName")
    if name:
        ops = [o for o in ops if o.name is not None and o.name.value == name]
        if not ops:
            c.errors = [_gh_error('No operation named "%s"' % name)]
            return c
    elif len(ops) > 1:
        c.errors = [_gh_error("An operation name is required")]
        return c
    op = ops[0]
    kind = op.operation if isinstance(op.operation, str) else op.operation.value
    if kind != "query":
        c.errors = [_gh_error("Schema is not configured for %ss" % kind, locations=_loc(query, op))]
        return c
    c.document, c.operation, c.operation_name = doc, op, name or (op.name.value if op.name else None)
    c.raw_variables = variables or {}
    c.variables, errs = _coerce_variables(op, c.raw_variables, query)
    if errs:
        c.errors = errs
        return c
    _Cost(c, doc).run()
    if not c.errors and c.node_count > MAX_NODES:
        c.errors = [_gh_error("This query requests up to %s possible nodes which exceeds the maximum "
                              "limit of %s." % (format(c.node_count, ","), format(MAX_NODES, ",")),
                              "MAX_NODE_LIMIT_EXCEEDED")]
    # GitHub's formula: requests / 100, rounded half up, at least 1
    c.cost = max(1, int(c.requests / 100.0 + 0.5))
    return c


def _type_text(t):
    k = _kind(t)
    if k == "NonNullType":
        return _type_text(t.type) + "!"
    if k == "ListType":
        return "[" + _type_text(t.type) + "]"
    return t.name.value


def _scalar_ok(name, v):
    """What GitHub's scalars take from JSON variables (graphql-core 2 would turn a list into
    an ID string, say)."""
    if name in ("ID",):
        return isinstance(v, (str, int)) and not isinstance(v, bool)
    if name in ("String", "DateTime"):
        return isinstance(v, str)
    if name == "Int":
        return isinstance(v, int) and not isinstance(v, bool) and -2 ** 31 <= v < 2 ** 31
    if name == "Boolean":
        return isinstance(v, bool)
    t = SCHEMA.get_type(name)
    if type(t).__name__ == "GraphQLEnumType":   # values: a dict (3) or a list (2)
        names = set(t.values) if isinstance(t.values, dict) else {x.name for x in t.values}
        return isinstance(v, str) and v in names
    if type(t).__name__ == "GraphQLInputObjectType":
        return isinstance(v, dict)       # its fields: the library's coercion checks them
    return True


def _named_text(t):
    while _kind(t) in ("NonNullType", "ListType"):
        t = t.type
    return t.name.value


def _value_ok(t, v):
    k = _kind(t)
    if k == "NonNullType":
        return v is not None and _value_ok(t.type, v)
    if v is None:
        return True
    if k == "ListType":
        return all(_value_ok(t.type, x) for x in (v if isinstance(v, list) else [v]))
    return _scalar_ok(t.name.value, v)


def _coerce_variables(op, inputs, source):
    from graphql.execution import values
    defs = op.variable_definitions or []
    for d in defs:
        name = d.variable.name.value
        if name in inputs and not _value_ok(d.type, inputs[name]):
            return {}, [_gh_error("Variable $%s of type %s was provided invalid value" % (name, _type_text(d.type)),
                                  locations=_loc(source, d),
                                  extensions={"value": inputs[name], "problems": [
                                      {"path": [], "explanation": "Could not coerce value %s to %s"
                                       % (json.dumps(inputs[name]), _named_text(d.type))}]})]
    try:
        out = values.get_variable_values(SCHEMA, defs, inputs)
    except graphql.GraphQLError as e:        # graphql-core 2 raises the first one
        return {}, [_library_error(e)]
    if isinstance(out, list):                # graphql-core 3 returns the list
        return {}, [_library_error(e) for e in out]
    return dict(out), []


class _Cost:
    """GitHub's pre-execution accounting over the operation's AST: each connection needs
    one request per parent it may be fetched for, and may return `first`/`last` nodes per
    parent; nodes(ids:) multiplies what it selects by the number of ids. On an abstract type
    the most expensive of its possible types counts (as graphql-ruby does); the same
    response key selected twice is one field. Also finds GitHub's argument limits."""

    def __init__(self, compiled, doc):
        self.c = compiled
        self.fragments = {d.name.value: d for d in doc.definitions if _kind(d) == "FragmentDefinition"}
        self.seen_errors = set()

    def run(self):
        r, n = self._selections(self.c.operation.selection_set.selections, "Query", 1, [])
        self.c.requests, self.c.node_count = r, n

    def _error(self, message, etype, path, node):
        key = (tuple(path), message)
        if key not in self.seen_errors:
            self.seen_errors.add(key)
            self.c.errors.append(_gh_error(message, etype, list(path), _loc(self.c.source, node)))

    def _value(self, node):
        k = _kind(node)
        if k == "Variable":
            return self.c.variables.get(node.name.value)
        if k == "IntValue":
            return int(node.value)
        if k == "FloatValue":
            return float(node.value)
        if k == "BooleanValue":
            return node.value in (True, "true")
        if k == "NullValue":
            return None
        if k == "ListValue":
            return [self._value(v) for v in node.values]
        if k == "ObjectValue":
            return {f.name.value: self._value(f.value) for f in node.fields}
        return node.value               # String, Enum

    def _included(self, node):
        for d in getattr(node, "directives", None) or []:
            args = {a.name.value: self._value(a.value) for a in d.arguments or []}
            if d.name.value == "skip" and args.get("if") is True:
                return False
            if d.name.value == "include" and args.get("if") is False:
                return False
        return True

    def _applies(self, cond, concrete):
        return cond is None or cond == concrete or concrete in POSSIBLE.get(cond, ())

    def _flatten(self, selections, concrete, out):
        """The fields a selection list selects on a concrete type, by response key."""
        for s in selections:
            if not self._included(s):
                continue
            k = _kind(s)
            if k == "Field":
                key = (s.alias or s.name).value
                out.setdefault(key, []).append(s)
            elif k == "InlineFragment":
                cond = s.type_condition.name.value if s.type_condition else None
                if self._applies(cond, concrete):
                    self._flatten(s.selection_set.selections, concrete, out)
            elif k == "FragmentSpread":
                f = self.fragments.get(s.name.value)
                if f is not None and self._applies(f.type_condition.name.value, concrete):
                    self._flatten(f.selection_set.selections, concrete, out)
        return out

    def _selections(self, selections, parent, mult, path):
        best = (0, 0)
        for concrete in POSSIBLE.get(parent, (parent,)):
            r = n = 0
            for key, fields in self._flatten(selections, concrete, {}).items():
                fr, fn = self._field(fields, concrete, mult, path + [key])
                r, n = r + fr, n + fn
            best = max(best, (r, n))
        return best

    def _field(self, fields, parent, mult, path):
        f = fields[0]
        name = f.name.value
        if name.startswith("__"):
            return 0, 0
        fdef = SCHEMA.get_type(parent).fields[name]
        tname = _named(fdef.type).name
        args = {a.name.value: self._value(a.value) for a in f.arguments or []}
        children = [s for x in fields if x.selection_set for s in x.selection_set.selections]
        if parent == "Query" and name == "rateLimit" and args.get("dryRun") is True:
            self.c.dry_run = True
        if tname.endswith("Connection"):
            first, last = args.get("first"), args.get("last")
            if first is None and last is None:
                self._error("You must provide a `first` or `last` value to properly paginate the "
                            "`%s` connection." % name, "MISSING_PAGINATION_BOUNDARIES", path, f)
                return 0, 0
            if first is not None and last is not None:
                self._error("Passing both `first` and `last` to paginate the `%s` connection is not "
                            "supported." % name, "EXCESSIVE_PAGINATION", path, f)
                return 0, 0
            arg, k = ("first", first) if first is not None else ("last", last)
            if k > MAX_PAGE:
                self._error("Requesting %d records on the `%s` connection exceeds the `%s` limit of "
                            "%d records." % (k, name, arg, MAX_PAGE), "EXCESSIVE_PAGINATION", path, f)
                return 0, 0
            if k < 0:
                self._error("`%s` on the `%s` connection cannot be less than zero." % (arg, name),
                            "EXCESSIVE_PAGINATION", path, f)
                return 0, 0
            # pageInfo and totalCount hold no connection, so the whole selection can be
            # walked with the multiplier of its nodes/edges
            r, n = self._selections(children, tname, mult * k, path)
            return mult + r, mult * k + n
        if parent == "Query" and name == "nodes":
            ids = args.get("ids") or []
            if len(ids) > MAX_IDS:
                self._error("You may not request more than %d nodes at once (requested %d)."
                            % (MAX_IDS, len(ids)), "ARGUMENT_LIMIT", path, f)
                return 0, 0
            return self._selections(children, tname, mult * len(ids), path)
        if children:
            return self._selections(children, tname, mult, path)
        return 0, 0


# --------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------

class Context:
    """What the resolvers of one request see.

    world: ghsim's Simulator (find_node, repo data); rate: the rateLimit object;
    forbidden: answer every node FORBIDDEN (a token without checks: read); errors: the
    GitHub-shaped errors the resolvers add; mismatch: {run id: field} to make GraphQL differ
    from REST."""

    def __init__(self, world, source, rate, forbidden=False, dry_run=False, mismatch=None):
        self.world, self.source, self.rate = world, source, rate
        self.forbidden, self.dry_run = forbidden, dry_run
        self.mismatch = mismatch or {}
        self.errors = []
        self._jobs = {}

    def field_node(self, info):
        return (info.field_nodes if V3 else info.field_asts)[0]

    def path(self, info):
        return info.path.as_list() if V3 else list(info.path)

    def error(self, info, message, etype, extra_path=()):
        self.errors.append(_gh_error(message, etype, self.path(info) + list(extra_path),
                                     _loc(self.source, self.field_node(info))))

    def jobs(self, st, latest=True):
        """The run's jobs as REST serves them (filter=latest or all), parsed once."""
        key = (id(st), latest)
        got = self._jobs.get(key)
        if got is None:
            raw = st.job_bytes if latest else st.all_job_bytes
            got = self._jobs[key] = [json.loads(b) for b in raw]
        return got


def _up(v):
    return v.upper() if isinstance(v, str) else v


def suite_obj(st):
    run = st.run
    return {"__typename": "CheckSuite", "id": run["check_suite_node_id"],
            "databaseId": run["check_suite_id"], "status": _up(run["status"]),
            "conclusion": _up(run["conclusion"]), "_st": st}


def check_run_obj(job, suite):
    return {"__typename": "CheckRun", "id": job["node_id"], "databaseId": job["id"],
            "name": job["name"], "status": _up(job["status"]), "conclusion": _up(job["conclusion"]),
            "startedAt": job["started_at"], "completedAt": job["completed_at"],
            "checkSuite": suite, "_steps": job.get("steps") or [], "_job_id": job["id"]}


def _epoch(text):
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


def _seconds(a, b):
    ta, tb = _epoch(a), _epoch(b)
    return None if ta is None or tb is None else int(round(tb - ta))


def step_obj(step, job_id):
    ext = hashlib.sha1(b"%d|%d" % (job_id, step["number"])).hexdigest()
    return {"name": step["name"], "status": _up(step["status"]), "conclusion": _up(step["conclusion"]),
            "number": step["number"], "startedAt": step["started_at"],
            "completedAt": step["completed_at"],
            "secondsToCompletion": _seconds(step["started_at"], step["completed_at"]),
            "externalId": "%s-%s-%s-%s-%s" % (ext[:8], ext[8:12], ext[12:16], ext[16:20], ext[20:32])}


def _resolve_id(ctx, info, node_id, extra_path=()):
    if ctx.forbidden:
        ctx.error(info, MSG_FORBIDDEN, "FORBIDDEN", extra_path)
        return None
    found = ctx.world.find_node(node_id) if isinstance(node_id, str) else None
    if found is None:
        ctx.error(info, "Could not resolve to a node with the global id of '%s'" % node_id,
                  "NOT_FOUND", extra_path)
        return None
    if found[0] == "CheckSuite":
        return suite_obj(found[1])
    st, job = found[1], found[2]
    jobs = _mismatched(ctx, st, [job])
    if not jobs:
        ctx.error(info, "Could not resolve to a node with the global id of '%s'" % node_id,
                  "NOT_FOUND", extra_path)
        return None
    return check_run_obj(jobs[0], suite_obj(st))


def _r_node(root, info, id):
    ctx = info.context
    if ctx.dry_run:
        return None
    return _resolve_id(ctx, info, id)


def _r_nodes(root, info, ids):
    ctx = info.context
    if ctx.dry_run:
        return []
    return [_resolve_id(ctx, info, x, (i,)) for i, x in enumerate(ids)]


def _r_rate_limit(root, info, dryRun=False):
    return info.context.rate


def _page(ctx, info, items, first, after, last, before, make):
    """A connection over items: cursors are positions, totalCount counts all of them."""
    total = len(items)
    lo, hi = 0, total
    for name, cur in (("after", after), ("before", before)):
        if cur is None:
            continue
        at = _cursor_index(cur)
        if at is None:
            ctx.error(info, "`%s` does not appear to be a valid cursor." % cur, "INVALID_CURSOR_ARGUMENTS")
            return None
        if name == "after":
            lo = max(lo, min(at + 1, total))
        else:
            hi = min(hi, at)
    hi = max(lo, hi)
    if first is not None:
        s, e = lo, min(hi, lo + first)
    else:
        s, e = max(lo, hi - (last or 0)), hi
    nodes = [make(x) for x in items[s:e]]
    return {"totalCount": total,
            "pageInfo": {"hasNextPage": e < total, "hasPreviousPage": s > 0,
                         "startCursor": cursor(s) if e > s else None,
                         "endCursor": cursor(e - 1) if e > s else None},
            "nodes": nodes,
            "edges": [{"cursor": cursor(s + k), "node": n} for k, n in enumerate(nodes)]}


def _mismatched(ctx, st, jobs):
    """graphql.mismatch: this run's GraphQL jobs differ from REST in one field."""
    how = ctx.mismatch.get(st.spec["id"])
    latest = ctx.jobs(st) if how else None
    if not latest:
        return jobs
    target = latest[0]["id"]           # the first job of the latest attempt
    at = [k for k, j in enumerate(jobs) if j["id"] == target]
    if not at:
        return jobs
    jobs = list(jobs)
    j = jobs[at[0]] = dict(jobs[at[0]])
    if how == "name":
        j["name"] = j["name"] + " (graphql)"
    elif how == "conclusion":
        j["conclusion"] = "neutral" if j["conclusion"] != "neutral" else "success"
    elif how == "started_at":
        j["started_at"] = "2000-01-01T00:00:00Z"
    elif how == "completed_at":
        j["completed_at"] = None if j["completed_at"] else "2000-01-01T00:00:00Z"
    elif how == "step_name":
        steps = [dict(s) for s in j.get("steps") or []]
        if steps:
            steps[0]["name"] += " (graphql)"
        j["steps"] = steps
    elif how == "drop_job":
        del jobs[at[0]]
    return jobs


def _r_check_runs(suite, info, first=None, after=None, last=None, before=None, filterBy=None):
    ctx = info.context
    f = filterBy or {}
    st = suite["_st"]
    jobs = ctx.jobs(st, latest=f.get("checkType") != "ALL")
    jobs = _mismatched(ctx, st, jobs)
    if f.get("appId") is not None and f["appId"] != ACTIONS_APP_ID:
        jobs = []
    if f.get("checkName") is not None:
        jobs = [j for j in jobs if j["name"] == f["checkName"]]
    statuses = set(f.get("statuses") or ()) | ({f["status"]} if f.get("status") else set())
    if statuses:
        jobs = [j for j in jobs if _up(j["status"]) in statuses]
    if f.get("conclusions"):
        jobs = [j for j in jobs if _up(j["conclusion"]) in f["conclusions"]]
    return _page(ctx, info, jobs, first, after, last, before, lambda j: check_run_obj(j, suite))


def _r_steps(run, info, first=None, after=None, last=None, before=None, number=None):
    steps = run["_steps"]
    if number is not None:
        steps = [s for s in steps if s["number"] == number]
    return _page(info.context, info, steps, first, after, last, before,
                 lambda s: step_obj(s, run["_job_id"]))


def execute(compiled, ctx):
    """Run a compiled request → the answer's JSON object ({"data": …, "errors": […]})."""
    res = graphql.execute(SCHEMA, compiled.document, root_value={}, context_value=ctx,
                          variable_values=compiled.raw_variables, operation_name=compiled.operation_name)
    out = {"data": _plain(res.data)}
    errors = list(ctx.errors) + [_library_error(e) for e in res.errors or []]
    if errors:
        out["errors"] = errors
    return out


def _plain(v):
    """graphql-core 2 answers OrderedDicts; plain dicts and lists, same order."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


SCHEMA = _build_schema()
