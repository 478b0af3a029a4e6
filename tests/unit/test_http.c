/* test_http.c - the http module against a scripted in-process server: answers, headers,
 * transport failures, decoding, the token's one place, concurrency, abort, and a loop left
 * with no handle after each test. */
#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "http.h"
#include "testserver.c"

#define TOKEN "ghp_unitTESTtoken0123456789abcdefABCDEF"

/* One batch of requests on a fresh loop. A 5 ms ticker frees the http module once every
 * request is done (never from inside a completion: curl is still reading its messages
 * there), or aborts what is left when abort_after_ms has passed. */
struct run {
	uv_loop_t loop;
	uv_timer_t tick;
	struct http *h;
	int want, done, ticks;
	int abort_after_ticks; /* 0: never */
	int aborted;           /* done called with CURLE_ABORTED_BY_CALLBACK */
	int max_in_flight;
	uint64_t requests;
};

static void on_done(struct http_req *r, void *arg)
{
	struct run *run = arg;
	(void)r;
	run->done++;
	if (r->result == CURLE_ABORTED_BY_CALLBACK)
		run->aborted++;
}

static void on_tick(uv_timer_t *t)
{
	struct run *run = t->data;
	run->ticks++;
	if (run->abort_after_ticks && run->ticks == run->abort_after_ticks)
		http_abort_all(run->h);
	if (run->done < run->want && run->ticks < 2000)
		return;
	run->max_in_flight = http_stats(run->h)->max_in_flight;
	run->requests = http_stats(run->h)->requests;
	http_free(run->h);
	run->h = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

/* Run reqs[0, n) to completion; every test then checks the loop closes clean. */
static void run_requests(struct http_req *reqs, int n, double timeout_s, int abort_after_ms)
{
	struct run run = {.want = n, .abort_after_ticks = abort_after_ms / 5};
	CHECK(uv_loop_init(&run.loop) == 0);
	run.h = http_new(&run.loop, timeout_s, "ghaminer-test/1");
	CHECK(run.h != NULL);
	for (int i = 0; i < n; i++) {
		reqs[i].done = on_done;
		reqs[i].arg = &run;
		CHECK(http_start(run.h, &reqs[i]) == 0);
	}
	uv_timer_init(&run.loop, &run.tick);
	run.tick.data = &run;
	uv_timer_start(&run.tick, on_tick, 5, 5);
	uv_run(&run.loop, UV_RUN_DEFAULT);
	CHECK_INT(run.done, n);
	CHECK(uv_loop_close(&run.loop) == 0);
	if (abort_after_ms)
		CHECK_INT(run.aborted, n);
}

static char *url(const struct testserver *ts, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", ts->port, path);
}

/* How often needle occurs in hay. */
static int occurrences(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_ok_and_headers(void)
{
	struct testserver ts;
	char *ok = testserver_answer(
		"HTTP/1.1 200 OK",
		"Content-Type: application/json\r\n"
		"ETag: W/\"abc 123\"\r\n"
		"Link: <http://x/a?page=2>; rel=\"next\"\r\n"
		"Link: <http://x/a?page=9>; rel=\"last\"\r\n"
		"x-ratelimit-remaining: 4321\r\n"   /* any case */
		"X-RateLimit-Limit:   5000  \r\n"   /* spaces around */
		"X-RateLimit-Reset: 1700000000\r\n"
		"X-RateLimit-Resource: core\r\n",
		"{\"total_count\":1}", 17);
	char *bare = testserver_answer("HTTP/1.1 200 OK", "X-RateLimit-Remaining: lots\r\n", "", 0);
	struct testserver_route routes[] = {
		{"/ok", TS_ANSWER, ok, 0},
		{"/bare", TS_ANSWER, bare, 0},
	};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	struct http_req r[2] = {{.url = url(&ts, "/ok")}, {.url = url(&ts, "/bare")}};
	run_requests(r, 2, 10, 0);
	CHECK_INT(r[0].status, 200);
	CHECK_INT(r[0].result, CURLE_OK);
	CHECK_STR(r[0].body.data, "{\"total_count\":1}");
	CHECK_INT(r[0].body.len, 17);
	CHECK_STR(r[0].etag, "W/\"abc 123\"");
	/* Two Link headers read as one list. */
	CHECK_STR(r[0].link, "<http://x/a?page=2>; rel=\"next\", <http://x/a?page=9>; rel=\"last\"");
	CHECK_INT(r[0].rl_remaining, 4321);
	CHECK_INT(r[0].rl_limit, 5000);
	CHECK(r[0].rl_reset == 1700000000.0);
	CHECK_STR(r[0].rl_resource, "core");
	CHECK(r[0].retry_after == -1);
	/* Absent headers read as absent; a garbled count is not a spent budget. */
	CHECK_INT(r[1].status, 200);
	CHECK(r[1].link == NULL && r[1].etag == NULL && r[1].rl_resource == NULL);
	CHECK_INT(r[1].rl_remaining, -1);
	CHECK_INT(r[1].rl_limit, -1);
	CHECK(r[1].rl_reset == 0);
	CHECK_INT(r[1].body.len, 0);
	for (int i = 0; i < 2; i++) {
		http_req_release(&r[i]);
		free((char *)r[i].url);
	}
	testserver_stop(&ts);
	free(ok);
	free(bare);
}

static void format_http_date(time_t t, char out[64])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void test_retry_after(void)
{
	struct testserver ts;
	char future[64], past[64], date[64], later[64], hdr[4][256];
	time_t now = time(NULL);
	format_http_date(now + 120, future);
	format_http_date(now - 3600, past);
	/* A server clock an hour behind ours: the wait counts from its Date. */
	format_http_date(now - 3600, date);
	format_http_date(now - 3600 + 90, later);
	snprintf(hdr[0], sizeof(hdr[0]), "Retry-After: %s\r\n", future);
	snprintf(hdr[1], sizeof(hdr[1]), "Retry-After: %s\r\n", past);
	snprintf(hdr[2], sizeof(hdr[2]), "Date: %s\r\nRetry-After: %s\r\n", date, later);
	snprintf(hdr[3], sizeof(hdr[3]), "Retry-After: soon\r\n");
	char *a[6] = {
		testserver_answer("HTTP/1.1 403 Forbidden", "Retry-After: 30\r\n", "{}", 2),
		testserver_answer("HTTP/1.1 429 Too Many Requests", hdr[0], "", 0),
		testserver_answer("HTTP/1.1 429 Too Many Requests", hdr[1], "", 0),
		testserver_answer("HTTP/1.1 429 Too Many Requests", hdr[2], "", 0),
		testserver_answer("HTTP/1.1 429 Too Many Requests", hdr[3], "", 0),
		testserver_answer("HTTP/1.1 403 Forbidden", "Retry-After: 0\r\n", "", 0),
	};
	struct testserver_route routes[] = {
		{"/secs", TS_ANSWER, a[0], 0}, {"/future", TS_ANSWER, a[1], 0},
		{"/past", TS_ANSWER, a[2], 0}, {"/skew", TS_ANSWER, a[3], 0},
		{"/junk", TS_ANSWER, a[4], 0}, {"/zero", TS_ANSWER, a[5], 0},
	};
	const char *paths[] = {"/secs", "/future", "/past", "/skew", "/junk", "/zero"};
	struct http_req r[6] = {{0}};
	CHECK(testserver_start(&ts, routes, 6) == 0);
	for (int i = 0; i < 6; i++)
		r[i].url = url(&ts, paths[i]);
	run_requests(r, 6, 10, 0);
	CHECK_INT(r[0].status, 403);
	CHECK(r[0].retry_after == 30);
	CHECK_INT(r[1].status, 429);
	/* The seconds until the date (a second or two passed since it was written). */
	CHECK(r[1].retry_after > 115 && r[1].retry_after <= 120);
	CHECK(r[2].retry_after == 0);
	CHECK(r[3].retry_after == 90);
	CHECK(r[4].retry_after == 60);
	CHECK(r[5].retry_after == 0);
	for (int i = 0; i < 6; i++) {
		http_req_release(&r[i]);
		free((char *)r[i].url);
		free(a[i]);
	}
	testserver_stop(&ts);
}

static void test_not_modified(void)
{
	struct testserver ts;
	struct testserver_route routes[] = {
		{"/runs", TS_ANSWER,
		 "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-RateLimit-Remaining: 4999\r\n"
		 "Connection: close\r\n\r\n", 0},
	};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	struct http_req r = {.url = url(&ts, "/runs"), .if_none_match = "\"v1\""};
	run_requests(&r, 1, 10, 0);
	CHECK_INT(r.status, 304);
	CHECK_INT(r.result, CURLE_OK);
	CHECK_INT(r.body.len, 0);
	CHECK_STR(r.etag, "\"v1\"");
	CHECK_INT(r.rl_remaining, 4999);
	char *req = testserver_request(&ts, 0);
	CHECK(req && strstr(req, "\r\nIf-None-Match: \"v1\"\r\n"));
	free(req);
	http_req_release(&r);
	free((char *)r.url);
	testserver_stop(&ts);
}

static void test_transport_errors(void)
{
	struct testserver ts;
	struct testserver_route routes[] = {
		{"/reset", TS_RESET, NULL, 0},
		/* 10 bytes of a promised 100, then the connection closes. */
		{"/short", TS_ANSWER,
		 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"s\"\r\nConnection: close\r\n\r\n"
		 "0123456789", 0},
		{"/hang", TS_HANG, NULL, 0},
	};
	CHECK(testserver_start(&ts, routes, 3) == 0);
	struct http_req r[3] = {{.url = url(&ts, "/reset")}, {.url = url(&ts, "/short")},
				{.url = url(&ts, "/hang")}};
	run_requests(r, 3, 0.5, 0);
	CHECK_INT(r[0].status, 0);
	CHECK(r[0].result != CURLE_OK);
	CHECK(r[0].errbuf[0] != '\0');
	/* Half a body is an error, not a 200. */
	CHECK_INT(r[1].status, 0);
	CHECK_INT(r[1].result, CURLE_PARTIAL_FILE);
	CHECK(r[1].errbuf[0] != '\0');
	CHECK_INT(r[1].body.len, 0);
	/* The whole-request timeout. */
	CHECK_INT(r[2].status, 0);
	CHECK_INT(r[2].result, CURLE_OPERATION_TIMEDOUT);
	CHECK(r[2].errbuf[0] != '\0');
	for (int i = 0; i < 3; i++) {
		http_req_release(&r[i]);
		free((char *)r[i].url);
	}
	testserver_stop(&ts);
}

static void test_unreachable(void)
{
	/* A port nobody listens on: the server's, once stopped. */
	struct testserver ts;
	CHECK(testserver_start(&ts, NULL, 0) == 0);
	char *u = url(&ts, "/x");
	testserver_stop(&ts);
	struct http_req r = {.url = u};
	run_requests(&r, 1, 5, 0);
	CHECK_INT(r.status, 0);
	CHECK_INT(r.result, CURLE_COULDNT_CONNECT);
	CHECK(r.errbuf[0] != '\0');
	http_req_release(&r);
	free(u);
}

static const unsigned char gz[] = {
	0x1f, 0x8b, 0x8, 0x0, 0x0, 0x0, 0x0, 0x0, 0x2, 0x3, 0xab, 0x56, 0xca, 0x48, 0xcd, 0xc9,
	0xc9, 0x57, 0xb2, 0x52, 0x4a, 0xaf, 0xca, 0x2c, 0x50, 0xd2, 0x51, 0xca, 0x53, 0xb2, 0x8a,
	0x36, 0xd4, 0x31, 0xd2, 0x31, 0x8e, 0xad, 0x5, 0x0, 0x85, 0x60, 0x9a, 0x62, 0x1c, 0x0,
	0x0, 0x0};

static void test_gzip(void)
{
	struct testserver ts;
	char *a = testserver_answer("HTTP/1.1 200 OK", "Content-Encoding: gzip\r\n",
				    (const char *)gz, sizeof(gz));
	/* The body holds NUL bytes: the answer's length is the head's plus the body's. */
	size_t alen = (size_t)(strstr(a, "\r\n\r\n") - a) + 4 + sizeof(gz);
	struct testserver_route routes[] = {{"/gz", TS_ANSWER, a, alen}};
	if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_LIBZ)) {
		fprintf(stderr, "libcurl without zlib: gzip not tested\n");
		free(a);
		return;
	}
	CHECK(testserver_start(&ts, routes, 1) == 0);
	struct http_req r = {.url = url(&ts, "/gz")};
	run_requests(&r, 1, 10, 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body.data, "{\"hello\":\"gzip\",\"n\":[1,2,3]}");
	/* The request offered it. */
	char *req = testserver_request(&ts, 0);
	CHECK(req && strstr(req, "\r\nAccept-Encoding: ") && strstr(req, "gzip"));
	free(req);
	http_req_release(&r);
	free((char *)r.url);
	testserver_stop(&ts);
	free(a);
}

static void test_token(void)
{
	struct testserver ts, other;
	char *ok = testserver_answer("HTTP/1.1 200 OK", "ETag: \"final\"\r\n", "other", 5);
	struct testserver_route other_routes[] = {{"/landing", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&other, other_routes, 1) == 0);
	/* http never follows a redirect (fetch decides): it reports where it points. */
	char *redir = xasprintf("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/landing\r\n"
				"Link: <http://x/?page=2>; rel=\"next\"\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n", other.port);
	char *plain = testserver_answer("HTTP/1.1 200 OK", "", "mine", 4);
	struct testserver_route routes[] = {
		{"/redirect", TS_ANSWER, redir, 0},
		{"/", TS_ANSWER, plain, 0},
	};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	struct http_req with = {.url = url(&ts, "/with"), .token = TOKEN};
	run_requests(&with, 1, 10, 0);
	struct http_req without = {.url = url(&ts, "/without")};
	run_requests(&without, 1, 10, 0);
	struct http_req away = {.url = url(&ts, "/redirect"), .token = TOKEN};
	run_requests(&away, 1, 10, 0);
	CHECK_INT(testserver_count(&ts), 3);
	CHECK_INT(testserver_count(&other), 0);
	char *a = testserver_request(&ts, 0), *b = testserver_request(&ts, 1);
	char *c = testserver_request(&ts, 2), *d = NULL;
	CHECK(a && b && c);
	if (a && b && c) {
		/* Once, as a bearer token, and nowhere else in the request. */
		CHECK_INT(occurrences(a, "\r\nAuthorization: Bearer " TOKEN "\r\n"), 1);
		CHECK_INT(occurrences(a, TOKEN), 1);
		CHECK(strstr(a, "\r\nAccept: application/vnd.github+json\r\n") != NULL);
		CHECK(strstr(a, "\r\nUser-Agent: ghaminer-test/1\r\n") != NULL);
		CHECK(strstr(b, "Authorization") == NULL);
		CHECK_INT(occurrences(c, TOKEN), 1);
	}
	/* The redirect is the answer, with its Location resolved. */
	char *landing = xasprintf("http://127.0.0.1:%d/landing", other.port);
	CHECK_INT(away.status, 302);
	CHECK_STR(away.location, landing);
	CHECK(with.location == NULL);
	free(landing);
	free(a);
	free(b);
	free(c);
	free(d);
	struct http_req *all[] = {&with, &without, &away};
	for (int i = 0; i < 3; i++) {
		http_req_release(all[i]);
		free((char *)all[i]->url);
	}
	testserver_stop(&ts);
	testserver_stop(&other);
	free(ok);
	free(redir);
	free(plain);
}

static void test_many(void)
{
	enum { N = 60 };
	struct testserver ts;
	char *ok = testserver_answer("HTTP/1.1 200 OK", "X-RateLimit-Remaining: 7\r\n", "[1]", 3);
	struct testserver_route routes[] = {{"/many/", TS_ANSWER, ok, 0}};
	struct http_req *r = calloc(N, sizeof(*r));
	CHECK(testserver_start(&ts, routes, 1) == 0);
	for (int i = 0; i < N; i++)
		r[i].url = xasprintf("http://127.0.0.1:%d/many/%d", ts.port, i);
	struct run run = {.want = N};
	CHECK(uv_loop_init(&run.loop) == 0);
	run.h = http_new(&run.loop, 20, "ghaminer-test/1");
	for (int i = 0; i < N; i++) {
		r[i].done = on_done;
		r[i].arg = &run;
		CHECK(http_start(run.h, &r[i]) == 0);
	}
	CHECK_INT(http_stats(run.h)->in_flight, N);
	uv_timer_init(&run.loop, &run.tick);
	run.tick.data = &run;
	uv_timer_start(&run.tick, on_tick, 5, 5);
	uv_run(&run.loop, UV_RUN_DEFAULT);
	CHECK_INT(run.done, N);
	CHECK_INT(run.max_in_flight, N);
	CHECK_INT(run.requests, N);
	CHECK(uv_loop_close(&run.loop) == 0);
	int ok200 = 0;
	for (int i = 0; i < N; i++) {
		ok200 += r[i].status == 200 && r[i].body.len == 3 && r[i].rl_remaining == 7;
		http_req_release(&r[i]);
		free((char *)r[i].url);
	}
	CHECK_INT(ok200, N);
	CHECK_INT(testserver_count(&ts), N);
	free(r);
	testserver_stop(&ts);
	free(ok);
}

static void test_abort_all(void)
{
	struct testserver ts;
	struct testserver_route routes[] = {{"/hang", TS_HANG, NULL, 0}};
	struct http_req r[5] = {{0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	for (int i = 0; i < 5; i++)
		r[i].url = url(&ts, "/hang");
	run_requests(r, 5, 30, 100);
	for (int i = 0; i < 5; i++) {
		CHECK_INT(r[i].status, 0);
		CHECK_INT(r[i].result, CURLE_ABORTED_BY_CALLBACK);
		http_req_release(&r[i]);
		free((char *)r[i].url);
	}
	testserver_stop(&ts);
}

static void test_reuse(void)
{
	/* A request struct started again (a retry) starts from clean outputs. */
	struct testserver ts;
	char *first = testserver_answer("HTTP/1.1 200 OK", "ETag: \"1\"\r\nRetry-After: 5\r\n",
					"first", 5);
	char *second = testserver_answer("HTTP/1.1 200 OK", "", "2", 1);
	struct testserver_route routes[] = {{"/1", TS_ANSWER, first, 0},
					    {"/2", TS_ANSWER, second, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	char *u1 = url(&ts, "/1"), *u2 = url(&ts, "/2");
	struct http_req r = {.url = u1};
	run_requests(&r, 1, 10, 0);
	CHECK_STR(r.etag, "\"1\"");
	CHECK(r.retry_after == 5);
	r.url = u2;
	run_requests(&r, 1, 10, 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body.data, "2");
	CHECK(r.etag == NULL);
	CHECK(r.retry_after == -1);
	http_req_release(&r);
	free(u1);
	free(u2);
	testserver_stop(&ts);
	free(first);
	free(second);
}

int main(void)
{
	testserver_client_setup();
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
	test_ok_and_headers();
	test_retry_after();
	test_not_modified();
	test_transport_errors();
	test_unreachable();
	test_gzip();
	test_token();
	test_many();
	test_abort_all();
	test_reuse();
	curl_global_cleanup();
	return CHECK_DONE();
}
