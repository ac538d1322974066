/*
 * sigkey.c: what a device's verifier needs of sig.h: pinned ECDSA P-256
 * and Ed25519 public keys and their signature checks; RSA keys, private
 * keys and signing are sig.c's.  Trusts nothing it reads: key files are
 * size-bounded, keys are checked for their type.
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
#include <openssl/sha.h>
#include <openssl/x509.h>
#include "sig.h"
#include "sigkey_int.h"

void ukit_sig_hex(const uint8_t *buf, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hx[buf[i] >> 4];
		out[2 * i + 1] = hx[buf[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ukit_sig_read_file(); (pipe): a pipe will do too (st_size says nothing). */
int ukit_sig_read_small(const char *path, size_t max, bool pipe, uint8_t **out,
		      size_t *len, struct fmt_err *e)
{
	struct stat st;
	uint8_t *buf;
	size_t n = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot open");
	if (fstat(fd, &st) != 0 ||
	    !(S_ISREG(st.st_mode) || (pipe && S_ISFIFO(st.st_mode)))) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, pipe ? "not a regular file or "
				"a pipe" : "not a regular file");
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "file too large (%lld > %zu bytes)",
				(long long)st.st_size, max);
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		close(fd);
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ukit_fmt_errno(e, n, "read");
			OPENSSL_clear_free(buf, max + 1);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			OPENSSL_clear_free(buf, max + 1);
			close(fd);
			return ukit_fmt_errf(e, FMT_NOOFF, "file too large (> %zu bytes)",
					max);
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/*
 * Wrap (pkey), its key id from (der), its SPKI, when the caller has it
 * (pinned keys: pubkey_parse), else from i2d_PUBKEY().
 */
int ukit_sig_key_wrap_der(EVP_PKEY *pkey, enum sig_alg alg, const uint8_t *der,
			  int derlen, struct sig_key **out, struct fmt_err *e)
{
	unsigned char *own = NULL;
	uint8_t md[SHA256_DIGEST_LENGTH];
	struct sig_key *k;

	if (der == NULL) {
		derlen = i2d_PUBKEY(pkey, &own);
		der = own;
	}
	if (derlen <= 0)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot encode public key");
	SHA256(der, (size_t)derlen, md);
	OPENSSL_free(own);
	k = calloc(1, sizeof *k);
	if (k == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	if (!EVP_PKEY_up_ref(pkey)) {
		free(k);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "EVP_PKEY_up_ref");
	}
	k->pkey = pkey;
	k->alg = alg;
	ukit_sig_hex(md, sizeof md, k->keyid);
	*out = k;
	return 0;
}

int ukit_sig_key_pinned_der(EVP_PKEY *pkey, const uint8_t *der, int derlen,
			    struct sig_key **out, struct fmt_err *e)
{
	const char *type = EVP_PKEY_get0_type_name(pkey);
	char group[64];

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		return ukit_sig_key_wrap_der(pkey, SIG_ED25519, der, derlen, out, e);
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
		return ukit_fmt_errf(e, FMT_NOOFF, "key type %s not supported "
				"(want ECDSA P-256 or Ed25519)", type ? type : "?");
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					    group, sizeof group, NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "EC key without a named curve");
	if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"EC curve %s not supported (want P-256)", group);
	return ukit_sig_key_wrap_der(pkey, SIG_ECDSA_P256, der, derlen, out, e);
}

void ukit_sig_key_free(struct sig_key *k)
{
	if (k == NULL)
		return;
	if (k->release != NULL)
		k->release(k);
	EVP_PKEY_free(k->pkey);
	free(k);
}

/*
 * (d, n) is the SPKI of an Ed25519 key, or of a P-256 key with an
 * uncompressed point, byte for byte as i2d_PUBKEY() writes it; any other
 * form of those keys (a compressed or hybrid point, explicit curve
 * parameters, a BIT STRING with unused bits) is not.
 */
static bool spki_canonical(const unsigned char *d, long n)
{
	static const uint8_t ed[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
		0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
	static const uint8_t p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07,
		0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
		0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04 };

	return (n == 44 && memcmp(d, ed, sizeof ed) == 0) ||
	       (n == 91 && memcmp(d, p256, sizeof p256) == 0);
}

/*
 * The "PUBLIC KEY" PEM block of (buf, len) as a key; with (der), its
 * DER when that is the SPKI i2d_PUBKEY() would write (spki_canonical()),
 * else NULL.  Not PEM_read_bio_PUBKEY() and i2d_PUBKEY() for every key:
 * their decoder and encoder set-up costs 6 million instructions, 40% of
 * verifying a small image on a device (bench/verify-latency.sh).
 */
int ukit_sig_pubkey_parse_der(const uint8_t *buf, size_t len, EVP_PKEY **out,
			      unsigned char **der, int *derlen, struct fmt_err *e)
{
	unsigned char *data = NULL;
	const unsigned char *p;
	long n = 0;
	BIO *bio;

	*out = NULL;
	if (len > SIG_FILE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "public key too large (%zu > %d bytes)",
				len, SIG_FILE_MAX);
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL &&
	    PEM_bytes_read_bio(&data, &n, NULL, PEM_STRING_PUBLIC, bio, NULL, NULL)) {
		p = data;
		*out = d2i_PUBKEY(NULL, &p, n);
	}
	BIO_free(bio);
	if (*out != NULL && der != NULL && p == data + n && spki_canonical(data, n)) {
		*der = data;
		*derlen = (int)n;
		data = NULL;
	}
	OPENSSL_free(data);
	if (*out == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF,
				       "not a PEM public key (SubjectPublicKeyInfo)");
	return 0;
}

int ukit_sig_key_load_pinned(const char *path, struct sig_key **out,
			     struct fmt_err *e)
{
	unsigned char *der = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t *data;
	size_t len;
	int rc, derlen = 0;

	if (ukit_sig_read_small(path, SIG_FILE_MAX, true, &data, &len, e) != 0)
		return -1;
	rc = ukit_sig_pubkey_parse_der(data, len, &pkey, &der, &derlen, e);
	free(data);
	if (rc == 0)
		rc = ukit_sig_key_pinned_der(pkey, der, derlen, out, e);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return rc;
}

int ukit_sig_verify(const struct sig_key *k, const uint8_t *msg, size_t len,
	       const uint8_t *sig, size_t siglen, struct fmt_err *e)
{
	const EVP_MD *dgst = k->alg == SIG_ED25519 ? NULL : EVP_sha256();
	EVP_MD_CTX *md;
	bool ok;

	if (siglen == 0 || siglen > SIG_MAX_LEN)
		return ukit_fmt_errf(e, FMT_NOOFF, "signature length %zu outside 1..%d",
				siglen, SIG_MAX_LEN);
	if (k->verify != NULL) {
		ok = k->verify(k, msg, len, sig, siglen);
	} else {
		md = EVP_MD_CTX_new();
		ok = md != NULL &&
		     EVP_DigestVerifyInit(md, NULL, dgst, NULL, k->pkey) == 1 &&
		     EVP_DigestVerify(md, sig, siglen, msg, len) == 1;
		EVP_MD_CTX_free(md);
	}
	if (ok)
		return 0;
	ERR_clear_error();
	return ukit_fmt_errf(e, FMT_NOOFF, "signature does not verify with key %.16s",
			k->keyid);
}
