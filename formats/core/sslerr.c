/*
 * sslerr.c: OpenSSL's error queue into a struct fmt_err (err.h).  Apart
 * from err.c so that what never calls OpenSSL does not link libcrypto.
 */
#include <stdint.h>

#include <openssl/err.h>

#include "err.h"

int ukit_fmt_err_openssl(struct fmt_err *e, uint64_t off, const char *what)
{
	unsigned long code, first = 0;
	char buf[160];

	while ((code = ERR_get_error_all(NULL, NULL, NULL, NULL, NULL)) != 0)
		if (first == 0)
			first = code;
	if (first == 0)
		return ukit_fmt_errf(e, off, "%s", what);
	ERR_error_string_n(first, buf, sizeof buf);
	return ukit_fmt_errf(e, off, "%s: %s", what, buf);
}
