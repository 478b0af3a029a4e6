/* syncstate.h - what completed passes proved, kept beside the CSV (<csv>.state, one line a
 * fact): per listing, the created_at ranges known complete; per token and URL, the ETag of
 * the listing's first page; the time of the last complete sync. */
#ifndef GHAMINER_SYNCSTATE_H
#define GHAMINER_SYNCSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_MIN INT64_MIN /* "since the beginning" */

struct sync_range {
	int64_t lo, hi; /* created_at seconds, inclusive; lo may be SYNC_MIN */
};

struct sync_listing {
	char *key; /* "owner/repo wf=ID from=DATE to=DATE" without spaces */
	struct sync_range *r;
	size_t nr;
	double last_sync; /* epoch seconds of the last pass with no gap left, 0 = never */
};

struct sync_etag {
	char *token_id; /* a hash of the token: ETags differ by token, tokens are secret */
	char *url;
	char *etag;
	char *next;     /* the page's rel="next" when it was fetched, or NULL: a 304 has no
			   Link header, and later pages of a window need checking too */
};

struct syncstate {
	char *path;
	struct sync_listing *l;
	size_t nl;
	struct sync_etag *e;
	size_t ne;
};

/* Load <csv>.state (absent = empty). 0, or -1 after a warning (the state is then empty:
 * a damaged state only costs requests). */
int syncstate_load(struct syncstate *st, const char *csv_path);
/* Durably replace the file (temp, fsync, rename). 0, or -1 after printing the error. */
int syncstate_save(const struct syncstate *st);
void syncstate_release(struct syncstate *st);

struct sync_listing *syncstate_listing(struct syncstate *st, const char *key);
/* The stored ETag for url, or NULL; *next (when not NULL) gets the stored next URL. */
const char *syncstate_etag(const struct syncstate *st, const char *token_id, const char *url,
			   const char **next);
void syncstate_set_etag(struct syncstate *st, const char *token_id, const char *url,
			const char *etag, const char *next);
/* Drop the ETags of day windows (created=YYYY-MM-DD) older than max_age_days before now:
 * re-runs are no longer possible there, so nothing will ask for them again. Returns how
 * many were dropped. */
size_t syncstate_prune_days(struct syncstate *st, double now, int max_age_days);
/* A short non-reversible id for a token (FNV-1a, hex). */
void syncstate_token_id(const char *token, char out[17]);

/* Pure range logic. */
void sync_cover(struct sync_listing *l, int64_t lo, int64_t hi);
void sync_clear(struct sync_listing *l);
/* The highest range within [from, to] not covered, looking only below `below` (exclusive
 * of what is covered). false when none is left. */
bool sync_top_gap(const struct sync_listing *l, int64_t from, int64_t to, int64_t *glo,
		  int64_t *ghi);
/* The hi of the highest covered range, or SYNC_MIN when none. */
int64_t sync_covered_hi(const struct sync_listing *l);

/* "2024-01-01T10:00:00+00:00" for the created filter; "*" for SYNC_MIN. */
void sync_format_time(int64_t t, char out[32]);

#endif
