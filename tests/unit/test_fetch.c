/* test_fetch.c - the fetch module against a scripted in-process server: final answers,
 * decoding in the thread pool, retries with backoff, 401 in a token pool, secondary-limit
 * pauses, the origin guard, cancelling one owner, stopping everything. Every callback is
 * counted; each comes from the loop thread, never from inside a fetch call; the loop closes
 * clean after each scenario. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "fetch.h"
#include "testserver.c"

#define TOKEN_A "ghp_fetchTESTtokenAAAAAAAAAAAAAAAAAAAAAAAA"
#define TOKEN_B "ghp_fetchTESTtokenBBBBBBBBBBBBBBBBBBBBBBBB"

static const char *const one_token[] = {TOKEN_A};
static const char *const two_tokens[] = {TOKEN_A, TOKEN_B};

/* What one request's done callback saw. */
struct call {
	int calls;
	enum fetch_status status;
	enum ghapi_answer answer;
	int attempts;
	int token;
	long http_status;
	char *body;
	long json_n;          /* fr->json's "n", or -1 without json */
	size_t owner_pending; /* fr->owner->pending while the callback ran */
	int order;            /* 1 for the first callback of the scenario, 2 … */
	void *arg;            /* fr->arg */
};

/* A fetch_owner that counts its idle calls. */
struct owner {
	struct fetch_owner o; /* first: idle gets &o */
	int done;             /* done callbacks of this owner */
	int idle_calls;
	int done_at_idle;     /* done when idle last ran */
	bool idle_inside_done; /* idle ran while a done callback was running */
};

/* One scenario: a loop, a fetch on it, the server it talks to. */
static struct {
	uv_loop_t loop;
	uv_timer_t tick;
	struct fetch *f;
	struct testserver *ts;
	char origin[64];
	int done;          /* done callbacks, every request */
	int want;          /* scene_run stops once this many came back */
	uint64_t started;  /* uv_now at scene_run, for the safety deadline */
	void (*step)(void); /* called on every tick while waiting, or NULL */
	int seq;
	bool in_api;       /* inside fetch_get, fetch_stop or fetch_cancel_owner */
	bool in_done;      /* inside a done callback */
	int bad_thread;    /* done or idle callbacks off the loop thread */
	int waits;         /* fetch_on_wait calls */
	char wait_reason[128];
	double wait_until, wait_spread;
} S;

static pthread_t loop_thread;

static void on_idle(struct fetch_owner *fo)
{
	struct owner *o = (struct owner *)fo;
	if (!pthread_equal(pthread_self(), loop_thread))
		S.bad_thread++;
	o->idle_calls++;
	o->done_at_idle = o->done;
	if (S.in_done)
		o->idle_inside_done = true;
}

static void owner_init(struct owner *o)
{
	memset(o, 0, sizeof(*o));
	o->o.idle = on_idle;
}

static void on_done(struct fetch_req *fr, void *arg)
{
	struct call *c = arg;
	/* Never from inside a fetch call, always on the loop thread. */
	CHECK(!S.in_api);
	if (!pthread_equal(pthread_self(), loop_thread))
		S.bad_thread++;
	S.in_done = true;
	S.done++;
	((struct owner *)fr->owner)->done++;
	c->calls++;
	c->status = fr->status;
	c->answer = fr->answer;
	c->attempts = fr->attempts;
	c->token = fr->token;
	c->http_status = fr->http.status;
	free(c->body);
	c->body = fr->http.body.data ? strdup(fr->http.body.data) : NULL;
	c->json_n = fr->json ? (long)json_integer_value(json_object_get(fr->json, "n")) : -1;
	c->owner_pending = fr->owner->pending;
	c->order = ++S.seq;
	c->arg = fr->arg;
	S.in_done = false;
}

static void on_wait(void *arg, const char *reason, double until_epoch, double spread_s)
{
	(void)arg;
	CHECK(!S.in_api);
	S.waits++;
	snprintf(S.wait_reason, sizeof(S.wait_reason), "%s", reason);
	S.wait_until = until_epoch;
	S.wait_spread = spread_s;
}

/* A fresh loop and a fetch on it for the server ts, tokens borrowed (static). */
static void scene_begin(struct testserver *ts, const char *const *tokens, int ntokens,
			int max_in_flight, int max_retries, double timeout_s)
{
	memset(&S, 0, sizeof(S));
	S.ts = ts;
	CHECK(uv_loop_init(&S.loop) == 0);
	snprintf(S.origin, sizeof(S.origin), "http://127.0.0.1:%d", ts->port);
	struct fetch_config cfg = {
		.tokens = tokens,
		.ntokens = ntokens,
		.max_in_flight = max_in_flight,
		.per_minute = 100000, /* the pace never holds a test back */
		.reserve = 0,
		.max_retries = max_retries,
		.timeout_s = timeout_s,
		.origin = S.origin,
	};
	S.f = fetch_new(&S.loop, &cfg);
	CHECK(S.f != NULL);
	fetch_on_wait(S.f, on_wait, NULL);
}

/* GET path on the scene's server (or url as given when it has a scheme). */
static void get_ex(struct owner *o, const char *path, const char *etag, fetch_decode_fn decode,
		   struct call *c, bool first)
{
	char *url = strstr(path, "://") ? xstrdup(path) : xasprintf("%s%s", S.origin, path);
	S.in_api = true;
	fetch_get(S.f, &o->o, url, etag, decode, on_done, c, first);
	S.in_api = false;
	free(url);
}

static void get(struct owner *o, const char *path, struct call *c)
{
	get_ex(o, path, NULL, NULL, c, false);
}

static void on_tick(uv_timer_t *t)
{
	if (S.step)
		S.step();
	/* The deadline only keeps a broken fetch from hanging the test: the counts fail. */
	if (S.done >= S.want || uv_now(&S.loop) - S.started > 15000) {
		uv_close((uv_handle_t *)t, NULL);
		uv_stop(&S.loop);
	}
}

/* Run the loop until want callbacks came back (calling step on every tick meanwhile). */
static void scene_run(int want, void (*step)(void))
{
	S.want = want;
	S.step = step;
	uv_update_time(&S.loop);
	S.started = uv_now(&S.loop);
	uv_timer_init(&S.loop, &S.tick);
	uv_timer_start(&S.tick, on_tick, 2, 2);
	uv_run(&S.loop, UV_RUN_DEFAULT);
	CHECK_INT(S.done, want);
}

/* Free the fetch: no callback comes after, and the loop closes with nothing left. */
static void scene_end(void)
{
	int before = S.done;
	fetch_free(S.f);
	S.f = NULL;
	uv_run(&S.loop, UV_RUN_DEFAULT);
	CHECK_INT(S.done, before);
	CHECK_INT(S.bad_thread, 0);
	CHECK(uv_loop_close(&S.loop) == 0);
}

static void call_release(struct call *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].body);
}

/* Request head i from ts contains needle. */
static bool head_has(struct testserver *ts, size_t i, const char *needle)
{
	char *h = testserver_request(ts, i);
	bool yes = h && strstr(h, needle);
	free(h);
	return yes;
}

/* How many request heads so far contain needle. */
static int heads_with(struct testserver *ts, const char *needle)
{
	int n = 0;
	for (size_t i = 0; i < testserver_count(ts); i++)
		n += head_has(ts, i, needle);
	return n;
}

static char *ok_answer(const char *body)
{
	return testserver_answer("HTTP/1.1 200 OK",
				 "Content-Type: application/json\r\n"
				 "X-RateLimit-Remaining: 4000\r\nX-RateLimit-Limit: 5000\r\n",
				 body, strlen(body));
}

/* ---- 1. a 200 ------------------------------------------------------------------------ */

static void test_ok(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":7}");
	struct testserver_route routes[] = {{"/repos/o/r/actions/runs", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/repos/o/r/actions/runs?per_page=100&page=1", &c);
	/* Issued, not answered yet. */
	CHECK_INT(o.o.pending, 1);
	CHECK_INT(c.calls, 0);
	scene_run(1, NULL);
	CHECK_INT(c.calls, 1);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_INT(c.http_status, 200);
	CHECK_STR(c.body, "{\"n\":7}");
	CHECK_INT(c.attempts, 1);
	CHECK_INT(c.token, 0);
	CHECK(c.arg == &c);
	CHECK_INT(c.json_n, -1); /* no decode, no json */
	/* Pending while its callback runs; 0 after, then idle, once. */
	CHECK_INT(c.owner_pending, 1);
	CHECK_INT(o.o.pending, 0);
	CHECK_INT(o.idle_calls, 1);
	CHECK_INT(o.done_at_idle, 1);
	CHECK(!o.idle_inside_done);
	CHECK_INT(o.o.requests, 1);
	CHECK_INT(testserver_count(&ts), 1);
	CHECK(head_has(&ts, 0, "GET /repos/o/r/actions/runs?per_page=100&page=1 HTTP/1.1\r\n"));
	CHECK(head_has(&ts, 0, "\r\nAuthorization: Bearer " TOKEN_A "\r\n"));
	CHECK(!head_has(&ts, 0, "If-None-Match"));
	scene_end();
	CHECK_INT(o.idle_calls, 1);
	call_release(&c, 1);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 2. decode in the thread pool ----------------------------------------------------- */

static atomic_int decode_calls;
static pthread_t decode_thread;
static atomic_int decode_arg_wrong;

static void decode_json(struct fetch_req *fr, void *arg)
{
	atomic_fetch_add(&decode_calls, 1);
	decode_thread = pthread_self(); /* read after the loop ran after_work */
	if (arg != fr->arg)
		atomic_store(&decode_arg_wrong, 1);
	fr->json = json_loadb(fr->http.body.data, fr->http.body.len, 0, NULL);
}

static void test_decode(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":42}");
	struct testserver_route routes[] = {{"/d", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	atomic_store(&decode_calls, 0);
	decode_thread = loop_thread;
	get_ex(&o, "/d", NULL, decode_json, &c, false);
	scene_run(1, NULL);
	CHECK_INT(atomic_load(&decode_calls), 1);
	CHECK(!pthread_equal(decode_thread, loop_thread));
	CHECK_INT(atomic_load(&decode_arg_wrong), 0);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_INT(c.json_n, 42);
	CHECK_INT(o.idle_calls, 1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 3, 4. retries --------------------------------------------------------------------- */

/* What test_retry_then_ok sees on each tick: the owner's highest resting count while its
 * one request waits out the backoff (the server answered once), and whether it ever
 * exceeded 1. */
static struct {
	struct owner *o;
	struct testserver *ts;
	size_t resting_between; /* the most of owner->resting between the first answer and the
				   second */
	bool over_one;
} R;

static void watch_resting(void)
{
	if (R.o->o.resting > 1)
		R.over_one = true;
	if (testserver_count(R.ts) == 1 && R.o->done == 0 && R.o->o.resting > R.resting_between)
		R.resting_between = R.o->o.resting;
}

static void test_retry_then_ok(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":1}");
	char *err = testserver_answer("HTTP/1.1 500 Internal Server Error", "", "oops", 4);
	struct testserver_route routes[] = {{"/flaky", TS_ANSWER, err, 0},
					    {"/flaky", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, one_token, 1, 4, 2, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/flaky", &c);
	CHECK_INT(o.o.resting, 0); /* queued or in flight: not resting */
	memset(&R, 0, sizeof(R));
	R.o = &o;
	R.ts = &ts;
	scene_run(1, watch_resting);
	/* Resting while it waited for its retry, no longer once answered. */
	CHECK_INT(R.resting_between, 1);
	CHECK(!R.over_one);
	CHECK_INT(o.o.resting, 0);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_STR(c.body, "{\"n\":1}");
	CHECK_INT(c.attempts, 2);
	CHECK_INT(o.o.requests, 2);
	CHECK_INT(testserver_count(&ts), 2);
	/* The retry waited out its backoff (at least half of the first second). */
	CHECK(testserver_arrival_ms(&ts, 1) >= testserver_arrival_ms(&ts, 0) + 450);
	CHECK_INT(o.idle_calls, 1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(ok);
	free(err);
}

/* A request cancelled while it waits out its backoff is no longer resting. */
static void cancel_when_resting(void)
{
	if (R.o->o.resting == 1 && !R.o->o.cancelled) {
		R.resting_between = 1;
		S.in_api = true;
		fetch_cancel_owner(S.f, &R.o->o);
		S.in_api = false;
	}
}

static void test_cancel_resting(void)
{
	struct testserver ts;
	char *err = testserver_answer("HTTP/1.1 503 Service Unavailable", "", "busy", 4);
	struct testserver_route routes[] = {{"/busy", TS_ANSWER, err, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	memset(&R, 0, sizeof(R));
	R.o = &o;
	R.ts = &ts;
	get(&o, "/busy", &c);
	scene_run(1, cancel_when_resting);
	CHECK_INT(R.resting_between, 1);
	CHECK_INT(c.status, FETCH_CANCELLED);
	CHECK_INT(o.o.resting, 0);
	CHECK_INT(testserver_count(&ts), 1);
	CHECK_INT(o.idle_calls, 1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(err);
}

static void test_retry_exhausted(void)
{
	struct testserver ts;
	char *bad = testserver_answer("HTTP/1.1 502 Bad Gateway", "", "", 0);
	struct testserver_route routes[] = {{"/down", TS_ANSWER, bad, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 1, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/down", &c);
	scene_run(1, NULL);
	CHECK_INT(c.calls, 1);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_RETRY);
	CHECK_INT(c.http_status, 502);
	CHECK_INT(c.attempts, 2);
	CHECK_INT(o.o.resting, 0);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK_INT(o.idle_calls, 1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(bad);
}

static void test_reset_then_ok(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":2}");
	struct testserver_route routes[] = {{"/r", TS_RESET, NULL, 0}, {"/r", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, one_token, 1, 4, 2, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/r", &c);
	scene_run(1, NULL);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_STR(c.body, "{\"n\":2}");
	CHECK_INT(c.attempts, 2);
	CHECK_INT(testserver_count(&ts), 2);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 5. final at once: 404, 304 ---------------------------------------------------------- */

static void test_final_answers(void)
{
	struct testserver ts;
	char *nf = testserver_answer("HTTP/1.1 404 Not Found", "", "{\"message\":\"Not Found\"}",
				     23);
	struct testserver_route routes[] = {
		{"/gone", TS_ANSWER, nf, 0},
		{"/same", TS_ANSWER,
		 "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nX-RateLimit-Remaining: 4999\r\n"
		 "Connection: close\r\n\r\n", 0},
	};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	struct owner o;
	struct call c[2] = {{0}};
	owner_init(&o);
	atomic_store(&decode_calls, 0);
	get_ex(&o, "/gone", NULL, decode_json, &c[0], false);
	get_ex(&o, "/same", "\"abc\"", decode_json, &c[1], false);
	scene_run(2, NULL);
	CHECK_INT(c[0].status, FETCH_ANSWERED);
	CHECK_INT(c[0].answer, GA_NOT_FOUND);
	CHECK_INT(c[0].attempts, 1);
	CHECK_INT(c[1].status, FETCH_ANSWERED);
	CHECK_INT(c[1].answer, GA_NOT_MODIFIED);
	CHECK_INT(c[1].attempts, 1);
	/* Neither retried; only a 2xx is decoded. */
	CHECK_INT(heads_with(&ts, "GET /gone "), 1);
	CHECK_INT(heads_with(&ts, "GET /same "), 1);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK_INT(atomic_load(&decode_calls), 0);
	CHECK(c[0].json_n == -1 && c[1].json_n == -1);
	CHECK_INT(heads_with(&ts, "\r\nIf-None-Match: \"abc\"\r\n"), 1);
	CHECK_INT(heads_with(&ts, "If-None-Match"), 1); /* only on the request given one */
	CHECK_INT(o.idle_calls, 1);
	CHECK_INT(o.done_at_idle, 2);
	scene_end();
	call_release(c, 2);
	testserver_stop(&ts);
	free(nf);
}

/* ---- 6. 401 and the token pool --------------------------------------------------------- */

static const char unauthorized[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 29\r\n"
				   "Connection: close\r\n\r\n{\"message\":\"Bad credentials\"}";

static void test_auth_one_token(void)
{
	struct testserver ts;
	struct testserver_route routes[] = {{"/x", TS_ANSWER, unauthorized, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/x", &c);
	scene_run(1, NULL);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_AUTH);
	CHECK_INT(c.http_status, 401);
	CHECK_INT(c.attempts, 1);
	CHECK_INT(testserver_count(&ts), 1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
}

static void test_auth_pool(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":3}");
	struct testserver_route routes[] = {{"/x", TS_ANSWER, unauthorized, 0},
					    {"/x", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, two_tokens, 2, 4, 3, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/x", &c);
	scene_run(1, NULL);
	/* The first token was rejected: the request went to the other, and that is no failed
	 * attempt. */
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_STR(c.body, "{\"n\":3}");
	CHECK_INT(c.attempts, 1);
	CHECK_INT(o.o.requests, 2); /* both were sent, though: the owner's count says so */
	CHECK_INT(c.token, 1);
	CHECK(fetch_governor(S.f)->tok[0].dead);
	CHECK(!fetch_governor(S.f)->tok[1].dead);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK(head_has(&ts, 0, "\r\nAuthorization: Bearer " TOKEN_A "\r\n"));
	CHECK(head_has(&ts, 1, "\r\nAuthorization: Bearer " TOKEN_B "\r\n"));
	CHECK(!head_has(&ts, 1, TOKEN_A));
	/* The dropped token is not used again. */
	struct call c2 = {0};
	get(&o, "/x", &c2);
	scene_run(2, NULL);
	CHECK_INT(c2.answer, GA_OK);
	CHECK_INT(c2.token, 1);
	CHECK_INT(testserver_count(&ts), 3);
	CHECK(head_has(&ts, 2, "\r\nAuthorization: Bearer " TOKEN_B "\r\n"));
	CHECK_INT(o.idle_calls, 2);
	scene_end();
	call_release(&c, 1);
	call_release(&c2, 1);
	testserver_stop(&ts);
	free(ok);
}

static void test_auth_pool_all_rejected(void)
{
	struct testserver ts;
	struct testserver_route routes[] = {{"/x", TS_ANSWER, unauthorized, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, two_tokens, 2, 4, 3, 10);
	struct owner o;
	struct call c[2] = {{0}};
	owner_init(&o);
	get(&o, "/x", &c[0]);
	scene_run(1, NULL);
	/* Each token tried once; the last 401 is final. */
	CHECK_INT(c[0].answer, GA_AUTH);
	CHECK_INT(c[0].attempts, 1);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK(fetch_governor(S.f)->tok[0].dead && fetch_governor(S.f)->tok[1].dead);
	/* With no token left, a request fails without reaching the server. */
	get(&o, "/x", &c[1]);
	CHECK_INT(c[1].calls, 0);
	scene_run(2, NULL);
	CHECK_INT(c[1].status, FETCH_ANSWERED);
	CHECK_INT(c[1].answer, GA_AUTH);
	CHECK_INT(c[1].attempts, 0);
	CHECK_INT(testserver_count(&ts), 2);
	scene_end();
	call_release(c, 2);
	testserver_stop(&ts);
}

static void test_primary_pool(void)
{
	/* Token A's budget is spent (reset in an hour): token B carries on at once. */
	struct testserver ts;
	char hdr[160];
	snprintf(hdr, sizeof(hdr),
		 "X-RateLimit-Remaining: 0\r\nX-RateLimit-Limit: 5000\r\nX-RateLimit-Reset: %.0f\r\n",
		 time_now() + 3600);
	const char *msg = "{\"message\":\"API rate limit exceeded for user ID 1.\"}";
	char *spent = testserver_answer("HTTP/1.1 403 Forbidden", hdr, msg, strlen(msg));
	char *ok = ok_answer("{\"n\":4}");
	struct testserver_route routes[] = {{"/p", TS_ANSWER, spent, 0}, {"/p", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, two_tokens, 2, 4, 0, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	get(&o, "/p", &c);
	scene_run(1, NULL);
	CHECK_INT(c.answer, GA_OK);
	CHECK_INT(c.attempts, 1); /* waiting for a budget is no failed attempt */
	CHECK_INT(c.token, 1);
	CHECK_INT(fetch_governor(S.f)->tok[0].b[FETCH_REST].remaining, 0);
	CHECK(!fetch_governor(S.f)->tok[0].dead);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK(head_has(&ts, 1, "\r\nAuthorization: Bearer " TOKEN_B "\r\n"));
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(spent);
	free(ok);
}

/* ---- 7. a secondary limit ---------------------------------------------------------------- */

static void test_secondary(void)
{
	struct testserver ts;
	const char *msg = "{\"message\":\"You have exceeded a secondary rate limit\"}";
	char *limited = testserver_answer("HTTP/1.1 403 Forbidden",
					  "Retry-After: 1\r\nX-RateLimit-Remaining: 4000\r\n", msg,
					  strlen(msg));
	char *ok = ok_answer("{\"n\":5}");
	struct testserver_route routes[] = {{"/s", TS_ANSWER, limited, 0},
					    {"/s", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	/* No retries allowed: a secondary limit is GitHub asking to slow down, not a failure. */
	scene_begin(&ts, one_token, 1, 4, 0, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	double start = time_now();
	get(&o, "/s", &c);
	scene_run(1, NULL);
	CHECK_INT(c.status, FETCH_ANSWERED);
	CHECK_INT(c.answer, GA_OK);
	CHECK_STR(c.body, "{\"n\":5}");
	CHECK_INT(c.attempts, 2);
	CHECK_INT(testserver_count(&ts), 2);
	/* The second request waited out Retry-After (a lower bound: it proves the wait). */
	CHECK(testserver_arrival_ms(&ts, 1) >= testserver_arrival_ms(&ts, 0) + 950);
	/* Said once, with the end of the pause. */
	CHECK_INT(S.waits, 1);
	CHECK(strstr(S.wait_reason, "secondary") != NULL);
	CHECK(S.wait_until >= start + 0.9 && S.wait_until < start + 10);
	CHECK(S.wait_spread == 0);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(limited);
	free(ok);
}

/* ---- 7b. GraphQL: its own budget; rate limits answered 200 ------------------------------- */

/* POST a GraphQL query of cost points to path on the scene's server. */
static void post(struct owner *o, const char *path, int cost, struct call *c)
{
	char *url = xasprintf("%s%s", S.origin, path);
	S.in_api = true;
	fetch_post(S.f, &o->o, url, "{\"query\":\"{viewer{login}}\"}", cost, NULL, on_done, c,
		   false);
	S.in_api = false;
	free(url);
}

static const char rate_limited[] = "{\"data\":null,\"errors\":[{\"type\":\"RATE_LIMITED\","
				   "\"message\":\"API rate limit exceeded for user ID 1.\"}]}";

static void test_graphql_primary(void)
{
	/* 200 with RATE_LIMITED and X-RateLimit-Remaining 0: token A's GraphQL budget is spent
	 * (not its REST one, not a failed attempt); token B answers. */
	struct testserver ts;
	char hdr[200];
	snprintf(hdr, sizeof(hdr), "X-RateLimit-Remaining: 0\r\nX-RateLimit-Limit: 5000\r\n"
		 "X-RateLimit-Reset: %.0f\r\nX-RateLimit-Resource: graphql\r\n", time_now() + 3600);
	char *spent = testserver_answer("HTTP/1.1 200 OK", hdr, rate_limited,
					strlen(rate_limited));
	char *ok = testserver_answer("HTTP/1.1 200 OK", "X-RateLimit-Remaining: 4000\r\n"
				     "X-RateLimit-Limit: 5000\r\nX-RateLimit-Resource: graphql\r\n",
				     "{\"data\":{}}", 11);
	struct testserver_route routes[] = {{"/graphql", TS_ANSWER, spent, 0},
					    {"/graphql", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, two_tokens, 2, 4, 0, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	post(&o, "/graphql", 3, &c);
	scene_run(1, NULL);
	const struct governor *g = fetch_governor(S.f);
	CHECK_INT(c.answer, GA_OK);
	CHECK_INT(c.attempts, 1);
	CHECK_INT(c.token, 1);
	CHECK_STR(c.body, "{\"data\":{}}");
	CHECK_INT(g->tok[0].b[FETCH_GRAPHQL].remaining, 0);
	CHECK(g->tok[0].b[FETCH_GRAPHQL].reset_epoch > time_now() + 3000);
	CHECK_INT(g->tok[0].b[FETCH_REST].remaining, -1);
	CHECK_INT(g->tok[1].b[FETCH_GRAPHQL].remaining, 4000);
	CHECK(head_has(&ts, 0, "POST /graphql "));
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(spent);
	free(ok);
}

static void test_graphql_held_rest_goes(void)
{
	/* The GraphQL budget spent for an hour: a query waits for it, and a REST request queued
	 * behind it is answered meanwhile; the wait is said once, as GraphQL's. */
	struct testserver ts;
	char *ok = ok_answer("{\"n\":8}");
	struct testserver_route routes[] = {{"/rest", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 0, 10);
	governor_primary(fetch_governor(S.f), 0, FETCH_GRAPHQL, time_now() + 3600);
	struct owner o;
	struct call c[2] = {{0}};
	owner_init(&o);
	post(&o, "/graphql", 1, &c[0]);
	get(&o, "/rest", &c[1]);
	scene_run(1, NULL);
	CHECK_INT(c[1].answer, GA_OK);
	CHECK_INT(c[1].json_n, -1);
	CHECK_INT(c[0].calls, 0);
	CHECK_INT(testserver_count(&ts), 1);
	CHECK_INT(S.waits, 1);
	CHECK_STR(S.wait_reason, "GraphQL budget spent");
	CHECK(S.wait_until > time_now() + 3000);
	fetch_cancel_owner(S.f, &o.o);
	scene_run(2, NULL);
	CHECK_INT(c[0].status, FETCH_CANCELLED);
	scene_end();
	call_release(c, 2);
	testserver_stop(&ts);
	free(ok);
}

static void test_graphql_secondary(void)
{
	/* 200 with RATE_LIMITED while X-RateLimit-Remaining is above 0: a secondary limit,
	 * Retry-After honoured, then the answer. */
	struct testserver ts;
	char *limited = testserver_answer("HTTP/1.1 200 OK", "Retry-After: 1\r\n"
					  "X-RateLimit-Remaining: 4000\r\nX-RateLimit-Limit: 5000\r\n",
					  rate_limited, strlen(rate_limited));
	char *ok = ok_answer("{\"data\":{}}");
	struct testserver_route routes[] = {{"/graphql", TS_ANSWER, limited, 0},
					    {"/graphql", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	testserver_times(&ts, 0, 1);
	scene_begin(&ts, one_token, 1, 4, 0, 10);
	struct owner o;
	struct call c = {0};
	owner_init(&o);
	post(&o, "/graphql", 2, &c);
	scene_run(1, NULL);
	CHECK_INT(c.answer, GA_OK);
	CHECK_INT(c.attempts, 2);
	CHECK_INT(testserver_count(&ts), 2);
	CHECK(testserver_arrival_ms(&ts, 1) >= testserver_arrival_ms(&ts, 0) + 950);
	CHECK_INT(S.waits, 1);
	CHECK(strstr(S.wait_reason, "secondary") != NULL);
	/* without X-RateLimit-Resource, the headers are the request's own budget's: 4000, less
	 * the retry's 2 points (its answer says 4000 again, in the same window) */
	CHECK_INT(fetch_governor(S.f)->tok[0].b[FETCH_GRAPHQL].remaining, 3998);
	CHECK_INT(fetch_governor(S.f)->tok[0].b[FETCH_REST].remaining, -1);
	scene_end();
	call_release(&c, 1);
	testserver_stop(&ts);
	free(limited);
	free(ok);
}

/* ---- 8, 11. the origin guard; callbacks never inside fetch_get -------------------------- */

static void test_origin(void)
{
	struct testserver ts, other;
	char *ok = ok_answer("{\"n\":6}");
	struct testserver_route routes[] = {{"/", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	CHECK(testserver_start(&other, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 4, 3, 10);
	char away[4][160];
	snprintf(away[0], sizeof(away[0]), "http://other.invalid/x");
	/* Same host, another port: a server that would see the token if it were sent. */
	snprintf(away[1], sizeof(away[1]), "http://127.0.0.1:%d/x", other.port);
	/* Same host and port, another scheme. */
	snprintf(away[2], sizeof(away[2]), "https://127.0.0.1:%d/x", ts.port);
	/* Our host:port as userinfo in front of the other server. */
	snprintf(away[3], sizeof(away[3]), "http://127.0.0.1:%d@127.0.0.1:%d/x", ts.port,
		 other.port);
	struct owner o;
	struct call c[5] = {{0}};
	owner_init(&o);
	for (int i = 0; i < 4; i++) {
		get(&o, away[i], &c[i]);
		CHECK_INT(c[i].calls, 0); /* not from inside fetch_get */
	}
	get(&o, "/x", &c[4]); /* the server does answer what is on the origin */
	scene_run(5, NULL);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(c[i].calls, 1);
		CHECK_INT(c[i].status, FETCH_ANSWERED);
		CHECK_INT(c[i].answer, GA_FATAL);
		CHECK_INT(c[i].attempts, 0);
	}
	CHECK_INT(c[4].answer, GA_OK);
	CHECK_INT(testserver_count(&ts), 1);
	CHECK_INT(testserver_count(&other), 0);
	CHECK_INT(o.idle_calls, 1);
	CHECK_INT(o.done_at_idle, 5);
	scene_end();
	call_release(c, 5);
	testserver_stop(&ts);
	testserver_stop(&other);
	free(ok);
}

/* ---- 9. cancelling one owner ------------------------------------------------------------ */

static struct {
	struct owner warm, a, b;
	struct call cw, ca[5], cb[5], late;
	int state;
} cx;

static void cancel_step(void)
{
	char path[32];
	if (cx.state == 0 && cx.cw.calls == 1) {
		/* The budget is known now: two of A's start, the rest of A and all of B queue. */
		for (int i = 0; i < 5; i++) {
			snprintf(path, sizeof(path), "/a/%d", i);
			get(&cx.a, path, &cx.ca[i]);
		}
		for (int i = 0; i < 5; i++) {
			snprintf(path, sizeof(path), "/b/%d", i);
			get(&cx.b, path, &cx.cb[i]);
		}
		cx.state = 1;
	} else if (cx.state == 1 && fetch_http_stats(S.f)->in_flight == 2 &&
		   testserver_count(S.ts) >= 2) {
		/* A's first two are in flight, the first hangs at the server. (The second may
		 * not be sent yet: curl's PIPEWAIT holds it until the first answers.) */
		S.in_api = true;
		fetch_cancel_owner(S.f, &cx.a.o);
		S.in_api = false;
		get(&cx.a, "/b/late", &cx.late); /* a later get of A is cancelled too */
		cx.state = 2;
	}
}

static void test_cancel_owner(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":8}");
	struct testserver_route routes[] = {{"/a/", TS_HANG, NULL, 0}, {"/", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	/* A hung request ends at the 1 s timeout. */
	scene_begin(&ts, one_token, 1, 2, 0, 1);
	memset(&cx, 0, sizeof(cx));
	owner_init(&cx.warm);
	owner_init(&cx.a);
	owner_init(&cx.b);
	get(&cx.warm, "/warm", &cx.cw);
	scene_run(12, cancel_step);
	CHECK_INT(cx.state, 2);
	/* Every one of A's came back once, cancelled; the queued ones first, at once, the two
	 * in flight as they ended. */
	for (int i = 0; i < 5; i++) {
		CHECK_INT(cx.ca[i].calls, 1);
		CHECK_INT(cx.ca[i].status, FETCH_CANCELLED);
	}
	CHECK_INT(cx.late.calls, 1);
	CHECK_INT(cx.late.status, FETCH_CANCELLED);
	for (int q = 2; q < 5; q++)
		for (int f = 0; f < 2; f++)
			CHECK(cx.ca[q].order < cx.ca[f].order);
	/* What was queued never reached the server. */
	CHECK_INT(heads_with(&ts, "GET /a/0 "), 1);
	CHECK_INT(heads_with(&ts, "GET /a/2 "), 0);
	CHECK_INT(heads_with(&ts, "GET /a/3 "), 0);
	CHECK_INT(heads_with(&ts, "GET /a/4 "), 0);
	CHECK_INT(heads_with(&ts, "/late"), 0);
	CHECK_INT(cx.a.o.pending, 0);
	CHECK_INT(cx.a.idle_calls, 1);
	CHECK_INT(cx.a.done_at_idle, 6);
	/* B was not touched. */
	for (int i = 0; i < 5; i++) {
		CHECK_INT(cx.cb[i].calls, 1);
		CHECK_INT(cx.cb[i].status, FETCH_ANSWERED);
		CHECK_INT(cx.cb[i].answer, GA_OK);
		CHECK_STR(cx.cb[i].body, "{\"n\":8}");
		CHECK_INT(cx.cb[i].attempts, 1);
	}
	CHECK_INT(heads_with(&ts, "GET /b/"), 5);
	CHECK_INT(cx.b.o.pending, 0);
	CHECK_INT(cx.b.idle_calls, 1);
	CHECK_INT(cx.b.done_at_idle, 5);
	scene_end();
	call_release(&cx.cw, 1);
	call_release(cx.ca, 5);
	call_release(cx.cb, 5);
	call_release(&cx.late, 1);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 10, 11. stopping everything --------------------------------------------------------- */

static atomic_int decode_started;
static uv_sem_t decode_release;

/* Holds the thread-pool thread until the test lets it go. */
static void decode_blocking(struct fetch_req *fr, void *arg)
{
	(void)arg;
	atomic_store(&decode_started, 1);
	uv_sem_wait(&decode_release);
	fr->json = json_pack("{s:i}", "n", 9);
}

static struct {
	struct owner o;
	struct call decoding, hung, queued[3], after;
	int state;
	bool released;
} sx;

static void stop_step(void)
{
	if (sx.state == 0 && atomic_load(&decode_started)) {
		/* One in flight (the cap is 1), three behind it. */
		get(&sx.o, "/hang", &sx.hung);
		for (int i = 0; i < 3; i++)
			get(&sx.o, "/ok/q", &sx.queued[i]);
		sx.state = 1;
	} else if (sx.state == 1 && testserver_count(S.ts) >= 2) {
		S.in_api = true;
		fetch_stop(S.f);
		S.in_api = false;
		get(&sx.o, "/ok/after", &sx.after);
		CHECK_INT(sx.after.calls, 0);
		uv_sem_post(&decode_release);
		sx.released = true;
		sx.state = 2;
	}
}

static void test_stop(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":1}");
	struct testserver_route routes[] = {{"/hang", TS_HANG, NULL, 0},
					    {"/ok", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 2) == 0);
	CHECK(uv_sem_init(&decode_release, 0) == 0);
	atomic_store(&decode_started, 0);
	scene_begin(&ts, one_token, 1, 1, 3, 30);
	memset(&sx, 0, sizeof(sx));
	owner_init(&sx.o);
	get_ex(&sx.o, "/ok/decoding", NULL, decode_blocking, &sx.decoding, false);
	scene_run(6, stop_step);
	if (!sx.released)
		uv_sem_post(&decode_release); /* a failed test must not hang in fetch_free */
	CHECK_INT(sx.state, 2);
	struct call *all[] = {&sx.decoding, &sx.hung, &sx.queued[0], &sx.queued[1],
			      &sx.queued[2], &sx.after};
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		CHECK_INT(all[i]->calls, 1);
		CHECK_INT(all[i]->status, FETCH_CANCELLED);
	}
	/* The hung one did not wait for its 30 s timeout; the queued ones were never sent. */
	CHECK_INT(testserver_count(&ts), 2);
	CHECK_INT(heads_with(&ts, "/ok/q"), 0);
	CHECK_INT(heads_with(&ts, "/ok/after"), 0);
	CHECK_INT(sx.o.o.pending, 0);
	CHECK_INT(sx.o.idle_calls, 1);
	CHECK_INT(sx.o.done_at_idle, 6);
	scene_end();
	CHECK_INT(sx.o.idle_calls, 1);
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		call_release(all[i], 1);
	uv_sem_destroy(&decode_release);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 10b. cancelling an owner whose request is being decoded ---------------------------- */

static struct {
	struct owner o;
	struct call decoding;
	int state;
	bool released;
} dx;

static void cancel_decoding_step(void)
{
	if (dx.state == 0 && atomic_load(&decode_started)) {
		S.in_api = true;
		fetch_cancel_owner(S.f, &dx.o.o);
		S.in_api = false;
		uv_sem_post(&decode_release);
		dx.released = true;
		dx.state = 1;
	}
}

static void test_cancel_decoding(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":1}");
	struct testserver_route routes[] = {{"/", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	CHECK(uv_sem_init(&decode_release, 0) == 0);
	atomic_store(&decode_started, 0);
	scene_begin(&ts, one_token, 1, 2, 0, 10);
	memset(&dx, 0, sizeof(dx));
	owner_init(&dx.o);
	get_ex(&dx.o, "/d", NULL, decode_blocking, &dx.decoding, false);
	scene_run(1, cancel_decoding_step);
	if (!dx.released)
		uv_sem_post(&decode_release);
	/* Decoded after the cancel: handed over cancelled all the same (its json freed). */
	CHECK_INT(dx.state, 1);
	CHECK_INT(dx.decoding.calls, 1);
	CHECK_INT(dx.decoding.status, FETCH_CANCELLED);
	CHECK_INT(dx.o.o.pending, 0);
	CHECK_INT(dx.o.idle_calls, 1);
	scene_end();
	call_release(&dx.decoding, 1);
	uv_sem_destroy(&decode_release);
	testserver_stop(&ts);
	free(ok);
}

/* ---- 12. first: ahead of every queued request ------------------------------------------- */

static void test_first(void)
{
	struct testserver ts;
	char *ok = ok_answer("{\"n\":0}");
	struct testserver_route routes[] = {{"/", TS_ANSWER, ok, 0}};
	CHECK(testserver_start(&ts, routes, 1) == 0);
	scene_begin(&ts, one_token, 1, 1, 0, 10);
	struct owner o;
	struct call c[4] = {{0}};
	owner_init(&o);
	get(&o, "/1", &c[0]); /* starts now: the cap is 1 */
	get(&o, "/2", &c[1]);
	get(&o, "/3", &c[2]);
	get_ex(&o, "/page", NULL, NULL, &c[3], true);
	scene_run(4, NULL);
	CHECK_INT(testserver_count(&ts), 4);
	CHECK(head_has(&ts, 0, "GET /1 "));
	CHECK(head_has(&ts, 1, "GET /page "));
	CHECK(head_has(&ts, 2, "GET /2 "));
	CHECK(head_has(&ts, 3, "GET /3 "));
	for (int i = 0; i < 4; i++)
		CHECK_INT(c[i].answer, GA_OK);
	scene_end();
	call_release(c, 4);
	testserver_stop(&ts);
	free(ok);
}

int main(void)
{
	testserver_client_setup();
	loop_thread = pthread_self();
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
	test_ok();
	test_decode();
	test_retry_then_ok();
	test_retry_exhausted();
	test_cancel_resting();
	test_reset_then_ok();
	test_final_answers();
	test_auth_one_token();
	test_auth_pool();
	test_auth_pool_all_rejected();
	test_primary_pool();
	test_secondary();
	test_graphql_primary();
	test_graphql_held_rest_goes();
	test_graphql_secondary();
	test_origin();
	test_cancel_owner();
	test_cancel_decoding();
	test_stop();
	test_first();
	curl_global_cleanup();
	return CHECK_DONE();
}
