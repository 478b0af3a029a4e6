/* csvstore_int.h - what csvstore.c (open, append, sync) and csvrewrite.c (durable
 * rewrites) share with csvscan.c (reading rows). Not for other modules. */
#ifndef GHAMINER_CSVSTORE_INT_H
#define GHAMINER_CSVSTORE_INT_H

#include <sys/types.h>

#include "csvstore.h"
#include "util.h"

/* One parsed row, fields owned. */
struct row {
	char **f;
	size_t n, cap;
};

typedef int (*row_fn)(void *ctx, struct row *row);

/* csvscan's own failures; fn's are negative errnos. */
enum { SCAN_READ_ERROR = 1, SCAN_MALFORMED = 2 };

/* A row terminator outside quotes: LF, or CR as libcsv also takes it (CRLF is a
 * terminator and an empty row, which libcsv skips). */
static inline int csvscan_is_eol(char c)
{
	return c == '\n' || c == '\r';
}

void csvscan_row_clear(struct row *r);
/* Append a copy of the field s (len bytes; NULL is empty), as libcsv's field callback. */
void csvscan_row_add(struct row *r, const void *s, size_t len);
/* The next chunk (up to cap bytes) of fd at off, before limit, read with pread: its
 * length, or 0 with *read_errno set (EIO when the file is shorter than when measured). */
ssize_t csvscan_read_chunk(int fd, char *chunk, size_t cap, off_t off, off_t limit,
			   int *read_errno);
/* Parse fd from offset 0 up to limit, calling fn per complete row. Also reports the offset
 * just past the last row terminator outside quotes (*boundary): bytes after it are a torn
 * row. Returns 0, SCAN_READ_ERROR (*read_errno set), SCAN_MALFORMED, or fn's non-zero. */
int csvscan(int fd, off_t limit, row_fn fn, void *ctx, off_t *boundary, int *read_errno);
/* Only the boundary csvscan reports, without parsing: 0 or SCAN_READ_ERROR. */
int csvscan_boundary(int fd, off_t limit, off_t *boundary, int *read_errno);
/* Fill rec (and extra, for columns we do not know) from a parsed row of a file whose
 * column i holds record column map[i] (or -1). */
void csvscan_to_record(size_t ncols, const int *map, struct row *row, struct record *rec,
		       char **extra);

#endif
