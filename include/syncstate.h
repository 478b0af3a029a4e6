/* syncstate.h - what completed passes proved, kept beside the CSV (<csv>.state, a JSON
 * object with one listing or ETag a line): per listing, the created_at ranges known
 * complete; per token and URL, the ETag of the listing's first page; the time of the last
 * complete sync. The text format of earlier versions still loads. */
#ifndef GHAMINER_SYNCSTATE_H
#define GHAMINER_SYNCSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_MIN INT64_MIN /* "since the beginning" */
#define SYNCSTATE_SALT_HEX 32 /* a 128-bit salt, in hex */

struct sync_range {
	int64_t lo, hi; /* created_at seconds, inclusive; lo may be SYNC_MIN */
};

struct sync_listing {
	char *key; /* "owner/repo|wf=ID|from=DATE|to=DATE" (the caller's choice; any text) */
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
	int64_t *open;  /* runs on the page that were not complete: a 304 proves them
			   unchanged, so they need no refresh */
	size_t nopen;
};

struct syncstate {
	char *path;
	struct sync_listing *l;
	size_t nl;
	struct sync_etag *e;
	size_t ne;
	char salt[SYNCSTATE_SALT_HEX + 1]; /* hex; empty until a token id needs it */
};

/* Load <csv>.state (absent = empty): the JSON format, or the text format of earlier
 * versions. 0, or a negative errno after a warning: -EINVAL when the file is not
 * understood, the read's error otherwise. The state is then empty (with st->path set): a
 * damaged state only costs requests. */
int syncstate_load(struct syncstate *st, const char *csv_path);
/* Durably replace the file as JSON (temp file, fsync, rename, fsync of the directory).
 * 0, or a negative errno after printing the error; the old file is then left whole. */
int syncstate_save(const struct syncstate *st);
void syncstate_release(struct syncstate *st);

struct sync_listing *syncstate_listing(struct syncstate *st, const char *key);
/* The stored ETag for url, or NULL; *next (when not NULL) gets the stored next URL. */
const char *syncstate_etag(const struct syncstate *st, const char *token_id, const char *url,
			   const char **next);
/* Store (a copy of) the ETag of url, and the page's next URL (NULL: none), replacing what
 * was stored for the same token and url. A NULL etag stores nothing. */
void syncstate_set_etag(struct syncstate *st, const char *token_id, const char *url,
			const char *etag, const char *next);
/* The runs that were not complete on url's page when its ETag was stored (ids copied), and
 * reading them back (*n gets the count; NULL when none). */
void syncstate_set_open_runs(struct syncstate *st, const char *token_id, const char *url,
			     const int64_t *ids, size_t n);
const int64_t *syncstate_open_runs(const struct syncstate *st, const char *token_id,
				   const char *url, size_t *n);
/* Drop the ETags of day windows (created=YYYY-MM-DD) older than max_age_days before now:
 * re-runs are no longer possible there, so nothing will ask for them again. Returns how
 * many were dropped. */
size_t syncstate_prune_days(struct syncstate *st, double now, int max_age_days);
/* A short id for a token that keeps the token out of the file: the first 64 bits of
 * HMAC-SHA256 keyed by the state's own random salt (made on first use, saved in the file).
 * No table computed in advance fits it, and the same token has unrelated ids in two state
 * files. Someone holding the file and a candidate token can still test that one candidate:
 * what keeps a token safe from guessing is its own ~180 bits of randomness. 0, or a
 * negative errno when no random salt could be had (out is then empty: no ETag is kept). */
int syncstate_token_id(struct syncstate *st, const char *token, char out[17]);

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
