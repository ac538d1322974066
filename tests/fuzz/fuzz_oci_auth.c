/*
 * fuzz_oci_auth.c: what a registry's headers and the user's files feed
 * the registry client: WWW-Authenticate challenges ('W' + header value),
 * auth files ('A' + host + NUL + JSON) and image references ('R' + text).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocilayout.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { 0 };
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;

	if (size == 0)
		return 0;
	if (data[0] == 'A') {
		const char *nul = memchr(p, 0, n);
		char *u = NULL, *pw = NULL;
		if (nul == NULL)
			return 0;
		if (ukit_oci_authfile_lookup(nul + 1, n - (size_t)(nul + 1 - p),
					     "fuzz", p, &u, &pw, &e) == 1) {
			if (u == NULL || pw == NULL || strchr(u, ':') != NULL)
				abort();        /* the user stops at the first ':' */
			free(u);
			free(pw);
		}
		return 0;
	}
	if (data[0] == 'R') {
		char *s = strndup(p, n);
		struct ukit_oci_ref r;
		if (s == NULL)
			return 0;
		if (ukit_oci_ref_parse(s, &r, &e) == 0)
			ukit_oci_ref_free(&r);
		free(s);
		return 0;
	}
	{
		struct ukit_oci_challenge c;
		if (ukit_oci_challenge_parse(p, n, &c, &e) == 0) {
			if (strlen(c.realm) >= sizeof c.realm ||
			    strlen(c.scheme) >= sizeof c.scheme)
				abort();
		}
	}
	return 0;
}
