/* session.h - the state one mining session shares between its parts (miner.c drives,
 * phase1.c lists runs, phase2.c collects jobs). Internal to the miner. */
#ifndef GHAMINER_SESSION_H
#define GHAMINER_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "csvstore.h"
#include "fetch.h"
#include "journal.h"
#include "miner.h"
#include "syncstate.h"

struct session {
	uv_loop_t *loop;
	const struct settings *s;
	struct csvstore cs;
	struct journal j;
	struct syncstate st;
	struct fetch *f;
	char token_id[17];
	uv_signal_t sig_int, sig_term, sig_usr1;
	uv_check_t sync_check;
	uv_timer_t watch_timer;
	uv_timer_t progress_timer;
	int phase;              /* 1 or 2 while a phase runs, else 0: what progress shows */
	long runs_total;        /* the first page's total_count, or -1 */
	int exit_code;
	int stop_signal;
	bool finishing;
	bool busy;      /* a pass is under way */
	int passes;
	double pass_started;
	double last_ok;         /* end of the last pass without errors, 0 = none yet */
	long pass_new, pass_updated, pass_jobs; /* what this pass found, over repositories */
	/* the repository being mined */
	size_t repo_i;
	uint32_t repo_id;
	const struct repo_ref *repo;
	/* phase 1 */
	size_t listing_i;
	struct sync_listing *lst;
	int64_t from_t, to_t;   /* target created range */
	char *top_url;
	size_t windows_active;  /* created-date windows being crawled (plus a launch hold) */
	int page;
	long collected, known, updated;
	int64_t *days;          /* recent days holding runs, re-checked for re-runs */
	size_t ndays, next_day, days_active;
	int64_t *refresh;       /* incomplete runs not listed in this pass */
	size_t nrefresh, next_refresh, refresh_outstanding;
	/* phase 2: runs are queued as phase 1 takes them, so jobs are fetched while the
	 * listing is still being crawled */
	int64_t *todo;
	size_t ntodo, todo_cap, next_todo, outstanding, processed, failed, collected_jobs;
	bool listing_done;      /* phase 1 finished: phase 2 ends when its queue drains */
	bool jobs_started;
	uint64_t state_saved_ms; /* when the sync state was last written */
	bool state_dirty;        /* changed since */
	uint64_t fold_at;       /* fold the journal when it grows past this */
	uint64_t fold_min;
	bool fold_soon;         /* a long wait began: fold at the end of this loop iteration */
	uint64_t phase_start_ms;
};

/* miner.c */
void session_set_exit(struct session *m, int code);
void session_fatal(struct session *m, int code);
int session_report_failure(struct session *m, struct fetch_req *fr, const char *what);
int session_fold(struct session *m);
/* Write the sync state now, after the journal it may rest on (warns on failure). */
void session_save_state(struct session *m);
void session_repo_done(struct session *m);

/* Draw the progress line now (at phase ends and on the progress timer). */
void session_progress(struct session *m);

/* phase1.c: list the runs of m->repo; calls phase2_start when done. */
void phase1_start(struct session *m);
/* phase2.c: collect jobs of the repository's runs lacking them; calls session_repo_done. */
void phase2_begin(struct session *m);               /* a repository's pass starts */
void phase2_enqueue(struct session *m, int64_t id); /* a run whose jobs are wanted */
void phase2_feed(struct session *m);                /* start what the window allows */
void phase2_start(struct session *m);               /* phase 1 is over */

#endif
