/* session_int.h - a repository session's state, shared by its parts: session.c (life,
 * messages, failures), phase1.c (listing), recheck.c (re-runs and refreshes), phase2.c
 * (jobs). Not for other modules. */
#ifndef GHAMINER_SESSION_INT_H
#define GHAMINER_SESSION_INT_H

#include "fetch.h"
#include "gql.h"
#include "session.h"

TAILQ_HEAD(session_sinks, session_sink);

struct session {
	struct engine *e;
	struct store *store;
	const struct settings *s;
	const struct repo_ref *repo;
	uint32_t repo_id;
	struct fetch_owner owner;   /* every request of this session */
	struct session_sinks sinks;
	struct engine_call done_call;
	bool stopping;              /* no new work: done once the last request is back */
	bool done;                  /* phase 2 finished (or the session stopped) */
	bool told_done;
	int phase;                  /* 1 or 2 while a phase runs, else 0: what progress shows */
	uint64_t phase_start_ms;
	long backlog;               /* this session's share of the fetch backlog (REST) */
	long gql_backlog;           /* ... and of the GraphQL one, in points */
	struct session_summary sum;
	/* phase 1 */
	long runs_total;            /* the first page's total_count, or -1 */
	size_t listing_i;
	char *lst_key;              /* the listing's key in the sync state */
	int64_t from_t, to_t;       /* target created range */
	char *top_url;
	size_t windows_active;      /* created-date windows being crawled (plus a launch hold) */
	int page;
	int64_t *days;              /* recent days holding runs, re-checked for re-runs */
	size_t ndays, days_active;
	int64_t *refresh;           /* incomplete runs not listed in this pass */
	size_t nrefresh, next_refresh, refresh_outstanding;
	/* phase 2: runs are queued as phase 1 takes them, so jobs are fetched while the
	 * listing is still being crawled */
	int64_t *todo;
	size_t ntodo, todo_cap, next_todo, outstanding, processed;
	bool listing_done;          /* phase 1 finished: phase 2 ends when its queue drains */
	bool jobs_started;
	uint64_t jobs_start_ms;     /* when the first run was queued */
	int64_t *fallback;          /* runs the REST path must take (GraphQL could not) */
	size_t nfallback, fallback_cap;
	/* phase 2 through GraphQL (phase2_gql.c) */
	json_t *node_ids;           /* run id (decimal text) → check_suite_node_id */
	int64_t *batch;             /* runs waiting for the next suites query */
	size_t nbatch, batch_cap;
	size_t gql_runs;            /* runs inside GraphQL queries in flight */
	size_t gql_queries;         /* suites queries in flight */
	json_t *completed;          /* run ids (text) listed as completed: cross-check samples */
	int gql_batch_size;         /* suites per query: halved after a timeout */
	int gql_first;              /* check runs per suite asked for: learned */
	int gql_steps;              /* steps per check run asked for: learned */
	uint32_t jobs_seen[GQL_MAX_FIRST + 2]; /* how many runs had n jobs (last: more) */
	size_t runs_seen;
	int cross;                  /* enum cross_check (phase2_gql.c) */
	size_t cc_want, cc_sent, cc_left;
	json_t *cc;                 /* run id → {"rest": text, "gql": text} of the samples */
};

/* session.c */
/* Send a message to every subscriber; data is borrowed ("repo" is added). */
void session_emit(struct session *m, const char *type, json_t *data);
void session_emit_text(struct session *m, const char *type, const char *text);
void session_status(struct session *m, const char *stage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void session_error(struct session *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record a failure (the gravest is kept, with its message); fatal ones stop the session. */
void session_fail(struct session *m, enum session_failure why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A request's final failure: say what it was, record it. Returns true when the session
 * stopped (the caller returns at once). */
bool session_request_failed(struct session *m, struct fetch_req *fr, const char *what);
/* Queue a GET for this session (see fetch_get). */
void session_get(struct session *m, const char *url, const char *etag, fetch_decode_fn decode,
		 fetch_done_cb done, void *arg, bool first);
/* This session's expected REST requests and GraphQL points changed (the governor spreads
 * each budget over all the work). */
void session_set_backlog(struct session *m, long backlog, long gql_points);
/* Phase 2 is over: done once the last request is back. */
void session_finish(struct session *m);
/* The store stopped: a CSV write failed. */
void session_store_failed(struct session *m, const struct error *e);

/* phase1.c: list the runs; calls recheck_start when every listing is done. */
void phase1_start(struct session *m);
/* recheck.c: re-check recent days for re-runs, then refresh incomplete runs; calls
 * phase2_start. */
void recheck_start(struct session *m);
/* Take a run known to the CSV that a listing shows again: journal its new values when it
 * changed, and queue its jobs. updated gets its row. */
bool phase1_update_known(struct session *m, const json_t *run, uint64_t *value,
			 json_t *updated);
/* In the thread pool: a listing page or a run, parsed. */
void phase1_decode(struct fetch_req *fr, void *arg);
struct listing_page {
	size_t n;        /* runs on the page */
	size_t added;
	int64_t oldest, newest;
	long long total; /* the envelope's total_count, or -1 */
	char *next;      /* rel="next", or NULL; the caller frees */
	int64_t *open;   /* the page's runs that are not complete (caller frees), nopen */
	size_t nopen;
};
/* A page answered 304 is unchanged: its runs that were not complete still are, and need no
 * refresh in this pass. */
void phase1_unchanged_page(struct session *m, const char *url);
/* Take a 200 listing page (see phase1.c). 0, or -1 after stopping the session. */
int phase1_take(struct session *m, struct fetch_req *fr, int page_no, bool more,
		struct listing_page *lp);

/* phase2.c */
/* A run's jobs are in (text: job_details, njobs jobs) or failed (text NULL). */
void phase2_run_done(struct session *m, int64_t run_id, const char *text, size_t njobs);
/* REST takes this run (GraphQL could not). */
void phase2_rest(struct session *m, int64_t run_id);
void phase2_begin(struct session *m);               /* the pass starts */
void phase2_enqueue(struct session *m, int64_t id); /* a run whose jobs are wanted */
void phase2_feed(struct session *m);                /* start what the window allows */
void phase2_start(struct session *m);               /* phase 1 is over */

/* phase2_gql.c: which path a run's jobs take. */
enum phase2_route {
	ROUTE_REST,
	ROUTE_GRAPHQL,
	ROUTE_BOTH, /* a cross-check sample: REST's answer is kept, GraphQL's compared */
	ROUTE_WAIT, /* the cross-check is under way: wait for its verdict */
};
void phase2_gql_begin(struct session *m);
/* A listed run's check suite (from its run object), for the GraphQL path. */
void phase2_gql_note(struct session *m, int64_t run_id, const json_t *run);
enum phase2_route phase2_gql_route(struct session *m, int64_t run_id);
/* Room for another run in a GraphQL batch (else runs wait in the todo queue). */
bool phase2_gql_room(const struct session *m);
void phase2_gql_add(struct session *m, int64_t run_id);
/* Send full batches; a part-filled one too when partial. */
void phase2_gql_flush(struct session *m, bool partial);
/* No GraphQL work queued or in flight. */
bool phase2_gql_idle(const struct session *m);
/* The GraphQL points the runs still waiting are expected to cost, when GraphQL serves
 * this session (else 0). */
long phase2_gql_backlog(const struct session *m);
/* A cross-check sample's job_details from one side (text NULL: that side failed). */
void phase2_gql_compare(struct session *m, int64_t run_id, const char *text, bool from_gql);
void phase2_gql_release(struct session *m);
/* Decide the cross-check once every sample is back (and all there will be were taken). */
void phase2_gql_settle(struct session *m);

#endif
