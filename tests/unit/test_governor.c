/* test_governor.c - admission decisions with an injected clock: no sleeping. */
#include "check.h"
#include "governor.h"

static void test_in_flight_cap_and_probe(void)
{
	struct governor g;
	uint64_t w;
	governor_init(&g, 3, 60000, 0);
	/* Budget unknown: one probe at a time. */
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_WAIT_COMPLETION);
	governor_observe(&g, 4999, 5000, 4600);
	governor_done(&g);
	/* Known budget: up to the cap. */
	CHECK(governor_admit(&g, 10, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 20, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 30, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 40, 1000, &w) == GOV_WAIT_COMPLETION);
	CHECK_INT(g.remaining, 4996);
	governor_done(&g);
	CHECK(governor_admit(&g, 50, 1000, &w) == GOV_GO);
}

static void test_pace(void)
{
	struct governor g;
	uint64_t w;
	int admitted = 0;
	governor_init(&g, 100, 600, 0); /* one request every 100 ms */
	governor_observe(&g, 5000, 5000, 1e9);
	/* Over one simulated minute, never more than 600. */
	for (uint64_t t = 0; t < 60000; t += 5) {
		if (governor_admit(&g, t, 1000, &w) == GOV_GO) {
			admitted++;
			governor_done(&g);
		}
	}
	CHECK(admitted <= 600 && admitted >= 598);
	/* No burst after idling. */
	governor_init(&g, 100, 600, 0);
	governor_observe(&g, 5000, 5000, 1e9);
	CHECK(governor_admit(&g, 100000, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 100000, 1000, &w) == GOV_WAIT_TIME && w == 100);
}

static void test_budget_spent_waits_for_reset(void)
{
	struct governor g;
	uint64_t w;
	governor_init(&g, 10, 60000, 0);
	governor_observe(&g, 2, 40, 1010); /* 2 left, resets at epoch 1010 */
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 1, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 2, 1000, &w) == GOV_WAIT_TIME);
	/* until the reset (10 s away) plus a second of slack */
	CHECK(w >= 10000 && w <= 11100);
	governor_done(&g);
	governor_done(&g);
	/* After the reset the budget is unknown: one probe. */
	CHECK(governor_admit(&g, 11002, 1011.1, &w) == GOV_GO);
	CHECK(governor_admit(&g, 11003, 1011.1, &w) == GOV_WAIT_COMPLETION);
}

static void test_reserve_and_spreading(void)
{
	struct governor g;
	uint64_t w;
	governor_init(&g, 10, 60000, 50);
	governor_observe(&g, 60, 5000, 1000 + 100); /* 10 usable over 100 s */
	g.backlog = 1000;
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_GO);
	/* Spread: about 100 s / 10 = 10 s apart instead of 1 ms. */
	CHECK(governor_admit(&g, 1, 1000, &w) == GOV_WAIT_TIME);
	CHECK(w >= 9000 && w <= 11000);
	/* With a small backlog, no spreading. */
	governor_init(&g, 10, 60000, 50);
	governor_observe(&g, 60, 5000, 1100);
	g.backlog = 5;
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_GO);
	CHECK(governor_admit(&g, 1, 1000, &w) == GOV_GO);
	/* The reserve never blocks a small budget entirely. */
	governor_init(&g, 10, 60000, 50);
	governor_observe(&g, 40, 40, 1100);
	CHECK(governor_admit(&g, 0, 1000, &w) == GOV_GO);
}

static void test_secondary(void)
{
	struct governor g;
	uint64_t w;
	governor_init(&g, 8, 60000, 0);
	governor_observe(&g, 4000, 5000, 5000);
	governor_secondary(&g, 1000, 2);
	CHECK_INT(g.concurrency, 4);
	CHECK(governor_admit(&g, 2000, 1000, &w) == GOV_WAIT_TIME && w == 1000);
	CHECK(governor_admit(&g, 3000, 1000, &w) == GOV_GO);
	governor_done(&g);
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
	test_backoff();
	return CHECK_DONE();
}
