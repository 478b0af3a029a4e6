/* serve.c - `ghaminer serve`: one engine and one store for the process, one mining session
 * per repository at a time (shared by all its clients), passes on demand and every
 * watch_interval, the token pool, signals and the orderly end. */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "miner.h"
#include "msg.h"
#include "stopsig.h"
#include "policy.h"
#include "record.h"
#include "serve_int.h"
#include "util.h"

static void serve_finish(struct serve *sv);

/* ---- the token pool ------------------------------------------------------------------ */

bool serve_has_token(const struct serve *sv)
{
	return sv->npool > 0;
}

void serve_add_token(struct serve *sv, const char *token)
{
	msg_add_secret(token);
	for (int i = 0; i < sv->npool; i++)
		if (!strcmp(sv->pool[i], token))
			return;
	if (sv->npool == GOVERNOR_MAX_TOKENS) {
		msg_warn("a client's token is not used: the pool already holds %d tokens",
			 GOVERNOR_MAX_TOKENS);
		return;
	}
	sv->pool[sv->npool++] = xstrdup(token);
	sv->s.ntokens = (size_t)sv->npool;
	fetch_set_tokens(sv->e.fetch, (const char *const *)sv->pool, sv->npool);
}

/* ---- repositories -------------------------------------------------------------------- */

/* The last complete sync the state file remembers for the repository (a past process's
 * included): its listings are keyed "owner/repo|...". 0 when none. */
static double state_last_sync(const struct serve_repo *r)
{
	const struct syncstate *st = &r->sv->st.st;
	size_t n = strlen(r->ref.full_name);
	double last = 0;
	for (size_t i = 0; i < st->nl; i++)
		if (!strncasecmp(st->l[i].key, r->ref.full_name, n) && st->l[i].key[n] == '|' &&
		    st->l[i].last_sync > last)
			last = st->l[i].last_sync;
	return last;
}

double serve_repo_last_sync(const struct serve_repo *r)
{
	double st = state_last_sync(r);
	return r->last_ok > st ? r->last_ok : st;
}

double serve_repo_age(const struct serve_repo *r)
{
	double last = serve_repo_last_sync(r);
	return last > 0 ? time_now() - last : -1.0;
}

static void on_watch(uv_timer_t *t)
{
	struct serve_repo *r = t->data;
	int rc = serve_repo_pass(r);
	if (rc == -EACCES)
		msg_info("%s: no token yet: the periodic pass waits for a client's",
			 r->ref.full_name);
}

struct serve_repo *serve_repo_find(struct serve *sv, const char *full_name, bool add)
{
	struct serve_repo *r;
	LIST_FOREACH(r, &sv->repos, link)
		if (!strcasecmp(r->ref.full_name, full_name))
			return r;
	if (!add || sv->nrepos >= POLICY_SERVE_MAX_REPOS)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	if (repo_ref_parse(full_name, &r->ref) != 0) {
		free(r);
		return NULL;
	}
	r->sv = sv;
	TAILQ_INIT(&r->clients);
	uv_timer_init(&sv->loop, &r->watch_timer);
	r->watch_timer.data = r;
	LIST_INSERT_HEAD(&sv->repos, r, link);
	sv->nrepos++;
	return r;
}

/* ---- a pass of one repository -------------------------------------------------------- */

static void on_message(void *arg, struct session *s, const char *type, json_t *data,
		       const char *text)
{
	struct serve_repo *r = arg;
	char *owned = NULL;
	(void)s;
	if (data)
		text = owned = json_dumps(data, RECORD_JSON_FLAGS);
	if (text)
		serve_ws_broadcast(r, type, data, text);
	free(owned);
}

static void reap(void *arg);

static void on_done(void *arg, struct session *s)
{
	struct serve_repo *r = arg;
	r->sum = *session_summary(s);
	r->done = true;
	engine_defer(&r->sv->e, &r->sv->reap_call, reap, r->sv);
}

int serve_repo_pass(struct serve_repo *r)
{
	struct serve *sv = r->sv;
	if (sv->stop_signal)
		return -ECANCELED;
	if (r->s)
		return -EBUSY;
	if (!serve_has_token(sv))
		return -EACCES;
	uv_timer_stop(&r->watch_timer);
	r->pass = ++sv->passes;
	r->done = false;
	memset(&r->sum, 0, sizeof(r->sum));
	r->s = session_new(&sv->e, &sv->st, &sv->s, &r->ref);
	r->sink = (struct session_sink){.on_message = on_message, .on_done = on_done, .arg = r};
	session_subscribe(r->s, &r->sink);
	msg_info("%s: pass %d started (%zu clients)", r->ref.full_name, r->pass, r->nclients);
	session_start(r->s);
	return r->pass;
}

static void on_kick(uv_timer_t *t)
{
	(void)t;
}

/* The pass is over: tell the clients, fold the jobs into the CSV soon, plan the next. */
static void pass_over(struct serve *sv, struct serve_repo *r)
{
	const struct session_summary *sum = &r->sum;
	json_t *st;
	char *text;
	r->last_end = time_now();
	r->not_found = sum->failure == SF_NOT_FOUND;
	if (sum->failure == SF_NONE)
		r->last_ok = r->last_end;
	if (sum->jobs_collected) {
		/* The jobs are durable in the journal (and served from it); they are folded into
		 * the CSV once no pass runs: a fold rewrites the whole CSV, and one per pass of
		 * each repository would stall the others' streams. */
		sv->fold_pending = true;
		st = json_pack("{s:o, s:s, s:s}", "message",
			       json_sprintf("CSV file updated with jobs of %zu runs (journaled now, "
					    "folded in when no pass runs)", sum->jobs_collected),
			       "file_path", sv->s.output_csv, "repo", r->ref.full_name);
		text = json_dumps(st, RECORD_JSON_FLAGS);
		serve_ws_broadcast(r, "csv_updated", NULL, text);
		free(text);
		json_decref(st);
	}
	st = json_pack("{s:o, s:s, s:i, s:I, s:I, s:I, s:b, s:s}", "message",
		       json_sprintf("pass %d %s: %ld new runs, %ld changed, jobs of %zu runs%s%s",
				    r->pass, sum->failure <= SF_CANCELLED ? "done" : "failed",
				    sum->new_runs, sum->updated_runs, sum->jobs_collected,
				    sum->error[0] ? "; " : "", sum->error),
		       "stage", "pass_done", "pass", r->pass, "new_runs",
		       (json_int_t)sum->new_runs, "updated_runs", (json_int_t)sum->updated_runs,
		       "jobs_collected", (json_int_t)sum->jobs_collected, "ok",
		       sum->failure == SF_NONE, "repo", r->ref.full_name);
	text = json_dumps(st, RECORD_JSON_FLAGS);
	serve_ws_broadcast(r, "status", NULL, text);
	free(text);
	json_decref(st);
	msg_info("%s: pass %d over: %ld new runs, jobs of %zu runs%s%s", r->ref.full_name,
		 r->pass, sum->new_runs, sum->jobs_collected, sum->error[0] ? ": " : "",
		 sum->error);
	if (r->not_found)
		serve_ws_close_all(r, POLICY_WS_CLOSE_NOT_FOUND, "repository not found");
	else if (sum->failure == SF_AUTH)
		serve_ws_close_all(r, POLICY_WS_CLOSE_AUTH, "no GitHub token was accepted");
	if (sv->s.watch_interval <= 0 || sv->stop_signal)
		return;
	/* Polling a repository GitHub says is not there would spend a request every interval
	 * for nothing: a client or the API asking for it starts a pass again. */
	if (r->not_found)
		msg_info("%s: not polled again until a client or the API asks for it",
			 r->ref.full_name);
	else
		uv_timer_start(&r->watch_timer, on_watch,
			       (uint64_t)(sv->s.watch_interval * 1000), 0);
}

static size_t running(const struct serve *sv)
{
	size_t n = 0;
	struct serve_repo *r;
	LIST_FOREACH(r, &sv->repos, link)
		n += r->s != NULL;
	return n;
}

static void drained(void *arg, bool ok, const struct error *untold)
{
	struct serve *sv = arg;
	if (untold)
		msg_error("%s", untold->msg);
	if (!ok)
		msg_error("the CSV could not be brought up to date; run again to fold the journal");
	serve_finish(sv);
}

/* Stopping, with no session left: everything to disk, then the end. */
static void drain_once(struct serve *sv)
{
	if (sv->draining || sv->finished)
		return;
	sv->draining = true;
	store_drain(&sv->st, drained, sv);
}

static void reap(void *arg)
{
	struct serve *sv = arg;
	struct serve_repo *r;
	LIST_FOREACH(r, &sv->repos, link) {
		if (!r->s || !r->done)
			continue;
		session_free(r->s);
		r->s = NULL;
		pass_over(sv, r);
	}
	if (sv->fold_pending && !running(sv) && !sv->stop_signal) {
		/* Now, in the pool, not at the next event of an idle server: the store folds at
		 * the end of a loop iteration, and a due timer ends this one. */
		sv->fold_pending = false;
		store_fold_soon(&sv->st);
		uv_timer_start(&sv->kick, on_kick, 0, 0);
	}
	if (sv->stop_signal && !running(sv))
		drain_once(sv);
}

/* ---- the whole server ---------------------------------------------------------------- */

static void on_store_error(void *arg, const struct error *e)
{
	struct serve *sv = arg;
	struct serve_repo *r;
	sv->io_failed = true;
	msg_error("%s; %s", e->msg, csvstore_advice(e->code, CSVSTORE_MINING));
	LIST_FOREACH(r, &sv->repos, link)
		if (r->s)
			session_stop(r->s, SF_IO);
	if (!sv->stop_signal)
		raise(SIGTERM);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct serve *sv = h->data;
	struct serve_repo *r;
	if (sv->stop_signal) {
		msg_warn("second signal: exiting now; run again to resume");
		_exit(stopsig_exit_code(signum));
	}
	sv->stop_signal = signum;
	msg_warn("%s received: stopping the server (saving what was collected)",
		 stopsig_name(signum));
	serve_http_stop(sv);
	LIST_FOREACH(r, &sv->repos, link) {
		uv_timer_stop(&r->watch_timer);
		if (r->s)
			session_stop(r->s, SF_CANCELLED);
	}
	engine_stop(&sv->e);
	if (!running(sv))
		drain_once(sv);
}

static void serve_finish(struct serve *sv)
{
	struct serve_repo *r;
	if (sv->finished)
		return;
	sv->finished = true;
	serve_http_dispose(sv);
	engine_close(&sv->e);
	LIST_FOREACH(r, &sv->repos, link)
		uv_close((uv_handle_t *)&r->watch_timer, NULL);
	uv_close((uv_handle_t *)&sv->kick, NULL);
	serve_ws_stop(sv);
	for (int i = 0; i < STOPSIG_COUNT; i++)
		uv_close((uv_handle_t *)&sv->sig[i], NULL);
	store_close(&sv->st);
}

/* The repositories of -s/-p and of the CSV are seen from the start: listed by the API and
 * polled every watch_interval; those of -s/-p are mined at once. */
static void seed_repos(struct serve *sv)
{
	const struct runindex *ix = &sv->st.cs.index;
	for (size_t i = 0; i < ix->nrepos; i++)
		if (serve_repo_find(sv, ix->repos[i], true) && sv->s.watch_interval > 0)
			uv_timer_start(&serve_repo_find(sv, ix->repos[i], false)->watch_timer,
				       on_watch, (uint64_t)(sv->s.watch_interval * 1000), 0);
	for (size_t i = 0; i < sv->s.nrepos; i++) {
		struct serve_repo *r = serve_repo_find(sv, sv->s.repos[i].full_name, true);
		if (r && serve_repo_pass(r) == -EACCES)
			msg_warn("%s: no token: mined once a client brings one",
				 r->ref.full_name);
	}
}

static void release(struct serve *sv)
{
	struct serve_repo *r;
	serve_http_free(sv);
	serve_index_release(&sv->ix);
	while ((r = LIST_FIRST(&sv->repos))) {
		LIST_REMOVE(r, link);
		repo_ref_release(&r->ref);
		free(r);
	}
	for (int i = sv->nborrowed; i < sv->npool; i++) {
		explicit_bzero(sv->pool[i], strlen(sv->pool[i]));
		free(sv->pool[i]);
	}
	free(sv);
}

static int serve_open(struct serve *sv, const struct settings *s)
{
	struct error err = {0};
	serve_index_init(&sv->ix);
	if (s->serve_token)
		msg_add_secret(s->serve_token);
	if (store_open(&sv->st, &sv->loop, s->output_csv, sv->npool ? sv->pool[0] : NULL,
		       s->csv_formula_guard, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_OPENING));
		return EXIT_IO;
	}
	store_on_error(&sv->st, on_store_error, sv);
	/* Folds say where each row went: the row index follows without reading the file. */
	sv->st.cs.keep_spans = true;
	if (engine_init(&sv->e, &sv->loop, &sv->s, &err) != 0) {
		msg_error("%s", err.msg);
		store_close(&sv->st);
		return EXIT_IO;
	}
	if (serve_http_start(sv, &err) != 0) {
		msg_error("%s", err.msg);
		serve_http_stop(sv);
		serve_http_dispose(sv);
		engine_close(&sv->e);
		store_close(&sv->st);
		return err.code == -EINVAL ? EXIT_USAGE : EXIT_IO;
	}
	return EXIT_OK;
}

int serve_run(const struct settings *s)
{
	struct serve *sv = xcalloc(1, sizeof(*sv));
	int rc;
	sv->user = s;
	sv->s = *s;
	for (size_t i = 0; i < s->ntokens && i < GOVERNOR_MAX_TOKENS; i++)
		sv->pool[sv->npool++] = s->tokens[i];
	sv->nborrowed = sv->npool;
	sv->s.tokens = sv->pool;
	sv->s.ntokens = (size_t)sv->npool;
	LIST_INIT(&sv->repos);
	if (uv_loop_init(&sv->loop) != 0) {
		msg_error("cannot start the event loop");
		free(sv);
		return EXIT_IO;
	}
	rc = serve_open(sv, s);
	if (rc == EXIT_OK) {
		uv_timer_init(&sv->loop, &sv->kick);
		serve_ws_start(sv);
		for (int i = 0; i < STOPSIG_COUNT; i++) {
			uv_signal_init(&sv->loop, &sv->sig[i]);
			sv->sig[i].data = sv;
			uv_signal_start(&sv->sig[i], on_signal, stopsig_signals[i]);
		}
		seed_repos(sv);
		uv_run(&sv->loop, UV_RUN_DEFAULT);
		rc = sv->io_failed ? EXIT_IO : (sv->stop_signal ? stopsig_exit_code(sv->stop_signal) : EXIT_SIGTERM);
	}
	uv_run(&sv->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&sv->loop) != 0)
		msg_warn("event loop closed with handles still open");
	release(sv);
	return rc;
}
