/* serve_index.h - where each repository's rows lie in the CSV, in order (ghaminer serve's
 * reads go by it instead of scanning the file). */
#ifndef GHAMINER_SERVE_INDEX_H
#define GHAMINER_SERVE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "csvstore.h"
#include "error.h"
#include "runindex.h"

/* A row's bytes in the current file. */
struct serve_span {
	uint64_t off;
	uint32_t len; /* with the terminator */
};

struct serve_index_rows {
	struct serve_span *rows; /* in file order: rows[i] is the repository's i-th row */
	size_t n, cap;
};

struct serve_index {
	struct runindex places;         /* (repository, run id) → its row's place; names
					 * match without case */
	struct serve_index_rows *repos; /* by repository id */
	size_t nrepos;
	int generation;                 /* the file's (cs->rewrites) when indexed; -1: none */
	off_t to;                       /* bytes of it indexed */
	int rebuilds;                   /* after folds, by reading the file (for the tests) */
	int adopted;                    /* ... from the rewrite's spans */
};

void serve_index_init(struct serve_index *ix);
void serve_index_release(struct serve_index *ix);
/* Catch up with the CSV: index the rows appended since, or every row again when a fold
 * replaced the file (from cs->spans when the rewrite kept them for this file, taking
 * them). On the loop, through the store's fd. 0, or a negative errno with err filled. */
int serve_index_update(struct serve_index *ix, struct csvstore *cs, struct error *err);
/* A repository's id in the index (any case), or -1 when the CSV has no row of it. */
int serve_index_repo(const struct serve_index *ix, const char *full_name);
/* How many rows the repository has; the byte range of its i-th (NULL past the end). */
size_t serve_index_count(const struct serve_index *ix, int repo);
const struct serve_span *serve_index_span(const struct serve_index *ix, int repo, size_t i);
/* The place of run id among its repository's rows, or -1. */
long serve_index_place(const struct serve_index *ix, int repo, int64_t id);

#endif
