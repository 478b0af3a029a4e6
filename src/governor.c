/* governor.c - admit or defer each request under GitHub's limits. Pure: clock passed in. */
#include "governor.h"

#include <math.h>

void governor_init(struct governor *g, int max_in_flight, int per_minute, int reserve)
{
	*g = (struct governor){0};
	g->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
	g->per_minute = per_minute > 0 ? per_minute : 1;
	g->reserve = reserve >= 0 ? reserve : 0;
	g->concurrency = g->max_in_flight;
	g->remaining = -1;
	g->backlog = -1;
}

/* The reserve never takes more than a tenth of a (small) budget. */
static long effective_reserve(const struct governor *g)
{
	long cap = g->limit > 0 ? g->limit / 10 : g->reserve;
	return g->reserve < cap ? g->reserve : cap;
}

static uint64_t epoch_to_mono(double epoch, uint64_t now_ms, double now_epoch)
{
	double d = (epoch - now_epoch) * 1000.0;
	return d <= 0 ? now_ms : now_ms + (uint64_t)d;
}

enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     uint64_t *wait_ms)
{
	double gap = 60000.0 / g->per_minute;
	if (now_ms < g->pause_until) {
		*wait_ms = g->pause_until - now_ms;
		return GOV_WAIT_TIME;
	}
	if (g->in_flight >= g->concurrency)
		return GOV_WAIT_COMPLETION;
	/* A new window began: the budget is unknown until an answer tells it. */
	if (g->reset_epoch > 0 && now_epoch >= g->reset_epoch) {
		g->remaining = -1;
		g->reset_epoch = 0;
	}
	if (g->remaining < 0 && g->in_flight > 0)
		return GOV_WAIT_COMPLETION;
	if (g->remaining >= 0) {
		long usable = g->remaining - effective_reserve(g);
		if (usable <= 0) {
			if (g->reset_epoch <= 0) {
				/* Spent with no reset known: probe again in a minute. */
				g->pause_until = now_ms + 60000;
			} else {
				g->pause_until = epoch_to_mono(g->reset_epoch, now_ms, now_epoch) + 1000;
			}
			*wait_ms = g->pause_until - now_ms;
			return GOV_WAIT_TIME;
		}
		/* When the work left outlasts the budget, spread the budget evenly until the
		 * reset instead of running dry and idling. */
		if (g->reset_epoch > 0 && g->backlog > usable) {
			double window = (g->reset_epoch - now_epoch) * 1000.0;
			if (window > 0 && window / usable > gap)
				gap = window / usable;
		}
	}
	if (now_ms < g->next_ms) {
		*wait_ms = g->next_ms - now_ms;
		return GOV_WAIT_TIME;
	}
	g->in_flight++;
	g->admitted++;
	if (g->remaining > 0)
		g->remaining--;
	/* Strict spacing from now: an idle spell never banks a burst. */
	g->next_ms = now_ms + (uint64_t)gap;
	return GOV_GO;
}

void governor_done(struct governor *g)
{
	if (g->in_flight > 0)
		g->in_flight--;
}

void governor_observe(struct governor *g, long remaining, long limit, double reset_epoch)
{
	if (remaining < 0)
		return;
	if (limit > 0)
		g->limit = limit;
	if (reset_epoch > g->reset_epoch + 0.5 || g->remaining < 0) {
		/* A newer window: others in flight were admitted under the old count. */
		long others = g->in_flight > 0 ? g->in_flight - 1 : 0;
		g->remaining = remaining > others ? remaining - others : 0;
		g->reset_epoch = reset_epoch;
	} else if (remaining < g->remaining) {
		g->remaining = remaining;
	}
}

void governor_primary(struct governor *g, uint64_t now_ms, double now_epoch, double reset_epoch)
{
	g->limited++;
	g->remaining = 0;
	if (reset_epoch > 0)
		g->reset_epoch = reset_epoch;
	uint64_t until = g->reset_epoch > 0 ? epoch_to_mono(g->reset_epoch, now_ms, now_epoch) + 1000
					    : now_ms + 60000;
	if (until > g->pause_until)
		g->pause_until = until;
}

void governor_secondary(struct governor *g, uint64_t now_ms, double retry_after)
{
	double wait_s;
	g->limited++;
	g->strikes++;
	if (retry_after >= 0) {
		wait_s = retry_after;
	} else {
		wait_s = 60.0 * pow(2.0, g->strikes - 1);
		if (wait_s > 900)
			wait_s = 900;
	}
	uint64_t until = now_ms + (uint64_t)(wait_s * 1000.0);
	if (until > g->pause_until)
		g->pause_until = until;
	g->concurrency = g->concurrency / 2 > 0 ? g->concurrency / 2 : 1;
	g->successes = 0;
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

uint64_t governor_backoff_ms(int attempt, double jitter01)
{
	double base = 1000.0 * pow(2.0, attempt > 1 ? attempt - 1 : 0);
	if (base > 60000)
		base = 60000;
	return (uint64_t)(base * (0.5 + jitter01));
}
