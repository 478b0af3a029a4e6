/* fuzz_runs.c - a runs listing page as phase 1 takes it: skim, parse, each run → record →
 * CSV row (and NDJSON object). */
#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "csvstore.h"
#include "fuzz.h"
#include "ghapi.h"
#include "record.h"

/* The row read back as csvstore reads it (libcsv, strict), field by field. */
struct readback {
	const struct record *r;
	bool guard; /* csv_formula_guard: a risky value comes back with a leading apostrophe */
	size_t fields, rows;
};

static void on_field(void *s, size_t len, void *data)
{
	struct readback *rb = data;
	const char *want = rb->fields < RECORD_NCOLS ? rb->r->v[rb->fields] : NULL;
	const char *got = s;
	FUZZ_ASSERT(rb->fields < RECORD_NCOLS, "the CSV row has more fields than columns");
	if (rb->guard && record_columns[rb->fields].type == RT_STRING && record_formula_risk(want)) {
		FUZZ_ASSERT(len > 0 && got[0] == '\'', "a risky value without its apostrophe");
		got++, len--;
	}
	/* An empty cell is NULL (or "") in the record. */
	FUZZ_ASSERT(want ? strlen(want) == len && memcmp(want, got, len) == 0 : len == 0,
		    "a CSV cell reads back as another value");
	rb->fields++;
}

static void on_row(int c, void *data)
{
	(void)c;
	((struct readback *)data)->rows++;
}

static void check_row(const struct record *r, const struct buf *line, bool guard)
{
	struct csv_parser p;
	struct readback rb = {.r = r, .guard = guard};
	FUZZ_ASSERT(csv_init(&p, CSV_STRICT | CSV_APPEND_NULL) == 0, "csv_init");
	FUZZ_ASSERT(csv_parse(&p, line->data, line->len, on_field, on_row, &rb) == line->len,
		    "record_csv_line wrote CSV that libcsv rejects");
	FUZZ_ASSERT(csv_fini(&p, on_field, on_row, &rb) == 0, "the CSV row is not whole");
	csv_free(&p);
	FUZZ_ASSERT(rb.rows == 1 && rb.fields == RECORD_NCOLS, "one row of every column");
}

static void take_run(const json_t *run)
{
	static const int map[RECORD_NCOLS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	struct record r = {0};
	struct buf line;
	if (ghapi_run_to_record(run, "octo/hello", &r) != 0)
		return;
	for (int guard = 0; guard < 2; guard++) {
		buf_init(&line, 0);
		record_csv_line(&line, &r, map, RECORD_NCOLS, NULL, guard);
		check_row(&r, &line, guard);
		buf_release(&line);
	}
	(void)csvstore_row_flags(&r);
	json_decref(record_to_json(&r));
	record_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const drop[] = {"repository", "head_repository", NULL};
	const char *in = (const char *)data;
	json_t *orig = json_loadb(in, size, 0, NULL), *doc, *run;
	struct buf skim;
	size_t i;
	buf_init(&skim, 0);
	if (ghapi_skim(in, size, drop, &skim) == 0) {
		doc = json_loadb(skim.data, skim.len, 0, NULL);
		/* Skim only replaces containers by null: JSON stays JSON. */
		FUZZ_ASSERT(!orig || doc, "the skimmed text of valid JSON does not parse");
	} else {
		FUZZ_ASSERT(!orig, "skim declined valid JSON");
		doc = json_incref(orig);
	}
	buf_release(&skim);
	/* A page of runs, or one run (a re-check). */
	json_array_foreach(json_object_get(doc, "workflow_runs"), i, run)
		take_run(run);
	take_run(doc);
	json_decref(doc);
	json_decref(orig);
	return 0;
}
