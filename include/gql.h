/* gql.h - job details through GitHub's GraphQL API: the query texts, request bodies, the
 * cost of a query by GitHub's formula, and answers turned into REST-shaped jobs, so that
 * job_details are formatted by the very code the REST path uses. Pure: no I/O. */
#ifndef GHAMINER_GQL_H
#define GHAMINER_GQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* GitHub caps nodes(ids:) and every connection's first at 100. */
#define GQL_MAX_IDS 100
#define GQL_MAX_FIRST 100

enum gql_query {
	GQL_SUITES,     /* check runs (and their steps) of up to 100 check suites */
	GQL_SUITE_PAGE, /* the next check runs of one suite, after a cursor */
	GQL_STEPS_PAGE, /* the next steps of one check run, after a cursor */
	GQL_NQUERIES,
};

/* The text of a query (for the schema check in the tests, too). */
const char *gql_query_text(enum gql_query q);

/* Request bodies, {"query": …, "variables": …} as JSON text. Caller frees. */
char *gql_suites_body(const char *const *ids, size_t n, int first, int steps);
char *gql_suite_page_body(const char *suite_id, int first, const char *after, int steps);
char *gql_steps_page_body(const char *check_run_id, int first, const char *after);

/* Points a query costs under GitHub's formula: the requests needed to fill each
 * connection, assuming each reaches its first, divided by 100 and rounded; at least 1.
 * n: suites asked for (1 for a page query), first: check runs per suite, steps: 0 for the
 * steps page query. */
int gql_cost(size_t n, int first, bool with_steps);

/* How an answer went, as a whole. */
enum gql_outcome {
	GQL_OK,           /* data present (some nodes may still be null: see gql_node_missing) */
	GQL_RATE_LIMITED, /* errors[].type RATE_LIMITED */
	GQL_FORBIDDEN,    /* the token lacks the scope: Resource not accessible */
	GQL_TIMEOUT,      /* GitHub gave up executing it: a smaller query may pass */
	GQL_FAILED,       /* anything else: not GraphQL, errors without data */
};
enum gql_outcome gql_classify(const json_t *answer);
/* The first error's message, or NULL (borrowed from answer). */
const char *gql_error_message(const json_t *answer);

/* A node of a suites answer: the i-th CheckSuite object, or NULL when it did not resolve. */
const json_t *gql_suite(const json_t *answer, size_t i);
/* The checkRuns connection of a suite page answer, or of a suite object. */
const json_t *gql_check_runs(const json_t *answer_or_suite);
/* The steps connection of a steps page answer. */
const json_t *gql_steps(const json_t *answer);

/* What is still to fetch for a run whose check runs came in part. */
struct gql_more_steps {
	size_t job;        /* index in the jobs array */
	char *check_run;   /* its node id, owned */
	char *after;       /* steps cursor, owned */
};

/* Append a checkRuns connection's check runs to jobs (a JSON array) as REST job objects
 * (name, status and conclusion lower-cased, started_at, completed_at, steps). Check runs
 * whose steps go on past the page are appended to *more (*nmore grows; caller frees with
 * gql_more_release). Returns the suite's next cursor (caller frees) when the connection
 * has more, else NULL; -1 in *err when the connection is not one. */
char *gql_take_check_runs(json_t *jobs, const json_t *conn, struct gql_more_steps **more,
			  size_t *nmore, int *err);
/* Append a steps connection's steps to the steps of job (a REST job object). Returns the
 * next cursor (caller frees) or NULL; -1 in *err when the connection is not one. */
char *gql_take_steps(json_t *job, const json_t *conn, int *err);
void gql_more_release(struct gql_more_steps *more, size_t n);

/* Whether two job_details texts differ; where gets the first field that does
 * ("total_jobs", "job_details[2].job_name", "job_details[0].steps[3].step_end"). */
bool gql_details_differ(const char *rest, const char *gql, char *where, size_t n);

/* The GraphQL endpoint for an API base URL: https://api.github.com → …/graphql,
 * https://HOST/api/v3 → https://HOST/api/graphql. Caller frees. */
char *gql_endpoint(const char *api_url);

#endif
