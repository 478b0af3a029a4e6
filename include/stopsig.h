/* stopsig.h - the signals that stop a run (the miner's and the server's alike): each
 * saves what was collected and exits 128 + its number, as a shell reports a signal. */
#ifndef GHAMINER_STOPSIG_H
#define GHAMINER_STOPSIG_H

#include <stddef.h>

/* SIGINT, SIGTERM and SIGHUP (a closed terminal, such as an ssh session that dropped; not
 * a reload). */
#define STOPSIG_COUNT 3
extern const int stopsig_signals[STOPSIG_COUNT];

/* "SIGINT", "SIGTERM" or "SIGHUP"; "signal" for any other. */
const char *stopsig_name(int signum);
/* 128 + signum: EXIT_SIGINT, EXIT_SIGTERM, EXIT_SIGHUP of miner.h. */
int stopsig_exit_code(int signum);

#endif
