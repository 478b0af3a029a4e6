/* csvstore.h - builds_features.csv as the database: lock, repair, index, append pages,
 * rewrite columns durably. Errors are values (struct error); nothing here prints advice. */
#ifndef GHAMINER_CSVSTORE_H
#define GHAMINER_CSVSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "record.h"
#include "runindex.h"

/* Index value of a run row: flags in the low byte, updated_at (epoch seconds, 32 bits) above
 * it, and the created_at day (days since 1970, 24 bits) on top: a listing page tells whether
 * a known run changed, and a pass knows which recent days hold runs, without the CSV. */
enum {
	RX_HAS_JOBS = 1 << 0,   /* total_jobs is filled */
	RX_INCOMPLETE = 1 << 1, /* status was not "completed" when written */
	RX_FAILED = 1 << 2,     /* phase 2 gave up on it in this process */
	RX_SEEN = 1 << 3,       /* listed in this pass (in memory only) */
	RX_QUEUED = 1 << 4,     /* handed to phase 2 in this pass (in memory only) */
	RX_FLAGS = 0xff,
};
#define RX_UPDATED(v) ((int64_t)(((v) >> 8) & 0xffffffffu))
#define RX_CREATED_DAY(v) ((int64_t)((v) >> 40))

/* Where a rewrite put the data rows it wrote, in file order (csvstore.keep_spans): what
 * ghaminer serve's row index is rebuilt from after a fold, instead of reading the file. */
struct csvstore_span {
	uint64_t off;
	uint32_t len;   /* with the terminator */
	uint32_t repo;  /* an index into names */
	int64_t id;
};
struct csvstore_spans {
	struct csvstore_span *v;
	size_t n, cap;
	char **names;   /* repository names (owned) */
	size_t nnames;
	off_t end;      /* the rows rewritten end here; those copied after them (appended
			 * meanwhile) are not in v */
	int generation; /* the file they describe (cs->rewrites), -1: none */
};
void csvstore_spans_release(struct csvstore_spans *sp);

struct csvstore {
	char *path;
	int fd;      /* O_APPEND, -1 when closed */
	int lock_fd; /* holds flock on <path>.lock */
	char **header;
	size_t ncols;
	int *map;                   /* file column → record column, or -1 */
	int col_of[RECORD_NCOLS];   /* record column → file column */
	struct runindex index;      /* (repo, id) → RX_* flags */
	off_t size;                 /* whole rows written (in the page cache at least) */
	off_t durable;              /* whole rows known fsynced: durable <= size */
	uint64_t bytes_written;     /* appends and rewrites, for the durability budget */
	bool repaired;              /* a torn last row was cut: some run is missing */
	bool rewriting;             /* a split rewrite is between prepare and commit */
	bool formula_guard;         /* csv_formula_guard: see record_formula_risk */
	int rewrites;               /* also the file's generation: a rewrite replaces the inode */
	bool keep_spans;            /* rewrites note where each row went (in spans) */
	struct csvstore_spans spans; /* the last rewrite's, until its reader takes them */
};

/* Lock, create (header) or load the CSV: repair a torn last line (with a warning), index
 * every run. 0, or a negative errno with err filled:
 *   -EBUSY   another process holds the lock ("'x.csv' is in use by another ghaminer (pid N)");
 *   -EINVAL  not a ghaminer CSV (a column missing), or damaged (not CSV, a short row);
 *   -errno   of the failing call otherwise (-EACCES, -ENOSPC, -EFBIG, -EIO...).
 * csvstore_close is safe after a failure. */
int csvstore_open(struct csvstore *cs, const char *path, struct error *err);
void csvstore_close(struct csvstore *cs);
/* Take <path>.lock (flock, our pid written in it) as csvstore_open does, for another
 * writer of the CSV (a merge into it). 0 with *lock_fd open (close it to release), or a
 * negative errno with err filled (-EBUSY: "'x.csv' is in use by another ghaminer (pid N)"). */
int csvstore_lock(const char *path, int *lock_fd, struct error *err);

/* When an error happened, for csvstore_advice: opening the store, or while mining (when
 * what was collected is kept and a run resumes). */
enum csvstore_when { CSVSTORE_OPENING, CSVSTORE_MINING };
/* What the user can do about an error of this module or of journal.c, for the CLI to print
 * after the message ("%s; %s"). A static string, never NULL. */
const char *csvstore_advice(int code, enum csvstore_when when);

/* Durability contract of appends.
 * csvstore_append writes the rows and fsyncs: durable on return.
 * csvstore_append_nosync only writes them: they are in the page cache, visible to every
 * reader (a rewrite snapshot included), and cs->size counts them, but a power loss may
 * lose them until a csvstore_sync_* round covering them (cs->durable >= that size) ends.
 * What must wait for that fsync: the sync state's save (it claims ranges as listed; a lost
 * row in a proven range would never be listed again). What need not: the journal entries
 * of those runs. A journaled run whose row was lost is simply not patched (journal_patch
 * and journal_view_patch are only called for rows present in the CSV) and its entries are
 * dropped by the next fold; the run is listed and collected again. On a write failure the
 * file is cut back to cs->size, never torn. 0, or a negative errno with err filled. */
int csvstore_append(struct csvstore *cs, struct record *const *recs, size_t n,
		    struct error *err);
int csvstore_append_nosync(struct csvstore *cs, struct record *const *recs, size_t n,
			   struct error *err);

/* An fsync of the appended rows that can run in a worker thread, once for all the pages
 * appended in a loop iteration:
 *   csvstore_sync_prepare (loop) → csvstore_sync_work (any thread) → csvstore_sync_done
 *   (loop).
 * Work touches only the struct: an fd of its own (a dup, still valid when a rewrite commit
 * reopens the CSV meanwhile), which it closes, and a copy of the path for its message. */
struct csvstore_sync {
	int fd;         /* dup of the append fd; -1 once work closed it */
	off_t size;     /* rows up to here are durable once work returns 0 */
	int generation; /* cs->rewrites at prepare: offsets of another file mean nothing */
	int rc;         /* work's result */
	char *path;
};
int csvstore_sync_prepare(struct csvstore *cs, struct csvstore_sync *s, struct error *err);
int csvstore_sync_work(struct csvstore_sync *s, struct error *err);
/* Record what work made durable (when it succeeded) and release s. */
void csvstore_sync_done(struct csvstore *cs, struct csvstore_sync *s);

/* Rewrite the file through patch: called for every data row with its values (which it may
 * change; return true when it did). Written to a temporary file in the same folder, fsynced
 * and renamed over the original. repo is the run's repository id in cs->index, or
 * CSVSTORE_NO_REPO for a row whose repository the index does not know. */
#define CSVSTORE_NO_REPO UINT32_MAX
typedef bool (*csvstore_patch_fn)(void *ctx, uint32_t repo, int64_t id, struct record *row);

/* Whether a run has values newer than those a rewrite applied (journaled after the
 * snapshot): the loop keeps its index flags current as it journals them, so a commit leaves
 * them alone. */
typedef bool (*csvstore_newer_fn)(void *ctx, const char *repo, int64_t id);

/* A rewrite in steps, so that the heavy part (reading, patching and writing the whole file:
 * 3 to 5 s for 250 MB here) runs in libuv's thread pool while the loop keeps appending:
 *   csvstore_rewrite_prepare  (loop)    the snapshot: the CSV's size now, copies of the
 *                                       column map and repository names;
 *   csvstore_rewrite_work     (worker)  reads [0, size) through an fd of its own, patches,
 *                                       writes <csv>.tmp.XXXXXX and fsyncs it; touches
 *                                       only snap and what patch reads (which must be
 *                                       immutable meanwhile: a frozen journal view);
 *   csvstore_rewrite_commit   (loop)    appends the rows written since the snapshot to the
 *                                       temporary file, fsyncs it, renames it over the
 *                                       CSV, fsyncs the folder, reopens the append fd and
 *                                       updates the index flags of the patched runs
 *                                       (except those newer says changed meanwhile);
 *   csvstore_rewrite_release  (worker)  closes the old file and frees snap.
 * Release in the pool: the old file's last open fd is snap's, and its last close frees the
 * blocks of the replaced file, which takes 40 to 140 ms for 250 MB on ext4.
 * Between prepare and commit, appends are allowed; another rewrite is not (-EALREADY).
 * A failed work is followed by csvstore_rewrite_abandon (loop), a failed commit abandons by
 * itself; release follows in every case. A kill at any step leaves the CSV either as it was
 * or as committed, and the temporary file is removed by the next csvstore_open. */
struct csvstore_flag_update {
	int64_t id;
	uint64_t flags;
	uint32_t repo;
};

struct csvstore_snapshot {
	/* Set by prepare, read-only for work. */
	char *path;
	off_t size;      /* bytes of whole rows the rewrite reads */
	size_t ncols;
	int *map;        /* copy of cs->map */
	bool formula_guard;
	char **repos;    /* copy of cs->index's repository names: ids as in the index */
	size_t nrepos;
	int mode;        /* permissions of the CSV, for the temporary file */
	bool keep_spans; /* copy of cs->keep_spans */
	/* Filled by work, read by commit. */
	int in_fd;       /* work's own fd on the CSV it read: the old file after the commit */
	char *tmp;       /* the temporary file, once work wrote and fsynced it */
	int tmp_fd;
	off_t tmp_size;
	struct csvstore_flag_update *upd; /* runs patch changed, with their new flags */
	size_t nupd, capupd;
	uint64_t bytes_written;
	struct csvstore_spans spans; /* where each row went, when keep_spans; generation -1
				      * when a row could not be noted */
};
int csvstore_rewrite_prepare(struct csvstore *cs, struct csvstore_snapshot *snap,
			     struct error *err);
int csvstore_rewrite_work(struct csvstore_snapshot *snap, csvstore_patch_fn patch, void *ctx,
			  struct error *err);
int csvstore_rewrite_commit(struct csvstore *cs, struct csvstore_snapshot *snap,
			    csvstore_newer_fn newer, void *newer_ctx, struct error *err);
/* Give up a rewrite after prepare (and maybe work): remove its temporary file. The CSV is as
 * it was; another rewrite may begin. Release snap after. */
void csvstore_rewrite_abandon(struct csvstore *cs, struct csvstore_snapshot *snap);
/* Close snap's files and free it, on any thread: it touches nothing but snap. */
void csvstore_rewrite_release(struct csvstore_snapshot *snap);

/* The steps in a row, on the calling thread: for the start-up and final folds, when nothing
 * else runs. 0, or a negative errno with err filled (the original is kept). */
int csvstore_rewrite(struct csvstore *cs, csvstore_patch_fn patch, void *ctx,
		     struct error *err);

/* What makes a row a data row for csvstore_spans and for a rewrite's notes alike: a
 * repository name (shorter than CSVSTORE_REPO_MAX; GitHub's are at most 140 bytes) and a
 * whole positive run id (shorter than CSVSTORE_ID_MAX). true with *id set. */
#define CSVSTORE_REPO_MAX 256
#define CSVSTORE_ID_MAX 24
bool csvstore_row_key(const char *repo, const char *id, int64_t *out);
/* Where a data row lies (ghaminer serve's index): its repository and run id, its first
 * byte and its length with the terminator. A non-zero return stops the scan. */
typedef int (*csvstore_span_fn)(void *ctx, const char *repo, int64_t id, off_t off,
				size_t len);
/* Call fn for every complete data row that starts at or after from (a row boundary, 0 for
 * the whole file) and ends before cs->size, in file order; *end gets the offset after the
 * last of them (where to go on from). 0, a negative errno with err filled, or fn's
 * non-zero. The header and rows without a repository or a numeric id are skipped. */
int csvstore_spans(struct csvstore *cs, off_t from, csvstore_span_fn fn, void *ctx,
		   off_t *end, struct error *err);
/* Read the row of len bytes at off (from csvstore_spans) into rec (released by the caller,
 * also on error). 0, or a negative errno with err filled. */
int csvstore_read_span(struct csvstore *cs, off_t off, size_t len, struct record *rec,
		       struct error *err);
/* The col-th field (from 0) of one CSV row (len bytes, no terminator), unquoted and without
 * the blanks (spaces, tabs) around it, as libcsv reads it, into out (cap bytes with the
 * NUL). false when the row has fewer fields or the field does not fit. */
bool csvspan_field(const char *row, size_t len, size_t col, char *out, size_t cap);
/* The index value a row's values call for (flags and updated_at). */
uint64_t csvstore_row_flags(const struct record *row);

#endif
