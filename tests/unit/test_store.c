/* test_store.c - the store's fold policy, pure: geometric thresholds, and no fold the end
 * of the pass would repeat at once. A model pass (listing pages appended, job details
 * journaled, folds inline) checks the bytes rewritten against the final CSV. */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "policy.h"
#include "store.h"

static void test_fold_due(void)
{
	/* Unknown outlook, or nothing to average: the threshold alone decides. */
	CHECK(store_fold_due(1000, 4000, 40, -1));
	CHECK(store_fold_due(1000, 4000, 0, 5));
	/* 10 entries of 100 bytes to come against a 5,000-byte fold: the end is near. */
	CHECK(!store_fold_due(1000, 4000, 40, 10));
	/* 200 to come (20,000 bytes = GROWTH x 5,000): worth it. */
	CHECK(store_fold_due(1000, 4000, 40, 200));
	CHECK(!store_fold_due(1000, 4000, 40, 199));
	CHECK(store_fold_due(1000, 4000, 40, 1000000));
}

static void test_next_fold_at(void)
{
	CHECK_INT(store_next_fold_at(1000, 65536), 65536);
	CHECK_INT(store_next_fold_at(1 << 20, 65536), (uint64_t)POLICY_FOLD_GROWTH << 20);
}

/* One pass over runs runs: a listing page of 100 rows (row bytes each) after every
 * lag job results (entry bytes each, as large in the CSV as in the journal). outlook:
 * the pass's total is known (true), or only the runs listed so far (false), or nothing
 * at all (-1 to the store). Returns the bytes all folds wrote; *final is the CSV's size. */
struct pass {
	long runs, row, entry, lag;
	uint64_t floor;
	int outlook; /* 1 total known, 0 listed only, -1 unknown */
};

static uint64_t model_pass(const struct pass *p, uint64_t *final, int *folds)
{
	uint64_t csv = 200, journal = 0, written = 0;
	uint64_t fold_at = store_next_fold_at(0, p->floor);
	long listed = 0, collected = 0, since_page = p->lag;
	size_t entries = 0;
	*folds = 0;
	while (collected < p->runs) {
		if (listed < p->runs && (since_page >= p->lag || collected == listed)) {
			long n = p->runs - listed < 100 ? p->runs - listed : 100;
			csv += (uint64_t)(n * p->row);
			listed += n;
			since_page = 0;
			continue;
		}
		journal += (uint64_t)p->entry;
		entries++;
		collected++;
		since_page++;
		long to_come = p->outlook < 0 ? -1
			       : (p->outlook ? p->runs : listed) - collected;
		if (journal >= fold_at && store_fold_due(csv, journal, entries, to_come)) {
			csv += journal;
			written += csv;
			fold_at = store_next_fold_at(csv, p->floor);
			journal = 0;
			entries = 0;
			(*folds)++;
		}
	}
	csv += journal;
	written += csv; /* the fold at the end of the pass */
	*final = csv;
	return written;
}

static void test_pass_bound(void)
{
	/* Sizes like test_write_budget's (about 5.8 KB of job details a run) and a 50,000-run
	 * repository; job results lagging the listing by a few pages or by a whole one. */
	const long runs[] = {1200, 5000, 50000};
	const long lags[] = {10, 100, 1000};
	const uint64_t floors[] = {65536, POLICY_FOLD_FLOOR_BYTES};
	for (size_t r = 0; r < 3; r++)
		for (size_t l = 0; l < 3; l++)
			for (size_t f = 0; f < 2; f++)
				for (int o = 0; o <= 1; o++) {
					struct pass p = {runs[r], 500, 5800, lags[l], floors[f], o};
					uint64_t final;
					int folds;
					uint64_t w = model_pass(&p, &final, &folds);
					CHECK(w <= final + final / 4);
					if (w > final + final / 4)
						fprintf(stderr, "  runs %ld lag %ld floor %llu outlook %d: "
							"%.2fx in %d folds\n", p.runs, p.lag,
							(unsigned long long)p.floor, o,
							(double)w / (double)final, folds);
				}
	/* The case that made the outlook necessary: without it, a fold just short of the end
	 * is repeated by the end's own fold. */
	struct pass blind = {1200, 500, 5800, 100, 65536, -1}, told = blind;
	told.outlook = 1;
	uint64_t final_blind, final_told;
	int folds_blind, folds_told;
	uint64_t w_blind = model_pass(&blind, &final_blind, &folds_blind);
	uint64_t w_told = model_pass(&told, &final_told, &folds_told);
	CHECK_INT(final_blind, final_told);
	CHECK(w_blind > final_blind + final_blind / 2);
	CHECK(w_told <= final_told + final_told / 4);
	CHECK(folds_told >= 2); /* still folding during the pass, only not at its very end */
}

int main(void)
{
	test_fold_due();
	test_next_fold_at();
	test_pass_bound();
	return CHECK_DONE();
}
