/* merge.c - shard CSVs into one (see merge.h): inputs checked first (present, one header,
 * not the output), each either read in key order as it is or sorted in bounded chunks
 * into temporary runs, then one k-way merge keeps the best row of each run into a
 * temporary file renamed over the output; the sync states are merged after. */
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merge_int.h"
#include "msg.h"
#include "record.h"
#include "syncstate.h"

#define MERGE_MEM_DEFAULT (32u << 20)
/* Sorted runs merged at once; more are merged in rounds. GHAMINER_MERGE_FAN_IN lowers it
 * for the tests. */
#define MERGE_FAN_IN 64
/* Rows of an input checked for key order before it is taken as sorted; the merge checks
 * the rest as it goes (and sorts the input after all if need be). GHAMINER_MERGE_PROBE
 * lowers it for the tests. */
#define MERGE_PROBE 20000

enum { SCAN_UNSORTED = 3, SCAN_HEADER = 4, SCAN_PROBED = 5 };

struct merge {
	const struct merge_opts *o;
	struct merge_stats *stats;
	struct error *err;
	struct merge_input *in;
	char **header;          /* the first input's, the output's */
	size_t ncols;
	char *dir;              /* for temporary files */
	int *runs;              /* fds of sorted runs */
	size_t nruns, capruns;
	struct merge_spill spill;
	struct merge_item prev; /* sortedness check */
	struct buf prev_repo;
	bool have_prev;
	int lock_fd;
	size_t fan_in;
	uint64_t probe;
	char *tmp;              /* the output's temporary file */
	int tmp_fd;
};

/* ---- headers ------------------------------------------------------------------------ */

struct header_ctx {
	struct row *header;
};

static int take_header(void *ctx, struct row *row)
{
	struct header_ctx *hc = ctx;
	*hc->header = *row;
	memset(row, 0, sizeof(*row));
	return SCAN_HEADER;
}

static int find_col(char **names, size_t n, const char *name, const bool *used)
{
	for (size_t i = 0; i < n; i++)
		if ((!used || !used[i]) && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Map the output's columns onto in's, or say which columns differ. */
static int map_columns(struct merge *m, struct merge_input *in, char **names, size_t n)
{
	bool *used = xcalloc(n + 1, sizeof(bool));
	struct buf lacks, extra;
	int rc = 0;
	buf_init(&lacks, 0);
	buf_init(&extra, 0);
	in->ncols = n;
	in->map = xcalloc(m->ncols + 1, sizeof(int));
	for (size_t j = 0; j < m->ncols; j++) {
		int i = find_col(names, n, m->header[j], used);
		if (i < 0)
			buf_printf(&lacks, "%s'%s'", lacks.len ? ", " : "", m->header[j]);
		else
			used[i] = true;
		in->map[j] = i;
	}
	for (size_t i = 0; i < n; i++)
		if (!used[i])
			buf_printf(&extra, "%s'%s'", extra.len ? ", " : "", names[i]);
	if (lacks.len || extra.len)
		rc = error_set(m->err, -EINVAL, "'%s' has other columns than '%s': %s%s%s%s%s; "
			       "merge only CSVs with the same columns", in->path, m->o->in[0],
			       lacks.len ? "it lacks " : "", lacks.len ? lacks.data : "",
			       lacks.len && extra.len ? " and " : "",
			       extra.len ? "has more: " : "", extra.len ? extra.data : "");
	buf_release(&lacks);
	buf_release(&extra);
	free(used);
	return rc;
}

static int read_header(struct merge *m, struct merge_input *in)
{
	struct row h = {0};
	struct header_ctx hc = {&h};
	char **names;
	size_t n;
	int read_errno = 0, rc;
	rc = csvscan(in->fd, in->size, take_header, &hc, NULL, &read_errno);
	if (rc == SCAN_READ_ERROR)
		return error_set(m->err, -read_errno, "cannot read '%s': %s", in->path,
				 strerror(read_errno));
	if (rc != SCAN_HEADER || h.n == 0) {
		free(h.f);
		return error_set(m->err, -EINVAL, "'%s' has no header: it is not a ghaminer CSV",
				 in->path);
	}
	for (int c = 0; c < RECORD_NCOLS; c++)
		if (find_col(h.f, h.n, record_columns[c].name, NULL) < 0) {
			rc = error_set(m->err, -EINVAL, "'%s' has no column '%s': it was not "
				       "written by ghaminer", in->path, record_columns[c].name);
			goto out;
		}
	names = h.f;
	n = h.n;
	if (!m->header) {
		m->header = names;
		m->ncols = n;
		memset(&h, 0, sizeof(h));
	}
	if ((rc = map_columns(m, in, names, n)) != 0)
		goto out;
	in->repo_col = in->map[find_col(m->header, m->ncols, "repo", NULL)];
	in->id_col = in->map[find_col(m->header, m->ncols, "id_build", NULL)];
	in->jobs_col = in->map[find_col(m->header, m->ncols, "total_jobs", NULL)];
	in->updated_col = in->map[find_col(m->header, m->ncols, "updated_at", NULL)];
out:
	csvscan_row_clear(&h);
	free(h.f);
	return rc;
}

/* ---- inputs: in key order already, or sorted into runs ------------------------------ */

struct scan_ctx {
	struct merge *m;
	struct merge_input *in;
	uint64_t rowno;
	bool spill;
};

static int add_run(struct merge *m, int fd)
{
	if (m->nruns == m->capruns) {
		m->capruns = m->capruns ? m->capruns * 2 : 16;
		m->runs = xrealloc(m->runs, m->capruns * sizeof(int));
	}
	m->runs[m->nruns++] = fd;
	m->stats->spills++;
	return 0;
}

static int spill_now(struct merge *m)
{
	int fd, rc;
	if (m->spill.n == 0)
		return 0;
	if ((rc = merge_spill_write(&m->spill, m->dir, &fd, m->err)) != 0)
		return rc;
	return add_run(m, fd);
}

static int scan_row(void *ctx, struct row *row)
{
	struct scan_ctx *sc = ctx;
	struct merge *m = sc->m;
	struct merge_item it;
	uint64_t rowno = sc->rowno++;
	int rc;
	if (rowno == 0)
		return 0; /* the header */
	if ((rc = merge_row_item(sc->in, row, rowno, &it, m->err)) != 0)
		return rc < 0 ? rc : 0;
	if (!sc->spill) {
		if (m->have_prev && merge_key_cmp(&it, &m->prev) < 0)
			return SCAN_UNSORTED;
		buf_reset(&m->prev_repo);
		buf_append(&m->prev_repo, it.repo, it.repolen);
		m->prev = it;
		m->prev.repo = m->prev_repo.data ? m->prev_repo.data : "";
		m->have_prev = true;
		return rowno >= m->probe ? SCAN_PROBED : 0;
	}
	if (merge_spill_add(&m->spill, &it))
		return 0;
	if ((rc = spill_now(m)) != 0)
		return rc;
	merge_spill_add(&m->spill, &it);
	return 0;
}

/* Scan in: check its order (spill false) or sort it into runs (spill true). */
static int scan_input(struct merge *m, struct merge_input *in, bool spill)
{
	struct scan_ctx sc = {.m = m, .in = in, .spill = spill};
	int read_errno = 0;
	off_t boundary = 0;
	in->checking = !spill;
	in->verify = false;
	in->rows = in->dropped = 0;
	m->have_prev = false;
	int rc = csvscan(in->fd, in->size, scan_row, &sc, &boundary, &read_errno);
	in->checking = false;
	if (rc == SCAN_PROBED) {
		in->verify = true;
		rc = csvscan_boundary(in->fd, in->size, &boundary, &read_errno);
	}
	if (rc == SCAN_READ_ERROR)
		return error_set(m->err, -read_errno, "cannot read '%s': %s", in->path,
				 strerror(read_errno));
	if (rc == SCAN_MALFORMED)
		return error_set(m->err, -EINVAL, "'%s' is not valid CSV (near row %" PRIu64 ")",
				 in->path, sc.rowno + 1);
	if (rc)
		return rc;
	in->boundary = boundary;
	return 0;
}

static int prepare_input(struct merge *m, struct merge_input *in, bool *sorted)
{
	int rc = in->out_of_order ? SCAN_UNSORTED : scan_input(m, in, false);
	*sorted = rc == 0;
	if (rc == SCAN_UNSORTED)
		rc = scan_input(m, in, true);
	if (rc)
		return rc;
	if (in->boundary < in->size) {
		in->torn = true;
		msg_warn("'%s' ends with a torn row (%lld bytes, from an interrupted write): not "
			 "merged; its run will be fetched again", in->path,
			 (long long)(in->size - in->boundary));
	}
	if (*sorted) {
		m->stats->sorted_inputs++;
		msg_info("'%s' is in key order: merged as it is, without sorting", in->path);
	}
	return 0;
}

/* Too many runs to read at once: merge the oldest into one, until few are left. */
static int merge_rounds(struct merge *m, size_t others)
{
	while (m->nruns > 1 && m->nruns + others > m->fan_in) {
		size_t take = m->fan_in < m->nruns ? m->fan_in : m->nruns;
		struct merge_source *src = xcalloc(take, sizeof(*src));
		struct merge_sink k = {.stats = m->stats};
		int rc = merge_temp_file(m->dir, &k.fd, m->err);
		if (rc) {
			free(src);
			return rc;
		}
		for (size_t i = 0; i < take; i++)
			merge_source_run(&src[i], m->runs[i]);
		buf_init(&k.out, 0);
		rc = merge_sources(src, take, &k, m->err);
		buf_release(&k.out);
		free(src);
		memmove(m->runs, m->runs + take, (m->nruns - take) * sizeof(int));
		m->nruns -= take;
		if (rc == 0 && lseek(k.fd, 0, SEEK_SET) != 0)
			rc = error_set(m->err, -errno, "cannot read a temporary file: %s",
				       strerror(errno));
		if (rc) {
			close(k.fd);
			return rc;
		}
		add_run(m, k.fd);
		m->stats->spills--; /* a merged run, not a spill */
	}
	return 0;
}

/* ---- output and states -------------------------------------------------------------- */

static int write_output(struct merge *m, struct merge_source *src, size_t n)
{
	struct merge_sink k = {.csv = true, .stats = m->stats};
	int rc;
	m->tmp = xasprintf("%s.tmp.XXXXXX", m->o->out);
	m->tmp_fd = mkostemp(m->tmp, O_CLOEXEC);
	if (m->tmp_fd < 0) {
		rc = error_set(m->err, -errno, "cannot create '%s': %s", m->tmp, strerror(errno));
		free(m->tmp);
		m->tmp = NULL;
		for (size_t i = 0; i < n; i++)
			merge_source_release(&src[i]);
		return rc;
	}
	(void)fchmod(m->tmp_fd, 0644);
	k.fd = m->tmp_fd;
	buf_init(&k.out, 0);
	for (size_t j = 0; j < m->ncols; j++) {
		if (j)
			buf_append(&k.out, ",", 1);
		record_csv_field(&k.out, m->header[j], strlen(m->header[j]));
	}
	buf_append(&k.out, "\n", 1);
	rc = merge_sources(src, n, &k, m->err);
	if (rc == 0 && fsync(m->tmp_fd) != 0)
		rc = error_set(m->err, -errno, "cannot write '%s': %s", m->tmp, strerror(errno));
	else if (rc && !m->err->code)
		error_set(m->err, rc, "cannot write '%s': %s", m->tmp, strerror(-rc));
	buf_release(&k.out);
	buf_release(&k.last_repo);
	return rc;
}

/* Every input's proven ranges (a range one input proves, the merged file holds) and
 * ETags (the later input's for the same page); a torn input proves nothing. Token ids are
 * keyed by each state's own salt: the merged state takes the first input's, and the ETags
 * of states with another salt are dropped (they would match no token; each costs one
 * full listing page, once). */
static void merge_states(struct merge *m, struct syncstate *out)
{
	memset(out, 0, sizeof(*out));
	out->path = xasprintf("%s.state", m->o->out);
	for (size_t i = 0; i < m->o->nin; i++) {
		struct syncstate st;
		syncstate_load(&st, m->o->in[i]);
		for (size_t k = 0; k < st.nl && !m->in[i].torn; k++) {
			struct sync_listing *l = &st.l[k], *d = syncstate_listing(out, l->key);
			for (size_t r = 0; r < l->nr; r++)
				sync_cover(d, l->r[r].lo, l->r[r].hi);
			if (l->last_sync > d->last_sync)
				d->last_sync = l->last_sync;
		}
		if (!out->salt[0])
			memcpy(out->salt, st.salt, sizeof(out->salt));
		for (size_t k = 0; k < st.ne && strcmp(st.salt, out->salt) == 0; k++) {
			const struct sync_etag *e = &st.e[k];
			syncstate_set_etag(out, e->token_id, e->url, e->etag, e->next);
			syncstate_set_open_runs(out, e->token_id, e->url, e->open, e->nopen);
		}
		syncstate_release(&st);
	}
}

/* The CSV first, then the state that rests on it: the old state goes before the rename,
 * so that no crash leaves a state claiming runs the new CSV lacks. */
static int commit(struct merge *m)
{
	struct syncstate st;
	int rc = 0;
	merge_states(m, &st);
	if (unlink(st.path) == 0)
		fsync_parent_dir(st.path);
	if (rename(m->tmp, m->o->out) != 0) {
		rc = error_set(m->err, -errno, "cannot replace '%s': %s", m->o->out,
			       strerror(errno));
		goto out;
	}
	free(m->tmp);
	m->tmp = NULL;
	if (fsync_parent_dir(m->o->out) != 0 && errno != EINVAL)
		rc = error_set(m->err, -errno, "cannot sync the folder of '%s': %s", m->o->out,
			       strerror(errno));
	else if ((st.nl || st.ne) && syncstate_save(&st) != 0)
		msg_warn("the merged sync state was not saved: the next run from '%s' lists more "
			 "than it needs", m->o->out);
out:
	syncstate_release(&st);
	return rc;
}

/* ---- the whole merge ---------------------------------------------------------------- */

static int open_inputs(struct merge *m)
{
	struct stat out, st;
	bool have_out = stat(m->o->out, &out) == 0;
	for (size_t i = 0; i < m->o->nin; i++) {
		struct merge_input *in = &m->in[i];
		in->path = m->o->in[i];
		in->index = i;
		in->fd = open(in->path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0 || fstat(in->fd, &st) != 0)
			return error_set(m->err, -errno, "cannot open '%s': %s", in->path,
					 strerror(errno));
		if (!S_ISREG(st.st_mode))
			return error_set(m->err, -EINVAL, "'%s' is not a file", in->path);
		if (have_out && st.st_dev == out.st_dev && st.st_ino == out.st_ino)
			return error_set(m->err, -EINVAL, "the output '%s' is also an input: write "
					 "the merge to a new file (it replaces the output only "
					 "once complete)", m->o->out);
		in->size = st.st_size;
		m->stats->bytes_in += (uint64_t)st.st_size;
	}
	return 0;
}

/* A ghaminer still writing an input: what it holds now is merged, and it says so. */
static void warn_if_busy(const char *csv)
{
	char *path = xasprintf("%s.lock", csv);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		msg_warn("'%s' is being written by a running ghaminer: merging the runs it holds "
			 "now (a row being written is left out)", csv);
	if (fd >= 0)
		close(fd);
	free(path);
}

static bool journal_pending(const char *csv)
{
	struct stat st;
	char *j = xasprintf("%s.journal", csv);
	bool pending = stat(j, &st) == 0 && st.st_size > 0;
	free(j);
	return pending;
}

static int lock_output(struct merge *m)
{
	int rc = csvstore_lock(m->o->out, &m->lock_fd, m->err);
	if (rc == 0)
		remove_stale_temps(m->o->out); /* under the lock: left by a killed merge */
	if (rc == 0 && journal_pending(m->o->out))
		rc = error_set(m->err, -EBUSY, "'%s.journal' holds results of an interrupted "
			       "ghaminer run: run ghaminer on '%s' once to fold them, or merge "
			       "into another file", m->o->out, m->o->out);
	return rc;
}

/* Each input sorted or read in order, merged into the temporary output. */
static int merge_pass(struct merge *m)
{
	struct merge_source *src;
	size_t nsrc = 0, nsorted = 0;
	bool *sorted = xcalloc(m->o->nin + 1, sizeof(bool));
	int rc = 0;
	for (size_t i = 0; i < m->o->nin && rc == 0; i++) {
		/* Few inputs are merged as they are; past that, sorted runs are cheaper. */
		if (nsorted >= m->fan_in / 2)
			rc = scan_input(m, &m->in[i], true);
		else if ((rc = prepare_input(m, &m->in[i], &sorted[i])) == 0 && sorted[i])
			nsorted++;
	}
	if (rc == 0)
		rc = spill_now(m);
	merge_spill_release(&m->spill); /* its memory is the merge's now */
	if (rc == 0)
		rc = merge_rounds(m, nsorted);
	if (rc) {
		free(sorted);
		return rc;
	}
	src = xcalloc(m->nruns + nsorted + 1, sizeof(*src));
	for (size_t i = 0; i < m->nruns; i++)
		merge_source_run(&src[nsrc++], m->runs[i]);
	m->nruns = 0;
	for (size_t i = 0; i < m->o->nin; i++)
		if (sorted[i]) {
			m->in[i].rows = m->in[i].dropped = 0;
			merge_source_csv(&src[nsrc++], &m->in[i]);
		}
	rc = write_output(m, src, nsrc);
	free(src);
	free(sorted);
	return rc;
}

/* An input whose first rows were in key order but not the rest: start again, sorting
 * it (its key order was only probed, to read a merged file once). */
static void merge_restart(struct merge *m)
{
	msg_info("%s: sorting it", m->err->msg);
	memset(m->err, 0, sizeof(*m->err));
	if (m->tmp_fd >= 0)
		close(m->tmp_fd);
	m->tmp_fd = -1;
	if (m->tmp)
		unlink(m->tmp);
	free(m->tmp);
	m->tmp = NULL;
	uint64_t bytes_in = m->stats->bytes_in;
	memset(m->stats, 0, sizeof(*m->stats));
	m->stats->bytes_in = bytes_in;
	merge_spill_init(&m->spill, m->o->mem_limit ? m->o->mem_limit : MERGE_MEM_DEFAULT);
}

/* Every input checked, then merged (again when one proves out of order). */
static int run_merge(struct merge *m)
{
	int rc = open_inputs(m);
	for (size_t i = 0; i < m->o->nin && rc == 0; i++)
		rc = read_header(m, &m->in[i]);
	if (rc == 0)
		rc = lock_output(m);
	for (size_t i = 0; i < m->o->nin && rc == 0; i++) {
		warn_if_busy(m->in[i].path);
		if (journal_pending(m->in[i].path))
			msg_warn("'%s.journal' holds job details not folded into '%s': they are not "
				 "merged (run ghaminer on it once to fold them)", m->in[i].path,
				 m->in[i].path);
	}
	while (rc == 0 && (rc = merge_pass(m)) == -EAGAIN) {
		merge_restart(m);
		rc = 0;
	}
	return rc;
}

int merge_files(const struct merge_opts *o, struct merge_stats *stats, struct error *err)
{
	struct merge m = {.o = o, .stats = stats, .err = err, .lock_fd = -1, .tmp_fd = -1};
	char *copy = xstrdup(o->out);
	int rc;
	memset(stats, 0, sizeof(*stats));
	err->code = 0;
	const char *fan = getenv("GHAMINER_MERGE_FAN_IN");
	m.fan_in = fan ? strtoul(fan, NULL, 10) : MERGE_FAN_IN;
	if (m.fan_in < 2)
		m.fan_in = 2;
	m.dir = xstrdup(o->tmpdir ? o->tmpdir : dirname(copy));
	m.in = xcalloc(o->nin + 1, sizeof(*m.in));
	for (size_t i = 0; i < o->nin; i++)
		m.in[i].fd = -1;
	const char *probe = getenv("GHAMINER_MERGE_PROBE");
	m.probe = probe ? strtoull(probe, NULL, 10) : MERGE_PROBE;
	if (m.probe < 1)
		m.probe = 1;
	merge_spill_init(&m.spill, o->mem_limit ? o->mem_limit : MERGE_MEM_DEFAULT);
	rc = o->nin ? run_merge(&m) : error_set(err, -EINVAL, "nothing to merge: name the "
						    "input CSVs");
	if (rc == 0)
		rc = commit(&m);
	if (m.tmp) {
		unlink(m.tmp);
		free(m.tmp);
	}
	if (m.tmp_fd >= 0)
		close(m.tmp_fd);
	for (size_t i = 0; i < m.nruns; i++)
		close(m.runs[i]);
	for (size_t i = 0; i < o->nin; i++) {
		struct merge_input *in = &m.in[i];
		stats->rows_in += in->rows;
		stats->dropped += in->dropped;
		if (in->fd >= 0)
			close(in->fd);
		free(in->map);
		buf_release(&in->line);
		buf_release(&in->repo);
	}
	if (m.lock_fd >= 0)
		close(m.lock_fd);
	for (size_t j = 0; j < m.ncols; j++)
		free(m.header[j]);
	free(m.header);
	free(m.runs);
	free(m.in);
	free(m.dir);
	free(copy);
	buf_release(&m.prev_repo);
	merge_spill_release(&m.spill);
	return rc;
}
