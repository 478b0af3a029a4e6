/* ndjson.h - one compact JSON object per line on stdout, flushed per line: the stream
 * consumers (jq, dashboards) read while the miner works. */
#ifndef GHAMINER_NDJSON_H
#define GHAMINER_NDJSON_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

void ndjson_enable(bool on);
/* {"type": type, "data": data}; steals data. */
void ndjson_emit(const char *type, json_t *data);
/* The same with data already encoded as one compact JSON object. */
void ndjson_emit_text(const char *type, const char *data);
/* A message as a JSON string: secrets masked, and readable even when not UTF-8 (a cut
 * multibyte character, a server's bytes). A new reference. */
json_t *ndjson_vstring(const char *fmt, va_list ap);
void ndjson_status(const char *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ndjson_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
