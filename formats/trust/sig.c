/*
 * sig.c: keys and signatures (see sig.h).  Trusts nothing it reads: key
 * files are size-bounded, algorithms and sizes are checked, OpenSSL's error
 * queue is drained into fmt_err after every failing call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "sig.h"
#include "sigkey_int.h"

static const struct {
	const char  *name;
	enum sig_alg alg;
	unsigned     bits;       /* RSA: the modulus */
} alg_names[] = {
	{ "ecdsa-p256", SIG_ECDSA_P256, 0 },
	{ "ed25519", SIG_ED25519, 0 },
	{ "rsa3072", SIG_RSA_PSS, 3072 },
	{ "rsa4096", SIG_RSA_PSS, 4096 },
};

const char *ukit_sig_alg_name(enum sig_alg alg)
{
	switch (alg) {
	case SIG_ECDSA_P256: return "ecdsa-p256-sha256";
	case SIG_ED25519:    return "ed25519";
	case SIG_RSA_PSS:    return "rsa-sha256";
	}
	return "unknown";
}

void ukit_sig_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int ukit_sig_alg_from_name(const char *name, enum sig_alg *out, unsigned *bits)
{
	for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
		if (strcmp(name, alg_names[i].name) == 0) {
			*out = alg_names[i].alg;
			*bits = alg_names[i].bits;
			return 0;
		}
	return -1;
}

/* ---- key objects ---------------------------------------------------- */

int ukit_sig_keygen(enum sig_alg alg, unsigned bits, struct sig_key **out,
	       struct fmt_err *e)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	switch (alg) {
	case SIG_ECDSA_P256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case SIG_ED25519:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case SIG_RSA_PSS:
		if (bits < SIG_RSA_MIN_BITS || bits > SIG_RSA_MAX_BITS)
			return ukit_fmt_errf(e, FMT_NOOFF, "RSA keys of %u bits: "
					"%u to %u", bits, SIG_RSA_MIN_BITS,
					SIG_RSA_MAX_BITS);
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
		break;
	}
	if (pkey == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "key generation failed");
	rc = ukit_sig_key_from_pkey(pkey, out, e);
	EVP_PKEY_free(pkey);
	return rc;
}

/* ---- loading -------------------------------------------------------- */

struct pass_ctx {
	const struct sig_secret_src *src;
	const char *path;
	struct fmt_err *e;
	int failed;
};

/* First line of (path), at most SIG_PASS_MAX bytes, into (buf). */
int ukit_sig_read_secret(const char *path, char *buf, size_t size,
		    struct fmt_err *e)
{
	uint8_t *data;
	size_t len, n;

	if (ukit_sig_read_small(path, SIG_FILE_MAX, true, &data, &len, e) != 0)
		return -1;
	for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
		;
	if (n >= size || n > SIG_PASS_MAX) {
		ukit_sig_free_secret(data, SIG_FILE_MAX + 1);
		return ukit_fmt_errf(e, FMT_NOOFF, "passphrase longer than %d bytes",
				SIG_PASS_MAX);
	}
	memcpy(buf, data, n);
	buf[n] = '\0';
	ukit_sig_free_secret(data, SIG_FILE_MAX + 1);
	return (int)n;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx *c = u;
	struct fmt_err pe = { .path = NULL, .off = FMT_NOOFF };
	int n = -1;

	(void)rwflag;
	if (size <= 1)
		return -1;
	if (c->src != NULL && c->src->pass_file != NULL) {
		pe.path = c->src->pass_file;
		n = ukit_sig_read_secret(c->src->pass_file, buf, (size_t)size, &pe);
		if (n < 0) {
			ukit_fmt_errf(c->e, FMT_NOOFF, "passphrase file %s: %s",
				 c->src->pass_file, pe.msg);
			c->failed = 1;
		}
	} else if (c->src != NULL && c->src->prompt != NULL) {
		n = c->src->prompt("passphrase for private key", buf,
				   (size_t)size, c->src->prompt_arg);
		if (n < 0) {
			ukit_fmt_errf(c->e, FMT_NOOFF, "no passphrase entered");
			c->failed = 1;
		}
	} else {
		ukit_fmt_errf(c->e, FMT_NOOFF, "key is encrypted and no passphrase "
			 "was given (--passphrase-file)");
		c->failed = 1;
	}
	return n;
}

int ukit_sig_key_parse_private(const uint8_t *data, size_t len,
			       const char *name,
			       const struct sig_secret_src *src,
			       struct sig_key **out, struct fmt_err *e)
{
	struct pass_ctx pc = { .src = src, .path = name, .e = e };
	EVP_PKEY *pkey;
	BIO *bio;
	int rc;

	if (len > SIG_FILE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "private key too large (%zu > %d "
				"bytes)", len, SIG_FILE_MAX);
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "BIO_new_mem_buf");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, &pc);
	BIO_free(bio);
	if (pkey == NULL) {
		if (pc.failed) {
			ERR_clear_error();
			return -1;
		}
		return ukit_fmt_err_openssl(e, FMT_NOOFF,
				       "cannot read private key (wrong passphrase or not a PEM private key)");
	}
	rc = ukit_sig_key_from_pkey(pkey, out, e);
	EVP_PKEY_free(pkey);
	return rc;
}

int ukit_sig_key_load_file(const char *spec, const struct sig_secret_src *src,
		      struct sig_key **out, struct fmt_err *e)
{
	uint8_t *data;
	size_t len;
	int rc;

	/* read once, so a pipe will do: a key need not be written to disk */
	if (ukit_sig_read_small(spec, SIG_FILE_MAX, true, &data, &len, e) != 0)
		return -1;
	rc = ukit_sig_key_parse_private(data, len, spec, src, out, e);
	ukit_sig_free_secret(data, SIG_FILE_MAX + 1);
	return rc;
}

/* ---- PEM output ----------------------------------------------------- */

static int bio_take(BIO *bio, char **out, size_t *len, struct fmt_err *e)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	char *copy;

	if (n <= 0)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "empty PEM output");
	copy = malloc((size_t)n + 1);
	if (copy == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	memcpy(copy, p, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	*len = (size_t)n;
	return 0;
}

int ukit_sig_key_private_pem(const struct sig_key *k, const char *pass,
			char **out, size_t *len, struct fmt_err *e)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	int ok, rc;

	if (bio == NULL)
		bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "BIO_new");
	if (pass != NULL)
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k->pkey,
			EVP_aes_256_cbc(), NULL, 0, NULL, (void *)pass);
	else
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k->pkey, NULL, NULL, 0,
						   NULL, NULL);
	if (!ok) {
		BIO_free(bio);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot encode private key");
	}
	rc = bio_take(bio, out, len, e);
	BIO_free(bio);
	return rc;
}

int ukit_sig_key_public_pem(const struct sig_key *k, char **out, size_t *len,
		       struct fmt_err *e)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc;

	if (bio == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "BIO_new");
	if (!PEM_write_bio_PUBKEY(bio, k->pkey)) {
		BIO_free(bio);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot encode public key");
	}
	rc = bio_take(bio, out, len, e);
	BIO_free(bio);
	return rc;
}

/* (md) to sign (signing 1) or verify with (k); RSA with PSS when (pss). */
static int ctx_setup(EVP_MD_CTX *md, const struct sig_key *k, int signing,
		     bool pss, struct fmt_err *e)
{
	const EVP_MD *dgst = k->alg == SIG_ED25519 ? NULL : EVP_sha256();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (signing)
		ok = EVP_DigestSignInit(md, &pctx, dgst, NULL, k->pkey);
	else
		ok = EVP_DigestVerifyInit(md, &pctx, dgst, NULL, k->pkey);
	if (ok != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, signing ?
				       "EVP_DigestSignInit" : "EVP_DigestVerifyInit");
	if (k->alg == SIG_RSA_PSS && !pss &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "RSA PKCS#1 v1.5 padding");
	if (k->alg == SIG_RSA_PSS && pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "RSA-PSS parameters");
	return 0;
}

/* RSA: PKCS#1 v1.5, then PSS (a bare key hint does not say which). */
static bool rsa_verify(const struct sig_key *k, const uint8_t *msg, size_t len,
		       const uint8_t *sig, size_t siglen)
{
	for (int pss = 0; pss <= 1; pss++) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		bool ok = md != NULL && ctx_setup(md, k, 0, pss, NULL) == 0 &&
			  EVP_DigestVerify(md, sig, siglen, msg, len) == 1;

		EVP_MD_CTX_free(md);
		if (ok)
			return true;
		ERR_clear_error();
	}
	return false;
}

int ukit_sig_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
		  struct fmt_err *e)
{
	return ukit_sig_read_small(path, max, false, out, len, e);
}

int ukit_sig_key_wrap(EVP_PKEY *pkey, enum sig_alg alg, struct sig_key **out,
		      struct fmt_err *e)
{
	return ukit_sig_key_wrap_der(pkey, alg, NULL, 0, out, e);
}

int ukit_sig_key_pinned(EVP_PKEY *pkey, struct sig_key **out,
			struct fmt_err *e)
{
	return ukit_sig_key_pinned_der(pkey, NULL, 0, out, e);
}

int ukit_sig_pubkey_parse(const uint8_t *buf, size_t len, EVP_PKEY **out,
			  struct fmt_err *e)
{
	return ukit_sig_pubkey_parse_der(buf, len, out, NULL, NULL, e);
}

/* ukit_sig_key_from_pkey(), with (der) as for ukit_sig_key_wrap_der() */
static int key_from_pkey(EVP_PKEY *pkey, const uint8_t *der, int derlen,
			 struct sig_key **out, struct fmt_err *e)
{
	const char *type = EVP_PKEY_get0_type_name(pkey);
	int id = EVP_PKEY_get_base_id(pkey), bits;

	if (id == EVP_PKEY_EC || id == EVP_PKEY_ED25519)
		return ukit_sig_key_pinned_der(pkey, der, derlen, out, e);
	if (id != EVP_PKEY_RSA)
		return ukit_fmt_errf(e, FMT_NOOFF, "key type %s not supported "
				"(want ECDSA P-256, Ed25519 or RSA)",
				type ? type : "?");
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < SIG_RSA_MIN_BITS || bits > SIG_RSA_MAX_BITS)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"RSA key of %d bits not supported (want %d..%d)",
				bits, SIG_RSA_MIN_BITS, SIG_RSA_MAX_BITS);
	if (ukit_sig_key_wrap_der(pkey, SIG_RSA_PSS, der, derlen, out, e) != 0)
		return -1;
	(*out)->verify = rsa_verify;
	return 0;
}

int ukit_sig_key_from_pkey(EVP_PKEY *pkey, struct sig_key **out, struct fmt_err *e)
{
	return key_from_pkey(pkey, NULL, 0, out, e);
}

int ukit_sig_key_parse_public(const uint8_t *buf, size_t len, struct sig_key **out,
			 struct fmt_err *e)
{
	unsigned char *der = NULL;
	EVP_PKEY *pkey;
	int rc, derlen = 0;

	if (ukit_sig_pubkey_parse_der(buf, len, &pkey, &der, &derlen, e) != 0)
		return -1;
	rc = key_from_pkey(pkey, der, derlen, out, e);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return rc;
}

int ukit_sig_key_load_public(const char *path, struct sig_key **out,
			struct fmt_err *e)
{
	uint8_t *data;
	size_t len;
	int rc;

	if (ukit_sig_read_small(path, SIG_FILE_MAX, true, &data, &len, e) != 0)
		return -1;
	rc = ukit_sig_key_parse_public(data, len, out, e);
	free(data);
	return rc;
}


/* ---- sign and verify ------------------------------------------------ */

int ukit_sig_sign(struct sig_key *k, const uint8_t *msg, size_t len, uint8_t *sig,
	     size_t *siglen, struct fmt_err *e)
{
	EVP_MD_CTX *md;
	size_t n = SIG_MAX_LEN;
	int rc = -1;

	if (k->sign != NULL)
		return k->sign(k, msg, len, sig, siglen, e);
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "EVP_MD_CTX_new");
	if (ctx_setup(md, k, 1, k->rsa_pss, e) != 0)
		goto out;
	if (EVP_DigestSign(md, NULL, &n, msg, len) != 1 || n > SIG_MAX_LEN) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "signature size");
		goto out;
	}
	if (EVP_DigestSign(md, sig, &n, msg, len) != 1) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "signing failed");
		goto out;
	}
	*siglen = n;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int ukit_sig_read_input(const char *path, size_t max, uint8_t **out,
			size_t *len, struct fmt_err *e)
{
	return ukit_sig_read_small(path, max, true, out, len, e);
}
