/* ndjson.h - one compact JSON object per line on stdout, flushed per line: the stream
 * consumers (jq, dashboards) read while the miner works. */
#ifndef GHAMINER_NDJSON_H
#define GHAMINER_NDJSON_H

#include <jansson.h>
#include <stdbool.h>

void ndjson_enable(bool on);
/* {"type": type, "data": data}; steals data. */
void ndjson_emit(const char *type, json_t *data);
/* The same with data already encoded as one compact JSON object. */
void ndjson_emit_text(const char *type, const char *data);
void ndjson_status(const char *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ndjson_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
