/* fetch.c - requests to the GitHub API under the governor: queue, admission, retries with
 * backoff, limit pauses; every final answer handed over from the loop. */
#include "fetch.h"
#include "fetch_int.h"

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "util.h"

void fetch_pump(struct fetch *f);

static struct req_list *class_of(struct fetch *f, const struct fetch_req *r)
{
	return &f->queue[r->first ? FETCH_URGENT : FETCH_NORMAL];
}

/* Back where it was: a request held by a limit or moved to another token. */
void fetch_requeue_front(struct fetch *f, struct fetch_req *r)
{
	TAILQ_INSERT_HEAD(class_of(f, r), r, link);
	f->queued[r->resource]++;
}

/* At the tail. A retry rests (owner->resting) until it leaves the queue after its backoff. */
void fetch_enqueue(struct fetch *f, struct fetch_req *r)
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
	fetch_pump(t->data);
}

double fetch_jitter(struct fetch *f)
{
	return (double)(rand_r(&f->rng) % 1000) / 1000.0;
}

void fetch_req_free(struct fetch_req *r)
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
	fetch_req_free(r);
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
 * inside fetch_get, the fetch_pump, or a curl callback whose caller may be iterating over state
 * the callback frees. */
void fetch_decide(struct fetch *f, struct fetch_req *r, enum fetch_status status)
{
	r->status = status;
	TAILQ_INSERT_TAIL(&f->decided, r, link);
	uv_timer_start(&f->deliver_timer, on_deliver_timer, 0, 0);
}

void fetch_free_if_done(struct fetch *f)
{
	if (f->freed && f->open_handles == 0 && f->decoding == 0)
		free(f);
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
	r->http.done = fetch_on_http_done;
	r->http.arg = r;
	if (http_start(f->http, &r->http) == 0) {
		r->sent++;
		return true;
	}
	governor_done(&f->gov, token, r->resource, r->cost);
	r->answer = GA_RETRY;
	snprintf(r->http.errbuf, sizeof(r->http.errbuf), "cannot start the request");
	if (++r->attempts > f->max_retries) {
		fetch_decide(f, r, FETCH_ANSWERED);
	} else {
		r->not_before = now + governor_backoff_ms(r->attempts, fetch_jitter(f));
		fetch_enqueue(f, r);
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
			fetch_decide(f, r, FETCH_ANSWERED);
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
void fetch_pump(struct fetch *f)
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
		fetch_decide(f, r, FETCH_CANCELLED);
		return;
	}
	if (f->origin && !ghapi_same_origin(f->origin, r->url)) {
		msg_error("refusing to send the token to '%s': not on %s (a pagination link to "
			  "another host?)", r->url, f->origin);
		r->answer = GA_FATAL;
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "URL outside the API");
		fetch_decide(f, r, FETCH_ANSWERED);
		return;
	}
	fetch_enqueue(f, r);
	f->submitting = true;
	fetch_pump(f);
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
				fetch_decide(f, r, FETCH_CANCELLED);
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
	http_abort_all(f->http); /* each comes back through fetch_on_http_done, cancelled */
	for (int c = 0; c < FETCH_CLASSES; c++) {
		while ((r = TAILQ_FIRST(&f->queue[c]))) {
			dequeue(f, &f->queue[c], r);
			fetch_decide(f, r, FETCH_CANCELLED);
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
	fetch_free_if_done(f);
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
