/* serve_index.c - where each repository's rows lie in the CSV, in order, and a run's place
 * among them: so the API reads a page, not the file, and a late joiner's snapshot goes a
 * few rows at a time. Rows only ever go at the end and a fold keeps their order, so a
 * row's place (its ordinal) survives folds; its byte range does not, and the index is
 * rebuilt after one: from where the rewrite says it put each row, or else by reading the
 * file. */
#include "serve_index.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void serve_index_init(struct serve_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	runindex_init(&ix->places);
	ix->generation = -1;
}

void serve_index_release(struct serve_index *ix)
{
	for (size_t i = 0; i < ix->nrepos; i++)
		free(ix->repos[i].rows);
	free(ix->repos);
	runindex_release(&ix->places);
	memset(ix, 0, sizeof(*ix));
	ix->generation = -1;
}

int serve_index_repo(const struct serve_index *ix, const char *full_name)
{
	/* runindex_repo matches names without case, and only writes when asked to add. */
	return runindex_repo((struct runindex *)&ix->places, full_name, false);
}

/* The id of a repository name, added (with its row list) when new. */
static int intern(struct serve_index *ix, const char *repo)
{
	int r = runindex_repo(&ix->places, repo, true);
	if ((size_t)r >= ix->nrepos) {
		ix->repos = xrealloc(ix->repos, ((size_t)r + 1) * sizeof(*ix->repos));
		memset(ix->repos + ix->nrepos, 0, ((size_t)r + 1 - ix->nrepos) * sizeof(*ix->repos));
		ix->nrepos = (size_t)r + 1;
	}
	return r;
}

static void add_row(struct serve_index *ix, int r, int64_t id, off_t off, size_t len)
{
	struct serve_index_rows *rows = &ix->repos[r];
	bool added;
	if (rows->n == rows->cap) {
		rows->cap = rows->cap ? rows->cap * 2 : 256;
		rows->rows = xrealloc(rows->rows, rows->cap * sizeof(*rows->rows));
	}
	rows->rows[rows->n] = (struct serve_span){(uint64_t)off, (uint32_t)len};
	/* A run listed twice (a CSV joined by hand) keeps its first place. */
	uint64_t *place = runindex_put(&ix->places, (uint32_t)r, id, &added);
	if (added)
		*place = rows->n;
	rows->n++;
}

static int add_span(void *ctx, const char *repo, int64_t id, off_t off, size_t len)
{
	struct serve_index *ix = ctx;
	add_row(ix, intern(ix, repo), id, off, len);
	return 0;
}

/* The rows a rewrite noted as it wrote them (csvstore.keep_spans): no file to read. Taken,
 * so that they are freed at once. */
static void adopt(struct serve_index *ix, struct csvstore *cs)
{
	struct csvstore_spans *sp = &cs->spans;
	int *ids = xcalloc(sp->nnames + 1, sizeof(int));
	for (size_t i = 0; i < sp->nnames; i++)
		ids[i] = -1;
	for (size_t i = 0; i < sp->n; i++) {
		const struct csvstore_span *s = &sp->v[i];
		if (ids[s->repo] < 0)
			ids[s->repo] = intern(ix, sp->names[s->repo]);
		add_row(ix, ids[s->repo], s->id, (off_t)s->off, s->len);
	}
	free(ids);
	ix->to = sp->end;
	ix->adopted++;
	csvstore_spans_release(sp);
}

int serve_index_update(struct serve_index *ix, struct csvstore *cs, struct error *err)
{
	off_t end;
	int rc;
	if (ix->generation != cs->rewrites) {
		/* Another file: same rows in the same order, at other offsets. */
		bool again = ix->generation >= 0;
		int rebuilds = ix->rebuilds, adopted = ix->adopted;
		serve_index_release(ix);
		runindex_init(&ix->places);
		ix->generation = cs->rewrites;
		ix->rebuilds = rebuilds;
		ix->adopted = adopted;
		if (cs->spans.generation == cs->rewrites)
			adopt(ix, cs);
		else
			ix->rebuilds += again;
	}
	if (ix->to >= cs->size)
		return 0;
	rc = csvstore_spans(cs, ix->to, add_span, ix, &end, err);
	if (rc == 0)
		ix->to = end;
	return rc;
}

size_t serve_index_count(const struct serve_index *ix, int repo)
{
	return repo >= 0 && (size_t)repo < ix->nrepos ? ix->repos[repo].n : 0;
}

const struct serve_span *serve_index_span(const struct serve_index *ix, int repo, size_t i)
{
	return i < serve_index_count(ix, repo) ? &ix->repos[repo].rows[i] : NULL;
}

long serve_index_place(const struct serve_index *ix, int repo, int64_t id)
{
	const uint64_t *place = repo >= 0 ? runindex_get(&ix->places, (uint32_t)repo, id) : NULL;
	return place ? (long)*place : -1;
}
