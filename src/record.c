/* record.c - one CSV row of builds_features.csv; one column table drives the CSV header,
 * CSV rows and NDJSON keys. */
#include "record.h"

#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct record_column record_columns[RECORD_NCOLS] = {
	[COL_REPO] = {"repo", RT_STRING},
	[COL_ID_BUILD] = {"id_build", RT_INT},
	[COL_WORKFLOW_ID] = {"workflow_id", RT_INT},
	[COL_WORKFLOW_NAME] = {"workflow_name", RT_STRING},
	[COL_STATUS] = {"status", RT_STRING},
	[COL_CONCLUSION] = {"conclusion", RT_STRING},
	[COL_CREATED_AT] = {"created_at", RT_STRING},
	[COL_UPDATED_AT] = {"updated_at", RT_STRING},
	[COL_BRANCH] = {"branch", RT_STRING},
	[COL_COMMIT_SHA] = {"commit_sha", RT_STRING},
	[COL_EVENT] = {"event", RT_STRING},
	[COL_ISSUER_NAME] = {"issuer_name", RT_STRING},
	[COL_RUN_NUMBER] = {"run_number", RT_INT},
	[COL_BUILD_DURATION] = {"build_duration", RT_NUMBER},
	[COL_TOTAL_JOBS] = {"total_jobs", RT_INT},
	[COL_JOB_DETAILS] = {"job_details", RT_JSON},
};

void record_release(struct record *r)
{
	for (int i = 0; i < RECORD_NCOLS; i++) {
		free(r->v[i]);
		r->v[i] = NULL;
	}
}

void record_set(struct record *r, enum record_col c, const char *value)
{
	record_take(r, c, value ? xstrdup(value) : NULL);
}

void record_take(struct record *r, enum record_col c, char *value)
{
	free(r->v[c]);
	r->v[c] = value;
}

int record_col_index(const char *name)
{
	for (int i = 0; i < RECORD_NCOLS; i++)
		if (strcmp(record_columns[i].name, name) == 0)
			return i;
	return -1;
}

void record_csv_field(struct buf *out, const char *value, size_t len)
{
	/* libcsv trims unquoted spaces and tabs at a field's edges (a workflow name may hold
	 * either): such values are quoted to come back whole. */
	int quote = len > 0 && (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
				value[len - 1] == '\t');
	for (size_t i = 0; !quote && i < len; i++)
		quote = value[i] == ',' || value[i] == '"' || value[i] == '\n' || value[i] == '\r';
	if (!quote) {
		buf_append(out, value, len);
		return;
	}
	/* csv_write quotes the field and doubles embedded quotes: at most 2 * len + 2 bytes. */
	size_t need = 2 * len + 2;
	char small[1024], *tmp = need <= sizeof(small) ? small : xmalloc(need);
	size_t n = csv_write(tmp, need, value, len);
	buf_append(out, tmp, n);
	if (tmp != small)
		free(tmp);
}

bool record_formula_risk(const char *value)
{
	return value && value[0] && strchr("=+-@\t\r", value[0]);
}

void record_csv_line(struct buf *out, const struct record *r, const int *map, size_t ncols,
		     char *const *extra, bool formula_guard)
{
	for (size_t i = 0; i < ncols; i++) {
		const char *v = map[i] >= 0 ? r->v[map[i]] : (extra ? extra[i] : NULL);
		if (i)
			buf_append(out, ",", 1);
		if (!v)
			continue;
		/* Only our text columns: numbers stay numbers, extra columns are the user's. */
		if (formula_guard && map[i] >= 0 && record_columns[map[i]].type == RT_STRING &&
		    record_formula_risk(v)) {
			size_t n = strlen(v);
			char *g = xmalloc(n + 2);
			g[0] = '\'';
			memcpy(g + 1, v, n + 1);
			record_csv_field(out, g, n + 1);
			free(g);
		} else {
			record_csv_field(out, v, strlen(v));
		}
	}
	buf_append(out, "\n", 1);
}

json_t *record_value_json(enum record_col c, const char *v)
{
	char *end;
	if (!v || !*v)
		return json_null();
	switch (record_columns[c].type) {
	case RT_INT: {
		long long n = strtoll(v, &end, 10);
		return *end ? json_string(v) : json_integer(n);
	}
	case RT_NUMBER: {
		double d = strtod(v, &end);
		if (*end)
			return json_string(v);
		if (d == floor(d) && fabs(d) < 9e15)
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case RT_JSON: {
		json_t *j = json_loads(v, 0, NULL);
		return j ? j : json_string(v);
	}
	case RT_STRING:
		break;
	}
	return json_string(v);
}

json_t *record_to_json(const struct record *r)
{
	json_t *o = json_object();
	for (int i = 0; i < RECORD_NCOLS; i++)
		json_object_set_new(o, record_columns[i].name, record_value_json(i, r->v[i]));
	return o;
}

char *record_format_seconds(char *dst, size_t n, double s)
{
	if (s == floor(s)) {
		snprintf(dst, n, "%.0f", s);
		return dst;
	}
	snprintf(dst, n, "%.3f", s);
	/* Trim trailing zeros: 1.500 → 1.5 */
	char *e = dst + strlen(dst) - 1;
	while (*e == '0')
		*e-- = '\0';
	if (*e == '.')
		*e = '\0';
	return dst;
}
