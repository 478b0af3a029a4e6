/* test_governor.c - admission decisions with an injected clock: no sleeping. */
#include "check.h"
#include "ghapi.h"
#include "governor.h"

#define REST FETCH_REST
#define GQL FETCH_GRAPHQL

static void init_ex(struct governor *g, int ntokens, int max_in_flight, int per_minute,
		    int graphql_per_minute, int reserve, bool same_user)
{
	governor_init(g, &(struct governor_config){
		.ntokens = ntokens, .max_in_flight = max_in_flight, .per_minute = per_minute,
		.graphql_per_minute = graphql_per_minute, .reserve = reserve,
		.same_user = same_user});
}

static void init(struct governor *g, int ntokens, int max_in_flight, int per_minute,
		 int reserve)
{
	init_ex(g, ntokens, max_in_flight, per_minute, 0, reserve, false);
}

/* A REST request (cost 1). */
static enum governor_verdict admit(struct governor *g, uint64_t now, double epoch,
				   uint64_t *wait, int *tok)
{
	*wait = 0;
	return governor_admit(g, now, epoch, REST, 1, wait, tok);
}

/* A GraphQL query of cost points. */
static enum governor_verdict admit_gql(struct governor *g, uint64_t now, double epoch, int cost,
				       uint64_t *wait, int *tok)
{
	*wait = 0;
	return governor_admit(g, now, epoch, GQL, cost, wait, tok);
}

static void done(struct governor *g, int tok)
{
	governor_done(g, tok, REST, 1);
}

static void observe(struct governor *g, int tok, long remaining, long limit, double reset)
{
	governor_observe(g, tok, REST, remaining, limit, reset);
}

static void test_in_flight_cap_and_probe(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 3, 60000, 0);
	/* Budget unknown: one probe at a time. */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	done(&g, 0);
	observe(&g, 0, 4999, 5000, 4600);
	/* Known budget: up to the cap. */
	CHECK(admit(&g, 10, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 20, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 30, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 40, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	CHECK_INT(g.tok[0].b[REST].remaining, 4996);
	CHECK_INT(governor_budget_left(&g, REST), 4996);
	CHECK_INT(governor_budget_left(&g, GQL), -1);
	done(&g, 0);
	CHECK(admit(&g, 50, 1000, &w, &t) == GOV_GO);
	/* An answer of a newer window counts the two still in flight as spent. */
	done(&g, 0);
	observe(&g, 0, 5000, 5000, 8200);
	CHECK_INT(g.tok[0].b[REST].remaining, 4998);
}

/* Admissions at their times: is any window of window_ms holding more than ceiling? */
static bool window_exceeded(const uint64_t *at, const long *cost, int n, uint64_t window_ms,
			    long ceiling)
{
	for (int i = 0, lo = 0; i < n; i++) {
		long sum = 0;
		while (at[lo] + window_ms <= at[i])
			lo++;
		for (int j = lo; j <= i; j++)
			sum += cost[j];
		if (sum > ceiling)
			return true;
	}
	return false;
}

static uint64_t at[20000];
static long cost_at[20000];

/* requests_per_minute is "at most N in any 60 s": a burst up to N, then a wait until the
 * oldest leave the window; never more in any 60 s, however admissions fall on slices. */
static void test_window(void)
{
	struct governor g;
	uint64_t w;
	int t, n = 0;
	init(&g, 1, 100, 600, 0);
	observe(&g, 0, 100000, 100000, 1e9);
	/* Fewer than N requests: at the concurrency bound, never a wait for time. */
	for (int i = 0; i < 100; i++)
		CHECK(admit(&g, 500, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 500, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	for (int i = 0; i < 100; i++)
		done(&g, 0);
	/* Up to N, then a wait until the first slice has left the window, and its slack. */
	for (int i = 0; i < 500; i++) {
		CHECK(admit(&g, 900, 1000, &w, &t) == GOV_GO);
		done(&g, 0);
	}
	CHECK(admit(&g, 900, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK_INT(w, 62000 - 900); /* slice 0 is counted until slice 62 begins */
	CHECK(admit(&g, 61999, 1000, &w, &t) == GOV_WAIT_TIME && w == 1);
	CHECK(admit(&g, 62000, 1000, &w, &t) == GOV_GO);
	done(&g, 0);

	/* A simulated 10 minutes, admissions at uneven times: never more than 600 in any 60 s
	 * (nor in any 61 s: the slack), and the allowance is used. */
	init(&g, 1, 100, 600, 0);
	observe(&g, 0, 100000, 100000, 1e9);
	for (uint64_t now = 0; now < 600000 && n < 20000; now += 7 + now % 13) {
		for (int k = 0; k < 3 && admit(&g, now, 1000, &w, &t) == GOV_GO; k++) {
			done(&g, t);
			at[n] = now;
			cost_at[n++] = 1;
		}
	}
	CHECK(!window_exceeded(at, cost_at, n, 60000, 600));
	CHECK(!window_exceeded(at, cost_at, n, 61000, 600));
	CHECK(n >= 5700 && n <= 6000);
	/* GraphQL: points of uneven cost against graphql_per_minute. */
	init_ex(&g, 1, 100, 600, 1000, 0, false);
	governor_observe(&g, 0, GQL, 1000000, 1000000, 1e9);
	n = 0;
	for (uint64_t now = 0; now < 600000 && n < 20000; now += 11 + now % 17) {
		int c = 1 + (int)(now % 37);
		if (admit_gql(&g, now, 1000, c, &w, &t) == GOV_GO) {
			governor_done(&g, t, GQL, c);
			at[n] = now;
			cost_at[n++] = c;
		}
	}
	CHECK(!window_exceeded(at, cost_at, n, 61000, 1000));
	CHECK(n > 250);
	/* A query costing more than the whole ceiling goes alone. */
	init_ex(&g, 1, 100, 600, 100, 0, false);
	governor_observe(&g, 0, GQL, 5000, 5000, 1e9);
	CHECK(admit_gql(&g, 0, 1000, 150, &w, &t) == GOV_GO);
	CHECK(admit_gql(&g, 10, 1000, 1, &w, &t) == GOV_WAIT_TIME && w == 62000 - 10);
}

/* A shortened window (tests) scales the ceiling: 600 a minute is 100 in any 10 s. */
static void test_window_scaled(void)
{
	struct governor g;
	uint64_t w;
	int t;
	governor_init(&g, &(struct governor_config){.ntokens = 1, .max_in_flight = 200,
						    .per_minute = 600, .window_ms = 10000});
	observe(&g, 0, 5000, 5000, 1e9);
	CHECK_INT(g.lane[REST].ceiling, 100);
	CHECK_INT(g.lane[GQL].ceiling, 1900 / 6);
	for (int i = 0; i < 100; i++)
		CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK_INT(w, GOVERNOR_RING * g.slice_ms); /* 10 s and 2 slices of 167 ms */
}

/* GitHub's secondary limits are per user: each token has its own allowance, unless
 * tokens_same_user says they are one user's. */
static void test_per_token_allowances(void)
{
	struct governor g;
	uint64_t w;
	int t, uses[2] = {0}, go = 0;
	init(&g, 2, 1000, 100, 0);
	observe(&g, 0, 5000, 5000, 1e9);
	observe(&g, 1, 4000, 5000, 1e9);
	while (admit(&g, 0, 1000, &w, &t) == GOV_GO) {
		uses[t]++;
		go++;
		done(&g, t);
	}
	CHECK_INT(go, 200);
	CHECK(uses[0] == 100 && uses[1] == 100);
	CHECK(w == 62000);
	/* One user: 100 in all. */
	init_ex(&g, 2, 1000, 100, 0, 0, true);
	observe(&g, 0, 5000, 5000, 1e9);
	observe(&g, 1, 4000, 5000, 1e9);
	go = 0;
	while (admit(&g, 0, 1000, &w, &t) == GOV_GO) {
		go++;
		done(&g, t);
	}
	CHECK_INT(go, 100);
	CHECK(w == 62000);
	/* A dropped token's allowance goes with it. */
	init(&g, 2, 1000, 100, 0);
	observe(&g, 0, 5000, 5000, 1e9);
	observe(&g, 1, 4000, 5000, 1e9);
	CHECK_INT(governor_drop_token(&g, 0), 1);
	go = 0;
	while (admit(&g, 0, 1000, &w, &t) == GOV_GO && t == 1) {
		go++;
		done(&g, t);
	}
	CHECK_INT(go, 100);
}

static void test_budget_spent_waits_for_reset(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 10, 60000, 0);
	observe(&g, 0, 2, 40, 1010); /* 2 left, resets at epoch 1010 */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO);
	CHECK(g.lane[REST].limiting == GOV_FREE);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_WAIT_TIME);
	/* until the reset (10 s away) plus a second of slack, and it says which reset */
	CHECK(w >= 10000 && w <= 11100);
	CHECK(g.lane[REST].limiting == GOV_SPENT && g.lane[REST].limiting_reset == 1010);
	done(&g, 0);
	done(&g, 0);
	/* After the reset the budget is unknown: one probe. */
	CHECK(admit(&g, 11002, 1011.1, &w, &t) == GOV_GO);
	CHECK(admit(&g, 11003, 1011.1, &w, &t) == GOV_WAIT_COMPLETION);
	/* A 403 for the primary limit empties the budget until the reset it names. */
	done(&g, 0);
	observe(&g, 0, 30, 40, 1100);
	governor_primary(&g, 0, REST, 1100);
	CHECK(admit(&g, 11010, 1011.2, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 88000 && w <= 90000);
}

/* Answers near a reset can come back out of order: one from the window that just ended,
 * overtaken by one from the new window, must not take the new window's budget for its own
 * (the new window would then be spread as if almost spent). */
static void test_late_answer_of_the_window_before(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 16, 100000, 50);
	observe(&g, 0, 300, 4000, 1000); /* the end of a window: 300 left until epoch 1000 */
	observe(&g, 0, 3990, 4000, 1060); /* the next window, learned first */
	observe(&g, 0, 250, 4000, 1000); /* late: an answer of the window before */
	CHECK_INT(g.tok[0].b[REST].remaining, 3990);
	CHECK(g.tok[0].b[REST].reset_epoch == 1060);
	/* the new window is spread as a whole: 3,940 usable over 59 s, 15 ms apart */
	governor_backlog_add(&g, REST, 40000);
	CHECK(admit(&g, 0, 1001, &w, &t) == GOV_GO);
	CHECK(admit(&g, 1, 1001, &w, &t) == GOV_WAIT_TIME);
	CHECK(w <= 20);
	/* an answer of the same window still lowers it */
	observe(&g, 0, 3000, 4000, 1060);
	CHECK_INT(g.tok[0].b[REST].remaining, 3000);
}

static void test_reserve_and_spreading(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 10, 60000, 50);
	observe(&g, 0, 60, 5000, 1000 + 100); /* 10 usable over 100 s */
	governor_backlog_add(&g, REST, 1000);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	/* Spread: about 100 s / 9 left = 11 s apart instead of 1 ms. */
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 10000 && w <= 11200);
	CHECK(g.lane[REST].limiting == GOV_SPREADING && g.lane[REST].limiting_reset == 1100);
	CHECK(g.lane[REST].spread_gap_ms >= 10000 && g.lane[REST].spread_gap_ms <= 11200);
	/* The GraphQL budget is not spread by REST's backlog. */
	governor_observe(&g, 0, GQL, 60, 5000, 1100);
	CHECK(admit_gql(&g, 1, 1000, 1, &w, &t) == GOV_GO);
	CHECK(admit_gql(&g, 2, 1000, 1, &w, &t) == GOV_GO);
	CHECK(g.lane[GQL].limiting == GOV_FREE);
	/* A budget learned meanwhile (a new window) applies at once: no more spreading. */
	observe(&g, 0, 4000, 5000, 1000 + 3600);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_GO);
	CHECK(g.lane[REST].limiting == GOV_FREE);
	/* With a small backlog, no spreading. */
	init(&g, 1, 10, 60000, 50);
	observe(&g, 0, 60, 5000, 1100);
	governor_backlog_add(&g, REST, 5);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO);
	/* Nor when the per-minute ceiling alone makes the budget last until the reset: 6 a
	 * minute, 10 usable over 50 s. */
	init(&g, 1, 10, 6, 50);
	observe(&g, 0, 60, 5000, 1050);
	governor_backlog_add(&g, REST, 1000);
	for (int i = 0; i < 6; i++)
		CHECK(admit(&g, (uint64_t)i, 1000, &w, &t) == GOV_GO);
	CHECK(g.lane[REST].limiting == GOV_FREE);
	CHECK(admit(&g, 6, 1000, &w, &t) == GOV_WAIT_TIME && w > 60000);
	/* The reserve never blocks a small budget entirely. */
	init(&g, 1, 10, 60000, 50);
	observe(&g, 0, 40, 40, 1100);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	/* GraphQL spreading counts points: after a query of 5 points, five gaps. */
	init(&g, 1, 10, 60000, 0);
	governor_observe(&g, 0, GQL, 100, 5000, 1100); /* 100 points over 100 s: 1 s a point */
	governor_backlog_add(&g, GQL, 10000);
	CHECK(admit_gql(&g, 0, 1000, 5, &w, &t) == GOV_GO);
	CHECK(admit_gql(&g, 1, 1000, 5, &w, &t) == GOV_WAIT_TIME);
	CHECK(g.lane[GQL].limiting == GOV_SPREADING);
	CHECK(w >= 5000 && w <= 5400); /* 5 points x 100 s / 95 left */
}

static void test_secondary(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 8, 60000, 0);
	observe(&g, 0, 4000, 5000, 5000);
	CHECK(governor_secondary(&g, 1000, 2));
	CHECK_INT(g.concurrency, 4);
	/* The other requests in flight answer the same: one event, not one per answer. */
	for (int i = 0; i < 7; i++)
		CHECK(!governor_secondary(&g, 1500, 2));
	CHECK_INT(g.concurrency, 4);
	CHECK_INT(g.strikes, 1);
	CHECK(admit(&g, 2000, 1000, &w, &t) == GOV_WAIT_TIME && w == 1500);
	/* It holds GraphQL too: GitHub counts secondary limits per user. */
	CHECK(admit_gql(&g, 2000, 1000, 1, &w, &t) == GOV_WAIT_TIME && w == 1500);
	CHECK(admit(&g, 3500, 1000, &w, &t) == GOV_GO);
	done(&g, t);
	governor_success(&g);
	/* Without Retry-After: at least 60 s, then doubling. */
	governor_secondary(&g, 10000, -1);
	CHECK_INT(g.pause_until, 70000);
	governor_secondary(&g, 70000, -1);
	CHECK_INT(g.pause_until, 70000 + 120000);
	CHECK_INT(g.concurrency, 1);
	/* Raised again slowly by successes. */
	for (int i = 0; i < 4; i++)
		governor_success(&g);
	CHECK_INT(g.concurrency, 2);
	/* What the caller finds holding every request back; never shorter than the pause. */
	governor_held(&g, 500000);
	CHECK_INT(g.pause_until, 500000);
	governor_held(&g, 0);
	CHECK_INT(g.pause_until, 190000);
}

static void test_token_pool(void)
{
	struct governor g;
	uint64_t w;
	int t, uses[3] = {0};
	init(&g, 3, 10, 60000, 0);
	/* Each unknown budget is probed first. */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO && t == 1);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_GO && t == 2);
	CHECK(admit(&g, 3, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	for (int i = 0; i < 3; i++)
		done(&g, i);
	observe(&g, 0, 100, 5000, 4600);
	observe(&g, 1, 4000, 5000, 4600);
	observe(&g, 2, 0, 5000, 4600);
	/* Then each request goes to the token with the most budget. */
	for (uint64_t now = 10; now < 100; now += 10) {
		CHECK(admit(&g, now, 1000, &w, &t) == GOV_GO);
		uses[t]++;
		done(&g, t);
	}
	CHECK(uses[1] == 9 && uses[0] == 0 && uses[2] == 0);
	/* No spreading while a token's budget is still being probed: it may be a fresh
	 * window (a pool of two, one spent, one unknown, a long backlog). */
	struct governor h;
	init(&h, 2, 10, 60000, 0);
	governor_backlog_add(&h, REST, 100);
	CHECK(admit(&h, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&h, 1, 1000, &w, &t) == GOV_GO && t == 1);
	done(&h, 0);
	observe(&h, 0, 60, 5000, 4600);
	CHECK(admit(&h, 2, 1000, &w, &t) == GOV_GO && t == 0);
	/* A token answering 401 is dropped; the others carry on. */
	CHECK_INT(governor_drop_token(&g, 1), 2);
	CHECK(admit(&g, 200, 1000, &w, &t) == GOV_GO && t == 0);
	done(&g, t);
	CHECK_INT(governor_drop_token(&g, 0), 1);
	/* Token 2's budget is spent: wait for its reset. */
	CHECK(admit(&g, 300, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK_INT(governor_drop_token(&g, 2), 0);
	CHECK(admit(&g, 400, 1000, &w, &t) == GOV_NO_TOKEN);
}

/* GraphQL spends points: the local count, the window and the spent rule count the cost. */
static void test_graphql_points(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init_ex(&g, 1, 100, 850, 100, 0, false);
	/* Unknown: one probe at a time, whatever its cost; REST is not held by it. */
	CHECK(admit_gql(&g, 0, 1000, 11, &w, &t) == GOV_GO);
	CHECK(admit_gql(&g, 0, 1000, 11, &w, &t) == GOV_WAIT_COMPLETION);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	done(&g, t);
	governor_done(&g, 0, GQL, 11);
	governor_observe(&g, 0, GQL, 4989, 5000, 4600);
	CHECK_INT(g.tok[0].b[GQL].remaining, 4989);
	/* Many in flight cannot overshoot: each takes its cost from the local count. */
	CHECK(admit_gql(&g, 1, 1000, 30, &w, &t) == GOV_GO);
	CHECK(admit_gql(&g, 1, 1000, 30, &w, &t) == GOV_GO);
	CHECK_INT(g.tok[0].b[GQL].remaining, 4929);
	CHECK_INT(g.tok[0].b[GQL].in_flight_cost, 60);
	/* The window counts points: 11 + 60 of 100; 30 more do not fit, 29 do. */
	CHECK(admit_gql(&g, 2, 1000, 30, &w, &t) == GOV_WAIT_TIME && w == 62000 - 2);
	CHECK(admit_gql(&g, 2, 1000, 29, &w, &t) == GOV_GO);
	/* An answer of a newer window: the points still in flight are not in its count. */
	governor_done(&g, 0, GQL, 30);
	governor_observe(&g, 0, GQL, 4970, 5000, 8200);
	CHECK_INT(g.tok[0].b[GQL].remaining, 4970 - 59);
	/* REST has its own window and budget: still free. */
	CHECK(admit(&g, 3, 1000, &w, &t) == GOV_GO);
	CHECK_INT(governor_budget_left(&g, GQL), 4911);
	CHECK_INT(governor_budget_left(&g, REST), -1);
	/* A budget smaller than the query's cost is spent for it. */
	init(&g, 1, 100, 850, 0);
	governor_observe(&g, 0, GQL, 20, 5000, 1100);
	CHECK(admit_gql(&g, 0, 1000, 30, &w, &t) == GOV_WAIT_TIME);
	CHECK(g.lane[GQL].limiting == GOV_SPENT && w >= 100000 && w <= 101100);
	CHECK(admit_gql(&g, 0, 1000, 20, &w, &t) == GOV_GO);
}

/* One resource's budget never holds the other back. */
static void test_two_budgets(void)
{
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 10, 60000, 0);
	observe(&g, 0, 0, 5000, 1100);                 /* REST spent until 1100 */
	governor_observe(&g, 0, GQL, 5000, 5000, 4600); /* GraphQL full */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 100000 && w <= 101100);
	CHECK(g.lane[REST].limiting == GOV_SPENT);
	CHECK(admit_gql(&g, 0, 1000, 3, &w, &t) == GOV_GO);
	CHECK(g.lane[GQL].limiting == GOV_FREE);
	/* ... and the other way round: GraphQL waits for its reset, REST goes on. */
	init(&g, 1, 10, 60000, 0);
	observe(&g, 0, 4000, 5000, 4600);
	governor_observe(&g, 0, GQL, 3000, 5000, 2000);
	governor_primary(&g, 0, GQL, 2000);
	CHECK(admit_gql(&g, 0, 1000, 1, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 1000000 && w <= 1001100);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK_INT(governor_budget_left(&g, GQL), 0);
	CHECK_INT(governor_budget_left(&g, REST), 3999);
	/* Past the reset (and its slack) the GraphQL budget is probed again. */
	CHECK(admit_gql(&g, 1001000, 2001, 1, &w, &t) == GOV_GO);
}

/* GraphQL says it is rate limited with HTTP 200 and errors[].type RATE_LIMITED: with
 * X-RateLimit-Remaining 0 it is the primary budget (a wait for its reset, REST going on),
 * otherwise a secondary limit (a pause). */
static void test_graphql_rate_limited(void)
{
	static const char body[] = "{\"data\":null,\"errors\":[{\"type\":\"RATE_LIMITED\","
				   "\"message\":\"API rate limit exceeded for user ID 1.\"}]}";
	struct governor g;
	uint64_t w;
	int t;
	init(&g, 1, 10, 60000, 0);
	observe(&g, 0, 4000, 5000, 4600);
	CHECK(admit_gql(&g, 0, 1000, 1, &w, &t) == GOV_GO);
	governor_done(&g, t, GQL, 1);
	governor_observe(&g, t, GQL, 0, 5000, 1300);
	CHECK(ghapi_classify_graphql(200, 0, 0, body) == GA_PRIMARY);
	governor_primary(&g, t, GQL, 1300);
	CHECK(admit_gql(&g, 10, 1000, 1, &w, &t) == GOV_WAIT_TIME && w >= 300000);
	CHECK(admit(&g, 10, 1000, &w, &t) == GOV_GO);
	done(&g, t);
	/* Remaining above 0: a secondary limit, 60 s without Retry-After. */
	CHECK(ghapi_classify_graphql(200, 4000, 0, body) == GA_SECONDARY);
	CHECK(governor_secondary(&g, 20, -1));
	CHECK(admit(&g, 30, 1000, &w, &t) == GOV_WAIT_TIME && w == 60000 - 10);
	/* 403/429 as for REST; a plain answer is an answer. */
	CHECK(ghapi_classify_graphql(403, 0, 0, "{\"message\":\"API rate limit exceeded\"}") ==
	      GA_PRIMARY);
	CHECK(ghapi_classify_graphql(429, 100, 1, NULL) == GA_SECONDARY);
	CHECK(ghapi_classify_graphql(200, 4000, 0, "{\"data\":{\"nodes\":[]}}") == GA_OK);
}

/* Which budget serves the jobs: runs each can pay for, GraphQL on a tie. */
static void test_jobs_resource(void)
{
	struct governor g;
	init(&g, 2, 10, 850, 0);
	/* Nothing known: both count as full; a tie goes to GraphQL. */
	CHECK(governor_jobs_resource(&g, 1000, 1, 1) == GQL);
	CHECK(governor_jobs_resource(&g, 1000, 1, 2) == REST);
	CHECK(governor_jobs_resource(&g, 1000, 1.02, 0.25) == GQL);
	/* Known budgets: 2 x 4000 REST requests for 1.02 a run vs 2 x 300 points for 0.25. */
	observe(&g, 0, 4000, 5000, 4600);
	observe(&g, 1, 4000, 5000, 4600);
	governor_observe(&g, 0, GQL, 300, 5000, 4600);
	governor_observe(&g, 1, GQL, 300, 5000, 4600);
	CHECK(governor_jobs_resource(&g, 1000, 1.02, 0.25) == REST);
	/* The GraphQL budget renewed (past its reset): full again. */
	CHECK(governor_jobs_resource(&g, 4602, 1.02, 0.25) == GQL);
	/* A dropped token's budgets no longer count: 4000 requests vs 300 points. */
	governor_drop_token(&g, 0);
	CHECK(governor_jobs_resource(&g, 1000, 1, 1) == REST);
	/* An unknown budget counts as its last known limit; a cost <= 0 counts as 1. */
	g.tok[1].b[GQL].remaining = -1;
	CHECK(governor_jobs_resource(&g, 1000, 1, 1) == GQL);
	CHECK(governor_jobs_resource(&g, 1000, 0, -2) == GQL);
	CHECK(governor_jobs_resource(&g, 1000, 0.7, 0) == REST);
}

static void test_backoff(void)
{
	CHECK_INT(governor_backoff_ms(1, 0.5), 1000);
	CHECK_INT(governor_backoff_ms(2, 0.5), 2000);
	CHECK_INT(governor_backoff_ms(3, 0.0), 2000);
	CHECK_INT(governor_backoff_ms(20, 0.5), 60000);
}

int main(void)
{
	test_in_flight_cap_and_probe();
	test_window();
	test_window_scaled();
	test_per_token_allowances();
	test_budget_spent_waits_for_reset();
	test_late_answer_of_the_window_before();
	test_reserve_and_spreading();
	test_secondary();
	test_token_pool();
	test_graphql_points();
	test_two_budgets();
	test_graphql_rate_limited();
	test_jobs_resource();
	test_backoff();
	return CHECK_DONE();
}
