/* governor.h - admit or defer each request: in-flight cap, per-minute pace, the primary
 * budget (with pacing until its reset), secondary-limit pauses, retry backoff.
 * Pure: the clock is passed in, so it is tested without sleeping. */
#ifndef GHAMINER_GOVERNOR_H
#define GHAMINER_GOVERNOR_H

#include <stdint.h>

struct governor {
	/* configuration */
	int max_in_flight;
	int per_minute;
	int reserve;
	/* state */
	int in_flight;
	int concurrency;      /* current cap: lowered after a secondary limit, raised slowly */
	int successes;        /* since the last change of concurrency */
	uint64_t next_ms;     /* earliest next admission (pace) */
	uint64_t pause_until; /* no admission before this (limits) */
	long limit;
	long remaining;       /* < 0: unknown, probe with one request at a time */
	double reset_epoch;   /* 0: unknown */
	int strikes;          /* consecutive secondary limits */
	long backlog;         /* requests still to make, as far as the caller knows */
	/* counters */
	uint64_t admitted;
	uint64_t limited;     /* limit answers seen */
};

/* What admit says: go now, wait for a completion, or ask again after *wait_ms. */
enum governor_verdict { GOV_GO, GOV_WAIT_COMPLETION, GOV_WAIT_TIME };

void governor_init(struct governor *g, int max_in_flight, int per_minute, int reserve);
/* now_ms: a monotonic clock; now_epoch: wall clock seconds (for X-RateLimit-Reset). */
enum governor_verdict governor_admit(struct governor *g, uint64_t now_ms, double now_epoch,
				     uint64_t *wait_ms);
/* A request finished (whatever the answer). */
void governor_done(struct governor *g);
/* Rate-limit headers of an answer (remaining < 0 when absent). Call before governor_done. */
void governor_observe(struct governor *g, long remaining, long limit, double reset_epoch);
/* The primary budget is spent: pause until its reset. */
void governor_primary(struct governor *g, uint64_t now_ms, double now_epoch, double reset_epoch);
/* A secondary limit: Retry-After seconds, or < 0 when absent (then 60 s, doubling). */
void governor_secondary(struct governor *g, uint64_t now_ms, double retry_after);
/* A success: slowly raise a lowered concurrency again. */
void governor_success(struct governor *g);
/* Exponential backoff with jitter for a failed attempt (1-based): 1 s, 2 s, 4 s … capped at
 * 60 s, times a jitter factor in [0.5, 1.5) from jitter01 in [0, 1). */
uint64_t governor_backoff_ms(int attempt, double jitter01);

#endif
