/* csvstore.c - builds_features.csv as the database: lock, repair, index, append pages,
 * rewrite columns durably. */
#include "csvstore.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "miner.h" /* EXIT_IO: until the store reports errors as values */

/* One parsed row, fields owned. */
struct row {
	char **f;
	size_t n, cap;
};

typedef int (*row_fn)(void *ctx, struct row *row);

struct scan {
	struct row row;
	row_fn fn;
	void *ctx;
	int rc;
};

static void row_clear(struct row *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->f[i]);
	r->n = 0;
}

static void on_field(void *s, size_t len, void *data)
{
	struct scan *sc = data;
	struct row *r = &sc->row;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->f = xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	r->f[r->n++] = xstrndup(s ? s : "", len);
}

static void on_row(int c, void *data)
{
	struct scan *sc = data;
	(void)c;
	if (sc->rc == 0)
		sc->rc = sc->fn(sc->ctx, &sc->row);
	row_clear(&sc->row);
}

/* Parse fd from offset 0 up to limit, calling fn per complete row. Also reports the offset
 * just past the last row terminator outside quotes (*boundary): bytes after it are a torn
 * row. Returns 0, -1 on a read error (errno), -2 on malformed CSV, or fn's non-zero. */
static int scan_csv(int fd, off_t limit, row_fn fn, void *ctx, off_t *boundary)
{
	struct csv_parser p;
	struct scan sc = {.fn = fn, .ctx = ctx};
	char chunk[1 << 16];
	off_t off = 0, last = 0;
	int inquote = 0, rc = 0;
	if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL))
		return -1;
	while (off < limit) {
		size_t want = (size_t)(limit - off) < sizeof(chunk) ? (size_t)(limit - off)
								       : sizeof(chunk);
		ssize_t n = pread(fd, chunk, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			goto out;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '"')
				inquote = !inquote;
			else if (chunk[i] == '\n' && !inquote)
				last = off + i + 1;
		}
		if (csv_parse(&p, chunk, (size_t)n, on_field, on_row, &sc) != (size_t)n) {
			rc = -2;
			goto out;
		}
		if (sc.rc) {
			rc = sc.rc;
			goto out;
		}
		off += n;
	}
	/* A torn tail is never completed: its fields are dropped with the parser. */
	if (last == limit && csv_fini(&p, on_field, on_row, &sc) != 0)
		rc = -2;
	else if (sc.rc)
		rc = sc.rc;
out:
	if (boundary)
		*boundary = last;
	row_clear(&sc.row);
	free(sc.row.f);
	csv_free(&p);
	return rc;
}

uint64_t csvstore_row_flags(const struct record *row)
{
	uint64_t flags = 0;
	if (row->v[COL_TOTAL_JOBS] && *row->v[COL_TOTAL_JOBS])
		flags |= RX_HAS_JOBS;
	if (!row->v[COL_STATUS] || strcmp(row->v[COL_STATUS], "completed") != 0)
		flags |= RX_INCOMPLETE;
	double t;
	if (row->v[COL_UPDATED_AT] && time_parse_iso(row->v[COL_UPDATED_AT], &t) == 0 && t > 0)
		flags |= ((uint64_t)t & 0xffffffffu) << 8;
	if (row->v[COL_CREATED_AT] && time_parse_iso(row->v[COL_CREATED_AT], &t) == 0 && t > 0)
		flags |= (uint64_t)(t / 86400) << 40;
	return flags;
}

/* Fill rec (and extra, for columns we do not know) from a parsed row. */
static void row_to_record(const struct csvstore *cs, struct row *row, struct record *rec,
			  char **extra)
{
	for (size_t i = 0; i < cs->ncols; i++) {
		char *v = i < row->n ? row->f[i] : NULL;
		if (i < row->n)
			row->f[i] = NULL;
		if (v && !*v) {
			free(v);
			v = NULL;
		}
		if (cs->map[i] >= 0)
			record_take(rec, cs->map[i], v);
		else if (extra)
			extra[i] = v;
		else
			free(v);
	}
}

static int set_header(struct csvstore *cs, struct row *row)
{
	cs->ncols = row->n;
	cs->header = row->f;
	cs->map = xmalloc(row->n * sizeof(int));
	row->f = NULL;
	row->n = row->cap = 0;
	for (int c = 0; c < RECORD_NCOLS; c++)
		cs->col_of[c] = -1;
	for (size_t i = 0; i < cs->ncols; i++) {
		int c = record_col_index(cs->header[i]);
		/* A repeated column name: only the first one is ours. */
		if (c >= 0 && cs->col_of[c] >= 0)
			c = -1;
		cs->map[i] = c;
		if (c >= 0)
			cs->col_of[c] = (int)i;
	}
	for (int c = 0; c < RECORD_NCOLS; c++) {
		if (cs->col_of[c] < 0) {
			msg_error("'%s' has no column '%s': it was not written by ghaminer; "
				  "choose another file with -o or output_csv",
				  cs->path, record_columns[c].name);
			return EXIT_IO;
		}
	}
	return 0;
}

struct load_ctx {
	struct csvstore *cs;
	int64_t rows;
	int last_repo;
	char *last_repo_name;
};

static int load_row(void *ctx, struct row *row)
{
	struct load_ctx *lc = ctx;
	struct csvstore *cs = lc->cs;
	struct record rec = {0};
	char *end;
	bool added;
	int rc = 0;
	if (!cs->header)
		return set_header(cs, row);
	lc->rows++;
	if (row->n != cs->ncols) {
		msg_error("'%s' row %" PRId64 " has %zu fields, the header has %zu: the file is "
			  "damaged; repair it or move it away",
			  cs->path, lc->rows + 1, row->n, cs->ncols);
		return EXIT_IO;
	}
	row_to_record(cs, row, &rec, NULL);
	const char *repo = rec.v[COL_REPO] ? rec.v[COL_REPO] : "";
	int64_t id = rec.v[COL_ID_BUILD] ? strtoll(rec.v[COL_ID_BUILD], &end, 10) : 0;
	if (id <= 0 || *end) {
		msg_warn("'%s' row %" PRId64 ": id_build '%s' is not a run id (row kept, ignored)",
			 cs->path, lc->rows + 1, rec.v[COL_ID_BUILD] ? rec.v[COL_ID_BUILD] : "");
		goto out;
	}
	if (!lc->last_repo_name || strcmp(lc->last_repo_name, repo) != 0) {
		free(lc->last_repo_name);
		lc->last_repo_name = xstrdup(repo);
		lc->last_repo = runindex_repo(&cs->index, repo, true);
	}
	uint64_t *flags = runindex_put(&cs->index, (uint32_t)lc->last_repo, id, &added);
	if (!added)
		msg_warn("'%s' row %" PRId64 ": run %" PRId64 " of %s appears twice", cs->path,
			 lc->rows + 1, id, repo);
	*flags = csvstore_row_flags(&rec);
out:
	record_release(&rec);
	return rc;
}

static int write_header(struct csvstore *cs)
{
	struct buf b;
	buf_init(&b, 0);
	for (int c = 0; c < RECORD_NCOLS; c++) {
		if (c)
			buf_append(&b, ",", 1);
		buf_appends(&b, record_columns[c].name);
	}
	buf_append(&b, "\n", 1);
	int rc = write_all(cs->fd, b.data, b.len);
	if (rc == 0)
		rc = fsync(cs->fd);
	if (rc) {
		msg_error("cannot write '%s': %s; free some space or choose another file with -o",
			  cs->path, strerror(errno));
		(void)!ftruncate(cs->fd, 0);
	} else {
		cs->size = (off_t)b.len;
		cs->bytes_written += b.len;
	}
	buf_release(&b);
	if (rc)
		return EXIT_IO;
	/* The header of a new file is ours, in our order. */
	cs->ncols = RECORD_NCOLS;
	cs->header = xmalloc(RECORD_NCOLS * sizeof(char *));
	cs->map = xmalloc(RECORD_NCOLS * sizeof(int));
	for (int c = 0; c < RECORD_NCOLS; c++) {
		cs->header[c] = xstrdup(record_columns[c].name);
		cs->map[c] = c;
		cs->col_of[c] = c;
	}
	return 0;
}

static int take_lock(struct csvstore *cs)
{
	char *lockpath = xasprintf("%s.lock", cs->path);
	int rc = 0;
	cs->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (cs->lock_fd < 0) {
		msg_error("cannot create lock file '%s': %s; check that the folder is writable",
			  lockpath, strerror(errno));
		rc = EXIT_IO;
	} else if (flock(cs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = pread(cs->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		msg_error("'%s' is in use by another ghaminer (pid %s); wait for it to finish or "
			  "write to another file with -o", cs->path, *pid ? pid : "unknown");
		close(cs->lock_fd);
		cs->lock_fd = -1;
		rc = EXIT_IO;
	} else {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(cs->lock_fd, 0) == 0)
			(void)!pwrite(cs->lock_fd, pid, (size_t)n, 0);
	}
	free(lockpath);
	return rc;
}

/* A process killed during a rewrite leaves its temporary copy behind; under the lock no
 * other ghaminer is writing one, so every <csv>.tmp.XXXXXX is stale. */
static void remove_stale_temps(const char *path)
{
	glob_t g;
	char *pattern = xasprintf("%s.tmp.??????", path);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (unlink(g.gl_pathv[i]) == 0)
				msg_info("removed '%s' (left by an interrupted rewrite)", g.gl_pathv[i]);
		globfree(&g);
	}
	free(pattern);
}

int csvstore_open(struct csvstore *cs, const char *path)
{
	struct stat st;
	struct load_ctx lc = {.cs = cs};
	off_t boundary;
	int rc;
	memset(cs, 0, sizeof(*cs));
	cs->path = xstrdup(path);
	cs->fd = -1;
	runindex_init(&cs->index);
	rc = take_lock(cs);
	if (rc)
		return rc;
	remove_stale_temps(path);
	cs->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (cs->fd < 0 || fstat(cs->fd, &st) != 0) {
		msg_error("cannot open '%s': %s; check the path and that its folder is writable",
			  path, strerror(errno));
		return EXIT_IO;
	}
	cs->size = st.st_size;
	if (cs->size == 0)
		return write_header(cs);
	rc = scan_csv(cs->fd, cs->size, load_row, &lc, &boundary);
	free(lc.last_repo_name);
	if (rc == -1) {
		msg_error("cannot read '%s': %s", path, strerror(errno));
		return EXIT_IO;
	}
	if (rc == -2) {
		msg_error("'%s' is not valid CSV (near row %" PRId64 "); repair it or move it "
			  "away, ghaminer will not overwrite it", path, lc.rows + 2);
		return EXIT_IO;
	}
	if (rc)
		return rc;
	if (boundary < cs->size) {
		msg_warn("'%s' ends with a torn row (%lld bytes, from an interrupted write): "
			 "removed; its run will be fetched again",
			 path, (long long)(cs->size - boundary));
		if (ftruncate(cs->fd, boundary) != 0 || fsync(cs->fd) != 0) {
			msg_error("cannot repair '%s': %s", path, strerror(errno));
			return EXIT_IO;
		}
		cs->size = boundary;
		cs->repaired = true;
		if (boundary == 0)
			return write_header(cs);
	}
	return 0;
}

void csvstore_close(struct csvstore *cs)
{
	if (cs->fd >= 0)
		close(cs->fd);
	if (cs->lock_fd >= 0) {
		/* The lock file stays: removing it would race a waiting second process. */
		close(cs->lock_fd);
	}
	for (size_t i = 0; i < cs->ncols; i++)
		free(cs->header[i]);
	free(cs->header);
	free(cs->map);
	free(cs->path);
	runindex_release(&cs->index);
	memset(cs, 0, sizeof(*cs));
	cs->fd = cs->lock_fd = -1;
}

int csvstore_append(struct csvstore *cs, struct record *const *recs, size_t n)
{
	struct buf b;
	int rc = 0;
	if (n == 0)
		return 0;
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		record_csv_line(&b, recs[i], cs->map, cs->ncols, NULL);
	if (write_all(cs->fd, b.data, b.len) != 0 || fsync(cs->fd) != 0) {
		int e = errno;
		msg_error("cannot append to '%s': %s; free some space (the file is kept as it "
			  "was) and run again to resume", cs->path, strerror(e));
		/* Cut a partial write back so the file never ends torn. */
		if (ftruncate(cs->fd, cs->size) != 0)
			msg_warn("cannot cut '%s' back; the next run will repair it", cs->path);
		rc = -1;
	} else {
		cs->size += (off_t)b.len;
		cs->bytes_written += b.len;
	}
	buf_release(&b);
	return rc;
}

struct rewrite_ctx {
	struct csvstore *cs;
	csvstore_patch_fn patch;
	void *ctx;
	int out_fd;
	struct buf out;
	int64_t rows;
	bool header_done;
	int last_repo;
	char *last_repo_name;
};

static int flush_out(struct rewrite_ctx *rw)
{
	if (write_all(rw->out_fd, rw->out.data, rw->out.len) != 0)
		return -1;
	rw->cs->bytes_written += rw->out.len;
	buf_reset(&rw->out);
	return 0;
}

static int rewrite_row(void *ctx, struct row *row)
{
	struct rewrite_ctx *rw = ctx;
	struct csvstore *cs = rw->cs;
	struct record rec = {0};
	char **extra;
	char *end;
	if (!rw->header_done) {
		rw->header_done = true;
		for (size_t i = 0; i < row->n; i++) {
			if (i)
				buf_append(&rw->out, ",", 1);
			record_csv_field(&rw->out, row->f[i], strlen(row->f[i]));
		}
		buf_append(&rw->out, "\n", 1);
		return 0;
	}
	extra = xcalloc(cs->ncols, sizeof(char *));
	row_to_record(cs, row, &rec, extra);
	const char *repo = rec.v[COL_REPO] ? rec.v[COL_REPO] : "";
	int64_t id = rec.v[COL_ID_BUILD] ? strtoll(rec.v[COL_ID_BUILD], &end, 10) : 0;
	if (id > 0 && !*end) {
		if (!rw->last_repo_name || strcmp(rw->last_repo_name, repo) != 0) {
			free(rw->last_repo_name);
			rw->last_repo_name = xstrdup(repo);
			rw->last_repo = runindex_repo(&cs->index, repo, true);
		}
		if (rw->patch(rw->ctx, (uint32_t)rw->last_repo, id, &rec)) {
			uint64_t *flags = runindex_get(&cs->index, (uint32_t)rw->last_repo, id);
			if (flags)
				*flags = (*flags & (RX_FAILED | RX_SEEN | RX_QUEUED)) |
					 csvstore_row_flags(&rec);
		}
	}
	record_csv_line(&rw->out, &rec, cs->map, cs->ncols, extra);
	for (size_t i = 0; i < cs->ncols; i++)
		free(extra[i]);
	free(extra);
	record_release(&rec);
	if (rw->out.len >= (1 << 20) && flush_out(rw) != 0)
		return -3;
	return 0;
}

int csvstore_rewrite(struct csvstore *cs, csvstore_patch_fn patch, void *ctx)
{
	struct rewrite_ctx rw = {.cs = cs, .patch = patch, .ctx = ctx, .out_fd = -1};
	char *tmp = xasprintf("%s.tmp.XXXXXX", cs->path);
	struct stat st;
	int rc = -1, sc;
	buf_init(&rw.out, 0);
	rw.out_fd = mkostemp(tmp, O_CLOEXEC);
	if (rw.out_fd < 0) {
		msg_error("cannot create '%s': %s; check that the folder is writable", tmp,
			  strerror(errno));
		goto out_free;
	}
	if (fstat(cs->fd, &st) == 0)
		(void)fchmod(rw.out_fd, st.st_mode & 0777);
	sc = scan_csv(cs->fd, cs->size, rewrite_row, &rw, NULL);
	if (sc == 0 && flush_out(&rw) != 0)
		sc = -3;
	if (sc == 0 && fsync(rw.out_fd) != 0)
		sc = -3;
	if (sc != 0) {
		msg_error("cannot rewrite '%s': %s; the file is kept as it was (collected job "
			  "details stay in the journal); free some space and run again",
			  cs->path, sc == -3 ? strerror(errno) : "read or parse error");
		goto out_unlink;
	}
	if (rename(tmp, cs->path) != 0) {
		msg_error("cannot replace '%s': %s", cs->path, strerror(errno));
		goto out_unlink;
	}
	fsync_parent_dir(cs->path);
	close(cs->fd);
	cs->fd = open(cs->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (cs->fd < 0 || fstat(cs->fd, &st) != 0) {
		msg_error("cannot reopen '%s': %s", cs->path, strerror(errno));
		goto out_close;
	}
	cs->size = st.st_size;
	cs->rewrites++;
	rc = 0;
	goto out_close;
out_unlink:
	unlink(tmp);
out_close:
	close(rw.out_fd);
out_free:
	free(rw.last_repo_name);
	buf_release(&rw.out);
	free(tmp);
	return rc;
}
