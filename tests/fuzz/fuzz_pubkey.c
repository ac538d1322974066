/*
 * fuzz_pubkey.c: a pinned public key file on arbitrary bytes, the way
 * ukit-verify --pub reads it (ukit_sig_pubkey_parse_der(), then
 * ukit_sig_key_pinned_der()).  A key it accepts must have the id of its
 * SPKI as i2d_PUBKEY() encodes it, the id every other path computes,
 * whether the file's own DER stood for it or not; a refusal must leave
 * no key and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sig.h"
#include "sigkey_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { .off = FMT_NOOFF };
	struct sig_key *k = NULL, *w = NULL;
	unsigned char *der = NULL;
	EVP_PKEY *pkey = NULL;
	int derlen = 0;

	if (ukit_sig_pubkey_parse_der(data, size, &pkey, &der, &derlen, &e) != 0) {
		if (pkey != NULL || e.msg[0] == '\0' ||
		    memchr(e.msg, '\0', sizeof e.msg) == NULL)
			abort();
		return 0;
	}
	if (pkey == NULL || (der != NULL && derlen <= 0))
		abort();
	if (ukit_sig_key_pinned_der(pkey, der, derlen, &k, &e) == 0) {
		if (ukit_sig_key_wrap(pkey, k->alg, &w, &e) != 0 ||
		    strcmp(w->keyid, k->keyid) != 0)
			abort();
	} else if (k != NULL || e.msg[0] == '\0') {
		abort();
	}
	ukit_sig_key_free(w);
	ukit_sig_key_free(k);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return 0;
}
