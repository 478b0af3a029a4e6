/* shard.c - rendezvous hashing of repositories onto shards, with bounded loads when their
 * run counts are known (see shard.h). */
#include "shard.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SHARD_SLACK 1.05

uint64_t shard_score(const char *key, int i)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	/* splitmix64 of the name's hash and the shard: FNV alone mixes its last bytes
	 * poorly. */
	h += 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

static int best_shard(const char *key, int nshards)
{
	int best = 0;
	uint64_t top = shard_score(key, 0);
	for (int i = 1; i < nshards; i++) {
		uint64_t s = shard_score(key, i);
		if (s > top) {
			top = s;
			best = i;
		}
	}
	return best;
}

struct order {
	const char *key;
	double w;
	size_t k;
};

static int cmp_heavy(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	return strcmp(x->key, y->key);
}

struct pref {
	uint64_t score;
	int shard;
};

static int cmp_pref(const void *a, const void *b)
{
	const struct pref *x = a, *y = b;
	return x->score > y->score ? -1 : x->score < y->score;
}

static void assign_weighted(const char *const *keys, const double *weights, size_t n,
			    int nshards, int *assign)
{
	struct order *o = xcalloc(n + 1, sizeof(*o));
	double known = 0, total = 0, heaviest = 0, load[SHARD_MAX] = {0};
	size_t nknown = 0;
	struct pref p[SHARD_MAX];
	for (size_t k = 0; k < n; k++)
		if (weights[k] >= 0) {
			known += weights[k];
			nknown++;
		}
	double mean = nknown && known > 0 ? known / (double)nknown : 1.0;
	for (size_t k = 0; k < n; k++) {
		o[k] = (struct order){keys[k], weights[k] >= 0 ? weights[k] : mean, k};
		total += o[k].w;
		if (o[k].w > heaviest)
			heaviest = o[k].w;
	}
	double cap = total / nshards * SHARD_SLACK;
	if (cap < heaviest)
		cap = heaviest;
	qsort(o, n, sizeof(*o), cmp_heavy);
	for (size_t k = 0; k < n; k++) {
		int chosen = -1, lightest = 0;
		for (int i = 0; i < nshards; i++)
			p[i] = (struct pref){shard_score(o[k].key, i), i};
		qsort(p, (size_t)nshards, sizeof(*p), cmp_pref);
		for (int i = 0; i < nshards && chosen < 0; i++)
			if (load[p[i].shard] + o[k].w <= cap)
				chosen = p[i].shard;
		for (int i = 1; i < nshards; i++)
			if (load[i] < load[lightest])
				lightest = i;
		if (chosen < 0)
			chosen = lightest;
		load[chosen] += o[k].w;
		assign[o[k].k] = chosen;
	}
	free(o);
}

void shard_assign(const char *const *keys, const double *weights, size_t n, int nshards,
		  int *assign)
{
	if (weights) {
		assign_weighted(keys, weights, n, nshards, assign);
		return;
	}
	for (size_t k = 0; k < n; k++)
		assign[k] = best_shard(keys[k], nshards);
}
