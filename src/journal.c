/* journal.c - an append-only, fsynced log of column updates not yet folded into the CSV.
 * One entry per line: {"repo":…,"id":…,"prev":offset|-1,"set":{column: value}}, and for a
 * large cell (job_details) "raw":column,"raw_len":N then a tab and the cell's N bytes as is:
 * a fold copies them instead of decoding a JSON string, which was most of its time.
 * "prev" chains a run's entries so a fold applies all of them with one offset in memory. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"

/* Read the line starting at off (without its newline) into b. 0, or -1. pread only: safe
 * on a worker's own fd. */
static int read_line_at(int fd, off_t off, struct buf *b)
{
	char chunk[16384];
	buf_reset(b);
	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		char *nl = memchr(chunk, '\n', (size_t)n);
		buf_append(b, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
		if (nl)
			return 0;
		off += n;
	}
}

/* An entry line (without its newline) → its object, the raw cell (if any) put back into
 * "set" as a string; NULL when the line is not a whole entry (torn). */
static json_t *parse_entry(const char *line, size_t len)
{
	const char *tab = memchr(line, '\t', len);
	size_t hlen = tab ? (size_t)(tab - line) : len;
	json_t *e = json_loadb(line, hlen, 0, NULL);
	json_t *raw = json_object_get(e, "raw"), *set = json_object_get(e, "set");
	if (!e || (!raw && !tab))
		return e;
	size_t rlen = tab ? len - hlen - 1 : 0;
	if (!tab || !json_is_string(raw) || !json_is_object(set) ||
	    json_integer_value(json_object_get(e, "raw_len")) != (json_int_t)rlen) {
		json_decref(e);
		return NULL;
	}
	json_object_set_new(set, json_string_value(raw), json_stringn_nocheck(tab + 1, rlen));
	return e;
}

static void index_entry(struct journal *j, const char *repo, int64_t id, off_t off)
{
	bool added;
	int r = runindex_repo(&j->map, repo, true);
	uint64_t *v = runindex_put(&j->map, (uint32_t)r, id, &added);
	*v = (uint64_t)off + 1;
	j->entries++;
}

/* The offset of a run's latest entry in map, or -1. */
static int64_t latest_in(const struct runindex *map, const char *repo, int64_t id)
{
	/* runindex_repo does not write when add is false: a worker may call it on a frozen
	 * map while the loop reads the same map. */
	int r = runindex_repo((struct runindex *)map, repo, false);
	uint64_t *v = r >= 0 ? runindex_get(map, (uint32_t)r, id) : NULL;
	return v ? (int64_t)*v - 1 : -1;
}

/* The offset of a run's latest entry, frozen or not, or -1. */
static int64_t latest(const struct journal *j, const char *repo, int64_t id)
{
	int64_t off = latest_in(&j->map, repo, id);
	if (off < 0 && j->frozen)
		off = latest_in(&j->frozen_map, repo, id);
	return off;
}

static int replay(struct journal *j, struct error *err)
{
	struct buf line;
	off_t off = 0;
	int rc = 0;
	buf_init(&line, 0);
	while (off < j->size) {
		json_t *e;
		if (read_line_at(j->fd, off, &line) != 0 || off + (off_t)line.len >= j->size ||
		    !(e = parse_entry(line.data, line.len))) {
			msg_warn("'%s' ends with a torn entry (from an interrupted write): removed; "
				 "that run's jobs will be fetched again", j->path);
			if (ftruncate(j->fd, off) != 0 || fsync(j->fd) != 0)
				rc = error_set(err, -errno, "cannot repair '%s': %s", j->path,
					       strerror(errno));
			j->size = off;
			break;
		}
		const char *repo = json_string_value(json_object_get(e, "repo"));
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		if (repo && id > 0)
			index_entry(j, repo, id, off);
		json_decref(e);
		off += (off_t)line.len + 1;
	}
	buf_release(&line);
	return rc;
}

int journal_open(struct journal *j, const char *csv_path, struct error *err)
{
	memset(j, 0, sizeof(*j));
	j->path = xasprintf("%s.journal", csv_path);
	buf_init(&j->pending, 0);
	runindex_init(&j->map);
	runindex_init(&j->frozen_map);
	remove_stale_temps(j->path); /* under the CSV's lock, taken first */
	j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return error_set(err, -errno, "cannot open '%s': %s", j->path, strerror(errno));
	j->size = j->synced = lseek(j->fd, 0, SEEK_END);
	return j->size > 0 ? replay(j, err) : 0;
}

void journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	buf_release(&j->pending);
	runindex_release(&j->map);
	runindex_release(&j->frozen_map);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

void journal_add(struct journal *j, const char *repo, int64_t id, const json_t *set,
		 const char *raw_col, const char *raw)
{
	/* While frozen, a run's newest entry may be a frozen one: the chain crosses over. */
	int64_t prev = latest(j, repo, id);
	json_t *e = json_pack("{s:s, s:I, s:I, s:O}", "repo", repo, "id", (json_int_t)id, "prev",
			      (json_int_t)prev, "set", set);
	size_t rlen = raw ? strlen(raw) : 0;
	bool inline_raw = raw && !memchr(raw, '\n', rlen);
	if (raw && inline_raw) {
		json_object_set_new(e, "raw", json_string(raw_col));
		json_object_set_new(e, "raw_len", json_integer((json_int_t)rlen));
	} else if (raw) {
		/* A newline would end the entry: this cell goes into "set" as a string. */
		json_t *copy = json_copy(json_object_get(e, "set"));
		json_object_set_new(copy, raw_col, json_string(raw));
		json_object_set_new(e, "set", copy);
	}
	char *text = json_dumps(e, RECORD_JSON_FLAGS);
	off_t off = j->size + (off_t)j->pending.len;
	buf_appends(&j->pending, text);
	if (inline_raw) {
		buf_append(&j->pending, "\t", 1);
		buf_append(&j->pending, raw, rlen);
	}
	buf_append(&j->pending, "\n", 1);
	index_entry(j, repo, id, off);
	free(text);
	json_decref(e);
}

/* A write failed: never leave a torn entry behind, and write nothing more (the entries
 * indexed from here on cannot reach the file in order). */
static int fail(struct journal *j, off_t cut_to, int e, struct error *err)
{
	(void)!ftruncate(j->fd, cut_to);
	j->size = cut_to;
	j->broken = -e;
	return error_set(err, -e, "cannot write '%s': %s", j->path, strerror(e));
}

int journal_flush(struct journal *j, struct error *err)
{
	if (j->broken)
		return error_set(err, j->broken, "cannot write '%s': %s (earlier)", j->path,
				 strerror(-j->broken));
	if (j->pending.len == 0)
		return 0;
	if (write_all(j->fd, j->pending.data, j->pending.len) != 0)
		return fail(j, j->size, errno, err);
	j->size += (off_t)j->pending.len;
	j->bytes_written += j->pending.len;
	buf_reset(&j->pending);
	return 0;
}

int journal_sync(struct journal *j, struct error *err)
{
	int rc = journal_flush(j, err);
	if (rc)
		return rc;
	if (j->synced == j->size)
		return 0;
	if (fsync(j->fd) != 0)
		return fail(j, j->synced, errno, err);
	j->synced = j->size;
	return 0;
}

uint64_t journal_bytes(const struct journal *j)
{
	return (uint64_t)j->size + j->pending.len;
}

static void apply_entry(const json_t *e, struct record *row)
{
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(e, "set"), key, v) {
		int c = record_col_index(key);
		if (c < 0)
			continue;
		if (json_is_string(v))
			record_set(row, c, json_string_value(v));
		else if (json_is_null(v))
			record_set(row, c, NULL);
		else
			record_take(row, c, json_dumps(v, RECORD_JSON_FLAGS | JSON_ENCODE_ANY));
	}
}

/* Apply the chain of entries ending at off, oldest first, reading through fd. */
static void apply_chain(int fd, int64_t off, struct record *row)
{
	struct buf line;
	json_t *chain[64];
	size_t n = 0;
	buf_init(&line, 0);
	/* Walk back through "prev"; a run rarely has more than two entries. */
	while (off >= 0 && n < 64) {
		json_t *e;
		if (read_line_at(fd, off, &line) != 0 || !(e = parse_entry(line.data, line.len)))
			break;
		chain[n++] = e;
		off = json_integer_value(json_object_get(e, "prev"));
	}
	while (n)
		apply_entry(chain[--n], row), json_decref(chain[n]);
	buf_release(&line);
}

/* A row the CSV does not hold is never passed here: the entries of a run whose row was
 * lost (an append not yet fsynced at a crash) are not applied, and the fold drops them. */
bool journal_patch(void *ctx, uint32_t repo_unused, int64_t id, struct record *row)
{
	struct journal *j = ctx;
	(void)repo_unused;
	int64_t off = latest(j, row->v[COL_REPO] ? row->v[COL_REPO] : "", id);
	if (off < 0)
		return false;
	apply_chain(j->fd, off, row);
	return true;
}

int journal_clear(struct journal *j, struct error *err)
{
	if (j->frozen)
		return error_set(err, -EALREADY, "cannot empty '%s': a fold is under way", j->path);
	if (ftruncate(j->fd, 0) != 0 || fsync(j->fd) != 0)
		return error_set(err, -errno, "cannot empty '%s': %s", j->path, strerror(errno));
	j->size = j->synced = 0;
	j->entries = 0;
	runindex_release(&j->map);
	runindex_init(&j->map);
	return 0;
}

int journal_freeze(struct journal *j, struct journal_view *v, struct error *err)
{
	int rc;
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	if (j->frozen)
		return error_set(err, -EALREADY, "cannot fold '%s': a fold is under way", j->path);
	/* The view reads the file: pending entries must be in it (the page cache will do;
	 * durability is journal_sync's business). */
	rc = journal_flush(j, err);
	if (rc)
		return rc;
	v->fd = open(j->path, O_RDONLY | O_CLOEXEC);
	if (v->fd < 0)
		return error_set(err, -errno, "cannot read '%s': %s", j->path, strerror(errno));
	/* The index moves, it is not copied: the frozen part is every entry so far. */
	j->frozen_map = j->map;
	runindex_init(&j->map);
	j->frozen = true;
	j->frozen_end = j->size;
	j->frozen_entries = j->entries;
	v->map = &j->frozen_map;
	v->end = j->frozen_end;
	return 0;
}

bool journal_view_patch(void *ctx, uint32_t repo_unused, int64_t id, struct record *row)
{
	struct journal_view *v = ctx;
	(void)repo_unused;
	int64_t off = latest_in(v->map, row->v[COL_REPO] ? row->v[COL_REPO] : "", id);
	if (off < 0)
		return false;
	/* Every entry of the chain is below v->end: "prev" only points back. */
	apply_chain(v->fd, off, row);
	return true;
}

void journal_view_release(struct journal_view *v)
{
	if (v->fd >= 0)
		close(v->fd);
	memset(v, 0, sizeof(*v));
	v->fd = -1;
}

bool journal_has_newer(void *ctx, const char *repo, int64_t id)
{
	struct journal *j = ctx;
	/* While frozen the live map holds only the runs journaled since the freeze; after
	 * journal_drop_frozen it holds only those too. */
	return latest_in(&j->map, repo, id) >= 0;
}

void journal_thaw(struct journal *j)
{
	const struct runindex_slot *s;
	if (!j->frozen)
		return;
	/* A run journaled since the freeze has its newest entry in the live map, chained to
	 * the frozen ones; the others take their frozen entry back. */
	for (size_t pos = 0; runindex_next(&j->frozen_map, &pos, &s);) {
		bool added;
		int r = runindex_repo(&j->map, j->frozen_map.repos[s->repo], true);
		uint64_t *v = runindex_put(&j->map, (uint32_t)r, s->run_id, &added);
		if (added)
			*v = s->value;
	}
	runindex_release(&j->frozen_map);
	runindex_init(&j->frozen_map);
	j->frozen = false;
	j->frozen_end = 0;
	j->frozen_entries = 0;
}

/* Old offset → new offset of the entries kept by journal_drop_frozen, in file order. */
struct remap {
	int64_t (*pair)[2];
	size_t n, cap;
};

static void remap_add(struct remap *m, int64_t from, int64_t to)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->pair = xrealloc(m->pair, m->cap * sizeof(*m->pair));
	}
	m->pair[m->n][0] = from;
	m->pair[m->n][1] = to;
	m->n++;
}

static int64_t remap_get(const struct remap *m, int64_t from)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->pair[mid][0] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && m->pair[lo][0] == from ? m->pair[lo][1] : -1;
}

/* Copy the entries at and after frozen_end to fd, each "prev" pointing at the entry's new
 * offset (or -1 when it pointed into the frozen part, which the CSV now holds). */
static int copy_live(struct journal *j, int fd, struct remap *m, off_t *out_size)
{
	struct buf line, out;
	off_t off = j->frozen_end, to = 0;
	int rc = 0;
	buf_init(&line, 0);
	buf_init(&out, 0);
	while (off < j->size) {
		if (read_line_at(j->fd, off, &line) != 0) {
			rc = -EIO;
			break;
		}
		const char *tab = memchr(line.data, '\t', line.len);
		size_t hlen = tab ? (size_t)(tab - line.data) : line.len;
		json_t *h = json_loadb(line.data, hlen, 0, NULL);
		if (!json_is_object(h)) {
			json_decref(h);
			rc = -EIO;
			break;
		}
		int64_t prev = json_integer_value(json_object_get(h, "prev"));
		json_object_set_new(h, "prev", json_integer(prev >= j->frozen_end ? remap_get(m, prev)
										    : -1));
		char *text = json_dumps(h, RECORD_JSON_FLAGS);
		json_decref(h);
		size_t before = out.len;
		buf_appends(&out, text);
		free(text);
		buf_append(&out, line.data + hlen, line.len - hlen);
		buf_append(&out, "\n", 1);
		remap_add(m, off, to);
		to += (off_t)(out.len - before);
		off += (off_t)line.len + 1;
		if (out.len >= (1 << 20)) {
			if (write_all(fd, out.data, out.len) != 0) {
				rc = -errno;
				break;
			}
			buf_reset(&out);
		}
	}
	if (rc == 0 && write_all(fd, out.data, out.len) != 0)
		rc = -errno;
	buf_release(&out);
	buf_release(&line);
	*out_size = to;
	return rc;
}

int journal_drop_frozen(struct journal *j, struct error *err)
{
	struct remap m = {0};
	char *tmp = NULL;
	off_t size = 0;
	int fd = -1, rc;
	if (!j->frozen)
		return 0;
	/* Every entry in the file, so that the offsets in the index are the file's. */
	rc = journal_flush(j, err);
	if (rc)
		goto out_thaw;
	/* Even with nothing journaled meanwhile, a rename rather than ftruncate: the frozen
	 * file's blocks are then freed by the last close of the old file (the view's, in the
	 * pool), not here on the loop (up to 70 ms for 44 MB). */
	tmp = xasprintf("%s.tmp.XXXXXX", j->path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = error_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
		goto out_thaw;
	}
	(void)fchmod(fd, 0644);
	rc = copy_live(j, fd, &m, &size);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, j->path) != 0)
		rc = -errno;
	if (rc) {
		error_set(err, rc, "cannot rewrite '%s': %s", j->path, strerror(-rc));
		unlink(tmp);
		goto out_thaw;
	}
	fsync_parent_dir(j->path);
	close(j->fd);
	j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (j->fd < 0) {
		/* The file on disk is right; this process can only stop writing it. */
		j->broken = -errno;
		rc = error_set(err, -errno, "cannot reopen '%s': %s", j->path, strerror(errno));
	}
	j->size = j->synced = size;
	j->bytes_written += (uint64_t)size;
	/* The live index follows its entries to their new offsets. */
	for (size_t i = 0; i < j->map.cap; i++) {
		struct runindex_slot *s = &j->map.slots[i];
		if (s->run_id)
			s->value = (uint64_t)remap_get(&m, (int64_t)s->value - 1) + 1;
	}
	j->entries -= j->frozen_entries;
	runindex_release(&j->frozen_map);
	runindex_init(&j->frozen_map);
	j->frozen = false;
	j->frozen_end = 0;
	j->frozen_entries = 0;
	goto out;
out_thaw:
	journal_thaw(j);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(m.pair);
	return rc;
}
