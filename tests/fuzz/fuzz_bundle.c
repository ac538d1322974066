/*
 * fuzz_bundle.c: the bundle parser, the DSSE envelope inside it, and the
 * statement parser on the envelope's payload (as verify does, minus the
 * signature), plus inspect's certificate decoding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "bundle.h"
#include "cert.h"
#include "statement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { 0 };
	struct bundle b;
	struct stmt st;

	/* The first byte picks the parser, so both see raw JSON too. */
	if (size > 0 && data[0] == 'S') {
		if (ukit_stmt_parse(data + 1, size - 1, &st, &e) == 0)
			ukit_stmt_free(&st);
		return 0;
	}
	if (ukit_bundle_parse((const char *)data, size, &b, &e) != 0)
		return 0;
	if (ukit_stmt_parse(b.env.payload, b.env.payload_len, &st, &e) == 0)
		ukit_stmt_free(&st);
	for (size_t i = 0; i < b.ncert; i++) {
		X509 *x;
		if (ukit_cert_parse_der(b.cert[i], b.cert_len[i], &x, &e) == 0) {
			char subj[256];
			ukit_cert_subject(x, subj, sizeof subj);
			X509_free(x);
		}
	}
	{
		char *out;
		size_t len;
		if (ukit_bundle_serialize(&b, &out, &len, &e) == 0) {
			struct bundle again;
			/* what we write, we read back (when it fits) */
			if (len <= BUNDLE_MAX) {
				if (ukit_bundle_parse(out, len, &again, &e) != 0)
					abort();
				ukit_bundle_free(&again);
			}
			free(out);
		}
	}
	ukit_bundle_free(&b);
	return 0;
}
