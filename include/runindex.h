/* runindex.h - a compact open-addressing map (repository, run id) → 64-bit value.
 * 24 bytes a run: what lets a 100,000-run CSV resume in a few MB. */
#ifndef GHAMINER_RUNINDEX_H
#define GHAMINER_RUNINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct runindex_slot {
	int64_t run_id; /* 0 = empty (GitHub ids start at 1) */
	uint64_t value;
	uint32_t repo;
};

struct runindex {
	struct runindex_slot *slots;
	size_t cap; /* a power of two */
	size_t count;
	char **repos; /* interned repository names, index = repo id */
	size_t nrepos;
	uint32_t *names; /* open addressing over repos: 1 + repo id, 0 = empty; names_cap a
			  * power of two, so a name is found in O(1) among thousands */
	size_t names_cap;
};

void runindex_init(struct runindex *ix);
void runindex_release(struct runindex *ix);
/* The id of a repository name, interning it when add is true; -1 when absent. */
int runindex_repo(struct runindex *ix, const char *full_name, bool add);
/* The slot's value pointer, or NULL. */
uint64_t *runindex_get(const struct runindex *ix, uint32_t repo, int64_t run_id);
/* Insert (value 0) or find; returns the value pointer (valid until the next put); *added
 * tells which. run_id must not be 0, the mark of an empty slot. */
uint64_t *runindex_put(struct runindex *ix, uint32_t repo, int64_t run_id, bool *added);

/* Iterate: for (size_t i = 0; runindex_next(ix, &i, &slot); ) ... */
bool runindex_next(const struct runindex *ix, size_t *pos, const struct runindex_slot **slot);

#endif
