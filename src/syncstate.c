/* syncstate.c - what completed passes proved, kept beside the CSV, human-readable:
 *   listing <key> last_sync=<epoch> covered=<lo>..<hi>,...
 *   etag <token id> <etag> <url>
 * Losing it is safe: it only saves requests, the CSV stays the database. */
#include "syncstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void syncstate_token_id(const char *token, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)token; p && *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(out, 17, "%016" PRIx64, h);
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
	if (!etag || strpbrk(etag, " \n") || strpbrk(url, " \n") || (next && strpbrk(next, " \n")))
		return;
	for (size_t i = 0; i < st->ne && !e; i++)
		if (strcmp(st->e[i].token_id, token_id) == 0 && strcmp(st->e[i].url, url) == 0)
			e = &st->e[i];
	if (!e) {
		st->e = xrealloc(st->e, (st->ne + 1) * sizeof(*st->e));
		e = &st->e[st->ne++];
		*e = (struct sync_etag){xstrdup(token_id), xstrdup(url), NULL, NULL};
	}
	free(e->etag);
	free(e->next);
	e->etag = xstrdup(etag);
	e->next = next ? xstrdup(next) : NULL;
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

size_t syncstate_prune_days(struct syncstate *st, double now, int max_age_days)
{
	int64_t today = (int64_t)(now / 86400);
	size_t o = 0, dropped = 0;
	for (size_t i = 0; i < st->ne; i++) {
		int64_t day = url_day(st->e[i].url);
		if (day >= 0 && today - day > max_age_days) {
			free(st->e[i].token_id);
			free(st->e[i].url);
			free(st->e[i].etag);
			free(st->e[i].next);
			dropped++;
			continue;
		}
		st->e[o++] = st->e[i];
	}
	st->ne = o;
	return dropped;
}

static int parse_listing(struct syncstate *st, char *rest)
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

int syncstate_load(struct syncstate *st, const char *csv_path)
{
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	memset(st, 0, sizeof(*st));
	st->path = xasprintf("%s.state", csv_path);
	FILE *f = fopen(st->path, "r");
	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!*line || *line == '#')
			continue;
		if (strncmp(line, "listing ", 8) == 0) {
			if (parse_listing(st, line + 8) != 0)
				rc = -1;
		} else if (strncmp(line, "etag ", 5) == 0) {
			char *save, *id = strtok_r(line + 5, " ", &save);
			char *etag = strtok_r(NULL, " ", &save), *url = strtok_r(NULL, " ", &save);
			char *next = strtok_r(NULL, " ", &save);
			if (id && etag && url)
				syncstate_set_etag(st, id, url, etag, next);
			else
				rc = -1;
		} else {
			rc = -1;
		}
		if (rc) {
			msg_warn("'%s' line %d is not understood: ignoring the sync state (the next "
				 "pass lists everything again)", st->path, lineno);
			break;
		}
	}
	free(line);
	fclose(f);
	if (rc) {
		char *path = st->path;
		st->path = NULL;
		syncstate_release(st);
		memset(st, 0, sizeof(*st));
		st->path = path;
	}
	return rc;
}

int syncstate_save(const struct syncstate *st)
{
	struct buf b;
	char lo[32], hi[32];
	char *tmp = xasprintf("%s.tmp", st->path);
	int fd, rc = -1;
	buf_init(&b, 0);
	buf_appends(&b, "# ghaminer sync state: what completed passes proved about the CSV beside "
			"it.\n# Safe to delete: the next run then lists everything again.\n");
	for (size_t i = 0; i < st->nl; i++) {
		const struct sync_listing *l = &st->l[i];
		buf_printf(&b, "listing %s last_sync=%.0f covered=", l->key, l->last_sync);
		for (size_t k = 0; k < l->nr; k++) {
			sync_format_time(l->r[k].lo, lo);
			sync_format_time(l->r[k].hi, hi);
			buf_printf(&b, "%s%s..%s", k ? "," : "", lo, hi);
		}
		buf_append(&b, "\n", 1);
	}
	for (size_t i = 0; i < st->ne; i++)
		buf_printf(&b, "etag %s %s %s%s%s\n", st->e[i].token_id, st->e[i].etag, st->e[i].url,
			   st->e[i].next ? " " : "", st->e[i].next ? st->e[i].next : "");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
		msg_error("cannot write '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, st->path) != 0) {
		msg_error("cannot replace '%s': %s", st->path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsync_parent_dir(st->path);
	rc = 0;
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
	for (size_t i = 0; i < st->ne; i++) {
		free(st->e[i].token_id);
		free(st->e[i].url);
		free(st->e[i].etag);
		free(st->e[i].next);
	}
	free(st->l);
	free(st->e);
	free(st->path);
	memset(st, 0, sizeof(*st));
}
