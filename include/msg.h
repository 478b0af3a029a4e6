/* msg.h - warnings, errors and progress chatter on stderr, one format, token-safe. */
#ifndef GHAMINER_MSG_H
#define GHAMINER_MSG_H

#include <stdarg.h>
#include <stddef.h>

/* Register a secret: every later message has each occurrence replaced by "***".
 * The string is copied; msg_forget_secrets wipes the copies. */
void msg_add_secret(const char *secret);
void msg_forget_secrets(void);

/* Write msg into dst (size n) with every registered secret replaced; returns dst. */
char *msg_redact(char *dst, size_t n, const char *msg);

void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_set_quiet(int quiet); /* silences msg_info only */

#endif
