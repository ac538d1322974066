/*
 * err.h: the error type every libukit function fills in on failure.
 *
 * Library code never prints and never exits: it returns -1 and leaves the
 * reason in a caller-owned struct fmt_err, which the tools print compiler
 * style as "PATH:0xOFF: message".
 */
#ifndef UKIT_ERR_H
#define UKIT_ERR_H

#include <stdint.h>
#include <stdio.h>

#define FMT_NOOFF UINT64_MAX /* no byte offset applies */
#define FMT_ERR_MSG 256      /* bytes, including NUL */

struct fmt_err {
	const char *path;        /* borrowed from the caller; may be NULL */
	uint64_t    off;         /* byte offset into path, or FMT_NOOFF */
	char        msg[FMT_ERR_MSG];
};

/*
 * Record an error at byte offset (off) (FMT_NOOFF for none).  (e) may be
 * NULL.  Always returns -1 so it can be returned directly.
 */
int ukit_fmt_errf(struct fmt_err *e, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like ukit_fmt_errf() but appends ": strerror(errno)" (errno as on entry).
 */
int ukit_fmt_errno(struct fmt_err *e, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Drain OpenSSL's error queue into (e) after a failing libcrypto call: the
 * message becomes "WHAT: <first openssl reason>".  Always returns -1.
 */
int ukit_fmt_err_openssl(struct fmt_err *e, uint64_t off, const char *what);

/*
 * Print (e) to (fp) as "PROG: PATH:0xOFF: MSG\n" (parts that are absent are
 * left out).
 */
void ukit_fmt_err_print(FILE *fp, const char *prog, const struct fmt_err *e);

#endif
