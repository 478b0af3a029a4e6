/* phase2.c - one jobs request per run lacking job details, fanned out concurrently under
 * the governor. Each result is journaled (durable within the loop iteration), sent as a
 * run_jobs message, and folded into the CSV's total_jobs/job_details columns in batches. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ghapi.h"
#include "msg.h"
#include "policy.h"
#include "record.h"
#include "session_int.h"
#include "util.h"

struct jobs_task {
	struct session *m;
	int64_t run_id;
	json_t *details; /* job_details so far (more than 100 jobs take several pages) */
	/* set by decode_jobs in the thread pool, read on the loop once the page is done */
	int page_jobs;   /* jobs on the last page, or -1: not a jobs answer */
	char *next;      /* the next page's URL, or NULL */
	char *text;      /* details as the CSV cell and messages hold them, after the last page */
	bool cross_check; /* a sample also asked through GraphQL: its text is compared */
};

static void task_free(struct jobs_task *t)
{
	json_decref(t->details);
	free(t->next);
	free(t->text);
	free(t);
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void job_progress(struct session *m, int64_t run_id)
{
	char id[32];
	if (m->processed % POLICY_JOB_PROGRESS_EVERY == 0 || m->processed == m->ntodo) {
		snprintf(id, sizeof(id), "%" PRId64, run_id);
		session_emit(m, "job_progress", json_pack("{s:I, s:I, s:s}", "processed",
							  (json_int_t)m->processed, "total",
							  (json_int_t)m->ntodo, "current_run_id", id));
	}
}

static void done(struct session *m)
{
	if (m->done)
		return;
	if (m->ntodo)
		msg_info("%s: jobs of %zu runs collected in %.1f s%s", m->repo->full_name,
			 m->sum.jobs_collected,
			 (double)(time_mono_ms() - m->phase_start_ms) / 1000.0,
			 m->sum.jobs_failed ? " (some failed: run again to retry)" : "");
	if (m->sum.jobs_failed) {
		session_error(m, "jobs of %zu runs of %s could not be collected; run again to retry",
			      m->sum.jobs_failed, m->repo->full_name);
		session_fail(m, SF_PARTIAL, "jobs of %zu runs could not be collected",
			     m->sum.jobs_failed);
	}
	session_finish(m);
}

/* The run_jobs message, around the details text formatted once. */
static void emit_run_jobs(struct session *m, int64_t run_id, const char *text, size_t n)
{
	struct buf data;
	char mid[96];
	json_t *name = json_string(m->repo->full_name);
	char *repo = json_dumps(name, JSON_ENCODE_ANY);
	json_decref(name);
	snprintf(mid, sizeof(mid), ",\"id_build\":%" PRId64 ",\"total_jobs\":%zu,\"job_details\":",
		 run_id, n);
	buf_init(&data, 0);
	buf_appends(&data, "{\"repo\":");
	buf_appends(&data, repo ? repo : "null");
	buf_appends(&data, mid);
	buf_appends(&data, text);
	buf_append(&data, "}", 2); /* with the terminating NUL */
	session_emit_text(m, "run_jobs", data.data);
	buf_release(&data);
	free(repo);
}

void phase2_run_done(struct session *m, int64_t run_id, const char *text, size_t njobs)
{
	uint64_t *value = runindex_get(&m->store->cs.index, m->repo_id, run_id);
	if (text) {
		char total[32];
		snprintf(total, sizeof(total), "%zu", njobs);
		/* job_details is journaled as the cell's text: a fold copies it, never
		 * re-encodes it. */
		json_t *set = json_pack("{s:s}", "total_jobs", total);
		store_journal(m->store, m->repo->full_name, run_id, set, "job_details", text);
		json_decref(set);
		if (value)
			*value |= RX_HAS_JOBS;
		m->sum.jobs_collected++;
		emit_run_jobs(m, run_id, text, njobs);
	} else {
		if (value)
			*value |= RX_FAILED;
		m->sum.jobs_failed++;
	}
	m->processed++;
	job_progress(m, run_id);
}

static void task_finish(struct session *m, struct jobs_task *t, bool ok)
{
	if (t->cross_check)
		phase2_gql_compare(m, t->run_id, ok ? t->text : NULL, false);
	phase2_run_done(m, t->run_id, ok ? t->text : NULL, json_array_size(t->details));
	task_free(t);
	m->outstanding--;
}

/* In the thread pool: parse a jobs page, add its jobs, and format the details once the
 * last page is in. Only this task's fields are touched; the loop waits for the answer. */
static void decode_jobs(struct fetch_req *fr, void *arg)
{
	struct jobs_task *t = arg;
	json_t *page = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
	t->page_jobs = ghapi_jobs_append(t->details, page, NULL);
	json_decref(page);
	fr->malformed = t->page_jobs < 0; /* a cut body, or no jobs array: asked again */
	t->next = t->page_jobs >= 0 ? ghapi_link_next(fr->http.link) : NULL;
	if (t->page_jobs >= 0 && !t->next)
		t->text = json_dumps(t->details, RECORD_JSON_FLAGS);
}

static void on_jobs_page(struct fetch_req *fr, void *arg)
{
	struct jobs_task *t = arg;
	struct session *m = t->m;
	char what[96];
	if (fr->status == FETCH_CANCELLED || m->stopping) {
		task_free(t);
		m->outstanding--;
		return;
	}
	snprintf(what, sizeof(what), "listing jobs of run %" PRId64, t->run_id);
	if (fr->answer == GA_OK) {
		if (t->next) {
			/* More than 100 jobs: the task stays outstanding for the next page. */
			char *next = t->next;
			t->next = NULL;
			session_get(m, next, NULL, decode_jobs, on_jobs_page, t, false);
			free(next);
			return;
		}
		if (t->page_jobs < 0)
			msg_warn("%s: %s: unexpected answer (no jobs array)", m->repo->full_name, what);
		task_finish(m, t, t->page_jobs >= 0 && t->text);
	} else {
		task_finish(m, t, false);
		if (session_request_failed(m, fr, what))
			return;
	}
	phase2_feed(m);
}

/* Jobs requests this session keeps queued or in flight: a share of the window, so every
 * repository being mined gets its turn. */
static size_t window(const struct session *m)
{
	size_t total = (size_t)m->e->max_in_flight * POLICY_JOBS_WINDOW_FACTOR;
	size_t share = total / (size_t)(m->e->clients > 0 ? m->e->clients : 1);
	return share > POLICY_JOBS_WINDOW_MIN ? share : POLICY_JOBS_WINDOW_MIN;
}

/* One REST jobs request (more for more than 100 jobs) for run_id. */
static void rest_start(struct session *m, int64_t run_id, bool cross_check)
{
	struct jobs_task *t = xcalloc(1, sizeof(*t));
	t->m = m;
	t->run_id = run_id;
	t->details = json_array();
	t->cross_check = cross_check;
	m->outstanding++;
	char *url = ghapi_jobs_url(m->e->api_url, m->repo->full_name, run_id);
	session_get(m, url, NULL, decode_jobs, on_jobs_page, t, false);
	free(url);
}

void phase2_rest(struct session *m, int64_t run_id)
{
	if (m->nfallback == m->fallback_cap) {
		m->fallback_cap = m->fallback_cap ? m->fallback_cap * 2 : 64;
		m->fallback = xrealloc(m->fallback, m->fallback_cap * sizeof(*m->fallback));
	}
	m->fallback[m->nfallback++] = run_id;
}

void phase2_feed(struct session *m)
{
	/* Requests waiting out a retry's backoff keep their task outstanding but send nothing
	 * meanwhile: as many others may go in their place (up to a second window), so that
	 * faults do not starve the connections. */
	size_t resting = m->owner.resting;
	size_t win = window(m);
	win += resting < win ? resting : win;
	if (m->stopping || m->done)
		return;
	long gql = phase2_gql_backlog(m);
	session_set_backlog(m, gql ? (long)(m->nfallback + m->outstanding)
				   : (long)(m->ntodo - m->next_todo + m->nfallback + m->outstanding),
			    gql);
	while (m->outstanding < win) {
		int64_t id;
		if (m->nfallback) {
			id = m->fallback[--m->nfallback];
		} else if (m->next_todo < m->ntodo) {
			id = m->todo[m->next_todo];
			enum phase2_route r = phase2_gql_route(m, id);
			if (r == ROUTE_WAIT || (r == ROUTE_GRAPHQL && !phase2_gql_room(m)))
				break;
			m->next_todo++;
			if (r == ROUTE_GRAPHQL) {
				phase2_gql_add(m, id);
				continue;
			}
			if (r == ROUTE_BOTH)
				phase2_gql_add(m, id);
			rest_start(m, id, r == ROUTE_BOTH);
			continue;
		} else {
			break;
		}
		rest_start(m, id, false);
	}
	phase2_gql_settle(m); /* may feed again, and finish */
	if (m->done || m->stopping)
		return;
	/* A part-filled batch goes out once nothing else is waiting to join it. */
	phase2_gql_flush(m, m->next_todo == m->ntodo || m->outstanding < win);
	if (m->listing_done && m->outstanding == 0 && m->next_todo == m->ntodo &&
	    !m->nfallback && phase2_gql_idle(m))
		done(m);
}

void phase2_begin(struct session *m)
{
	free(m->todo);
	m->todo = NULL;
	m->nfallback = 0;
	phase2_gql_begin(m);
	m->ntodo = m->todo_cap = m->next_todo = m->outstanding = m->processed = 0;
	m->listing_done = m->jobs_started = false;
}

void phase2_enqueue(struct session *m, int64_t id)
{
	uint64_t *value = runindex_get(&m->store->cs.index, m->repo_id, id);
	if (!m->s->fetch_job_details || !value || (*value & (RX_QUEUED | RX_FAILED)))
		return;
	*value |= RX_QUEUED;
	if (m->ntodo == m->todo_cap) {
		m->todo_cap = m->todo_cap ? m->todo_cap * 2 : 256;
		m->todo = xrealloc(m->todo, m->todo_cap * sizeof(*m->todo));
	}
	m->todo[m->ntodo++] = id;
	if (!m->jobs_started) {
		m->jobs_started = true;
		m->jobs_start_ms = time_mono_ms();
		session_status(m, "collecting_jobs", "collecting job details of %s runs as they "
			       "are listed", m->repo->full_name);
	}
}

void phase2_start(struct session *m)
{
	const struct runindex_slot *slot;
	size_t from;
	if (m->stopping)
		return;
	m->listing_done = true;
	if (!m->s->fetch_job_details) {
		session_finish(m);
		return;
	}
	/* Runs phase 1 did not hand over: collected in an earlier, interrupted pass. */
	from = m->ntodo;
	for (size_t pos = 0; runindex_next(&m->store->cs.index, &pos, &slot);)
		if (slot->repo == m->repo_id &&
		    !(slot->value & (RX_HAS_JOBS | RX_FAILED | RX_QUEUED)))
			phase2_enqueue(m, slot->run_id);
	if (m->ntodo > from)
		qsort(m->todo + from, m->ntodo - from, sizeof(*m->todo), cmp_desc);
	m->phase_start_ms = m->jobs_started ? m->jobs_start_ms : time_mono_ms();
	m->phase = 2;
	session_status(m, "collecting_jobs", "collecting job details of %zu runs of %s (%zu "
		       "done)", m->ntodo, m->repo->full_name, m->processed);
	if (m->ntodo)
		msg_info("%s: collecting job details of %zu runs (%zu done while listing)",
			 m->repo->full_name, m->ntodo, m->processed);
	phase2_feed(m);
}
