/* store.c - the CSV, its journal, lock, index and sync state, shared by every repository
 * session: appends and journal entries fsynced in libuv's thread pool once per loop
 * iteration, folds split between the loop and the pool, the state saved once what it
 * rests on is durable. */
#include "store.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "policy.h"
#include "util.h"

/* The first failure: nothing more is written. The owner hears of it from the check
 * handler, at the end of the loop iteration, never inside a caller's callback. */
static void fail(struct store *st, const struct error *e)
{
	if (st->failed)
		return;
	st->failed = true;
	st->error = *e;
	st->error_pending = true;
}

static bool durable(const struct store *st)
{
	return st->cs.durable == st->cs.size && st->j.pending.len == 0 &&
	       st->j.synced == st->j.size;
}

/* The state claims ranges as listed: it is written only once the rows and journal
 * entries it rests on are on disk. Failing to write it only costs requests next time. */
static void save_state(struct store *st)
{
	if (syncstate_save(&st->st) != 0)
		msg_warn("the sync state was not saved: the next run lists more than it needs");
	st->state_saved_ms = time_mono_ms();
	st->state_dirty = st->state_now = false;
}

/* ---- fsync rounds in the pool ------------------------------------------------------- */

static void maybe_drained(struct store *st);

static void sync_work(uv_work_t *w)
{
	struct store_sync_round *r = w->data;
	r->csv.rc = csvstore_sync_work(&r->csv, &r->err);
	r->journal_rc = fsync(r->journal_fd) == 0 ? 0 : -errno;
	close(r->journal_fd);
	r->journal_fd = -1;
}

static void after_sync(uv_work_t *w, int status)
{
	struct store_sync_round *r = w->data;
	struct store *st = (struct store *)((char *)r - offsetof(struct store, sync));
	int csv_rc = status ? status : r->csv.rc;
	csvstore_sync_done(&st->cs, &r->csv);
	st->syncing = false;
	st->pool_fsyncs++;
	if (csv_rc) {
		fail(st, &r->err);
	} else if (r->journal_rc) {
		error_set(&r->err, r->journal_rc, "cannot write the journal '%s': %s", st->j.path,
			  strerror(-r->journal_rc));
		fail(st, &r->err);
	} else if (r->journal_gen == st->journal_gen && r->journal_size > st->j.synced) {
		st->j.synced = r->journal_size;
	}
	maybe_drained(st);
}

/* Write what is pending and fsync it, with the rows appended since the last round, in
 * the pool. */
static void start_sync(struct store *st)
{
	struct store_sync_round *r = &st->sync;
	struct error e = {0};
	memset(r, 0, sizeof(*r));
	r->journal_fd = -1;
	if (journal_flush(&st->j, &e) != 0 || csvstore_sync_prepare(&st->cs, &r->csv, &e) != 0) {
		fail(st, &e);
		return;
	}
	r->journal_fd = dup(st->j.fd);
	if (r->journal_fd < 0) {
		error_set(&e, -errno, "cannot write the journal '%s': %s", st->j.path,
			  strerror(errno));
		r->csv.rc = -EIO;
		csvstore_sync_done(&st->cs, &r->csv);
		fail(st, &e);
		return;
	}
	r->journal_size = st->j.size;
	r->journal_gen = st->journal_gen;
	r->work.data = r;
	st->syncing = true;
	uv_queue_work(st->loop, &r->work, sync_work, after_sync);
}

/* ---- folds in the pool -------------------------------------------------------------- */

static void fold_work(uv_work_t *w)
{
	struct store_fold_round *r = w->data;
	if (r->releasing) {
		/* The last close of the replaced file frees its blocks: tens of ms for a large
		 * CSV, kept off the loop. */
		csvstore_rewrite_release(&r->snap);
		journal_view_release(&r->view);
		return;
	}
	r->rc = csvstore_rewrite_work(&r->snap, journal_view_patch, &r->view, &r->err);
}

/* Geometric batching (see store.h): each fold writes at least 1 + POLICY_FOLD_GROWTH
 * times the one before. */
uint64_t store_next_fold_at(uint64_t csv_size, uint64_t floor)
{
	uint64_t grown = csv_size * POLICY_FOLD_GROWTH;
	return grown > floor ? grown : floor;
}

static void set_fold_threshold(struct store *st, uint64_t csv_size)
{
	st->fold_at = store_next_fold_at(csv_size, st->fold_min);
}

/* Back on the loop: put the new file in place and drop the folded entries (a few ms),
 * then send the old files to the pool to be closed. */
static void after_fold(uv_work_t *w, int status)
{
	struct store_fold_round *r = w->data;
	struct store *st = (struct store *)((char *)r - offsetof(struct store, fold));
	if (r->releasing) {
		st->folding = false;
		maybe_drained(st);
		return;
	}
	int rc = status ? status : r->rc;
	if (rc == 0) {
		rc = csvstore_rewrite_commit(&st->cs, &r->snap, journal_has_newer, &st->j, &r->err);
		if (rc == 0) {
			rc = journal_drop_frozen(&st->j, &r->err); /* thaws itself on failure */
			st->journal_gen++;
		} else {
			journal_thaw(&st->j);
		}
	} else {
		csvstore_rewrite_abandon(&st->cs, &r->snap);
		journal_thaw(&st->j);
	}
	if (rc)
		fail(st, &r->err);
	st->pool_folds++;
	r->releasing = true;
	uv_queue_work(st->loop, &r->work, fold_work, after_fold);
}

/* Freeze the journal and snapshot the CSV in the same loop turn (a frozen entry must not
 * refer to a row appended after the snapshot), then rewrite in the pool. */
static void start_fold(struct store *st)
{
	struct store_fold_round *r = &st->fold;
	struct error e = {0};
	memset(r, 0, sizeof(*r));
	set_fold_threshold(st, (uint64_t)st->cs.size + journal_bytes(&st->j));
	if (journal_freeze(&st->j, &r->view, &e) != 0) {
		fail(st, &e);
		return;
	}
	if (csvstore_rewrite_prepare(&st->cs, &r->snap, &e) != 0) {
		journal_thaw(&st->j);
		journal_view_release(&r->view);
		fail(st, &e);
		return;
	}
	r->work.data = r;
	st->folding = true;
	uv_queue_work(st->loop, &r->work, fold_work, after_fold);
}

/* ---- once per loop iteration -------------------------------------------------------- */

static void on_check(uv_check_t *h)
{
	struct store *st = h->data;
	if (st->error_pending) {
		st->error_pending = false;
		if (st->on_error)
			st->on_error(st->arg, &st->error);
	}
	if (st->failed)
		return;
	/* Written at once, even while an fsync round is out: in the page cache they survive
	 * the process, if not the machine, and the next round makes them durable. */
	if (st->syncing && st->j.pending.len) {
		struct error e = {0};
		if (journal_flush(&st->j, &e) != 0) {
			fail(st, &e);
			return;
		}
	}
	if (!st->syncing && !durable(st))
		start_sync(st);
	if (st->fold_soon && !st->folding && st->j.entries) {
		st->fold_soon = false;
		start_fold(st);
	}
	if (st->state_dirty && durable(st) &&
	    (st->state_now || time_mono_ms() - st->state_saved_ms >= POLICY_STATE_SAVE_MS))
		save_state(st);
}

/* Fold on the loop: at start and at the end of a pass, when no transfer is under way. */
static int fold_now(struct store *st, struct error *err)
{
	struct csvstore_sync s;
	int rc = journal_sync(&st->j, err);
	if (rc == 0 && st->j.entries) {
		rc = csvstore_rewrite(&st->cs, journal_patch, &st->j, err);
		if (rc == 0)
			rc = journal_clear(&st->j, err);
		st->journal_gen++;
		if (rc == 0)
			set_fold_threshold(st, (uint64_t)st->cs.size);
	}
	if (rc == 0 && st->cs.durable < st->cs.size && (rc = csvstore_sync_prepare(&st->cs, &s, err)) == 0) {
		rc = csvstore_sync_work(&s, err);
		s.rc = rc;
		csvstore_sync_done(&st->cs, &s);
	}
	return rc;
}

static void maybe_drained(struct store *st)
{
	struct error e = {0};
	store_drained_cb cb = st->drained;
	const struct error *untold;
	bool ok;
	if (!cb || st->syncing || st->folding)
		return;
	st->drained = NULL;
	ok = !st->failed && fold_now(st, &e) == 0;
	if (!ok && !st->failed)
		fail(st, &e);
	if (ok && st->state_dirty)
		save_state(st);
	untold = st->error_pending ? &st->error : NULL;
	st->error_pending = false;
	cb(st->drained_arg, ok, untold);
}

void store_drain(struct store *st, store_drained_cb cb, void *arg)
{
	st->drained = cb;
	st->drained_arg = arg;
	maybe_drained(st);
}

/* ---- opening, closing, writing ------------------------------------------------------ */

int store_open(struct store *st, uv_loop_t *loop, const char *csv_path, const char *token,
	       bool formula_guard, struct error *err)
{
	int rc;
	memset(st, 0, sizeof(*st));
	st->loop = loop;
	st->fold_min = POLICY_FOLD_FLOOR_BYTES;
	if (getenv("GHAMINER_FOLD_MIN"))
		st->fold_min = strtoull(getenv("GHAMINER_FOLD_MIN"), NULL, 10);
	st->fold_at = st->fold_min;
	if ((rc = csvstore_open(&st->cs, csv_path, err)) != 0) {
		csvstore_close(&st->cs);
		return rc;
	}
	st->cs.formula_guard = formula_guard;
	if ((rc = journal_open(&st->j, csv_path, err)) != 0)
		goto out_csv;
	syncstate_load(&st->st, csv_path);
	if ((rc = syncstate_token_id(&st->st, token ? token : "", st->token_id)) != 0)
		msg_warn("no random salt for the sync state (%s): ETags are not kept this run "
			 "(each page costs a full request)", strerror(-rc));
	rc = 0;
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
		if ((rc = fold_now(st, err)) != 0)
			goto out_journal;
	}
	uv_check_init(loop, &st->check);
	st->check.data = st;
	uv_check_start(&st->check, on_check);
	st->check_open = true;
	return 0;
out_journal:
	syncstate_release(&st->st);
	journal_close(&st->j);
out_csv:
	csvstore_close(&st->cs);
	return rc;
}

void store_on_error(struct store *st, store_error_cb on_error, void *arg)
{
	st->on_error = on_error;
	st->arg = arg;
}

void store_on_outlook(struct store *st, store_to_come_cb to_come, void *arg)
{
	st->to_come = to_come;
	st->to_come_arg = arg;
}

void store_close(struct store *st)
{
	/* Only after store_drain: nothing of the store's is in the pool any more. */
	if (st->syncing || st->folding)
		abort();
	/* Nothing journaled is dropped, whatever happened before. */
	if (!st->failed && st->j.pending.len)
		journal_sync(&st->j, NULL);
	/* What the last moments proved, when it rests on what is on disk. */
	if (st->state_dirty && !st->failed && durable(st))
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
	int rc;
	if (st->failed)
		return error_set(err, -EIO, "%s", st->error.msg);
	rc = csvstore_append_nosync(&st->cs, recs, n, err);
	if (rc)
		fail(st, err);
	return rc;
}

void store_journal(struct store *st, const char *repo, int64_t id, const json_t *set,
		   const char *raw_col, const char *raw)
{
	journal_add(&st->j, repo, id, set, raw_col, raw);
	if (journal_bytes(&st->j) < st->fold_at)
		return;
	if (store_fold_due((uint64_t)st->cs.size, journal_bytes(&st->j), st->j.entries,
			   st->to_come ? st->to_come(st->to_come_arg) : -1))
		st->fold_soon = true;
}

bool store_fold_due(uint64_t csv_size, uint64_t journal_bytes, size_t entries, long to_come)
{
	if (to_come < 0 || entries == 0)
		return true;
	/* The entries still to come, at the mean size of those journaled so far. */
	double coming = (double)to_come * (double)journal_bytes / (double)entries;
	return coming >= (double)POLICY_FOLD_GROWTH * (double)(csv_size + journal_bytes);
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
