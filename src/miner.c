/* miner.c - one mining session: the loop, its signals and timers, the once-per-iteration
 * journal fsync, folding the journal into the CSV, repository after repository, and watch
 * mode (a pass every interval, or at once on SIGUSR1). */
#include "miner.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ghapi.h"
#include "msg.h"
#include "ndjson.h"
#include "progress.h"
#include "session.h"
#include "util.h"

static void pass_start(struct session *m);
static void miner_finish(struct session *m);

/* Keep the most telling exit code: a fatal cause beats "partial". */
void session_set_exit(struct session *m, int code)
{
	if (m->exit_code == EXIT_OK || m->exit_code == EXIT_PARTIAL)
		m->exit_code = code;
}

static void pass_done(struct session *m);

void session_fatal(struct session *m, int code)
{
	session_set_exit(m, code);
	if (m->s->watch_interval > 0 && code == EXIT_NETWORK && !m->stop_signal && !m->finishing) {
		/* Watch mode outlives an unreachable API: drop the pass, try at the next one. */
		fetch_cancel(m->f);
		m->phase = 0;
		free(m->days);
		m->days = NULL;
		pass_done(m);
		return;
	}
	fetch_stop(m->f);
	miner_finish(m);
}

int session_report_failure(struct session *m, struct fetch_req *fr, const char *what)
{
	struct http_req *h = &fr->http;
	char *gh = ghapi_error_message(h->body.data);
	const char *sep = gh ? ": " : "", *ghs = gh ? gh : "";
	int code = EXIT_PARTIAL;
	switch (fr->answer) {
	case GA_AUTH:
		msg_error("authentication failed: check GITHUB_TOKEN (GitHub answered 401%s%s)", sep,
			  ghs);
		ndjson_error("authentication failed: check GITHUB_TOKEN");
		code = EXIT_AUTH;
		break;
	case GA_NOT_FOUND:
		msg_error("repository '%s' not found, or not visible with this token: check the URL "
			  "and the token's access", m->repo->full_name);
		ndjson_error("repository '%s' not found", m->repo->full_name);
		code = EXIT_AUTH;
		break;
	case GA_RETRY:
		if (h->status == 0) {
			msg_error("cannot reach %s while %s: %s (after %d attempts); check the network "
				  "or --api-url, then run again to resume", m->s->api_url, what,
				  h->errbuf, fr->attempts);
			ndjson_error("cannot reach %s: %s", m->s->api_url, h->errbuf);
			code = EXIT_NETWORK;
			break;
		}
		/* fall through */
	default:
		msg_error("%s failed: HTTP %ld after %d attempts%s%s", what, h->status, fr->attempts,
			  sep, ghs);
		ndjson_error("%s failed: HTTP %ld%s%s", what, h->status, sep, ghs);
		break;
	}
	free(gh);
	return code;
}

/* journal_sync, printing a failure once: a journal whose write failed stays broken, and
 * the later calls fail quietly. */
static int sync_journal(struct session *m)
{
	struct error err;
	bool reported = m->j.broken;
	if (journal_sync(&m->j, &err) == 0)
		return 0;
	if (!reported)
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_MINING));
	return -1;
}

/* Fold the journal into the CSV: one durable rewrite. 0, or -1 (the journal is kept). */
int session_fold(struct session *m)
{
	struct error err;
	if (sync_journal(m) != 0)
		return -1;
	if (m->j.entries == 0)
		return 0;
	if (csvstore_rewrite(&m->cs, journal_patch, &m->j, &err) != 0 ||
	    journal_clear(&m->j, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_MINING));
		return -1;
	}
	/* Geometric batching: the next fold waits until the journal holds four times the
	 * CSV, so the CSV grows about fivefold between rewrites and all the rewrites of a pass
	 * add up to about 1.25 times the final size. */
	uint64_t grown = (uint64_t)m->cs.size * 4;
	m->fold_at = grown > m->fold_min ? grown : m->fold_min;
	return 0;
}

void session_save_state(struct session *m)
{
	/* What the state proves may rest on journaled updates of known runs: those reach the
	 * disk first, or the state is not saved. */
	if (sync_journal(m) != 0)
		return;
	/* The state only saves requests: failing to write it is worth a warning, not a stop. */
	if (syncstate_save(&m->st) != 0)
		msg_warn("the sync state was not saved: the next run lists more than it needs");
	m->state_saved_ms = time_mono_ms();
	m->state_dirty = false;
}

static void on_sync_check(uv_check_t *h)
{
	struct session *m = h->data;
	if (m->j.pending.len && sync_journal(m) != 0) {
		session_fatal(m, EXIT_IO);
		return;
	}
	if (m->fold_soon && !m->finishing) {
		m->fold_soon = false;
		if (m->j.entries && session_fold(m) != 0)
			session_fatal(m, EXIT_IO);
	}
}

void session_progress(struct session *m)
{
	struct progress_view v = {.repo = m->repo ? m->repo->full_name : "", .budget = -1};
	const struct governor *g;
	uint64_t now = time_mono_ms();
	double secs = (double)(now - m->phase_start_ms) / 1000.0;
	if (!m->phase || !m->f)
		return;
	g = fetch_governor(m->f);
	if (m->phase == 1) {
		/* Runs listed out of the listing's total_count: windows make the page count
		 * unknowable in advance, the runs are not. */
		v.what = "listed";
		v.done = m->collected + m->known;
		v.total = m->runs_total > v.done ? m->runs_total : v.done;
	} else {
		v.what = "runs";
		v.done = (long)m->processed;
		v.total = (long)m->ntodo;
	}
	/* Over less than a second a rate says nothing (60 runs in 1 ms is not 60,000/s). */
	v.rate = secs >= 1 ? (double)v.done / secs : 0;
	v.budget = governor_budget_left(g);
	if (g->pause_until > now)
		v.wait_s = (double)(g->pause_until - now) / 1000.0;
	progress_show(&v);
}

static void on_progress_timer(uv_timer_t *t)
{
	session_progress(t->data);
}

static void on_watch_timer(uv_timer_t *t)
{
	pass_start(t->data);
}

static void pass_done(struct session *m)
{
	m->busy = false;
	if (m->s->watch_interval <= 0 || m->exit_code == EXIT_AUTH || m->exit_code == EXIT_IO) {
		miner_finish(m);
		return;
	}
	/* Watch mode: a failing pass is retried at the next interval. */
	double now = time_now(), took = now - m->pass_started;
	if (m->exit_code == EXIT_OK)
		m->last_ok = now;
	ndjson_emit("status", json_pack(
		"{s:o, s:s, s:i, s:I, s:I, s:I, s:f, s:b}", "message",
		json_sprintf("pass %d %s in %.1f s: %ld new runs, %ld changed, jobs of %ld runs; "
			     "data %.0f s old; next pass in %.0f s (SIGUSR1 refreshes at once)",
			     m->passes, m->exit_code ? "failed" : "done", took, m->pass_new,
			     m->pass_updated, m->pass_jobs, m->last_ok > 0 ? now - m->last_ok : -1.0,
			     m->s->watch_interval),
		"stage", "watching", "pass", m->passes, "new_runs", (json_int_t)m->pass_new,
		"updated_runs", (json_int_t)m->pass_updated, "jobs_collected",
		(json_int_t)m->pass_jobs, "data_age_s", m->last_ok > 0 ? now - m->last_ok : -1.0,
		"ok", m->exit_code == EXIT_OK));
	msg_info("pass %d %s: %ld new runs, %ld changed; next in %.0f s (kill -USR1 %ld "
		 "refreshes now)", m->passes, m->exit_code ? "failed" : "done", m->pass_new,
		 m->pass_updated, m->s->watch_interval, (long)getpid());
	m->exit_code = EXIT_OK;
	uv_timer_start(&m->watch_timer, on_watch_timer, (uint64_t)(m->s->watch_interval * 1000), 0);
}

void session_repo_done(struct session *m)
{
	if (m->finishing)
		return;
	m->pass_new += m->collected;
	m->pass_updated += m->updated;
	m->pass_jobs += (long)m->collected_jobs;
	m->repo_i++;
	if (m->repo_i >= m->s->nrepos) {
		pass_done(m);
		return;
	}
	phase1_start(m);
}

static void pass_start(struct session *m)
{
	if (m->busy || m->finishing)
		return;
	uv_timer_stop(&m->watch_timer);
	m->busy = true;
	m->passes++;
	m->pass_started = time_now();
	m->pass_new = m->pass_updated = m->pass_jobs = 0;
	m->repo_i = 0;
	if (m->passes > 1)
		ndjson_status("refreshing", "pass %d: checking for new and changed runs", m->passes);
	phase1_start(m);
}

static void on_wait(void *arg, const char *reason, double until, double spread_s)
{
	struct session *m = arg;
	double secs = until - time_now();
	char text[256];
	if (secs < 0)
		secs = 0;
	if (spread_s > 0)
		snprintf(text, sizeof(text), "%s: one request every %.1f s until the reset in %.0f s",
			 reason, spread_s, secs);
	else
		snprintf(text, sizeof(text), "%s: waiting %.0f s before the next request", reason,
			 secs);
	ndjson_emit("status", json_pack("{s:s, s:s, s:f}", "message", text, "stage",
					"rate_limited", "reset_at", until));
	msg_info("%s", text);
	/* Every request held for a while (not one token of a pool): a good moment to bring
	 * the CSV up to date. */
	if (spread_s <= 0 && fetch_governor(m->f)->pause_until > time_mono_ms() + 5000)
		m->fold_soon = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct session *m = h->data;
	if (signum == SIGUSR1) {
		if (m->busy) {
			msg_info("SIGUSR1: a pass is already under way");
		} else {
			msg_info("SIGUSR1: refreshing now");
			pass_start(m);
		}
		return;
	}
	if (m->stop_signal) {
		/* A second signal: the user insists. Journaled results are already durable. */
		msg_warn("second signal: exiting now; run again to resume");
		_exit(signum == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM);
	}
	m->stop_signal = signum;
	msg_warn("%s received: stopping (saving what was collected); send it again to exit at "
		 "once", signum == SIGINT ? "SIGINT" : "SIGTERM");
	m->exit_code = signum == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
	fetch_stop(m->f);
	miner_finish(m);
}

static void miner_finish(struct session *m)
{
	if (m->finishing)
		return;
	m->finishing = true;
	if (m->state_dirty)
		session_save_state(m);
	if (session_fold(m) != 0)
		session_set_exit(m, EXIT_IO);
	free(m->todo);
	free(m->refresh);
	free(m->days);
	m->todo = m->refresh = m->days = NULL;
	if (m->stop_signal)
		ndjson_status("interrupted", "interrupted by %s: what was collected is saved; run "
			      "again to resume", m->stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	else if (m->exit_code == EXIT_OK)
		ndjson_status("completed", "collection completed");
	else
		ndjson_status("error", "collection ended with errors (exit code %d)", m->exit_code);
	const struct http_stats *st = fetch_http_stats(m->f);
	msg_info("done: %" PRIu64 " requests, at most %d in flight; wrote %" PRIu64 " bytes "
		 "(%d rewrites) for a %lld-byte CSV '%s'", st->requests, st->max_in_flight,
		 m->cs.bytes_written + m->j.bytes_written, m->cs.rewrites, (long long)m->cs.size,
		 m->s->output_csv);
	fetch_free(m->f);
	m->f = NULL;
	uv_close((uv_handle_t *)&m->sig_int, NULL);
	uv_close((uv_handle_t *)&m->sig_term, NULL);
	uv_close((uv_handle_t *)&m->sig_usr1, NULL);
	uv_close((uv_handle_t *)&m->sync_check, NULL);
	uv_close((uv_handle_t *)&m->watch_timer, NULL);
	uv_close((uv_handle_t *)&m->progress_timer, NULL);
	progress_done();
}

int miner_run(const struct settings *s)
{
	struct session m = {0};
	struct error err;
	uv_loop_t loop;
	int rc;
	m.s = s;
	m.loop = &loop;
	/* Below 32 MB a journal is folded only at the end of a repository or during a long
	 * rate-limit wait: a fold stalls the loop, and a small journal costs nothing to keep.
	 * GHAMINER_FOLD_MIN lowers the floor for the tests that exercise intermediate folds. */
	m.fold_min = 32u << 20;
	if (getenv("GHAMINER_FOLD_MIN"))
		m.fold_min = strtoull(getenv("GHAMINER_FOLD_MIN"), NULL, 10);
	m.fold_at = m.fold_min;
	syncstate_token_id(s->ntokens ? s->tokens[0] : "", m.token_id);
	if (uv_loop_init(&loop) != 0) {
		msg_error("cannot start the event loop");
		return EXIT_IO;
	}
	if (csvstore_open(&m.cs, s->output_csv, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_OPENING));
		rc = EXIT_IO;
		goto out_csv;
	}
	if (journal_open(&m.j, s->output_csv, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_OPENING));
		rc = EXIT_IO;
		goto out_journal;
	}
	syncstate_load(&m.st, s->output_csv);
	if (m.cs.repaired && m.st.nl) {
		/* The torn row's run may lie in a range a pass proved: prove everything again
		 * (pages only; the jobs already collected are kept). */
		msg_warn("the sync state is reset after the repair: this run lists every run again");
		for (size_t i = 0; i < m.st.nl; i++)
			sync_clear(&m.st.l[i]);
	}
	/* Results an interrupted process journaled go into the CSV before anything else. */
	if (m.j.entries) {
		msg_info("folding %zu journaled results of an earlier run into '%s'", m.j.entries,
			 s->output_csv);
		if (session_fold(&m) != 0) {
			rc = EXIT_IO;
			goto out_journal;
		}
	}
	if (s->ntokens > GOVERNOR_MAX_TOKENS)
		msg_warn("%zu tokens given: only the first %d are used", s->ntokens,
			 GOVERNOR_MAX_TOKENS);
	m.f = fetch_new(&loop, (const char *const *)s->tokens, (int)s->ntokens, s->max_in_flight,
			s->requests_per_minute, s->budget_reserve, s->max_retries,
			s->request_timeout);
	if (!m.f) {
		msg_error("cannot initialise libcurl");
		rc = EXIT_IO;
		goto out_journal;
	}
	fetch_on_wait(m.f, on_wait, &m);
	fetch_set_origin(m.f, s->api_url);
	uv_signal_init(&loop, &m.sig_int);
	uv_signal_init(&loop, &m.sig_term);
	uv_signal_init(&loop, &m.sig_usr1);
	m.sig_int.data = m.sig_term.data = m.sig_usr1.data = &m;
	uv_signal_start(&m.sig_int, on_signal, SIGINT);
	uv_signal_start(&m.sig_term, on_signal, SIGTERM);
	uv_signal_start(&m.sig_usr1, on_signal, SIGUSR1);
	uv_check_init(&loop, &m.sync_check);
	m.sync_check.data = &m;
	uv_check_start(&m.sync_check, on_sync_check);
	uv_timer_init(&loop, &m.watch_timer);
	m.watch_timer.data = &m;
	uv_timer_init(&loop, &m.progress_timer);
	m.progress_timer.data = &m;
	progress_init(s->quiet);
	if (progress_interval() > 0) {
		uint64_t every = (uint64_t)(progress_interval() * 1000);
		uv_timer_start(&m.progress_timer, on_progress_timer, every, every);
		/* The progress line must not keep an idle watch loop awake. */
		uv_unref((uv_handle_t *)&m.progress_timer);
	}

	pass_start(&m);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = m.exit_code;
out_journal:
	free(m.top_url);
	syncstate_release(&m.st);
	journal_close(&m.j);
out_csv:
	csvstore_close(&m.cs);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		msg_warn("event loop closed with handles still open");
	return rc;
}
