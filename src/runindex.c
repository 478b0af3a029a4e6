/* runindex.c - a compact open-addressing map (repository, run id) → 64-bit value. */
#include "runindex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

void runindex_init(struct runindex *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void runindex_release(struct runindex *ix)
{
	for (size_t i = 0; i < ix->nrepos; i++)
		free(ix->repos[i]);
	free(ix->repos);
	free(ix->names);
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* FNV-1a over the lower-cased name: names compare without case, as GitHub's do. */
static size_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		h ^= (uint64_t)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		h *= 0x100000001b3ull;
	}
	return (size_t)h;
}

/* The slot of name in ix->names: its entry, or the empty one where it would go. */
static uint32_t *name_slot(const struct runindex *ix, const char *name)
{
	size_t mask = ix->names_cap - 1;
	for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
		uint32_t *e = &ix->names[i];
		if (*e == 0 || strcasecmp(ix->repos[*e - 1], name) == 0)
			return e;
	}
}

static void names_grow(struct runindex *ix)
{
	free(ix->names);
	ix->names_cap = ix->names_cap ? ix->names_cap * 2 : 64;
	ix->names = xcalloc(ix->names_cap, sizeof(*ix->names));
	for (size_t i = 0; i < ix->nrepos; i++)
		*name_slot(ix, ix->repos[i]) = (uint32_t)i + 1;
}

int runindex_repo(struct runindex *ix, const char *full_name, bool add)
{
	uint32_t *e;
	if (ix->names_cap) {
		e = name_slot(ix, full_name);
		if (*e)
			return (int)*e - 1;
	}
	if (!add)
		return -1;
	ix->repos = xrealloc(ix->repos, (ix->nrepos + 1) * sizeof(*ix->repos));
	ix->repos[ix->nrepos] = xstrdup(full_name);
	ix->nrepos++;
	/* At most half full, so that probes stay short. */
	if (ix->nrepos * 2 > ix->names_cap)
		names_grow(ix);
	else
		*name_slot(ix, full_name) = (uint32_t)ix->nrepos;
	return (int)ix->nrepos - 1;
}

static size_t hash(uint32_t repo, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull ^ ((uint64_t)repo << 32 | repo);
	h ^= h >> 29;
	return (size_t)(h * 0xBF58476D1CE4E5B9ull >> 17);
}

static struct runindex_slot *find(const struct runindex *ix, uint32_t repo, int64_t id)
{
	size_t mask = ix->cap - 1;
	for (size_t i = hash(repo, id) & mask;; i = (i + 1) & mask) {
		struct runindex_slot *s = &ix->slots[i];
		if (s->run_id == 0 || (s->run_id == id && s->repo == repo))
			return s;
	}
}

static void grow(struct runindex *ix)
{
	struct runindex_slot *old = ix->slots;
	size_t oldcap = ix->cap;
	ix->cap = oldcap ? oldcap * 2 : 1024;
	ix->slots = xcalloc(ix->cap, sizeof(*ix->slots));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].run_id)
			*find(ix, old[i].repo, old[i].run_id) = old[i];
	free(old);
}

uint64_t *runindex_get(const struct runindex *ix, uint32_t repo, int64_t run_id)
{
	if (!ix->cap || run_id == 0)
		return NULL;
	struct runindex_slot *s = find(ix, repo, run_id);
	return s->run_id ? &s->value : NULL;
}

uint64_t *runindex_put(struct runindex *ix, uint32_t repo, int64_t run_id, bool *added)
{
	if ((ix->count + 1) * 4 > ix->cap * 3)
		grow(ix);
	struct runindex_slot *s = find(ix, repo, run_id);
	*added = s->run_id == 0;
	if (*added) {
		s->run_id = run_id;
		s->repo = repo;
		s->value = 0;
		ix->count++;
	}
	return &s->value;
}

bool runindex_next(const struct runindex *ix, size_t *pos, const struct runindex_slot **slot)
{
	while (*pos < ix->cap) {
		const struct runindex_slot *s = &ix->slots[(*pos)++];
		if (s->run_id) {
			*slot = s;
			return true;
		}
	}
	return false;
}
