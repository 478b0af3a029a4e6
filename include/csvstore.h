/* csvstore.h - builds_features.csv as the database: lock, repair, index, append pages,
 * rewrite columns durably. */
#ifndef GHAMINER_CSVSTORE_H
#define GHAMINER_CSVSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

struct csvstore {
	char *path;
	int fd;      /* O_APPEND, -1 when closed */
	int lock_fd; /* holds flock on <path>.lock */
	char **header;
	size_t ncols;
	int *map;                   /* file column → record column, or -1 */
	int col_of[RECORD_NCOLS];   /* record column → file column */
	struct runindex index;      /* (repo, id) → RX_* flags */
	off_t size;
	uint64_t bytes_written;     /* appends and rewrites, for the durability budget */
	bool repaired;              /* a torn last row was cut: some run is missing */
	int rewrites;
};

/* Lock, create (header) or load the CSV: repair a torn last line (with a warning), index
 * every run. 0, or an exit code after printing what is wrong and what to do. */
int csvstore_open(struct csvstore *cs, const char *path);
void csvstore_close(struct csvstore *cs);

/* Append rows, fsync. On failure the file is cut back to its previous size (never torn);
 * returns 0 or -1 after printing the error. */
int csvstore_append(struct csvstore *cs, struct record *const *recs, size_t n);

/* Rewrite the file through patch: called for every data row with its values (which it may
 * change; return true when it did). Written to a temporary file in the same folder, fsynced
 * and renamed over the original. 0, or -1 after printing the error (the original is kept). */
typedef bool (*csvstore_patch_fn)(void *ctx, uint32_t repo, int64_t id, struct record *row);
int csvstore_rewrite(struct csvstore *cs, csvstore_patch_fn patch, void *ctx);

/* The index value a row's values call for (flags and updated_at). */
uint64_t csvstore_row_flags(const struct record *row);

#endif
