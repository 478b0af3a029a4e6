/* store.c - the CSV, its journal, lock, index and sync state, shared by every repository
 * session; durable writes grouped once per loop iteration. */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "util.h"

static void fail(struct store *st, const struct error *e)
{
	if (st->failed)
		return;
	st->failed = true;
	if (st->on_error)
		st->on_error(st->arg, e);
}

int store_fold(struct store *st, struct error *err)
{
	if (st->failed)
		return error_set(err, -EIO, "the CSV store stopped after an earlier error");
	if (journal_sync(&st->j) != 0)
		return error_set(err, -EIO, "cannot write the journal '%s'", st->j.path);
	if (st->j.entries == 0)
		return 0;
	if (csvstore_rewrite(&st->cs, journal_patch, &st->j) != 0)
		return error_set(err, -EIO, "cannot rewrite '%s'", st->cs.path);
	if (journal_clear(&st->j) != 0)
		return error_set(err, -EIO, "cannot empty the journal '%s'", st->j.path);
	uint64_t grown = (uint64_t)st->cs.size * POLICY_FOLD_GROWTH;
	st->fold_at = grown > st->fold_min ? grown : st->fold_min;
	if (st->on_fold)
		st->on_fold(st->arg);
	return 0;
}

/* The state may rest on journaled updates of known runs: those reach the disk first, or
 * the state is not saved. Failing to save it only costs requests next time: a warning. */
static void save_state(struct store *st)
{
	if (journal_sync(&st->j) != 0)
		return;
	if (syncstate_save(&st->st) != 0)
		msg_warn("the sync state was not saved: the next run lists more than it needs");
	st->state_saved_ms = time_mono_ms();
	st->state_dirty = st->state_now = false;
}

static void on_check(uv_check_t *h)
{
	struct store *st = h->data;
	struct error e = {0};
	if (st->failed)
		return;
	if (st->j.pending.len && journal_sync(&st->j) != 0) {
		error_set(&e, -EIO, "cannot write the journal '%s'", st->j.path);
		fail(st, &e);
		return;
	}
	if (st->fold_soon) {
		st->fold_soon = false;
		if (store_fold(st, &e) != 0) {
			fail(st, &e);
			return;
		}
	}
	if (st->state_dirty &&
	    (st->state_now || time_mono_ms() - st->state_saved_ms >= POLICY_STATE_SAVE_MS))
		save_state(st);
}

int store_open(struct store *st, uv_loop_t *loop, const char *csv_path, const char *token,
	       struct error *err)
{
	memset(st, 0, sizeof(*st));
	st->fold_min = POLICY_FOLD_FLOOR_BYTES;
	if (getenv("GHAMINER_FOLD_MIN"))
		st->fold_min = strtoull(getenv("GHAMINER_FOLD_MIN"), NULL, 10);
	st->fold_at = st->fold_min;
	syncstate_token_id(token ? token : "", st->token_id);
	if (csvstore_open(&st->cs, csv_path) != 0) {
		csvstore_close(&st->cs);
		return error_set(err, -EIO, "cannot open '%s'", csv_path);
	}
	if (journal_open(&st->j, csv_path) != 0) {
		journal_close(&st->j);
		csvstore_close(&st->cs);
		return error_set(err, -EIO, "cannot open the journal of '%s'", csv_path);
	}
	syncstate_load(&st->st, csv_path);
	if (st->cs.repaired && st->st.nl) {
		/* The torn row's run may lie in a range a pass proved: prove everything again
		 * (pages only; the jobs already collected are kept). */
		msg_warn("the sync state is reset after the repair: this run lists every run again");
		for (size_t i = 0; i < st->st.nl; i++)
			sync_clear(&st->st.l[i]);
	}
	/* Results an interrupted process journaled go into the CSV before anything else. */
	if (st->j.entries) {
		msg_info("folding %zu journaled results of an earlier run into '%s'", st->j.entries,
			 csv_path);
		int rc = store_fold(st, err);
		if (rc) {
			syncstate_release(&st->st);
			journal_close(&st->j);
			csvstore_close(&st->cs);
			return rc;
		}
	}
	uv_check_init(loop, &st->check);
	st->check.data = st;
	uv_check_start(&st->check, on_check);
	st->check_open = true;
	return 0;
}

void store_on_events(struct store *st, store_error_cb on_error, store_fold_cb on_fold, void *arg)
{
	st->on_error = on_error;
	st->on_fold = on_fold;
	st->arg = arg;
}

void store_close(struct store *st)
{
	/* What the last moments proved: the state rests on the journal, synced first. */
	if (st->state_dirty && !st->failed)
		save_state(st);
	if (st->check_open)
		uv_close((uv_handle_t *)&st->check, NULL);
	st->check_open = false;
	syncstate_release(&st->st);
	journal_close(&st->j);
	csvstore_close(&st->cs);
}

uint32_t store_repo(struct store *st, const char *full_name)
{
	return (uint32_t)runindex_repo(&st->cs.index, full_name, true);
}

int store_append(struct store *st, struct record *const *recs, size_t n, struct error *err)
{
	if (st->failed)
		return error_set(err, -EIO, "the CSV store stopped after an earlier error");
	if (csvstore_append(&st->cs, recs, n) != 0)
		return error_set(err, -EIO, "cannot append to '%s'", st->cs.path);
	return 0;
}

void store_journal(struct store *st, const char *repo, int64_t id, const json_t *set,
		   const char *raw_col, const char *raw)
{
	journal_add(&st->j, repo, id, set, raw_col, raw);
	/* Geometric thresholds keep the total rewrite bytes bounded. */
	if (journal_bytes(&st->j) >= st->fold_at)
		st->fold_soon = true;
}

void store_state_changed(struct store *st, bool now)
{
	st->state_dirty = true;
	if (now)
		st->state_now = true;
}

void store_fold_soon(struct store *st)
{
	st->fold_soon = true;
}
