/* error.c - filling an error value. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int error_set(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}
