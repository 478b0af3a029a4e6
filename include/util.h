/* util.h - allocation that cannot fail silently, growable buffers, time parsing. */
#ifndef GHAMINER_UTIL_H
#define GHAMINER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. cap_limit 0 = unlimited. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t cap_limit;
};

void buf_init(struct buf *b, size_t cap_limit);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, or -1 when the append would pass cap_limit (the buffer is then released). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appends(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* ISO 8601 as GitHub writes it: "2024-01-01T10:00:00Z", with ".000" millis and
 * "+10:00"/"-07:00" offsets. Returns seconds since the epoch (UTC) in *out, or -1. */
int time_parse_iso(const char *s, double *out);

/* Current wall-clock time in seconds, and a monotonic clock in milliseconds. */
double time_now(void);
uint64_t time_mono_ms(void);

/* Write all of p, retrying short writes and EINTR; -1 with errno on failure. */
int write_all(int fd, const void *p, size_t n);
/* Remove every <path>.tmp.XXXXXX: the temporary copies a killed rewrite left behind. Call
 * under the file's lock, where no other process is writing one. */
void remove_stale_temps(const char *path);
/* fsync the directory holding path (after a rename into it). */
int fsync_parent_dir(const char *path);

#endif
