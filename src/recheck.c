/* recheck.c - the end of a listing pass: recent days re-checked for re-runs, then runs
 * that were not complete when written asked for one by one. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ghapi.h"
#include "msg.h"
#include "policy.h"
#include "session_int.h"
#include "util.h"

static void refresh_start(struct session *m);

/* ---- re-check of recent days for re-runs ------------------------------------------- */

/* GitHub allows re-running a run for 30 days: its updated_at, conclusion and jobs change
 * while it stays where it was in the listing. Each recent day that holds runs is asked
 * again with a day-long created window, whose bounds never move as new runs arrive, so its
 * stored ETag makes an unchanged day a free 304. */

static void on_recheck_page(struct fetch_req *fr, void *arg);

static char *day_url(struct session *m, int64_t day)
{
	char date[16];
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	int64_t wf = m->s->nworkflow_ids ? m->s->workflow_ids[0] : 0;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	return ghapi_runs_url(m->e->api_url, m->repo->full_name, wf, date);
}

/* Each page of a day is asked with its own stored ETag; a 304 carries no Link header, so
 * the next page's URL comes from the state, recorded when the page last changed. */
static void recheck_page(struct session *m, const char *url)
{
	m->days_active++;
	session_get(m, url, syncstate_etag(&m->store->st, m->store->token_id, url, NULL),
		    phase1_decode, on_recheck_page, m, true);
}

static void recheck_page_done(struct session *m)
{
	if (--m->days_active == 0 && !m->stopping) {
		free(m->days);
		m->days = NULL;
		store_state_changed(m->store, true);
		refresh_start(m);
	}
}

static void on_recheck_page(struct fetch_req *fr, void *arg)
{
	struct session *m = arg;
	struct listing_page lp;
	const char *stored_next;
	if (fr->status == FETCH_CANCELLED || m->stopping)
		return;
	if (fr->answer == GA_NOT_MODIFIED) {
		phase1_unchanged_page(m, fr->url);
		syncstate_etag(&m->store->st, m->store->token_id, fr->url, &stored_next);
		if (stored_next)
			recheck_page(m, stored_next);
		recheck_page_done(m);
		return;
	}
	if (fr->answer != GA_OK) {
		if (!session_request_failed(m, fr, "re-checking recent runs"))
			recheck_page_done(m);
		return;
	}
	if (phase1_take(m, fr, 0, false, &lp) != 0)
		return;
	/* Stored once the page's runs are taken: a kill before leaves the old ETag. */
	syncstate_set_etag(&m->store->st, m->store->token_id, fr->url, fr->http.etag, lp.next);
	syncstate_set_open_runs(&m->store->st, m->store->token_id, fr->url, lp.open, lp.nopen);
	free(lp.open);
	if (lp.next)
		recheck_page(m, lp.next);
	free(lp.next);
	recheck_page_done(m);
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The recent days holding runs this pass did not list, newest first, in m->days. */
static void recent_days(struct session *m)
{
	const struct runindex_slot *slot;
	int64_t today = (int64_t)(time_now() / 86400);
	bool have[POLICY_RECHECK_DAYS + 1] = {false};
	size_t n = 0;
	for (size_t pos = 0; runindex_next(&m->store->cs.index, &pos, &slot);) {
		int64_t age = today - RX_CREATED_DAY(slot->value);
		/* Runs this pass listed were compared already; only older pages need a look. */
		if (slot->repo != m->repo_id || (slot->value & RX_SEEN) || age < 0 ||
		    age > POLICY_RECHECK_DAYS || have[age])
			continue;
		have[age] = true;
		n++;
	}
	free(m->days);
	m->days = xcalloc(n + 1, sizeof(*m->days));
	m->ndays = 0;
	for (int64_t age = 0; age <= POLICY_RECHECK_DAYS; age++)
		if (have[age])
			m->days[m->ndays++] = today - age;
	qsort(m->days, m->ndays, sizeof(*m->days), cmp_desc);
}

void recheck_start(struct session *m)
{
	/* One listing per workflow would multiply the requests: re-check only what the first
	 * listing covers, and only when no date bound narrows the target. */
	if (m->s->nworkflow_ids > 1 || m->s->from_date || m->s->to_date) {
		refresh_start(m);
		return;
	}
	recent_days(m);
	/* Days past the re-run window will not be asked again: their ETags go. */
	syncstate_prune_days(&m->store->st, time_now(), POLICY_RECHECK_DAYS + 1);
	if (!m->ndays) {
		refresh_start(m);
		return;
	}
	msg_info("%s: re-checking %zu recent days for re-runs", m->repo->full_name, m->ndays);
	/* The days are independent: all of them at once, under the governor. */
	m->days_active = 1; /* hold until every day is launched */
	for (size_t i = 0; i < m->ndays && !m->stopping; i++) {
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
	m->refresh_outstanding--;
	if (fr->status == FETCH_CANCELLED || m->stopping)
		return;
	if (fr->answer == GA_OK) {
		json_int_t id = json_integer_value(json_object_get(fr->json, "id"));
		uint64_t *value = id > 0 ? runindex_get(&m->store->cs.index, m->repo_id, id) : NULL;
		json_t *updated = json_array();
		syncstate_set_etag(&m->store->st, m->store->token_id, fr->url, fr->http.etag, NULL);
		store_state_changed(m->store, false);
		phase2_gql_note(m, id, fr->json);
		if (value && phase1_update_known(m, fr->json, value, updated))
			session_emit(m, "runs_page",
				     json_pack("{s:i, s:[], s:O, s:I, s:b}", "page", 0, "runs",
					       "updated_runs", updated, "total_collected",
					       (json_int_t)m->sum.new_runs, "has_more", 0));
		json_decref(updated);
	} else if (fr->answer == GA_AUTH || fr->answer == GA_RETRY) {
		if (session_request_failed(m, fr, "refreshing a run"))
			return;
	}
	/* A 304: unchanged since it was last asked; a 404: deleted. Its row stays. */
	refresh_feed(m);
}

static void refresh_feed(struct session *m)
{
	while (!m->stopping && m->refresh_outstanding < (size_t)m->s->max_in_flight &&
	       m->next_refresh < m->nrefresh) {
		char *url = ghapi_run_url(m->e->api_url, m->repo->full_name,
					  m->refresh[m->next_refresh++]);
		m->refresh_outstanding++;
		/* Asked conditionally: an unchanged run costs a free 304. */
		session_get(m, url, syncstate_etag(&m->store->st, m->store->token_id, url, NULL),
			    phase1_decode, on_run, m, true);
		free(url);
	}
	if (!m->stopping && m->refresh_outstanding == 0 && m->next_refresh == m->nrefresh) {
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
	for (size_t pos = 0; runindex_next(&m->store->cs.index, &pos, &slot);) {
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
