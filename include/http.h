/* http.h - libcurl multi driven by libuv (uv_poll per socket, one uv_timer): the request
 * lifecycle from start to completion callback. Knows nothing of GitHub's rules. */
#ifndef GHAMINER_HTTP_H
#define GHAMINER_HTTP_H

#include <curl/curl.h>
#include <sys/queue.h>
#include <uv.h>

#include "util.h"

struct http;
struct http_req;

typedef void (*http_done_cb)(struct http_req *req, void *arg);

/* One request. The caller owns the struct and keeps it alive until done has been called;
 * http_req_release frees what the module allocated in it (easy handle, header list, body,
 * header strings). A struct may be started again after done, e.g. for a retry. */
struct http_req {
	/* in */
	const char *url;           /* borrowed until done */
	const char *if_none_match; /* borrowed, or NULL */
	const char *post;          /* a JSON body to POST (GraphQL), borrowed, or NULL: GET */
	const char *token;         /* borrowed, or NULL: sent only as "Authorization: Bearer" */
	http_done_cb done;
	void *arg;
	/* out, valid in done and until the next http_start or http_req_release; the strings
	 * are owned by the request */
	long status;          /* 0 on a transport error (result says which) */
	CURLcode result;      /* CURLE_OK, or why the transfer failed (a body cut short of its
				 Content-Length is CURLE_PARTIAL_FILE) */
	char errbuf[CURL_ERROR_SIZE]; /* curl's words when result != CURLE_OK */
	struct buf body;      /* decoded (gzip, deflate …) */
	char *link;           /* Link header (several are joined with ", "), or NULL */
	char *etag;           /* ETag header, or NULL */
	char *rl_resource;    /* X-RateLimit-Resource ("core", "graphql" …), or NULL */
	long rl_remaining;    /* X-RateLimit-Remaining, -1 when absent */
	long rl_limit;        /* X-RateLimit-Limit, -1 when absent */
	double rl_reset;      /* X-RateLimit-Reset, epoch seconds, 0 when absent */
	double retry_after;   /* Retry-After in seconds from now (an HTTP date is converted,
				 one in the past is 0; an unreadable value is 60), -1 when absent */
	char *location;       /* a 3xx's Location as an absolute URL, or NULL (not followed) */
	/* private */
	CURL *easy;
	struct curl_slist *headers;
	struct http *h;
	TAILQ_ENTRY(http_req) in_flight;
};

struct http_stats {
	uint64_t requests;
	int in_flight;
	int max_in_flight;
};

/* timeout_s: whole-request timeout. user_agent: sent on every request (copied). NULL when
 * curl's multi handle cannot be made. */
struct http *http_new(uv_loop_t *loop, double timeout_s, const char *user_agent);
/* Start a request now. 0, or a negative errno when curl refused it (done is not called):
 * -ENOMEM without an easy handle, -EIO when the multi handle refused it. */
int http_start(struct http *h, struct http_req *req);
/* Abort every request in flight; done is called for each with status 0, result
 * CURLE_ABORTED_BY_CALLBACK. */
void http_abort_all(struct http *h);
void http_req_release(struct http_req *req);
const struct http_stats *http_stats(const struct http *h);
/* Abort what is in flight and close the uv handles; the struct is freed once they are
 * closed (run the loop). */
void http_free(struct http *h);

#endif
