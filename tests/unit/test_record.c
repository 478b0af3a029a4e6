/* test_record.c - CSV quoting round trip through libcsv, NDJSON typing, time parsing. */
#include <csv.h>
#include <stdlib.h>

#include "check.h"
#include "record.h"

struct fields {
	char *f[RECORD_NCOLS + 2];
	int n, rows;
};

static void cb_field(void *s, size_t len, void *data)
{
	struct fields *fs = data;
	if (fs->n < RECORD_NCOLS + 2)
		fs->f[fs->n++] = strndup(s ? s : "", len);
}

static void cb_row(int c, void *data)
{
	(void)c;
	((struct fields *)data)->rows++;
}

static void test_roundtrip(void)
{
	static const char *awkward[] = {
		"plain", "comma, inside", "quote \" inside", "\"starts quoted\"", "line\nbreak",
		"crlf\r\nbreak", " leading space", "trailing space ", "\tBuild\t", "\t", "héllo wörld 🚀", "",
		"feature/x,y \"quoted\"", "a\"\"b", "{\"json\":[1,2]}", "tab\there", "end\"",
		"x",
	};
	struct record r = {0};
	int map[RECORD_NCOLS];
	struct buf b;
	struct fields fs = {0};
	struct csv_parser p;
	for (int i = 0; i < RECORD_NCOLS; i++) {
		record_set(&r, i, awkward[i]);
		map[i] = i;
	}
	buf_init(&b, 0);
	record_csv_line(&b, &r, map, RECORD_NCOLS, NULL, false);
	CHECK(b.data[b.len - 1] == '\n');
	csv_init(&p, CSV_STRICT | CSV_APPEND_NULL);
	CHECK(csv_parse(&p, b.data, b.len, cb_field, cb_row, &fs) == b.len);
	csv_fini(&p, cb_field, cb_row, &fs);
	csv_free(&p);
	CHECK_INT(fs.rows, 1);
	CHECK_INT(fs.n, RECORD_NCOLS);
	for (int i = 0; i < fs.n && i < RECORD_NCOLS; i++) {
		CHECK_STR(fs.f[i], awkward[i]);
		free(fs.f[i]);
	}
	/* Only fields that need it are quoted. */
	CHECK(strncmp(b.data, "plain,\"comma, inside\",", 22) == 0);
	buf_release(&b);
	record_release(&r);
}

static void test_json(void)
{
	struct record r = {0};
	record_set(&r, COL_ID_BUILD, "26365060973");
	record_set(&r, COL_BUILD_DURATION, "47.5");
	record_set(&r, COL_RUN_NUMBER, "12");
	record_set(&r, COL_TOTAL_JOBS, "0");
	record_set(&r, COL_JOB_DETAILS, "[]");
	record_set(&r, COL_WORKFLOW_NAME, "CI");
	json_t *o = record_to_json(&r);
	char *s = json_dumps(o, JSON_COMPACT);
	CHECK_STR(s, "{\"repo\":null,\"id_build\":26365060973,\"workflow_id\":null,"
		     "\"workflow_name\":\"CI\",\"status\":null,\"conclusion\":null,"
		     "\"created_at\":null,\"updated_at\":null,\"branch\":null,\"commit_sha\":null,"
		     "\"event\":null,\"issuer_name\":null,\"run_number\":12,\"build_duration\":47.5,"
		     "\"total_jobs\":0,\"job_details\":[]}");
	free(s);
	json_decref(o);
	record_release(&r);
}

static void test_seconds_and_time(void)
{
	char b[32];
	double t, u;
	CHECK_STR(record_format_seconds(b, sizeof(b), 78), "78");
	CHECK_STR(record_format_seconds(b, sizeof(b), 1.5), "1.5");
	CHECK_STR(record_format_seconds(b, sizeof(b), -2), "-2");
	CHECK(time_parse_iso("2021-07-05T19:25:20Z", &t) == 0);
	CHECK(time_parse_iso("2021-07-05T15:25:20.000-04:00", &u) == 0);
	CHECK(t == u);
	CHECK(time_parse_iso("2023-01-01T10:00:00.000+10:00", &t) == 0);
	CHECK(time_parse_iso("2023-01-01T00:00:00Z", &u) == 0);
	CHECK(t == u);
	CHECK(time_parse_iso("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
	CHECK(time_parse_iso("2024-02-29T12:00:00Z", &t) == 0 && t == 1709208000);
	CHECK(time_parse_iso("2024-02-29", &t) == -1);
	CHECK(time_parse_iso("not a time", &t) == -1);
	CHECK(time_parse_iso(NULL, &t) == -1);
	CHECK(time_parse_iso("2024-01-01T10:00:00Zjunk", &t) == -1);
}

/* csv_formula_guard: formula-like text gets an apostrophe; numbers, JSON, the user's extra
 * columns and values already guarded stay as they are. */
static void test_formula_guard(void)
{
	struct record r = {0};
	int map[] = {COL_WORKFLOW_NAME, COL_BRANCH, COL_ISSUER_NAME, COL_EVENT, COL_REPO,
		     COL_BUILD_DURATION, COL_JOB_DETAILS, -1};
	char *extra[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, "=user's own"};
	struct buf b;
	record_set(&r, COL_WORKFLOW_NAME, "=HYPERLINK(\"http://x\",\"y\")");
	record_set(&r, COL_BRANCH, "+cmd|' /C calc'!A0");
	record_set(&r, COL_ISSUER_NAME, "@bot");
	record_set(&r, COL_EVENT, "'-already guarded");
	record_set(&r, COL_REPO, "o/r");
	record_set(&r, COL_BUILD_DURATION, "-1.5");
	record_set(&r, COL_JOB_DETAILS, "[]");
	buf_init(&b, 0);
	record_csv_line(&b, &r, map, 8, extra, true);
	CHECK_STR(b.data, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+cmd|' /C calc'!A0,'@bot,"
			  "'-already guarded,o/r,-1.5,[],=user's own\n");
	b.len = 0;
	record_csv_line(&b, &r, map, 8, extra, false);
	CHECK_STR(b.data, "\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",+cmd|' /C calc'!A0,@bot,"
			  "'-already guarded,o/r,-1.5,[],=user's own\n");
	CHECK(record_formula_risk("-x") && record_formula_risk("\tx") && !record_formula_risk("x-") &&
	      !record_formula_risk("") && !record_formula_risk(NULL));
	buf_release(&b);
	record_release(&r);
}

int main(void)
{
	test_roundtrip();
	test_formula_guard();
	test_json();
	test_seconds_and_time();
	return CHECK_DONE();
}
