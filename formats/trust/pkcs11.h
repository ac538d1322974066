/*
 * pkcs11.h: private keys on a PKCS#11 token, through OpenSSL's pkcs11
 * engine (libp11's engine_pkcs11, Debian libengine-pkcs11-openssl).
 *
 * ukit hashes locally; only a digest goes to the token.  The PIN is never
 * part of a message: a "pin-value" attribute is taken out of the URI before
 * the engine sees it (libp11 prints URIs in its own messages, which are
 * silenced as well), and every copy is cleansed.
 */
#ifndef UKIT_PKCS11_H
#define UKIT_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define P11_URI_MAX   1024   /* bytes, a pkcs11: URI */
#define P11_PIN_MAX   256    /* bytes */
#define P11_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

struct p11;

/* True if (s) is a "pkcs11:" URI. */
bool ukit_p11_is_uri(const char *s);

/*
 * Split (uri) into the URI the engine gets (every "pin-value" and
 * "module-path" attribute removed; written to (clean), (clean_len) bytes)
 * and the percent-decoded pin-value and module-path ((pin) and (module),
 * P11_PIN_MAX and P11_URI_MAX bytes; "" when absent).  Returns 0, or -1
 * with (e) set (not a pkcs11: URI, too long, bad escape).
 */
int ukit_p11_uri_split(const char *uri, char *clean, size_t clean_len,
		  char *pin, char *module, struct fmt_err *e);

/*
 * Load the private key named by (uri) from the PKCS#11 module (module)
 * (NULL or "": the URI's module-path, else P11_DEFAULT_MODULE), logging in
 * with (pin) (NULL: the URI's pin-value, which must then be present).
 * Returns 0 with (*out) and (*key) (borrowed from (*out), valid until
 * ukit_p11_close()), or -1 with (e) set: the engine is missing, the token or the
 * object is not found, the PIN is wrong.
 */
int ukit_p11_open(const char *uri, const char *module, const char *pin,
	     struct p11 **out, EVP_PKEY **key, struct fmt_err *e);

/*
 * Sign the SHA-256 digest (dgst) with the token key: an ECDSA DER signature
 * (or RSA PKCS#1 v1.5, or RSA-PSS with (pss)) in (sig) of (*sig_len) bytes
 * (in: capacity).  0 or -1 with (e).
 */
int ukit_p11_sign_digest(struct p11 *p, const uint8_t dgst[32], bool pss,
		    uint8_t *sig, size_t *sig_len, struct fmt_err *e);

/* Release the key, then the engine.  NULL is fine. */
void ukit_p11_close(struct p11 *p);

struct sig_key;
struct sig_secret_src;

/*
 * sig.h's back end for "pkcs11:" keys: a struct sig_key whose public half
 * is a software copy of the token's public key (key id, self-checks) and
 * whose signing hashes the message locally and has the token sign the
 * SHA-256 digest.  The PIN comes from (src)->pin_file, else the URI's
 * pin-value, else (src)->prompt; the module from (src)->pkcs11_module.
 * Only ECDSA P-256 token keys are accepted.  0 or -1 with (e).
 */
int ukit_p11_sig_key_load(const char *uri, const struct sig_secret_src *src,
		     struct sig_key **out, struct fmt_err *e);

/* The token's EVP_PKEY behind a ukit_p11_sig_key_load() key, else NULL. */
EVP_PKEY *ukit_p11_sig_key_token_pkey(const struct sig_key *k);

#endif
