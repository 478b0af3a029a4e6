/* merge.h - shard CSVs (and their sync states) into one: every run once, in bounded
 * memory, written durably. Errors are values; warnings (a torn row dropped, a journal not
 * folded) are printed, because they are news, not failures. */
#ifndef GHAMINER_MERGE_H
#define GHAMINER_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct merge_opts {
	const char *out;          /* the merged CSV; its state is <out>.state */
	const char *const *in;    /* the inputs, oldest first: on a tie the later one wins */
	size_t nin;
	size_t mem_limit;         /* bytes of rows sorted in memory at once; 0: the default */
	const char *tmpdir;       /* sorted runs go there; NULL: the output's folder */
};

struct merge_stats {
	uint64_t bytes_in;        /* of the inputs, headers included */
	uint64_t rows_in;         /* data rows read */
	uint64_t rows_out;        /* runs written */
	uint64_t runs_with_jobs;  /* ... whose jobs were collected */
	uint64_t jobs;            /* sum of total_jobs */
	uint64_t repos;           /* distinct repositories */
	uint64_t dropped;         /* rows with no run id, not merged */
	size_t sorted_inputs;     /* inputs already in key order: read once, never sorted */
	size_t spills;            /* sorted runs written to temporary files */
};

/* Merge o->in into o->out (the rows sorted by repository, then run id) and their sync
 * states into <out>.state. Keeps, of the rows of one run, the one whose jobs were
 * collected, then the most recently updated, then the later input's. The output is
 * written to a temporary file, fsynced and renamed; on any error nothing is left. 0, or a
 * negative errno with err filled:
 *   -ENOENT  an input is missing;
 *   -EINVAL  an input's header differs from the first's (the columns are named), it is not
 *            a ghaminer CSV or not valid CSV, or the output is one of the inputs;
 *   -EBUSY   a ghaminer is writing the output;
 *   -errno   of a failing read or write otherwise. */
int merge_files(const struct merge_opts *o, struct merge_stats *stats, struct error *err);

#endif
