/* csvstore.c - builds_features.csv as the database: lock, repair, index, append pages,
 * rewrite columns durably. Errors are returned as values; only repairs (a torn row cut, a
 * duplicate row) are reported here, as warnings, because they are news, not failures. */
#include "csvstore.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"

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

/* scan_csv's own failures; fn's are negative errnos. */
enum { SCAN_READ_ERROR = 1, SCAN_MALFORMED = 2 };

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
 * row. Returns 0, SCAN_READ_ERROR (*read_errno set), SCAN_MALFORMED, or fn's non-zero. Uses
 * pread only, so a worker thread may scan through an fd of its own. */
static int scan_csv(int fd, off_t limit, row_fn fn, void *ctx, off_t *boundary,
		    int *read_errno)
{
	struct csv_parser p;
	struct scan sc = {.fn = fn, .ctx = ctx};
	char *chunk = xmalloc(1 << 16);
	off_t off = 0, last = 0;
	int inquote = 0, rc = 0;
	if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL)) {
		free(chunk);
		*read_errno = ENOMEM;
		return SCAN_READ_ERROR;
	}
	while (off < limit) {
		size_t want = (size_t)(limit - off) < (1 << 16) ? (size_t)(limit - off) : (1 << 16);
		ssize_t n = pread(fd, chunk, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* 0: the file is shorter than it was when measured. */
			*read_errno = n < 0 ? errno : EIO;
			rc = SCAN_READ_ERROR;
			goto out;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '"')
				inquote = !inquote;
			else if (chunk[i] == '\n' && !inquote)
				last = off + i + 1;
		}
		if (csv_parse(&p, chunk, (size_t)n, on_field, on_row, &sc) != (size_t)n) {
			rc = SCAN_MALFORMED;
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
		rc = SCAN_MALFORMED;
	else if (sc.rc)
		rc = sc.rc;
out:
	if (boundary)
		*boundary = last;
	row_clear(&sc.row);
	free(sc.row.f);
	csv_free(&p);
	free(chunk);
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

/* Fill rec (and extra, for columns we do not know) from a parsed row of a file whose
 * column i holds record column map[i] (or -1). */
static void row_to_record(size_t ncols, const int *map, struct row *row, struct record *rec,
			  char **extra)
{
	for (size_t i = 0; i < ncols; i++) {
		char *v = i < row->n ? row->f[i] : NULL;
		if (i < row->n)
			row->f[i] = NULL;
		if (v && !*v) {
			free(v);
			v = NULL;
		}
		if (map[i] >= 0)
			record_take(rec, map[i], v);
		else if (extra)
			extra[i] = v;
		else
			free(v);
	}
}

struct load_ctx {
	struct csvstore *cs;
	struct error *err;
	int64_t rows;
	int last_repo;
	char *last_repo_name;
};

static int set_header(struct load_ctx *lc, struct row *row)
{
	struct csvstore *cs = lc->cs;
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
	for (int c = 0; c < RECORD_NCOLS; c++)
		if (cs->col_of[c] < 0)
			return error_set(lc->err, -EINVAL,
					 "'%s' has no column '%s': it was not written by ghaminer",
					 cs->path, record_columns[c].name);
	return 0;
}

static int load_row(void *ctx, struct row *row)
{
	struct load_ctx *lc = ctx;
	struct csvstore *cs = lc->cs;
	struct record rec = {0};
	char *end;
	bool added;
	if (!cs->header)
		return set_header(lc, row);
	lc->rows++;
	if (row->n != cs->ncols)
		return error_set(lc->err, -EINVAL,
				 "'%s' row %" PRId64 " has %zu fields, the header has %zu: the file "
				 "is damaged", cs->path, lc->rows + 1, row->n, cs->ncols);
	row_to_record(cs->ncols, cs->map, row, &rec, NULL);
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
	return 0;
}

static int write_header(struct csvstore *cs, struct error *err)
{
	struct buf b;
	int rc = 0;
	buf_init(&b, 0);
	for (int c = 0; c < RECORD_NCOLS; c++) {
		if (c)
			buf_append(&b, ",", 1);
		buf_appends(&b, record_columns[c].name);
	}
	buf_append(&b, "\n", 1);
	if (write_all(cs->fd, b.data, b.len) != 0 || fsync(cs->fd) != 0) {
		rc = error_set(err, -errno, "cannot write '%s': %s", cs->path, strerror(errno));
		(void)!ftruncate(cs->fd, 0);
	} else {
		cs->size = cs->durable = (off_t)b.len;
		cs->bytes_written += b.len;
	}
	buf_release(&b);
	if (rc)
		return rc;
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

static int take_lock(struct csvstore *cs, struct error *err)
{
	char *lockpath = xasprintf("%s.lock", cs->path);
	int rc = 0;
	cs->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (cs->lock_fd < 0) {
		rc = error_set(err, -errno, "cannot create lock file '%s': %s", lockpath,
			       strerror(errno));
	} else if (flock(cs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			char pid[32] = "";
			ssize_t n = pread(cs->lock_fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rc = error_set(err, -EBUSY, "'%s' is in use by another ghaminer (pid %s)",
				       cs->path, *pid ? pid : "unknown");
		} else {
			rc = error_set(err, -errno, "cannot lock '%s': %s", lockpath,
				       strerror(errno));
		}
		close(cs->lock_fd);
		cs->lock_fd = -1;
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

int csvstore_open(struct csvstore *cs, const char *path, struct error *err)
{
	struct stat st;
	struct load_ctx lc = {.cs = cs, .err = err};
	off_t boundary;
	int rc, read_errno = 0;
	memset(cs, 0, sizeof(*cs));
	cs->path = xstrdup(path);
	cs->fd = -1;
	runindex_init(&cs->index);
	rc = take_lock(cs, err);
	if (rc)
		return rc;
	remove_stale_temps(path);
	cs->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (cs->fd < 0 || fstat(cs->fd, &st) != 0)
		return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	cs->size = st.st_size;
	if (cs->size == 0)
		return write_header(cs, err);
	rc = scan_csv(cs->fd, cs->size, load_row, &lc, &boundary, &read_errno);
	free(lc.last_repo_name);
	if (rc == SCAN_READ_ERROR)
		return error_set(err, -read_errno, "cannot read '%s': %s", path,
				 strerror(read_errno));
	if (rc == SCAN_MALFORMED)
		return error_set(err, -EINVAL, "'%s' is not valid CSV (near row %" PRId64 ")", path,
				 lc.rows + 2);
	if (rc)
		return rc;
	if (boundary < cs->size) {
		msg_warn("'%s' ends with a torn row (%lld bytes, from an interrupted write): "
			 "removed; its run will be fetched again",
			 path, (long long)(cs->size - boundary));
		if (ftruncate(cs->fd, boundary) != 0 || fsync(cs->fd) != 0)
			return error_set(err, -errno, "cannot repair '%s': %s", path, strerror(errno));
		cs->size = boundary;
		cs->repaired = true;
		if (boundary == 0)
			return write_header(cs, err);
	}
	/* What an earlier process wrote may still sit in the page cache: one fsync makes the
	 * start a durable point. */
	if (fsync(cs->fd) == 0)
		cs->durable = cs->size;
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

const char *csvstore_advice(int code, enum csvstore_when when)
{
	switch (code) {
	case -EBUSY:
		return "wait for it to finish or write to another file with -o";
	case -ENOSPC:
	case -EFBIG:
	case -EDQUOT:
		return when == CSVSTORE_OPENING ? "free some space or choose another file with -o"
						: "free some space and run again to resume";
	case -EINVAL:
		return "repair it, move it away or choose another file with -o or output_csv; "
		       "ghaminer will not overwrite it";
	case -EACCES:
	case -EPERM:
	case -EROFS:
	case -ENOENT:
	case -ENOTDIR:
	case -EISDIR:
		return "check the path and that its folder is writable";
	default:
		return when == CSVSTORE_OPENING ? "check the path and that its folder is writable"
						: "run again to resume";
	}
}

/* Write the rows in one write, and fsync them when sync. On a failure the file is cut back
 * to its previous size, so that it never ends torn. */
static int append_rows(struct csvstore *cs, struct record *const *recs, size_t n, bool sync,
		       struct error *err)
{
	struct buf b;
	int rc = 0;
	if (n == 0)
		return 0;
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		record_csv_line(&b, recs[i], cs->map, cs->ncols, NULL);
	if (write_all(cs->fd, b.data, b.len) != 0 || (sync && fsync(cs->fd) != 0)) {
		int e = errno;
		if (ftruncate(cs->fd, cs->size) != 0)
			rc = error_set(err, -e, "cannot append to '%s': %s (and cutting it back "
				       "failed: the next run repairs it)", cs->path, strerror(e));
		else
			rc = error_set(err, -e, "cannot append to '%s': %s (the file is kept as it "
				       "was)", cs->path, strerror(e));
	} else {
		cs->size += (off_t)b.len;
		cs->bytes_written += b.len;
		if (sync)
			cs->durable = cs->size;
	}
	buf_release(&b);
	return rc;
}

int csvstore_append(struct csvstore *cs, struct record *const *recs, size_t n,
		    struct error *err)
{
	return append_rows(cs, recs, n, true, err);
}

int csvstore_append_nosync(struct csvstore *cs, struct record *const *recs, size_t n,
			   struct error *err)
{
	return append_rows(cs, recs, n, false, err);
}

int csvstore_sync_prepare(struct csvstore *cs, struct csvstore_sync *s, struct error *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = fcntl(cs->fd, F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0)
		return error_set(err, -errno, "cannot sync '%s': %s", cs->path, strerror(errno));
	s->size = cs->size;
	s->generation = cs->rewrites;
	s->rc = -EINPROGRESS;
	s->path = xstrdup(cs->path);
	return 0;
}

int csvstore_sync_work(struct csvstore_sync *s, struct error *err)
{
	s->rc = fsync(s->fd) == 0 ? 0 : -errno;
	/* Closed here, off the loop: after a rewrite this fd may be the last one on the
	 * replaced file, and the last close frees its blocks (tens of ms for 250 MB). */
	close(s->fd);
	s->fd = -1;
	if (s->rc)
		return error_set(err, s->rc, "cannot write '%s': %s", s->path, strerror(-s->rc));
	return 0;
}

void csvstore_sync_done(struct csvstore *cs, struct csvstore_sync *s)
{
	/* After a rewrite the offsets are another file's, and the commit fsynced all of it. */
	if (s->rc == 0 && s->generation == cs->rewrites && s->size > cs->durable)
		cs->durable = s->size;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* The rewrite's worker side: what a row needs, all of it in the snapshot. */
struct rewrite_ctx {
	struct csvstore_snapshot *snap;
	csvstore_patch_fn patch;
	void *ctx;
	struct buf out;
	bool header_done;
	int last_repo;
	char *last_repo_name;
};

static int flush_out(struct rewrite_ctx *rw)
{
	if (write_all(rw->snap->tmp_fd, rw->out.data, rw->out.len) != 0)
		return -errno;
	rw->snap->bytes_written += rw->out.len;
	rw->snap->tmp_size += (off_t)rw->out.len;
	buf_reset(&rw->out);
	return 0;
}

/* The repository's id in the index the snapshot copied, or -1 (a row whose run id is not
 * valid was never indexed). Case-insensitive, like runindex_repo. */
static int snapshot_repo(const struct csvstore_snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->nrepos; i++)
		if (strcasecmp(snap->repos[i], name) == 0)
			return (int)i;
	return -1;
}

static void note_update(struct csvstore_snapshot *snap, uint32_t repo, int64_t id,
			uint64_t flags)
{
	if (snap->nupd == snap->capupd) {
		snap->capupd = snap->capupd ? snap->capupd * 2 : 256;
		snap->upd = xrealloc(snap->upd, snap->capupd * sizeof(*snap->upd));
	}
	snap->upd[snap->nupd++] = (struct csvstore_flag_update){id, flags, repo};
}

static int rewrite_row(void *ctx, struct row *row)
{
	struct rewrite_ctx *rw = ctx;
	struct csvstore_snapshot *snap = rw->snap;
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
	extra = xcalloc(snap->ncols, sizeof(char *));
	row_to_record(snap->ncols, snap->map, row, &rec, extra);
	const char *repo = rec.v[COL_REPO] ? rec.v[COL_REPO] : "";
	int64_t id = rec.v[COL_ID_BUILD] ? strtoll(rec.v[COL_ID_BUILD], &end, 10) : 0;
	if (id > 0 && !*end) {
		if (!rw->last_repo_name || strcmp(rw->last_repo_name, repo) != 0) {
			free(rw->last_repo_name);
			rw->last_repo_name = xstrdup(repo);
			rw->last_repo = snapshot_repo(snap, repo);
		}
		/* A run the index does not know (appended by a caller that did not index it)
		 * is still patched; it has no flags to update. */
		uint32_t r = rw->last_repo >= 0 ? (uint32_t)rw->last_repo : CSVSTORE_NO_REPO;
		if (rw->patch(rw->ctx, r, id, &rec) && r != CSVSTORE_NO_REPO)
			note_update(snap, r, id, csvstore_row_flags(&rec));
	}
	record_csv_line(&rw->out, &rec, snap->map, snap->ncols, extra);
	for (size_t i = 0; i < snap->ncols; i++)
		free(extra[i]);
	free(extra);
	record_release(&rec);
	if (rw->out.len >= (1 << 20))
		return flush_out(rw);
	return 0;
}

void csvstore_rewrite_release(struct csvstore_snapshot *snap)
{
	if (snap->in_fd >= 0)
		close(snap->in_fd);
	if (snap->tmp_fd >= 0)
		close(snap->tmp_fd);
	free(snap->tmp);
	free(snap->path);
	free(snap->map);
	for (size_t i = 0; i < snap->nrepos; i++)
		free(snap->repos[i]);
	free(snap->repos);
	free(snap->upd);
	memset(snap, 0, sizeof(*snap));
	snap->in_fd = snap->tmp_fd = -1;
}

int csvstore_rewrite_prepare(struct csvstore *cs, struct csvstore_snapshot *snap,
			     struct error *err)
{
	struct stat st;
	memset(snap, 0, sizeof(*snap));
	snap->in_fd = snap->tmp_fd = -1;
	if (cs->rewriting)
		return error_set(err, -EALREADY, "cannot rewrite '%s': a rewrite is under way",
				 cs->path);
	snap->path = xstrdup(cs->path);
	snap->size = cs->size;
	snap->ncols = cs->ncols;
	snap->map = xmalloc(cs->ncols * sizeof(int));
	memcpy(snap->map, cs->map, cs->ncols * sizeof(int));
	snap->nrepos = cs->index.nrepos;
	snap->repos = xcalloc(snap->nrepos + 1, sizeof(char *));
	for (size_t i = 0; i < snap->nrepos; i++)
		snap->repos[i] = xstrdup(cs->index.repos[i]);
	snap->mode = fstat(cs->fd, &st) == 0 ? (int)(st.st_mode & 0777) : 0644;
	cs->rewriting = true;
	return 0;
}

int csvstore_rewrite_work(struct csvstore_snapshot *snap, csvstore_patch_fn patch, void *ctx,
			  struct error *err)
{
	struct rewrite_ctx rw = {.snap = snap, .patch = patch, .ctx = ctx};
	char *tmp = xasprintf("%s.tmp.XXXXXX", snap->path);
	int rc, read_errno = 0;
	/* Kept open until csvstore_rewrite_release: see there. */
	snap->in_fd = open(snap->path, O_RDONLY | O_CLOEXEC);
	if (snap->in_fd < 0) {
		rc = error_set(err, -errno, "cannot rewrite '%s': %s", snap->path, strerror(errno));
		free(tmp);
		return rc;
	}
	snap->tmp_fd = mkostemp(tmp, O_CLOEXEC);
	if (snap->tmp_fd < 0) {
		rc = error_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	(void)fchmod(snap->tmp_fd, (mode_t)snap->mode);
	buf_init(&rw.out, 0);
	rc = scan_csv(snap->in_fd, snap->size, rewrite_row, &rw, NULL, &read_errno);
	if (rc == 0)
		rc = flush_out(&rw);
	if (rc == 0 && fsync(snap->tmp_fd) != 0)
		rc = -errno;
	free(rw.last_repo_name);
	buf_release(&rw.out);
	if (rc == 0) {
		snap->tmp = tmp;
		return 0;
	}
	/* The original is untouched; what was journaled stays journaled. */
	if (rc == SCAN_READ_ERROR)
		rc = error_set(err, -read_errno, "cannot rewrite '%s': cannot read it: %s; the "
			       "file is kept as it was (collected job details stay in the journal)",
			       snap->path, strerror(read_errno));
	else if (rc == SCAN_MALFORMED)
		rc = error_set(err, -EINVAL, "cannot rewrite '%s': it is not valid CSV any more; "
			       "the file is kept as it was (collected job details stay in the "
			       "journal)", snap->path);
	else
		rc = error_set(err, rc, "cannot rewrite '%s': %s; the file is kept as it was "
			       "(collected job details stay in the journal)", snap->path,
			       strerror(-rc));
	unlink(tmp);
	close(snap->tmp_fd);
	snap->tmp_fd = -1;
	free(tmp);
	return rc;
}

/* Copy the rows appended since the snapshot (a few pages at most) to the temporary file. */
static int copy_tail(struct csvstore *cs, struct csvstore_snapshot *snap)
{
	char chunk[1 << 16];
	off_t off = snap->size;
	while (off < cs->size) {
		size_t want = (size_t)(cs->size - off) < sizeof(chunk) ? (size_t)(cs->size - off)
								       : sizeof(chunk);
		ssize_t n = pread(cs->fd, chunk, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (write_all(snap->tmp_fd, chunk, (size_t)n) != 0)
			return -errno;
		off += n;
		snap->tmp_size += n;
		snap->bytes_written += (uint64_t)n;
	}
	return 0;
}

int csvstore_rewrite_commit(struct csvstore *cs, struct csvstore_snapshot *snap,
			    csvstore_newer_fn newer, void *newer_ctx, struct error *err)
{
	struct stat st;
	int rc = 0;
	if (!snap->tmp) {
		rc = error_set(err, -EINVAL, "cannot rewrite '%s': nothing to commit", cs->path);
		goto out_abandon;
	}
	/* The old file stays open through snap->in_fd: closing cs->fd below is then not its
	 * last close, which frees its blocks; csvstore_rewrite_release does, off the loop. */
	rc = copy_tail(cs, snap);
	if (rc == 0 && fsync(snap->tmp_fd) != 0)
		rc = -errno;
	if (rc) {
		error_set(err, rc, "cannot rewrite '%s': %s; the file is kept as it was "
			  "(collected job details stay in the journal)", cs->path, strerror(-rc));
		goto out_abandon;
	}
	if (rename(snap->tmp, cs->path) != 0) {
		rc = error_set(err, -errno, "cannot replace '%s': %s", cs->path, strerror(errno));
		goto out_abandon;
	}
	free(snap->tmp);
	snap->tmp = NULL;
	fsync_parent_dir(cs->path);
	close(cs->fd);
	cs->fd = open(cs->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (cs->fd < 0 || fstat(cs->fd, &st) != 0) {
		rc = error_set(err, -errno, "cannot reopen '%s': %s", cs->path, strerror(errno));
		goto out_release;
	}
	/* The replaced file is a new generation: a sync round begun before covers another
	 * file, and this one was fsynced whole. */
	cs->size = cs->durable = st.st_size;
	cs->rewrites++;
	cs->bytes_written += snap->bytes_written;
	for (size_t i = 0; i < snap->nupd; i++) {
		const struct csvstore_flag_update *u = &snap->upd[i];
		uint64_t *flags = runindex_get(&cs->index, u->repo, u->id);
		if (!flags || (newer && newer(newer_ctx, cs->index.repos[u->repo], u->id)))
			continue;
		*flags = (*flags & (RX_FAILED | RX_SEEN | RX_QUEUED)) | u->flags;
	}
	goto out_release;
out_abandon:
	csvstore_rewrite_abandon(cs, snap);
	return rc;
out_release:
	cs->rewriting = false;
	return rc;
}

void csvstore_rewrite_abandon(struct csvstore *cs, struct csvstore_snapshot *snap)
{
	if (snap->tmp) {
		unlink(snap->tmp);
		free(snap->tmp);
		snap->tmp = NULL;
	}
	cs->rewriting = false;
}

int csvstore_rewrite(struct csvstore *cs, csvstore_patch_fn patch, void *ctx,
		     struct error *err)
{
	struct csvstore_snapshot snap;
	int rc = csvstore_rewrite_prepare(cs, &snap, err);
	if (rc)
		return rc;
	rc = csvstore_rewrite_work(&snap, patch, ctx, err);
	if (rc)
		csvstore_rewrite_abandon(cs, &snap);
	else
		rc = csvstore_rewrite_commit(cs, &snap, NULL, NULL, err);
	csvstore_rewrite_release(&snap);
	return rc;
}
