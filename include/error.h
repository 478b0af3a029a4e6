/* error.h - an error as a value: a negative errno and a message saying what was wrong.
 * Modules fill one and return its code; only the orchestrator decides what it means for
 * the process (exit code, advice to the user). */
#ifndef GHAMINER_ERROR_H
#define GHAMINER_ERROR_H

#define ERROR_MSG_MAX 512

struct error {
	int code;                  /* a negative errno; 0: no error */
	char msg[ERROR_MSG_MAX];   /* what was wrong, without advice on what to do */
};

/* Fill e (when not NULL) and return code, so that `return error_set(e, -errno, ...)` reads
 * as one step. */
int error_set(struct error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
