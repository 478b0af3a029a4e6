/* miner.h - the orchestrator: every repository mined on one libuv loop (each one's phase 2
 * overlapping its phase 1, several repositories at once), and the process's exit codes. */
#ifndef GHAMINER_MINER_H
#define GHAMINER_MINER_H

#include "settings.h"

/* Exit codes, documented in --help and the README. */
enum exit_code {
	EXIT_OK = 0,          /* everything collected */
	EXIT_PARTIAL = 1,     /* finished, but some runs could not be collected */
	EXIT_USAGE = 2,       /* bad command line or config.yaml */
	EXIT_AUTH = 3,        /* authentication failed or repository unknown */
	EXIT_NETWORK = 4,     /* API unreachable after retries */
	EXIT_IO = 5,          /* local file error (disk full, read-only, locked) */
	EXIT_SIGHUP = 129,   /* 128 + the signal, as a shell reports it */
	EXIT_SIGINT = 130,
	EXIT_SIGTERM = 143,
};

/* Run the whole session; returns the process exit code (enum exit_code). */
int miner_run(const struct settings *s);

#endif
