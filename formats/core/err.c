/*
 * err.c: struct fmt_err helpers.  Trusts nothing; formats only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static void verrf(struct fmt_err *e, uint64_t off, const char *fmt, va_list ap)
{
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	e->off = off;
}

int ukit_fmt_errf(struct fmt_err *e, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	verrf(e, off, fmt, ap);
	va_end(ap);
	return -1;
}

int ukit_fmt_errno(struct fmt_err *e, uint64_t off, const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	verrf(e, off, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

void ukit_fmt_err_print(FILE *fp, const char *prog, const struct fmt_err *e)
{
	fprintf(fp, "%s: ", prog);
	if (e->path != NULL) {
		if (e->off != FMT_NOOFF)
			fprintf(fp, "%s:0x%" PRIx64 ": ", e->path, e->off);
		else
			fprintf(fp, "%s: ", e->path);
	}
	fprintf(fp, "%s\n", e->msg[0] ? e->msg : "unknown error");
}
