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
#include <unistd.h>

#include "msg.h"
#include "miner.h" /* EXIT_IO: until the store reports errors as values */

/* Read the line starting at off (without its newline) into b. 0, or -1. */
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

static int replay(struct journal *j)
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
			if (ftruncate(j->fd, off) != 0 || fsync(j->fd) != 0) {
				msg_error("cannot repair '%s': %s", j->path, strerror(errno));
				rc = EXIT_IO;
			}
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

int journal_open(struct journal *j, const char *csv_path)
{
	memset(j, 0, sizeof(*j));
	j->path = xasprintf("%s.journal", csv_path);
	buf_init(&j->pending, 0);
	runindex_init(&j->map);
	j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (j->fd < 0) {
		msg_error("cannot open '%s': %s; check that the folder is writable", j->path,
			  strerror(errno));
		return EXIT_IO;
	}
	j->size = lseek(j->fd, 0, SEEK_END);
	return j->size > 0 ? replay(j) : 0;
}

void journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	buf_release(&j->pending);
	runindex_release(&j->map);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

void journal_add(struct journal *j, const char *repo, int64_t id, const json_t *set,
		 const char *raw_col, const char *raw)
{
	int r = runindex_repo(&j->map, repo, true);
	uint64_t *prev = runindex_get(&j->map, (uint32_t)r, id);
	json_t *e = json_pack("{s:s, s:I, s:I, s:O}", "repo", repo, "id", (json_int_t)id, "prev",
			      (json_int_t)(prev ? (int64_t)*prev - 1 : -1), "set", set);
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

int journal_sync(struct journal *j)
{
	if (j->broken)
		return -1;
	if (j->pending.len == 0)
		return 0;
	if (write_all(j->fd, j->pending.data, j->pending.len) != 0 || fsync(j->fd) != 0) {
		msg_error("cannot write '%s': %s; free some space and run again to resume",
			  j->path, strerror(errno));
		/* Never leave a torn entry behind: cut back to the last synced size. */
		(void)!ftruncate(j->fd, j->size);
		j->broken = true;
		return -1;
	}
	j->size += (off_t)j->pending.len;
	j->bytes_written += j->pending.len;
	buf_reset(&j->pending);
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

bool journal_patch(void *ctx, uint32_t repo_unused, int64_t id, struct record *row)
{
	struct journal *j = ctx;
	struct buf line;
	json_t *chain[64];
	size_t n = 0;
	(void)repo_unused;
	int r = runindex_repo(&j->map, row->v[COL_REPO] ? row->v[COL_REPO] : "", false);
	uint64_t *v = r >= 0 ? runindex_get(&j->map, (uint32_t)r, id) : NULL;
	if (!v)
		return false;
	buf_init(&line, 0);
	/* Walk back through "prev"; a run rarely has more than two entries. */
	for (int64_t off = (int64_t)*v - 1; off >= 0 && n < 64;) {
		json_t *e;
		if (read_line_at(j->fd, off, &line) != 0 || !(e = parse_entry(line.data, line.len)))
			break;
		chain[n++] = e;
		off = json_integer_value(json_object_get(e, "prev"));
	}
	while (n)
		apply_entry(chain[--n], row), json_decref(chain[n]);
	buf_release(&line);
	return true;
}

int journal_clear(struct journal *j)
{
	if (ftruncate(j->fd, 0) != 0 || fsync(j->fd) != 0) {
		msg_error("cannot empty '%s': %s", j->path, strerror(errno));
		return -1;
	}
	j->size = 0;
	j->entries = 0;
	runindex_release(&j->map);
	runindex_init(&j->map);
	return 0;
}
