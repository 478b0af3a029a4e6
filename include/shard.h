/* shard.h - which of N shards mines a repository: stable (a hash of the normalised
 * owner/repo, so that adding a repository moves no other) and, given run counts, balanced
 * by size. Pure: no I/O. */
#ifndef GHAMINER_SHARD_H
#define GHAMINER_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 256

/* A repository's affinity for shard i (rendezvous hashing): its shard is the one scoring
 * highest, and changing N moves only the repositories of the shards added or removed.
 * key: "owner/repo" in lower case. */
uint64_t shard_score(const char *key, int i);

/* assign[k] gets the shard of keys[k]. Without weights (NULL) each goes to its highest
 * score. With weights (run counts; a negative one is unknown and counts as the mean of
 * the known ones), heaviest first, each goes to the first shard in its score order whose
 * load stays within 5 % over an even share (or the heaviest repository's weight), else to
 * the least loaded: loads within that bound, and the same input gives the same answer. */
void shard_assign(const char *const *keys, const double *weights, size_t n, int nshards,
		  int *assign);

#endif
