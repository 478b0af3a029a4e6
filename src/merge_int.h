/* merge_int.h - what merge.c (inputs, headers, states, the k-way merge) shares with
 * mergeio.c (items, sorted runs in temporary files, readers). Not for other modules. */
#ifndef GHAMINER_MERGE_INT_H
#define GHAMINER_MERGE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "csvstore_int.h"
#include "error.h"
#include "merge.h"

/* One row as the merge sees it: its key, what decides between two rows of one run, and
 * its CSV line in the output's column order. */
struct merge_item {
	const char *repo;   /* lower case: GitHub names are case-insensitive */
	uint32_t repolen;
	uint32_t linelen;
	int64_t id;
	int64_t updated;    /* updated_at, epoch seconds; 0 when empty */
	uint64_t seq;       /* input << 40 | row: the later wins a tie */
	int64_t jobs;       /* total_jobs, -1 when not collected */
	const char *line;   /* ends with '\n' */
};

/* How an item is stored in a sorted run: this header, the repository, the line. */
struct merge_item_hdr {
	uint32_t repolen, linelen;
	int64_t id, updated, jobs;
	uint64_t seq;
};

int merge_key_cmp(const struct merge_item *a, const struct merge_item *b);
/* Whether a is to be kept rather than b (same key). */
bool merge_better(const struct merge_item *a, const struct merge_item *b);

/* An input CSV: its columns mapped to the output's. */
struct merge_input {
	const char *path;
	int fd;
	off_t size, boundary;   /* boundary: just past the last whole row */
	size_t index;
	size_t ncols;
	int *map;               /* output column j is this input's column map[j] */
	int repo_col, id_col, jobs_col, updated_col; /* in this input's columns */
	uint64_t rows, dropped;
	bool checking;          /* the order check: the key only, no warnings yet */
	bool torn;              /* a torn last row was left out */
	bool verify;            /* its order was checked in part: the merge checks the rest */
	bool out_of_order;      /* ... and found a row out of order */
	struct buf line, repo;  /* scratch for the item made of a row */
};

/* Make an item of a parsed data row (rowno from 1). 0, 1 when the row has no run id
 * (dropped with a warning), or -EINVAL with err filled when it has the wrong field count. */
int merge_row_item(struct merge_input *in, struct row *row, uint64_t rowno,
		   struct merge_item *it, struct error *err);

/* Rows gathered in memory up to a limit, then sorted and written to an unlinked
 * temporary file: a sorted run. */
struct merge_spill {
	char *arena;
	size_t len, cap;
	size_t *off;
	size_t n, capn;
};
void merge_spill_init(struct merge_spill *s, size_t cap);
void merge_spill_release(struct merge_spill *s);
/* Add a copy of it; false when it does not fit (write the spill first). An item larger
 * than the whole arena grows it. */
bool merge_spill_add(struct merge_spill *s, const struct merge_item *it);
/* Sort and write what was added to a new temporary file in dir (unlinked at once: a crash
 * leaves nothing); *fd is then its fd, positioned at 0. Empties the spill. */
int merge_spill_write(struct merge_spill *s, const char *dir, int *fd, struct error *err);

/* A source of items in key order: a sorted run, or an input CSV already in key order. */
struct merge_source {
	struct merge_item cur;
	bool eof;
	int fd;                   /* owned for a run; the input's for a CSV */
	char *buf;                /* a run's read buffer */
	size_t pos, len, cap;
	struct merge_input *in;   /* a CSV source's input, else NULL */
	struct merge_csv *csv;
	struct buf prev_repo;     /* the key before, for an input being verified */
	struct merge_item prev;
	bool have_prev;
};
void merge_source_run(struct merge_source *s, int fd);
void merge_source_csv(struct merge_source *s, struct merge_input *in);
/* Step to the next item (s->cur, valid until the next call), or s->eof. 0, or a negative
 * errno with err filled: -EAGAIN when an input being verified is out of key order after
 * all (its out_of_order set). */
int merge_source_next(struct merge_source *s, struct error *err);
void merge_source_release(struct merge_source *s);

/* A new temporary file in dir, already unlinked. */
int merge_temp_file(const char *dir, int *fd, struct error *err);
/* Append an item to a sorted run being written through out (flushed at 1 MB). */
int merge_item_write(int fd, struct buf *out, const struct merge_item *it);

/* Where merged items go: the output CSV (counted in stats) or a sorted run. */
struct merge_sink {
	int fd;
	bool csv;
	struct buf out;
	struct buf last_repo;      /* for counting repositories */
	struct merge_stats *stats;
};
/* Merge n sources into k, keeping the best row of each run (merge_better); writes what k
 * buffered. Releases the sources. 0, or a negative errno with err filled. */
int merge_sources(struct merge_source *src, size_t n, struct merge_sink *k,
		  struct error *err);

#endif
