/* miner.c - the orchestrator: one engine and one store for the process, a session per
 * repository (several at once), the sinks they report to, signals, watch mode, and the
 * only place where outcomes become exit codes. */
#include "miner.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "msg.h"
#include "ndjson.h"
#include "policy.h"
#include "progress.h"
#include "session.h"
#include "store.h"
#include "stopsig.h"
#include "summary.h"
#include "util.h"

/* One repository of the run, across passes. */
struct repo_slot {
	struct miner *mn;
	const struct repo_ref *repo;
	struct session *s;            /* this pass's session, or NULL */
	struct session_sink ndjson, self;
	struct session_summary sum;   /* of the last pass */
	bool done;                    /* this pass is over for it */
	uint64_t first_row_ms;        /* when its first run was streamed, 0 = not yet */
};

struct miner {
	const struct settings *s;
	uv_loop_t loop;
	struct engine e;
	struct store st;
	struct repo_slot *slots;
	size_t nslots, next_slot, active, ndone;
	uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
	uv_timer_t watch_timer, progress_timer;
	uv_timer_t deadline_timer;   /* --deadline */
	bool deadline_hit;
	struct engine_call reap_call;
	int exit_code;
	int stop_signal;
	bool fatal;       /* stop everything: no new session, no new pass */
	bool busy;        /* a pass is under way */
	bool pass_dropped; /* the pass is given up (the API unreachable): start no more */
	bool draining;    /* the pass is over, its results still going to disk */
	bool finished;
	int passes;
	double pass_started, last_ok;
	uint64_t started_ms;
	json_t *summary;  /* the last pass's, per repository */
};

static void pass_start(struct miner *mn);
static void miner_finish(struct miner *mn);

/* Keep the most telling exit code: a fatal cause beats "partial". */
static void set_exit(struct miner *mn, int code)
{
	if (code == EXIT_OK)
		return;
	if (mn->exit_code == EXIT_OK || mn->exit_code == EXIT_PARTIAL)
		mn->exit_code = code;
}

static int exit_code_of(const struct miner *mn, enum session_failure f)
{
	switch (f) {
	case SF_NONE:
	case SF_CANCELLED:
		return EXIT_OK;
	case SF_PARTIAL:
		return EXIT_PARTIAL;
	case SF_NOT_FOUND:
		/* One repository that is not there is the user's whole request: an error. Among
		 * several, the others were mined: partial. */
		return mn->nslots == 1 ? EXIT_AUTH : EXIT_PARTIAL;
	case SF_NETWORK:
		return EXIT_NETWORK;
	case SF_AUTH:
		return EXIT_AUTH;
	case SF_IO:
		return EXIT_IO;
	}
	return EXIT_PARTIAL;
}

/* Stop every session of the pass; each reports done once its requests are back. */
static void stop_all(struct miner *mn, enum session_failure why)
{
	for (size_t i = 0; i < mn->nslots; i++)
		if (mn->slots[i].s)
			session_stop(mn->slots[i].s, why);
}

/* ---- sinks ------------------------------------------------------------------------- */

static void ndjson_on_message(void *arg, struct session *s, const char *type, json_t *data,
			      const char *text)
{
	(void)arg;
	(void)s;
	if (data)
		ndjson_emit(type, json_incref(data));
	else
		ndjson_emit_text(type, text);
}

/* The last progress line of a phase stays on screen: only when one repository is mined
 * (several share one aggregated line). */
static void phase_line(struct miner *mn, struct session *s, int phase)
{
	struct progress_view v;
	if (mn->nslots != 1)
		return;
	session_progress(s, phase, &v);
	if (v.total > 0)
		progress_show(&v);
	progress_done();
}

static void self_on_message(void *arg, struct session *s, const char *type, json_t *data,
			    const char *text)
{
	struct repo_slot *slot = arg;
	(void)text;
	if (!strcmp(type, "runs_page") && !slot->first_row_ms &&
	    json_array_size(json_object_get(data, "runs")))
		slot->first_row_ms = time_mono_ms();
	if (!strcmp(type, "status") &&
	    !strcmp(json_string_value(json_object_get(data, "stage")), "runs_collected"))
		phase_line(slot->mn, s, 1);
}

static void reap(void *arg);

static void self_on_done(void *arg, struct session *s)
{
	struct repo_slot *slot = arg;
	struct miner *mn = slot->mn;
	const struct session_summary *sum = session_summary(s);
	if (sum->jobs_collected + sum->jobs_failed)
		phase_line(mn, s, 2);
	slot->sum = *sum;
	slot->done = true;
	set_exit(mn, exit_code_of(mn, sum->failure));
	if (sum->failure == SF_AUTH || sum->failure == SF_IO ||
	    (sum->failure == SF_NETWORK && !mn->stop_signal)) {
		/* The token or the disk is gone, or the API unreachable: the others would meet
		 * the same. Watch mode drops only the pass for an unreachable API. */
		if (!(sum->failure == SF_NETWORK && mn->s->watch_interval > 0))
			mn->fatal = true;
		mn->pass_dropped = true;
		stop_all(mn, SF_CANCELLED);
	}
	/* Freed from the loop, after every subscriber heard. */
	engine_defer(&mn->e, &mn->reap_call, reap, mn);
}

/* ---- passes ------------------------------------------------------------------------ */

static size_t concurrency(const struct miner *mn)
{
	int c = mn->s->repo_concurrency;
	return c > 0 ? (size_t)c : mn->nslots;
}

static void slot_start(struct miner *mn, struct repo_slot *slot)
{
	slot->done = false;
	memset(&slot->sum, 0, sizeof(slot->sum));
	slot->s = session_new(&mn->e, &mn->st, mn->s, slot->repo);
	slot->ndjson = (struct session_sink){.on_message = ndjson_on_message};
	slot->self = (struct session_sink){.on_message = self_on_message,
					   .on_done = self_on_done, .arg = slot};
	session_subscribe(slot->s, &slot->ndjson);
	session_subscribe(slot->s, &slot->self);
	mn->active++;
	session_start(slot->s);
}

/* Start sessions while the concurrency allows. */
static void feed(struct miner *mn)
{
	while (!mn->fatal && !mn->stop_signal && !mn->pass_dropped && mn->next_slot < mn->nslots &&
	       mn->active < concurrency(mn))
		slot_start(mn, &mn->slots[mn->next_slot++]);
}

static void summarise(struct miner *mn, bool folded);
static void pass_done(struct miner *mn);

static void reap(void *arg)
{
	struct miner *mn = arg;
	for (size_t i = 0; i < mn->nslots; i++) {
		struct repo_slot *slot = &mn->slots[i];
		if (slot->s && slot->done) {
			session_free(slot->s);
			slot->s = NULL;
			mn->active--;
			mn->ndone++;
		}
	}
	feed(mn);
	if (mn->active == 0 && mn->busy)
		pass_done(mn);
}

static void on_watch_timer(uv_timer_t *t)
{
	pass_start(t->data);
}

static void pass_start(struct miner *mn)
{
	if (mn->busy || mn->fatal || mn->stop_signal)
		return;
	uv_timer_stop(&mn->watch_timer);
	mn->busy = true;
	mn->passes++;
	mn->pass_started = time_now();
	mn->next_slot = mn->ndone = 0;
	mn->pass_dropped = false;
	for (size_t i = 0; i < mn->nslots; i++) {
		mn->slots[i].done = false;
		memset(&mn->slots[i].sum, 0, sizeof(mn->slots[i].sum));
	}
	if (mn->passes > 1)
		ndjson_status("refreshing", "pass %d: checking for new and changed runs", mn->passes);
	feed(mn);
}

/* Watch mode: say how the pass went and wait for the next. */
static void watch_next(struct miner *mn)
{
	double now = time_now(), took = now - mn->pass_started;
	long new_runs = 0, updated = 0, jobs = 0;
	for (size_t i = 0; i < mn->nslots; i++) {
		new_runs += mn->slots[i].sum.new_runs;
		updated += mn->slots[i].sum.updated_runs;
		jobs += (long)mn->slots[i].sum.jobs_collected;
	}
	if (mn->exit_code == EXIT_OK)
		mn->last_ok = now;
	double age = mn->last_ok > 0 ? now - mn->last_ok : -1.0;
	ndjson_emit("status", json_pack(
		"{s:o, s:s, s:i, s:I, s:I, s:I, s:f, s:b, s:O}", "message",
		json_sprintf("pass %d %s in %.1f s: %ld new runs, %ld changed, jobs of %ld runs; "
			     "data %.0f s old; next pass in %.0f s (SIGUSR1 refreshes at once)",
			     mn->passes, mn->exit_code ? "failed" : "done", took, new_runs, updated,
			     jobs, age, mn->s->watch_interval),
		"stage", "watching", "pass", mn->passes, "new_runs", (json_int_t)new_runs,
		"updated_runs", (json_int_t)updated, "jobs_collected", (json_int_t)jobs,
		"data_age_s", age, "ok", mn->exit_code == EXIT_OK, "repos", mn->summary));
	msg_info("pass %d %s: %ld new runs, %ld changed; next in %.0f s (kill -USR1 %ld "
		 "refreshes now)", mn->passes, mn->exit_code ? "failed" : "done", new_runs, updated,
		 mn->s->watch_interval, (long)getpid());
	mn->exit_code = EXIT_OK;
	uv_timer_start(&mn->watch_timer, on_watch_timer, (uint64_t)(mn->s->watch_interval * 1000),
		       0);
}

static void on_store_error(void *arg, const struct error *e);

static void pass_drained(void *arg, bool ok, const struct error *untold)
{
	struct miner *mn = arg;
	mn->draining = false;
	if (untold)
		on_store_error(mn, untold);
	if (!ok) {
		set_exit(mn, EXIT_IO);
		mn->fatal = true;
	}
	summarise(mn, ok);
	if (mn->s->watch_interval <= 0 || mn->fatal || mn->stop_signal)
		miner_finish(mn);
	else
		watch_next(mn);
}

/* Every session of the pass is done: every result into the CSV (one rewrite, nothing in
 * flight), then the summary. */
static void pass_done(struct miner *mn)
{
	mn->busy = false;
	mn->draining = true;
	store_drain(&mn->st, pass_drained, mn);
}

/* csv_updated for each repository whose jobs went into the CSV, then the summary on
 * stderr and in a status line. */
static void summarise(struct miner *mn, bool folded)
{
	size_t n = 0;
	struct summary_row *rows = xcalloc(mn->nslots + 1, sizeof(*rows));
	for (size_t i = 0; i < mn->nslots; i++) {
		struct repo_slot *slot = &mn->slots[i];
		if (!slot->done)
			continue;
		if (slot->sum.jobs_collected && folded)
			ndjson_emit("csv_updated",
				    json_pack("{s:o, s:s, s:s}", "message",
					      json_sprintf("CSV file updated with jobs of %zu runs",
							   slot->sum.jobs_collected),
					      "file_path", mn->s->output_csv, "repo",
					      slot->repo->full_name));
		rows[n].repo = slot->repo->full_name;
		rows[n].line = mn->s->repo_lines ? mn->s->repo_lines[i] : 0;
		rows[n].sum = &slot->sum;
		rows[n].first_row_s = slot->first_row_ms
					      ? (double)(slot->first_row_ms - mn->started_ms) / 1000.0
					      : -1;
		n++;
	}
	if (n > 1 || mn->s->nbad_lines || (n == 1 && rows[0].sum->failure > SF_CANCELLED))
		summary_print(rows, n);
	json_decref(mn->summary);
	mn->summary = summary_json(rows, n);
	free(rows);
	/* Lines of the projects file that named no repository: the request was not served
	 * whole. */
	for (size_t i = 0; i < mn->s->nbad_lines; i++) {
		msg_warn("%s: skipped", mn->s->bad_lines[i]);
		json_array_append_new(mn->summary, json_pack("{s:n, s:s, s:s}", "repo", "outcome",
							     "invalid line", "error",
							     mn->s->bad_lines[i]));
		set_exit(mn, EXIT_PARTIAL);
	}
}

static void on_wait(void *arg, const char *reason, double until, double spread_s)
{
	struct miner *mn = arg;
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
	if (spread_s <= 0 &&
	    fetch_governor(mn->e.fetch)->pause_until > time_mono_ms() + POLICY_FOLD_ON_WAIT_MS)
		store_fold_soon(&mn->st);
}

/* The store's outlook: unknown while repositories wait to start, since their runs are
 * still to come too. */
static long jobs_to_come(void *arg)
{
	struct miner *mn = arg;
	long n = 0;
	if (mn->next_slot < mn->nslots)
		return -1;
	for (size_t i = 0; i < mn->nslots; i++)
		if (mn->slots[i].s)
			n += session_jobs_to_come(mn->slots[i].s);
	return n;
}

static void on_store_error(void *arg, const struct error *e)
{
	struct miner *mn = arg;
	msg_error("%s; %s", e->msg, csvstore_advice(e->code, CSVSTORE_MINING));
	ndjson_error("%s", e->msg);
	set_exit(mn, EXIT_IO);
	mn->fatal = true;
	stop_all(mn, SF_IO);
}

/* ---- progress ---------------------------------------------------------------------- */

static void on_progress_timer(uv_timer_t *t)
{
	struct miner *mn = t->data;
	struct progress_view v = {0}, one;
	int phase = 0;
	if (mn->nslots == 1) {
		if (mn->slots[0].s && (phase = session_phase(mn->slots[0].s))) {
			session_progress(mn->slots[0].s, phase, &v);
			progress_show(&v);
		}
		return;
	}
	/* Several repositories: one line over them all, the runs whose jobs are done. */
	v.what = "runs";
	v.budget = governor_budget_left(fetch_governor(mn->e.fetch), FETCH_REST);
	v.repos_total = (int)mn->nslots;
	v.repos_done = (int)mn->ndone;
	for (size_t i = 0; i < mn->nslots; i++) {
		if (!mn->slots[i].s)
			continue;
		session_progress(mn->slots[i].s, 2, &one);
		v.done += one.done;
		v.total += one.total;
		v.rate += one.rate;
		v.wait_s = one.wait_s;
	}
	if (mn->busy)
		progress_show(&v);
}

/* ---- signals and the end ----------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum)
{
	struct miner *mn = h->data;
	if (signum == SIGUSR1) {
		if (mn->busy || mn->draining) {
			msg_info("SIGUSR1: a pass is already under way");
		} else {
			msg_info("SIGUSR1: refreshing now");
			pass_start(mn);
		}
		return;
	}
	if (mn->stop_signal) {
		/* A second signal: the user insists. Journaled results are already durable. */
		msg_warn("second signal: exiting now; run again to resume");
		_exit(stopsig_exit_code(signum));
	}
	mn->stop_signal = signum;
	msg_warn("%s received: stopping (saving what was collected); send it again to exit at "
		 "once", stopsig_name(signum));
	mn->exit_code = stopsig_exit_code(signum);
	stop_all(mn, SF_CANCELLED);
	engine_stop(&mn->e);
	/* A pass under way, or its results on their way to disk, finishes first (it sees
	 * stop_signal). */
	if (!mn->busy && !mn->draining)
		miner_finish(mn);
}

/* --deadline: stop as SIGTERM does (what was collected saved, the state kept), but the
 * collection is not failed: exit 0, and the next run resumes. */
static void on_deadline(uv_timer_t *t)
{
	struct miner *mn = t->data;
	/* A single pass already over, only saving, is complete: let it say so. */
	if (mn->stop_signal || mn->finished || (mn->draining && mn->s->watch_interval <= 0))
		return;
	mn->deadline_hit = true;
	mn->fatal = true; /* no new session, no new pass */
	msg_warn("deadline of %.0f s reached: stopping (saving what was collected)",
		 mn->s->deadline);
	stop_all(mn, SF_CANCELLED);
	engine_stop(&mn->e);
	if (!mn->busy && !mn->draining)
		miner_finish(mn);
}

/* The last word after a deadline. */
static void deadline_said(struct miner *mn)
{
	msg_warn("partial, resume: the deadline stopped the collection; what was collected is "
		 "saved in '%s': run again to resume", mn->s->output_csv);
	ndjson_emit("status", json_pack(
		"{s:s, s:s, s:b, s:i, s:O}", "message", "partial, resume: the deadline stopped the "
		"collection; what was collected is saved: run again to resume", "stage",
		"deadline", "ok", mn->exit_code == EXIT_OK, "exit_code", mn->exit_code,
		"repos", mn->summary ? mn->summary : json_null()));
}

static void miner_finish(struct miner *mn)
{
	if (mn->finished)
		return;
	mn->finished = true;
	if (mn->stop_signal) {
		mn->exit_code = stopsig_exit_code(mn->stop_signal);
		ndjson_status("interrupted", "interrupted by %s: what was collected is saved; run "
			      "again to resume", stopsig_name(mn->stop_signal));
	} else if (mn->deadline_hit) {
		deadline_said(mn);
	} else {
		/* Partial is a completed collection that left something to retry. */
		bool ended = mn->exit_code == EXIT_OK || mn->exit_code == EXIT_PARTIAL;
		ndjson_emit("status", json_pack(
			"{s:o, s:s, s:b, s:i, s:O}", "message",
			mn->exit_code == EXIT_OK
				? json_string("collection completed")
				: json_sprintf("collection ended with errors (exit code %d)",
					       mn->exit_code),
			"stage", ended ? "completed" : "error", "ok", mn->exit_code == EXIT_OK,
			"exit_code", mn->exit_code, "repos", mn->summary ? mn->summary : json_null()));
	}
	const struct http_stats *hs = fetch_http_stats(mn->e.fetch);
	msg_info("done: %" PRIu64 " requests, at most %d in flight; wrote %" PRIu64 " bytes "
		 "(%d rewrites) for a %lld-byte CSV '%s'", hs->requests, hs->max_in_flight,
		 mn->st.cs.bytes_written + mn->st.j.bytes_written, mn->st.cs.rewrites,
		 (long long)mn->st.cs.size, mn->s->output_csv);
	engine_close(&mn->e);
	uv_close((uv_handle_t *)&mn->sig_int, NULL);
	uv_close((uv_handle_t *)&mn->sig_term, NULL);
	uv_close((uv_handle_t *)&mn->sig_hup, NULL);
	uv_close((uv_handle_t *)&mn->sig_usr1, NULL);
	uv_close((uv_handle_t *)&mn->watch_timer, NULL);
	uv_close((uv_handle_t *)&mn->progress_timer, NULL);
	uv_close((uv_handle_t *)&mn->deadline_timer, NULL);
	store_close(&mn->st);
	progress_done();
}

static void handles_init(struct miner *mn)
{
	uv_signal_init(&mn->loop, &mn->sig_int);
	uv_signal_init(&mn->loop, &mn->sig_term);
	uv_signal_init(&mn->loop, &mn->sig_hup);
	uv_signal_init(&mn->loop, &mn->sig_usr1);
	mn->sig_int.data = mn->sig_term.data = mn->sig_hup.data = mn->sig_usr1.data = mn;
	uv_signal_start(&mn->sig_int, on_signal, SIGINT);
	uv_signal_start(&mn->sig_term, on_signal, SIGTERM);
	uv_signal_start(&mn->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&mn->sig_usr1, on_signal, SIGUSR1);
	uv_timer_init(&mn->loop, &mn->watch_timer);
	mn->watch_timer.data = mn;
	uv_timer_init(&mn->loop, &mn->progress_timer);
	mn->progress_timer.data = mn;
	uv_timer_init(&mn->loop, &mn->deadline_timer);
	mn->deadline_timer.data = mn;
	if (mn->s->deadline > 0)
		uv_timer_start(&mn->deadline_timer, on_deadline, (uint64_t)(mn->s->deadline * 1000),
			       0);
	progress_init(mn->s->quiet);
	if (progress_interval() > 0) {
		uint64_t every = (uint64_t)(progress_interval() * 1000);
		uv_timer_start(&mn->progress_timer, on_progress_timer, every, every);
		/* The progress line must not keep an idle watch loop awake. */
		uv_unref((uv_handle_t *)&mn->progress_timer);
	}
}

int miner_run(const struct settings *s)
{
	struct miner *mn = xcalloc(1, sizeof(*mn));
	struct error err = {0};
	int rc;
	mn->s = s;
	mn->started_ms = time_mono_ms();
	if (uv_loop_init(&mn->loop) != 0) {
		msg_error("cannot start the event loop");
		free(mn);
		return EXIT_IO;
	}
	if (store_open(&mn->st, &mn->loop, s->output_csv, s->ntokens ? s->tokens[0] : NULL,
		       s->csv_formula_guard, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_OPENING));
		rc = EXIT_IO;
		goto out;
	}
	store_on_error(&mn->st, on_store_error, mn);
	store_on_outlook(&mn->st, jobs_to_come, mn);
	if (s->ntokens > GOVERNOR_MAX_TOKENS)
		msg_warn("%zu tokens given: only the first %d are used", s->ntokens,
			 GOVERNOR_MAX_TOKENS);
	if (engine_init(&mn->e, &mn->loop, s, &err) != 0) {
		msg_error("%s", err.msg);
		store_close(&mn->st);
		rc = EXIT_IO;
		goto out;
	}
	fetch_on_wait(mn->e.fetch, on_wait, mn);
	mn->nslots = s->nrepos;
	mn->slots = xcalloc(mn->nslots + 1, sizeof(*mn->slots));
	for (size_t i = 0; i < mn->nslots; i++) {
		mn->slots[i].mn = mn;
		mn->slots[i].repo = &s->repos[i];
	}
	handles_init(mn);
	pass_start(mn);
	uv_run(&mn->loop, UV_RUN_DEFAULT);
	rc = mn->exit_code;
out:
	uv_run(&mn->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&mn->loop) != 0)
		msg_warn("event loop closed with handles still open");
	json_decref(mn->summary);
	free(mn->slots);
	free(mn);
	return rc;
}
