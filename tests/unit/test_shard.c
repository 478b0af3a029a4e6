/* test_shard.c - shards: every repository in one, near-even counts, stable when a
 * repository is added or N changes, balanced by weights within the bound. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "shard.h"
#include "util.h"

#define NREPOS 2000

static char *names[NREPOS + 1];

static void make_names(void)
{
	for (int i = 0; i <= NREPOS; i++)
		names[i] = xasprintf("org-%d/repo.%d", i % 131, i);
}

static void test_unweighted(void)
{
	int a[NREPOS + 1], b[NREPOS + 1], count[8] = {0};
	shard_assign((const char *const *)names, NULL, NREPOS, 8, a);
	for (int i = 0; i < NREPOS; i++) {
		CHECK(a[i] >= 0 && a[i] < 8);
		count[a[i]]++;
	}
	/* Hashing: each shard within 20 % of an even 250. */
	for (int s = 0; s < 8; s++)
		CHECK(count[s] > 200 && count[s] < 300);
	/* One more repository moves no other; same input, same answer. */
	shard_assign((const char *const *)names, NULL, NREPOS + 1, 8, b);
	int moved = 0;
	for (int i = 0; i < NREPOS; i++)
		moved += a[i] != b[i];
	CHECK_INT(moved, 0);
	/* A ninth shard takes only from the others: about 1/9 move, all of them to it. */
	shard_assign((const char *const *)names, NULL, NREPOS, 9, b);
	moved = 0;
	int elsewhere = 0;
	for (int i = 0; i < NREPOS; i++)
		if (a[i] != b[i]) {
			moved++;
			elsewhere += b[i] != 8;
		}
	CHECK_INT(elsewhere, 0);
	CHECK(moved > NREPOS / 9 * 7 / 10 && moved < NREPOS / 9 * 13 / 10);
	/* One shard holds everything. */
	shard_assign((const char *const *)names, NULL, NREPOS, 1, b);
	int nonzero = 0;
	for (int i = 0; i < NREPOS; i++)
		nonzero += b[i] != 0;
	CHECK_INT(nonzero, 0);
}

static void test_weighted(void)
{
	double w[NREPOS], load[8] = {0}, total = 0, heaviest = 0;
	int a[NREPOS], b[NREPOS];
	/* Log-uniform sizes, 20 to 20,000 runs, a few unknown (new repositories). */
	srand(7);
	for (int i = 0; i < NREPOS; i++) {
		w[i] = i % 50 == 0 ? -1 : floor(20 * pow(1000, rand() / (double)RAND_MAX));
		if (w[i] > heaviest)
			heaviest = w[i];
	}
	shard_assign((const char *const *)names, w, NREPOS, 8, a);
	double known = 0;
	int nknown = 0;
	for (int i = 0; i < NREPOS; i++)
		if (w[i] >= 0) {
			known += w[i];
			nknown++;
		}
	for (int i = 0; i < NREPOS; i++) {
		double wi = w[i] >= 0 ? w[i] : known / nknown;
		load[a[i]] += wi;
		total += wi;
	}
	double cap = total / 8 * 1.05;
	if (cap < heaviest)
		cap = heaviest;
	for (int s = 0; s < 8; s++) {
		CHECK(load[s] <= cap + 1e-6);
		CHECK(load[s] >= total / 8 * 0.85);
	}
	/* Deterministic. */
	shard_assign((const char *const *)names, w, NREPOS, 8, b);
	int same = 1;
	for (int i = 0; i < NREPOS; i++)
		same &= a[i] == b[i];
	CHECK(same);
	/* Most repositories stay on their hash's first choice. */
	int first = 0;
	for (int i = 0; i < NREPOS; i++) {
		int best = 0;
		for (int s = 1; s < 8; s++)
			if (shard_score(names[i], s) > shard_score(names[i], best))
				best = s;
		first += a[i] == best;
	}
	CHECK(first > NREPOS / 2);
}

int main(void)
{
	make_names();
	test_unweighted();
	test_weighted();
	for (int i = 0; i <= NREPOS; i++)
		free(names[i]);
	return CHECK_DONE();
}
