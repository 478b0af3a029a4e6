/* record.h - one CSV row of builds_features.csv; one column table drives the CSV header,
 * CSV rows and NDJSON keys. */
#ifndef GHAMINER_RECORD_H
#define GHAMINER_RECORD_H

#include <jansson.h>

#include "util.h"

enum record_col {
	COL_REPO,
	COL_ID_BUILD,
	COL_WORKFLOW_ID,
	COL_WORKFLOW_NAME,
	COL_STATUS,
	COL_CONCLUSION,
	COL_CREATED_AT,
	COL_UPDATED_AT,
	COL_BRANCH,
	COL_COMMIT_SHA,
	COL_EVENT,
	COL_ISSUER_NAME,
	COL_RUN_NUMBER,
	COL_BUILD_DURATION,
	COL_TOTAL_JOBS,
	COL_JOB_DETAILS,
	RECORD_NCOLS
};

enum record_type { RT_STRING, RT_INT, RT_NUMBER, RT_JSON };

struct record_column {
	const char *name;
	enum record_type type;
};

/* How every JSON text is written: compact, and reals with 12 significant digits so that
 * durations print as 36.516, not 36.515999999999998. */
#define RECORD_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

extern const struct record_column record_columns[RECORD_NCOLS];

/* Values as they appear in the CSV; NULL is an empty cell (JSON null). All owned. */
struct record {
	char *v[RECORD_NCOLS];
};

void record_release(struct record *r);
void record_set(struct record *r, enum record_col c, const char *value); /* copies */
void record_take(struct record *r, enum record_col c, char *value);      /* steals */
/* Column index for a header name, or -1. */
int record_col_index(const char *name);

/* Append one CSV field with RFC 4180 quoting (quoted only when needed). */
void record_csv_field(struct buf *out, const char *value, size_t len);
/* Append the CSV line for r in the file's column order: map[i] is the record column of file
 * column i, or -1 for a column we do not know (written as extra[i], or empty). */
void record_csv_line(struct buf *out, const struct record *r, const int *map, size_t ncols,
		     char *const *extra, bool formula_guard);
/* csv_formula_guard: a text value a spreadsheet would run as a formula (it starts with =,
 * +, -, @, a tab or a carriage return, as OWASP lists them) gets a leading apostrophe.
 * Idempotent: a guarded value starts with the apostrophe. */
bool record_formula_risk(const char *value);
/* A JSON object with every column as a key, numbers as numbers, empty as null. New ref. */
json_t *record_to_json(const struct record *r);
/* A CSV cell value as JSON of its column type (number, string, parsed JSON, or null). */
json_t *record_value_json(enum record_col c, const char *value);

/* Seconds as CSV text: "78" when whole, else up to 3 decimals ("1.5"). Returns dst. */
char *record_format_seconds(char *dst, size_t n, double seconds);

#endif
