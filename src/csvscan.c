/* csvscan.c - reading the CSV: libcsv rows through pread (a worker thread may scan
 * through an fd of its own), the torn-tail boundary, rows into records. */
#include "csvstore_int.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct scan {
	struct row row;
	row_fn fn;
	void *ctx;
	int rc;
};


void csvscan_row_clear(struct row *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->f[i]);
	r->n = 0;
}

void csvscan_row_add(struct row *r, const void *s, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->f = xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	r->f[r->n++] = xstrndup(s ? s : "", len);
}

static void on_field(void *s, size_t len, void *data)
{
	csvscan_row_add(&((struct scan *)data)->row, s, len);
}

static void on_row(int c, void *data)
{
	struct scan *sc = data;
	(void)c;
	if (sc->rc == 0)
		sc->rc = sc->fn(sc->ctx, &sc->row);
	csvscan_row_clear(&sc->row);
}

/* Follow quotes through p (n bytes at offset off): *last gets the offset just past the
 * last row terminator outside quotes. RFC 4180's doubled quotes toggle twice. A CR ends a
 * row as an LF does, as libcsv has it: a row libcsv completes is never cut as torn. */
static void track_rows(const char *p, ssize_t n, off_t off, int *inquote, off_t *last)
{
	for (ssize_t i = 0; i < n; i++) {
		if (p[i] == '"')
			*inquote = !*inquote;
		else if (csvscan_is_eol(p[i]) && !*inquote)
			*last = off + i + 1;
	}
}

ssize_t csvscan_read_chunk(int fd, char *chunk, size_t cap, off_t off, off_t limit,
			   int *read_errno)
{
	size_t want = (size_t)(limit - off) < cap ? (size_t)(limit - off) : cap;
	ssize_t n;
	while ((n = pread(fd, chunk, want, off)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		*read_errno = n < 0 ? errno : EIO;
	return n > 0 ? n : 0;
}

int csvscan_boundary(int fd, off_t limit, off_t *boundary, int *read_errno)
{
	char *chunk = xmalloc(1 << 16);
	off_t off = 0, last = 0;
	int inquote = 0, rc = 0;
	while (off < limit) {
		ssize_t n = csvscan_read_chunk(fd, chunk, 1 << 16, off, limit, read_errno);
		if (n == 0) {
			rc = SCAN_READ_ERROR;
			break;
		}
		track_rows(chunk, n, off, &inquote, &last);
		off += n;
	}
	*boundary = last;
	free(chunk);
	return rc;
}

/* Parse fd from offset 0 up to limit, calling fn per complete row. Also reports the offset
 * just past the last row terminator outside quotes (*boundary): bytes after it are a torn
 * row. Returns 0, SCAN_READ_ERROR (*read_errno set), SCAN_MALFORMED, or fn's non-zero. Uses
 * pread only, so a worker thread may scan through an fd of its own. */
int csvscan(int fd, off_t limit, row_fn fn, void *ctx, off_t *boundary,
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
		ssize_t n = csvscan_read_chunk(fd, chunk, 1 << 16, off, limit, read_errno);
		if (n == 0) {
			rc = SCAN_READ_ERROR;
			goto out;
		}
		track_rows(chunk, n, off, &inquote, &last);
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
	csvscan_row_clear(&sc.row);
	free(sc.row.f);
	csv_free(&p);
	free(chunk);
	return rc;
}

/* Fill rec (and extra, for columns we do not know) from a parsed row of a file whose
 * column i holds record column map[i] (or -1). */
void csvscan_to_record(size_t ncols, const int *map, struct row *row, struct record *rec,
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
