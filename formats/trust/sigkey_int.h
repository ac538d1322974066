/*
 * sigkey_int.h: sigkey.c's functions behind ukit_sig_key_wrap(),
 * ukit_sig_key_pinned() and ukit_sig_pubkey_parse() (sig.h), which also
 * carry the key's SPKI, so that a pinned key's id costs no OpenSSL
 * encoder when the key file already holds it (sigkey.c).  Internal to libukit.
 */
#ifndef UKIT_SIGKEY_INT_H
#define UKIT_SIGKEY_INT_H

#include "sig.h"

/* ukit_sig_key_wrap(); the key id hashes (der, derlen) when (der) is
 * not NULL, else i2d_PUBKEY(pkey). */
int ukit_sig_key_wrap_der(EVP_PKEY *pkey, enum sig_alg alg, const uint8_t *der,
			  int derlen, struct sig_key **out, struct fmt_err *e);

/* ukit_sig_key_pinned(), with (der) as for ukit_sig_key_wrap_der(). */
int ukit_sig_key_pinned_der(EVP_PKEY *pkey, const uint8_t *der, int derlen,
			    struct sig_key **out, struct fmt_err *e);

/* ukit_sig_pubkey_parse(); with (der) not NULL, (*der, *derlen) is the
 * key's SPKI in DER, to OPENSSL_free(), when the file holds it in the
 * form i2d_PUBKEY() writes, else (*der) is NULL: the key id then takes
 * i2d_PUBKEY(). */
int ukit_sig_pubkey_parse_der(const uint8_t *buf, size_t len, EVP_PKEY **out,
			      unsigned char **der, int *derlen, struct fmt_err *e);

#endif
