/* phase1.c - list a repository's workflow runs, newest first, and stream every page at once
 * to the CSV and stdout. Exact incremental sync: the sync state records which created_at
 * ranges are proven complete; a pass crawls the top of the listing (conditionally, with the
 * stored ETag) until it meets what is proven, then fills every remaining gap with
 * created-date windows, which also reach past GitHub's 1,000-result cap on filtered queries. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ghapi.h"
#include "msg.h"
#include "ndjson.h"
#include "progress.h"
#include "session.h"
#include "util.h"

static void listing_next(struct session *m);
static long repo_rows(struct session *m);
static void refresh_start(struct session *m);
static void recheck_start(struct session *m);

static int64_t run_time(const json_t *run, const char *key)
{
	double t;
	const char *s = json_string_value(json_object_get(run, key));
	return s && time_parse_iso(s, &t) == 0 ? (int64_t)t : 0;
}

/* Save the sync state: at once when forced (a listing ends), else at most once a second:
 * three fsyncs a page would stall the jobs requests in flight, and a state a second old
 * only costs a few pages listed again. */
static void save_state(struct session *m, bool force)
{
	uint64_t now = time_mono_ms();
	if (!force && now - m->state_saved_ms < 1000) {
		m->state_dirty = true;
		return;
	}
	session_save_state(m);
}

/* A known run listed again: when it changed since it was written (a queued run completed,
 * a re-run), journal its new values and let phase 2 collect its jobs again. */
static bool update_known(struct session *m, const json_t *run, uint64_t *value, json_t *updated)
{
	struct record r = {0};
	int64_t upd = run_time(run, "updated_at");
	if (upd == 0 || upd == RX_UPDATED(*value))
		return false;
	if (ghapi_run_to_record(run, m->repo->full_name, &r) != 0)
		return false;
	json_t *set = json_object();
	for (int c = COL_WORKFLOW_ID; c < RECORD_NCOLS; c++)
		json_object_set_new(set, record_columns[c].name,
				    r.v[c] ? json_string(r.v[c]) : json_null());
	journal_add(&m->j, m->repo->full_name, json_integer_value(json_object_get(run, "id")), set,
		    NULL, NULL);
	json_decref(set);
	*value = csvstore_row_flags(&r) | RX_SEEN;
	phase2_enqueue(m, json_integer_value(json_object_get(run, "id")));
	json_array_append_new(updated, record_to_json(&r));
	record_release(&r);
	m->updated++;
	return true;
}

struct page_result {
	size_t n;        /* runs on the page */
	size_t added;
	int64_t oldest, newest;
};

/* Append the page's new runs (one write, one fsync), update changed ones. 0, or -1 when
 * the CSV could not be written. */
static int take_page(struct session *m, const json_t *runs, struct page_result *pr, json_t *out,
		     json_t *updated)
{
	const json_t *run;
	size_t i;
	struct record **batch = xcalloc(json_array_size(runs) + 1, sizeof(*batch));
	int rc = 0;
	memset(pr, 0, sizeof(*pr));
	pr->oldest = INT64_MAX;
	pr->newest = INT64_MIN;
	json_array_foreach(runs, i, run) {
		json_int_t id = json_integer_value(json_object_get(run, "id"));
		int64_t created = run_time(run, "created_at");
		bool added;
		if (id <= 0)
			continue;
		pr->n++;
		/* A run without a creation time proves nothing about any range. */
		if (created > 0 && created < pr->oldest)
			pr->oldest = created;
		if (created > 0 && created > pr->newest)
			pr->newest = created;
		uint64_t *value = runindex_put(&m->cs.index, m->repo_id, id, &added);
		if (!added) {
			/* Already in the CSV: an earlier pass, or the listing shifted while paging. */
			if (!(*value & RX_SEEN)) {
				m->known++;
				*value |= RX_SEEN;
				update_known(m, run, value, updated);
			}
			continue;
		}
		struct record *r = xcalloc(1, sizeof(*r));
		ghapi_run_to_record(run, m->repo->full_name, r);
		*value = csvstore_row_flags(r) | RX_SEEN;
		batch[pr->added++] = r;
		json_array_append_new(out, record_to_json(r));
	}
	struct error err;
	if (csvstore_append(&m->cs, batch, pr->added, &err) != 0) {
		msg_error("%s; %s", err.msg, csvstore_advice(err.code, CSVSTORE_MINING));
		/* Not written: forget the runs so a later pass appends them. */
		for (i = 0; i < pr->added; i++) {
			char *end;
			uint64_t *v = runindex_get(&m->cs.index, m->repo_id,
						   strtoll(batch[i]->v[COL_ID_BUILD], &end, 10));
			if (v)
				*v = RX_FAILED;
		}
		rc = -1;
	}
	for (i = 0; i < pr->added; i++) {
		if (rc == 0)
			phase2_enqueue(m, strtoll(batch[i]->v[COL_ID_BUILD], NULL, 10));
		record_release(batch[i]);
		free(batch[i]);
	}
	free(batch);
	m->collected += (long)pr->added;
	/* Jobs of the page's runs are fetched while the listing goes on. */
	if (rc == 0)
		phase2_feed(m);
	return rc;
}

/* A final failure of a listing request: report it and free fr. Returns true when the
 * session stopped (the caller returns at once), false when the pass goes on. */
static bool listing_failed(struct session *m, struct fetch_req *fr, const char *what)
{
	int code = session_report_failure(m, fr, what);
	bool stop = fr->answer == GA_AUTH || code == EXIT_NETWORK;
	fetch_req_free(fr);
	if (stop) {
		session_fatal(m, code);
		return true;
	}
	session_set_exit(m, code);
	return false;
}

struct listing_page {
	struct page_result pr;
	long long total; /* the envelope's total_count, or -1 */
	char *next;      /* rel="next", or NULL; the caller frees */
};

/* In the thread pool: a listing page or a run, parsed without the two copies of the
 * repository in each run (most of the bytes; no column uses them). */
static void decode_listing(struct fetch_req *fr, void *arg)
{
	static const char *const drop[] = {"repository", "head_repository", NULL};
	struct buf skim;
	(void)arg;
	buf_init(&skim, 0);
	if (ghapi_skim(fr->http.body.data, fr->http.body.len, drop, &skim) == 0)
		fr->json = json_loadb(skim.data, skim.len, 0, NULL);
	else
		fr->json = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
	buf_release(&skim);
}

/* Take a 200 listing page: parse it, append and update its runs, stream one runs_page
 * line (page_no 0: a re-check, streamed only when it found something). 0, or -1 after
 * stopping the session (a malformed answer or a CSV that cannot be written). fr is left
 * to the caller. */
static int listing_take(struct session *m, struct fetch_req *fr, int page_no, bool more,
			struct listing_page *lp)
{
	json_t *page = json_incref(fr->json); /* NULL when not JSON: reported below */
	json_t *runs = json_object_get(page, "workflow_runs"), *tc;
	json_t *out = json_array(), *updated = json_array();
	int rc = 0;
	lp->next = NULL;
	tc = json_object_get(page, "total_count");
	lp->total = json_is_integer(tc) ? json_integer_value(tc) : -1;
	if (!json_is_array(runs)) {
		msg_error("unexpected answer listing runs of %s (no workflow_runs array); is "
			  "--api-url a GitHub API?", m->repo->full_name);
		rc = -1;
		session_fatal(m, EXIT_PARTIAL);
	} else if (take_page(m, runs, &lp->pr, out, updated) != 0) {
		rc = -1;
		session_fatal(m, EXIT_IO);
	}
	if (rc == 0) {
		lp->next = ghapi_link_next(fr->http.link);
		if (page_no || json_array_size(out) || json_array_size(updated))
			ndjson_emit("runs_page",
				    json_pack("{s:i, s:O, s:O, s:I, s:b}", "page", page_no, "runs", out,
					      "updated_runs", updated, "total_collected",
					      (json_int_t)m->collected, "has_more",
					      lp->next != NULL || more));
	}
	json_decref(out);
	json_decref(updated);
	json_decref(page);
	return rc;
}

/* ---- created-date windows, crawled concurrently ------------------------------------ */

/* No workflow run predates GitHub Actions (2018): the floor of a listing's first window. */
#define ACTIONS_EPOCH 1514764800
/* GitHub returns at most 1,000 runs for a filtered query; split windows holding more. */
#define FILTERED_CAP 1000
/* Runs a window is sized for: well under the cap, so most need no split. */
#define WINDOW_RUNS 500

struct window {
	struct session *m;
	int64_t lo, hi;  /* created_at bounds, inclusive */
	long seen;
	int64_t oldest;  /* oldest created_at seen so far */
};

static void window_launch(struct session *m, int64_t lo, int64_t hi);

static void listing_complete(struct session *m)
{
	int64_t lo, hi, to = sync_covered_hi(m->lst);
	/* A failed window leaves its gap for the next run; only a gapless listing is synced. */
	if (to != SYNC_MIN && sync_top_gap(m->lst, m->from_t, to, &lo, &hi))
		msg_warn("%s: some runs could not be listed; run again to fill the gap",
			 m->repo->full_name);
	else
		m->lst->last_sync = time_now();
	save_state(m, true);
	m->listing_i++;
	listing_next(m);
}

static void window_done(struct session *m, struct window *w)
{
	free(w);
	if (--m->windows_active == 0 && !m->finishing)
		listing_complete(m);
}

/* Split [lo, hi] into n windows of equal time. */
static void launch_split(struct session *m, int64_t lo, int64_t hi, long n)
{
	if (n < 1)
		n = 1;
	if (n > hi - lo + 1)
		n = (long)(hi - lo + 1);
	int64_t step = (hi - lo + 1) / n;
	for (long i = 0; i < n && !m->finishing; i++) {
		int64_t wlo = lo + step * i, whi = i == n - 1 ? hi : wlo + step - 1;
		window_launch(m, wlo, whi);
	}
}

static void on_window_page(struct fetch_req *fr, void *arg)
{
	struct window *w = arg;
	struct session *m = w->m;
	struct listing_page lp;

	if (fr->aborted) {
		fetch_req_free(fr);
		free(w);
		return;
	}
	if (fr->answer != GA_OK) {
		if (listing_failed(m, fr, "listing workflow runs"))
			free(w);
		else
			window_done(m, w);
		return;
	}
	m->page++;
	if (listing_take(m, fr, m->page, m->windows_active > 1, &lp) != 0) {
		fetch_req_free(fr);
		free(w);
		return;
	}
	fetch_req_free(fr);
	w->seen += (long)lp.pr.n;
	if (lp.pr.n && lp.pr.oldest < w->oldest)
		w->oldest = lp.pr.oldest;
	/* A window over the cap is cut short: what its pages proved is kept, the rest is
	 * split into windows sized for fewer runs. */
	bool capped = (!lp.next && lp.total >= 0 && w->seen < lp.total) ||
		      (lp.total > FILTERED_CAP && lp.next);
	/* Runs sharing the oldest second may continue on the next page: prove only what is
	 * above it until the window ends. */
	if (lp.pr.n)
		sync_cover(m->lst, lp.pr.oldest + 1, w->hi);
	if (lp.next && !capped) {
		save_state(m, false);
		fetch_get_first(m->f, lp.next, NULL, decode_listing, on_window_page, w);
		free(lp.next);
		return;
	}
	free(lp.next);
	if (!capped) {
		sync_cover(m->lst, w->lo, w->hi);
	} else if (w->oldest >= w->hi || w->oldest == INT64_MAX) {
		if (w->lo < w->hi) {
			/* The pages read were all the window's last second: that second on its
			 * own, the rest split. */
			window_launch(m, w->hi, w->hi);
			launch_split(m, w->lo, w->hi - 1, ((long)lp.total + WINDOW_RUNS - 1) / WINDOW_RUNS);
		} else {
			/* The cap reached within one second: it cannot be split further. */
			msg_warn("%s: more than %d runs created in one second; some may be missed",
				 m->repo->full_name, FILTERED_CAP);
			sync_cover(m->lst, w->lo, w->hi);
		}
	} else {
		long left = (long)lp.total - w->seen;
		launch_split(m, w->lo, w->oldest, (left + WINDOW_RUNS - 1) / WINDOW_RUNS);
	}
	save_state(m, false);
	window_done(m, w);
}

static void window_launch(struct session *m, int64_t lo, int64_t hi)
{
	struct window *w = xcalloc(1, sizeof(*w));
	char a[32], b[32], *created, *url;
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[m->listing_i] : 0;
	w->m = m;
	w->lo = lo;
	w->hi = hi;
	w->oldest = INT64_MAX;
	sync_format_time(lo, a);
	sync_format_time(hi, b);
	created = xasprintf("%s..%s", a, b);
	url = ghapi_runs_url(m->s->api_url, m->repo->full_name, wf, created);
	m->windows_active++;
	fetch_get_first(m->f, url, NULL, decode_listing, on_window_page, w);
	free(url);
	free(created);
}

/* Fill every range of [from, what is covered] not yet proven, with windows crawled
 * concurrently. est_runs: how many runs the ranges are thought to hold (< 0: unknown);
 * rate: runs per second near the top, to size the first windows. */
static void crawl_gaps(struct session *m, long est_runs, double rate)
{
	int64_t lo, hi, to = sync_covered_hi(m->lst);
	if (m->finishing)
		return;
	m->windows_active++; /* hold: launching must not complete the listing early */
	while (!m->finishing && to != SYNC_MIN && sync_top_gap(m->lst, m->from_t, to, &lo, &hi)) {
		if (lo == SYNC_MIN) {
			sync_cover(m->lst, SYNC_MIN, ACTIONS_EPOCH - 1);
			lo = ACTIONS_EPOCH;
			if (hi < lo)
				break;
		}
		int64_t split_lo = lo;
		if (est_runs > WINDOW_RUNS && rate > 0) {
			/* Size windows for the runs expected just below the top; the rest of the
			 * range (older, sparser) is one window that splits itself if needed. */
			double span = 1.5 * (double)est_runs / rate;
			if ((double)(hi - lo) > span)
				split_lo = hi - (int64_t)span;
			if (split_lo > lo)
				window_launch(m, lo, split_lo - 1);
			launch_split(m, split_lo, hi, (est_runs + WINDOW_RUNS - 1) / WINDOW_RUNS);
		} else {
			window_launch(m, lo, hi);
		}
		est_runs = -1; /* holes further down (from an interrupted run) get one window */
		to = lo - 1;
	}
	if (--m->windows_active == 0 && !m->finishing)
		listing_complete(m);
}

/* The first page of the listing: with the stored ETag, a 304 says nothing is new above
 * what earlier passes proved. Otherwise its runs are taken and the rest is windowed. */
static void on_top_page(struct fetch_req *fr, void *arg)
{
	struct session *m = arg;
	struct listing_page lp;

	if (fr->aborted)
		goto out;
	if (fr->answer == GA_NOT_MODIFIED) {
		msg_info("%s: no new runs since the last sync (304 Not Modified)", m->repo->full_name);
		crawl_gaps(m, -1, 0);
		goto out;
	}
	if (fr->answer != GA_OK) {
		if (fr->answer == GA_NOT_FOUND && m->s->nworkflow_ids) {
			/* A workflow id the repository does not have: the other listings go on. */
			msg_error("workflow %" PRId64 " of %s not found (nor, perhaps, the repository): "
				  "check workflow_ids in the config and the repository URL",
				  m->s->workflow_ids[m->listing_i], m->repo->full_name);
			session_set_exit(m, EXIT_PARTIAL);
			fetch_req_free(fr);
			m->listing_i++;
			listing_next(m);
			return;
		}
		if (listing_failed(m, fr, "listing workflow runs"))
			return;
		/* Phase 2 still gets what earlier passes collected (nothing, for an unknown
		 * repository), and the repository ends only once its requests are done. */
		phase2_start(m);
		return;
	}
	m->page++;
	if (listing_take(m, fr, m->page, false, &lp) != 0)
		goto out;
	m->runs_total = (long)lp.total;
	const struct page_result *pr = &lp.pr;
	if (pr->n) {
		syncstate_set_etag(&m->st, m->token_id, m->top_url, fr->http.etag, NULL);
		if (lp.next)
			sync_cover(m->lst, pr->oldest + 1, pr->newest);
		else if (lp.total < 0 || (long long)pr->n >= lp.total)
			sync_cover(m->lst, m->from_t, pr->newest); /* the whole listing */
		else
			sync_cover(m->lst, pr->oldest + 1, pr->newest); /* capped: windows do the rest */
	}
	free(lp.next);
	/* Runs below the first page not known yet: about the total less what the CSV has. */
	long est = lp.total >= 0 ? (long)lp.total - repo_rows(m) : -1;
	double rate = pr->n > 1 && pr->newest > pr->oldest
			      ? (double)pr->n / (double)(pr->newest - pr->oldest)
			      : 0;
	crawl_gaps(m, est, rate);
out:
	fetch_req_free(fr);
}

static int64_t day_start(const char *date, int end_of_day)
{
	double t;
	char iso[32];
	snprintf(iso, sizeof(iso), "%.10sT%s", date, end_of_day ? "23:59:59Z" : "00:00:00Z");
	return time_parse_iso(iso, &t) == 0 ? (int64_t)t : (end_of_day ? INT64_MAX : SYNC_MIN);
}

static long repo_rows(struct session *m)
{
	const struct runindex_slot *slot;
	long n = 0;
	for (size_t pos = 0; runindex_next(&m->cs.index, &pos, &slot);)
		n += slot->repo == m->repo_id;
	return n;
}

static void listing_next(struct session *m)
{
	size_t nlistings = m->s->nworkflow_ids ? m->s->nworkflow_ids : 1;
	char key[512], *created;
	if (m->finishing)
		return;
	if (m->listing_i >= nlistings) {
		if (m->page)
			session_progress(m);
		progress_done();
		m->phase = 0;
		msg_info("%s: %ld new runs (%ld already known, %ld updated) in %d pages, %.1f s",
			 m->repo->full_name, m->collected, m->known, m->updated, m->page,
			 (double)(time_mono_ms() - m->phase_start_ms) / 1000.0);
		ndjson_status("runs_collected", "collected %ld new runs of %s (%ld already known, %ld "
			      "updated)", m->collected, m->repo->full_name, m->known, m->updated);
		recheck_start(m);
		return;
	}
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[m->listing_i] : 0;
	snprintf(key, sizeof(key), "%s|wf=%" PRId64 "|from=%s|to=%s", m->repo->full_name, wf,
		 m->s->from_date ? m->s->from_date : "-", m->s->to_date ? m->s->to_date : "-");
	m->lst = syncstate_listing(&m->st, key);
	m->windows_active = 0;
	/* Ranges proven about rows this CSV does not have (a new or replaced file) prove
	 * nothing. */
	if (m->lst->nr && repo_rows(m) == 0)
		sync_clear(m->lst);
	m->from_t = m->s->from_date ? day_start(m->s->from_date, 0) : SYNC_MIN;
	m->to_t = m->s->to_date ? day_start(m->s->to_date, 1) : INT64_MAX;
	created = ghapi_created_filter(m->s->from_date, m->s->to_date);
	free(m->top_url);
	m->top_url = ghapi_runs_url(m->s->api_url, m->repo->full_name, wf, created);
	free(created);
	/* Only a pass that proved something may skip on a 304. */
	fetch_get_decoded(m->f, m->top_url,
			  m->lst->nr ? syncstate_etag(&m->st, m->token_id, m->top_url, NULL) : NULL,
			  decode_listing, on_top_page, m);
}

/* ---- re-check of recent days for re-runs ------------------------------------------- */

/* GitHub allows re-running a run for 30 days: its updated_at, conclusion and jobs change
 * while it stays where it was in the listing. Each recent day that holds runs is asked
 * again with a day-long created window, whose bounds never move as new runs arrive, so its
 * stored ETag makes an unchanged day a free 304. */
#define RECHECK_DAYS 30

static void on_recheck_page(struct fetch_req *fr, void *arg);

static char *day_url(struct session *m, int64_t day)
{
	char date[16], *url;
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[0] : 0;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	url = ghapi_runs_url(m->s->api_url, m->repo->full_name, wf, date);
	return url;
}

/* Each page of a day is asked with its own stored ETag; a 304 carries no Link header, so
 * the next page's URL comes from the state, recorded when the page last changed. */
static void recheck_page(struct session *m, const char *url)
{
	m->days_active++;
	fetch_get_first(m->f, url, syncstate_etag(&m->st, m->token_id, url, NULL), decode_listing,
			on_recheck_page,
			m);
}

static void recheck_page_done(struct session *m)
{
	if (--m->days_active == 0 && !m->finishing) {
		free(m->days);
		m->days = NULL;
		save_state(m, true);
		refresh_start(m);
	}
}

static void on_recheck_page(struct fetch_req *fr, void *arg)
{
	struct session *m = arg;
	struct listing_page lp;
	const char *stored_next;
	if (fr->aborted) {
		fetch_req_free(fr);
		return;
	}
	if (fr->answer == GA_NOT_MODIFIED) {
		syncstate_etag(&m->st, m->token_id, fr->url, &stored_next);
		if (stored_next)
			recheck_page(m, stored_next);
		fetch_req_free(fr);
		recheck_page_done(m);
		return;
	}
	if (fr->answer != GA_OK) {
		if (!listing_failed(m, fr, "re-checking recent runs"))
			recheck_page_done(m);
		return;
	}
	if (listing_take(m, fr, 0, false, &lp) != 0) {
		fetch_req_free(fr);
		return;
	}
	/* Stored once the page's runs are taken: a kill before leaves the old ETag. */
	syncstate_set_etag(&m->st, m->token_id, fr->url, fr->http.etag, lp.next);
	fetch_req_free(fr);
	if (lp.next)
		recheck_page(m, lp.next);
	free(lp.next);
	recheck_page_done(m);
}

static int cmp_day(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void recheck_start(struct session *m)
{
	const struct runindex_slot *slot;
	int64_t today = (int64_t)(time_now() / 86400);
	size_t n = 0;
	bool have[RECHECK_DAYS + 1] = {false};
	m->ndays = m->next_day = 0;
	/* One listing per workflow would multiply the requests: re-check only what the first
	 * listing covers, and only when no date bound narrows the target. */
	if (m->s->nworkflow_ids > 1 || m->s->from_date || m->s->to_date) {
		refresh_start(m);
		return;
	}
	for (size_t pos = 0; runindex_next(&m->cs.index, &pos, &slot);) {
		int64_t age = today - RX_CREATED_DAY(slot->value);
		/* Runs this pass listed were compared already; only older pages need a look. */
		if (slot->repo != m->repo_id || (slot->value & RX_SEEN) || age < 0 ||
		    age > RECHECK_DAYS || have[age])
			continue;
		have[age] = true;
		n++;
	}
	/* Days past the re-run window will not be asked again: their ETags go. */
	syncstate_prune_days(&m->st, time_now(), RECHECK_DAYS + 1);
	m->days = xcalloc(n + 1, sizeof(*m->days));
	for (int64_t age = 0; age <= RECHECK_DAYS; age++)
		if (have[age])
			m->days[m->ndays++] = today - age;
	qsort(m->days, m->ndays, sizeof(*m->days), cmp_day);
	if (!m->ndays) {
		free(m->days);
		m->days = NULL;
		refresh_start(m);
		return;
	}
	msg_info("%s: re-checking %zu recent days for re-runs", m->repo->full_name, m->ndays);
	/* The days are independent: all of them at once, under the governor. */
	m->days_active = 1; /* hold until every day is launched */
	for (size_t i = 0; i < m->ndays && !m->finishing; i++) {
		char *url = day_url(m, m->days[i]);
		recheck_page(m, url);
		free(url);
	}
	recheck_page_done(m);
}

/* ---- refresh of runs that were not complete when written --------------------------- */

static void refresh_feed(struct session *m);

static void on_run(struct fetch_req *fr, void *arg)
{
	struct session *m = arg;
	if (!fr->stale)
		m->refresh_outstanding--;
	if (fr->aborted) {
		fetch_req_free(fr);
		return;
	}
	if (fr->answer == GA_OK) {
		json_t *run = json_incref(fr->json);
		json_int_t id = json_integer_value(json_object_get(run, "id"));
		uint64_t *value = id > 0 ? runindex_get(&m->cs.index, m->repo_id, id) : NULL;
		json_t *updated = json_array();
		if (value && update_known(m, run, value, updated))
			ndjson_emit("runs_page", json_pack("{s:i, s:[], s:O, s:I, s:b}", "page", 0,
							   "runs", "updated_runs", updated,
							   "total_collected",
							   (json_int_t)m->collected, "has_more", 0));
		json_decref(updated);
		json_decref(run);
	} else if (fr->answer == GA_AUTH || fr->answer == GA_RETRY) {
		int code = session_report_failure(m, fr, "refreshing a run");
		fetch_req_free(fr);
		if (code != EXIT_PARTIAL) {
			session_fatal(m, code);
			return;
		}
		session_set_exit(m, code);
		refresh_feed(m);
		return;
	}
	/* A 404: the run was deleted; its row stays as collected. */
	fetch_req_free(fr);
	refresh_feed(m);
}

static void refresh_feed(struct session *m)
{
	if (m->finishing)
		return;
	while (!m->finishing && m->refresh_outstanding < (size_t)m->s->max_in_flight &&
	       m->next_refresh < m->nrefresh) {
		char *url = ghapi_run_url(m->s->api_url, m->repo->full_name,
					  m->refresh[m->next_refresh++]);
		m->refresh_outstanding++;
		fetch_get_first(m->f, url, NULL, decode_listing, on_run, m);
		free(url);
	}
	if (m->refresh_outstanding == 0 && m->next_refresh == m->nrefresh) {
		free(m->refresh);
		m->refresh = NULL;
		phase2_start(m);
	}
}

/* Runs that were queued or in progress when written and that this pass did not list
 * (they sit below the pages it read): ask for each one. */
static void refresh_start(struct session *m)
{
	const struct runindex_slot *slot;
	size_t cap = 0;
	m->nrefresh = m->next_refresh = m->refresh_outstanding = 0;
	for (size_t pos = 0; runindex_next(&m->cs.index, &pos, &slot);) {
		if (slot->repo != m->repo_id || (slot->value & (RX_SEEN | RX_FAILED)) ||
		    !(slot->value & RX_INCOMPLETE))
			continue;
		if (m->nrefresh == cap) {
			cap = cap ? cap * 2 : 64;
			m->refresh = xrealloc(m->refresh, cap * sizeof(*m->refresh));
		}
		m->refresh[m->nrefresh++] = slot->run_id;
	}
	if (m->nrefresh)
		msg_info("%s: refreshing %zu runs that were not complete when collected",
			 m->repo->full_name, m->nrefresh);
	refresh_feed(m);
}

void phase1_start(struct session *m)
{
	const struct runindex_slot *slot;
	m->repo = &m->s->repos[m->repo_i];
	m->repo_id = (uint32_t)runindex_repo(&m->cs.index, m->repo->full_name, true);
	/* A new pass: nothing is "seen" yet. */
	for (size_t pos = 0; runindex_next(&m->cs.index, &pos, &slot);)
		if (slot->repo == m->repo_id)
			*runindex_get(&m->cs.index, slot->repo, slot->run_id) &=
				~(uint64_t)(RX_SEEN | RX_FAILED | RX_QUEUED);
	phase2_begin(m);
	m->listing_i = 0;
	m->page = 0;
	m->phase = 1;
	m->runs_total = -1;
	m->phase_start_ms = time_mono_ms();
	m->collected = m->known = m->updated = 0;
	ndjson_status("collecting_runs", "collecting workflow runs of %s", m->repo->full_name);
	msg_info("%s: collecting workflow runs", m->repo->full_name);
	listing_next(m);
}
