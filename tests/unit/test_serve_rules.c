/* test_serve_rules.c - ghaminer serve's pure decisions: the listen address and loopback,
 * WebSocket origins (own, loopback Host, allowed list, DNS rebinding), query parameters,
 * and the API's run filter. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "serve_rules.h"

static bool listen_ok(const char *text, bool *loop)
{
	struct sockaddr_storage ss;
	struct error err = {0};
	if (serve_parse_listen(text, &ss, &err) != 0)
		return false;
	*loop = serve_is_loopback((struct sockaddr *)&ss);
	return true;
}

static void test_listen(void)
{
	bool loop = false;
	CHECK(listen_ok("127.0.0.1:3000", &loop) && loop);
	CHECK(listen_ok("localhost:0", &loop) && loop);
	CHECK(listen_ok("127.8.9.10:80", &loop) && loop);
	CHECK(listen_ok("[::1]:3000", &loop) && loop);
	CHECK(listen_ok("0.0.0.0:3000", &loop) && !loop);
	CHECK(listen_ok("192.168.1.5:3000", &loop) && !loop);
	CHECK(listen_ok("[::]:3000", &loop) && !loop);
	const char *bad[] = {"3000", ":3000", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000",
			     "example.com:3000", "[::1:3000", "[:3000", "[]:1", "1.2.3:4"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss;
		struct error err = {0};
		CHECK(serve_parse_listen(bad[i], &ss, &err) == -EINVAL);
		CHECK(strstr(err.msg, "invalid listen address") != NULL);
	}
}

static bool origin(const char *host, const char *list, const char *o)
{
	return serve_origin_allowed("http://127.0.0.1:3000", host, host ? strlen(host) : 0, list,
				    o, strlen(o));
}

static void test_origins(void)
{
	CHECK(origin("127.0.0.1:3000", NULL, "http://127.0.0.1:3000"));
	CHECK(origin("x", NULL, "HTTP://127.0.0.1:3000"));
	CHECK(origin("localhost:3000", NULL, "http://localhost:3000"));
	CHECK(origin("[::1]:3000", NULL, "http://[::1]:3000"));
	CHECK(origin("localhost", NULL, "http://localhost"));
	/* DNS rebinding: Host and Origin agree, but the name is not ours */
	CHECK(!origin("evil.example:3000", NULL, "http://evil.example:3000"));
	CHECK(!origin("localhost.evil.example:3000", NULL, "http://localhost.evil.example:3000"));
	CHECK(!origin("localhost:3000", NULL, "http://localhost:3001"));
	CHECK(!origin("localhost:3000", NULL, "https://localhost:3000"));
	CHECK(!origin(NULL, NULL, "http://127.0.0.1:3001"));
	/* the list: trimmed, case-insensitive, whole entries only, "*" */
	const char *list = "http://dash.example:8080 , https://ci.example";
	CHECK(origin(NULL, list, "http://dash.example:8080"));
	CHECK(origin(NULL, list, "HTTPS://CI.EXAMPLE"));
	CHECK(!origin(NULL, list, "https://ci.example.evil"));
	CHECK(!origin(NULL, list, "http://dash.example"));
	CHECK(!origin(NULL, "", "http://dash.example"));
	CHECK(origin(NULL, "http://a, *", "http://anything"));
}

static void test_query(void)
{
	const char *q = "token=a%2Bb%20c&limit=5&flag&since=2024-01-01T00%3A00%3A00Z&x=%zz+y";
	char *v;
	CHECK_STR(v = serve_query_value(q, strlen(q), "token"), "a+b c");
	free(v);
	CHECK_STR(v = serve_query_value(q, strlen(q), "limit"), "5");
	free(v);
	CHECK_STR(v = serve_query_value(q, strlen(q), "flag"), "");
	free(v);
	CHECK_STR(v = serve_query_value(q, strlen(q), "since"), "2024-01-01T00:00:00Z");
	free(v);
	CHECK_STR(v = serve_query_value(q, strlen(q), "x"), "%zz y"); /* malformed: kept */
	free(v);
	CHECK(serve_query_value(q, strlen(q), "lim") == NULL);
	CHECK(serve_query_value(q, strlen(q), "tokens") == NULL);
	CHECK(serve_query_value("", 0, "token") == NULL);
	/* only qlen bytes are read */
	CHECK(serve_query_value("a=1&b=2", 3, "b") == NULL);
	CHECK_STR(v = serve_url_decode("%41%4", 5), "A%4");
	free(v);
}

static struct record row(const char *created, const char *status, const char *conclusion,
			 const char *wf)
{
	struct record r = {0};
	record_set(&r, COL_CREATED_AT, created);
	record_set(&r, COL_STATUS, status);
	record_set(&r, COL_CONCLUSION, conclusion);
	record_set(&r, COL_WORKFLOW_ID, wf);
	return r;
}

static void test_filter(void)
{
	struct record a = row("2024-01-31T23:59:59Z", "completed", "failure", "77");
	struct record b = row("2024-02-01T00:00:00Z", "in_progress", NULL, "78");
	struct serve_run_filter f = {0};
	CHECK(serve_run_matches(&f, &a) && serve_run_matches(&f, &b));
	f.until = "2024-01-31";
	CHECK(serve_run_matches(&f, &a) && !serve_run_matches(&f, &b)); /* the whole day */
	f.until = NULL;
	f.since = "2024-02-01";
	CHECK(!serve_run_matches(&f, &a) && serve_run_matches(&f, &b));
	f.since = "2024-01-31T23:59:59Z";
	CHECK(serve_run_matches(&f, &a));
	f.since = NULL;
	f.conclusion = "failure";
	CHECK(serve_run_matches(&f, &a) && !serve_run_matches(&f, &b)); /* empty never matches */
	f.conclusion = NULL;
	f.status = "in_progress";
	CHECK(!serve_run_matches(&f, &a) && serve_run_matches(&f, &b));
	f.status = NULL;
	f.workflow_id = 77;
	CHECK(serve_run_matches(&f, &a) && !serve_run_matches(&f, &b));
	record_release(&a);
	record_release(&b);
}

/* A snapshot of 10 rows, the runs sweep at place 4: rows 0-3 went out as they were. */
static void test_snapshot_keeps(void)
{
	/* A changed run already sent: the change must follow; one not yet read: the sweep
	 * reads the changed row itself; one written after the join: not in the snapshot. */
	CHECK(serve_snapshot_keeps_run(SWEEP_RUNS, 4, 10, 3));
	CHECK(!serve_snapshot_keeps_run(SWEEP_RUNS, 4, 10, 4));
	CHECK(!serve_snapshot_keeps_run(SWEEP_RUNS, 4, 10, 9));
	CHECK(serve_snapshot_keeps_run(SWEEP_RUNS, 4, 10, 10));
	CHECK(serve_snapshot_keeps_run(SWEEP_RUNS, 4, 10, -1));
	/* Every row went out in the runs sweep: changes all follow. */
	CHECK(serve_snapshot_keeps_run(SWEEP_JOBS, 0, 10, 9));
	/* Jobs: during the runs sweep the jobs sweep will read them all; during the jobs sweep
	 * only those it has passed must follow. */
	CHECK(!serve_snapshot_keeps_jobs(SWEEP_RUNS, 4, 10, 0));
	CHECK(!serve_snapshot_keeps_jobs(SWEEP_RUNS, 4, 10, 9));
	CHECK(serve_snapshot_keeps_jobs(SWEEP_RUNS, 4, 10, 10));
	CHECK(serve_snapshot_keeps_jobs(SWEEP_JOBS, 4, 10, 3));
	CHECK(!serve_snapshot_keeps_jobs(SWEEP_JOBS, 4, 10, 4));
	CHECK(serve_snapshot_keeps_jobs(SWEEP_JOBS, 4, 10, -1));
	/* An empty snapshot keeps everything. */
	CHECK(serve_snapshot_keeps_jobs(SWEEP_RUNS, 0, 0, 0));
}

int main(void)
{
	test_listen();
	test_origins();
	test_query();
	test_filter();
	test_snapshot_keeps();
	return CHECK_DONE();
}
