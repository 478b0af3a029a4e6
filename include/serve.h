/* serve.h - `ghaminer serve`: the seed's WebSocket stream, an HTTP API over the CSV and a
 * live page, on the same libuv loop as the mining sessions. */
#ifndef GHAMINER_SERVE_H
#define GHAMINER_SERVE_H

#include "settings.h"

/* Serve until SIGINT or SIGTERM; returns the process exit code (enum exit_code). */
int serve_run(const struct settings *s);

#endif
