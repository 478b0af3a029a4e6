/* fuzz_csv.c - an existing builds_features.csv as csvstore finds it: open (torn-tail
 * repair, index), the rows by their byte ranges (serve's index) read back through libcsv,
 * a rewrite through a patch, and a second open. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csvstore.h"
#include "fuzz.h"

/* Sets total_jobs of every odd run, as a fold of journaled jobs would. */
static bool patch(void *ctx, uint32_t repo, int64_t id, struct record *row)
{
	(void)ctx, (void)repo;
	if (id % 2 == 0)
		return false;
	record_set(row, COL_TOTAL_JOBS, "3");
	return true;
}

/* What open may do to the file: cut a torn tail, or write the header into a file that holds
 * no more than a beginning of it. */
static void check_open_result(const uint8_t *data, size_t size, const char *after, size_t len)
{
	struct buf header;
	buf_init(&header, 0);
	for (int c = 0; c < RECORD_NCOLS; c++)
		buf_printf(&header, "%s%s", c ? "," : "", record_columns[c].name);
	buf_appends(&header, "\n");
	bool cut = len <= size && memcmp(after, data, len) == 0;
	bool fresh = size <= header.len && memcmp(data, header.data, size) == 0 &&
		     len == header.len && memcmp(after, header.data, len) == 0;
	FUZZ_ASSERT(cut || fresh, "open changed the CSV beyond cutting a torn tail");
	buf_release(&header);
}

struct spans {
	struct csvstore *cs;
	const char *text; /* the file after open */
	off_t last_end;
};

/* Each span: in order, whole rows ending in a newline, and read back by libcsv with the
 * repository and run id the splitter found. */
static int check_span(void *ctx, const char *repo, int64_t id, off_t off, size_t len)
{
	struct spans *sp = ctx;
	struct record rec;
	struct error err = {0};
	FUZZ_ASSERT(off >= sp->last_end && off + (off_t)len <= sp->cs->size, "span out of order");
	char eol = sp->text[off + (off_t)len - 1];
	FUZZ_ASSERT(eol == '\n' || eol == '\r', "a span does not end a row");
	sp->last_end = off + (off_t)len;
	/* open parsed the whole file: each row parses on its own too */
	FUZZ_ASSERT(csvstore_read_span(sp->cs, off, len, &rec, &err) == 0, err.msg);
	FUZZ_ASSERT(rec.v[COL_REPO] && !strcmp(rec.v[COL_REPO], repo),
		    "libcsv reads another repository in the span");
	FUZZ_ASSERT(rec.v[COL_ID_BUILD] && strtoll(rec.v[COL_ID_BUILD], NULL, 10) == id,
		    "libcsv reads another run id in the span");
	record_release(&rec);
	return 0;
}

static void check_spans(struct csvstore *cs, const char *text)
{
	struct spans sp = {.cs = cs, .text = text};
	struct error err = {0};
	off_t end = 0;
	int rc = csvstore_spans(cs, 0, check_span, &sp, &end, &err);
	FUZZ_ASSERT(rc == 0, err.msg);
	/* open cut any torn tail: every byte belongs to a complete row */
	FUZZ_ASSERT(end == cs->size, "the spans stop short of the file's end");
}

struct noted {
	const struct csvstore_spans *sp;
	size_t i;
};

/* Each row the rewritten file holds is the next the rewrite noted, at the same place. */
static int check_noted(void *ctx, const char *repo, int64_t id, off_t off, size_t len)
{
	struct noted *nt = ctx;
	FUZZ_ASSERT(nt->i < nt->sp->n, "the rewrite noted fewer rows than the file holds");
	const struct csvstore_span *s = &nt->sp->v[nt->i++];
	FUZZ_ASSERT(s->off == (uint64_t)off && s->len == len && s->id == id &&
		    !strcasecmp(nt->sp->names[s->repo], repo),
		    "a row is not where the rewrite said it put it");
	return 0;
}

/* Where the rewrite said it put each row (serve's index after a fold) is where a reading
 * of the new file finds them, unless it gave them up. */
static void check_rewrite_spans(struct csvstore *cs)
{
	struct noted nt = {.sp = &cs->spans};
	struct error err = {0};
	off_t end = 0;
	if (cs->spans.generation != cs->rewrites)
		return;
	FUZZ_ASSERT(csvstore_spans(cs, 0, check_noted, &nt, &end, &err) == 0, err.msg);
	FUZZ_ASSERT(nt.i == cs->spans.n, "the rewrite noted rows the file does not hold");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csvstore cs;
	struct error err = {0};
	const char *path = fuzz_write("b.csv", data, size);
	int rc = csvstore_open(&cs, path, &err);
	size_t len;
	char *after = fuzz_slurp(path, &len);
	FUZZ_ASSERT(after, "the CSV is gone");
	if (rc != 0) {
		FUZZ_ASSERT(len == size && memcmp(after, data, size) == 0,
			    "a CSV open refused was changed");
		csvstore_close(&cs);
		free(after);
		return 0;
	}
	check_open_result(data, size, after, len);
	check_spans(&cs, after);
	free(after);
	size_t runs = cs.index.count;
	cs.formula_guard = size % 2; /* csv_formula_guard on for half the inputs */
	cs.keep_spans = true;
	rc = csvstore_rewrite(&cs, patch, NULL, &err);
	FUZZ_ASSERT(rc == 0, err.msg);
	check_rewrite_spans(&cs);
	csvstore_close(&cs);
	/* The rewritten file is whole, and holds the same runs. */
	rc = csvstore_open(&cs, path, &err);
	FUZZ_ASSERT(rc == 0, err.msg);
	FUZZ_ASSERT(!cs.repaired, "a rewritten CSV has a torn tail");
	FUZZ_ASSERT(cs.index.count == runs, "a rewrite changed the runs in the CSV");
	csvstore_close(&cs);
	return 0;
}
