/* session.c - a repository session's life: start, messages to subscribers, failures,
 * stopping, and the deferred "done". */
#include "session_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "ndjson.h"
#include "util.h"

static void tell_done(void *arg)
{
	struct session *m = arg;
	struct session_sink *sink;
	if (m->told_done || m->owner.pending)
		return;
	m->told_done = true;
	m->phase = 0;
	m->sum.requests = m->owner.requests;
	session_set_backlog(m, 0, 0);
	TAILQ_FOREACH(sink, &m->sinks, link)
		if (sink->on_done)
			sink->on_done(sink->arg, m);
}

/* Every request is back: if nothing more will be asked, say so from the loop. */
static void on_idle(struct fetch_owner *o)
{
	struct session *m = (struct session *)((char *)o - offsetof(struct session, owner));
	if (m->done || m->stopping)
		engine_defer(m->e, &m->done_call, tell_done, m);
}

struct session *session_new(struct engine *e, struct store *st, const struct settings *s,
			    const struct repo_ref *repo)
{
	struct session *m = xcalloc(1, sizeof(*m));
	m->e = e;
	m->store = st;
	m->s = s;
	m->repo = repo;
	m->repo_id = store_repo(st, repo->full_name);
	m->owner.idle = on_idle;
	m->runs_total = -1;
	TAILQ_INIT(&m->sinks);
	e->clients++;
	return m;
}

void session_subscribe(struct session *m, struct session_sink *sink)
{
	TAILQ_INSERT_TAIL(&m->sinks, sink, link);
}

void session_start(struct session *m)
{
	phase1_start(m);
}

void session_finish(struct session *m)
{
	m->done = true;
	m->phase = 0;
	if (m->owner.pending == 0)
		engine_defer(m->e, &m->done_call, tell_done, m);
}

static void record_failure(struct session *m, enum session_failure why, const char *text)
{
	if (why > m->sum.failure)
		m->sum.failure = why;
	if (!m->sum.error[0] && text)
		snprintf(m->sum.error, sizeof(m->sum.error), "%s", text);
}

void session_stop(struct session *m, enum session_failure why)
{
	record_failure(m, why, NULL);
	if (m->stopping || m->told_done)
		return;
	m->stopping = true;
	fetch_cancel_owner(m->e->fetch, &m->owner);
	if (m->owner.pending == 0)
		engine_defer(m->e, &m->done_call, tell_done, m);
}

void session_free(struct session *m)
{
	if (!m)
		return;
	engine_undefer(m->e, &m->done_call);
	m->e->clients--;
	free(m->top_url);
	free(m->lst_key);
	free(m->days);
	free(m->refresh);
	free(m->todo);
	free(m->fallback);
	phase2_gql_release(m);
	free(m);
}

void session_emit(struct session *m, const char *type, json_t *data)
{
	struct session_sink *sink;
	if (!json_object_get(data, "repo"))
		json_object_set_new(data, "repo", json_string(m->repo->full_name));
	TAILQ_FOREACH(sink, &m->sinks, link)
		if (sink->on_message)
			sink->on_message(sink->arg, m, type, data, NULL);
	json_decref(data);
}

void session_emit_text(struct session *m, const char *type, const char *text)
{
	struct session_sink *sink;
	TAILQ_FOREACH(sink, &m->sinks, link)
		if (sink->on_message)
			sink->on_message(sink->arg, m, type, NULL, text);
}

void session_status(struct session *m, const char *stage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *text = ndjson_vstring(fmt, ap);
	va_end(ap);
	session_emit(m, "status", json_pack("{s:o, s:s}", "message", text, "stage", stage));
}

void session_error(struct session *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *text = ndjson_vstring(fmt, ap);
	va_end(ap);
	session_emit(m, "error", json_pack("{s:o}", "message", text));
}

void session_fail(struct session *m, enum session_failure why, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	record_failure(m, why, text);
	if (why >= SF_NETWORK)
		session_stop(m, why);
}

bool session_request_failed(struct session *m, struct fetch_req *fr, const char *what)
{
	struct http_req *h = &fr->http;
	char *gh = ghapi_error_message(h->body.data);
	const char *sep = gh ? ": " : "", *ghs = gh ? gh : "";
	const char *name = m->repo->full_name;
	switch (fr->answer) {
	case GA_AUTH:
		msg_error("authentication failed: check GITHUB_TOKEN (GitHub answered 401%s%s)", sep,
			  ghs);
		session_error(m, "authentication failed: check GITHUB_TOKEN");
		session_fail(m, SF_AUTH, "authentication failed (401)");
		break;
	case GA_NOT_FOUND:
		/* GitHub answers 404, not 403, for a private repository the token cannot see. */
		msg_error("repository '%s' not found, or private and not visible with this token: "
			  "check the URL, and that the token can read it (classic token: repo scope; "
			  "fine-grained: Actions: read on it)", name);
		session_error(m, "repository '%s' not found", name);
		session_fail(m, SF_NOT_FOUND, "no such repository, or the token cannot see it");
		break;
	case GA_RETRY:
		if (h->status == 0) {
			msg_error("cannot reach %s while %s: %s (after %d attempts); check the network "
				  "or --api-url, then run again to resume", m->e->api_url, what,
				  h->errbuf, fr->attempts);
			session_error(m, "cannot reach %s: %s", m->e->api_url, h->errbuf);
			session_fail(m, SF_NETWORK, "cannot reach the API: %s", h->errbuf);
			break;
		}
		/* fall through */
	default:
		if (h->status >= 200 && h->status < 300 && h->errbuf[0]) {
			/* A 2xx that never held what was asked for: say that, not "HTTP 200". */
			sep = ": ";
			ghs = h->errbuf;
		}
		msg_error("%s: %s failed: HTTP %ld after %d attempts%s%s", name, what, h->status,
			  fr->attempts, sep, ghs);
		session_error(m, "%s failed: HTTP %ld%s%s", what, h->status, sep, ghs);
		session_fail(m, SF_PARTIAL, "%s failed: HTTP %ld", what, h->status);
		break;
	}
	free(gh);
	return m->stopping;
}

void session_store_failed(struct session *m, const struct error *e)
{
	session_fail(m, SF_IO, "%s", e->msg);
}

void session_get(struct session *m, const char *url, const char *etag, fetch_decode_fn decode,
		 fetch_done_cb done, void *arg, bool first)
{
	fetch_get(m->e->fetch, &m->owner, url, etag, decode, done, arg, first);
}

void session_set_backlog(struct session *m, long backlog, long gql_points)
{
	fetch_backlog_add(m->e->fetch, backlog - m->backlog);
	fetch_backlog_add_on(m->e->fetch, FETCH_GRAPHQL, gql_points - m->gql_backlog);
	m->backlog = backlog;
	m->gql_backlog = gql_points;
}

const struct repo_ref *session_repo(const struct session *m)
{
	return m->repo;
}

const struct session_summary *session_summary(const struct session *m)
{
	return &m->sum;
}

int session_phase(const struct session *m)
{
	return m->phase;
}

void session_progress(const struct session *m, int phase, struct progress_view *v)
{
	const struct governor *g = fetch_governor(m->e->fetch);
	uint64_t now = time_mono_ms();
	uint64_t start = phase == 2 && m->jobs_started ? m->jobs_start_ms : m->phase_start_ms;
	double secs = (double)(now - start) / 1000.0;
	memset(v, 0, sizeof(*v));
	v->repo = m->repo->full_name;
	v->budget = governor_budget_left(g, FETCH_REST);
	if (phase == 1) {
		/* Runs listed out of the listing's total_count: windows make the page count
		 * unknowable in advance, the runs are not. */
		v->what = "listed";
		v->done = m->sum.new_runs + m->sum.known_runs;
		v->total = m->runs_total > v->done ? m->runs_total : v->done;
	} else {
		v->what = "runs";
		v->done = (long)m->processed;
		v->total = (long)m->ntodo;
	}
	/* Over less than a second a rate says nothing (60 runs in 1 ms is not 60,000/s). */
	v->rate = secs >= 1 ? (double)v->done / secs : 0;
	if (g->pause_until > now)
		v->wait_s = (double)(g->pause_until - now) / 1000.0;
}

long session_jobs_to_come(const struct session *m)
{
	long queued = (long)(m->ntodo - m->processed);
	long listed = m->sum.new_runs + m->sum.known_runs;
	if (!m->listing_done && m->runs_total > listed)
		queued += m->runs_total - listed;
	return queued;
}
