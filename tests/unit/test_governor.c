/* test_governor.c - admission decisions with an injected clock: no sleeping. */
#include "check.h"
#include "governor.h"

static enum governor_verdict admit(struct governor *g, uint64_t now, double epoch,
				   uint64_t *wait, int *tok)
{
	*wait = 0;
	return governor_admit(g, now, epoch, wait, tok);
}

static void test_in_flight_cap_and_probe(void)
{
	struct governor g;
	uint64_t w;
	int t;
	governor_init(&g, 1, 3, 60000, 0);
	/* Budget unknown: one probe at a time. */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	governor_observe(&g, 0, 4999, 5000, 4600);
	governor_done(&g, 0);
	/* Known budget: up to the cap. */
	CHECK(admit(&g, 10, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 20, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 30, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 40, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	CHECK_INT(g.tok[0].remaining, 4996);
	CHECK_INT(governor_budget_left(&g), 4996);
	governor_done(&g, 0);
	CHECK(admit(&g, 50, 1000, &w, &t) == GOV_GO);
}

static void test_pace(void)
{
	struct governor g;
	uint64_t w;
	int t, admitted = 0;
	governor_init(&g, 1, 100, 600, 0); /* one request every 100 ms */
	governor_observe(&g, 0, 5000, 5000, 1e9);
	/* Over one simulated minute, never more than 600. */
	for (uint64_t now = 0; now < 60000; now += 5) {
		if (admit(&g, now, 1000, &w, &t) == GOV_GO) {
			admitted++;
			governor_done(&g, t);
		}
	}
	CHECK(admitted <= 600 && admitted >= 598);
	/* No burst after idling. */
	governor_init(&g, 1, 100, 600, 0);
	governor_observe(&g, 0, 5000, 5000, 1e9);
	CHECK(admit(&g, 100000, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 100000, 1000, &w, &t) == GOV_WAIT_TIME && w == 100);
}

static void test_budget_spent_waits_for_reset(void)
{
	struct governor g;
	uint64_t w;
	int t;
	governor_init(&g, 1, 10, 60000, 0);
	governor_observe(&g, 0, 2, 40, 1010); /* 2 left, resets at epoch 1010 */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO);
	CHECK(g.limiting == GOV_FREE);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_WAIT_TIME);
	/* until the reset (10 s away) plus a second of slack, and it says which reset */
	CHECK(w >= 10000 && w <= 11100);
	CHECK(g.limiting == GOV_SPENT && g.limiting_reset == 1010);
	governor_done(&g, 0);
	governor_done(&g, 0);
	/* After the reset the budget is unknown: one probe. */
	CHECK(admit(&g, 11002, 1011.1, &w, &t) == GOV_GO);
	CHECK(admit(&g, 11003, 1011.1, &w, &t) == GOV_WAIT_COMPLETION);
	/* A 403 for the primary limit empties the budget until the reset it names. */
	governor_observe(&g, 0, 30, 40, 1100);
	governor_primary(&g, 0, 1100);
	governor_done(&g, 0);
	CHECK(admit(&g, 11010, 1011.2, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 88000 && w <= 90000);
}

static void test_reserve_and_spreading(void)
{
	struct governor g;
	uint64_t w;
	int t;
	governor_init(&g, 1, 10, 60000, 50);
	governor_observe(&g, 0, 60, 5000, 1000 + 100); /* 10 usable over 100 s */
	g.backlog = 1000;
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	/* Spread: about 100 s / 9 left = 11 s apart instead of 1 ms. */
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK(w >= 10000 && w <= 11200);
	CHECK(g.limiting == GOV_SPREADING && g.limiting_reset == 1100);
	CHECK(g.spread_gap_ms >= 10000 && g.spread_gap_ms <= 11200);
	/* A budget learned meanwhile (a new window) applies at once: no more spreading. */
	governor_observe(&g, 0, 4000, 5000, 1000 + 3600);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_GO);
	CHECK(g.limiting == GOV_FREE);
	/* With a small backlog, no spreading. */
	governor_init(&g, 1, 10, 60000, 50);
	governor_observe(&g, 0, 60, 5000, 1100);
	g.backlog = 5;
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO);
	/* The reserve never blocks a small budget entirely. */
	governor_init(&g, 1, 10, 60000, 50);
	governor_observe(&g, 0, 40, 40, 1100);
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO);
}

static void test_secondary(void)
{
	struct governor g;
	uint64_t w;
	int t;
	governor_init(&g, 1, 8, 60000, 0);
	governor_observe(&g, 0, 4000, 5000, 5000);
	CHECK(governor_secondary(&g, 1000, 2));
	CHECK_INT(g.concurrency, 4);
	/* The other requests in flight answer the same: one event, not one per answer. */
	for (int i = 0; i < 7; i++)
		CHECK(!governor_secondary(&g, 1500, 2));
	CHECK_INT(g.concurrency, 4);
	CHECK_INT(g.strikes, 1);
	CHECK(admit(&g, 2000, 1000, &w, &t) == GOV_WAIT_TIME && w == 1500);
	CHECK(admit(&g, 3500, 1000, &w, &t) == GOV_GO);
	governor_done(&g, t);
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
}

static void test_token_pool(void)
{
	struct governor g;
	uint64_t w;
	int t, uses[3] = {0};
	governor_init(&g, 3, 10, 60000, 0);
	/* Each unknown budget is probed first. */
	CHECK(admit(&g, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&g, 1, 1000, &w, &t) == GOV_GO && t == 1);
	CHECK(admit(&g, 2, 1000, &w, &t) == GOV_GO && t == 2);
	CHECK(admit(&g, 3, 1000, &w, &t) == GOV_WAIT_COMPLETION);
	governor_observe(&g, 0, 100, 5000, 4600);
	governor_observe(&g, 1, 4000, 5000, 4600);
	governor_observe(&g, 2, 0, 5000, 4600);
	for (int i = 0; i < 3; i++)
		governor_done(&g, i);
	/* Then each request goes to the token with the most budget. */
	for (uint64_t now = 10; now < 100; now += 10) {
		CHECK(admit(&g, now, 1000, &w, &t) == GOV_GO);
		uses[t]++;
		governor_done(&g, t);
	}
	CHECK(uses[1] == 9 && uses[0] == 0 && uses[2] == 0);
	/* No spreading while a token's budget is still being probed: it may be a fresh
	 * window (a pool of two, one spent, one unknown, a long backlog). */
	struct governor h;
	governor_init(&h, 2, 10, 60000, 0);
	h.backlog = 100;
	CHECK(admit(&h, 0, 1000, &w, &t) == GOV_GO && t == 0);
	CHECK(admit(&h, 1, 1000, &w, &t) == GOV_GO && t == 1);
	governor_observe(&h, 0, 60, 5000, 4600);
	governor_done(&h, 0);
	CHECK(admit(&h, 2, 1000, &w, &t) == GOV_GO && t == 0);
	/* A token answering 401 is dropped; the others carry on. */
	CHECK_INT(governor_drop_token(&g, 1), 2);
	CHECK(admit(&g, 200, 1000, &w, &t) == GOV_GO && t == 0);
	governor_done(&g, t);
	CHECK_INT(governor_drop_token(&g, 0), 1);
	/* Token 2's budget is spent: wait for its reset. */
	CHECK(admit(&g, 300, 1000, &w, &t) == GOV_WAIT_TIME);
	CHECK_INT(governor_drop_token(&g, 2), 0);
	CHECK(admit(&g, 400, 1000, &w, &t) == GOV_NO_TOKEN);
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
	test_pace();
	test_budget_spent_waits_for_reset();
	test_reserve_and_spreading();
	test_secondary();
	test_token_pool();
	test_backoff();
	return CHECK_DONE();
}
