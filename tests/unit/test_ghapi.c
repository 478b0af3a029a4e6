/* test_ghapi.c - URLs, Link pagination, run → record, jobs → job_details, classification. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ghapi.h"

static void test_link(void)
{
	char *n;
	/* octokit recording: links use /repositories/{id}/ even for /repos/ requests */
	n = ghapi_link_next("<https://api.github.com/repositories/540180744/actions/runs?per_page=1"
			    "&page=2>; rel=\"next\", <https://api.github.com/repositories/540180744/"
			    "actions/runs?per_page=1&page=3>; rel=\"last\"");
	CHECK_STR(n, "https://api.github.com/repositories/540180744/actions/runs?per_page=1&page=2");
	free(n);
	/* next not first, extra spaces and params */
	n = ghapi_link_next("<http://x/a?page=1>; rel=\"prev\",   <http://x/a?page=3>;  rel=\"next\"");
	CHECK_STR(n, "http://x/a?page=3");
	free(n);
	n = ghapi_link_next("<http://x/a?page=1>; rel=\"first\", <http://x/a?page=2>; rel=\"prev\"");
	CHECK(n == NULL);
	CHECK(ghapi_link_next(NULL) == NULL);
	CHECK(ghapi_link_next("") == NULL);
	CHECK(ghapi_link_next("garbage") == NULL);
	/* rel with several types, unquoted */
	n = ghapi_link_next("<http://x/b?page=9>; rel=next");
	CHECK_STR(n, "http://x/b?page=9");
	free(n);
	n = ghapi_link_next("<http://x/c?page=2>; rel=\"next last\"");
	CHECK_STR(n, "http://x/c?page=2");
	free(n);
}

static void test_origin(void)
{
	/* Same origin, whatever the path and query. */
	CHECK(ghapi_same_origin("https://api.github.com", "https://api.github.com/repositories/1/x"));
	CHECK(ghapi_same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080/repos/o/r?page=2"));
	CHECK(ghapi_same_origin("https://ghe.example.com/api/v3",
				"https://ghe.example.com/api/v3/repos/o/r"));
	/* The default port written or not. */
	CHECK(ghapi_same_origin("https://h", "https://h:443/x"));
	CHECK(ghapi_same_origin("https://h:443", "https://h/x"));
	CHECK(ghapi_same_origin("http://h", "http://h:80/x"));
	CHECK(ghapi_same_origin("http://h:80/api", "http://h/x"));
	CHECK(!ghapi_same_origin("http://h", "http://h:443/x"));
	/* Host and scheme without case. */
	CHECK(ghapi_same_origin("https://api.github.com", "https://API.GitHub.com/x"));
	CHECK(ghapi_same_origin("https://Api.GitHub.com", "HTTPS://api.github.com/x"));
	/* Another scheme, host or port. */
	CHECK(!ghapi_same_origin("https://api.github.com", "http://api.github.com/repos"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://api.github.com.evil.io/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://evil.io/api.github.com/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://github.com/x"));
	CHECK(!ghapi_same_origin("http://127.0.0.1:8080", "http://127.0.0.1:80801/x"));
	CHECK(!ghapi_same_origin("http://127.0.0.1:8080", "http://127.0.0.1/x"));
	CHECK(!ghapi_same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8081/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://api.github.com:8443/x"));
	/* Userinfo tricks: the host is what follows the '@'; any userinfo is refused. */
	CHECK(!ghapi_same_origin("https://api.github.com", "https://api.github.com@evil.com/"));
	CHECK(!ghapi_same_origin("https://api.github.com",
				 "https://api.github.com:443@evil.com/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://user@api.github.com/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", "https://u:p@api.github.com/x"));
	/* Not an absolute URL, or nothing. */
	CHECK(!ghapi_same_origin("https://api.github.com", "/repos/o/r"));
	CHECK(!ghapi_same_origin("https://api.github.com", "//api.github.com/x"));
	CHECK(!ghapi_same_origin("https://api.github.com", ""));
	CHECK(!ghapi_same_origin("https://api.github.com", NULL));
	CHECK(!ghapi_same_origin(NULL, "https://api.github.com/x"));
	CHECK(!ghapi_same_origin("not a url", "https://api.github.com/x"));
}

static void test_urls(void)
{
	char *u = ghapi_runs_url("https://api.github.com", "o/r", 0, NULL);
	CHECK_STR(u, "https://api.github.com/repos/o/r/actions/runs?per_page=100&"
		     "exclude_pull_requests=true");
	free(u);
	u = ghapi_runs_url("http://127.0.0.1:8080", "o/r", 42, ">=2024-01-01");
	CHECK_STR(u, "http://127.0.0.1:8080/repos/o/r/actions/workflows/42/runs?per_page=100&"
		     "exclude_pull_requests=true&created=%3E%3D2024-01-01");
	free(u);
	u = ghapi_jobs_url("https://api.github.com", "o/r", 26365060973LL);
	CHECK_STR(u, "https://api.github.com/repos/o/r/actions/runs/26365060973/jobs?per_page=100&"
		     "filter=latest");
	free(u);
	u = ghapi_created_filter("2024-01-01", "2024-02-01");
	CHECK_STR(u, "2024-01-01..2024-02-01");
	free(u);
	u = ghapi_created_filter(NULL, "2024-02-01");
	CHECK_STR(u, "<=2024-02-01");
	free(u);
	CHECK(ghapi_created_filter(NULL, NULL) == NULL);
}

static void test_run_record(void)
{
	struct record r = {0};
	json_t *run = json_loads(
		"{\"id\": 26365060973, \"name\": \"CI, \\\"quoted\\\"\", \"head_branch\": null,"
		" \"head_sha\": \"abc\", \"run_number\": 7, \"event\": \"push\","
		" \"status\": \"in_progress\", \"conclusion\": null, \"workflow_id\": 9600289,"
		" \"created_at\": \"2024-01-01T10:00:00Z\", \"updated_at\": \"2024-01-01T10:05:30Z\","
		" \"run_started_at\": \"2024-01-01T10:01:00Z\", \"run_attempt\": 2,"
		" \"actor\": {\"login\": \"dependabot[bot]\"}, \"head_commit\": null}", 0, NULL);
	CHECK(ghapi_run_to_record(run, "o/r", &r) == 0);
	CHECK_STR(r.v[COL_REPO], "o/r");
	CHECK_STR(r.v[COL_ID_BUILD], "26365060973");
	CHECK_STR(r.v[COL_WORKFLOW_ID], "9600289");
	CHECK_STR(r.v[COL_WORKFLOW_NAME], "CI, \"quoted\"");
	CHECK_STR(r.v[COL_STATUS], "in_progress");
	CHECK(r.v[COL_CONCLUSION] == NULL);
	CHECK(r.v[COL_BRANCH] == NULL);
	CHECK_STR(r.v[COL_ISSUER_NAME], "dependabot[bot]");
	CHECK_STR(r.v[COL_RUN_NUMBER], "7");
	CHECK_STR(r.v[COL_BUILD_DURATION], "270"); /* from run_started_at, not created_at */
	CHECK(r.v[COL_TOTAL_JOBS] == NULL && r.v[COL_JOB_DETAILS] == NULL);
	json_decref(run);
	record_release(&r);

	/* an old run: no name, actor, run_started_at → duration from created_at */
	run = json_loads("{\"id\": 5, \"created_at\": \"2020-05-20T02:37:57Z\","
			 " \"updated_at\": \"2020-05-20T02:40:25Z\"}", 0, NULL);
	CHECK(ghapi_run_to_record(run, "o/r", &r) == 0);
	CHECK(r.v[COL_WORKFLOW_NAME] == NULL && r.v[COL_ISSUER_NAME] == NULL);
	CHECK_STR(r.v[COL_BUILD_DURATION], "148");
	json_decref(run);
	record_release(&r);

	run = json_loads("{\"name\": \"no id\"}", 0, NULL);
	CHECK(ghapi_run_to_record(run, "o/r", &r) == -1);
	json_decref(run);
	record_release(&r);
}

static void test_jobs(void)
{
	json_t *details = json_array();
	long long total = 0;
	json_t *page = json_loads(
		"{\"total_count\": 2, \"jobs\": ["
		"{\"name\": \"stew ci\", \"conclusion\": \"success\","
		" \"started_at\": \"2021-07-05T19:25:20Z\", \"completed_at\": \"2021-07-05T19:26:28Z\","
		" \"steps\": [{\"name\": \"Launch \\\"stew ci\\\"\", \"conclusion\": \"success\","
		"   \"number\": 8, \"started_at\": \"2021-07-05T15:25:41.000-04:00\","
		"   \"completed_at\": \"2021-07-05T15:26:28.500-04:00\"},"
		"  {\"name\": \"skipped\", \"conclusion\": \"skipped\", \"started_at\": null,"
		"   \"completed_at\": null}]},"
		"{\"name\": \"queued\", \"conclusion\": null, \"started_at\": null,"
		" \"completed_at\": null}]}", 0, NULL);
	CHECK_INT(ghapi_jobs_append(details, page, &total), 2);
	CHECK_INT(total, 2);
	char *s = json_dumps(details, JSON_COMPACT);
	CHECK_STR(s, "[{\"job_name\":\"stew ci\",\"job_start\":\"2021-07-05T19:25:20Z\","
		     "\"job_end\":\"2021-07-05T19:26:28Z\",\"job_duration\":68,"
		     "\"job_result\":\"success\",\"steps\":[{\"step_name\":\"Launch \\\"stew ci\\\"\","
		     "\"step_conclusion\":\"success\",\"step_start\":\"2021-07-05T15:25:41.000-04:00\","
		     "\"step_end\":\"2021-07-05T15:26:28.500-04:00\",\"step_duration\":47.5},"
		     "{\"step_name\":\"skipped\",\"step_conclusion\":\"skipped\",\"step_start\":null,"
		     "\"step_end\":null,\"step_duration\":\"N/A\"}]},"
		     "{\"job_name\":\"queued\",\"job_start\":null,\"job_end\":null,"
		     "\"job_duration\":\"N/A\",\"job_result\":null,\"steps\":[]}]");
	free(s);
	json_decref(page);
	page = json_loads("{\"message\": \"Not Found\"}", 0, NULL);
	CHECK_INT(ghapi_jobs_append(details, page, NULL), -1);
	json_decref(page);
	json_decref(details);
}

static void test_classify(void)
{
	CHECK(ghapi_classify(200, 10, 0, NULL) == GA_OK);
	CHECK(ghapi_classify(304, 10, 0, NULL) == GA_NOT_MODIFIED);
	CHECK(ghapi_classify(401, -1, 0, "{\"message\":\"Bad credentials\"}") == GA_AUTH);
	CHECK(ghapi_classify(404, 10, 0, NULL) == GA_NOT_FOUND);
	CHECK(ghapi_classify(403, 0, 0, "{\"message\":\"API rate limit exceeded for user\"}") ==
	      GA_PRIMARY);
	CHECK(ghapi_classify(403, 4000, 1, "{\"message\":\"You have exceeded a secondary rate "
					   "limit. Please wait\"}") == GA_SECONDARY);
	CHECK(ghapi_classify(403, 4000, 0, "{\"message\":\"You have exceeded a secondary rate "
					   "limit.\"}") == GA_SECONDARY);
	CHECK(ghapi_classify(429, -1, 0, NULL) == GA_SECONDARY);
	CHECK(ghapi_classify(403, 4000, 0, "{\"message\":\"Must have admin rights\"}") ==
	      GA_FORBIDDEN);
	CHECK(ghapi_classify(502, -1, 0, NULL) == GA_RETRY);
	CHECK(ghapi_classify(0, -1, 0, NULL) == GA_RETRY);
	CHECK(ghapi_classify(422, 10, 0, NULL) == GA_FATAL);
}

/* A web page where JSON was expected: its own words in the retry messages. */
static void test_is_html(void)
{
	const char page[] = "\r\n  <!DOCTYPE html><html><body>Unicorn!</body></html>";
	CHECK(ghapi_is_html(page, sizeof(page) - 1));
	CHECK(ghapi_is_html("<html>", 6));
	CHECK(!ghapi_is_html("{\"total_count\":1}", 16));
	CHECK(!ghapi_is_html("  ", 2));
	CHECK(!ghapi_is_html("", 0));
	CHECK(!ghapi_is_html("<html>", 0)); /* only the length given counts */
}

/* GraphQL's rate limit comes as HTTP 200 with errors[].type RATE_LIMITED. */
static void test_graphql_rate_limited(void)
{
	CHECK(!ghapi_graphql_rate_limited(NULL));
	CHECK(!ghapi_graphql_rate_limited(""));
	CHECK(!ghapi_graphql_rate_limited("{\"data\":{\"nodes\":[]}}"));
	CHECK(ghapi_graphql_rate_limited("{\"errors\":[{\"type\":\"RATE_LIMITED\",\"message\":"
					 "\"API rate limit exceeded for user ID 1.\"}]}"));
	/* one error of several, with data present */
	CHECK(ghapi_graphql_rate_limited("{\"data\":{\"nodes\":[null]},\"errors\":[{\"type\":"
					 "\"NOT_FOUND\"},{\"type\":\"RATE_LIMITED\"}]}"));
	/* the word elsewhere (a job named so, a message) is not the error */
	CHECK(!ghapi_graphql_rate_limited("{\"data\":{\"name\":\"RATE_LIMITED\"}}"));
	CHECK(!ghapi_graphql_rate_limited("{\"errors\":[{\"type\":\"NOT_FOUND\",\"message\":"
					  "\"RATE_LIMITED\"}]}"));
	CHECK(!ghapi_graphql_rate_limited("{\"errors\":[{\"type\":\"RATE_LIMITED\""));
	CHECK(!ghapi_graphql_rate_limited("{\"errors\":{\"type\":\"RATE_LIMITED\"}}"));
	CHECK(ghapi_classify_graphql(200, 0, 0, "{\"errors\":[{\"type\":\"RATE_LIMITED\"}]}") ==
	      GA_PRIMARY);
	CHECK(ghapi_classify_graphql(200, 12, 0, "{\"errors\":[{\"type\":\"RATE_LIMITED\"}]}") ==
	      GA_SECONDARY);
	CHECK(ghapi_classify_graphql(200, -1, 1, "{\"errors\":[{\"type\":\"RATE_LIMITED\"}]}") ==
	      GA_SECONDARY);
	CHECK(ghapi_classify_graphql(200, 0, 0, "{\"data\":{}}") == GA_OK);
	CHECK(ghapi_classify_graphql(403, 0, 0, NULL) == GA_PRIMARY);
	CHECK(ghapi_classify_graphql(502, -1, 0, NULL) == GA_RETRY);
	/* REST answers are never read for it */
	CHECK(ghapi_classify(200, 0, 0, "{\"errors\":[{\"type\":\"RATE_LIMITED\"}]}") == GA_OK);
}

/* Skim the text, parse it, and compare with the expected document. */
static void check_skim(const char *in, const char *expect)
{
	static const char *const drop[] = {"repository", "head_repository", NULL};
	struct buf out;
	json_t *got, *want;
	buf_init(&out, 0);
	CHECK(ghapi_skim(in, strlen(in), drop, &out) == 0);
	got = json_loadb(out.data, out.len, 0, NULL);
	want = json_loads(expect, 0, NULL);
	CHECK(got != NULL && want != NULL);
	CHECK(json_equal(got, want));
	if (got && want && !json_equal(got, want))
		fprintf(stderr, "skimmed: %s\n", out.data);
	json_decref(got);
	json_decref(want);
	buf_release(&out);
}

static void test_skim(void)
{
	static const char *const drop[] = {"repository", NULL};
	struct buf out;
	/* the members go, wherever they are; everything else is byte for byte */
	check_skim("{\"total_count\":2,\"workflow_runs\":[{\"id\":1,\"repository\":{\"id\":9,"
		   "\"owner\":{\"login\":\"o\"},\"topics\":[\"a\",{\"b\":[]}]},\"name\":\"CI\"},"
		   "{\"id\":2, \"head_repository\" : [1,2,{\"x\":\"}\"}], \"event\":\"push\"}]}",
		   "{\"total_count\":2,\"workflow_runs\":[{\"id\":1,\"repository\":null,"
		   "\"name\":\"CI\"},{\"id\":2,\"head_repository\":null,\"event\":\"push\"}]}");
	/* the name as a value, a scalar value, a null, and quotes, braces and escapes inside
	 * strings are left alone */
	check_skim("{\"name\":\"repository\",\"repository\":\"x\",\"head_repository\":null,"
		   "\"t\":\"a \\\" \\\\\",\"u\":\"{\\\"repository\\\":{}}\",\"v\":\"\\\\\"}",
		   "{\"name\":\"repository\",\"repository\":\"x\",\"head_repository\":null,"
		   "\"t\":\"a \\\" \\\\\",\"u\":\"{\\\"repository\\\":{}}\",\"v\":\"\\\\\"}");
	check_skim("[]", "[]");
	/* broken text: -1, and the caller parses the original (which fails the same way) */
	buf_init(&out, 0);
	CHECK(ghapi_skim("{\"repository\":{\"a\":1}", 20, drop, &out) == -1);
	CHECK(ghapi_skim("{\"a\":\"unterminated", 17, drop, &out) == -1);
	buf_release(&out);
}

int main(void)
{
	test_link();
	test_origin();
	test_urls();
	test_run_record();
	test_jobs();
	test_classify();
	test_is_html();
	test_graphql_rate_limited();
	test_skim();
	return CHECK_DONE();
}
