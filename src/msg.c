/* msg.c - warnings, errors and progress chatter on stderr, one format, token-safe. */
#include "msg.h"
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX_SECRETS 256

static char *secrets[MSG_MAX_SECRETS];
static size_t nsecrets;
static int quiet;

void msg_add_secret(const char *secret)
{
	if (!secret || !*secret || nsecrets == MSG_MAX_SECRETS)
		return;
	for (size_t i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], secret) == 0)
			return;
	secrets[nsecrets] = strdup(secret);
	if (secrets[nsecrets])
		nsecrets++;
}

void msg_forget_secrets(void)
{
	for (size_t i = 0; i < nsecrets; i++) {
		explicit_bzero(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	nsecrets = 0;
}

char *msg_redact(char *dst, size_t n, const char *msg)
{
	size_t o = 0;
	if (n == 0)
		return dst;
	while (*msg && o + 1 < n) {
		size_t hit = 0;
		/* The longest secret that matches here: one token may contain another. */
		for (size_t i = 0; i < nsecrets; i++) {
			size_t l = strlen(secrets[i]);
			if (l > hit && strncmp(msg, secrets[i], l) == 0)
				hit = l;
		}
		if (hit) {
			for (const char *r = "***"; *r && o + 1 < n; r++)
				dst[o++] = *r;
			msg += hit;
		} else {
			dst[o++] = *msg++;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* A message cut at the buffer's end may end in the first part of a secret, which no
 * whole-secret match finds: drop such a tail. */
static void cut_partial_secret(char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < nsecrets; i++) {
		size_t l = strlen(secrets[i]);
		for (size_t k = l - 1; k > 0; k--) {
			if (k <= n && strncmp(s + n - k, secrets[i], k) == 0) {
				s[n - k] = '\0';
				n -= k;
				break;
			}
		}
	}
}

static void msg_emit(const char *prefix, const char *fmt, va_list ap)
{
	char raw[4096], clean[4096];
	if (vsnprintf(raw, sizeof(raw), fmt, ap) >= (int)sizeof(raw))
		cut_partial_secret(raw);
	msg_redact(clean, sizeof(clean), raw);
	progress_clear();
	fprintf(stderr, "ghaminer: %s%s\n", prefix, clean);
	fflush(stderr);
}

void msg_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_emit("error: ", fmt, ap);
	va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_emit("warning: ", fmt, ap);
	va_end(ap);
}

void msg_info(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	msg_emit("", fmt, ap);
	va_end(ap);
}

void msg_set_quiet(int q)
{
	quiet = q;
}
