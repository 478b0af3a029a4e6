/* testserver.h - a scripted HTTP/1.1 server on 127.0.0.1 (port 0) in its own thread, for
 * unit tests that drive real transfers. Each route answers requests whose path starts with
 * its prefix with raw bytes, a connection reset, or silence; every request head is kept
 * for the test to inspect. One connection at a time, closed after the answer.
 *
 * Not a library source: a test that needs it does #include "testserver.c". */
#ifndef GHAMINER_TESTSERVER_H
#define GHAMINER_TESTSERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum testserver_action {
	TS_ANSWER, /* send `answer` (status line, headers, body as given), then close */
	TS_RESET,  /* read the request, then close with a TCP reset (SO_LINGER 0) */
	TS_HANG,   /* read the request, then hold the connection open without a word */
};

struct testserver_route {
	const char *prefix; /* matched against the request path; the first match wins */
	enum testserver_action action;
	const char *answer; /* TS_ANSWER: raw bytes, borrowed while the server runs */
	size_t len;         /* of answer; 0 = strlen(answer) */
};

#define TESTSERVER_MAX_HELD 256
#define TESTSERVER_MAX_ROUTES 32

struct testserver {
	int port; /* after testserver_start */
	/* private */
	int fd;
	pthread_t thread;
	volatile bool stop;
	const struct testserver_route *routes;
	size_t nroutes;
	pthread_mutex_t lock;
	char **requests; /* request heads, in arrival order */
	uint64_t *arrived_ms; /* when each head was read (CLOCK_MONOTONIC, ms) */
	size_t nrequests;
	int times[TESTSERVER_MAX_ROUTES]; /* see testserver_times; 0 = always */
	int hits[TESTSERVER_MAX_ROUTES];  /* requests each route answered */
	int held[TESTSERVER_MAX_HELD];
	size_t nheld;
};

/* Listen and serve routes (borrowed until testserver_stop). 0, or a negative errno. An
 * unrouted path is answered 404. */
int testserver_start(struct testserver *ts, const struct testserver_route *routes,
		     size_t nroutes);
/* Stop the thread, close every connection, free the request log. */
void testserver_stop(struct testserver *ts);
/* How many requests arrived so far. */
size_t testserver_count(struct testserver *ts);
/* Script a sequence: route i answers only its first `times` matching requests (0, the
 * default, is always); after that, later routes are tried, so {"/x" 500, times 1} before
 * {"/x" 200} answers 500, then 200. Call after testserver_start, before the requests. (Not a
 * field of struct testserver_route: the tests' positional route initializers would then
 * leave a field out, which -Wextra's -Wmissing-field-initializers rejects.) */
void testserver_times(struct testserver *ts, size_t route, int times);
/* When request i arrived, in milliseconds on CLOCK_MONOTONIC (the clock of time_mono_ms),
 * or 0. */
uint64_t testserver_arrival_ms(struct testserver *ts, size_t i);
/* A copy of request head i (request line and headers, CRLF-separated), or NULL. Caller
 * frees. */
char *testserver_request(struct testserver *ts, size_t i);
/* A whole answer with Content-Length and Connection: close added after `headers` (each
 * line ending in CRLF, may be ""). Caller frees. */
char *testserver_answer(const char *status_line, const char *headers, const char *body,
			size_t body_len);

/* For the test process, the client: no proxy from the environment between it and
 * 127.0.0.1, no death by SIGPIPE, and an alarm so that a hang fails the test. */
void testserver_client_setup(void);

#endif
