/* governor.h - admit or defer each request: in-flight cap, per-minute ceilings over a sliding
 * window, each token's two primary budgets (REST requests, GraphQL points; paced until their
 * reset), secondary-limit pauses, retry backoff.
 * Pure: the clock is passed in, so it is tested without sleeping. */
#ifndef GHAMINER_GOVERNOR_H
#define GHAMINER_GOVERNOR_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

#define GOVERNOR_MAX_TOKENS 64

/* Which of GitHub's budgets a request spends: REST counts requests, GraphQL points. */
enum fetch_resource { FETCH_REST, FETCH_GRAPHQL };
#define GOVERNOR_RESOURCES 2

/* The slices a window's count is kept in: the window itself, one more because an admission
 * is counted in its whole slice, and the slack (policy.h). */
#define GOVERNOR_RING (POLICY_WINDOW_SLICES + 1 + POLICY_WINDOW_SLACK_SLICES)

/* What one allowance admitted lately (requests or points), in slices of window / slices:
 * bounded memory for an exact-or-stricter sliding window. */
struct governor_window {
	uint32_t count[GOVERNOR_RING];
	uint64_t head; /* the newest slice's number (monotonic ms / slice length) */
	long sum;      /* of count[] */
};

/* One token's primary budget of one resource, as its own answers tell it. */
struct governor_budget {
	long limit;
	long remaining;      /* < 0: unknown, probe with one request at a time */
	double reset_epoch;  /* 0: unknown */
	int in_flight;
	long in_flight_cost; /* what the requests in flight spend of it */
	struct governor_window win; /* this token's per-minute allowance (not tokens_same_user) */
};

struct governor_token {
	struct governor_budget b[GOVERNOR_RESOURCES];
	bool dead; /* answered 401: no longer used */
};

/* How the primary budget holds admissions back: what a rate_limited status reports. */
enum governor_limiting {
	GOV_FREE,      /* the budget covers the work (or is unknown) */
	GOV_SPREADING, /* work outlasts the budget: requests spread evenly until the reset */
	GOV_SPENT,     /* nothing usable left: waiting for the reset */
};

/* Everything the governor keeps per resource besides the tokens' budgets. */
struct governor_lane {
	long ceiling;        /* per window: requests (REST) or points (GraphQL) */
	long backlog;        /* still to spend, as far as the caller knows; -1 unknown */
	uint64_t last_ms;    /* the last admission, its cost: spreading is measured from it */
	long last_cost;
	bool admitted_once;
	enum governor_limiting limiting; /* as of the last admit that decided it */
	double limiting_reset;           /* the reset it waits for (epoch) */
	double spread_gap_ms;            /* GOV_SPREADING: the spacing per request (per point) */
	struct governor_window shared;   /* tokens_same_user: the one allowance of all tokens */
};

struct governor_config {
	int ntokens;
	int max_in_flight;
	int per_minute;         /* REST requests in any 60 s, per token (or in all) */
	int graphql_per_minute; /* GraphQL points in any 60 s, per token (or in all); 0: default */
	int reserve;            /* budget kept unspent on each token and resource */
	bool same_user;         /* every token belongs to one user: one allowance for all */
	uint64_t window_ms;     /* the window of the ceilings; 0: 60 s (tests shorten it, and
				   the ceilings scale with it) */
};

struct governor {
	/* configuration */
	int max_in_flight;
	int reserve;
	bool same_user;
	uint64_t window_ms;
	uint64_t slice_ms;
	/* state */
	int in_flight;
	int concurrency;          /* current cap: lowered after a secondary limit, raised slowly */
	int successes;            /* since the last change of concurrency */
	uint64_t secondary_until; /* no admission of anything before this (secondary limits) */
	uint64_t pause_until;     /* every queued request is held until this: a secondary pause,
				     or what the caller found holding every request back
				     (governor_held); for a good moment to do slow work */
	int strikes;              /* consecutive secondary limits */
	struct governor_lane lane[GOVERNOR_RESOURCES];
	struct governor_token tok[GOVERNOR_MAX_TOKENS];
	int ntokens;
	/* counters */
	uint64_t admitted;
	uint64_t limited;         /* limit answers seen */
};

/* What admit says: go now (with *token), wait for a completion, or ask again after
 * *wait_ms. */
enum governor_verdict { GOV_GO, GOV_WAIT_COMPLETION, GOV_WAIT_TIME, GOV_NO_TOKEN };

void governor_init(struct governor *g, const struct governor_config *c);
/* May a request spending cost of resource's budget start now? now_ms: a monotonic clock;
 * now_epoch: wall clock seconds (for X-RateLimit-Reset). On GOV_GO, *token is the token to
 * use: the live one with the most budget of that resource and room in its allowance; the
 * request is counted in flight until governor_done. A verdict on one resource says nothing
 * of the other: ask for each. */
enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     enum fetch_resource resource, int cost, uint64_t *wait_ms,
				     int *token);
/* An admitted request (resource, cost) on token finished, whatever the answer. */
void governor_done(struct governor *g, int token, enum fetch_resource resource, int cost);
/* Rate-limit headers of an answer on token, for the budget they describe (remaining < 0
 * when absent). Call after governor_done: the requests still in flight are then what the
 * answer could not count yet. */
void governor_observe(struct governor *g, int token, enum fetch_resource budget,
		      long remaining, long limit, double reset_epoch);
/* Token's budget of a resource is spent: it waits for its reset. */
void governor_primary(struct governor *g, int token, enum fetch_resource budget,
		      double reset_epoch);
/* The pool grew to ntokens (at most GOVERNOR_MAX_TOKENS): the new ones start with unknown
 * budgets. */
void governor_add_tokens(struct governor *g, int ntokens);
/* Token answered 401: drop it (token < 0: drop none). Returns the number of live tokens. */
int governor_drop_token(struct governor *g, int token);
/* A secondary limit: Retry-After seconds, or < 0 when absent (then 60 s, doubling). It holds
 * both resources: GitHub counts them per user. Returns false for an answer within a pause
 * already under way (the same event). */
bool governor_secondary(struct governor *g, uint64_t now_ms, double retry_after);
/* A success: slowly raise a lowered concurrency again. */
void governor_success(struct governor *g);
/* The caller found every queued request held by time until until_ms (0: not all held). */
void governor_held(struct governor *g, uint64_t until_ms);
/* What is still to spend of a resource (requests, points), as the caller knows it. */
void governor_backlog_add(struct governor *g, enum fetch_resource resource, long delta);
/* The remaining budget of a resource summed over live tokens that know theirs, or -1. */
long governor_budget_left(const struct governor *g, enum fetch_resource resource);
/* Which budget serves more runs' jobs: the remaining budget over live tokens (a renewed or
 * unknown one counts as full: its limit, else POLICY_ASSUMED_LIMIT) divided by what a run
 * costs on it. GraphQL on a tie. A cost <= 0 counts as 1. */
enum fetch_resource governor_jobs_resource(const struct governor *g, double now_epoch,
					   double rest_cost_per_run,
					   double graphql_cost_per_run);
/* Exponential backoff with jitter for a failed attempt (1-based): 1 s, 2 s, 4 s … capped at
 * 60 s, times a jitter factor in [0.5, 1.5) from jitter01 in [0, 1). */
uint64_t governor_backoff_ms(int attempt, double jitter01);

#endif
