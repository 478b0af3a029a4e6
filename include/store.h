/* store.h - one CSV with its journal, lock, run index and sync state: what every
 * repository session of the process appends to and folds into. Durable writes are grouped
 * once per loop iteration, and their slow parts (the fsyncs of appended rows and journal
 * entries, folds during a run) run in libuv's thread pool. Errors are values, reported to
 * the owner once. */
#ifndef GHAMINER_STORE_H
#define GHAMINER_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "csvstore.h"
#include "error.h"
#include "journal.h"
#include "syncstate.h"

/* A write failed (an append, the journal, a fold): the store writes nothing more. */
typedef void (*store_error_cb)(void *arg, const struct error *e);
/* store_drain is over: every result is in the CSV (ok), or the store failed; untold is
 * that failure when store_error_cb has not reported it yet, else NULL. */
typedef void (*store_drained_cb)(void *arg, bool ok, const struct error *untold);
/* How many journal entries this pass still expects (runs whose jobs are still to come),
 * or -1 when the owner cannot tell. */
typedef long (*store_to_come_cb)(void *arg);

/* What the thread pool is doing for the store. */
struct store_sync_round {
	uv_work_t work;
	struct csvstore_sync csv;
	int journal_fd;       /* a dup, fsynced and closed by the worker */
	off_t journal_size;   /* entries up to here are durable when it succeeds */
	unsigned journal_gen; /* the journal file it belongs to */
	int journal_rc;
	struct error err;
};

struct store_fold_round {
	uv_work_t work;
	struct csvstore_snapshot snap;
	struct journal_view view;
	int rc;
	struct error err;
	bool releasing;       /* the second trip: old files closed in the pool */
};

struct store {
	struct csvstore cs;
	struct journal j;
	struct syncstate st;
	char token_id[17];     /* whose ETags the state keeps */
	uv_loop_t *loop;
	uv_check_t check;      /* once per loop iteration: start syncs, folds, state saves */
	bool check_open;
	uint64_t fold_min, fold_at;
	bool fold_soon;        /* fold in the pool at the end of this loop iteration */
	bool state_dirty;      /* the sync state changed since it was saved */
	bool state_now;        /* ... and is saved as soon as what it rests on is durable */
	uint64_t state_saved_ms;
	bool failed;           /* a write failed: nothing more is written */
	struct error error;    /* ... that one */
	bool error_pending;    /* not yet told to the owner */
	unsigned journal_gen;  /* bumped whenever the journal file is replaced or emptied */
	bool syncing, folding;
	struct store_sync_round sync;
	struct store_fold_round fold;
	store_drained_cb drained;  /* store_drain waits for the pool */
	void *drained_arg;
	store_error_cb on_error;
	void *arg;
	store_to_come_cb to_come; /* NULL: every threshold crossed folds */
	void *to_come_arg;
	/* counters, for the benchmark and the closing line */
	uint64_t pool_fsyncs, pool_folds;
};

/* Lock and load the CSV, its journal and state; fold what an interrupted process
 * journaled. token: the first token (its ETags are the ones kept). formula_guard: the
 * csv_formula_guard setting, for every row written, the start-up fold's included. 0, or a
 * negative errno with err filled (csvstore_advice(code, CSVSTORE_OPENING) says what to do).
 * On error nothing is left open. */
int store_open(struct store *st, uv_loop_t *loop, const char *csv_path, const char *token,
	       bool formula_guard, struct error *err);
void store_on_error(struct store *st, store_error_cb on_error, void *arg);
/* Tell the store how much of the pass is still to come, so it skips a fold the end of the
 * pass would repeat at once (see store_fold_due). */
void store_on_outlook(struct store *st, store_to_come_cb to_come, void *arg);
/* Release everything and close the check handle (run the loop after). Call after
 * store_drain said so: nothing may be running in the pool. */
void store_close(struct store *st);

/* The index id of a repository (interned). */
uint32_t store_repo(struct store *st, const char *full_name);
/* Append rows: written now (one write), fsynced in the pool by the end of a later loop
 * iteration. 0, or a negative errno with err filled (the file is never torn). */
int store_append(struct store *st, struct record *const *recs, size_t n, struct error *err);
/* Journal new values of a run's columns (see journal_add). A fold follows when the
 * journal has grown enough. */
void store_journal(struct store *st, const char *repo, int64_t id, const json_t *set,
		   const char *raw_col, const char *raw);
/* The journal size at which the next fold is considered (pure): POLICY_FOLD_GROWTH times
 * csv_size, the CSV once the fold under way is in, and at least floor. */
uint64_t store_next_fold_at(uint64_t csv_size, uint64_t floor);
/* Whether a journal past its threshold should be folded now (pure). A fold of S bytes
 * (csv_size + journal_bytes) is deferred to the end of the pass unless at least
 * POLICY_FOLD_GROWTH * S bytes of entries are still to come (to_come entries at the mean
 * size of the entries so far). So a fold during a pass writes about 1/(1 + GROWTH) of
 * the final CSV at most, and with the geometric thresholds all of them add up to about a
 * quarter of it: with the fold at its end, a pass rewrites about 1.25 times the final
 * size. to_come -1: unknown, fold. */
bool store_fold_due(uint64_t csv_size, uint64_t journal_bytes, size_t entries, long to_come);
/* The sync state changed: saved within POLICY_STATE_SAVE_MS, or as soon as possible when
 * now (once the rows and entries it rests on are durable). */
void store_state_changed(struct store *st, bool now);
/* Fold soon (a long wait began: nothing is in flight). */
void store_fold_soon(struct store *st);
/* Bring everything to disk: wait for the pool, fold the journal into the CSV on the loop
 * (no transfer is under way when this is called: the end of a pass), save the state; then
 * cb(arg, ok) from the loop. */
void store_drain(struct store *st, store_drained_cb cb, void *arg);

#endif
