/* fuzz.c - the scratch folder and input helpers of the fuzz targets (fuzz.h). */
#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char *dir;
static char path[4096];

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void remove_dir(void)
{
	if (dir)
		nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_path(const char *name)
{
	if (!dir) {
		const char *tmp = getenv("TMPDIR");
		dir = xasprintf("%s/ghaminer-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror(dir);
			abort();
		}
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
	const char *p = fuzz_path(name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(p);
		abort();
	}
	return p;
}

char *fuzz_slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	struct buf b;
	char chunk[8192];
	size_t n;
	if (!f)
		return NULL;
	buf_init(&b, 0);
	buf_appends(&b, "");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return b.data;
}

char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
	fprintf(stderr, "%s:%d: property failed: %s (%s)\n", file, line, what, cond);
	abort();
}
