/* store.h - one CSV with its journal, lock, run index and sync state: what every
 * repository session of the process appends to and folds into. Durable writes are grouped
 * once per loop iteration; errors are values, reported to the owner once. */
#ifndef GHAMINER_STORE_H
#define GHAMINER_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "csvstore.h"
#include "error.h"
#include "journal.h"
#include "syncstate.h"

struct store;
/* A write failed (journal fsync, a fold, the state): the store is now read-only. */
typedef void (*store_error_cb)(void *arg, const struct error *e);
/* A fold brought the CSV up to date with every result journaled so far. */
typedef void (*store_fold_cb)(void *arg);

struct store {
	struct csvstore cs;
	struct journal j;
	struct syncstate st;
	char token_id[17];   /* whose ETags the state keeps */
	uv_check_t check;    /* once per loop iteration: journal fsync, folds, state saves */
	bool check_open;
	uint64_t fold_min, fold_at;
	bool fold_soon;      /* fold at the end of this loop iteration */
	bool state_dirty;    /* the sync state changed since it was saved */
	bool state_now;      /* ... and must be saved at the end of this iteration */
	uint64_t state_saved_ms;
	bool failed;         /* a write failed: nothing more is written */
	store_error_cb on_error;
	store_fold_cb on_fold;
	void *arg;
};

/* Lock and load the CSV, its journal and state; fold what an interrupted process
 * journaled. token: the first token (its ETags are the ones kept). 0, or a negative errno
 * with err filled. On error the store is released. */
int store_open(struct store *st, uv_loop_t *loop, const char *csv_path, const char *token,
	       struct error *err);
void store_on_events(struct store *st, store_error_cb on_error, store_fold_cb on_fold,
		     void *arg);
/* Close the check handle (run the loop after) and release everything. */
void store_close(struct store *st);

/* The index id of a repository (interned). */
uint32_t store_repo(struct store *st, const char *full_name);
/* Append rows (written and fsynced). 0, or a negative errno with err filled. */
int store_append(struct store *st, struct record *const *recs, size_t n, struct error *err);
/* Journal new values of a run's columns (see journal_add); durable at the end of this
 * loop iteration. A fold follows when the journal has grown enough. */
void store_journal(struct store *st, const char *repo, int64_t id, const json_t *set,
		   const char *raw_col, const char *raw);
/* The sync state changed: saved within POLICY_STATE_SAVE_MS, or at the end of this loop
 * iteration when now. */
void store_state_changed(struct store *st, bool now);
/* Fold at the end of this loop iteration (a long wait began: nothing is in flight). */
void store_fold_soon(struct store *st);
/* Fold now: the journal into the CSV, one durable rewrite; then the state. 0, or a
 * negative errno with err filled (the journal is kept). */
int store_fold(struct store *st, struct error *err);

#endif
