/* bench_index.c - what ghaminer serve's row index costs after a fold: built from where the
 * rewrite says it put each row (csvstore.keep_spans), against reading the new file.
 *
 * Built by nothing; from the repository's root, after a build into build/:
 *   cc -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -o /tmp/bench_index scripts/bench_index.c \
 *      build/libghacore.a $(pkg-config --cflags --libs libuv libcurl jansson yaml-0.1 \
 *      libcrypto libh2o) -lwslay -lcsv -lm
 *   python3 scripts/bench_serve_big.py --write-csv /tmp/big.csv --runs 50000
 *   /tmp/bench_index /tmp/big.csv
 * It rewrites the CSV once (the rows as they were). */
#include <stdio.h>
#include <time.h>

#include "csvstore.h"
#include "serve_index.h"

static bool unchanged(void *ctx, uint32_t repo, int64_t id, struct record *row)
{
	(void)ctx, (void)repo, (void)id, (void)row;
	return false;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct csvstore cs;
	struct serve_index adopted, read;
	struct error err = {0};
	double t0, t1, t2, t3;
	if (argc != 2) {
		fprintf(stderr, "usage: bench_index CSV\n");
		return 2;
	}
	if (csvstore_open(&cs, argv[1], &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	cs.keep_spans = true;
	t0 = now();
	if (csvstore_rewrite(&cs, unchanged, NULL, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	t1 = now();
	serve_index_init(&adopted);
	serve_index_init(&read);
	if (serve_index_update(&adopted, &cs, &err) != 0) /* from the rewrite's notes */
		return 1;
	t2 = now();
	if (serve_index_update(&read, &cs, &err) != 0) /* by reading the file */
		return 1;
	t3 = now();
	printf("%.1f MB: fold (a rewrite) %.3f s; index from the rewrite's notes %.4f s%s; by "
	       "reading the file %.4f s (%.1fx)\n", (double)cs.size / 1048576, t1 - t0, t2 - t1,
	       adopted.adopted ? "" : " (NOT adopted)", t3 - t2, (t3 - t2) / (t2 - t1));
	serve_index_release(&adopted);
	serve_index_release(&read);
	csvstore_close(&cs);
	return 0;
}
