/* ndjson.c - one compact JSON object per line on stdout, flushed per line. */
#include "ndjson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "record.h"

static bool enabled = true;
static bool broken; /* the reader went away: keep mining, stop writing */

void ndjson_enable(bool on)
{
	enabled = on;
}

static void put_line(const char *type, const char *data)
{
	/* type is one of ours: a plain word, no escaping needed */
	if (printf("{\"type\":\"%s\",\"data\":%s}\n", type, data) < 0 || fflush(stdout) == EOF) {
		broken = true;
		msg_warn("stdout closed (%s): NDJSON stream stopped, the CSV is still written",
			 strerror(errno));
	}
}

void ndjson_emit(const char *type, json_t *data)
{
	char *text;
	if (!enabled || broken) {
		json_decref(data);
		return;
	}
	text = json_dumps(data, RECORD_JSON_FLAGS);
	json_decref(data);
	if (text)
		put_line(type, text);
	free(text);
}

void ndjson_emit_text(const char *type, const char *data)
{
	if (enabled && !broken)
		put_line(type, data);
}

json_t *ndjson_vstring(const char *fmt, va_list ap)
{
	char clean[2048];
	json_t *s;
	/* Formatted and masked in one step: a secret cut at the end of the buffer is dropped,
	 * not shown in part. */
	msg_vformat(clean, sizeof(clean), fmt, ap);
	s = json_string(clean);
	if (!s) {
		/* Not UTF-8 (a cut multibyte character, a server's bytes): keep it readable. */
		for (char *c = clean; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		s = json_string(clean);
	}
	return s;
}

void ndjson_status(const char *stage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *m = ndjson_vstring(fmt, ap);
	va_end(ap);
	ndjson_emit("status", json_pack("{s:o, s:s}", "message", m, "stage", stage));
}

void ndjson_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *m = ndjson_vstring(fmt, ap);
	va_end(ap);
	ndjson_emit("error", json_pack("{s:o}", "message", m));
}
