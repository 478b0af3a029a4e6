/* test_gql.c - GraphQL job details: bodies, GitHub's cost formula, endpoints, answers
 * classified, and check runs turned into the same job_details as REST, checked against a
 * real recorded REST job (../shared/fixtures). */
#include "gql.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ghapi.h"
#include "record.h"

#define FIXTURE "../../../shared/fixtures/haskell-github/workflow-job.json"

static void test_bodies(void)
{
	const char *ids[] = {"CS_a", "CS_b"};
	char *b = gql_suites_body(ids, 2, 20, 150);
	json_t *j = json_loads(b, 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "query")), gql_query_text(GQL_SUITES));
	json_t *v = json_object_get(j, "variables");
	CHECK_INT(json_array_size(json_object_get(v, "ids")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(v, "ids"), 1)), "CS_b");
	CHECK_INT(json_integer_value(json_object_get(v, "first")), 20);
	CHECK_INT(json_integer_value(json_object_get(v, "steps")), 100); /* capped */
	json_decref(j);
	free(b);

	b = gql_suite_page_body("CS_a", 100, "Y3Vyc29y", 50);
	j = json_loads(b, 0, NULL);
	v = json_object_get(j, "variables");
	CHECK_STR(json_string_value(json_object_get(v, "after")), "Y3Vyc29y");
	CHECK_STR(json_string_value(json_object_get(j, "query")), gql_query_text(GQL_SUITE_PAGE));
	json_decref(j);
	free(b);

	b = gql_steps_page_body("CR_x", 100, NULL);
	j = json_loads(b, 0, NULL);
	v = json_object_get(j, "variables");
	CHECK(json_is_null(json_object_get(v, "after"))); /* the first page */
	CHECK_STR(json_string_value(json_object_get(v, "id")), "CR_x");
	json_decref(j);
	free(b);
	for (int q = 0; q < GQL_NQUERIES; q++)
		CHECK(strstr(gql_query_text(q), "rateLimit { cost") != NULL);
}

static void test_cost(void)
{
	/* GitHub's example shape: 50 suites x 20 check runs with their steps:
	 * (50 + 50 x 20) / 100 = 10.5, rounded: 11. */
	CHECK_INT(gql_cost(50, 20, true), 11);
	CHECK_INT(gql_cost(100, 10, true), 11);
	CHECK_INT(gql_cost(100, 100, true), 101);
	CHECK_INT(gql_cost(1, 100, true), 1);   /* one suite's next page: 1.01 → 1 */
	CHECK_INT(gql_cost(1, 100, false), 1);  /* a steps page: the minimum */
	CHECK_INT(gql_cost(10, 4, true), 1);    /* 0.5 → 1 at least */
}

static void test_endpoint(void)
{
	char *e = gql_endpoint("https://api.github.com");
	CHECK_STR(e, "https://api.github.com/graphql");
	free(e);
	e = gql_endpoint("https://ghe.example.com/api/v3/");
	CHECK_STR(e, "https://ghe.example.com/api/graphql");
	free(e);
	e = gql_endpoint("http://127.0.0.1:8080");
	CHECK_STR(e, "http://127.0.0.1:8080/graphql");
	free(e);
}

static enum gql_outcome classify(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	enum gql_outcome o = gql_classify(j);
	json_decref(j);
	return o;
}

static void test_classify(void)
{
	CHECK_INT(classify("{\"data\":{\"nodes\":[]}}"), GQL_OK);
	CHECK_INT(classify("{\"data\":{\"nodes\":[null]},\"errors\":[{\"type\":\"NOT_FOUND\","
			   "\"message\":\"Could not resolve to a node\"}]}"), GQL_OK);
	CHECK_INT(classify("{\"errors\":[{\"type\":\"RATE_LIMITED\",\"message\":\"API rate limit "
			   "exceeded\"}]}"), GQL_RATE_LIMITED);
	CHECK_INT(classify("{\"data\":{\"nodes\":[null]},\"errors\":[{\"type\":\"FORBIDDEN\","
			   "\"message\":\"Resource not accessible by integration\"}]}"),
		  GQL_FORBIDDEN);
	CHECK_INT(classify("{\"errors\":[{\"message\":\"Something went wrong while executing your "
			   "query. This may be the result of a timeout, or it could be a GitHub "
			   "bug.\"}]}"), GQL_TIMEOUT);
	CHECK_INT(classify("{\"message\":\"Not Found\"}"), GQL_FAILED);
	CHECK_INT(classify("[1]"), GQL_FAILED);
}

/* A REST job's enum value as GraphQL writes it. */
static json_t *upper(const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s)
		return json_null();
	char buf[64];
	size_t i;
	for (i = 0; s[i] && i + 1 < sizeof(buf); i++)
		buf[i] = (char)toupper((unsigned char)s[i]);
	buf[i] = '\0';
	return json_string(buf);
}

/* The check run GitHub's GraphQL API would give for a REST job, steps split in pages of
 * per_page: the first page in the node, the rest returned through *rest_pages. */
static json_t *as_check_run(const json_t *job, size_t per_page, json_t *rest_pages)
{
	json_t *nodes = json_array(), *page = nodes;
	const json_t *s;
	size_t i;
	json_array_foreach(json_object_get(job, "steps"), i, s) {
		if (i && i % per_page == 0) {
			page = json_array();
			json_array_append_new(rest_pages, page);
		}
		json_array_append_new(page, json_pack("{s:O, s:o, s:o, s:O, s:O, s:O}", "name",
						      json_object_get(s, "name"), "status",
						      upper(json_object_get(s, "status")),
						      "conclusion",
						      upper(json_object_get(s, "conclusion")),
						      "number", json_object_get(s, "number"),
						      "startedAt", json_object_get(s, "started_at"),
						      "completedAt",
						      json_object_get(s, "completed_at")));
	}
	bool more = json_array_size(rest_pages) > 0;
	return json_pack("{s:s, s:O, s:O, s:o, s:o, s:O, s:O, s:{s:I, s:{s:b, s:s}, s:o}}", "id",
			 "CR_1", "databaseId", json_object_get(job, "id"), "name",
			 json_object_get(job, "name"), "status",
			 upper(json_object_get(job, "status")), "conclusion",
			 upper(json_object_get(job, "conclusion")), "startedAt",
			 json_object_get(job, "started_at"), "completedAt",
			 json_object_get(job, "completed_at"), "steps", "totalCount",
			 (json_int_t)json_array_size(json_object_get(job, "steps")), "pageInfo",
			 "hasNextPage", more, "endCursor", "c1", "nodes", nodes);
}

static char *details_text(const json_t *jobs)
{
	json_t *page = json_pack("{s:O}", "jobs", jobs), *details = json_array();
	CHECK(ghapi_jobs_append(details, page, NULL) >= 0);
	char *text = json_dumps(details, RECORD_JSON_FLAGS);
	json_decref(page);
	json_decref(details);
	return text;
}

/* The real recorded job, through GraphQL's shape (steps in pages of 2), gives the very
 * job_details text the REST path gives. */
static void test_same_details_as_rest(void)
{
	json_t *job = json_load_file(FIXTURE, 0, NULL), *pages = json_array();
	CHECK(job != NULL);
	if (!job) {
		fprintf(stderr, "missing fixture %s (../shared beside the project root)\n", FIXTURE);
		json_decref(pages);
		return;
	}
	CHECK(json_array_size(json_object_get(job, "steps")) > 4);
	json_t *conn = json_pack("{s:i, s:{s:b, s:n}, s:[o]}", "totalCount", 1, "pageInfo",
				 "hasNextPage", 0, "endCursor", "nodes",
				 as_check_run(job, 2, pages));
	json_t *jobs = json_array();
	struct gql_more_steps *more = NULL;
	size_t nmore = 0;
	int err;
	char *next = gql_take_check_runs(jobs, conn, &more, &nmore, &err);
	CHECK_INT(err, 0);
	CHECK(next == NULL);
	CHECK_INT(nmore, 1);
	CHECK_INT(more[0].job, 0);
	CHECK_STR(more[0].check_run, "CR_1");
	CHECK_STR(more[0].after, "c1");
	/* The later pages of steps, as the steps page query answers them. */
	size_t i;
	json_t *p;
	json_array_foreach(pages, i, p) {
		json_t *sconn = json_pack("{s:{s:b, s:s}, s:O}", "pageInfo", "hasNextPage",
					  i + 1 < json_array_size(pages), "endCursor", "c2", "nodes",
					  p);
		char *after = gql_take_steps(json_array_get(jobs, 0), sconn, &err);
		CHECK_INT(err, 0);
		CHECK((after != NULL) == (i + 1 < json_array_size(pages)));
		free(after);
		json_decref(sconn);
	}
	json_t *rest_jobs = json_pack("[O]", job);
	char *want = details_text(rest_jobs), *got = details_text(jobs);
	CHECK_STR(got, want);
	/* Lower-cased enums, as REST writes them. */
	CHECK_STR(json_string_value(json_object_get(json_array_get(jobs, 0), "conclusion")),
		  json_string_value(json_object_get(job, "conclusion")));
	free(want);
	free(got);
	gql_more_release(more, nmore);
	json_decref(rest_jobs);
	json_decref(jobs);
	json_decref(conn);
	json_decref(pages);
	json_decref(job);
}

static void test_next_page_and_errors(void)
{
	json_t *jobs = json_array();
	struct gql_more_steps *more = NULL;
	size_t nmore = 0;
	int err;
	json_t *conn = json_loads("{\"totalCount\":3,\"pageInfo\":{\"hasNextPage\":true,"
				  "\"endCursor\":\"n2\"},\"nodes\":[{\"id\":\"a\",\"name\":\"x\","
				  "\"status\":\"IN_PROGRESS\",\"conclusion\":null,\"startedAt\":null,"
				  "\"completedAt\":null,\"steps\":{\"pageInfo\":{\"hasNextPage\":false},"
				  "\"nodes\":[]}}]}", 0, NULL);
	char *next = gql_take_check_runs(jobs, conn, &more, &nmore, &err);
	CHECK_STR(next, "n2");
	CHECK_INT(nmore, 0);
	CHECK_STR(json_string_value(json_object_get(json_array_get(jobs, 0), "status")),
		  "in_progress");
	CHECK(json_is_null(json_object_get(json_array_get(jobs, 0), "conclusion")));
	free(next);
	json_decref(conn);
	conn = json_loads("{\"totalCount\":1}", 0, NULL);
	CHECK(gql_take_check_runs(jobs, conn, &more, &nmore, &err) == NULL);
	CHECK_INT(err, -1);
	json_decref(conn);
	json_decref(jobs);
	gql_more_release(more, nmore);
}

int main(void)
{
	test_bodies();
	test_cost();
	test_endpoint();
	test_classify();
	test_same_details_as_rest();
	test_next_page_and_errors();
	return CHECK_DONE();
}
