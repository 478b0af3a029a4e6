/* replay.c - run a fuzz target's entry point on kept inputs, without libFuzzer: each file
 * given, and each file in each folder given (names starting with '.' skipped). This is how
 * the seed corpus and the crash inputs under tests/fuzz/ run in ctest, in build/ (gcc) and
 * build-asan/ (ASan+UBSan). A missing path or no input at all fails: an empty corpus must
 * not pass by testing nothing. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* 0, or -1 when the file cannot be read. */
static int replay_file(const char *path)
{
	size_t len;
	char *data = fuzz_slurp(path, &len);
	if (!data) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
		return -1;
	}
	/* A copy of exactly len bytes: a read past the input's end is an ASan report. */
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	free(data);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

/* Inputs run, or -1. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	long done = 0;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: cannot list '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *p = NULL;
		struct stat st;
		if (names[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", dir, names[i]->d_name) > 0 &&
		    stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(p) != 0)
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(p);
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		printf("replay: %ld input(s) from %s\n", n, argv[i]);
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input given: pass files or folders of inputs (the seed "
				"corpus tests/fuzz/corpus/<target> holds some)\n");
		return 1;
	}
	printf("PASS %ld input(s)\n", total);
	return 0;
}
