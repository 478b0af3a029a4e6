/* fetch.c - requests to the GitHub API under the governor: queue, admission, retries with
 * backoff, limit pauses; every final answer handed over from the loop. */
#include "fetch.h"

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "util.h"

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

static void pump(struct fetch *f);

static struct req_list *class_of(struct fetch *f, const struct fetch_req *r)
{
	return &f->queue[r->first ? FETCH_URGENT : FETCH_NORMAL];
}

/* Back where it was: a request held by a limit or moved to another token. */
static void requeue_front(struct fetch *f, struct fetch_req *r)
{
	TAILQ_INSERT_HEAD(class_of(f, r), r, link);
	f->queued[r->resource]++;
}

/* At the tail. A retry rests (owner->resting) until it leaves the queue after its backoff. */
static void enqueue(struct fetch *f, struct fetch_req *r)
{
	TAILQ_INSERT_TAIL(class_of(f, r), r, link);
	f->queued[r->resource]++;
	r->resting = r->attempts > 0;
	r->owner->resting += r->resting;
}

static void dequeue(struct fetch *f, struct req_list *q, struct fetch_req *r)
{
	TAILQ_REMOVE(q, r, link);
	f->queued[r->resource]--;
	r->owner->resting -= r->resting;
	r->resting = false;
}

static void on_pump_timer(uv_timer_t *t)
{
	pump(t->data);
}

static double jitter(struct fetch *f)
{
	return (double)(rand_r(&f->rng) % 1000) / 1000.0;
}

static void req_free(struct fetch_req *r)
{
	http_req_release(&r->http);
	json_decref(r->json);
	free(r->url);
	free(r->moved_to);
	free(r->etag);
	free(r->post);
	free(r);
}

/* Hand one request over: its callback, then its owner's count, then its memory. */
static void deliver(struct fetch_req *r)
{
	struct fetch_owner *o = r->owner;
	if (o->cancelled)
		r->status = FETCH_CANCELLED;
	o->requests += (uint64_t)r->sent;
	r->done(r, r->arg);
	req_free(r);
	if (--o->pending == 0 && o->idle)
		o->idle(o);
}

static void announce_due(struct fetch *f);

static void on_deliver_timer(uv_timer_t *t)
{
	struct fetch *f = t->data;
	struct fetch_req *r;
	while ((r = TAILQ_FIRST(&f->decided))) {
		TAILQ_REMOVE(&f->decided, r, link);
		deliver(r);
	}
	announce_due(f);
}

/* Every answer reaches its callback through here: from the deliver timer, never from
 * inside fetch_get, the pump, or a curl callback whose caller may be iterating over state
 * the callback frees. */
static void decide(struct fetch *f, struct fetch_req *r, enum fetch_status status)
{
	r->status = status;
	TAILQ_INSERT_TAIL(&f->decided, r, link);
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

static void schedule_retry(struct fetch *f, struct fetch_req *r, const char *why);

/* A 2xx body that is not what was asked for is transient like a 5xx: retried within the
 * same bound, then final as GA_RETRY. */
static void retry_malformed(struct fetch *f, struct fetch_req *r)
{
	r->malformed = false;
	json_decref(r->json);
	r->json = NULL;
	r->answer = GA_RETRY;
	snprintf(r->http.errbuf, sizeof(r->http.errbuf), "malformed answer (HTTP %ld)%s",
		 r->http.status, ghapi_is_html(r->http.body.data, r->http.body.len) ? ": an HTML "
		 "page, not JSON; if it persists, check that --api-url is the API "
		 "(https://api.github.com, or https://HOST/api/v3)" : "");
	if (r->attempts > f->max_retries) {
		decide(f, r, FETCH_ANSWERED);
		return;
	}
	schedule_retry(f, r, r->http.errbuf);
	pump(f);
}

static void after_decode(uv_work_t *w, int status)
{
	struct fetch_req *r = w->data;
	struct fetch *f = r->f;
	f->decoding--;
	if (f->freed) {
		/* Stopped and closed while decoding: nobody is left to hand it to. */
		req_free(r);
		free_if_done(f);
		return;
	}
	if (status != 0 || f->stopping || r->owner->cancelled)
		decide(f, r, FETCH_CANCELLED);
	else if (r->malformed)
		retry_malformed(f, r);
	else
		decide(f, r, FETCH_ANSWERED);
}

/* A 401 in a pool drops the token (said once) and the request goes to another; only when
 * none is left is the answer final. Returns true when the request was queued again. */
static bool retry_other_token(struct fetch *f, struct fetch_req *r)
{
	if (f->ntokens <= 1)
		return false;
	int live = governor_drop_token(&f->gov, -1);
	if (!f->gov.tok[r->token].dead) {
		live = governor_drop_token(&f->gov, r->token);
		msg_warn("token #%d of %d was rejected (401 Bad credentials): dropped, %d left",
			 r->token + 1, f->ntokens, live);
	}
	if (live == 0)
		return false;
	r->attempts--;
	requeue_front(f, r);
	return true;
}

/* Queue a failed attempt again after its backoff, and say so (no token in the URL). */
static void schedule_retry(struct fetch *f, struct fetch_req *r, const char *why)
{
	uint64_t now = time_mono_ms();
	r->not_before = now + governor_backoff_ms(r->attempts, jitter(f));
	msg_info("retrying %s in %.1f s (attempt %d of %d): %s", r->url,
		 (double)(r->not_before - now) / 1000.0, r->attempts + 1, f->max_retries + 1, why);
	enqueue(f, r);
}

/* A 3xx: asked again at once where it points when that is on the API's origin (a renamed
 * repository's 301 stays on api.github.com), else the final answer, GA_FATAL, so that the
 * token never goes to another host. true when r was handled. */
static bool take_redirect(struct fetch *f, struct fetch_req *r, const struct http_req *hr)
{
	const char *to = hr->location;
	if (hr->status != 301 && hr->status != 302 && hr->status != 303 && hr->status != 307 &&
	    hr->status != 308)
		return false;
	if (!to || (f->origin && !ghapi_same_origin(f->origin, to))) {
		msg_error("%s redirected to '%s', which is not on %s: not followed, so that the "
			  "token stays on the API's host; check --api-url", r->url,
			  to ? to : "(no Location)", f->origin);
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "redirected off the API");
	} else if (r->redirects >= POLICY_FETCH_MAX_REDIRECTS) {
		msg_error("%s: more than %d redirects; check --api-url", r->url,
			  POLICY_FETCH_MAX_REDIRECTS);
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "too many redirects");
	} else {
		r->redirects++;
		free(r->moved_to);
		r->moved_to = xstrdup(to);
		requeue_front(f, r);
		return true;
	}
	r->attempts++;
	r->answer = GA_FATAL;
	decide(f, r, FETCH_ANSWERED);
	return true;
}

/* Decide what an HTTP answer means: final, or queued again (retry, limit, other token).
 * budget: the one the rate-limit headers describe, or -1. */
static void take_answer(struct fetch *f, struct fetch_req *r, const struct http_req *hr,
			int budget)
{
	uint64_t now = time_mono_ms();
	double now_epoch = time_now();
	if (take_redirect(f, r, hr))
		return;
	r->attempts++;
	r->answer = (r->resource == FETCH_GRAPHQL ? ghapi_classify_graphql : ghapi_classify)(
		hr->status, hr->rl_remaining, hr->retry_after >= 0, hr->body.data);
	/* RATE_LIMITED with points left: the query costs more than remains. It waits for the
	 * reset, unless it costs more than a whole window (then it can never pass). */
	if (r->resource == FETCH_GRAPHQL && r->answer == GA_SECONDARY &&
	    ghapi_graphql_rate_limited(hr->body.data) && hr->rl_remaining >= 0 &&
	    r->cost > hr->rl_remaining)
		r->answer = hr->rl_limit > 0 && r->cost > hr->rl_limit ? GA_FATAL : GA_PRIMARY;
	switch (r->answer) {
	case GA_AUTH:
		if (!retry_other_token(f, r))
			decide(f, r, FETCH_ANSWERED);
		break;
	case GA_PRIMARY:
		/* Said by announce_limiting once no token has budget left; in a pool the
		 * others carry on meanwhile. */
		governor_primary(&f->gov, r->token,
				 budget < 0 ? r->resource : (enum fetch_resource)budget,
				 hr->rl_reset > 0 ? hr->rl_reset : now_epoch + POLICY_UNKNOWN_RESET_S);
		r->attempts--; /* waiting for the budget is not a failed attempt */
		requeue_front(f, r);
		break;
	case GA_SECONDARY:
		if (governor_secondary(&f->gov, now, hr->retry_after) && f->on_wait)
			f->on_wait(f->wait_arg, "secondary rate limit reached",
				   now_epoch + (double)(f->gov.pause_until - now) / 1000.0, 0);
		if (r->attempts > f->max_retries + POLICY_SECONDARY_EXTRA_ATTEMPTS)
			decide(f, r, FETCH_ANSWERED);
		else
			requeue_front(f, r);
		break;
	case GA_RETRY:
		if (r->attempts > f->max_retries)
			decide(f, r, FETCH_ANSWERED);
		else
			schedule_retry(f, r, hr->status ? "server error" : hr->errbuf);
		break;
	default:
		governor_success(&f->gov);
		if (r->decode && r->answer == GA_OK) {
			f->decoding++;
			uv_queue_work(f->loop, &r->work, decode_body, after_decode);
			break;
		}
		decide(f, r, FETCH_ANSWERED);
		break;
	}
}

/* The budget an answer's rate-limit headers describe: X-RateLimit-Resource ("core" is REST),
 * else the request's own; -1 for another one ("search" …), which the governor does not
 * keep. */
static int answer_budget(const struct fetch_req *r, const struct http_req *hr)
{
	if (!hr->rl_resource)
		return (int)r->resource;
	if (!strcmp(hr->rl_resource, "core"))
		return FETCH_REST;
	if (!strcmp(hr->rl_resource, "graphql"))
		return FETCH_GRAPHQL;
	return -1;
}

static void on_http_done(struct http_req *hr, void *arg)
{
	struct fetch_req *r = arg;
	struct fetch *f = r->f;
	int budget = answer_budget(r, hr);
	governor_done(&f->gov, r->token, r->resource, r->cost);
	if (budget >= 0)
		governor_observe(&f->gov, r->token, (enum fetch_resource)budget, hr->rl_remaining,
				 hr->rl_limit, hr->rl_reset);
	if (f->stopping || r->owner->cancelled || hr->result == CURLE_ABORTED_BY_CALLBACK)
		decide(f, r, FETCH_CANCELLED);
	else
		take_answer(f, r, hr, budget);
	pump(f);
}

/* Say when a primary budget starts holding requests back (once per resource, reset, kind). */
static void announce_limiting(struct fetch *f, enum fetch_resource res)
{
	static const char *const spent[] = {"primary budget spent", "GraphQL budget spent"};
	static const char *const short_of[] = {"primary budget short of the work left",
					       "GraphQL budget short of the work left"};
	const struct governor_lane *l = &f->gov.lane[res];
	if (!f->on_wait)
		return;
	if (l->limiting == GOV_SPENT && f->told_spent[res] != l->limiting_reset &&
	    l->limiting_reset - time_now() > POLICY_ANNOUNCE_WAIT_S) {
		f->told_spent[res] = l->limiting_reset;
		f->on_wait(f->wait_arg, spent[res], l->limiting_reset + POLICY_RESET_SLACK_S, 0);
	} else if (l->limiting == GOV_SPREADING && f->told_spread[res] != l->limiting_reset) {
		f->told_spread[res] = l->limiting_reset;
		f->on_wait(f->wait_arg, short_of[res], l->limiting_reset, l->spread_gap_ms / 1000.0);
	}
}

/* The limiting states a pump asked about, said from the loop: never inside fetch_get. */
static void announce_due(struct fetch *f)
{
	for (int i = 0; i < GOVERNOR_RESOURCES; i++) {
		if (f->announce[i]) {
			f->announce[i] = false;
			announce_limiting(f, (enum fetch_resource)i);
		}
	}
}

/* Hand one admitted request to http. false when libcurl refused it (out of memory): a
 * failed attempt like any other, queued again or final. */
static bool start(struct fetch *f, struct fetch_req *r, int token, uint64_t now)
{
	r->http.url = r->moved_to ? r->moved_to : r->url;
	r->http.if_none_match = r->etag;
	r->http.post = r->post;
	r->token = token;
	r->http.token = token < f->ntokens ? f->tokens[token] : NULL;
	r->http.done = on_http_done;
	r->http.arg = r;
	if (http_start(f->http, &r->http) == 0) {
		r->sent++;
		return true;
	}
	governor_done(&f->gov, token, r->resource, r->cost);
	r->answer = GA_RETRY;
	snprintf(r->http.errbuf, sizeof(r->http.errbuf), "cannot start the request");
	if (++r->attempts > f->max_retries) {
		decide(f, r, FETCH_ANSWERED);
	} else {
		r->not_before = now + governor_backoff_ms(r->attempts, jitter(f));
		enqueue(f, r);
	}
	return false;
}

/* One pass of the pump: what the governor holds back, and the next chance. */
struct pump_pass {
	uint64_t now;
	uint64_t soonest;
	bool held[GOVERNOR_RESOURCES];  /* refused in this pass: its later requests wait too */
	bool asked[GOVERNOR_RESOURCES]; /* admit was asked: its limiting may be news */
	bool on_completion;             /* a refusal that a completion lifts, not time */
};

/* Every resource with requests queued is held back: nothing more starts in this pass. */
static bool all_held(const struct fetch *f, const struct pump_pass *p)
{
	for (int i = 0; i < GOVERNOR_RESOURCES; i++)
		if (f->queued[i] > 0 && !p->held[i])
			return false;
	return true;
}

/* Start the queued requests of one class the governor admits. A request held back holds
 * the later ones of its resource (in both classes: listing pages stay ahead), never those of
 * the other resource: REST listing goes on while GraphQL waits for its reset, and vice
 * versa. */
static void pump_class(struct fetch *f, struct req_list *q, struct pump_pass *p)
{
	struct fetch_req *r, *nx;
	for (r = TAILQ_FIRST(q); r && !all_held(f, p); r = nx) {
		uint64_t wait = 0;
		int token = 0;
		enum governor_verdict v;
		nx = TAILQ_NEXT(r, link);
		if (r->not_before > p->now) {
			if (r->not_before < p->soonest)
				p->soonest = r->not_before;
			continue;
		}
		if (p->held[r->resource])
			continue;
		v = governor_admit(&f->gov, p->now, time_now(), r->resource, r->cost, &wait, &token);
		p->asked[r->resource] = true;
		if (v == GOV_NO_TOKEN) {
			/* Every token was rejected: the request fails as unauthorised. */
			dequeue(f, q, r);
			r->answer = GA_AUTH;
			decide(f, r, FETCH_ANSWERED);
			continue;
		}
		if (v != GOV_GO) {
			p->held[r->resource] = true;
			if (v == GOV_WAIT_COMPLETION)
				p->on_completion = true;
			else if (p->now + wait < p->soonest)
				p->soonest = p->now + wait;
			continue;
		}
		dequeue(f, q, r);
		if (!start(f, r, token, p->now) && r->not_before > p->now &&
		    r->not_before < p->soonest)
			p->soonest = r->not_before;
	}
}

/* Start every queued request the governor admits, listing pages first; arm the timer for
 * the next chance; say what holds requests back. */
static void pump(struct fetch *f)
{
	struct pump_pass p = {.soonest = UINT64_MAX};
	bool queued = false;
	if (f->pumping || f->stopping)
		return;
	f->pumping = true;
	uv_timer_stop(&f->pump_timer);
	p.now = time_mono_ms();
	for (int c = 0; c < FETCH_CLASSES; c++)
		pump_class(f, &f->queue[c], &p);
	for (int i = 0; i < GOVERNOR_RESOURCES; i++)
		queued |= f->queued[i] > 0;
	/* Every queued request waits for time (a limit, a backoff): a moment for slow work. */
	governor_held(&f->gov, queued && !p.on_completion && p.soonest != UINT64_MAX ? p.soonest
										      : 0);
	for (int i = 0; i < GOVERNOR_RESOURCES; i++)
		f->announce[i] |= p.asked[i] && f->gov.lane[i].limiting != GOV_FREE;
	if (!f->submitting)
		announce_due(f);
	else if (f->announce[FETCH_REST] || f->announce[FETCH_GRAPHQL])
		uv_timer_start(&f->deliver_timer, on_deliver_timer, 0, 0);
	if (p.soonest != UINT64_MAX)
		uv_timer_start(&f->pump_timer, on_pump_timer,
			       p.soonest > p.now ? p.soonest - p.now : 1, 0);
	f->pumping = false;
}

/* GHAMINER_RATE_WINDOW_MS shortens the window of the per-minute ceilings (which scale with
 * it) so that a scenario of seconds can meet them; 0 or unset: 60 s. */
static uint64_t rate_window_ms(void)
{
	const char *v = getenv("GHAMINER_RATE_WINDOW_MS");
	return v ? strtoull(v, NULL, 10) : 0;
}

struct fetch *fetch_new(uv_loop_t *loop, const struct fetch_config *cfg)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	char ua[64];
	snprintf(ua, sizeof(ua), "ghaminer/%s", GHAMINER_VERSION);
	f->loop = loop;
	f->http = http_new(loop, cfg->timeout_s, ua);
	if (!f->http) {
		free(f);
		return NULL;
	}
	for (int c = 0; c < FETCH_CLASSES; c++)
		TAILQ_INIT(&f->queue[c]);
	TAILQ_INIT(&f->decided);
	f->tokens = cfg->tokens;
	f->ntokens = cfg->ntokens > GOVERNOR_MAX_TOKENS ? GOVERNOR_MAX_TOKENS : cfg->ntokens;
	f->max_retries = cfg->max_retries;
	f->origin = cfg->origin;
	f->rng = (unsigned)time_mono_ms();
	governor_init(&f->gov, &(struct governor_config){
		.ntokens = f->ntokens,
		.max_in_flight = cfg->max_in_flight,
		.per_minute = cfg->per_minute,
		.graphql_per_minute = cfg->graphql_per_minute,
		.reserve = cfg->reserve,
		.same_user = cfg->same_user,
		.window_ms = rate_window_ms(),
	});
	uv_timer_init(loop, &f->pump_timer);
	uv_timer_init(loop, &f->deliver_timer);
	f->pump_timer.data = f->deliver_timer.data = f;
	f->open_handles = 2;
	return f;
}

void fetch_on_wait(struct fetch *f, fetch_wait_cb cb, void *arg)
{
	f->on_wait = cb;
	f->wait_arg = arg;
}

void fetch_set_tokens(struct fetch *f, const char *const *tokens, int ntokens)
{
	f->tokens = tokens;
	f->ntokens = ntokens < GOVERNOR_MAX_TOKENS ? ntokens : GOVERNOR_MAX_TOKENS;
	governor_add_tokens(&f->gov, f->ntokens);
}

static struct fetch_req *new_req(struct fetch_owner *owner, const char *url,
				 fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first)
{
	struct fetch_req *r = xcalloc(1, sizeof(*r));
	r->url = xstrdup(url);
	r->done = done;
	r->arg = arg;
	r->owner = owner;
	r->decode = decode;
	r->first = first;
	r->cost = 1;
	r->work.data = r;
	buf_init(&r->http.body, 0);
	return r;
}

/* Queue r, or end it at once (from the loop) when it must not go out. */
static void submit(struct fetch *f, struct fetch_req *r)
{
	r->f = f;
	r->owner->pending++;
	if (f->stopping || r->owner->cancelled) {
		decide(f, r, FETCH_CANCELLED);
		return;
	}
	if (f->origin && !ghapi_same_origin(f->origin, r->url)) {
		msg_error("refusing to send the token to '%s': not on %s (a pagination link to "
			  "another host?)", r->url, f->origin);
		r->answer = GA_FATAL;
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "URL outside the API");
		decide(f, r, FETCH_ANSWERED);
		return;
	}
	enqueue(f, r);
	f->submitting = true;
	pump(f);
	f->submitting = false;
}

void fetch_get(struct fetch *f, struct fetch_owner *owner, const char *url, const char *etag,
	       fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first)
{
	struct fetch_req *r = new_req(owner, url, decode, done, arg, first);
	r->etag = etag ? xstrdup(etag) : NULL;
	submit(f, r);
}

void fetch_post(struct fetch *f, struct fetch_owner *owner, const char *url, const char *body,
		int cost, fetch_decode_fn decode, fetch_done_cb done, void *arg, bool first)
{
	struct fetch_req *r = new_req(owner, url, decode, done, arg, first);
	r->post = xstrdup(body);
	r->resource = FETCH_GRAPHQL;
	r->cost = cost > 0 ? cost : 1;
	submit(f, r);
}

void fetch_backlog_add(struct fetch *f, long delta)
{
	governor_backlog_add(&f->gov, FETCH_REST, delta);
}

void fetch_backlog_add_on(struct fetch *f, enum fetch_resource resource, long delta)
{
	governor_backlog_add(&f->gov, resource, delta);
}

void fetch_cancel_owner(struct fetch *f, struct fetch_owner *owner)
{
	struct fetch_req *r, *nx;
	owner->cancelled = true;
	/* Queued ones end now; those in flight or decoding end as they come back. */
	for (int c = 0; c < FETCH_CLASSES; c++) {
		for (r = TAILQ_FIRST(&f->queue[c]); r; r = nx) {
			nx = TAILQ_NEXT(r, link);
			if (r->owner == owner) {
				dequeue(f, &f->queue[c], r);
				decide(f, r, FETCH_CANCELLED);
			}
		}
	}
}

void fetch_stop(struct fetch *f)
{
	struct fetch_req *r;
	if (f->stopping)
		return;
	f->stopping = true;
	uv_timer_stop(&f->pump_timer);
	http_abort_all(f->http); /* each comes back through on_http_done, cancelled */
	for (int c = 0; c < FETCH_CLASSES; c++) {
		while ((r = TAILQ_FIRST(&f->queue[c]))) {
			dequeue(f, &f->queue[c], r);
			decide(f, r, FETCH_CANCELLED);
		}
	}
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
	struct fetch_req *r;
	if (!f)
		return;
	fetch_stop(f);
	/* Nothing should be left to hand over; if something is, its owner still hears. */
	while ((r = TAILQ_FIRST(&f->decided))) {
		TAILQ_REMOVE(&f->decided, r, link);
		deliver(r);
	}
	f->freed = true;
	http_free(f->http);
	uv_close((uv_handle_t *)&f->pump_timer, on_timer_closed);
	uv_close((uv_handle_t *)&f->deliver_timer, on_timer_closed);
}
