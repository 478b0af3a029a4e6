/* check.h - a tiny assertion layer for the unit tests: count, report, exit non-zero. */
#ifndef GHAMINER_CHECK_H
#define GHAMINER_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { check_count++; if (!(cond)) { check_failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); check_count++; \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { check_failures++; \
	fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, \
		a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); check_count++; \
	if (a_ != b_) { check_failures++; \
	fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, want %lld\n", __FILE__, __LINE__, #a, \
		a_, b_); } } while (0)
#define CHECK_DONE() (fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures), \
	check_failures ? 1 : 0)

/* A file's text (up to 1 MB; "" when it cannot be read): the caller frees. */
static inline char *check_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = calloc(1, 1 << 20);
	if (f) {
		size_t n = fread(p, 1, (1 << 20) - 1, f);
		p[n] = 0;
		fclose(f);
	}
	return p;
}

/* Replace a file's text. */
static inline void check_spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* CHECK_DONE for a test that worked in the scratch folder dir (from mkdtemp): removes it. */
static inline int check_done_rmdir(const char *dir)
{
	char cmd[512];
	int rc = CHECK_DONE();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0 ? 1 : rc;
}

#endif
