/* governor.c - admit or defer each request under GitHub's limits. Pure: clock passed in. */
#include "governor.h"

#include <math.h>

#include "policy.h"

void governor_init(struct governor *g, int ntokens, int max_in_flight, int per_minute,
		   int reserve)
{
	*g = (struct governor){0};
	g->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
	g->per_minute = per_minute > 0 ? per_minute : 1;
	g->reserve = reserve >= 0 ? reserve : 0;
	g->concurrency = g->max_in_flight;
	g->backlog = -1;
	g->ntokens = ntokens < 1 ? 1 : ntokens > GOVERNOR_MAX_TOKENS ? GOVERNOR_MAX_TOKENS : ntokens;
	for (int i = 0; i < g->ntokens; i++)
		g->tok[i].remaining = -1;
}

/* The reserve never takes more than a tenth of a (small) budget. */
static long usable(const struct governor *g, const struct governor_budget *b)
{
	long cap = b->limit > 0 ? b->limit / 10 : g->reserve;
	long reserve = g->reserve < cap ? g->reserve : cap;
	return b->remaining - reserve;
}

static uint64_t epoch_to_mono(double epoch, uint64_t now_ms, double now_epoch)
{
	double d = (epoch - now_epoch) * 1000.0;
	return d <= 0 ? now_ms : now_ms + (uint64_t)d;
}

/* The live token with the most usable budget, or -1; an unknown budget is probed by one
 * request at a time and preferred, since it may be a whole fresh window. Also sums the
 * usable budget (-1 when a token's is unknown) and finds the earliest reset. */
struct pick {
	int best;
	long total_usable;
	double earliest_reset;
	bool probing;
};

static struct pick pick_token(struct governor *g, double now_epoch)
{
	struct pick p = {.best = -1};
	for (int i = 0; i < g->ntokens; i++) {
		struct governor_budget *b = &g->tok[i];
		if (b->dead)
			continue;
		/* A new window began: the budget is unknown until an answer tells it. */
		if (b->reset_epoch > 0 && now_epoch >= b->reset_epoch) {
			b->remaining = -1;
			b->reset_epoch = 0;
		}
		if (b->remaining < 0) {
			if (b->in_flight > 0) {
				p.probing = true;
				continue;
			}
			p.best = i;
			p.total_usable = -1;
			break;
		}
		long u = usable(g, b);
		double r = b->reset_epoch > 0 ? b->reset_epoch
					      : u <= 0 ? now_epoch + POLICY_UNKNOWN_RESET_S : 0;
		if (r > 0 && (p.earliest_reset == 0 || r < p.earliest_reset))
			p.earliest_reset = r;
		if (u <= 0)
			continue;
		p.total_usable += u;
		if (p.best < 0 || u > usable(g, &g->tok[p.best]))
			p.best = i;
	}
	return p;
}

enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     uint64_t *wait_ms, int *token)
{
	double gap = 60000.0 / g->per_minute;
	int live = 0;
	for (int i = 0; i < g->ntokens; i++)
		live += !g->tok[i].dead;
	if (!live)
		return GOV_NO_TOKEN;
	if (now_ms < g->pause_until) {
		*wait_ms = g->pause_until - now_ms;
		return GOV_WAIT_TIME;
	}
	if (g->in_flight >= g->concurrency)
		return GOV_WAIT_COMPLETION;
	struct pick p = pick_token(g, now_epoch);
	int best = p.best;
	long total_usable = p.total_usable;
	double earliest_reset = p.earliest_reset;
	bool probing = p.probing;
	if (best < 0) {
		if (probing)
			return GOV_WAIT_COMPLETION;
		/* Every budget spent: wait for the first reset (plus a second of slack). */
		g->limiting = GOV_SPENT;
		g->limiting_reset = earliest_reset;
		g->pause_until = epoch_to_mono(earliest_reset, now_ms, now_epoch) + 1000;
		*wait_ms = g->pause_until - now_ms;
		return GOV_WAIT_TIME;
	}
	/* When the work left outlasts the budgets, spread them evenly until the reset instead
	 * of running dry and idling; not while a token's budget is still unknown (it may be a
	 * whole fresh window). The gap is worked out at each admission, so a budget learned
	 * meanwhile applies at once. */
	g->limiting = GOV_FREE;
	if (total_usable > 0 && !probing && earliest_reset > 0 && g->backlog > total_usable) {
		double window = (earliest_reset - now_epoch) * 1000.0;
		if (window > 0 && window / total_usable > gap) {
			gap = window / total_usable;
			g->limiting = GOV_SPREADING;
			g->limiting_reset = earliest_reset;
			g->spread_gap_ms = gap;
		}
	}
	if (g->admitted_once && now_ms < g->last_ms + (uint64_t)gap) {
		*wait_ms = g->last_ms + (uint64_t)gap - now_ms;
		return GOV_WAIT_TIME;
	}
	struct governor_budget *b = &g->tok[best];
	g->in_flight++;
	b->in_flight++;
	g->admitted++;
	if (b->remaining > 0)
		b->remaining--;
	/* Spacing from the last admission: an idle spell never banks a burst. */
	g->last_ms = now_ms;
	g->admitted_once = true;
	*token = best;
	return GOV_GO;
}

void governor_done(struct governor *g, int token)
{
	if (g->in_flight > 0)
		g->in_flight--;
	if (token >= 0 && token < g->ntokens && g->tok[token].in_flight > 0)
		g->tok[token].in_flight--;
}

void governor_observe(struct governor *g, int token, long remaining, long limit,
		      double reset_epoch)
{
	struct governor_budget *b;
	if (remaining < 0 || token < 0 || token >= g->ntokens)
		return;
	b = &g->tok[token];
	if (limit > 0)
		b->limit = limit;
	if (reset_epoch > b->reset_epoch + 0.5 || b->remaining < 0) {
		/* A newer window: others in flight were admitted under the old count. */
		long others = b->in_flight > 0 ? b->in_flight - 1 : 0;
		b->remaining = remaining > others ? remaining - others : 0;
		b->reset_epoch = reset_epoch;
	} else if (remaining < b->remaining) {
		b->remaining = remaining;
	}
}

void governor_primary(struct governor *g, int token, double reset_epoch)
{
	if (token < 0 || token >= g->ntokens)
		return;
	g->limited++;
	g->tok[token].remaining = 0;
	if (reset_epoch > 0)
		g->tok[token].reset_epoch = reset_epoch;
}

int governor_drop_token(struct governor *g, int token)
{
	int live = 0;
	if (token >= 0 && token < g->ntokens)
		g->tok[token].dead = true;
	for (int i = 0; i < g->ntokens; i++)
		live += !g->tok[i].dead;
	return live;
}

bool governor_secondary(struct governor *g, uint64_t now_ms, double retry_after)
{
	/* Answers to requests sent before the pause began are the same event: one strike and
	 * one halving, however many requests were in flight. */
	bool fresh = now_ms >= g->pause_until;
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
	if (until > g->pause_until)
		g->pause_until = until;
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

long governor_budget_left(const struct governor *g)
{
	long total = -1;
	for (int i = 0; i < g->ntokens; i++) {
		if (g->tok[i].dead || g->tok[i].remaining < 0)
			continue;
		total = (total < 0 ? 0 : total) + g->tok[i].remaining;
	}
	return total;
}

uint64_t governor_backoff_ms(int attempt, double jitter01)
{
	double base = POLICY_BACKOFF_BASE_MS * pow(2.0, attempt > 1 ? attempt - 1 : 0);
	if (base > POLICY_BACKOFF_CAP_MS)
		base = POLICY_BACKOFF_CAP_MS;
	return (uint64_t)(base * (0.5 + jitter01));
}
