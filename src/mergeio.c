/* mergeio.c - the merge's items: made of CSV rows, sorted in memory and spilled to
 * temporary files, read back in key order from those runs or from an input already in
 * key order (libcsv, pulled a chunk at a time). */
#include "merge_int.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "merge.h"
#include "msg.h"

#define RUN_BUF (128 << 10)
#define CSV_CHUNK (32 << 10)
#define WARN_ROWS 5 /* rows without a run id named per input, then only counted */

int merge_key_cmp(const struct merge_item *a, const struct merge_item *b)
{
	size_t n = a->repolen < b->repolen ? a->repolen : b->repolen;
	int c = memcmp(a->repo, b->repo, n);
	if (c)
		return c;
	if (a->repolen != b->repolen)
		return a->repolen < b->repolen ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

bool merge_better(const struct merge_item *a, const struct merge_item *b)
{
	if ((a->jobs >= 0) != (b->jobs >= 0))
		return a->jobs >= 0;
	if (a->updated != b->updated)
		return a->updated > b->updated;
	return a->seq > b->seq;
}

/* ---- rows into items ---------------------------------------------------------------- */

static const char *field(const struct row *row, int col)
{
	return col >= 0 && (size_t)col < row->n ? row->f[col] : "";
}

int merge_row_item(struct merge_input *in, struct row *row, uint64_t rowno,
		   struct merge_item *it, struct error *err)
{
	const char *repo = field(row, in->repo_col), *ids = field(row, in->id_col);
	const char *jobs = field(row, in->jobs_col), *upd = field(row, in->updated_col);
	char *end;
	double t;
	if (row->n != in->ncols)
		return error_set(err, -EINVAL, "'%s' row %" PRIu64 " has %zu fields, the header "
				 "has %zu: the file is damaged", in->path, rowno + 1, row->n,
				 in->ncols);
	memset(it, 0, sizeof(*it));
	it->id = strtoll(ids, &end, 10);
	if (it->id <= 0 || *end || !*ids) {
		if (in->dropped++ < WARN_ROWS && !in->checking)
			msg_warn("'%s' row %" PRIu64 ": id_build '%s' is not a run id: not merged",
				 in->path, rowno + 1, ids);
		return 1;
	}
	buf_reset(&in->repo);
	for (const char *p = repo; *p; p++) {
		char c = (char)tolower((unsigned char)*p);
		buf_append(&in->repo, &c, 1);
	}
	buf_reset(&in->line);
	/* The order check needs the key only: the line is made when the row is merged. */
	for (size_t j = 0; j < in->ncols && !in->checking; j++) {
		const char *v = row->f[in->map[j]];
		if (j)
			buf_append(&in->line, ",", 1);
		record_csv_field(&in->line, v, strlen(v));
	}
	buf_append(&in->line, "\n", 1);
	it->repo = in->repo.data ? in->repo.data : "";
	it->repolen = (uint32_t)in->repo.len;
	it->line = in->line.data;
	it->linelen = (uint32_t)in->line.len;
	it->updated = *upd && time_parse_iso(upd, &t) == 0 ? (int64_t)t : 0;
	it->jobs = *jobs ? strtoll(jobs, NULL, 10) : -1;
	if (it->jobs < -1)
		it->jobs = 0;
	it->seq = (uint64_t)in->index << 40 | rowno;
	in->rows++;
	return 0;
}

/* ---- spills ------------------------------------------------------------------------- */

void merge_spill_init(struct merge_spill *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->arena = xmalloc(cap);
}

void merge_spill_release(struct merge_spill *s)
{
	free(s->arena);
	free(s->off);
	memset(s, 0, sizeof(*s));
}

bool merge_spill_add(struct merge_spill *s, const struct merge_item *it)
{
	struct merge_item_hdr h = {it->repolen, it->linelen, it->id, it->updated, it->jobs,
				   it->seq};
	size_t need = sizeof(h) + it->repolen + it->linelen;
	/* Keep the offsets within the limit too: 8 bytes an item. */
	if (s->len + need + (s->n + 1) * sizeof(size_t) > s->cap) {
		if (s->n)
			return false;
		s->cap = need + 64;
		s->arena = xrealloc(s->arena, s->cap);
	}
	if (s->n == s->capn) {
		s->capn = s->capn ? s->capn * 2 : 4096;
		s->off = xrealloc(s->off, s->capn * sizeof(size_t));
	}
	s->off[s->n++] = s->len;
	memcpy(s->arena + s->len, &h, sizeof(h));
	memcpy(s->arena + s->len + sizeof(h), it->repo, it->repolen);
	memcpy(s->arena + s->len + sizeof(h) + it->repolen, it->line, it->linelen);
	s->len += need;
	return true;
}

static void item_at(const char *p, struct merge_item *it)
{
	struct merge_item_hdr h;
	memcpy(&h, p, sizeof(h));
	*it = (struct merge_item){.repo = p + sizeof(h), .repolen = h.repolen,
				  .linelen = h.linelen, .id = h.id, .updated = h.updated,
				  .seq = h.seq, .jobs = h.jobs,
				  .line = p + sizeof(h) + h.repolen};
}

static const char *sort_arena; /* qsort has no context argument */

static int cmp_off(const void *a, const void *b)
{
	struct merge_item x, y;
	item_at(sort_arena + *(const size_t *)a, &x);
	item_at(sort_arena + *(const size_t *)b, &y);
	int c = merge_key_cmp(&x, &y);
	return c ? c : (x.seq < y.seq ? -1 : x.seq > y.seq);
}

int merge_item_write(int fd, struct buf *out, const struct merge_item *it)
{
	struct merge_item_hdr h = {it->repolen, it->linelen, it->id, it->updated, it->jobs,
				   it->seq};
	buf_append(out, &h, sizeof(h));
	buf_append(out, it->repo, it->repolen);
	buf_append(out, it->line, it->linelen);
	if (out->len < (1 << 20))
		return 0;
	int rc = write_all(fd, out->data, out->len) == 0 ? 0 : -errno;
	buf_reset(out);
	return rc;
}

int merge_temp_file(const char *dir, int *fd, struct error *err)
{
	char *tmp = xasprintf("%s/ghaminer-merge.XXXXXX", dir);
	int rc = 0;
	*fd = mkostemp(tmp, O_CLOEXEC);
	if (*fd < 0)
		rc = error_set(err, -errno, "cannot create a temporary file in '%s': %s; choose "
			       "another folder with --tmpdir", dir, strerror(errno));
	else
		unlink(tmp); /* a crash leaves nothing behind */
	free(tmp);
	return rc;
}

int merge_spill_write(struct merge_spill *s, const char *dir, int *fd, struct error *err)
{
	struct buf out;
	struct merge_item it;
	int rc = merge_temp_file(dir, fd, err);
	if (rc)
		return rc;
	sort_arena = s->arena;
	qsort(s->off, s->n, sizeof(size_t), cmp_off);
	buf_init(&out, 0);
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		item_at(s->arena + s->off[i], &it);
		rc = merge_item_write(*fd, &out, &it);
	}
	if (rc == 0 && write_all(*fd, out.data, out.len) != 0)
		rc = -errno;
	if (rc == 0 && lseek(*fd, 0, SEEK_SET) != 0)
		rc = -errno;
	buf_release(&out);
	if (rc) {
		error_set(err, rc, "cannot write a temporary file in '%s': %s", dir,
			  strerror(-rc));
		close(*fd);
		*fd = -1;
	}
	s->len = s->n = 0;
	return rc;
}

/* ---- sources ------------------------------------------------------------------------ */

/* An input read a chunk at a time: libcsv hands over whole rows, queued until asked. */
struct merge_csv {
	struct csv_parser p;
	off_t off;
	struct row cur;
	struct row *q;
	size_t qn, qcap, qhead;
	uint64_t rowno;   /* of the last row handed out; 0 is the header */
	char chunk[CSV_CHUNK];
};

static void csv_on_field(void *s, size_t len, void *data)
{
	csvscan_row_add(&((struct merge_csv *)data)->cur, s, len);
}

static void csv_on_row(int c, void *data)
{
	struct merge_csv *mc = data;
	(void)c;
	if (mc->qn == mc->qcap) {
		mc->qcap = mc->qcap ? mc->qcap * 2 : 64;
		mc->q = xrealloc(mc->q, mc->qcap * sizeof(*mc->q));
	}
	mc->q[mc->qn++] = mc->cur;
	memset(&mc->cur, 0, sizeof(mc->cur));
}

void merge_source_run(struct merge_source *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->cap = RUN_BUF;
	s->buf = xmalloc(s->cap);
}

void merge_source_csv(struct merge_source *s, struct merge_input *in)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->in = in;
	s->csv = xcalloc(1, sizeof(*s->csv));
	csv_init(&s->csv->p, CSV_STRICT | CSV_APPEND_NULL);
}

static void free_row(struct row *r)
{
	csvscan_row_clear(r);
	free(r->f);
	memset(r, 0, sizeof(*r));
}

void merge_source_release(struct merge_source *s)
{
	if (s->csv) {
		struct merge_csv *mc = s->csv;
		for (size_t i = mc->qhead; i < mc->qn; i++)
			free_row(&mc->q[i]);
		free(mc->q);
		free_row(&mc->cur);
		csv_free(&mc->p);
		free(mc);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	buf_release(&s->prev_repo);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* Make sure n bytes are buffered at s->pos; 1 at a clean end of the run. */
static int run_fill(struct merge_source *s, size_t n)
{
	if (s->len - s->pos >= n)
		return 0;
	memmove(s->buf, s->buf + s->pos, s->len - s->pos);
	s->len -= s->pos;
	s->pos = 0;
	if (n > s->cap) {
		s->cap = n;
		s->buf = xrealloc(s->buf, s->cap);
	}
	while (s->len < n) {
		ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return s->len == 0 ? 1 : -EIO;
		s->len += (size_t)r;
	}
	return 0;
}

static int run_next(struct merge_source *s, struct error *err)
{
	struct merge_item_hdr h;
	int rc = run_fill(s, sizeof(h));
	if (rc == 0) {
		memcpy(&h, s->buf + s->pos, sizeof(h));
		rc = run_fill(s, sizeof(h) + h.repolen + h.linelen);
	}
	if (rc == 1) {
		s->eof = true;
		return 0;
	}
	if (rc)
		return error_set(err, rc, "cannot read a temporary file: %s", strerror(-rc));
	item_at(s->buf + s->pos, &s->cur);
	s->pos += sizeof(h) + h.repolen + h.linelen;
	return 0;
}

/* The next parsed row of a CSV source, or eof. */
static int csv_pull(struct merge_source *s, struct error *err)
{
	struct merge_csv *mc = s->csv;
	struct merge_input *in = s->in;
	while (mc->qhead == mc->qn) {
		mc->qhead = mc->qn = 0;
		if (mc->off >= in->boundary) {
			s->eof = true;
			return 0;
		}
		int read_errno = 0;
		ssize_t n = csvscan_read_chunk(in->fd, mc->chunk, sizeof(mc->chunk), mc->off,
					       in->boundary, &read_errno);
		if (n == 0)
			return error_set(err, -read_errno, "cannot read '%s': %s", in->path,
					 read_errno == EIO ? "it became shorter, or an I/O error"
							   : strerror(read_errno));
		if (csv_parse(&mc->p, mc->chunk, (size_t)n, csv_on_field, csv_on_row, mc) !=
		    (size_t)n)
			return error_set(err, -EINVAL, "'%s' is not valid CSV (near row %" PRIu64
					 ")", in->path, mc->rowno + 2);
		mc->off += n;
		if (mc->off >= in->boundary)
			csv_fini(&mc->p, csv_on_field, csv_on_row, mc);
	}
	return 0;
}

/* An input whose order was checked in part: the rest is checked as it is merged. */
static int csv_verify(struct merge_source *s, uint64_t rowno, struct error *err)
{
	if (s->have_prev && merge_key_cmp(&s->cur, &s->prev) < 0) {
		s->in->out_of_order = true;
		return error_set(err, -EAGAIN, "'%s' is not in key order after all (row %" PRIu64
				 ")", s->in->path, rowno + 1);
	}
	buf_reset(&s->prev_repo);
	buf_append(&s->prev_repo, s->cur.repo, s->cur.repolen);
	s->prev = s->cur;
	s->prev.repo = s->prev_repo.data ? s->prev_repo.data : "";
	s->have_prev = true;
	return 0;
}

static int csv_next(struct merge_source *s, struct error *err)
{
	struct merge_csv *mc = s->csv;
	for (;;) {
		int rc = csv_pull(s, err);
		if (rc || s->eof)
			return rc;
		struct row row = mc->q[mc->qhead++];
		uint64_t rowno = mc->rowno++;
		if (rowno == 0) { /* the header, checked before */
			free_row(&row);
			continue;
		}
		rc = merge_row_item(s->in, &row, rowno, &s->cur, err);
		free_row(&row);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return s->in->verify ? csv_verify(s, rowno, err) : 0;
	}
}

int merge_source_next(struct merge_source *s, struct error *err)
{
	return s->csv ? csv_next(s, err) : run_next(s, err);
}

/* ---- the k-way merge ---------------------------------------------------------------- */

struct heap {
	struct merge_source *src;
	size_t *h, n;
};

static bool heap_less(const struct heap *hp, size_t a, size_t b)
{
	const struct merge_item *x = &hp->src[hp->h[a]].cur, *y = &hp->src[hp->h[b]].cur;
	int c = merge_key_cmp(x, y);
	return c ? c < 0 : x->seq < y->seq;
}

static void heap_down(struct heap *hp, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i, t;
		if (l < hp->n && heap_less(hp, l, min))
			min = l;
		if (r < hp->n && heap_less(hp, r, min))
			min = r;
		if (min == i)
			return;
		t = hp->h[i];
		hp->h[i] = hp->h[min];
		hp->h[min] = t;
		i = min;
	}
}

/* The best row of one run so far, copied out of its source. */
struct group {
	struct merge_item best;
	struct buf repo, line;
	bool any;
};

static void group_take(struct group *g, const struct merge_item *it)
{
	buf_reset(&g->repo);
	buf_reset(&g->line);
	buf_append(&g->repo, it->repo, it->repolen);
	buf_append(&g->line, it->line, it->linelen);
	g->best = *it;
	g->best.repo = g->repo.data ? g->repo.data : "";
	g->best.line = g->line.data;
	g->any = true;
}

static int sink_put(struct merge_sink *k, const struct merge_item *it)
{
	if (!k->csv)
		return merge_item_write(k->fd, &k->out, it);
	k->stats->rows_out++;
	if (it->jobs >= 0) {
		k->stats->runs_with_jobs++;
		k->stats->jobs += (uint64_t)it->jobs;
	}
	if (k->stats->rows_out == 1 || k->last_repo.len != it->repolen ||
	    (it->repolen && memcmp(k->last_repo.data, it->repo, it->repolen) != 0)) {
		k->stats->repos++;
		buf_reset(&k->last_repo);
		buf_append(&k->last_repo, it->repo, it->repolen);
	}
	buf_append(&k->out, it->line, it->linelen);
	if (k->out.len < (1 << 20))
		return 0;
	int rc = write_all(k->fd, k->out.data, k->out.len) == 0 ? 0 : -errno;
	buf_reset(&k->out);
	return rc;
}

int merge_sources(struct merge_source *src, size_t n, struct merge_sink *k, struct error *err)
{
	struct heap hp = {src, xcalloc(n + 1, sizeof(size_t)), 0};
	struct group g = {0};
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = merge_source_next(&src[i], err)) == 0 && !src[i].eof)
			hp.h[hp.n++] = i;
	for (size_t i = hp.n / 2; i-- > 0;)
		heap_down(&hp, i);
	while (rc == 0 && hp.n) {
		struct merge_source *s = &src[hp.h[0]];
		if (!g.any || merge_key_cmp(&s->cur, &g.best) != 0) {
			if (g.any && (rc = sink_put(k, &g.best)) != 0)
				break;
			group_take(&g, &s->cur);
		} else if (merge_better(&s->cur, &g.best)) {
			group_take(&g, &s->cur);
		}
		if ((rc = merge_source_next(s, err)) != 0)
			break;
		if (s->eof)
			hp.h[0] = hp.h[--hp.n];
		heap_down(&hp, 0);
	}
	if (rc == 0 && g.any)
		rc = sink_put(k, &g.best);
	if (rc == 0 && write_all(k->fd, k->out.data, k->out.len) != 0)
		rc = -errno;
	buf_reset(&k->out);
	if (rc && !err->code)
		error_set(err, rc, "cannot write: %s", strerror(-rc));
	for (size_t i = 0; i < n; i++)
		merge_source_release(&src[i]);
	buf_release(&g.repo);
	buf_release(&g.line);
	free(hp.h);
	return rc;
}
