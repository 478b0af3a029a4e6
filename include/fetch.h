/* fetch.h - GET requests to the GitHub API under the governor: queue, admission, retries
 * with backoff, limit pauses. The phases see only final answers. */
#ifndef GHAMINER_FETCH_H
#define GHAMINER_FETCH_H

#include <stdbool.h>
#include <jansson.h>
#include <uv.h>

#include "ghapi.h"
#include "governor.h"
#include "http.h"

struct fetch;
struct fetch_req;

typedef void (*fetch_done_cb)(struct fetch_req *fr, void *arg);
/* Runs in libuv's thread pool on a 2xx answer, before done: may read fr->http (body,
 * headers) and set fr->json; touches nothing the loop thread uses meanwhile. */
typedef void (*fetch_decode_fn)(struct fetch_req *fr, void *arg);

struct fetch_req {
	char *url;  /* owned */
	char *etag; /* If-None-Match, owned, or NULL */
	fetch_done_cb done;
	void *arg;
	/* out, valid in done */
	enum ghapi_answer answer;
	bool aborted;    /* the miner is stopping; no answer */
	bool stale;      /* aborted late: decoded after fetch_cancel ended its pass, whose
			    counters must not be touched (a new pass may own them) */
	int attempts;
	int token;       /* index of the token the last attempt used */
	struct http_req http;
	json_t *json;    /* set by the decode step of a 2xx answer, or NULL; owned by the
			    request */
	/* private */
	fetch_decode_fn decode;
	unsigned generation;
	uv_work_t work;
	uint64_t not_before;
	struct fetch_req *next, *prev;
	struct fetch *f;
};

/* Called when a limit starts holding requests back (for a status line and progress):
 * a wait until until_epoch, or with spread_s > 0, one request every spread_s seconds
 * until the reset at until_epoch. Said once per reset and kind, not per request. */
typedef void (*fetch_wait_cb)(void *arg, const char *reason, double until_epoch,
			      double spread_s);

/* tokens: ntokens borrowed strings (a pool: each request goes to the token with the most
 * budget). */
struct fetch *fetch_new(uv_loop_t *loop, const char *const *tokens, int ntokens,
			int max_in_flight,
			int per_minute, int reserve, int max_retries, double timeout_s);
void fetch_on_wait(struct fetch *f, fetch_wait_cb cb, void *arg);
/* Only URLs on api's scheme, host and port are fetched (they carry the token); any other
 * completes at once with GA_FATAL. api is borrowed. */
void fetch_set_origin(struct fetch *f, const char *api);
/* Queue a GET; url and etag are copied. done gets the final answer. */
struct fetch_req *fetch_get(struct fetch *f, const char *url, const char *etag,
			    fetch_done_cb done, void *arg);
/* fetch_get whose 2xx body goes through decode(fr, arg) in libuv's thread pool before
 * done: parsing stays off the loop, which keeps the other transfers moving. */
struct fetch_req *fetch_get_decoded(struct fetch *f, const char *url, const char *etag,
				    fetch_decode_fn decode, fetch_done_cb done, void *arg);
/* The same, ahead of every queued request: for listing pages, which make more work. */
struct fetch_req *fetch_get_first(struct fetch *f, const char *url, const char *etag,
				  fetch_decode_fn decode, fetch_done_cb done, void *arg);
/* Free a request after its done callback (or inside it). */
void fetch_req_free(struct fetch_req *fr);
/* How many more requests the caller expects: lets the governor spread the budget. */
void fetch_set_backlog(struct fetch *f, long backlog);
/* Abort everything: queued and in-flight requests complete with aborted = true. */
void fetch_stop(struct fetch *f);
/* The same, but later requests are served again (watch mode drops a failing pass). */
void fetch_cancel(struct fetch *f);
struct governor *fetch_governor(struct fetch *f);
const struct http_stats *fetch_http_stats(const struct fetch *f);
/* Close handles; freed once the loop has run them closed. */
void fetch_free(struct fetch *f);

#endif
