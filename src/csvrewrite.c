/* csvrewrite.c - durable rewrites of the CSV: a snapshot on the loop, the rewrite of a
 * temporary file in a worker thread, the rename back on the loop (see csvstore.h). */
#include "csvstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


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

/* Where the row just formatted went: from start to what is written or pending now. A data
 * row of an unknown repository (repo -1) cannot be noted: the spans are given up, and the
 * reader indexes the file itself. */
static void note_span(struct rewrite_ctx *rw, off_t start, int repo, int64_t id)
{
	struct csvstore_spans *sp = &rw->snap->spans;
	off_t now = rw->snap->tmp_size + (off_t)rw->out.len;
	if (sp->generation < 0 || id <= 0)
		return; /* given up, or not a data row (the reader skips it too) */
	if (repo < 0) {
		sp->generation = -1;
		return;
	}
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? sp->cap * 2 : 1024;
		sp->v = xrealloc(sp->v, sp->cap * sizeof(*sp->v));
	}
	sp->v[sp->n++] = (struct csvstore_span){(uint64_t)start, (uint32_t)(now - start),
						(uint32_t)repo, id};
}

static int rewrite_row(void *ctx, struct row *row)
{
	struct rewrite_ctx *rw = ctx;
	struct csvstore_snapshot *snap = rw->snap;
	struct record rec = {0};
	char **extra;
	char *end = "";
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
	csvscan_to_record(snap->ncols, snap->map, row, &rec, extra);
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
	off_t start = snap->tmp_size + (off_t)rw->out.len;
	record_csv_line(&rw->out, &rec, snap->map, snap->ncols, extra, snap->formula_guard);
	if (snap->keep_spans) {
		/* As the reader will find it (csvstore_row_key); a guarded repository is
		 * written with a quote the name in the index lacks. */
		int64_t key;
		bool data = id > 0 && !*end && csvstore_row_key(repo, rec.v[COL_ID_BUILD], &key);
		bool guarded = snap->formula_guard && record_formula_risk(repo);
		note_span(rw, start, guarded ? -1 : rw->last_repo, data ? id : 0);
	}
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
	csvstore_spans_release(&snap->spans);
	memset(snap, 0, sizeof(*snap));
	snap->in_fd = snap->tmp_fd = -1;
}

void csvstore_spans_release(struct csvstore_spans *sp)
{
	for (size_t i = 0; i < sp->nnames; i++)
		free(sp->names[i]);
	free(sp->names);
	free(sp->v);
	memset(sp, 0, sizeof(*sp));
	sp->generation = -1;
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
	snap->formula_guard = cs->formula_guard;
	snap->map = xmalloc(cs->ncols * sizeof(int));
	memcpy(snap->map, cs->map, cs->ncols * sizeof(int));
	snap->nrepos = cs->index.nrepos;
	snap->repos = xcalloc(snap->nrepos + 1, sizeof(char *));
	for (size_t i = 0; i < snap->nrepos; i++)
		snap->repos[i] = xstrdup(cs->index.repos[i]);
	snap->mode = fstat(cs->fd, &st) == 0 ? (int)(st.st_mode & 0777) : 0644;
	snap->keep_spans = cs->keep_spans;
	snap->spans.generation = cs->keep_spans ? 0 : -1; /* set for real at the commit */
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
	rc = csvscan(snap->in_fd, snap->size, rewrite_row, &rw, NULL, &read_errno);
	if (rc == 0)
		rc = flush_out(&rw);
	snap->spans.end = snap->tmp_size;
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
	csvstore_spans_release(&cs->spans);
	if (snap->keep_spans && snap->spans.generation >= 0) {
		/* The names go with the spans: their ids are the snapshot's. */
		cs->spans = snap->spans;
		cs->spans.names = snap->repos;
		cs->spans.nnames = snap->nrepos;
		cs->spans.generation = cs->rewrites;
		snap->repos = NULL;
		snap->nrepos = 0;
		memset(&snap->spans, 0, sizeof(snap->spans));
		snap->spans.generation = -1;
	}
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
