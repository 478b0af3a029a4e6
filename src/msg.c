/* msg.c - warnings, errors and progress chatter on stderr, one format, token-safe. */
#include "msg.h"
#include "progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MSG_MAX_SECRETS 256

static char *secrets[MSG_MAX_SECRETS];
static size_t nsecrets;
static int quiet;

/* Shorter than any GitHub token: masking it would mangle every message (a token "t" hides
 * every t), and tokens.c refuses such a token before it is ever sent. */
#define MSG_MIN_SECRET 8

void msg_add_secret(const char *secret)
{
	if (!secret || strlen(secret) < MSG_MIN_SECRET || nsecrets == MSG_MAX_SECRETS)
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

/* The length of the longest secret that starts at p, or 0. strncmp stops at p's end. */
static size_t secret_at(const char *p)
{
	size_t hit = 0;
	for (size_t i = 0; i < nsecrets; i++) {
		size_t l = strlen(secrets[i]);
		if (l > hit && strncmp(p, secrets[i], l) == 0)
			hit = l;
	}
	return hit;
}

char *msg_redact(char *dst, size_t n, const char *msg)
{
	size_t o = 0;
	if (n == 0)
		return dst;
	while (*msg && o + 1 < n) {
		size_t end = secret_at(msg);
		if (!end) {
			dst[o++] = *msg++;
			continue;
		}
		/* The longest secret here, stretched over any other that starts inside it:
		 * one token may contain another, or two may overlap, and no part of either
		 * may show. */
		for (size_t k = 1; k < end; k++) {
			size_t l = secret_at(msg + k);
			if (k + l > end)
				end = k + l;
		}
		for (const char *r = "***"; *r && o + 1 < n; r++)
			dst[o++] = *r;
		msg += end;
	}
	dst[o] = '\0';
	return dst;
}

/* A message cut at the buffer's end may end in the first part of a secret, which no
 * whole-secret match finds: drop such a tail, again until none is left (a shorter tail
 * may begin another secret). */
static void cut_partial_secret(char *s)
{
	size_t n = strlen(s);
	bool cut = true;
	while (cut) {
		cut = false;
		for (size_t i = 0; i < nsecrets && !cut; i++) {
			size_t l = strlen(secrets[i]);
			for (size_t k = l - 1; k > 0 && !cut; k--) {
				if (k <= n && strncmp(s + n - k, secrets[i], k) == 0) {
					n -= k;
					s[n] = '\0';
					cut = true;
				}
			}
		}
	}
}

char *msg_vformat(char *dst, size_t n, const char *fmt, va_list ap)
{
	char *raw;
	int len;
	if (n == 0)
		return dst;
	raw = xmalloc(n);
	len = vsnprintf(raw, n, fmt, ap);
	if (len < 0)
		raw[0] = '\0';
	else if ((size_t)len >= n)
		cut_partial_secret(raw);
	msg_redact(dst, n, raw);
	explicit_bzero(raw, n);
	free(raw);
	return dst;
}

static void msg_emit(const char *prefix, const char *fmt, va_list ap)
{
	char clean[4096];
	msg_vformat(clean, sizeof(clean), fmt, ap);
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
