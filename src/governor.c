/* governor.c - admit or defer each request under GitHub's limits. Pure: clock passed in. */
#include "governor.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "policy.h"

#define MINUTE_MS 60000

/* A per-minute ceiling over a window of window_ms (tests shorten it): never below one. */
static long scaled_ceiling(int per_minute, uint64_t window_ms)
{
	double c = (double)per_minute * (double)window_ms / MINUTE_MS;
	return c < 1 ? 1 : (long)c;
}

void governor_init(struct governor *g, const struct governor_config *c)
{
	int gql = c->graphql_per_minute > 0 ? c->graphql_per_minute : POLICY_GRAPHQL_PER_MINUTE;
	memset(g, 0, sizeof(*g));
	g->max_in_flight = c->max_in_flight > 0 ? c->max_in_flight : 1;
	g->reserve = c->reserve >= 0 ? c->reserve : 0;
	g->same_user = c->same_user;
	g->window_ms = c->window_ms > 0 ? c->window_ms : MINUTE_MS;
	/* rounded up: slices never add up to less than the window */
	g->slice_ms = (g->window_ms + POLICY_WINDOW_SLICES - 1) / POLICY_WINDOW_SLICES;
	g->concurrency = g->max_in_flight;
	g->lane[FETCH_REST].ceiling = scaled_ceiling(c->per_minute > 0 ? c->per_minute : 1,
						     g->window_ms);
	g->lane[FETCH_GRAPHQL].ceiling = scaled_ceiling(gql, g->window_ms);
	g->ntokens = c->ntokens < 1 ? 1 : c->ntokens > GOVERNOR_MAX_TOKENS ? GOVERNOR_MAX_TOKENS
									   : c->ntokens;
	for (int r = 0; r < GOVERNOR_RESOURCES; r++) {
		g->lane[r].backlog = -1;
		for (int i = 0; i < g->ntokens; i++)
			g->tok[i].b[r].remaining = -1;
	}
}

/* ---------------------------------------------------------------- the sliding window */

/* Forget the slices that left the window by slice number now. */
static void window_advance(struct governor_window *w, uint64_t now)
{
	if (now <= w->head)
		return;
	if (now - w->head >= GOVERNOR_RING) {
		memset(w->count, 0, sizeof(w->count));
		w->sum = 0;
	} else {
		for (uint64_t s = w->head + 1; s <= now; s++) {
			w->sum -= w->count[s % GOVERNOR_RING];
			w->count[s % GOVERNOR_RING] = 0;
		}
	}
	w->head = now;
}

/* 0 when the window has room for cost now, else the wait until its oldest slices have left
 * it. Every admission of the last window is in one of the GOVERNOR_RING slices counted (an
 * admission at t' > now - window lies in slice >= now's - POLICY_WINDOW_SLICES), so the
 * exact sliding count never passes the ceiling. A cost above the whole ceiling goes alone. */
static uint64_t window_wait(const struct governor *g, struct governor_window *w,
			    uint64_t now_ms, long cost, long ceiling)
{
	uint64_t s, oldest;
	long left;
	window_advance(w, now_ms / g->slice_ms);
	if (w->sum == 0 || w->sum + cost <= ceiling)
		return 0;
	left = w->sum;
	oldest = w->head >= GOVERNOR_RING - 1 ? w->head - (GOVERNOR_RING - 1) : 0;
	for (s = oldest; s < w->head; s++) {
		left -= w->count[s % GOVERNOR_RING];
		if (left == 0 || left + cost <= ceiling)
			break;
	}
	/* slice s is no longer counted once slice s + GOVERNOR_RING begins */
	return (s + GOVERNOR_RING) * g->slice_ms - now_ms;
}

static void window_add(const struct governor *g, struct governor_window *w, uint64_t now_ms,
		       long cost)
{
	window_advance(w, now_ms / g->slice_ms);
	w->count[w->head % GOVERNOR_RING] += (uint32_t)cost;
	w->sum += cost;
}

/* ---------------------------------------------------------------- budgets */

/* The reserve never takes more than a tenth of a (small) budget. */
static long usable(const struct governor *g, const struct governor_budget *b)
{
	long cap = b->limit > 0 ? b->limit / 10 : g->reserve;
	long reserve = g->reserve < cap ? g->reserve : cap;
	return b->remaining - reserve;
}

/* Past its reset (and the slack), a budget is unknown until an answer tells it. */
static bool renewed(const struct governor_budget *b, double now_epoch)
{
	return b->reset_epoch > 0 && now_epoch >= b->reset_epoch + POLICY_RESET_SLACK_S;
}

static int live_tokens(const struct governor *g)
{
	int live = 0;
	for (int i = 0; i < g->ntokens; i++)
		live += !g->tok[i].dead;
	return live;
}

/* The token a request of one resource goes to, and what the budgets say. */
struct pick {
	int best;              /* the live token with most usable budget and room, or -1 */
	long best_usable;
	bool unknown;          /* a budget is unknown: the best one, or one being probed */
	bool probing;          /* ... with its probe in flight */
	long total_usable;     /* over known budgets with enough left */
	double earliest_reset; /* of the known budgets */
	uint64_t window_wait;  /* > 0: a token with budget waits this long for its allowance */
};

/* One token's budget as a candidate: its usable budget (LONG_MAX for an unknown one, preferred
 * since it may be a whole fresh window), or -1 when it cannot take the request. */
static long candidate(struct governor *g, struct governor_budget *b, double now_epoch,
		      long cost, struct pick *p)
{
	long u;
	if (renewed(b, now_epoch)) {
		b->remaining = -1;
		b->reset_epoch = 0;
	}
	if (b->remaining < 0) {
		p->unknown = true;
		p->probing |= b->in_flight > 0;
		return b->in_flight > 0 ? -1 : LONG_MAX; /* probed one request at a time */
	}
	u = usable(g, b);
	if (u < cost && b->reset_epoch <= 0)
		b->reset_epoch = now_epoch + POLICY_UNKNOWN_RESET_S;
	if (b->reset_epoch > 0 && (p->earliest_reset == 0 || b->reset_epoch < p->earliest_reset))
		p->earliest_reset = b->reset_epoch;
	if (u < cost)
		return -1;
	p->total_usable += u;
	return u;
}

static struct pick pick_token(struct governor *g, uint64_t now_ms, double now_epoch,
			      enum fetch_resource r, long cost)
{
	struct pick p = {.best = -1, .best_usable = -1};
	for (int i = 0; i < g->ntokens; i++) {
		struct governor_budget *b = &g->tok[i].b[r];
		long u;
		if (g->tok[i].dead || (u = candidate(g, b, now_epoch, cost, &p)) < 0)
			continue;
		if (!g->same_user) {
			uint64_t w = window_wait(g, &b->win, now_ms, cost, g->lane[r].ceiling);
			if (w > 0) {
				if (p.window_wait == 0 || w < p.window_wait)
					p.window_wait = w;
				continue;
			}
		}
		if (u > p.best_usable) {
			p.best = i;
			p.best_usable = u;
		}
	}
	return p;
}

/* No token can take the request now: say how long, or until what. */
static enum governor_verdict held_back(struct governor_lane *l, const struct pick *p,
				       double now_epoch, uint64_t *wait_ms)
{
	double d;
	if (p->window_wait > 0) {
		l->limiting = GOV_FREE; /* a budget is left: the allowance is what holds it */
		*wait_ms = p->window_wait;
		return GOV_WAIT_TIME;
	}
	if (p->probing)
		return GOV_WAIT_COMPLETION;
	/* Every budget spent: wait for the first reset (and its slack). */
	l->limiting = GOV_SPENT;
	l->limiting_reset = p->earliest_reset;
	d = p->earliest_reset > 0 ? (p->earliest_reset + POLICY_RESET_SLACK_S - now_epoch) * 1000.0
				  : POLICY_UNKNOWN_RESET_S * 1000.0;
	*wait_ms = d >= 1 ? (uint64_t)ceil(d) : 1;
	return GOV_WAIT_TIME;
}

/* When the work left outlasts the budgets, spread them evenly until the reset instead of
 * running dry and idling; not while a budget is still unknown (it may be a whole fresh
 * window), nor when the per-minute ceilings alone make it last. The gap is worked out at
 * each admission, so a budget learned meanwhile applies at once. Returns true (and the wait)
 * when the next request must wait for its turn. */
static bool spread_wait(const struct governor *g, struct governor_lane *l,
			const struct pick *p, uint64_t now_ms, double now_epoch,
			uint64_t *wait_ms)
{
	double window, gap, ceiling_gap;
	uint64_t next;
	l->limiting = GOV_FREE;
	if (p->unknown || p->total_usable <= 0 || p->earliest_reset <= 0 ||
	    l->backlog <= p->total_usable)
		return false;
	window = (p->earliest_reset - now_epoch) * 1000.0;
	gap = window / (double)p->total_usable;
	ceiling_gap = (double)g->window_ms /
		      ((double)l->ceiling * (g->same_user ? 1 : live_tokens(g)));
	if (window <= 0 || gap <= ceiling_gap)
		return false;
	l->limiting = GOV_SPREADING;
	l->limiting_reset = p->earliest_reset;
	l->spread_gap_ms = gap;
	/* from the last admission: an idle spell never banks a burst */
	next = l->last_ms + (uint64_t)(gap * (double)l->last_cost);
	if (!l->admitted_once || now_ms >= next)
		return false;
	*wait_ms = next - now_ms;
	return true;
}

enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     enum fetch_resource resource, int cost, uint64_t *wait_ms,
				     int *token)
{
	struct governor_lane *l = &g->lane[resource];
	long c = cost > 0 ? cost : 1;
	struct governor_budget *b;
	struct pick p;
	if (!live_tokens(g))
		return GOV_NO_TOKEN;
	if (now_ms < g->secondary_until) {
		*wait_ms = g->secondary_until - now_ms;
		return GOV_WAIT_TIME;
	}
	if (g->in_flight >= g->concurrency)
		return GOV_WAIT_COMPLETION;
	if (g->same_user && (*wait_ms = window_wait(g, &l->shared, now_ms, c, l->ceiling)) > 0)
		return GOV_WAIT_TIME;
	p = pick_token(g, now_ms, now_epoch, resource, c);
	if (p.best < 0)
		return held_back(l, &p, now_epoch, wait_ms);
	if (spread_wait(g, l, &p, now_ms, now_epoch, wait_ms))
		return GOV_WAIT_TIME;
	b = &g->tok[p.best].b[resource];
	g->in_flight++;
	g->admitted++;
	b->in_flight++;
	b->in_flight_cost += c;
	if (b->remaining > 0)
		b->remaining = b->remaining > c ? b->remaining - c : 0;
	window_add(g, g->same_user ? &l->shared : &b->win, now_ms, c);
	l->last_ms = now_ms;
	l->last_cost = c;
	l->admitted_once = true;
	*token = p.best;
	return GOV_GO;
}

void governor_done(struct governor *g, int token, enum fetch_resource resource, int cost)
{
	struct governor_budget *b;
	if (g->in_flight > 0)
		g->in_flight--;
	if (token < 0 || token >= g->ntokens)
		return;
	b = &g->tok[token].b[resource];
	if (b->in_flight > 0)
		b->in_flight--;
	b->in_flight_cost -= cost > 0 ? cost : 1;
	if (b->in_flight_cost < 0 || b->in_flight == 0)
		b->in_flight_cost = 0;
}

void governor_observe(struct governor *g, int token, enum fetch_resource budget,
		      long remaining, long limit, double reset_epoch)
{
	struct governor_budget *b;
	if (remaining < 0 || token < 0 || token >= g->ntokens)
		return;
	b = &g->tok[token].b[budget];
	if (limit > 0)
		b->limit = limit;
	if (reset_epoch > b->reset_epoch + 0.5 || b->remaining < 0) {
		/* A newer window: the requests still in flight were admitted under the old
		 * count, and this answer could not count them. */
		b->remaining = remaining > b->in_flight_cost ? remaining - b->in_flight_cost : 0;
		b->reset_epoch = reset_epoch;
	} else if (remaining < b->remaining && reset_epoch >= b->reset_epoch - 0.5) {
		/* (an answer from the window before, overtaken on the way by one from this
		 * window, says nothing of this one) */
		b->remaining = remaining;
	}
}

void governor_primary(struct governor *g, int token, enum fetch_resource budget,
		      double reset_epoch)
{
	if (token < 0 || token >= g->ntokens)
		return;
	g->limited++;
	g->tok[token].b[budget].remaining = 0;
	if (reset_epoch > 0)
		g->tok[token].b[budget].reset_epoch = reset_epoch;
}

void governor_add_tokens(struct governor *g, int ntokens)
{
	if (ntokens > GOVERNOR_MAX_TOKENS)
		ntokens = GOVERNOR_MAX_TOKENS;
	for (int i = g->ntokens; i < ntokens; i++) {
		memset(&g->tok[i], 0, sizeof(g->tok[i]));
		for (int r = 0; r < GOVERNOR_RESOURCES; r++)
			g->tok[i].b[r].remaining = -1;
	}
	if (ntokens > g->ntokens)
		g->ntokens = ntokens;
}

int governor_drop_token(struct governor *g, int token)
{
	if (token >= 0 && token < g->ntokens)
		g->tok[token].dead = true;
	return live_tokens(g);
}

bool governor_secondary(struct governor *g, uint64_t now_ms, double retry_after)
{
	/* Answers to requests sent before the pause began are the same event: one strike and
	 * one halving, however many requests were in flight. */
	bool fresh = now_ms >= g->secondary_until;
	double wait_s;
	g->limited++;
	if (fresh) {
		g->strikes++;
		g->concurrency = g->concurrency / 2 > 0 ? g->concurrency / 2 : 1;
		g->successes = 0;
	}
	if (retry_after >= 0) {
		wait_s = retry_after;
	} else {
		wait_s = POLICY_SECONDARY_WAIT_S * pow(2.0, g->strikes - 1);
		if (wait_s > POLICY_SECONDARY_WAIT_CAP_S)
			wait_s = POLICY_SECONDARY_WAIT_CAP_S;
	}
	uint64_t until = now_ms + (uint64_t)(wait_s * 1000.0);
	if (until > g->secondary_until)
		g->secondary_until = until;
	if (g->secondary_until > g->pause_until)
		g->pause_until = g->secondary_until;
	return fresh;
}

void governor_success(struct governor *g)
{
	g->strikes = 0;
	if (g->concurrency >= g->max_in_flight)
		return;
	/* Raise by one after a full round of successes at the current level. */
	if (++g->successes >= 4 * g->concurrency) {
		g->concurrency++;
		g->successes = 0;
	}
}

void governor_held(struct governor *g, uint64_t until_ms)
{
	g->pause_until = until_ms > g->secondary_until ? until_ms : g->secondary_until;
}

void governor_backlog_add(struct governor *g, enum fetch_resource resource, long delta)
{
	struct governor_lane *l = &g->lane[resource];
	l->backlog = (l->backlog > 0 ? l->backlog : 0) + delta;
	if (l->backlog < 0)
		l->backlog = 0;
}

long governor_budget_left(const struct governor *g, enum fetch_resource resource)
{
	long total = -1;
	for (int i = 0; i < g->ntokens; i++) {
		const struct governor_budget *b = &g->tok[i].b[resource];
		if (g->tok[i].dead || b->remaining < 0)
			continue;
		total = (total < 0 ? 0 : total) + b->remaining;
	}
	return total;
}

/* Runs the budget of one resource serves, over the live tokens. */
static double runs_served(const struct governor *g, enum fetch_resource r, double now_epoch,
			  double cost_per_run)
{
	double left = 0;
	for (int i = 0; i < g->ntokens; i++) {
		const struct governor_budget *b = &g->tok[i].b[r];
		if (g->tok[i].dead)
			continue;
		if (b->remaining < 0 || renewed(b, now_epoch))
			left += (double)(b->limit > 0 ? b->limit : POLICY_ASSUMED_LIMIT);
		else
			left += (double)b->remaining;
	}
	return left / (cost_per_run > 0 ? cost_per_run : 1);
}

enum fetch_resource governor_jobs_resource(const struct governor *g, double now_epoch,
					   double rest_cost_per_run,
					   double graphql_cost_per_run)
{
	double rest = runs_served(g, FETCH_REST, now_epoch, rest_cost_per_run);
	double gql = runs_served(g, FETCH_GRAPHQL, now_epoch, graphql_cost_per_run);
	return gql >= rest ? FETCH_GRAPHQL : FETCH_REST;
}

uint64_t governor_backoff_ms(int attempt, double jitter01)
{
	double base = POLICY_BACKOFF_BASE_MS * pow(2.0, attempt > 1 ? attempt - 1 : 0);
	if (base > POLICY_BACKOFF_CAP_MS)
		base = POLICY_BACKOFF_CAP_MS;
	return (uint64_t)(base * (0.5 + jitter01));
}
