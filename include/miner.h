/* miner.h - one mining session: for each repository, phase 1 (runs, streamed page by page)
 * then phase 2 (jobs, fanned out), on one libuv loop. */
#ifndef GHAMINER_MINER_H
#define GHAMINER_MINER_H

#include "settings.h"

/* Run the whole session; returns the process exit code (enum exit_code). */
int miner_run(const struct settings *s);

#endif
