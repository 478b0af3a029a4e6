/* ghapi.h - GitHub REST: URLs, Link pagination, JSON → records and job details,
 * answer classification. Pure: no I/O. */
#ifndef GHAMINER_GHAPI_H
#define GHAMINER_GHAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "util.h"

/* The runs listing: /repos/{o}/{r}/actions/runs, or /actions/workflows/{id}/runs when
 * workflow_id > 0; per_page=100, exclude_pull_requests=true, and a created filter when
 * created is not NULL (GitHub search syntax, e.g. "2024-01-01..2024-02-01"). Caller frees. */
char *ghapi_runs_url(const char *api, const char *full_name, int64_t workflow_id,
		     const char *created);
/* /repos/{o}/{r}/actions/runs/{id}/jobs?per_page=100&filter=latest. Caller frees. */
char *ghapi_jobs_url(const char *api, const char *full_name, int64_t run_id);
/* /repos/{o}/{r}/actions/runs/{id}. Caller frees. */
char *ghapi_run_url(const char *api, const char *full_name, int64_t run_id);

/* Whether url is on the same scheme, host and port as api: the token is only ever sent
 * there, whatever a Link header says. Both are parsed with curl's URL parser, as curl
 * will parse them to connect: an absent port is the scheme's default (https://h and
 * https://h:443 are the same), scheme and host compare without case, and a url with
 * userinfo (https://api.github.com@evil.com/) or one curl cannot parse is refused. */
bool ghapi_same_origin(const char *api, const char *url);

/* The URL of rel="next" in a Link header, or NULL. Caller frees. */
char *ghapi_link_next(const char *link);

/* The created filter for --from_date/--to_date (either may be NULL), or NULL for none.
 * Caller frees. */
char *ghapi_created_filter(const char *from_date, const char *to_date);

/* Copy the JSON text in[0, len) to out, with the value of every object member named in
 * drop (a NULL-terminated list) replaced by null when it is an object or an array. A runs
 * page is mostly two copies of the repository per run, which no column uses: without
 * them it parses in a fraction of the time. 0, or -1 when the text is not well-formed
 * enough to skim (then parse the original). */
int ghapi_skim(const char *in, size_t len, const char *const *drop, struct buf *out);

/* A run object → record (total_jobs and job_details left empty). 0, or -1 when the object
 * lacks an id. */
int ghapi_run_to_record(const json_t *run, const char *full_name, struct record *out);

/* Append the jobs of one jobs page to details (a JSON array) in GHAminer's format:
 * {job_name, job_start, job_end, job_duration, job_result, steps:[{step_name,
 * step_conclusion, step_start, step_end, step_duration}]}. Returns the number appended,
 * or -1 when the page has no "jobs" array. *total_count gets the envelope's total_count. */
int ghapi_jobs_append(json_t *details, const json_t *page, long long *total_count);

enum ghapi_answer {
	GA_OK,           /* 2xx */
	GA_NOT_MODIFIED, /* 304 */
	GA_AUTH,         /* 401 */
	GA_NOT_FOUND,    /* 404 */
	GA_PRIMARY,      /* 403/429 with the primary budget spent */
	GA_SECONDARY,    /* 403/429 secondary limit (Retry-After, or the message says so) */
	GA_FORBIDDEN,    /* other 403 */
	GA_RETRY,        /* 5xx, 408, transport errors: retry with backoff */
	GA_FATAL,        /* other 4xx (422 …) */
};

/* Classify an HTTP answer. status 0 means a transport error. remaining < 0 when the header
 * was absent. body may be NULL. */
enum ghapi_answer ghapi_classify(long status, long remaining, int has_retry_after,
				 const char *body);

/* Whether a GraphQL body says the query was rate limited: an entry of "errors" whose type is
 * "RATE_LIMITED" (GitHub sends it with HTTP 200). Only a body that mentions RATE_LIMITED is
 * parsed, so a large answer costs one scan. */
bool ghapi_graphql_rate_limited(const char *body);
/* ghapi_classify for a GraphQL answer: 403/429 as for REST; a 2xx that is rate limited is
 * the primary budget when remaining is 0 (wait for the reset), else a secondary limit. */
enum ghapi_answer ghapi_classify_graphql(long status, long remaining, int has_retry_after,
					 const char *body);

/* Whether a body is a web page (a proxy's error page, or a site that is not the API)
 * rather than JSON: its first character after blanks is '<'. */
bool ghapi_is_html(const char *body, size_t len);

/* The "message" of a GitHub error body, or NULL. Caller frees. */
char *ghapi_error_message(const char *body);

#endif
