/* syncstate.c - what completed passes proved, kept beside the CSV. Losing it is safe: it
 * only saves requests, the CSV stays the database. Written as JSON, one fact a line so a
 * person can read it and a diff shows what changed:
 *   {"ghaminer_state": 2, "note": "...",
 *    "listings": [
 *     {"key": "o/r|wf=0|from=-|to=-", "last_sync": 1795432894,
 *      "covered": [["*", "2024-01-01T00:00:00+00:00"], ...]},
 *     ...],
 *    "etags": [
 *     {"token_id": "…", "url": "…", "etag": "W/\"…\"", "next": "…"},
 *     ...]}
 * Earlier versions wrote text, which could hold no space in a key, URL or ETag; it still
 * loads (version 1):
 *   listing <key> last_sync=<epoch> covered=<lo>..<hi>,...
 *   etag <token id> <etag> <url> [<next>] */
#include "syncstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "util.h"

void sync_format_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == SYNC_MIN) {
		strcpy(out, "*");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

static int parse_time(const char *s, int64_t *out)
{
	double d;
	if (strcmp(s, "*") == 0) {
		*out = SYNC_MIN;
		return 0;
	}
	if (time_parse_iso(s, &d) != 0)
		return -1;
	*out = (int64_t)d;
	return 0;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

int syncstate_token_id(struct syncstate *st, const char *token, char out[17])
{
	unsigned char salt[SYNCSTATE_SALT_HEX / 2], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	out[0] = '\0';
	if (!st->salt[0]) {
		if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
			return -errno;
		hex(salt, sizeof(salt), st->salt);
	}
	/* The hex text is the key: what the file holds is what the next run keys with. */
	if (!HMAC(EVP_sha256(), st->salt, SYNCSTATE_SALT_HEX, (const unsigned char *)token,
		  strlen(token), md, &mdlen) || mdlen < 8)
		return -EINVAL;
	hex(md, 8, out);
	return 0;
}

void sync_clear(struct sync_listing *l)
{
	free(l->r);
	l->r = NULL;
	l->nr = 0;
	l->last_sync = 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct sync_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void sync_cover(struct sync_listing *l, int64_t lo, int64_t hi)
{
	size_t i, o = 0;
	if (lo > hi)
		return;
	l->r = xrealloc(l->r, (l->nr + 1) * sizeof(*l->r));
	l->r[l->nr++] = (struct sync_range){lo, hi};
	qsort(l->r, l->nr, sizeof(*l->r), cmp_range);
	/* Merge overlapping or adjacent (one second apart) ranges. */
	for (i = 1; i < l->nr; i++) {
		if (l->r[i].lo <= l->r[o].hi + 1) {
			if (l->r[i].hi > l->r[o].hi)
				l->r[o].hi = l->r[i].hi;
		} else {
			l->r[++o] = l->r[i];
		}
	}
	l->nr = o + 1;
}

int64_t sync_covered_hi(const struct sync_listing *l)
{
	return l->nr ? l->r[l->nr - 1].hi : SYNC_MIN;
}

bool sync_top_gap(const struct sync_listing *l, int64_t from, int64_t to, int64_t *glo,
		  int64_t *ghi)
{
	/* Walk down from `to`: the first point not covered starts the gap. */
	int64_t top = to;
	for (size_t i = l->nr; i-- > 0;) {
		const struct sync_range *r = &l->r[i];
		if (r->lo > top)
			continue;
		if (r->hi >= top) {
			if (r->lo <= from)
				return false;
			top = r->lo - 1;
			continue;
		}
		/* r is wholly below top: the gap is (r->hi, top]. */
		*glo = r->hi + 1 > from ? r->hi + 1 : from;
		*ghi = top;
		return *glo <= *ghi;
	}
	if (top < from)
		return false;
	*glo = from;
	*ghi = top;
	return true;
}

struct sync_listing *syncstate_listing(struct syncstate *st, const char *key)
{
	for (size_t i = 0; i < st->nl; i++)
		if (strcmp(st->l[i].key, key) == 0)
			return &st->l[i];
	st->l = xrealloc(st->l, (st->nl + 1) * sizeof(*st->l));
	st->l[st->nl] = (struct sync_listing){.key = xstrdup(key)};
	return &st->l[st->nl++];
}

const char *syncstate_etag(const struct syncstate *st, const char *token_id, const char *url,
			   const char **next)
{
	if (next)
		*next = NULL;
	for (size_t i = 0; i < st->ne; i++) {
		if (strcmp(st->e[i].token_id, token_id) == 0 && strcmp(st->e[i].url, url) == 0) {
			if (next)
				*next = st->e[i].next;
			return st->e[i].etag;
		}
	}
	return NULL;
}

void syncstate_set_etag(struct syncstate *st, const char *token_id, const char *url,
			const char *etag, const char *next)
{
	struct sync_etag *e = NULL;
	if (!etag || !url || !token_id || !token_id[0]) /* "": syncstate_token_id failed */
		return;
	for (size_t i = 0; i < st->ne && !e; i++)
		if (strcmp(st->e[i].token_id, token_id) == 0 && strcmp(st->e[i].url, url) == 0)
			e = &st->e[i];
	if (!e) {
		st->e = xrealloc(st->e, (st->ne + 1) * sizeof(*st->e));
		e = &st->e[st->ne++];
		*e = (struct sync_etag){xstrdup(token_id), xstrdup(url), NULL, NULL, NULL, 0};
	}
	free(e->etag);
	free(e->next);
	free(e->open);
	e->etag = xstrdup(etag);
	e->next = next ? xstrdup(next) : NULL;
	e->open = NULL;
	e->nopen = 0;
}

static struct sync_etag *find_etag(const struct syncstate *st, const char *token_id,
				   const char *url)
{
	for (size_t i = 0; i < st->ne; i++)
		if (strcmp(st->e[i].token_id, token_id) == 0 && strcmp(st->e[i].url, url) == 0)
			return &st->e[i];
	return NULL;
}

void syncstate_set_open_runs(struct syncstate *st, const char *token_id, const char *url,
			     const int64_t *ids, size_t n)
{
	struct sync_etag *e = find_etag(st, token_id, url);
	if (!e)
		return;
	free(e->open);
	e->open = n ? xmalloc(n * sizeof(*ids)) : NULL;
	if (n)
		memcpy(e->open, ids, n * sizeof(*ids));
	e->nopen = n;
}

const int64_t *syncstate_open_runs(const struct syncstate *st, const char *token_id,
				   const char *url, size_t *n)
{
	const struct sync_etag *e = find_etag(st, token_id, url);
	*n = e ? e->nopen : 0;
	return e ? e->open : NULL;
}

/* The day of a "created=YYYY-MM-DD" query parameter (exactly a date), or -1. */
static int64_t url_day(const char *url)
{
	const char *q = strstr(url, "created=");
	char iso[32];
	double t;
	if (!q)
		return -1;
	q += 8;
	if (strlen(q) < 10 || (q[10] && q[10] != '&'))
		return -1;
	snprintf(iso, sizeof(iso), "%.10sT00:00:00Z", q);
	return time_parse_iso(iso, &t) == 0 ? (int64_t)(t / 86400) : -1;
}

static void etag_release(struct sync_etag *e)
{
	free(e->token_id);
	free(e->url);
	free(e->etag);
	free(e->next);
	free(e->open);
}

size_t syncstate_prune_days(struct syncstate *st, double now, int max_age_days)
{
	int64_t today = (int64_t)(now / 86400);
	size_t o = 0, dropped = 0;
	for (size_t i = 0; i < st->ne; i++) {
		int64_t day = url_day(st->e[i].url);
		if (day >= 0 && today - day > max_age_days) {
			etag_release(&st->e[i]);
			dropped++;
			continue;
		}
		st->e[o++] = st->e[i];
	}
	st->ne = o;
	return dropped;
}

#define SYNCSTATE_VERSION 2

/* Version 1: "listing <key> last_sync=<epoch> covered=<lo>..<hi>,...". */
static int parse_text_listing(struct syncstate *st, char *rest)
{
	char *save, *key = strtok_r(rest, " ", &save), *tok;
	if (!key)
		return -1;
	struct sync_listing *l = syncstate_listing(st, key);
	while ((tok = strtok_r(NULL, " ", &save))) {
		if (strncmp(tok, "last_sync=", 10) == 0) {
			l->last_sync = strtod(tok + 10, NULL);
		} else if (strncmp(tok, "covered=", 8) == 0) {
			char *s2, *rg;
			for (rg = strtok_r(tok + 8, ",", &s2); rg; rg = strtok_r(NULL, ",", &s2)) {
				char *dots = strstr(rg, "..");
				int64_t lo, hi;
				if (!dots)
					return -1;
				*dots = '\0';
				if (parse_time(rg, &lo) || parse_time(dots + 2, &hi))
					return -1;
				sync_cover(l, lo, hi);
			}
		}
	}
	return 0;
}

/* Version 1, the whole text. 0, or -1 with *bad_line set. */
static int load_text(struct syncstate *st, char *text, int *bad_line)
{
	char *save, *line;
	int lineno = 0;
	/* strtok_r skips empty lines, so count them from the text itself. */
	for (line = text; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		if (!*line || *line == '#')
			continue;
		if (strncmp(line, "listing ", 8) == 0) {
			if (parse_text_listing(st, line + 8) == 0)
				continue;
		} else if (strncmp(line, "etag ", 5) == 0) {
			char *s2, *id = strtok_r(line + 5, " ", &s2);
			char *etag = strtok_r(NULL, " ", &s2), *url = strtok_r(NULL, " ", &s2);
			char *next = strtok_r(NULL, " ", &s2);
			if (id && etag && url) {
				syncstate_set_etag(st, id, url, etag, next);
				continue;
			}
		}
		*bad_line = lineno;
		return -1;
	}
	return 0;
}

static int load_json_listing(struct syncstate *st, const json_t *o)
{
	const char *key = json_string_value(json_object_get(o, "key"));
	const json_t *last = json_object_get(o, "last_sync"), *covered = json_object_get(o, "covered");
	const json_t *pair;
	size_t i;
	if (!key || (last && !json_is_number(last)) || (covered && !json_is_array(covered)))
		return -1;
	struct sync_listing *l = syncstate_listing(st, key);
	l->last_sync = last ? json_number_value(last) : 0;
	json_array_foreach(covered, i, pair) {
		const char *lo_s = json_string_value(json_array_get(pair, 0));
		const char *hi_s = json_string_value(json_array_get(pair, 1));
		int64_t lo, hi;
		if (!lo_s || !hi_s || json_array_size(pair) != 2 || parse_time(lo_s, &lo) ||
		    parse_time(hi_s, &hi))
			return -1;
		sync_cover(l, lo, hi);
	}
	return 0;
}

static int load_json_etag(struct syncstate *st, const json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "token_id"));
	const char *url = json_string_value(json_object_get(o, "url"));
	const char *etag = json_string_value(json_object_get(o, "etag"));
	const json_t *next = json_object_get(o, "next");
	if (!id || !url || !etag || (next && !json_is_string(next) && !json_is_null(next)))
		return -1;
	syncstate_set_etag(st, id, url, etag, json_string_value(next));
	const json_t *open = json_object_get(o, "open"), *v;
	size_t i, n = 0;
	int64_t *ids = xcalloc(json_array_size(open) + 1, sizeof(*ids));
	json_array_foreach(open, i, v)
		if (json_integer_value(v) > 0)
			ids[n++] = json_integer_value(v);
	syncstate_set_open_runs(st, id, url, ids, n);
	free(ids);
	return 0;
}

/* The JSON format. 0, or -1 with why (a static text) or a parse error in err. */
static int load_json(struct syncstate *st, const char *text, size_t len, json_error_t *err)
{
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, err), *v;
	const json_t *version, *listings, *etags, *salt;
	size_t i;
	int rc = -1;
	if (!root)
		return -1;
	version = json_object_get(root, "ghaminer_state");
	listings = json_object_get(root, "listings");
	etags = json_object_get(root, "etags");
	salt = json_object_get(root, "salt");
	if (!json_is_integer(version) || json_integer_value(version) != SYNCSTATE_VERSION) {
		snprintf(err->text, sizeof(err->text), "%s",
			 json_is_integer(version) ? "written by another version of ghaminer"
						  : "no \"ghaminer_state\" version");
		goto out;
	}
	if ((listings && !json_is_array(listings)) || (etags && !json_is_array(etags))) {
		snprintf(err->text, sizeof(err->text), "\"listings\" or \"etags\" not an array");
		goto out;
	}
	if (salt && (!json_is_string(salt) || json_string_length(salt) != SYNCSTATE_SALT_HEX ||
		     strspn(json_string_value(salt), "0123456789abcdef") != SYNCSTATE_SALT_HEX)) {
		snprintf(err->text, sizeof(err->text), "\"salt\" is not %d hex digits",
			 SYNCSTATE_SALT_HEX);
		goto out;
	}
	if (salt)
		memcpy(st->salt, json_string_value(salt), SYNCSTATE_SALT_HEX + 1);
	json_array_foreach(listings, i, v) {
		if (load_json_listing(st, v) != 0) {
			snprintf(err->text, sizeof(err->text), "listing %zu is malformed", i + 1);
			goto out;
		}
	}
	json_array_foreach(etags, i, v) {
		if (load_json_etag(st, v) != 0) {
			snprintf(err->text, sizeof(err->text), "ETag %zu is malformed", i + 1);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int read_file(const char *path, struct buf *b)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	return rc;
}

int syncstate_load(struct syncstate *st, const char *csv_path)
{
	struct buf text;
	json_error_t err;
	int rc, bad_line = 0;
	const char *p;
	memset(st, 0, sizeof(*st));
	st->path = xasprintf("%s.state", csv_path);
	buf_init(&text, 0);
	rc = read_file(st->path, &text);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc) {
		msg_warn("cannot read '%s': %s: ignoring the sync state (the next pass lists "
			 "everything again)", st->path, strerror(-rc));
		goto out;
	}
	if (!text.data)
		goto out; /* empty */
	for (p = text.data; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '{') {
		err.text[0] = '\0';
		err.line = -1;
		if (load_json(st, text.data, text.len, &err) != 0) {
			rc = -EINVAL;
			if (err.line > 0)
				msg_warn("'%s' line %d: %s: ignoring the sync state (the next pass "
					 "lists everything again)", st->path, err.line, err.text);
			else
				msg_warn("'%s': %s: ignoring the sync state (the next pass lists "
					 "everything again)", st->path, err.text);
		}
	} else if (load_text(st, text.data, &bad_line) != 0) {
		rc = -EINVAL;
		msg_warn("'%s' line %d is not understood: ignoring the sync state (the next pass "
			 "lists everything again)", st->path, bad_line);
	}
	/* Without a salt, ETags were keyed by an earlier version's unsalted hash of the token:
	 * nothing can match them now (each costs one full request, once). */
	if (!rc && !st->salt[0]) {
		for (size_t i = 0; i < st->ne; i++)
			etag_release(&st->e[i]);
		st->ne = 0;
	}
out:
	buf_release(&text);
	if (rc) {
		char *path = st->path;
		st->path = NULL;
		syncstate_release(st);
		st->path = path;
	}
	return rc;
}

static json_t *listing_json(const struct sync_listing *l)
{
	char lo[32], hi[32];
	json_t *covered = json_array();
	for (size_t k = 0; k < l->nr; k++) {
		sync_format_time(l->r[k].lo, lo);
		sync_format_time(l->r[k].hi, hi);
		json_array_append_new(covered, json_pack("[ss]", lo, hi));
	}
	return json_pack("{s:s, s:I, s:o}", "key", l->key, "last_sync",
			 (json_int_t)llround(l->last_sync), "covered", covered);
}

/* NULL when a string is not UTF-8. */
static json_t *etag_json(const struct sync_etag *e)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "token_id", e->token_id, "url", e->url, "etag",
			      e->etag);
	if (o && e->next && json_object_set_new(o, "next", json_string(e->next)) != 0) {
		json_decref(o);
		return NULL;
	}
	if (o && e->nopen) {
		json_t *open = json_array();
		for (size_t i = 0; i < e->nopen; i++)
			json_array_append_new(open, json_integer(e->open[i]));
		json_object_set_new(o, "open", open);
	}
	return o;
}

/* One element of an array on a line of its own. 0, or -ENOMEM. */
static int append_line(struct buf *b, json_t *elem, bool first)
{
	char *s = json_dumps(elem, JSON_PRESERVE_ORDER);
	json_decref(elem);
	if (!s)
		return -ENOMEM;
	buf_printf(b, "%s\n  %s", first ? "" : ",", s);
	free(s);
	return 0;
}

/* The whole file's text. 0, or a negative errno. */
static int format_json(const struct syncstate *st, struct buf *b)
{
	size_t written = 0;
	int rc = 0;
	buf_printf(b, "{\"ghaminer_state\": %d,\n \"note\": \"what completed passes proved about "
		      "the CSV beside it; safe to delete: the next run then lists everything "
		      "again\",\n", SYNCSTATE_VERSION);
	if (st->salt[0])
		buf_printf(b, " \"salt\": \"%s\",\n", st->salt);
	buf_appends(b, " \"listings\": [");
	for (size_t i = 0; i < st->nl && !rc; i++) {
		json_t *o = listing_json(&st->l[i]);
		/* A key is the caller's UTF-8 text; anything else is a bug worth hearing of. */
		rc = o ? append_line(b, o, i == 0) : -EINVAL;
	}
	buf_appends(b, "],\n \"etags\": [");
	for (size_t i = 0; i < st->ne && !rc; i++) {
		json_t *o = etag_json(&st->e[i]);
		/* A server's ETag or URL that is not UTF-8 cannot be a JSON string: that one
		 * is not kept, which costs one full request next time. */
		if (o)
			rc = append_line(b, o, written++ == 0);
	}
	buf_appends(b, "]}\n");
	return rc;
}

int syncstate_save(const struct syncstate *st)
{
	struct buf b;
	char *tmp = xasprintf("%s.tmp", st->path);
	int fd = -1, rc;
	buf_init(&b, 0);
	rc = format_json(st, &b);
	if (rc) {
		msg_error("cannot write '%s': %s", st->path, strerror(-rc));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
		rc = -errno;
		msg_error("cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = -errno;
		msg_error("cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (rename(tmp, st->path) != 0) {
		rc = -errno;
		msg_error("cannot replace '%s': %s", st->path, strerror(errno));
		goto out_unlink;
	}
	/* Without it the rename may not survive a crash: the old state would come back.
	 * EINVAL: a file system that cannot sync a folder, where nothing more can be done. */
	if (fsync_parent_dir(st->path) != 0 && errno != EINVAL) {
		rc = -errno;
		msg_error("cannot sync the folder of '%s': %s", st->path, strerror(errno));
	}
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	buf_release(&b);
	free(tmp);
	return rc;
}

void syncstate_release(struct syncstate *st)
{
	for (size_t i = 0; i < st->nl; i++) {
		free(st->l[i].key);
		free(st->l[i].r);
	}
	for (size_t i = 0; i < st->ne; i++)
		etag_release(&st->e[i]);
	free(st->l);
	free(st->e);
	free(st->path);
	memset(st, 0, sizeof(*st));
}
