/* journal.h - an append-only, fsynced log of column updates not yet folded into the CSV:
 * what makes phase 2 results durable the moment they arrive without rewriting the CSV. */
#ifndef GHAMINER_JOURNAL_H
#define GHAMINER_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h"
#include "runindex.h"

struct journal {
	char *path;
	int fd;
	off_t size;          /* bytes on disk */
	struct buf pending;  /* appended, not yet written */
	struct runindex map; /* (repo, id) → 1 + offset of the run's latest entry */
	size_t entries;
	uint64_t bytes_written;
	bool broken; /* a write failed: reported once, nothing more is written */
};

/* Open <csv>.journal, replaying what an earlier process left (a torn last line is cut with
 * a warning). 0, or an exit code after printing the error. */
int journal_open(struct journal *j, const char *csv_path);
void journal_close(struct journal *j);

/* Record new values for some columns of a run: set maps column names to CSV cell strings
 * (job_details may be a JSON array), and raw, when not NULL, is the cell text of column
 * raw_col, stored as is (for a large cell: folding it costs a copy, not a decode). All
 * borrowed. Durable after the next journal_sync. */
void journal_add(struct journal *j, const char *repo, int64_t id, const json_t *set,
		 const char *raw_col, const char *raw);
/* Write pending entries and fsync. 0, or -1 after printing the error. */
int journal_sync(struct journal *j);
/* Bytes on disk and pending. */
uint64_t journal_bytes(const struct journal *j);

/* csvstore_patch_fn: apply the run's journal entries, oldest first, to the row. */
bool journal_patch(void *journal, uint32_t repo, int64_t id, struct record *row);
/* After the entries were folded into the CSV: empty the journal. */
int journal_clear(struct journal *j);

#endif
