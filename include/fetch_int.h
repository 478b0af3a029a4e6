/* fetch_int.h - what fetch.c and fetch_answer.c share: the queues and the internal steps.
 * Not for other modules. */
#ifndef GHAMINER_FETCH_INT_H
#define GHAMINER_FETCH_INT_H

#include "fetch.h"

TAILQ_HEAD(req_list, fetch_req);

enum { FETCH_URGENT, FETCH_NORMAL, FETCH_CLASSES };

struct fetch {
	uv_loop_t *loop;
	struct http *http;
	struct governor gov;
	uv_timer_t pump_timer;
	uv_timer_t deliver_timer;      /* hands over decided answers from the loop */
	int open_handles;
	int decoding;                  /* bodies being decoded in the thread pool */
	bool freed;                    /* fetch_free was called */
	bool stopping, pumping;
	bool submitting;               /* inside fetch_get or fetch_post */
	bool announce[GOVERNOR_RESOURCES]; /* a limiting state to say, from the loop */
	/* waiting for admission, each FIFO: listing pages (more work) ahead of jobs requests */
	struct req_list queue[FETCH_CLASSES];
	size_t queued[GOVERNOR_RESOURCES]; /* in the queues, per resource */
	struct req_list decided;       /* final, not yet handed over */
	const char *const *tokens;
	int ntokens;
	int max_retries;
	const char *origin;
	fetch_wait_cb on_wait;
	void *wait_arg;
	/* the resets already announced, per resource and kind */
	double told_spent[GOVERNOR_RESOURCES], told_spread[GOVERNOR_RESOURCES];
	unsigned rng;
};

/* The steps both files take (fetch.c). */
void fetch_requeue_front(struct fetch *f, struct fetch_req *r);
void fetch_enqueue(struct fetch *f, struct fetch_req *r);
void fetch_decide(struct fetch *f, struct fetch_req *r, enum fetch_status status);
void fetch_pump(struct fetch *f);
void fetch_free_if_done(struct fetch *f);
void fetch_req_free(struct fetch_req *r);
double fetch_jitter(struct fetch *f);
/* http's done callback for every request (fetch_answer.c). */
void fetch_on_http_done(struct http_req *hr, void *arg);

#endif
