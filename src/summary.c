/* summary.c - a pass's outcome per repository, for people (stderr) and programs (JSON). */
#include "summary.h"

#include <inttypes.h>

#include "msg.h"

const char *summary_failure_name(enum session_failure f)
{
	switch (f) {
	case SF_NONE:
		return "ok";
	case SF_PARTIAL:
		return "partial";
	case SF_CANCELLED:
		return "stopped";
	case SF_NOT_FOUND:
		return "not found";
	case SF_NETWORK:
		return "unreachable";
	case SF_AUTH:
		return "unauthorized";
	case SF_IO:
		return "write failed";
	}
	return "?";
}

void summary_print(const struct summary_row *rows, size_t n)
{
	long new_runs = 0, known = 0;
	size_t jobs = 0, failed = 0, bad = 0;
	uint64_t requests = 0;
	for (size_t i = 0; i < n; i++) {
		const struct session_summary *s = rows[i].sum;
		char where[32] = "";
		if (rows[i].line)
			snprintf(where, sizeof(where), " (line %u)", rows[i].line);
		if (s->failure > SF_CANCELLED) {
			bad++;
			msg_warn("%s%s: %s: %s; %ld new runs, %ld known, jobs of %zu runs, %" PRIu64
				 " requests", rows[i].repo, where, summary_failure_name(s->failure),
				 s->error[0] ? s->error : "see above", s->new_runs, s->known_runs,
				 s->jobs_collected, s->requests);
		} else {
			msg_info("%s: %ld new runs, %ld known, jobs of %zu runs, %" PRIu64 " requests",
				 rows[i].repo, s->new_runs, s->known_runs, s->jobs_collected,
				 s->requests);
		}
		new_runs += s->new_runs;
		known += s->known_runs;
		jobs += s->jobs_collected;
		failed += s->jobs_failed;
		requests += s->requests;
	}
	msg_info("%zu repositories (%zu with failures): %ld new runs, %ld known, jobs of %zu runs "
		 "(%zu failed), %" PRIu64 " requests", n, bad, new_runs, known, jobs, failed,
		 requests);
}

json_t *summary_json(const struct summary_row *rows, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct session_summary *s = rows[i].sum;
		json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "repo", rows[i].repo,
				      "new_runs", (json_int_t)s->new_runs, "known_runs",
				      (json_int_t)s->known_runs, "updated_runs",
				      (json_int_t)s->updated_runs, "jobs_collected",
				      (json_int_t)s->jobs_collected, "jobs_failed",
				      (json_int_t)s->jobs_failed, "requests", (json_int_t)s->requests,
				      "outcome", summary_failure_name(s->failure));
		if (rows[i].line)
			json_object_set_new(o, "line", json_integer(rows[i].line));
		if (s->error[0])
			json_object_set_new(o, "error", json_string(s->error));
		if (rows[i].first_row_s >= 0)
			json_object_set_new(o, "first_row_s", json_real(rows[i].first_row_s));
		json_array_append_new(a, o);
	}
	return a;
}
