/* fetch.h - requests to the GitHub API (REST GETs, GraphQL POSTs) under the governor: queue,
 * admission, retries with backoff, limit pauses. Callers see only final answers, always
 * from the loop. */
#ifndef GHAMINER_FETCH_H
#define GHAMINER_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <jansson.h>
#include <uv.h>

#include "ghapi.h"
#include "governor.h"
#include "http.h"

struct fetch;
struct fetch_req;

/* How a request ended: the one thing a done callback looks at first. */
enum fetch_status {
	FETCH_ANSWERED,  /* answer holds the final answer (after any retries) */
	FETCH_CANCELLED, /* stopped before an answer (fetch_stop, fetch_cancel_owner): free
			    the caller's own task, touch nothing else */
};

/* Called once per request, from the loop (never inside fetch_get or a curl callback that
 * the caller is running). fetch frees fr after it returns: copy what must outlive it. */
typedef void (*fetch_done_cb)(struct fetch_req *fr, void *arg);
/* Runs in libuv's thread pool on a 2xx answer, before done: may read fr->http (body,
 * headers) and set fr->json and fr->malformed; touches nothing the loop thread uses
 * meanwhile. It may run again for the same request (a retry after a malformed body). */
typedef void (*fetch_decode_fn)(struct fetch_req *fr, void *arg);

/* A group of requests with one lifetime (a repository session): fetch counts them, can
 * cancel them together, and says when the last one has been handed over. */
struct fetch_owner {
	size_t pending; /* requests issued whose done callback has not returned yet */
	bool cancelled;
	/* pending fell to 0: called after the last done callback returned, or NULL */
	void (*idle)(struct fetch_owner *o);
	uint64_t requests; /* HTTP requests sent for this owner: retries, requests to another
			      token after a 401 and requests cancelled in flight included */
	size_t resting;    /* of pending: waiting out a retry's backoff (neither in flight nor
			      answered), so that a window of work need not count them */
};

struct fetch_req {
	char *url;  /* owned */
	char *etag; /* If-None-Match, owned, or NULL */
	char *post; /* a JSON body to POST, owned, or NULL (GET) */
	enum fetch_resource resource;
	int cost;   /* what it spends of its budget: 1 for REST, a query's points for GraphQL */
	fetch_done_cb done;
	void *arg;
	struct fetch_owner *owner;
	/* out, valid in done */
	enum fetch_status status;
	enum ghapi_answer answer;
	int attempts;
	int token;       /* index of the token the last attempt used */
	int sent;        /* HTTP requests sent (attempts does not count limit waits) */
	struct http_req http;
	json_t *json;    /* set by the decode step of a 2xx answer, or NULL; owned by fr */
	bool malformed;  /* set by the decode step: the 2xx body is not the JSON expected (cut
			    short, the wrong shape: a proxy's hiccup). fetch retries it like a
			    5xx; when retries run out, the answer is GA_RETRY */
	/* private */
	char *moved_to;  /* where a redirect on the API's origin sent it, or NULL: url */
	int redirects;
	fetch_decode_fn decode;
	bool first;      /* queued ahead of the others (a listing page) */
	bool resting;    /* counted in owner->resting */
	uv_work_t work;
	uint64_t not_before;
	TAILQ_ENTRY(fetch_req) link;
	struct fetch *f;
};

/* Called when a limit starts holding requests back (for a status line and progress):
 * a wait until until_epoch, or with spread_s > 0, one request every spread_s seconds
 * until the reset at until_epoch. Said once per resource, reset and kind, not per request;
 * a primary budget's wait is said from the loop, never inside fetch_get or fetch_post.
 * reason: "secondary rate limit reached", "primary budget spent", "primary budget short of
 * the work left", or the same two for "GraphQL budget". */
typedef void (*fetch_wait_cb)(void *arg, const char *reason, double until_epoch,
			      double spread_s);

struct fetch_config {
	const char *const *tokens; /* borrowed; a pool: each request goes to the token with
				      the most budget */
	int ntokens;
	int max_in_flight;
	int per_minute;         /* REST requests in any 60 s, per token */
	int graphql_per_minute; /* GraphQL points in any 60 s, per token; 0: the default */
	bool same_user;         /* the tokens are one user's: one allowance for them all */
	int reserve;
	int max_retries;
	double timeout_s;
	const char *origin; /* borrowed: only URLs on its scheme, host and port are fetched
			       (they carry the token); any other ends at once with GA_FATAL */
};

/* NULL when libcurl cannot be set up. */
struct fetch *fetch_new(uv_loop_t *loop, const struct fetch_config *cfg);
void fetch_on_wait(struct fetch *f, fetch_wait_cb cb, void *arg);
/* The token pool grew (ghaminer serve: a client brought a token): tokens is the pool now,
 * borrowed, the old tokens first at the same places. */
void fetch_set_tokens(struct fetch *f, const char *const *tokens, int ntokens);
/* Queue a GET for owner; url and etag are copied. decode (or NULL) runs on a 2xx body in
 * the thread pool, which keeps parsing off the loop. first: ahead of every request queued
 * without it (listing pages, which make more work), in order among themselves. done gets
 * the final answer. */
void fetch_get(struct fetch *f, struct fetch_owner *owner, const char *url, const char *etag,
	       fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first);
/* POST a GraphQL query (body: {"query", "variables"} as JSON text, copied) that costs
 * cost points of the GraphQL budget; otherwise as fetch_get. */
void fetch_post(struct fetch *f, struct fetch_owner *owner, const char *url, const char *body,
		int cost, fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first);
/* How many more REST requests callers expect, added up over owners: lets the governor spread
 * the budget. */
void fetch_backlog_add(struct fetch *f, long delta);
/* The same for a resource: REST requests, or GraphQL points. */
void fetch_backlog_add_on(struct fetch *f, enum fetch_resource resource, long delta);
/* Cancel every request of owner (queued, in flight, being decoded): each completes with
 * FETCH_CANCELLED; later gets of owner too. */
void fetch_cancel_owner(struct fetch *f, struct fetch_owner *owner);
/* Cancel everything, now and later: the process is stopping. */
void fetch_stop(struct fetch *f);
struct governor *fetch_governor(struct fetch *f);
const struct http_stats *fetch_http_stats(const struct fetch *f);
/* Close handles; freed once the loop has run them closed and every decode returned. Call
 * when no owner has requests pending. */
void fetch_free(struct fetch *f);

#endif
