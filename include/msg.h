/* msg.h - warnings, errors and progress chatter on stderr, one format, token-safe. */
#ifndef GHAMINER_MSG_H
#define GHAMINER_MSG_H

#include <stdarg.h>
#include <stddef.h>

/* Register a secret: every later message has each occurrence replaced by "***".
 * The string is copied; msg_forget_secrets wipes the copies. */
void msg_add_secret(const char *secret);
void msg_forget_secrets(void);

/* Write msg into dst (size n, cut to fit) with every occurrence of every registered secret
 * replaced by "***": the longest one where several start at the same place, and one
 * "***" over secrets that overlap. Returns dst. msg itself must be whole: a secret cut at
 * its end is not recognised (see msg_vformat). */
char *msg_redact(char *dst, size_t n, const char *msg);
/* vsnprintf into dst (size n), redacted as msg_redact does. When the text does not fit, a
 * tail that could be the beginning of a secret is dropped as well. Returns dst. */
char *msg_vformat(char *dst, size_t n, const char *fmt, va_list ap);

void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_set_quiet(int quiet); /* silences msg_info only */

#endif
