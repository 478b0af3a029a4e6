/* http.h - libcurl multi driven by libuv (uv_poll per socket, one uv_timer): the request
 * lifecycle from start to completion callback. Knows nothing of GitHub's rules. */
#ifndef GHAMINER_HTTP_H
#define GHAMINER_HTTP_H

#include <curl/curl.h>
#include <uv.h>

#include "util.h"

struct http;
struct http_req;

typedef void (*http_done_cb)(struct http_req *req, void *arg);

struct http_req {
	/* in */
	const char *url;           /* borrowed until done */
	const char *if_none_match; /* borrowed, or NULL */
	const char *token;         /* borrowed, or NULL */
	http_done_cb done;
	void *arg;
	/* out, valid in done */
	long status;          /* 0 on a transport error */
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	struct buf body;
	char *link;           /* Link header, or NULL */
	char *etag;           /* ETag header, or NULL */
	long rl_remaining;    /* -1 when absent */
	long rl_limit;
	double rl_reset;      /* epoch seconds, 0 when absent */
	double retry_after;   /* seconds, -1 when absent */
	/* private */
	CURL *easy;
	struct curl_slist *headers;
	struct http *h;
	struct http_req *next, *prev; /* in flight */
};

struct http_stats {
	uint64_t requests;
	int in_flight;
	int max_in_flight;
};

/* timeout_s: whole-request timeout. user_agent: sent on every request. */
struct http *http_new(uv_loop_t *loop, double timeout_s, const char *user_agent);
/* Start a request now. 0, or -1 when curl refused it (done is not called). */
int http_start(struct http *h, struct http_req *req);
/* Abort every request in flight; done is called for each with status 0, result
 * CURLE_ABORTED_BY_CALLBACK. */
void http_abort_all(struct http *h);
void http_req_release(struct http_req *req);
const struct http_stats *http_stats(const struct http *h);
/* Close the uv handles; the struct is freed once they are closed (run the loop). */
void http_free(struct http *h);

#endif
