/* test_serve_index.c - where each repository's rows lie: fields split as libcsv would,
 * rows indexed in file order per repository (names in any case), extended after appends,
 * rebuilt after a rewrite with the same places (from the file, or from where the rewrite
 * says it put each row), and each row read back from its range. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "csvstore.h"
#include "serve_index.h"

static char dir[] = "/tmp/ghaminer-serve-index-XXXXXX";

static void test_field(void)
{
	char out[32];
	const char *row = "o/r,12,\"a, \"\"b\"\"\",,x";
	size_t n = strlen(row);
	CHECK(csvspan_field(row, n, 0, out, sizeof(out)));
	CHECK_STR(out, "o/r");
	CHECK(csvspan_field(row, n, 1, out, sizeof(out)));
	CHECK_STR(out, "12");
	CHECK(csvspan_field(row, n, 2, out, sizeof(out)));
	CHECK_STR(out, "a, \"b\"");
	CHECK(csvspan_field(row, n, 3, out, sizeof(out)));
	CHECK_STR(out, "");
	CHECK(csvspan_field(row, n, 4, out, sizeof(out)));
	CHECK_STR(out, "x");
	CHECK(!csvspan_field(row, n, 5, out, sizeof(out)));
	/* Too long for the room given: refused, not cut. */
	CHECK(!csvspan_field(row, n, 2, out, 4));
	/* Blanks around a field are not part of it (libcsv's reading). */
	const char *blanks = "\t o/r ,  \"q\" ,x";
	CHECK(csvspan_field(blanks, strlen(blanks), 0, out, sizeof(out)));
	CHECK_STR(out, "o/r");
	CHECK(csvspan_field(blanks, strlen(blanks), 1, out, sizeof(out)));
	CHECK_STR(out, "q");
}

static struct record *mkrec(const char *repo, const char *id, const char *status)
{
	struct record *r = calloc(1, sizeof(*r));
	record_set(r, COL_REPO, repo);
	record_set(r, COL_ID_BUILD, id);
	record_set(r, COL_STATUS, status);
	return r;
}

/* Append a row and index it, as the store's sessions do. */
static void append(struct csvstore *cs, const char *repo, const char *id)
{
	struct record *r = mkrec(repo, id, "completed");
	bool added;
	runindex_put(&cs->index, (uint32_t)runindex_repo(&cs->index, repo, true), atoll(id),
		     &added);
	CHECK(csvstore_append(cs, &r, 1, NULL) == 0);
	record_release(r);
	free(r);
}

/* The status of the repository's row at place, read from its range. */
static char *status_at(struct serve_index *ix, struct csvstore *cs, int repo, size_t place)
{
	const struct serve_span *sp = serve_index_span(ix, repo, place);
	struct record rec;
	char *status = NULL;
	if (sp && csvstore_read_span(cs, (off_t)sp->off, sp->len, &rec, NULL) == 0)
		status = rec.v[COL_STATUS] ? strdup(rec.v[COL_STATUS]) : NULL;
	if (sp)
		record_release(&rec);
	return status;
}

static bool mark_14(void *ctx, uint32_t repo, int64_t id, struct record *row)
{
	(void)ctx, (void)repo;
	if (id != 14)
		return false;
	record_set(row, COL_STATUS, "a much longer status than before, to move every offset");
	return true;
}

static void test_index(void)
{
	struct csvstore cs;
	struct serve_index ix;
	char *path = xasprintf("%s/i.csv", dir), *s;
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	append(&cs, "o/a", "14");
	append(&cs, "o/b", "30");
	append(&cs, "o/a", "13");
	serve_index_init(&ix);
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	int a = serve_index_repo(&ix, "O/A"), b = serve_index_repo(&ix, "o/b");
	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK_INT(serve_index_repo(&ix, "o/none"), -1);
	CHECK_INT(serve_index_count(&ix, a), 2);
	CHECK_INT(serve_index_count(&ix, b), 1);
	CHECK_INT(serve_index_place(&ix, a, 14), 0);
	CHECK_INT(serve_index_place(&ix, a, 13), 1);
	CHECK_INT(serve_index_place(&ix, a, 30), -1);
	CHECK(serve_index_span(&ix, a, 2) == NULL);

	/* Appended rows are indexed by the next update, after the others. */
	append(&cs, "o/a", "12");
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	CHECK_INT(serve_index_count(&ix, a), 3);
	CHECK_INT(serve_index_place(&ix, a, 12), 2);
	CHECK_INT(ix.rebuilds, 0);

	/* A rewrite moves every row after the first: the index is built again, with the same
	 * places and ranges of the new file, by reading it. */
	off_t before = (off_t)serve_index_span(&ix, a, 2)->off;
	CHECK(csvstore_rewrite(&cs, mark_14, NULL, NULL) == 0);
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	CHECK_INT(ix.rebuilds, 1);
	CHECK_INT(ix.adopted, 0);
	CHECK_INT(serve_index_place(&ix, a, 13), 1);
	CHECK((off_t)serve_index_span(&ix, a, 2)->off > before);
	s = status_at(&ix, &cs, a, 0);
	CHECK_STR(s, "a much longer status than before, to move every offset");
	free(s);
	s = status_at(&ix, &cs, a, 2);
	CHECK_STR(s, "completed");
	free(s);

	/* With keep_spans the rewrite says where each row went, and a row appended after it
	 * is indexed from the file: the same index as reading it all. */
	struct serve_index read;
	cs.keep_spans = true;
	CHECK(csvstore_rewrite(&cs, mark_14, NULL, NULL) == 0);
	append(&cs, "o/b", "31");
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	CHECK_INT(ix.adopted, 1);
	CHECK_INT(ix.rebuilds, 1);
	CHECK_INT(cs.spans.generation, -1); /* taken */
	serve_index_init(&read);
	CHECK(serve_index_update(&read, &cs, NULL) == 0);
	for (int r = 0; r < 2; r++) {
		int ra = serve_index_repo(&ix, r ? "o/b" : "o/a");
		int rb = serve_index_repo(&read, r ? "o/b" : "o/a");
		CHECK_INT(serve_index_count(&ix, ra), serve_index_count(&read, rb));
		for (size_t i = 0; i < serve_index_count(&read, rb); i++)
			CHECK(serve_index_span(&ix, ra, i)->off == serve_index_span(&read, rb, i)->off &&
			      serve_index_span(&ix, ra, i)->len == serve_index_span(&read, rb, i)->len);
	}
	CHECK_INT(serve_index_count(&ix, b), 2);
	CHECK_INT(serve_index_place(&ix, b, 31), 1);
	serve_index_release(&read);

	/* A row the store's index does not know cannot be noted: the rewrite gives its spans
	 * up, and the file is read. */
	struct record *stray = mkrec("o/c", "40", "completed");
	CHECK(csvstore_append(&cs, &stray, 1, NULL) == 0);
	record_release(stray);
	free(stray);
	CHECK(csvstore_rewrite(&cs, mark_14, NULL, NULL) == 0);
	CHECK_INT(cs.spans.generation, -1);
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	CHECK_INT(ix.adopted, 1);
	CHECK_INT(ix.rebuilds, 2);
	CHECK_INT(serve_index_place(&ix, serve_index_repo(&ix, "o/c"), 40), 0);
	serve_index_release(&ix);
	csvstore_close(&cs);
	unlink(path);
	free(path);
}

/* A file saved with CRLF endings (a spreadsheet's): the CR ends each row, as for libcsv. */
static void test_crlf(void)
{
	struct csvstore cs;
	struct serve_index ix;
	char *path = xasprintf("%s/crlf.csv", dir), *s;
	FILE *f = fopen(path, "w");
	fputs("repo,id_build,workflow_id,workflow_name,status,conclusion,created_at,updated_at,"
	      "branch,commit_sha,event,issuer_name,run_number,build_duration,total_jobs,"
	      "job_details\r\no/c,7,,,queued,,,,,,,,,,,\r\no/c,6,,,\"in\r\nprogress\",,,,,,,,,,,\r\n",
	      f);
	fclose(f);
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	serve_index_init(&ix);
	CHECK(serve_index_update(&ix, &cs, NULL) == 0);
	int c = serve_index_repo(&ix, "o/c");
	CHECK_INT(serve_index_count(&ix, c), 2);
	s = status_at(&ix, &cs, c, 1);
	CHECK_STR(s, "in\r\nprogress");
	free(s);
	serve_index_release(&ix);
	csvstore_close(&cs);
	unlink(path);
	free(path);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_field();
	test_index();
	test_crlf();
	return check_done_rmdir(dir);
}
