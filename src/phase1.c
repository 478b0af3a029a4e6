/* phase1.c - list a repository's workflow runs, newest first, and stream every page at once
 * to the CSV and the subscribers. Exact incremental sync: the sync state records which
 * created_at ranges are proven complete; a pass crawls the top of the listing
 * (conditionally, with the stored ETag) until it meets what is proven, then fills every
 * remaining gap with created-date windows, crawled concurrently, which also reach past
 * GitHub's 1,000-result cap on filtered queries. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ghapi.h"
#include "msg.h"
#include "policy.h"
#include "session_int.h"
#include "util.h"

static void listing_next(struct session *m);

static int64_t run_time(const json_t *run, const char *key)
{
	double t;
	const char *s = json_string_value(json_object_get(run, key));
	return s && time_parse_iso(s, &t) == 0 ? (int64_t)t : 0;
}

/* Looked up each time: other sessions add listings to the state, which moves them. */
static struct sync_listing *listing(struct session *m)
{
	return syncstate_listing(&m->store->st, m->lst_key);
}

static struct runindex *index_of(struct session *m)
{
	return &m->store->cs.index;
}

bool phase1_update_known(struct session *m, const json_t *run, uint64_t *value,
			 json_t *updated)
{
	struct record r = {0};
	int64_t upd = run_time(run, "updated_at");
	json_int_t id = json_integer_value(json_object_get(run, "id"));
	if (upd == 0 || upd == RX_UPDATED(*value))
		return false;
	if (ghapi_run_to_record(run, m->repo->full_name, &r) != 0)
		return false;
	json_t *set = json_object();
	for (int c = COL_WORKFLOW_ID; c < RECORD_NCOLS; c++)
		json_object_set_new(set, record_columns[c].name,
				    r.v[c] ? json_string(r.v[c]) : json_null());
	*value = csvstore_row_flags(&r) | RX_SEEN;
	/* value points into the index, which store_journal does not touch; phase2_enqueue
	 * looks the run up again. */
	store_journal(m->store, m->repo->full_name, id, set, NULL, NULL);
	json_decref(set);
	phase2_enqueue(m, id);
	json_array_append_new(updated, record_to_json(&r));
	record_release(&r);
	m->sum.updated_runs++;
	return true;
}

/* Forget runs whose rows could not be written, so a later pass appends them. */
static void forget(struct session *m, struct record **batch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t *v = runindex_get(index_of(m), m->repo_id,
					   strtoll(batch[i]->v[COL_ID_BUILD], NULL, 10));
		if (v)
			*v = RX_FAILED;
	}
}

/* Append the page's new runs (one write, one fsync), update changed ones. 0, or -1 when
 * the CSV could not be written. */
static int take_runs(struct session *m, const json_t *runs, struct listing_page *pr,
		     json_t *out, json_t *updated)
{
	const json_t *run;
	size_t i;
	struct record **batch = xcalloc(json_array_size(runs) + 1, sizeof(*batch));
	struct error err = {0};
	int rc;
	pr->oldest = INT64_MAX;
	pr->newest = INT64_MIN;
	json_array_foreach(runs, i, run) {
		json_int_t id = json_integer_value(json_object_get(run, "id"));
		int64_t created = run_time(run, "created_at");
		bool added;
		if (id <= 0)
			continue;
		pr->n++;
		phase2_gql_note(m, id, run);
		const char *status = json_string_value(json_object_get(run, "status"));
		if (!status || strcmp(status, "completed") != 0) {
			pr->open = xrealloc(pr->open, (pr->nopen + 1) * sizeof(*pr->open));
			pr->open[pr->nopen++] = id;
		}
		/* A run without a creation time proves nothing about any range. */
		if (created > 0 && created < pr->oldest)
			pr->oldest = created;
		if (created > 0 && created > pr->newest)
			pr->newest = created;
		uint64_t *value = runindex_put(index_of(m), m->repo_id, id, &added);
		if (!added) {
			/* Already in the CSV: an earlier pass, or the listing shifted while paging. */
			if (!(*value & RX_SEEN)) {
				m->sum.known_runs++;
				*value |= RX_SEEN;
				phase1_update_known(m, run, value, updated);
			}
			continue;
		}
		struct record *r = xcalloc(1, sizeof(*r));
		ghapi_run_to_record(run, m->repo->full_name, r);
		*value = csvstore_row_flags(r) | RX_SEEN;
		batch[pr->added++] = r;
		json_array_append_new(out, record_to_json(r));
	}
	rc = store_append(m->store, batch, pr->added, &err);
	if (rc != 0)
		forget(m, batch, pr->added);
	for (i = 0; i < pr->added; i++) {
		if (rc == 0)
			phase2_enqueue(m, strtoll(batch[i]->v[COL_ID_BUILD], NULL, 10));
		record_release(batch[i]);
		free(batch[i]);
	}
	free(batch);
	if (rc != 0) {
		session_fail(m, SF_IO, "%s", err.msg);
		return -1;
	}
	m->sum.new_runs += (long)pr->added;
	/* Jobs of the page's runs are fetched while the listing goes on. */
	phase2_feed(m);
	return 0;
}

void phase1_decode(struct fetch_req *fr, void *arg)
{
	static const char *const drop[] = {"repository", "head_repository", NULL};
	struct buf skim;
	(void)arg;
	/* The two copies of the repository in each run are most of the bytes; no column
	 * uses them. */
	buf_init(&skim, 0);
	if (ghapi_skim(fr->http.body.data, fr->http.body.len, drop, &skim) == 0)
		fr->json = json_loadb(skim.data, skim.len, 0, NULL);
	else
		fr->json = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
	buf_release(&skim);
	/* A page of runs, or one run: anything else (a cut body, another shape) is asked
	 * again. */
	fr->malformed = !json_is_array(json_object_get(fr->json, "workflow_runs")) &&
			json_integer_value(json_object_get(fr->json, "id")) <= 0;
}

/* Take a 200 listing page: append and update its runs, send one runs_page message
 * (page_no 0: a re-check, sent only when it found something). 0, or -1 after stopping the
 * session (a malformed answer or a CSV that cannot be written). */
int phase1_take(struct session *m, struct fetch_req *fr, int page_no, bool more,
		struct listing_page *lp)
{
	json_t *runs = json_object_get(fr->json, "workflow_runs");
	json_t *tc = json_object_get(fr->json, "total_count");
	json_t *out, *updated;
	memset(lp, 0, sizeof(*lp));
	lp->total = json_is_integer(tc) ? json_integer_value(tc) : -1;
	if (!json_is_array(runs)) {
		msg_error("unexpected answer listing runs of %s (no workflow_runs array); is "
			  "--api-url a GitHub API?", m->repo->full_name);
		session_fail(m, SF_PARTIAL, "unexpected answer listing runs");
		session_stop(m, SF_PARTIAL);
		return -1;
	}
	out = json_array();
	updated = json_array();
	if (take_runs(m, runs, lp, out, updated) != 0) {
		json_decref(out);
		json_decref(updated);
		free(lp->open);
		lp->open = NULL;
		return -1;
	}
	lp->next = ghapi_link_next(fr->http.link);
	if (page_no || json_array_size(out) || json_array_size(updated))
		session_emit(m, "runs_page",
			     json_pack("{s:i, s:o, s:o, s:I, s:b}", "page", page_no, "runs", out,
				       "updated_runs", updated, "total_collected",
				       (json_int_t)m->sum.new_runs, "has_more",
				       lp->next != NULL || more));
	else {
		json_decref(out);
		json_decref(updated);
	}
	return 0;
}

/* ---- created-date windows, crawled concurrently ------------------------------------ */

struct window {
	struct session *m;
	int64_t lo, hi;  /* created_at bounds, inclusive */
	long seen;
	int64_t oldest;  /* oldest created_at seen so far */
};

static void window_launch(struct session *m, int64_t lo, int64_t hi);

static void listing_complete(struct session *m)
{
	int64_t lo, hi, to = sync_covered_hi(listing(m));
	/* A failed window leaves its gap for the next run; only a gapless listing is synced. */
	if (to != SYNC_MIN && sync_top_gap(listing(m), m->from_t, to, &lo, &hi))
		msg_warn("%s: some runs could not be listed; run again to fill the gap",
			 m->repo->full_name);
	else
		listing(m)->last_sync = time_now();
	store_state_changed(m->store, true);
	m->listing_i++;
	listing_next(m);
}

static void window_done(struct session *m, struct window *w)
{
	free(w);
	if (--m->windows_active == 0 && !m->stopping)
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
	for (long i = 0; i < n && !m->stopping; i++) {
		int64_t wlo = lo + step * i, whi = i == n - 1 ? hi : wlo + step - 1;
		window_launch(m, wlo, whi);
	}
}

/* A window over the cap was cut short: what its pages proved is kept, the rest is split
 * into windows sized for fewer runs. */
static void window_split(struct session *m, struct window *w, long long total)
{
	if (w->oldest >= w->hi || w->oldest == INT64_MAX) {
		if (w->lo < w->hi) {
			/* The pages read were all the window's last second: that second on its
			 * own, the rest split. */
			window_launch(m, w->hi, w->hi);
			launch_split(m, w->lo, w->hi - 1,
				     ((long)total + POLICY_WINDOW_RUNS - 1) / POLICY_WINDOW_RUNS);
		} else {
			/* The cap reached within one second: it cannot be split further. */
			msg_warn("%s: more than %d runs created in one second; some may be missed",
				 m->repo->full_name, POLICY_FILTERED_CAP);
			sync_cover(listing(m), w->lo, w->hi);
		}
	} else {
		long left = (long)total - w->seen;
		launch_split(m, w->lo, w->oldest,
			     (left + POLICY_WINDOW_RUNS - 1) / POLICY_WINDOW_RUNS);
	}
}

static void on_window_page(struct fetch_req *fr, void *arg)
{
	struct window *w = arg;
	struct session *m = w->m;
	struct listing_page lp;

	if (fr->status == FETCH_CANCELLED || m->stopping) {
		free(w);
		return;
	}
	if (fr->answer != GA_OK) {
		if (session_request_failed(m, fr, "listing workflow runs"))
			free(w);
		else
			window_done(m, w);
		return;
	}
	m->page++;
	if (phase1_take(m, fr, m->page, m->windows_active > 1, &lp) != 0) {
		free(w);
		return;
	}
	w->seen += (long)lp.n;
	if (lp.n && lp.oldest < w->oldest)
		w->oldest = lp.oldest;
	bool capped = (!lp.next && lp.total >= 0 && w->seen < lp.total) ||
		      (lp.total > POLICY_FILTERED_CAP && lp.next);
	/* Runs sharing the oldest second may continue on the next page: prove only what is
	 * above it until the window ends. */
	if (lp.n)
		sync_cover(listing(m), lp.oldest + 1, w->hi);
	store_state_changed(m->store, false);
	free(lp.open); /* window pages are never asked conditionally */
	if (lp.next && !capped) {
		session_get(m, lp.next, NULL, phase1_decode, on_window_page, w, true);
		free(lp.next);
		return;
	}
	free(lp.next);
	if (!capped)
		sync_cover(listing(m), w->lo, w->hi);
	else
		window_split(m, w, lp.total);
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
	url = ghapi_runs_url(m->e->api_url, m->repo->full_name, wf, created);
	m->windows_active++;
	session_get(m, url, NULL, phase1_decode, on_window_page, w, true);
	free(url);
	free(created);
}

/* Fill every range of [from, what is covered] not yet proven, with windows crawled
 * concurrently. est_runs: how many runs the ranges are thought to hold (< 0: unknown);
 * rate: runs per second near the top, to size the first windows. */
static void crawl_gaps(struct session *m, long est_runs, double rate)
{
	int64_t lo, hi, to = sync_covered_hi(listing(m));
	m->windows_active++; /* hold: launching must not complete the listing early */
	while (!m->stopping && to != SYNC_MIN && sync_top_gap(listing(m), m->from_t, to, &lo, &hi)) {
		if (lo == SYNC_MIN) {
			sync_cover(listing(m), SYNC_MIN, POLICY_ACTIONS_EPOCH - 1);
			lo = POLICY_ACTIONS_EPOCH;
			if (hi < lo)
				break;
		}
		int64_t split_lo = lo;
		if (est_runs > POLICY_WINDOW_RUNS && rate > 0) {
			/* Size windows for the runs expected just below the top; the rest of the
			 * range (older, sparser) is one window that splits itself if needed. */
			double span = 1.5 * (double)est_runs / rate;
			if ((double)(hi - lo) > span)
				split_lo = hi - (int64_t)span;
			if (split_lo > lo)
				window_launch(m, lo, split_lo - 1);
			launch_split(m, split_lo, hi,
				     (est_runs + POLICY_WINDOW_RUNS - 1) / POLICY_WINDOW_RUNS);
		} else {
			window_launch(m, lo, hi);
		}
		est_runs = -1; /* holes further down (from an interrupted run) get one window */
		to = lo - 1;
	}
	if (--m->windows_active == 0 && !m->stopping)
		listing_complete(m);
}

static long repo_rows(struct session *m)
{
	const struct runindex_slot *slot;
	long n = 0;
	for (size_t pos = 0; runindex_next(index_of(m), &pos, &slot);)
		n += slot->repo == m->repo_id;
	return n;
}

/* The top page was taken: record what it proves, then window the rest. */
void phase1_unchanged_page(struct session *m, const char *url)
{
	size_t n;
	const int64_t *open = syncstate_open_runs(&m->store->st, m->store->token_id, url, &n);
	for (size_t i = 0; i < n; i++) {
		uint64_t *v = runindex_get(index_of(m), m->repo_id, open[i]);
		if (v)
			*v |= RX_SEEN;
	}
}

static void top_page_taken(struct session *m, struct fetch_req *fr, const struct listing_page *lp)
{
	m->runs_total = (long)lp->total;
	if (lp->n) {
		syncstate_set_etag(&m->store->st, m->store->token_id, m->top_url, fr->http.etag,
				   NULL);
		syncstate_set_open_runs(&m->store->st, m->store->token_id, m->top_url, lp->open,
					lp->nopen);
		if (lp->next)
			sync_cover(listing(m), lp->oldest + 1, lp->newest);
		else if (lp->total < 0 || (long long)lp->n >= lp->total)
			sync_cover(listing(m), m->from_t, lp->newest); /* the whole listing */
		else
			sync_cover(listing(m), lp->oldest + 1, lp->newest); /* capped: windows do the rest */
		store_state_changed(m->store, false);
	}
	/* Runs below the first page not known yet: about the total less what the CSV has. */
	long est = lp->total >= 0 ? (long)lp->total - repo_rows(m) : -1;
	double rate = lp->n > 1 && lp->newest > lp->oldest
			      ? (double)lp->n / (double)(lp->newest - lp->oldest)
			      : 0;
	crawl_gaps(m, est, rate);
}

/* The first page of the listing: with the stored ETag, a 304 says nothing is new above
 * what earlier passes proved. Otherwise its runs are taken and the rest is windowed. */
static void on_top_page(struct fetch_req *fr, void *arg)
{
	struct session *m = arg;
	struct listing_page lp;

	if (fr->status == FETCH_CANCELLED || m->stopping)
		return;
	if (fr->answer == GA_NOT_MODIFIED) {
		msg_info("%s: no new runs since the last sync (304 Not Modified)", m->repo->full_name);
		phase1_unchanged_page(m, m->top_url);
		crawl_gaps(m, -1, 0);
		return;
	}
	if (fr->answer == GA_NOT_FOUND && m->s->nworkflow_ids) {
		/* A workflow id the repository does not have: the other listings go on. */
		msg_error("workflow %" PRId64 " of %s not found (nor, perhaps, the repository): "
			  "check workflow_ids in the config and the repository URL",
			  m->s->workflow_ids[m->listing_i], m->repo->full_name);
		session_fail(m, SF_PARTIAL, "workflow %" PRId64 " not found",
			     m->s->workflow_ids[m->listing_i]);
		m->listing_i++;
		listing_next(m);
		return;
	}
	if (fr->answer != GA_OK) {
		/* Phase 2 still gets what earlier passes collected (nothing, for an unknown
		 * repository). */
		if (!session_request_failed(m, fr, "listing workflow runs"))
			phase2_start(m);
		return;
	}
	m->page++;
	if (phase1_take(m, fr, m->page, false, &lp) != 0)
		return;
	top_page_taken(m, fr, &lp);
	free(lp.next);
	free(lp.open);
}

static int64_t day_start(const char *date, int end_of_day)
{
	double t;
	char iso[32];
	snprintf(iso, sizeof(iso), "%.10sT%s", date, end_of_day ? "23:59:59Z" : "00:00:00Z");
	return time_parse_iso(iso, &t) == 0 ? (int64_t)t : (end_of_day ? INT64_MAX : SYNC_MIN);
}

static void listing_end(struct session *m)
{
	msg_info("%s: %ld new runs (%ld already known, %ld updated) in %d pages, %.1f s",
		 m->repo->full_name, m->sum.new_runs, m->sum.known_runs, m->sum.updated_runs,
		 m->page, (double)(time_mono_ms() - m->phase_start_ms) / 1000.0);
	session_status(m, "runs_collected", "collected %ld new runs of %s (%ld already known, "
		       "%ld updated)", m->sum.new_runs, m->repo->full_name, m->sum.known_runs,
		       m->sum.updated_runs);
	m->phase = 0;
	recheck_start(m);
}

static void listing_next(struct session *m)
{
	size_t nlistings = m->s->nworkflow_ids ? m->s->nworkflow_ids : 1;
	char key[512], *created;
	const char *from = m->s->from_date, *to = m->s->to_date;
	if (m->stopping)
		return;
	if (m->listing_i >= nlistings) {
		listing_end(m);
		return;
	}
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[m->listing_i] : 0;
	snprintf(key, sizeof(key), "%s|wf=%" PRId64 "|from=%s|to=%s", m->repo->full_name, wf,
		 from ? from : "-", to ? to : "-");
	free(m->lst_key);
	m->lst_key = xstrdup(key);
	m->windows_active = 0;
	/* Ranges proven about rows this CSV does not have (a new or replaced file) prove
	 * nothing. */
	if (listing(m)->nr && repo_rows(m) == 0)
		sync_clear(listing(m));
	m->from_t = from ? day_start(from, 0) : SYNC_MIN;
	m->to_t = to ? day_start(to, 1) : INT64_MAX;
	created = ghapi_created_filter(from, to);
	free(m->top_url);
	m->top_url = ghapi_runs_url(m->e->api_url, m->repo->full_name, wf, created);
	free(created);
	/* Only a pass that proved something may skip on a 304. */
	session_get(m, m->top_url,
		    listing(m)->nr ? syncstate_etag(&m->store->st, m->store->token_id, m->top_url, NULL)
			       : NULL,
		    phase1_decode, on_top_page, m, true);
}

void phase1_start(struct session *m)
{
	const struct runindex_slot *slot;
	struct runindex *ix = index_of(m);
	/* A new pass: nothing is "seen" yet. */
	for (size_t pos = 0; runindex_next(ix, &pos, &slot);)
		if (slot->repo == m->repo_id)
			*runindex_get(ix, slot->repo, slot->run_id) &=
				~(uint64_t)(RX_SEEN | RX_FAILED | RX_QUEUED);
	phase2_begin(m);
	m->listing_i = 0;
	m->page = 0;
	m->phase = 1;
	m->runs_total = -1;
	m->phase_start_ms = time_mono_ms();
	session_status(m, "collecting_runs", "collecting workflow runs of %s", m->repo->full_name);
	msg_info("%s: collecting workflow runs", m->repo->full_name);
	listing_next(m);
}
