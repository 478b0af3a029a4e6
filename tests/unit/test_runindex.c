/* test_runindex.c - the (repository, run id) → value map: put/get/next, growth, several
 * repositories. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runindex.h"

static void test_basics(void)
{
	struct runindex ix;
	bool added;
	runindex_init(&ix);
	int r = runindex_repo(&ix, "octo/hello", true);
	CHECK_INT(r, 0);
	CHECK(runindex_get(&ix, (uint32_t)r, 42) == NULL); /* empty */
	uint64_t *v = runindex_put(&ix, (uint32_t)r, 42, &added);
	CHECK(v != NULL && added);
	CHECK(*v == 0); /* a new entry starts at 0 */
	*v = 0xdeadbeefcafef00dull;
	v = runindex_put(&ix, (uint32_t)r, 42, &added);
	CHECK(!added);
	CHECK(*v == 0xdeadbeefcafef00dull);
	CHECK(runindex_get(&ix, (uint32_t)r, 42) == v);
	CHECK(runindex_get(&ix, (uint32_t)r, 43) == NULL);
	CHECK(runindex_get(&ix, (uint32_t)r, 0) == NULL); /* 0 marks an empty slot */
	CHECK_INT(ix.count, 1);
	/* Iteration visits exactly the entries. */
	const struct runindex_slot *slot;
	size_t pos = 0, seen = 0;
	while (runindex_next(&ix, &pos, &slot)) {
		seen++;
		CHECK(slot->run_id == 42 && slot->repo == (uint32_t)r);
		CHECK(slot->value == 0xdeadbeefcafef00dull);
	}
	CHECK_INT(seen, 1);
	runindex_release(&ix);
	CHECK(ix.slots == NULL && ix.count == 0 && ix.nrepos == 0);
	/* Released, it is empty and usable again. */
	pos = 0;
	CHECK(!runindex_next(&ix, &pos, &slot));
	CHECK(runindex_get(&ix, 0, 42) == NULL);
	runindex_release(&ix);
}

static void test_repos(void)
{
	struct runindex ix;
	bool added;
	runindex_init(&ix);
	CHECK_INT(runindex_repo(&ix, "a/one", false), -1); /* not added when asked not to */
	CHECK_INT(ix.nrepos, 0);
	int a = runindex_repo(&ix, "a/one", true), b = runindex_repo(&ix, "b/two", true);
	CHECK(a == 0 && b == 1);
	/* GitHub names compare without case. */
	CHECK_INT(runindex_repo(&ix, "A/One", true), a);
	CHECK_INT(runindex_repo(&ix, "B/TWO", false), b);
	CHECK_INT(ix.nrepos, 2);
	/* The same run id in two repositories: two entries, two values. */
	*runindex_put(&ix, (uint32_t)a, 7, &added) = 100;
	CHECK(added);
	*runindex_put(&ix, (uint32_t)b, 7, &added) = 200;
	CHECK(added);
	CHECK_INT(ix.count, 2);
	CHECK(*runindex_get(&ix, (uint32_t)a, 7) == 100);
	CHECK(*runindex_get(&ix, (uint32_t)b, 7) == 200);
	CHECK(runindex_get(&ix, 2, 7) == NULL);
	CHECK_STR(ix.repos[b], "b/two");
	runindex_release(&ix);
}

static void test_growth(void)
{
	enum { N = 200000, REPOS = 3 };
	struct runindex ix;
	bool added;
	runindex_init(&ix);
	for (int r = 0; r < REPOS; r++) {
		char name[32];
		snprintf(name, sizeof(name), "o/r%d", r);
		CHECK_INT(runindex_repo(&ix, name, true), r);
	}
	/* Ids as GitHub hands them out: large, increasing, with gaps. */
	int fresh = 0;
	for (int64_t i = 1; i <= N; i++) {
		uint32_t repo = (uint32_t)(i % REPOS);
		int64_t id = 6600000000LL + i * 37;
		uint64_t *v = runindex_put(&ix, repo, id, &added);
		fresh += added;
		*v = (uint64_t)id * 3 + repo;
	}
	CHECK_INT(fresh, N);
	CHECK_INT(ix.count, N);
	CHECK(ix.cap >= N && (ix.cap & (ix.cap - 1)) == 0); /* grown, a power of two */
	CHECK(ix.count * 4 <= ix.cap * 3);                  /* load factor kept */
	/* Every value survived the rehashes; neighbours are absent. */
	int right = 0, absent = 0;
	for (int64_t i = 1; i <= N; i++) {
		uint32_t repo = (uint32_t)(i % REPOS);
		int64_t id = 6600000000LL + i * 37;
		uint64_t *v = runindex_get(&ix, repo, id);
		right += v && *v == (uint64_t)id * 3 + repo;
		absent += runindex_get(&ix, repo, id + 1) == NULL;
		absent += runindex_get(&ix, (repo + 1) % REPOS, id) == NULL;
	}
	CHECK_INT(right, N);
	CHECK_INT(absent, 2 * N);
	/* Putting them again adds nothing and keeps the values. */
	fresh = 0;
	for (int64_t i = 1; i <= N; i += 1000) {
		uint64_t *v = runindex_put(&ix, (uint32_t)(i % REPOS), 6600000000LL + i * 37, &added);
		fresh += added;
		CHECK(*v == (uint64_t)(6600000000LL + i * 37) * 3 + (uint64_t)(i % REPOS));
	}
	CHECK_INT(fresh, 0);
	CHECK_INT(ix.count, N);
	/* Iteration sees each entry once. */
	const struct runindex_slot *slot;
	size_t pos = 0, seen = 0, per_repo[REPOS] = {0};
	uint64_t sum = 0, want = 0;
	while (runindex_next(&ix, &pos, &slot)) {
		seen++;
		per_repo[slot->repo]++;
		sum += slot->value;
	}
	for (int64_t i = 1; i <= N; i++)
		want += (uint64_t)(6600000000LL + i * 37) * 3 + (uint64_t)(i % REPOS);
	CHECK_INT(seen, N);
	CHECK(sum == want);
	CHECK(per_repo[0] + per_repo[1] + per_repo[2] == N && per_repo[1] == (N + 2) / 3);
	runindex_release(&ix);
}

/* Thousands of repositories: each name found again, in any case, by its own id. */
static void test_many_repositories(void)
{
	struct runindex ix;
	char name[64];
	runindex_init(&ix);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "Org-%d/Repo.%d", i % 97, i);
		CHECK_INT(runindex_repo(&ix, name, true), i);
	}
	int wrong = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "org-%d/REPO.%d", i % 97, i);
		wrong += runindex_repo(&ix, name, false) != i;
		wrong += runindex_repo(&ix, name, true) != i; /* not interned twice */
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(ix.nrepos, 5000);
	CHECK_INT(runindex_repo(&ix, "org-1/unknown", false), -1);
	runindex_release(&ix);
}

int main(void)
{
	test_many_repositories();
	test_basics();
	test_repos();
	test_growth();
	return CHECK_DONE();
}
