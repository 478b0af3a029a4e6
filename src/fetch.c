/* fetch.c - GET requests to the GitHub API under the governor: queue, admission, retries
 * with backoff, limit pauses. */
#include "fetch.h"

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "util.h"

struct fetch {
	uv_loop_t *loop;
	struct http *http;
	struct governor gov;
	uv_timer_t pump_timer;
	uv_timer_t deliver_timer;      /* hands over answers decided inside pump() */
	int open_handles;
	int decoding;                  /* bodies being decoded in the thread pool */
	unsigned generation;           /* bumped by fetch_cancel: older answers are stale */
	bool freed;                    /* fetch_free was called */
	struct fetch_req *head, *tail; /* queued, FIFO */
	struct fetch_req *done_head, *done_tail; /* decided, not yet handed over */
	size_t queued, in_flight;
	const char *const *tokens;
	int ntokens;
	int max_retries;
	bool stopping;
	bool pumping;
	const char *origin; /* the API base URL: nothing else is fetched */
	fetch_wait_cb on_wait;
	void *wait_arg;
	double told_spent, told_spread; /* the resets already announced, per kind */
	unsigned rng;
};

static void pump(struct fetch *f);

static void on_pump_timer(uv_timer_t *t)
{
	pump(t->data);
}

static void unlink_req(struct fetch *f, struct fetch_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		f->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		f->tail = r->prev;
	r->next = r->prev = NULL;
	f->queued--;
}

static void enqueue(struct fetch *f, struct fetch_req *r, bool front)
{
	r->next = r->prev = NULL;
	if (front) {
		r->next = f->head;
		if (f->head)
			f->head->prev = r;
		else
			f->tail = r;
		f->head = r;
	} else {
		r->prev = f->tail;
		if (f->tail)
			f->tail->next = r;
		else
			f->head = r;
		f->tail = r;
	}
	f->queued++;
}

static double jitter(struct fetch *f)
{
	return (double)(rand_r(&f->rng) % 1000) / 1000.0;
}

static void complete(struct fetch *f, struct fetch_req *r)
{
	(void)f;
	r->done(r, r->arg);
}

static void on_deliver_timer(uv_timer_t *t)
{
	struct fetch *f = t->data;
	while (f->done_head) {
		struct fetch_req *r = f->done_head;
		f->done_head = r->next;
		if (!f->done_head)
			f->done_tail = NULL;
		r->next = r->prev = NULL;
		complete(f, r);
	}
}

/* A final answer decided inside pump(): handed over from the loop, never from inside the
 * pump, whose caller may be iterating over state the callback frees. */
static void complete_later(struct fetch *f, struct fetch_req *r)
{
	r->next = NULL;
	r->prev = f->done_tail;
	if (f->done_tail)
		f->done_tail->next = r;
	else
		f->done_head = r;
	f->done_tail = r;
	uv_timer_start(&f->deliver_timer, on_deliver_timer, 0, 0);
}

static void free_if_done(struct fetch *f)
{
	if (f->freed && f->open_handles == 0 && f->decoding == 0)
		free(f);
}

/* In a thread-pool thread: touches only this request's body and result. */
static void decode_body(uv_work_t *w)
{
	struct fetch_req *r = w->data;
	r->decode(r, r->arg);
}

static void after_decode(uv_work_t *w, int status)
{
	struct fetch_req *r = w->data;
	struct fetch *f = r->f;
	f->decoding--;
	r->stale = r->generation != f->generation;
	if (status != 0 || f->stopping || f->freed || r->stale)
		r->aborted = true;
	complete(f, r);
	free_if_done(f);
}

static void on_http_done(struct http_req *hr, void *arg)
{
	struct fetch_req *r = arg;
	struct fetch *f = r->f;
	uint64_t now = time_mono_ms();
	double now_epoch = time_now();
	f->in_flight--;
	governor_observe(&f->gov, r->token, hr->rl_remaining, hr->rl_limit, hr->rl_reset);
	governor_done(&f->gov, r->token);
	if (f->stopping || hr->result == CURLE_ABORTED_BY_CALLBACK) {
		r->aborted = true;
		complete(f, r);
		return;
	}
	r->attempts++;
	r->answer = ghapi_classify(hr->status, hr->rl_remaining, hr->retry_after >= 0,
				   hr->body.data);
	switch (r->answer) {
	case GA_AUTH:
		/* In a pool, a rejected token is dropped (said once) and the request goes to
		 * another; only when none is left is the answer final. */
		if (f->ntokens > 1) {
			int live = governor_drop_token(&f->gov, -1);
			if (!f->gov.tok[r->token].dead) {
				live = governor_drop_token(&f->gov, r->token);
				msg_warn("token #%d of %d was rejected (401 Bad credentials): dropped, "
					 "%d left", r->token + 1, f->ntokens, live);
			}
			if (live > 0) {
				r->attempts--;
				enqueue(f, r, true);
				break;
			}
		}
		complete(f, r);
		break;
	case GA_PRIMARY:
		/* Said by announce_limiting once no token has budget left; in a pool the
		 * others carry on meanwhile. */
		governor_primary(&f->gov, r->token, hr->rl_reset > 0 ? hr->rl_reset : now_epoch + 60);
		r->attempts--; /* waiting for the budget is not a failed attempt */
		enqueue(f, r, true);
		break;
	case GA_SECONDARY:
		if (governor_secondary(&f->gov, now, hr->retry_after) && f->on_wait)
			f->on_wait(f->wait_arg, "secondary rate limit reached",
				   now_epoch + (double)(f->gov.pause_until - now) / 1000.0, 0);
		if (r->attempts > f->max_retries + 5) {
			complete(f, r);
			break;
		}
		enqueue(f, r, true);
		break;
	case GA_RETRY:
		if (r->attempts > f->max_retries) {
			complete(f, r);
			break;
		}
		r->not_before = now + governor_backoff_ms(r->attempts, jitter(f));
		msg_info("retrying %s in %.1f s (attempt %d of %d): %s", r->url,
			 (double)(r->not_before - now) / 1000.0, r->attempts + 1,
			 f->max_retries + 1, hr->status ? "server error" : hr->errbuf);
		enqueue(f, r, false);
		break;
	default:
		governor_success(&f->gov);
		if (r->decode && r->answer == GA_OK) {
			f->decoding++;
			uv_queue_work(f->loop, &r->work, decode_body, after_decode);
			break;
		}
		complete(f, r);
		break;
	}
	pump(f);
}

/* Say when the primary budget starts holding requests back: once per reset and kind. */
static void announce_limiting(struct fetch *f)
{
	const struct governor *g = &f->gov;
	if (!f->on_wait)
		return;
	/* Spreading runs the budget out just at the reset: a wait of a second or two is
	 * the plan working, not news. */
	if (g->limiting == GOV_SPENT && f->told_spent != g->limiting_reset &&
	    g->limiting_reset - time_now() > 3) {
		f->told_spent = g->limiting_reset;
		f->on_wait(f->wait_arg, "primary budget spent", g->limiting_reset + 1, 0);
	} else if (g->limiting == GOV_SPREADING && f->told_spread != g->limiting_reset) {
		f->told_spread = g->limiting_reset;
		f->on_wait(f->wait_arg, "primary budget short of the work left", g->limiting_reset,
			   g->spread_gap_ms / 1000.0);
	}
}

/* Start every queued request the governor admits; arm the timer for the next chance. */
static void pump(struct fetch *f)
{
	uint64_t now, wait = 0, soonest = UINT64_MAX;
	if (f->pumping || f->stopping)
		return;
	f->pumping = true;
	uv_timer_stop(&f->pump_timer);
	now = time_mono_ms();
	for (struct fetch_req *r = f->head, *nx; r; r = nx) {
		nx = r->next;
		if (r->not_before > now) {
			if (r->not_before < soonest)
				soonest = r->not_before;
			continue;
		}
		int token = 0;
		enum governor_verdict v = governor_admit(&f->gov, now, time_now(), &wait, &token);
		announce_limiting(f);
		if (v == GOV_NO_TOKEN) {
			/* Every token was rejected: the request fails as unauthorised. */
			unlink_req(f, r);
			r->answer = GA_AUTH;
			complete_later(f, r);
			continue;
		}
		if (v == GOV_WAIT_COMPLETION)
			break;
		if (v == GOV_WAIT_TIME) {
			if (now + wait < soonest)
				soonest = now + wait;
			break;
		}
		unlink_req(f, r);
		r->http.url = r->url;
		r->http.if_none_match = r->etag;
		r->token = token;
		r->http.token = token < f->ntokens ? f->tokens[token] : NULL;
		r->http.done = on_http_done;
		r->http.arg = r;
		f->in_flight++;
		if (http_start(f->http, &r->http) != 0) {
			/* libcurl refused it (out of memory): a failed attempt like any other. */
			f->in_flight--;
			governor_done(&f->gov, token);
			r->answer = GA_RETRY;
			snprintf(r->http.errbuf, sizeof(r->http.errbuf), "cannot start the request");
			if (++r->attempts > f->max_retries) {
				complete_later(f, r);
			} else {
				r->not_before = now + governor_backoff_ms(r->attempts, jitter(f));
				enqueue(f, r, false);
				if (r->not_before < soonest)
					soonest = r->not_before;
			}
		}
	}
	if (soonest != UINT64_MAX)
		uv_timer_start(&f->pump_timer, on_pump_timer, soonest > now ? soonest - now : 1, 0);
	f->pumping = false;
}

struct fetch *fetch_new(uv_loop_t *loop, const char *const *tokens, int ntokens,
			int max_in_flight, int per_minute, int reserve, int max_retries,
			double timeout_s)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	char ua[64];
	snprintf(ua, sizeof(ua), "ghaminer/%s", GHAMINER_VERSION);
	f->loop = loop;
	f->http = http_new(loop, timeout_s, ua);
	if (!f->http) {
		free(f);
		return NULL;
	}
	f->tokens = tokens;
	f->ntokens = ntokens > GOVERNOR_MAX_TOKENS ? GOVERNOR_MAX_TOKENS : ntokens;
	f->max_retries = max_retries;
	f->rng = (unsigned)time_mono_ms();
	governor_init(&f->gov, f->ntokens, max_in_flight, per_minute, reserve);
	uv_timer_init(loop, &f->pump_timer);
	uv_timer_init(loop, &f->deliver_timer);
	f->pump_timer.data = f->deliver_timer.data = f;
	f->open_handles = 2;
	return f;
}

void fetch_set_origin(struct fetch *f, const char *api)
{
	f->origin = api;
}

void fetch_on_wait(struct fetch *f, fetch_wait_cb cb, void *arg)
{
	f->on_wait = cb;
	f->wait_arg = arg;
}

static struct fetch_req *get(struct fetch *f, const char *url, const char *etag,
			     fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first)
{
	struct fetch_req *r = xcalloc(1, sizeof(*r));
	r->url = xstrdup(url);
	r->etag = etag ? xstrdup(etag) : NULL;
	r->done = done;
	r->arg = arg;
	r->f = f;
	r->decode = decode;
	r->work.data = r;
	r->generation = f->generation;
	buf_init(&r->http.body, 0);
	if (f->stopping) {
		r->aborted = true;
		done(r, arg);
		return NULL;
	}
	if (f->origin && !ghapi_same_origin(f->origin, url)) {
		msg_error("refusing to send the token to '%s': not on %s (a pagination link to "
			  "another host?)", url, f->origin);
		r->answer = GA_FATAL;
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "URL outside the API");
		complete_later(f, r);
		return r;
	}
	enqueue(f, r, first);
	pump(f);
	return r;
}

struct fetch_req *fetch_get(struct fetch *f, const char *url, const char *etag,
			    fetch_done_cb done, void *arg)
{
	return get(f, url, etag, NULL, done, arg, false);
}

struct fetch_req *fetch_get_decoded(struct fetch *f, const char *url, const char *etag,
				    fetch_decode_fn decode, fetch_done_cb done, void *arg)
{
	return get(f, url, etag, decode, done, arg, false);
}

struct fetch_req *fetch_get_first(struct fetch *f, const char *url, const char *etag,
				  fetch_decode_fn decode, fetch_done_cb done, void *arg)
{
	return get(f, url, etag, decode, done, arg, true);
}

void fetch_req_free(struct fetch_req *r)
{
	if (!r)
		return;
	http_req_release(&r->http);
	json_decref(r->json);
	free(r->url);
	free(r->etag);
	free(r);
}

void fetch_set_backlog(struct fetch *f, long backlog)
{
	f->gov.backlog = backlog;
}

void fetch_stop(struct fetch *f)
{
	if (f->stopping)
		return;
	f->stopping = true;
	uv_timer_stop(&f->pump_timer);
	http_abort_all(f->http);
	while (f->head) {
		struct fetch_req *r = f->head;
		unlink_req(f, r);
		r->aborted = true;
		complete(f, r);
	}
	uv_timer_stop(&f->deliver_timer);
	while (f->done_head) {
		struct fetch_req *r = f->done_head;
		f->done_head = r->next;
		if (!f->done_head)
			f->done_tail = NULL;
		r->aborted = true;
		complete(f, r);
	}
}

void fetch_cancel(struct fetch *f)
{
	if (f->stopping)
		return;
	fetch_stop(f);
	f->generation++; /* bodies still being decoded belong to the cancelled work */
	f->stopping = false;
}

struct governor *fetch_governor(struct fetch *f)
{
	return &f->gov;
}

const struct http_stats *fetch_http_stats(const struct fetch *f)
{
	return http_stats(f->http);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct fetch *f = h->data;
	f->open_handles--;
	free_if_done(f);
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	fetch_stop(f);
	f->freed = true;
	http_free(f->http);
	uv_close((uv_handle_t *)&f->pump_timer, on_timer_closed);
	uv_close((uv_handle_t *)&f->deliver_timer, on_timer_closed);
}
