/* csvstore.c - builds_features.csv as the database: lock, repair, index, append pages,
 * rewrite columns durably. Errors are returned as values; only repairs (a torn row cut, a
 * duplicate row) are reported here, as warnings, because they are news, not failures. */
#include "csvstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"

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

/* ghaminer writes UTF-8: other bytes are another program's (a spreadsheet saving in its
 * own encoding) or damage, and copying them on would leave a file no reader trusts. */
static int check_utf8(struct load_ctx *lc, const struct row *row)
{
	const struct csvstore *cs = lc->cs;
	for (size_t i = 0; i < row->n; i++) {
		if (utf8_valid(row->f[i], strlen(row->f[i])))
			continue;
		return error_set(lc->err, -EINVAL,
				 "'%s' row %" PRId64 " (%s%s) is not valid UTF-8: the file was saved "
				 "by another program in another encoding, or is damaged", cs->path,
				 cs->header ? lc->rows + 2 : 1, cs->header ? "column " : "the header",
				 cs->header && i < cs->ncols ? cs->header[i] : "");
	}
	return 0;
}

static int load_row(void *ctx, struct row *row)
{
	struct load_ctx *lc = ctx;
	struct csvstore *cs = lc->cs;
	struct record rec = {0};
	char *end;
	bool added;
	int rc;
	if ((rc = check_utf8(lc, row)) != 0)
		return rc;
	if (!cs->header)
		return set_header(lc, row);
	lc->rows++;
	if (row->n != cs->ncols)
		return error_set(lc->err, -EINVAL,
				 "'%s' row %" PRId64 " has %zu fields, the header has %zu: the file "
				 "is damaged", cs->path, lc->rows + 1, row->n, cs->ncols);
	csvscan_to_record(cs->ncols, cs->map, row, &rec, NULL);
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
		msg_warn("'%s' row %" PRId64 ": run %" PRId64 " of %s appears twice (both rows "
			 "kept, the later one counts); delete one so that each run has one row",
			 cs->path, lc->rows + 1, id, repo);
	*flags = csvstore_row_flags(&rec);
out:
	record_release(&rec);
	return 0;
}

/* The header line of a new file. */
static void header_text(struct buf *b)
{
	buf_init(b, 0);
	for (int c = 0; c < RECORD_NCOLS; c++) {
		if (c)
			buf_append(b, ",", 1);
		buf_appends(b, record_columns[c].name);
	}
	buf_append(b, "\n", 1);
}

/* Whether a file without a single whole line is the beginning of our header: a new file's
 * header cut by a crash, which open may complete. Anything else is not ours to cut. */
static bool is_torn_header(int fd, off_t size)
{
	struct buf want;
	char *got;
	bool torn;
	header_text(&want);
	got = xmalloc(want.len);
	torn = size < (off_t)want.len && pread(fd, got, (size_t)size, 0) == (ssize_t)size &&
	       memcmp(got, want.data, (size_t)size) == 0;
	free(got);
	buf_release(&want);
	return torn;
}

static int write_header(struct csvstore *cs, struct error *err)
{
	struct buf b;
	int rc = 0;
	header_text(&b);
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

int csvstore_lock(const char *path, int *lock_fd, struct error *err)
{
	char *lockpath = xasprintf("%s.lock", path);
	int rc = 0;
	*lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*lock_fd < 0 && errno == ENOENT) {
		rc = error_set(err, -errno, "cannot write '%s': its folder does not exist; create "
			       "it first", path);
	} else if (*lock_fd < 0) {
		rc = error_set(err, -errno, "cannot write '%s': cannot create its lock file '%s': %s",
			       path, lockpath, strerror(errno));
	} else if (flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			char pid[32] = "";
			ssize_t n = pread(*lock_fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rc = error_set(err, -EBUSY, "'%s' is in use by another ghaminer (pid %s)",
				       path, *pid ? pid : "unknown");
		} else {
			rc = error_set(err, -errno, "cannot lock '%s': %s", lockpath,
				       strerror(errno));
		}
		close(*lock_fd);
		*lock_fd = -1;
	} else {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(*lock_fd, 0) == 0)
			(void)!pwrite(*lock_fd, pid, (size_t)n, 0);
	}
	free(lockpath);
	return rc;
}

/* A CSV reached through a symbolic link is the file it leads to: appended to, locked and
 * replaced (by the rewrite's rename) there, not beside the link, which the rename would
 * otherwise turn into a copy. NULL after err when the link leads nowhere. */
static char *resolve_link(const char *path, struct error *err)
{
	struct stat st;
	char *real;
	int fd;
	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return xstrdup(path);
	real = realpath(path, NULL);
	if (!real && errno == ENOENT && (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
		/* A link to a file still to be written: create it where the link leads. */
		close(fd);
		real = realpath(path, NULL);
	}
	if (!real)
		error_set(err, -errno, "'%s' is a symbolic link that leads nowhere (%s): fix or "
			  "remove the link", path, strerror(errno));
	return real;
}

int csvstore_open(struct csvstore *cs, const char *path, struct error *err)
{
	struct stat st;
	struct load_ctx lc = {.cs = cs, .err = err};
	off_t boundary;
	int rc, read_errno = 0;
	memset(cs, 0, sizeof(*cs));
	cs->fd = -1;
	cs->spans.generation = -1;
	runindex_init(&cs->index);
	cs->path = resolve_link(path, err);
	if (!cs->path)
		return err->code;
	path = cs->path;
	rc = csvstore_lock(path, &cs->lock_fd, err);
	if (rc)
		return rc;
	remove_stale_temps(path); /* under the lock: no other process writes one */
	cs->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (cs->fd < 0 || fstat(cs->fd, &st) != 0)
		return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	cs->size = st.st_size;
	if (cs->size == 0)
		return write_header(cs, err);
	rc = csvscan(cs->fd, cs->size, load_row, &lc, &boundary, &read_errno);
	free(lc.last_repo_name);
	if (rc == SCAN_READ_ERROR)
		return error_set(err, -read_errno, "cannot read '%s': %s", path,
				 strerror(read_errno));
	if (rc == SCAN_MALFORMED)
		return error_set(err, -EINVAL, "'%s' is not valid CSV (near row %" PRId64 ")", path,
				 lc.rows + 2);
	if (rc)
		return rc;
	/* No header row (no whole line, or only blank ones): ours only when what is there is
	 * the beginning of the header a crash cut short. */
	if (!cs->header && !(boundary == 0 && is_torn_header(cs->fd, cs->size)))
		return error_set(err, -EINVAL, "'%s' has no header line: it is not a CSV written "
				 "by ghaminer", path);
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
	csvstore_spans_release(&cs->spans);
	memset(cs, 0, sizeof(*cs));
	cs->fd = cs->lock_fd = -1;
	cs->spans.generation = -1;
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
		record_csv_line(&b, recs[i], cs->map, cs->ncols, NULL, cs->formula_guard);
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
