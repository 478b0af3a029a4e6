/* miner.c - one mining session: for each repository, phase 1 (runs, streamed page by page)
 * then phase 2 (jobs, fanned out under the governor), on one libuv loop. Phase results go
 * to the CSV (appends) and the journal (job details), never lost when something breaks. */
#include "miner.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "csvstore.h"
#include "fetch.h"
#include "ghapi.h"
#include "journal.h"
#include "msg.h"
#include "ndjson.h"
#include "util.h"

struct miner {
	uv_loop_t *loop;
	const struct settings *s;
	struct csvstore cs;
	struct journal j;
	struct fetch *f;
	uv_signal_t sig_int, sig_term;
	uv_check_t sync_check;
	int exit_code;
	int stop_signal;
	bool finishing;
	/* the repository being mined */
	size_t repo_i;
	uint32_t repo_id;
	const struct repo_ref *repo;
	char *created; /* created filter from --from_date/--to_date, or NULL */
	/* phase 1 */
	size_t listing_i;
	int page;
	long collected;
	long known;
	/* phase 2 */
	int64_t *todo;
	size_t ntodo, next_todo, outstanding, processed, failed, collected_jobs;
	uint64_t fold_at;
	uint64_t last_progress_ms;
	uint64_t phase_start_ms;
};

struct jobs_task {
	struct miner *m;
	int64_t run_id;
	json_t *details;
	int pages;
};

static void phase1_listing(struct miner *m);
static void phase2_start(struct miner *m);
static void repo_next(struct miner *m);
static void miner_finish(struct miner *m);

/* Keep the most telling exit code: a fatal cause beats "partial". */
static void set_exit(struct miner *m, int code)
{
	if (m->exit_code == EXIT_OK || m->exit_code == EXIT_PARTIAL)
		m->exit_code = code;
}

static void fatal_stop(struct miner *m, int code)
{
	set_exit(m, code);
	fetch_stop(m->f);
	miner_finish(m);
}

/* Describe a final non-OK answer; returns the exit code it calls for. */
static int report_failure(struct miner *m, struct fetch_req *fr, const char *what)
{
	struct http_req *h = &fr->http;
	char *gh = ghapi_error_message(h->body.data);
	int code = EXIT_PARTIAL;
	switch (fr->answer) {
	case GA_AUTH:
		msg_error("authentication failed: check GITHUB_TOKEN (GitHub answered 401%s%s)",
			  gh ? ": " : "", gh ? gh : "");
		ndjson_error("authentication failed: check GITHUB_TOKEN");
		code = EXIT_AUTH;
		break;
	case GA_NOT_FOUND:
		msg_error("repository '%s' not found, or not visible with this token: check the "
			  "URL and the token's access", m->repo->full_name);
		ndjson_error("repository '%s' not found", m->repo->full_name);
		code = EXIT_AUTH;
		break;
	case GA_RETRY:
		if (h->status == 0) {
			msg_error("cannot reach %s while fetching %s: %s (after %d attempts); check "
				  "the network or --api-url, then run again to resume",
				  m->s->api_url, what, h->errbuf, fr->attempts);
			ndjson_error("cannot reach %s: %s", m->s->api_url, h->errbuf);
			code = EXIT_NETWORK;
		} else {
			msg_error("%s failed: HTTP %ld after %d attempts%s%s", what, h->status,
				  fr->attempts, gh ? ": " : "", gh ? gh : "");
			ndjson_error("%s failed: HTTP %ld", what, h->status);
		}
		break;
	default:
		msg_error("%s failed: HTTP %ld%s%s", what, h->status, gh ? ": " : "", gh ? gh : "");
		ndjson_error("%s failed: HTTP %ld%s%s", what, h->status, gh ? ": " : "",
			     gh ? gh : "");
		break;
	}
	free(gh);
	return code;
}

/* ---- journal folding ---------------------------------------------------------------- */

/* Fold the journal into the CSV: one durable rewrite. 0, or -1 (journal kept). */
static int fold(struct miner *m)
{
	if (journal_sync(&m->j) != 0)
		return -1;
	if (m->j.entries == 0)
		return 0;
	if (csvstore_rewrite(&m->cs, journal_patch, &m->j) != 0)
		return -1;
	if (journal_clear(&m->j) != 0)
		return -1;
	/* Geometric batching: the next fold waits until the journal holds as much again as
	 * the CSV, so the rewrites of a whole run add up to about twice the final size. */
	m->fold_at = (uint64_t)m->cs.size * 2 > (8u << 20) ? (uint64_t)m->cs.size * 2 : (8u << 20);
	return 0;
}

static void on_sync_check(uv_check_t *h)
{
	struct miner *m = h->data;
	if (m->j.pending.len && journal_sync(&m->j) != 0)
		fatal_stop(m, EXIT_IO);
}

/* ---- phase 1: runs ------------------------------------------------------------------ */

static void on_runs_page(struct fetch_req *fr, void *arg)
{
	struct miner *m = arg;
	json_t *page = NULL, *runs, *run, *out;
	struct record **batch = NULL;
	size_t i, n = 0;
	char *next = NULL;

	if (fr->aborted)
		goto out_free;
	if (fr->answer != GA_OK) {
		int code = report_failure(m, fr, "listing workflow runs");
		fetch_req_free(fr);
		if (code == EXIT_AUTH && fr->answer == GA_AUTH) {
			fatal_stop(m, code);
			return;
		}
		if (code == EXIT_NETWORK) {
			fatal_stop(m, code);
			return;
		}
		set_exit(m, code);
		/* An unknown repository has nothing for phase 2; otherwise keep what we have. */
		if (code == EXIT_AUTH)
			repo_next(m);
		else
			phase2_start(m);
		return;
	}
	page = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
	runs = json_object_get(page, "workflow_runs");
	if (!json_is_array(runs)) {
		msg_error("unexpected answer listing runs of %s (no workflow_runs array); "
			  "is --api-url a GitHub API?", m->repo->full_name);
		set_exit(m, EXIT_PARTIAL);
		fetch_req_free(fr);
		json_decref(page);
		phase2_start(m);
		return;
	}
	m->page++;
	batch = xcalloc(json_array_size(runs) + 1, sizeof(*batch));
	out = json_array();
	json_array_foreach(runs, i, run) {
		struct record *r = xcalloc(1, sizeof(*r));
		bool added;
		if (ghapi_run_to_record(run, m->repo->full_name, r) != 0) {
			record_release(r);
			free(r);
			continue;
		}
		uint64_t *flags = runindex_put(&m->cs.index, m->repo_id,
					       json_integer_value(json_object_get(run, "id")), &added);
		if (!added) {
			/* Already in the CSV (an earlier run, or the listing shifted while paging). */
			m->known++;
			record_release(r);
			free(r);
			continue;
		}
		*flags = csvstore_row_flags(r);
		batch[n++] = r;
		json_array_append_new(out, record_to_json(r));
	}
	if (csvstore_append(&m->cs, batch, n) != 0) {
		json_decref(out);
		fatal_stop(m, EXIT_IO);
		goto out_batch;
	}
	m->collected += (long)n;
	next = ghapi_link_next(fr->http.link);
	ndjson_emit("runs_page", json_pack("{s:i, s:o, s:I, s:b}", "page", m->page, "runs", out,
					   "total_collected", (json_int_t)m->collected,
					   "has_more", next != NULL));
	msg_info("%s: page %d, %zu new runs (%ld collected, %ld already known)",
		 m->repo->full_name, m->page, n, m->collected, m->known);
	if (next) {
		fetch_get(m->f, next, NULL, on_runs_page, m);
	} else {
		m->listing_i++;
		phase1_listing(m);
	}
out_batch:
	for (i = 0; i < n; i++) {
		record_release(batch[i]);
		free(batch[i]);
	}
	free(batch);
	free(next);
	json_decref(page);
out_free:
	fetch_req_free(fr);
}

static void phase1_listing(struct miner *m)
{
	size_t nlistings = m->s->nworkflow_ids ? m->s->nworkflow_ids : 1;
	if (m->listing_i >= nlistings) {
		ndjson_status("runs_collected", "collected %ld new runs of %s (%ld already known)",
			      m->collected, m->repo->full_name, m->known);
		phase2_start(m);
		return;
	}
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[m->listing_i] : 0;
	char *url = ghapi_runs_url(m->s->api_url, m->repo->full_name, wf, m->created);
	fetch_get(m->f, url, NULL, on_runs_page, m);
	free(url);
}

static void phase1_start(struct miner *m)
{
	m->repo = &m->s->repos[m->repo_i];
	m->repo_id = (uint32_t)runindex_repo(&m->cs.index, m->repo->full_name, true);
	m->listing_i = 0;
	m->page = 0;
	m->collected = m->known = 0;
	ndjson_status("collecting_runs", "collecting workflow runs of %s", m->repo->full_name);
	msg_info("%s: collecting workflow runs", m->repo->full_name);
	phase1_listing(m);
}

/* ---- phase 2: jobs ------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void phase2_feed(struct miner *m);

static void job_progress(struct miner *m, int64_t run_id)
{
	char id[32];
	snprintf(id, sizeof(id), "%" PRId64, run_id);
	ndjson_emit("job_progress", json_pack("{s:I, s:I, s:s}", "processed",
					      (json_int_t)m->processed, "total",
					      (json_int_t)m->ntodo, "current_run_id", id));
}

static void phase2_done(struct miner *m)
{
	free(m->todo);
	m->todo = NULL;
	if (fold(m) != 0) {
		set_exit(m, EXIT_IO);
	} else {
		ndjson_emit("csv_updated",
			    json_pack("{s:o, s:s}", "message",
				      json_sprintf("CSV file updated with jobs of %zu runs",
						   m->collected_jobs),
				      "file_path", m->s->output_csv));
	}
	double secs = (double)(time_mono_ms() - m->phase_start_ms) / 1000.0;
	msg_info("%s: jobs of %zu runs collected in %.1f s%s", m->repo->full_name,
		 m->collected_jobs, secs, m->failed ? " (some failed: run again to retry)" : "");
	if (m->failed) {
		ndjson_error("jobs of %zu runs of %s could not be collected; run again to retry",
			     m->failed, m->repo->full_name);
		set_exit(m, EXIT_PARTIAL);
	}
	repo_next(m);
}

static void task_finish(struct miner *m, struct jobs_task *t, bool ok)
{
	uint64_t *flags = runindex_get(&m->cs.index, m->repo_id, t->run_id);
	if (ok) {
		char total[32];
		snprintf(total, sizeof(total), "%zu", json_array_size(t->details));
		json_t *set = json_pack("{s:s, s:O}", "total_jobs", total, "job_details", t->details);
		journal_add(&m->j, m->repo->full_name, t->run_id, set);
		json_decref(set);
		if (flags)
			*flags |= RX_HAS_JOBS;
		m->collected_jobs++;
		ndjson_emit("run_jobs", json_pack("{s:s, s:I, s:I, s:O}", "repo", m->repo->full_name,
						  "id_build", (json_int_t)t->run_id, "total_jobs",
						  (json_int_t)json_array_size(t->details),
						  "job_details", t->details));
	} else {
		if (flags)
			*flags |= RX_FAILED;
		m->failed++;
	}
	m->processed++;
	if (m->processed % 10 == 0 || m->processed == m->ntodo)
		job_progress(m, t->run_id);
	uint64_t now = time_mono_ms();
	if (now - m->last_progress_ms >= 2000 || m->processed == m->ntodo) {
		double secs = (double)(now - m->phase_start_ms) / 1000.0;
		msg_info("%s: jobs %zu/%zu runs (%.0f runs/s)", m->repo->full_name, m->processed,
			 m->ntodo, secs > 0 ? (double)m->processed / secs : 0.0);
		m->last_progress_ms = now;
	}
	json_decref(t->details);
	free(t);
	m->outstanding--;
}

static void on_jobs_page(struct fetch_req *fr, void *arg)
{
	struct jobs_task *t = arg;
	struct miner *m = t->m;
	char what[96];
	if (fr->aborted) {
		json_decref(t->details);
		free(t);
		m->outstanding--;
		fetch_req_free(fr);
		return;
	}
	snprintf(what, sizeof(what), "listing jobs of run %" PRId64, t->run_id);
	if (fr->answer == GA_OK) {
		json_t *page = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
		int n = ghapi_jobs_append(t->details, page, NULL);
		char *next = n >= 0 ? ghapi_link_next(fr->http.link) : NULL;
		json_decref(page);
		fetch_req_free(fr);
		if (n < 0) {
			msg_warn("%s: unexpected answer (no jobs array)", what);
			task_finish(m, t, false);
		} else if (next) {
			t->pages++;
			fetch_get(m->f, next, NULL, on_jobs_page, t);
			free(next);
			return;
		} else {
			task_finish(m, t, true);
		}
	} else {
		int code = report_failure(m, fr, what);
		bool auth = fr->answer == GA_AUTH;
		fetch_req_free(fr);
		task_finish(m, t, false);
		if (auth || code == EXIT_NETWORK) {
			fatal_stop(m, code);
			return;
		}
	}
	if (journal_bytes(&m->j) >= m->fold_at && fold(m) != 0) {
		fatal_stop(m, EXIT_IO);
		return;
	}
	phase2_feed(m);
}

static void phase2_feed(struct miner *m)
{
	size_t window = (size_t)m->s->max_in_flight * 2;
	if (m->finishing)
		return;
	fetch_set_backlog(m->f, (long)(m->ntodo - m->next_todo + m->outstanding));
	while (m->outstanding < window && m->next_todo < m->ntodo) {
		struct jobs_task *t = xcalloc(1, sizeof(*t));
		t->m = m;
		t->run_id = m->todo[m->next_todo++];
		t->details = json_array();
		m->outstanding++;
		char *url = ghapi_jobs_url(m->s->api_url, m->repo->full_name, t->run_id);
		fetch_get(m->f, url, NULL, on_jobs_page, t);
		free(url);
	}
	if (m->outstanding == 0 && m->next_todo == m->ntodo)
		phase2_done(m);
}

static void phase2_start(struct miner *m)
{
	const struct runindex_slot *slot;
	size_t cap = 0;
	m->ntodo = m->next_todo = m->outstanding = m->processed = m->failed = 0;
	m->collected_jobs = 0;
	m->todo = NULL;
	if (!m->s->fetch_job_details) {
		repo_next(m);
		return;
	}
	for (size_t pos = 0; runindex_next(&m->cs.index, &pos, &slot);) {
		if (slot->repo != m->repo_id || (slot->value & (RX_HAS_JOBS | RX_FAILED)))
			continue;
		if (m->ntodo == cap) {
			cap = cap ? cap * 2 : 256;
			m->todo = xrealloc(m->todo, cap * sizeof(*m->todo));
		}
		m->todo[m->ntodo++] = slot->run_id;
	}
	if (m->ntodo)
		qsort(m->todo, m->ntodo, sizeof(*m->todo), cmp_desc);
	m->phase_start_ms = m->last_progress_ms = time_mono_ms();
	ndjson_status("collecting_jobs", "collecting job details of %zu runs of %s", m->ntodo,
		      m->repo->full_name);
	msg_info("%s: collecting job details of %zu runs", m->repo->full_name, m->ntodo);
	phase2_feed(m);
}

/* ---- session ------------------------------------------------------------------------ */

static void repo_next(struct miner *m)
{
	if (m->finishing)
		return;
	if (m->repo)
		m->repo_i++;
	if (m->repo_i >= m->s->nrepos) {
		miner_finish(m);
		return;
	}
	phase1_start(m);
}

static void on_wait(void *arg, const char *reason, double until)
{
	struct miner *m = arg;
	(void)m;
	double secs = until - time_now();
	ndjson_emit("status", json_pack("{s:o, s:s, s:f}", "message",
					json_sprintf("%s: waiting %.0f s", reason, secs > 0 ? secs : 0),
					"stage", "rate_limited", "reset_at", until));
	msg_info("%s reached: waiting %.0f s before the next request", reason,
		 secs > 0 ? secs : 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct miner *m = h->data;
	if (m->stop_signal) {
		/* A second signal: the user insists. Journal entries are already durable. */
		msg_warn("second signal: exiting now; run again to resume");
		_exit(signum == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM);
	}
	m->stop_signal = signum;
	msg_warn("%s received: stopping (finishing the CSV); press again to exit at once",
		 signum == SIGINT ? "SIGINT" : "SIGTERM");
	set_exit(m, signum == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM);
	m->exit_code = signum == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
	fetch_stop(m->f);
	miner_finish(m);
}

static void miner_finish(struct miner *m)
{
	if (m->finishing)
		return;
	m->finishing = true;
	if (fold(m) != 0)
		set_exit(m, EXIT_IO);
	free(m->todo);
	m->todo = NULL;
	if (m->stop_signal)
		ndjson_status("interrupted", "interrupted by %s: what was collected is saved; run "
			      "again to resume", m->stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	else if (m->exit_code == EXIT_OK)
		ndjson_status("completed", "collection completed");
	else
		ndjson_status("error", "collection ended with errors (exit code %d)", m->exit_code);
	const struct http_stats *st = fetch_http_stats(m->f);
	msg_info("done: %" PRIu64 " requests, at most %d in flight; CSV '%s'", st->requests,
		 st->max_in_flight, m->s->output_csv);
	fetch_free(m->f);
	m->f = NULL;
	uv_close((uv_handle_t *)&m->sig_int, NULL);
	uv_close((uv_handle_t *)&m->sig_term, NULL);
	uv_close((uv_handle_t *)&m->sync_check, NULL);
}

int miner_run(const struct settings *s)
{
	struct miner m = {0};
	uv_loop_t loop;
	int rc;
	m.s = s;
	m.loop = &loop;
	m.fold_at = 8u << 20;
	if (uv_loop_init(&loop) != 0) {
		msg_error("cannot start the event loop");
		return EXIT_IO;
	}
	rc = csvstore_open(&m.cs, s->output_csv);
	if (rc)
		goto out_csv;
	rc = journal_open(&m.j, s->output_csv);
	if (rc)
		goto out_journal;
	/* Job details an interrupted process journaled go into the CSV before anything else. */
	if (m.j.entries) {
		msg_info("folding %zu journaled results of an earlier run into '%s'", m.j.entries,
			 s->output_csv);
		if (fold(&m) != 0) {
			rc = EXIT_IO;
			goto out_journal;
		}
	}
	m.created = ghapi_created_filter(s->from_date, s->to_date);
	m.f = fetch_new(&loop, (const char *const *)s->tokens, s->max_in_flight,
			s->requests_per_minute, s->budget_reserve, s->max_retries,
			s->request_timeout);
	if (!m.f) {
		msg_error("cannot initialise libcurl");
		rc = EXIT_IO;
		goto out_journal;
	}
	fetch_on_wait(m.f, on_wait, &m);
	uv_signal_init(&loop, &m.sig_int);
	uv_signal_init(&loop, &m.sig_term);
	m.sig_int.data = m.sig_term.data = &m;
	uv_signal_start(&m.sig_int, on_signal, SIGINT);
	uv_signal_start(&m.sig_term, on_signal, SIGTERM);
	uv_check_init(&loop, &m.sync_check);
	m.sync_check.data = &m;
	uv_check_start(&m.sync_check, on_sync_check);

	repo_next(&m);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = m.exit_code;
	free(m.created);
out_journal:
	journal_close(&m.j);
out_csv:
	csvstore_close(&m.cs);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		msg_warn("event loop closed with handles still open");
	return rc;
}
