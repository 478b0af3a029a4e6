/* csvspan.c - rows by where they lie: each row's byte range with its repository and run
 * id (what ghaminer serve indexes), and one row read back from its range. */
#include "csvstore_int.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads of this size. */
#define CSVSPAN_CHUNK (1 << 16)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool csvspan_field(const char *row, size_t len, size_t col, char *out, size_t cap)
{
	size_t i = 0, k = 0, o = 0;
	/* Skip to the col-th field: commas outside quotes end fields. */
	for (int inquote = 0; k < col; i++) {
		if (i == len)
			return false;
		if (row[i] == '"')
			inquote = !inquote;
		else if (row[i] == ',' && !inquote)
			k++;
	}
	/* Blanks around a field are not part of it, as libcsv has it. */
	while (i < len && is_blank(row[i]))
		i++;
	if (i < len && row[i] == '"') {
		/* Quoted: "" is a quote; the field ends at the closing quote. */
		for (i++; i < len; i++) {
			if (row[i] == '"' && (i + 1 == len || row[i + 1] != '"'))
				break;
			if (row[i] == '"')
				i++;
			if (o + 1 >= cap)
				return false;
			out[o++] = row[i];
		}
	} else {
		for (; i < len && row[i] != ','; i++) {
			if (o + 1 >= cap)
				return false;
			out[o++] = row[i];
		}
		while (o > 0 && is_blank(out[o - 1]))
			o--;
	}
	out[o] = '\0';
	return true;
}

static int column_of(const struct csvstore *cs, int col)
{
	for (size_t i = 0; i < cs->ncols; i++)
		if (cs->map[i] == col)
			return (int)i;
	return -1;
}

/* One complete row (without its terminator) found at off: hand its keys to fn. The header,
 * the empty row inside a CRLF and rows without a numeric run id are not data rows. */
static int span_row(const struct csvstore *cs, const char *row, size_t len, off_t off,
		    csvstore_span_fn fn, void *ctx)
{
	char repo[CSVSTORE_REPO_MAX], id[CSVSTORE_ID_MAX];
	int crepo = column_of(cs, COL_REPO), cid = column_of(cs, COL_ID_BUILD);
	int64_t v;
	if (crepo < 0 || cid < 0 || !csvspan_field(row, len, (size_t)crepo, repo, sizeof(repo)) ||
	    !csvspan_field(row, len, (size_t)cid, id, sizeof(id)) || !csvstore_row_key(repo, id, &v))
		return 0;
	return fn(ctx, repo, v, off, len + 1);
}

bool csvstore_row_key(const char *repo, const char *id, int64_t *out)
{
	char *end;
	if (!repo || !id || !*repo || strlen(repo) >= CSVSTORE_REPO_MAX ||
	    strlen(id) >= CSVSTORE_ID_MAX)
		return false;
	long long v = strtoll(id, &end, 10);
	if (end == id || *end || v <= 0)
		return false;
	*out = (int64_t)v;
	return true;
}

int csvstore_spans(struct csvstore *cs, off_t from, csvstore_span_fn fn, void *ctx,
		   off_t *end, struct error *err)
{
	char *chunk = xmalloc(CSVSPAN_CHUNK);
	struct buf carry; /* the row under way, when it started in an earlier chunk */
	off_t off = from, row_off = from;
	int inquote = 0, rc = 0, read_errno = 0;
	buf_init(&carry, 0);
	while (off < cs->size && rc == 0) {
		ssize_t n = csvscan_read_chunk(cs->fd, chunk, CSVSPAN_CHUNK, off, cs->size,
					       &read_errno);
		size_t start = 0;
		if (n == 0) {
			rc = error_set(err, -read_errno, "cannot read '%s': %s", cs->path,
				       strerror(read_errno));
			break;
		}
		for (size_t i = 0; i < (size_t)n && rc == 0; i++) {
			if (chunk[i] == '"') {
				inquote = !inquote;
			} else if (csvscan_is_eol(chunk[i]) && !inquote) {
				if (carry.len) {
					buf_append(&carry, chunk + start, i - start);
					rc = span_row(cs, carry.data, carry.len, row_off, fn, ctx);
					buf_reset(&carry);
				} else {
					rc = span_row(cs, chunk + start, i - start, row_off, fn, ctx);
				}
				start = i + 1;
				row_off = off + (off_t)start;
			}
		}
		buf_append(&carry, chunk + start, (size_t)n - start);
		off += n;
	}
	/* A row without its terminator is still being written (or torn): not yet a row. */
	*end = row_off;
	buf_release(&carry);
	free(chunk);
	return rc;
}

static void on_field(void *s, size_t len, void *data)
{
	csvscan_row_add(data, s, len);
}

int csvstore_read_span(struct csvstore *cs, off_t off, size_t len, struct record *rec,
		       struct error *err)
{
	struct csv_parser p;
	struct row row = {0};
	char *text = xmalloc(len ? len : 1);
	int read_errno = 0, rc = 0;
	ssize_t n = csvscan_read_chunk(cs->fd, text, len, off, off + (off_t)len, &read_errno);
	memset(rec, 0, sizeof(*rec));
	if ((size_t)n != len) {
		if (!read_errno)
			read_errno = EIO;
		rc = error_set(err, -read_errno, "cannot read '%s': %s", cs->path,
			       strerror(read_errno));
	} else if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL) != 0) {
		rc = error_set(err, -ENOMEM, "cannot read '%s': out of memory", cs->path);
	} else {
		if (csv_parse(&p, text, len, on_field, NULL, &row) != len ||
		    csv_fini(&p, on_field, NULL, &row) != 0)
			rc = error_set(err, -EINVAL, "'%s' changed under the reader: row at byte "
				       "%lld is not valid CSV", cs->path, (long long)off);
		csv_free(&p);
	}
	if (rc == 0)
		csvscan_to_record(cs->ncols, cs->map, &row, rec, NULL);
	csvscan_row_clear(&row);
	free(row.f);
	free(text);
	return rc;
}
