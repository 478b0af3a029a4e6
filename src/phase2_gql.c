/* phase2_gql.c - job details through GraphQL: runs batched into check-suite queries, check
 * runs and steps paged past what a query asked for (nothing is truncated), the REST path
 * taking over whatever GraphQL cannot serve, and a cross-check of a few runs fetched both
 * ways before a session trusts GraphQL. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ghapi.h"
#include "msg.h"
#include "policy.h"
#include "record.h"
#include "session_int.h"
#include "util.h"

enum cross_check { CC_OFF, CC_PENDING, CC_PASSED, CC_FAILED };


/* One query in flight: a batch of suites, or a page of one run's check runs or steps. */
struct gql_query_task {
	struct session *m;
	size_t n;
	int64_t *runs;          /* the batch's runs (suites query) */
	struct gql_run *run;    /* the run a page query continues */
};

/* One run whose check runs are being gathered. */
struct gql_run {
	struct session *m;
	int64_t id;
	char *suite;            /* check suite node id */
	json_t *jobs;           /* REST-shaped jobs so far */
	char *after;            /* the suite's next check runs, or NULL */
	struct gql_more_steps *more;
	size_t nmore, next_more;
	int pages;              /* page queries so far */
};

static void id_text(int64_t id, char out[24])
{
	snprintf(out, 24, "%" PRId64, id);
}

static const char *node_of(const struct session *m, int64_t id)
{
	char key[24];
	id_text(id, key);
	return json_string_value(json_object_get(m->node_ids, key));
}

void phase2_gql_begin(struct session *m)
{
	json_decref(m->node_ids);
	json_decref(m->cc);
	json_decref(m->completed);
	m->node_ids = json_object();
	m->completed = json_object();
	m->cc = json_object();
	m->nbatch = m->gql_runs = m->gql_queries = 0;
	if (!m->gql_batch_size) {
		m->gql_batch_size = GQL_MAX_IDS;
		m->gql_first = POLICY_GQL_FIRST;
		m->gql_steps = POLICY_GQL_STEPS;
		/* The tests make pages small, to exercise paging on small data. */
		if (getenv("GHAMINER_GQL_STEPS"))
			m->gql_steps = atoi(getenv("GHAMINER_GQL_STEPS"));
		if (getenv("GHAMINER_GQL_FIRST"))
			m->gql_first = atoi(getenv("GHAMINER_GQL_FIRST"));
	}
	/* Checked once per process: a session that starts after another's check passed
	 * trusts it. */
	if (m->e->graphql_verified && m->cross != CC_FAILED)
		m->cross = CC_PASSED;
	m->cross = m->s->jobs_api == JOBS_API_AUTO && m->s->graphql_cross_check > 0 &&
			   m->cross != CC_PASSED && m->cross != CC_FAILED
		   ? CC_PENDING
		   : m->cross;
	m->cc_want = (size_t)m->s->graphql_cross_check;
	m->cc_sent = m->cc_left = 0;
}

void phase2_gql_release(struct session *m)
{
	json_decref(m->node_ids);
	json_decref(m->completed);
	m->completed = NULL;
	json_decref(m->cc);
	free(m->batch);
	m->node_ids = m->cc = NULL;
	m->batch = NULL;
}

void phase2_gql_note(struct session *m, int64_t run_id, const json_t *run)
{
	const char *node = json_string_value(json_object_get(run, "check_suite_node_id"));
	char key[24];
	if (!node || !m->node_ids)
		return;
	id_text(run_id, key);
	json_object_set_new(m->node_ids, key, json_string(node));
	/* Only a finished run makes a fair sample: a running one may change between the two
	 * answers. */
	const char *status = json_string_value(json_object_get(run, "status"));
	if (status && !strcmp(status, "completed"))
		json_object_set_new(m->completed, key, json_true());
	else
		json_object_del(m->completed, key);
}

/* Points a run is expected to cost through GraphQL: its share of a suites query, plus a
 * page query (1 point) for the share of runs with more check runs than asked for. */
static double points_per_run(const struct session *m)
{
	size_t over = 0;
	double share = (double)gql_cost((size_t)m->gql_batch_size, m->gql_first, true) /
		       m->gql_batch_size;
	for (int n = m->gql_first + 1; n <= GQL_MAX_FIRST + 1; n++)
		over += m->jobs_seen[n];
	return share + (m->runs_seen ? (double)over / (double)m->runs_seen : 0.0);
}

enum phase2_route phase2_gql_route(struct session *m, int64_t run_id)
{
	if (m->s->jobs_api == JOBS_API_REST || m->e->graphql_off || m->cross == CC_FAILED ||
	    !node_of(m, run_id))
		return ROUTE_REST;
	if (m->cross == CC_PENDING) {
		char key[24];
		id_text(run_id, key);
		if (m->cc_sent >= m->cc_want)
			return ROUTE_WAIT;
		/* A run still going is no fair sample: REST takes it meanwhile. */
		return json_object_get(m->completed, key) ? ROUTE_BOTH : ROUTE_REST;
	}
	if (m->s->jobs_api == JOBS_API_AUTO &&
	    governor_jobs_resource(fetch_governor(m->e->fetch), time_now(), 1.0,
				   points_per_run(m)) == FETCH_REST)
		return ROUTE_REST;
	return ROUTE_GRAPHQL;
}

long phase2_gql_backlog(const struct session *m)
{
	bool on = m->s->jobs_api == JOBS_API_GRAPHQL ||
		  (m->s->jobs_api == JOBS_API_AUTO && (m->cross == CC_PASSED || m->cross == CC_OFF));
	if (!on || m->e->graphql_off)
		return 0;
	double runs = (double)(m->ntodo - m->next_todo + m->nbatch + m->gql_runs);
	return (long)(runs * points_per_run(m) + 0.999);
}

bool phase2_gql_room(const struct session *m)
{
	return m->nbatch < (size_t)m->gql_batch_size || m->gql_queries < POLICY_GQL_QUERIES;
}

bool phase2_gql_idle(const struct session *m)
{
	return m->nbatch == 0 && m->gql_runs == 0;
}

/* ---- learning the size of the repository's runs ------------------------------------ */

/* The check runs per suite that minimise the expected points per run. */
static void learn(struct session *m, const json_t *conn)
{
	json_int_t total = json_integer_value(json_object_get(conn, "totalCount"));
	double best = 1e9;
	m->jobs_seen[total > GQL_MAX_FIRST ? GQL_MAX_FIRST + 1 : total]++;
	if (++m->runs_seen < POLICY_GQL_LEARN_RUNS || getenv("GHAMINER_GQL_FIRST"))
		return;
	for (int first = 1; first <= GQL_MAX_FIRST; first++) {
		size_t over = 0;
		for (int n = first + 1; n <= GQL_MAX_FIRST + 1; n++)
			over += m->jobs_seen[n];
		double cost = (double)gql_cost((size_t)m->gql_batch_size, first, true) /
				      m->gql_batch_size +
			      (double)over / (double)m->runs_seen;
		if (cost < best - 1e-9) {
			best = cost;
			m->gql_first = first;
		}
	}
}

/* ---- runs gathered, finished, or handed to REST ------------------------------------- */

static void to_rest(struct session *m, int64_t id)
{
	char key[24];
	id_text(id, key);
	if (json_object_get(m->cc, key)) {
		/* A sample GraphQL could not serve: the cross-check fails (its REST side is
		 * under way already). */
		phase2_gql_compare(m, id, NULL, true);
		return;
	}
	phase2_rest(m, id);
}

static void run_free(struct gql_run *r)
{
	free(r->suite);
	free(r->after);
	json_decref(r->jobs);
	gql_more_release(r->more, r->nmore);
	free(r);
}

static void run_finish(struct gql_run *r, bool ok)
{
	struct session *m = r->m;
	char key[24];
	id_text(r->id, key);
	m->gql_runs--;
	if (!ok) {
		to_rest(m, r->id);
		run_free(r);
		return;
	}
	json_t *page = json_pack("{s:O}", "jobs", r->jobs), *details = json_array();
	ghapi_jobs_append(details, page, NULL);
	char *text = json_dumps(details, RECORD_JSON_FLAGS);
	if (json_object_get(m->cc, key))
		phase2_gql_compare(m, r->id, text, true);
	else
		phase2_run_done(m, r->id, text, json_array_size(details));
	free(text);
	json_decref(page);
	json_decref(details);
	run_free(r);
}

static void decode_json(struct fetch_req *fr, void *arg)
{
	(void)arg;
	fr->json = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
	/* An answer is data, errors, or both; anything else (a proxy's JSON) is asked
	 * again, like a cut body. */
	fr->malformed = !json_is_object(fr->json) || (!json_object_get(fr->json, "data") &&
						       !json_object_get(fr->json, "errors"));
}

static void on_page(struct fetch_req *fr, void *arg);

/* Ask for what the run still lacks, or finish it. */
static void run_continue(struct gql_run *r)
{
	struct session *m = r->m;
	struct gql_query_task *q;
	char *body;
	int cost;
	if (!r->after && r->next_more == r->nmore) {
		run_finish(r, true);
		return;
	}
	if (++r->pages > POLICY_GQL_MAX_PAGES) {
		run_finish(r, false);
		return;
	}
	if (r->after)
		body = gql_suite_page_body(r->suite, GQL_MAX_FIRST, r->after, m->gql_steps);
	else
		body = gql_steps_page_body(r->more[r->next_more].check_run, GQL_MAX_FIRST,
					   r->more[r->next_more].after);
	cost = r->after ? gql_cost(1, GQL_MAX_FIRST, true) : gql_cost(1, GQL_MAX_FIRST, false);
	q = xcalloc(1, sizeof(*q));
	q->m = m;
	q->run = r;
	m->outstanding++;
	fetch_post(m->e->fetch, &m->owner, m->e->graphql_url, body, cost, decode_json, on_page, q,
		   false);
	free(body);
}

/* A check-runs connection (a suite's first page, or a later one) into the run. */
static bool take_runs(struct gql_run *r, const json_t *conn)
{
	int err;
	char *before = r->after;
	r->after = gql_take_check_runs(r->jobs, conn, &r->more, &r->nmore, &err);
	/* The same cursor again would page forever. */
	bool stuck = before && r->after && !strcmp(before, r->after);
	free(before);
	return err == 0 && !stuck;
}

static void on_page(struct fetch_req *fr, void *arg)
{
	struct gql_query_task *q = arg;
	struct gql_run *r = q->run;
	struct session *m = q->m;
	bool ok = fr->status == FETCH_ANSWERED && fr->answer == GA_OK &&
		  gql_classify(fr->json) == GQL_OK;
	free(q);
	m->outstanding--;
	if (fr->status == FETCH_CANCELLED || m->stopping) {
		m->gql_runs--;
		run_free(r);
		return;
	}
	if (ok && r->after) {
		ok = take_runs(r, gql_check_runs(fr->json));
	} else if (ok) {
		struct gql_more_steps *s = &r->more[r->next_more];
		int err;
		char *after = gql_take_steps(json_array_get(r->jobs, s->job), gql_steps(fr->json),
					     &err);
		ok = err == 0 && !(after && s->after && !strcmp(after, s->after));
		free(s->after);
		s->after = after;
		if (ok && !after)
			r->next_more++;
	}
	if (ok)
		run_continue(r);
	else
		run_finish(r, false);
	phase2_feed(m);
}

/* ---- batches of suites -------------------------------------------------------------- */

static void suites_failed(struct session *m, struct gql_query_task *q, enum gql_outcome o,
			  const struct fetch_req *fr)
{
	const char *msg = fr->json ? gql_error_message(fr->json) : NULL;
	char why[300];
	if (fr->answer == GA_NOT_FOUND) {
		snprintf(why, sizeof(why), "no GraphQL API at %s (HTTP 404)", m->e->graphql_url);
		engine_graphql_off(m->e, why);
	} else if (o == GQL_FORBIDDEN) {
		snprintf(why, sizeof(why), "the token cannot read check runs through GraphQL (%s); "
			 "give it checks: read", msg ? msg : "forbidden");
		engine_graphql_off(m->e, why);
	} else if (o == GQL_TIMEOUT && q->n > 1) {
		/* Smaller queries may pass: the runs go back to the batch. */
		m->gql_batch_size = (int)(q->n / 2);
		msg_info("%s: a GraphQL query of %zu check suites timed out; %d per query from "
			 "now on", m->repo->full_name, q->n, m->gql_batch_size);
		for (size_t i = 0; i < q->n; i++)
			phase2_gql_add(m, q->runs[i]);
		return;
	} else {
		msg_info("%s: a GraphQL query failed (%s); REST takes its %zu runs",
			 m->repo->full_name,
			 msg ? msg : fr->http.status ? "unexpected answer" : fr->http.errbuf, q->n);
	}
	for (size_t i = 0; i < q->n; i++)
		to_rest(m, q->runs[i]);
}

static void on_suites(struct fetch_req *fr, void *arg)
{
	struct gql_query_task *q = arg;
	struct session *m = q->m;
	enum gql_outcome o = GQL_FAILED;
	m->outstanding--;
	m->gql_queries--;
	m->gql_runs -= q->n;
	if (fr->status == FETCH_CANCELLED || m->stopping)
		goto out;
	if (fr->answer == GA_AUTH) {
		session_request_failed(m, fr, "collecting job details through GraphQL");
		goto out;
	}
	if (fr->answer == GA_OK) {
		o = gql_classify(fr->json);
	} else if (fr->http.status >= 500) {
		/* The 502/504 form of a timeout carries its JSON too. */
		json_t *j = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
		o = gql_classify(j) == GQL_TIMEOUT ? GQL_TIMEOUT : GQL_FAILED;
		json_decref(j);
	}
	if (o != GQL_OK) {
		suites_failed(m, q, o, fr);
		phase2_feed(m);
		goto out;
	}
	for (size_t i = 0; i < q->n; i++) {
		const json_t *suite = gql_suite(fr->json, i);
		const json_t *conn = gql_check_runs(suite);
		if (!suite || !conn) {
			/* A node that does not resolve: REST knows the run. */
			to_rest(m, q->runs[i]);
			continue;
		}
		struct gql_run *r = xcalloc(1, sizeof(*r));
		r->m = m;
		r->id = q->runs[i];
		r->suite = xstrdup(node_of(m, r->id) ? node_of(m, r->id) : "");
		r->jobs = json_array();
		m->gql_runs++;
		learn(m, conn);
		if (take_runs(r, conn))
			run_continue(r);
		else
			run_finish(r, false);
	}
	phase2_feed(m);
out:
	free(q->runs);
	free(q);
}

static void send_suites(struct session *m, size_t n)
{
	struct gql_query_task *q = xcalloc(1, sizeof(*q));
	const char **ids = xcalloc(n, sizeof(*ids));
	q->m = m;
	q->n = n;
	q->runs = xmalloc(n * sizeof(*q->runs));
	memcpy(q->runs, m->batch, n * sizeof(*q->runs));
	memmove(m->batch, m->batch + n, (m->nbatch - n) * sizeof(*m->batch));
	m->nbatch -= n;
	for (size_t i = 0; i < n; i++)
		ids[i] = node_of(m, q->runs[i]);
	char *body = gql_suites_body(ids, n, m->gql_first, m->gql_steps);
	m->outstanding++;
	m->gql_queries++;
	m->gql_runs += n;
	fetch_post(m->e->fetch, &m->owner, m->e->graphql_url, body,
		   gql_cost(n, m->gql_first, true), decode_json, on_suites, q, false);
	free(body);
	free(ids);
}

void phase2_gql_add(struct session *m, int64_t run_id)
{
	char key[24];
	if (m->cross == CC_PENDING && m->cc_sent < m->cc_want) {
		id_text(run_id, key);
		if (!json_object_get(m->cc, key)) {
			json_object_set_new(m->cc, key, json_object());
			m->cc_sent++;
			m->cc_left += 2; /* its REST side and its GraphQL side */
		}
	}
	if (m->nbatch == m->batch_cap) {
		m->batch_cap = m->batch_cap ? m->batch_cap * 2 : GQL_MAX_IDS;
		m->batch = xrealloc(m->batch, m->batch_cap * sizeof(*m->batch));
	}
	m->batch[m->nbatch++] = run_id;
}

void phase2_gql_flush(struct session *m, bool partial)
{
	size_t size = (size_t)m->gql_batch_size;
	while (!m->stopping && m->gql_queries < POLICY_GQL_QUERIES &&
	       (m->nbatch >= size || (partial && m->nbatch > 0)))
		send_suites(m, m->nbatch < size ? m->nbatch : size);
}

/* ---- the cross-check ---------------------------------------------------------------- */

/* Every sample is back from both sides: trust GraphQL for this session, or not. */
static void cross_check_decide(struct session *m)
{
	const char *key;
	json_t *v;
	size_t compared = 0;
	json_object_foreach(m->cc, key, v) {
		const char *rest = json_string_value(json_object_get(v, "rest"));
		const char *gql = json_string_value(json_object_get(v, "gql"));
		char where[160];
		if (!gql) {
			msg_warn("%s: run %s could not be fetched through GraphQL; job details "
				 "through REST for this repository", m->repo->full_name, key);
			m->cross = CC_FAILED;
			return;
		}
		if (!rest)
			continue; /* REST failed: nothing to compare against */
		if (gql_details_differ(rest, gql, where, sizeof(where))) {
			msg_warn("%s: GraphQL and REST disagree on run %s at %s; job details "
				 "through REST for this repository", m->repo->full_name, key, where);
			m->cross = CC_FAILED;
			return;
		}
		compared++;
	}
	m->cross = compared ? CC_PASSED : CC_FAILED;
	if (compared) {
		m->e->graphql_verified = true;
		msg_info("%s: %zu runs fetched both ways are identical; job details through "
			 "GraphQL", m->repo->full_name, compared);
	} else {
		msg_warn("%s: no run could be fetched both ways to compare; job details through "
			 "REST for this repository", m->repo->full_name);
	}
}

void phase2_gql_compare(struct session *m, int64_t run_id, const char *text, bool from_gql)
{
	char key[24];
	id_text(run_id, key);
	json_t *e = json_object_get(m->cc, key);
	if (!e || m->cross != CC_PENDING)
		return;
	json_object_set_new(e, from_gql ? "gql" : "rest", text ? json_string(text) : json_null());
	m->cc_left--;
	phase2_gql_settle(m);
}

void phase2_gql_settle(struct session *m)
{
	/* Every sample wanted, or every one there will be (nothing left to list or take). */
	bool all = m->cc_sent >= m->cc_want || (m->listing_done && m->next_todo == m->ntodo);
	if (m->cross != CC_PENDING || m->cc_left || !m->cc_sent || !all)
		return;
	cross_check_decide(m);
	phase2_feed(m);
}
