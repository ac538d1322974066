/*
 * sig.h: signing keys and signatures for ukit-sign.
 *
 * Algorithms: ECDSA P-256 with SHA-256 (DER signatures, the default),
 * Ed25519 (pure, over the message), RSA (3072..8192 bits) with SHA-256 and
 * PKCS#1 v1.5 padding (RSA_PKCS1V15_SHA256, what sigstore clients verify),
 * or with PSS (MGF1-SHA-256, 32-byte salt) when the key's rsa_pss is set;
 * an RSA signature verifies under either padding.  A key id is the lowercase hex
 * SHA-256 of the key's SubjectPublicKeyInfo DER.
 *
 * Key files, certificates and signatures come from outside and are checked:
 * files are read up to SIG_FILE_MAX, only the algorithms above are accepted.
 */
#ifndef UKIT_SIG_H
#define UKIT_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define SIG_FILE_MAX     (64 * 1024)   /* bytes: key and passphrase files */
#define SIG_PASS_MAX     1024          /* bytes of passphrase */
#define SIG_KEYID_LEN    64            /* hex characters, without NUL */
#define SIG_MAX_LEN      1024          /* bytes of one signature */
#define SIG_RSA_MIN_BITS 3072
#define SIG_RSA_MAX_BITS 8192

enum sig_alg {
	SIG_ECDSA_P256 = 1,
	SIG_ED25519,
	SIG_RSA_PSS,
};

/*
 * A public or private key.  Back ends (files here; PKCS#11 tokens in
 * pkcs11.c) fill it in; everything else uses the functions below.
 * (sign), when set, replaces EVP signing (a token that signs a digest):
 * it gets the message and must return a signature in the same format
 * as ukit_sig_sign().  (verify), when set, replaces the plain EVP check
 * (RSA keys: either padding) and says whether (sig) is valid.
 */
struct sig_key {
	EVP_PKEY    *pkey;          /* public part always; private if held */
	enum sig_alg alg;
	char         keyid[SIG_KEYID_LEN + 1];
	int        (*sign)(struct sig_key *k, const uint8_t *msg, size_t len,
			   uint8_t *sig, size_t *siglen, struct fmt_err *e);
	void        *backend;       /* back end state, freed by (release) */
	void       (*release)(struct sig_key *k);
	bool       (*verify)(const struct sig_key *k, const uint8_t *msg,
			     size_t len, const uint8_t *sig, size_t siglen);
	/* RSA: sign with PSS (MGF1 SHA-256, 32-byte salt) instead of the
	 * default PKCS#1 v1.5 with SHA-256, which is what other Sigstore
	 * clients assume for an RSA key given by a bare hint.  Verification
	 * accepts either. */
	bool         rsa_pss;
};

/*
 * Where a private key's passphrase (or a token's PIN) comes from.
 * (pass_file): read its first line.  Otherwise (prompt), when set, is
 * called with a prompt text; it writes a NUL-terminated secret into (buf)
 * and returns its length, or -1.  Neither set: an encrypted key fails.
 */
struct sig_secret_src {
	const char *pass_file;
	const char *pin_file;       /* PKCS#11 PIN (pkcs11: keys) */
	const char *pkcs11_module;  /* PKCS#11 module; NULL: the default */
	int       (*prompt)(const char *what, char *buf, size_t size,
			    void *arg);
	void       *prompt_arg;
};

/*
 * Keygen names ("ecdsa-p256", "ed25519", "rsa3072", "rsa4096") -> the
 * algorithm and, for RSA, the modulus bits.  0, or -1 for an unknown name.
 */
int ukit_sig_alg_from_name(const char *name, enum sig_alg *out, unsigned *bits);
const char *ukit_sig_alg_name(enum sig_alg alg);

/*
 * Make a new key pair; (bits): the RSA modulus (SIG_RSA_MIN_BITS to
 * SIG_RSA_MAX_BITS), ignored for the others.  0 or -1 with (e).
 */
int ukit_sig_keygen(enum sig_alg alg, unsigned bits, struct sig_key **out,
	       struct fmt_err *e);

/*
 * Load a private key from the file or pipe (spec): PEM PKCS#8, encrypted
 * or not, or a traditional EC/RSA key.  Tokens are keysrc.h's.
 * Returns 0 and (*out), or -1 with (e).
 */
int ukit_sig_key_load_file(const char *spec, const struct sig_secret_src *src,
		      struct sig_key **out, struct fmt_err *e);

/*
 * Parse a PEM private key held in memory (an environment variable, say);
 * (name) is what a passphrase prompt would name.  0 or -1 with (e).
 */
int ukit_sig_key_parse_private(const uint8_t *data, size_t len,
			       const char *name,
			       const struct sig_secret_src *src,
			       struct sig_key **out, struct fmt_err *e);

/* Load an SPKI PEM public key file or pipe.  0 or -1 with (e). */
int ukit_sig_key_load_public(const char *path, struct sig_key **out,
			struct fmt_err *e);

/* Parse an SPKI public key from PEM (buf, len).  0 or -1 with (e). */
int ukit_sig_key_parse_public(const uint8_t *buf, size_t len, struct sig_key **out,
			 struct fmt_err *e);

/*
 * Wrap (pkey) (a reference is taken): check the algorithm, compute the key
 * id.  0 or -1 with (e).
 */
int ukit_sig_key_from_pkey(EVP_PKEY *pkey, struct sig_key **out, struct fmt_err *e);

/* ---- the pinned kinds, what ukit-verify links (sigkey.c) ------------- */

/* ukit_sig_key_from_pkey() for ECDSA P-256 and Ed25519 keys only. */
int ukit_sig_key_pinned(EVP_PKEY *pkey, struct sig_key **out,
			struct fmt_err *e);

/* ukit_sig_key_load_public() for ECDSA P-256 and Ed25519 keys only. */
int ukit_sig_key_load_pinned(const char *path, struct sig_key **out,
			     struct fmt_err *e);

/* Wrap (pkey) of algorithm (alg), unchecked: compute the key id. */
int ukit_sig_key_wrap(EVP_PKEY *pkey, enum sig_alg alg, struct sig_key **out,
		      struct fmt_err *e);

/* An SPKI PEM public key from (buf, len) into (*out).  0 or -1 with (e). */
int ukit_sig_pubkey_parse(const uint8_t *buf, size_t len, EVP_PKEY **out,
			  struct fmt_err *e);

/* NULL is fine. */
void ukit_sig_key_free(struct sig_key *k);

/*
 * PEM text of the private key as PKCS#8, encrypted with AES-256-CBC and
 * PBKDF2 when (pass) is not NULL; of the public key as SPKI.  (*out) is
 * malloc'd (release private text with ukit_sig_free_secret()).
 */
int ukit_sig_key_private_pem(const struct sig_key *k, const char *pass,
			char **out, size_t *len, struct fmt_err *e);
int ukit_sig_key_public_pem(const struct sig_key *k, char **out, size_t *len,
		       struct fmt_err *e);
void ukit_sig_free_secret(void *p, size_t len);

/*
 * Sign (msg, len) into (sig) (room for SIG_MAX_LEN bytes).  0 or -1.
 */
int ukit_sig_sign(struct sig_key *k, const uint8_t *msg, size_t len, uint8_t *sig,
	     size_t *siglen, struct fmt_err *e);

/*
 * Verify (sig) over (msg) with (k).  Returns 0 when valid, -1 with (e)
 * otherwise (bad signature or error).
 */
int ukit_sig_verify(const struct sig_key *k, const uint8_t *msg, size_t len,
	       const uint8_t *sig, size_t siglen, struct fmt_err *e);

/*
 * Read a whole small file (at most (max) bytes) into a malloc'd buffer
 * with a NUL after the data.  0 or -1 with (e).
 */
int ukit_sig_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
		  struct fmt_err *e);

/* ukit_sig_read_file() that also takes a pipe (/dev/stdin, <(...)). */
int ukit_sig_read_input(const char *path, size_t max, uint8_t **out,
			size_t *len, struct fmt_err *e);

/*
 * First line of file (path) (no newline), NUL-terminated, into (buf).
 * (path) may be a pipe (/dev/stdin, /dev/fd/N, a shell's <(...)), so a
 * secret need not be written to disk.  Returns its length, or -1 with (e).
 */
int ukit_sig_read_secret(const char *path, char *buf, size_t size,
		    struct fmt_err *e);

/* Lowercase hex of (len) bytes into (out) (2 * len + 1 bytes). */
void ukit_sig_hex(const uint8_t *buf, size_t len, char *out);

/* ---- shared by sig.c and sigkey.c ---------------------------------- */

/*
 * Read a file of at most (max) bytes into (*out) (owned, NUL-terminated,
 * release with ukit_sig_free_secret(out, max + 1)); with (pipe), a FIFO or
 * /dev/stdin will do, read once.  0 or -1 with (e).
 */
int ukit_sig_read_small(const char *path, size_t max, bool pipe, uint8_t **out,
		   size_t *len, struct fmt_err *e);

#endif
