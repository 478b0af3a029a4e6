/* serve_api.c - the HTTP API over the CSV (JSON, or NDJSON when asked): repositories, runs
 * with filters and paging, one run with its jobs, a refresh, and health. */
#define H2O_USE_LIBUV 1
#include <h2o.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "msg.h"
#include "policy.h"
#include "record.h"
#include "serve_int.h"
#include "serve_rules.h"
#include "util.h"

/* ---- reading the CSV ------------------------------------------------------------------- */

int serve_rows_open(struct serve *sv, const char *repo, int *id, size_t *count,
		    struct error *err)
{
	int rc = journal_flush(&sv->st.j, err);
	if (rc == 0)
		rc = serve_index_update(&sv->ix, &sv->st.cs, err);
	*id = rc == 0 ? serve_index_repo(&sv->ix, repo) : -1;
	*count = serve_index_count(&sv->ix, *id);
	return rc;
}

int serve_row(struct serve *sv, int repo, size_t place, struct record *row, struct error *err)
{
	const struct serve_span *sp = serve_index_span(&sv->ix, repo, place);
	int rc;
	memset(row, 0, sizeof(*row)); /* released by the caller on every path */
	if (!sp)
		return error_set(err, -ERANGE, "no row %zu", place);
	rc = csvstore_read_span(&sv->st.cs, (off_t)sp->off, sp->len, row, err);
	if (rc == 0 && row->v[COL_ID_BUILD])
		/* What the journal holds for it and is not folded yet (jobs, newer values). */
		journal_patch(&sv->st.j, 0, strtoll(row->v[COL_ID_BUILD], NULL, 10), row);
	return rc;
}

static bool wants_ndjson(h2o_req_t *req)
{
	for (size_t i = 0; i < req->headers.size; i++) {
		const h2o_header_t *h = &req->headers.entries[i];
		if (h->name == &H2O_TOKEN_ACCEPT->buf &&
		    memmem(h->value.base, h->value.len, "application/x-ndjson", 20))
			return true;
	}
	return false;
}

/* ---- GET /api/repos ------------------------------------------------------------------ */

static json_t *repo_entry(struct serve *sv, const char *name, long runs, long jobs)
{
	struct serve_repo *r = serve_repo_find(sv, name, false);
	double age = r ? serve_repo_age(r) : -1;
	double last = r ? serve_repo_last_sync(r) : 0;
	json_t *o = json_pack("{s:s, s:I, s:I, s:b, s:i, s:I}", "repo", name, "runs",
			      (json_int_t)runs, "jobs_collected", (json_int_t)jobs, "mining",
			      r && r->s, "pass", r ? r->pass : 0, "clients",
			      (json_int_t)(r ? r->nclients : 0));
	json_object_set_new(o, "last_sync", last > 0 ? json_real(last) : json_null());
	json_object_set_new(o, "data_age_s", age >= 0 ? json_real(age) : json_null());
	return o;
}

static void api_repos(struct serve *sv, h2o_req_t *req)
{
	const struct runindex *ix = &sv->st.cs.index;
	const struct runindex_slot *slot;
	long *runs = xcalloc(ix->nrepos + 1, sizeof(long));
	long *jobs = xcalloc(ix->nrepos + 1, sizeof(long));
	json_t *list = json_array();
	struct serve_repo *r;
	for (size_t pos = 0; runindex_next(ix, &pos, &slot);) {
		runs[slot->repo]++;
		jobs[slot->repo] += (slot->value & RX_HAS_JOBS) != 0;
	}
	for (size_t i = 0; i < ix->nrepos; i++)
		if (runs[i])
			json_array_append_new(list, repo_entry(sv, ix->repos[i], runs[i], jobs[i]));
	LIST_FOREACH(r, &sv->repos, link) {
		int id = runindex_repo((struct runindex *)ix, r->ref.full_name, false);
		if (id < 0 || !runs[id])
			json_array_append_new(list, repo_entry(sv, r->ref.full_name, 0, 0));
	}
	free(runs);
	free(jobs);
	serve_reply_json(req, 200, json_pack("{s:o}", "repos", list));
}

/* ---- GET /api/runs/OWNER/REPO ---------------------------------------------------------- */

struct run_query {
	struct serve_run_filter f;
	long limit, cursor; /* cursor: the place of the row to start from */
	long scan;          /* rows a request may read (POLICY_API_SCAN_ROWS) */
	long next;          /* where the next page starts, or -1: nothing after this one */
	json_t *runs;
};

/* The rows from the cursor that pass the filters, up to the limit; then on to the next
 * matching row, whose place is the next cursor. At most q->scan rows are read, so a
 * request never holds the loop long: a sparse filter can give a short page, and the next
 * cursor goes on from where it stopped. */
static int query_rows(struct serve *sv, const char *repo, struct run_query *q,
		      struct error *err)
{
	size_t count, place;
	long read = 0;
	int id, rc = serve_rows_open(sv, repo, &id, &count, err);
	q->next = -1;
	if (rc != 0)
		return rc;
	for (place = (size_t)q->cursor; place < count; place++) {
		struct record row;
		if (read++ == q->scan) {
			q->next = (long)place;
			break;
		}
		rc = serve_row(sv, id, place, &row, err);
		bool match = rc == 0 && serve_run_matches(&q->f, &row);
		if (match && (long)json_array_size(q->runs) == q->limit) {
			q->next = (long)place;
			record_release(&row);
			break;
		}
		if (match) {
			/* Jobs are on /api/runs/OWNER/REPO/ID: a list stays small. */
			free(row.v[COL_JOB_DETAILS]);
			row.v[COL_JOB_DETAILS] = NULL;
			json_array_append_new(q->runs, record_to_json(&row));
		}
		record_release(&row);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static bool parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long v;
	if (!text || !*text)
		return false;
	v = strtol(text, &end, 10);
	if (*end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void query_release(struct run_query *q)
{
	free(q->f.since);
	free(q->f.until);
	free(q->f.status);
	free(q->f.conclusion);
	json_decref(q->runs);
}

/* The query's parameters; false after answering 400. */
static bool query_parse(h2o_req_t *req, struct run_query *q)
{
	char *limit = serve_query(req, "limit"), *cursor = serve_query(req, "cursor");
	char *wf = serve_query(req, "workflow_id");
	long v = 0;
	bool ok = true;
	q->f.since = serve_query(req, "since");
	q->f.until = serve_query(req, "until");
	q->f.status = serve_query(req, "status");
	q->f.conclusion = serve_query(req, "conclusion");
	q->limit = POLICY_API_LIMIT;
	q->scan = getenv("GHAMINER_API_SCAN_ROWS") ? atol(getenv("GHAMINER_API_SCAN_ROWS"))
						   : POLICY_API_SCAN_ROWS;
	if (q->scan < 1)
		q->scan = 1;
	if (limit && !parse_long(limit, 1, POLICY_API_LIMIT_MAX, &q->limit)) {
		serve_reply_error(req, 400, "limit must be an integer from 1 to %d",
				  POLICY_API_LIMIT_MAX);
		ok = false;
	} else if (cursor && !parse_long(cursor, 0, LONG_MAX, &q->cursor)) {
		serve_reply_error(req, 400, "invalid cursor: pass the next_cursor of a page");
		ok = false;
	} else if (wf && !parse_long(wf, 1, LONG_MAX, &v)) {
		serve_reply_error(req, 400, "workflow_id must be a positive integer");
		ok = false;
	}
	q->f.workflow_id = v;
	free(limit);
	free(cursor);
	free(wf);
	return ok;
}

static void reply_runs(h2o_req_t *req, struct run_query *q)
{
	char next[32];
	snprintf(next, sizeof(next), "%ld", q->next);
	if (wants_ndjson(req)) {
		struct buf out;
		size_t i;
		json_t *run;
		buf_init(&out, 0);
		json_array_foreach(q->runs, i, run) {
			char *line = json_dumps(run, RECORD_JSON_FLAGS);
			buf_appends(&out, line);
			buf_appends(&out, "\n");
			free(line);
		}
		if (q->next >= 0)
			h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-next-cursor"),
					      0, NULL, h2o_strdup(&req->pool, next, SIZE_MAX).base,
					      strlen(next));
		serve_reply(req, 200, "application/x-ndjson", out.data ? out.data : "", out.len);
		buf_release(&out);
		return;
	}
	serve_reply_json(req, 200, json_pack("{s:O, s:I, s:o}", "runs", q->runs, "count",
					     (json_int_t)json_array_size(q->runs), "next_cursor",
					     q->next >= 0 ? json_string(next) : json_null()));
}

static void api_runs(struct serve *sv, h2o_req_t *req, const char *repo)
{
	struct run_query q = {.runs = json_array()};
	struct error err = {0};
	int rc;
	if (!query_parse(req, &q)) {
		query_release(&q);
		return;
	}
	rc = query_rows(sv, repo, &q, &err);
	if (rc < 0)
		serve_reply_error(req, 500, "%s", err.msg);
	else
		reply_runs(req, &q);
	query_release(&q);
}

/* ---- GET /api/runs/OWNER/REPO/ID ------------------------------------------------------- */

static void api_run(struct serve *sv, h2o_req_t *req, const char *repo, const char *id)
{
	struct error err = {0};
	struct record row;
	size_t count;
	int rid;
	long v, place;
	if (!parse_long(id, 1, LONG_MAX, &v)) {
		serve_reply_error(req, 400, "invalid run id '%s'", id);
		return;
	}
	if (serve_rows_open(sv, repo, &rid, &count, &err) != 0) {
		serve_reply_error(req, 500, "%s", err.msg);
		return;
	}
	place = serve_index_place(&sv->ix, rid, v);
	if (place < 0) {
		serve_reply_error(req, 404, "run %s of %s is not in the CSV", id, repo);
		return;
	}
	if (serve_row(sv, rid, (size_t)place, &row, &err) != 0)
		serve_reply_error(req, 500, "%s", err.msg);
	else
		serve_reply_json(req, 200, record_to_json(&row));
	record_release(&row);
}

/* ---- POST /api/refresh/OWNER/REPO, GET /health ---------------------------------------- */

static void api_refresh(struct serve *sv, h2o_req_t *req, const char *name)
{
	struct serve_repo *r;
	int pass;
	if (!serve_request_token(sv, req)) {
		serve_reply_error(req, 401, "no GitHub token: send 'Authorization: Bearer TOKEN' "
				  "(or start the server with GITHUB_TOKEN)");
		return;
	}
	r = serve_repo_find(sv, name, true);
	if (!r) {
		serve_reply_error(req, 400, "invalid repository '%s' (or too many repositories)",
				  name);
		return;
	}
	pass = serve_repo_pass(r);
	if (pass == -EBUSY)
		serve_reply_json(req, 409, json_pack("{s:s, s:i, s:s}", "error",
						     "a pass is already under way", "pass", r->pass,
						     "repo", r->ref.full_name));
	else if (pass < 0)
		serve_reply_error(req, 503, "cannot start a pass: %s", pass == -ECANCELED ?
				  "the server is stopping" : "no GitHub token");
	else
		serve_reply_json(req, 202, json_pack("{s:i, s:s}", "pass", pass, "repo",
						     r->ref.full_name));
}

static void api_health(struct serve *sv, h2o_req_t *req)
{
	struct serve_repo *r;
	size_t mining = 0, clients = 0;
	LIST_FOREACH(r, &sv->repos, link) {
		mining += r->s != NULL;
		clients += r->nclients;
	}
	serve_reply_json(req, 200, json_pack(
		"{s:b, s:I, s:I, s:I, s:b, s:I}", "ok", 1, "repos", (json_int_t)sv->nrepos,
		"mining", (json_int_t)mining, "clients", (json_int_t)clients, "token",
		serve_has_token(sv), "budget_left",
		(json_int_t)governor_budget_left(fetch_governor(sv->e.fetch), FETCH_REST)));
}

/* "OWNER/REPO" (into full, 256 bytes) and what follows it ("" or "/ID"), or NULL. */
static const char *split_repo(const char *rest, char *full)
{
	const char *a = strchr(rest, '/'), *b;
	if (!a || a == rest || !a[1])
		return NULL;
	b = strchr(a + 1, '/');
	if ((size_t)((b ? b : a + strlen(a)) - rest) >= 256 || b == a + 1)
		return NULL;
	snprintf(full, 256, "%.*s", (int)((b ? b : a + strlen(a)) - rest), rest);
	return b ? b : "";
}

static bool is_method(h2o_req_t *req, const char *m)
{
	return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

bool serve_api_route(struct serve *sv, h2o_req_t *req, const char *path)
{
	char full[256];
	const char *tail;
	bool get = is_method(req, "GET") || is_method(req, "HEAD");
	if (!strcmp(path, "/health") || !strcmp(path, "/api/repos")) {
		if (!get)
			serve_reply_error(req, 405, "use GET");
		else if (path[1] == 'h')
			api_health(sv, req);
		else
			api_repos(sv, req);
		return true;
	}
	if (!strncmp(path, "/api/runs/", 10) && (tail = split_repo(path + 10, full))) {
		if (!get)
			serve_reply_error(req, 405, "use GET");
		else if (!*tail)
			api_runs(sv, req, full);
		else if (!strchr(tail + 1, '/') && tail[1])
			api_run(sv, req, full, tail + 1);
		else
			return false;
		return true;
	}
	if (!strncmp(path, "/api/refresh/", 13) && (tail = split_repo(path + 13, full)) && !*tail) {
		if (!is_method(req, "POST"))
			serve_reply_error(req, 405, "use POST");
		else
			api_refresh(sv, req, full);
		return true;
	}
	return false;
}
