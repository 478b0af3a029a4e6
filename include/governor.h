/* governor.h - admit or defer each request: in-flight cap, per-minute pace, each token's
 * primary budget (with pacing until its reset), secondary-limit pauses, retry backoff.
 * Pure: the clock is passed in, so it is tested without sleeping. */
#ifndef GHAMINER_GOVERNOR_H
#define GHAMINER_GOVERNOR_H

#include <stdbool.h>
#include <stdint.h>

#define GOVERNOR_MAX_TOKENS 64

/* One token's primary budget, as its own answers tell it. */
struct governor_budget {
	long limit;
	long remaining;     /* < 0: unknown, probe with one request at a time */
	double reset_epoch; /* 0: unknown */
	int in_flight;
	bool dead;          /* answered 401: no longer used */
};

/* How the primary budget holds admissions back: what a rate_limited status reports. */
enum governor_limiting {
	GOV_FREE,      /* the budget covers the work (or is unknown) */
	GOV_SPREADING, /* work outlasts the budget: requests spread evenly until the reset */
	GOV_SPENT,     /* nothing usable left: waiting for the reset */
};

struct governor {
	/* configuration */
	int max_in_flight;
	int per_minute;
	int reserve;
	/* state */
	int in_flight;
	int concurrency;      /* current cap: lowered after a secondary limit, raised slowly */
	int successes;        /* since the last change of concurrency */
	uint64_t last_ms;     /* the last admission; the pace is measured from it */
	bool admitted_once;
	uint64_t pause_until; /* no admission before this (limits) */
	int strikes;          /* consecutive secondary limits */
	long backlog;         /* requests still to make, as far as the caller knows; -1 unknown */
	enum governor_limiting limiting; /* as of the last admit that decided it */
	double limiting_reset;           /* the reset it waits for (epoch) */
	double spread_gap_ms;            /* GOV_SPREADING: the spacing */
	struct governor_budget tok[GOVERNOR_MAX_TOKENS];
	int ntokens;
	/* counters */
	uint64_t admitted;
	uint64_t limited;     /* limit answers seen */
};

/* What admit says: go now (with *token), wait for a completion, or ask again after
 * *wait_ms. */
enum governor_verdict { GOV_GO, GOV_WAIT_COMPLETION, GOV_WAIT_TIME, GOV_NO_TOKEN };

void governor_init(struct governor *g, int ntokens, int max_in_flight, int per_minute,
		   int reserve);
/* now_ms: a monotonic clock; now_epoch: wall clock seconds (for X-RateLimit-Reset).
 * On GOV_GO, *token is the token to use: the live one with the most budget. */
enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     uint64_t *wait_ms, int *token);
/* A request on token finished (whatever the answer). */
void governor_done(struct governor *g, int token);
/* Rate-limit headers of an answer on token (remaining < 0 when absent). Call before
 * governor_done. */
void governor_observe(struct governor *g, int token, long remaining, long limit,
		      double reset_epoch);
/* Token's primary budget is spent: it waits for its reset. */
void governor_primary(struct governor *g, int token, double reset_epoch);
/* Token answered 401: drop it (token < 0: drop none). Returns the number of live tokens. */
int governor_drop_token(struct governor *g, int token);
/* A secondary limit: Retry-After seconds, or < 0 when absent (then 60 s, doubling).
 * Returns false for an answer within a pause already under way (the same event). */
bool governor_secondary(struct governor *g, uint64_t now_ms, double retry_after);
/* A success: slowly raise a lowered concurrency again. */
void governor_success(struct governor *g);
/* The remaining budget summed over live tokens that know theirs, or -1. */
long governor_budget_left(const struct governor *g);
/* Exponential backoff with jitter for a failed attempt (1-based): 1 s, 2 s, 4 s … capped at
 * 60 s, times a jitter factor in [0.5, 1.5) from jitter01 in [0, 1). */
uint64_t governor_backoff_ms(int attempt, double jitter01);

#endif
