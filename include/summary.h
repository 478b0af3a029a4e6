/* summary.h - what a pass did, per repository: the lines on stderr and the JSON of the
 * final status message. */
#ifndef GHAMINER_SUMMARY_H
#define GHAMINER_SUMMARY_H

#include <jansson.h>
#include <stddef.h>

#include "session.h"

struct summary_row {
	const char *repo;
	unsigned line;           /* projects-file line, 0 when given with -s */
	const struct session_summary *sum;
	double first_row_s;      /* seconds from the start to its first streamed run, < 0: none */
};

/* The word for a failure ("not found", "partial", …), or "ok". */
const char *summary_failure_name(enum session_failure f);
/* One line per repository and a total, on stderr (through msg_info / msg_warn). */
void summary_print(const struct summary_row *rows, size_t n);
/* [{"repo", "line", "new_runs", "known_runs", "updated_runs", "jobs_collected",
 *   "jobs_failed", "requests", "outcome", "error"}, …]; a new reference. */
json_t *summary_json(const struct summary_row *rows, size_t n);

#endif
