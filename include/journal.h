/* journal.h - an append-only, fsynced log of column updates not yet folded into the CSV:
 * what makes phase 2 results durable the moment they arrive without rewriting the CSV.
 * Errors are values (struct error); only the repair of a torn entry is reported here. */
#ifndef GHAMINER_JOURNAL_H
#define GHAMINER_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "record.h"
#include "runindex.h"

struct journal {
	char *path;
	int fd;
	off_t size;          /* bytes written to the file */
	off_t synced;        /* bytes known fsynced: synced <= size */
	struct buf pending;  /* appended, not yet written */
	struct runindex map; /* (repo, id) → 1 + offset of the run's latest entry; while frozen,
			      * only runs with an entry at or after frozen_end */
	size_t entries;      /* every entry, frozen ones included */
	uint64_t bytes_written;
	int broken;          /* 0, or the negative errno of a failed write: nothing more is
			      * written */
	/* A fold in progress (journal_freeze): the entries below frozen_end are being folded
	 * and must not change; new entries go after them. */
	bool frozen;
	off_t frozen_end;
	struct runindex frozen_map; /* latest entry below frozen_end per run: read-only while
				     * frozen (a worker reads it) */
	size_t frozen_entries;
};

/* Open <csv>.journal, replaying what an earlier process left (a torn last line is cut with
 * a warning) and removing the temporary files of an interrupted journal_drop_frozen. Call
 * it under the CSV's lock (after csvstore_open). 0, or a negative errno with err filled;
 * journal_close is safe after a failure. */
int journal_open(struct journal *j, const char *csv_path, struct error *err);
void journal_close(struct journal *j);

/* Record new values for some columns of a run: set maps column names to CSV cell strings
 * (job_details may be a JSON array), and raw, when not NULL, is the cell text of column
 * raw_col, stored as is (for a large cell: folding it costs a copy, not a decode). All
 * borrowed. Written by the next journal_flush or journal_sync, durable after the next
 * journal_sync. Allowed while frozen. */
void journal_add(struct journal *j, const char *repo, int64_t id, const json_t *set,
		 const char *raw_col, const char *raw);
/* Write pending entries, without fsync (page cache only). 0, or a negative errno: the file
 * is cut back to its last written entry and the journal is broken from then on. */
int journal_flush(struct journal *j, struct error *err);
/* Write pending entries and fsync. 0, or a negative errno (as journal_flush). */
int journal_sync(struct journal *j, struct error *err);
/* Bytes on disk and pending. */
uint64_t journal_bytes(const struct journal *j);

/* csvstore_patch_fn: apply the run's journal entries, oldest first, to the row; frozen and
 * later ones alike. It reads the file: write pending entries first (journal_sync). For a
 * synchronous fold, on the loop. */
bool journal_patch(void *journal, uint32_t repo, int64_t id, struct record *row);
/* After every entry was folded into the CSV: empty the journal. -EALREADY while frozen. */
int journal_clear(struct journal *j, struct error *err);

/* A fold in the thread pool:
 *   journal_freeze        (loop)    writes pending entries and freezes every entry written
 *                                   so far; fills a read-only view of them for a worker;
 *   journal_view_patch    (worker)  the csvstore_patch_fn of csvstore_rewrite_work;
 *   journal_has_newer     (loop)    the csvstore_newer_fn of csvstore_rewrite_commit;
 *   journal_drop_frozen   (loop)    after the commit: the journal keeps only the entries
 *                                   added since the freeze;
 *   journal_thaw          (loop)    instead, when the rewrite failed: the frozen entries
 *                                   become ordinary ones again, for a later fold;
 *   journal_view_release  (worker)  after drop or thaw: closes the view's fd. Its close
 *                                   is the last one on the replaced journal, whose blocks
 *                                   are freed then: better in the pool than on the loop.
 * Freeze the journal before the CSV snapshot (csvstore_rewrite_prepare), in the same loop
 * tick: every frozen entry then refers to a row inside the snapshot. Its row is appended
 * before a run is journaled, and a frozen entry whose row is missing is dropped unapplied.
 *
 * Crash safety: the journal file is only ever appended to, until journal_drop_frozen
 * replaces it by rename. A kill before that rename leaves every entry in the journal; the
 * next start replays all of them onto the CSV, committed or not. Replaying an entry that
 * was already folded is harmless: an entry sets absolute values (never increments), and a
 * run's entries are applied oldest first along its "prev" chain, so the result is the
 * values of its newest entries either way. */
struct journal_view {
	const struct runindex *map; /* the journal's frozen_map, borrowed until drop or thaw
				     * (release does not touch it) */
	int fd;                     /* the view's own, read-only (pread only) */
	off_t end;                  /* entries below this offset */
};
int journal_freeze(struct journal *j, struct journal_view *v, struct error *err);
bool journal_view_patch(void *view, uint32_t repo, int64_t id, struct record *row);
void journal_view_release(struct journal_view *v);
bool journal_has_newer(void *journal, const char *repo, int64_t id);
/* Rewrite the journal with the entries added since the freeze (temporary file, fsync,
 * rename, folder fsync; their "prev" offsets adjusted), none at all when there are none.
 * 0, or a negative errno: the journal is then thawed, still holding everything. */
int journal_drop_frozen(struct journal *j, struct error *err);
void journal_thaw(struct journal *j);

#endif
