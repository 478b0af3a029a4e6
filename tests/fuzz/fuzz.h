/* fuzz.h - what the fuzz targets share: a scratch folder, inputs as files and strings, and
 * a loud stop when a property fails. */
#ifndef GHAMINER_FUZZ_H
#define GHAMINER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The entry point every target defines: libFuzzer calls it (scripts/fuzz), and so does
 * replay.c for the inputs kept under tests/fuzz/ (ctest fuzz/<target>). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The path of name in a folder of this process's own (made on first use under $TMPDIR,
 * removed at exit). Static storage: valid until the next call. */
const char *fuzz_path(const char *name);
/* Write data to fuzz_path(name), replacing what was there; returns that path. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* The whole content of path (NUL-terminated, *len without it), or NULL. Caller frees. */
char *fuzz_slurp(const char *path, size_t *len);
/* data as a C string, in a heap block of exactly size + 1 bytes so that ASan sees any read
 * past its end. Caller frees. */
char *fuzz_string(const uint8_t *data, size_t size);

/* A property of the code under test failed: say which, and abort (a crash for libFuzzer,
 * which keeps the input; a failed test for replay). */
#define FUZZ_ASSERT(cond, what) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond, what); \
	} while (0)
void fuzz_fail(const char *file, int line, const char *cond, const char *what)
	__attribute__((noreturn));

#endif
