/*
 * cms.c: detached CMS SignedData, signed by streaming, verified from an fd.
 *
 * Trusts nothing in a .p7s: it is parsed from a bounded buffer, must be
 * signedData, detached, with one signer; the chain is left to the caller
 * (the same code-signing checks as bundles).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "cms.h"

#define CMS_FLAGS (CMS_DETACHED | CMS_BINARY | CMS_PARTIAL)

struct cms_signer {
	CMS_ContentInfo *cms;
	BIO             *bio;        /* CMS_dataInit(): digests, null sink */
};

void ukit_cms_signer_free(struct cms_signer *s)
{
	if (s == NULL)
		return;
	BIO_free_all(s->bio);
	CMS_ContentInfo_free(s->cms);
	free(s);
}

int ukit_cms_sign_begin(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
		   struct cms_signer **out, struct fmt_err *e)
{
	struct cms_signer *s = calloc(1, sizeof *s);
	CMS_SignerInfo *si;
	int id = EVP_PKEY_get_base_id(key);
	bool rsa = id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS;

	if (s == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "cms");
	if (!rsa && id != EVP_PKEY_EC) {
		free(s);
		return ukit_fmt_errf(e, FMT_NOOFF, "CMS signatures need an ECDSA or "
				"RSA key (OpenSSL 3.0 has no Ed25519 CMS "
				"signing)");
	}
	ERR_clear_error();
	s->cms = CMS_sign(NULL, NULL, chain, NULL, CMS_FLAGS);
	/* RSA keys sign with PSS, as ukit's bundles do. */
	si = s->cms == NULL || CMS_set_detached(s->cms, 1) != 1 ? NULL :
	     CMS_add1_signer(s->cms, cert, key, EVP_sha256(),
			     CMS_BINARY | (rsa ? CMS_KEY_PARAM : 0));
	if (si == NULL ||
	    (rsa && (EVP_PKEY_CTX_set_rsa_padding(
			     CMS_SignerInfo_get0_pkey_ctx(si),
			     RSA_PKCS1_PSS_PADDING) <= 0 ||
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(
			     CMS_SignerInfo_get0_pkey_ctx(si),
			     RSA_PSS_SALTLEN_DIGEST) <= 0))) {
		ukit_cms_signer_free(s);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: cannot add the signer");
	}
	s->bio = CMS_dataInit(s->cms, NULL);
	if (s->bio == NULL) {
		ukit_cms_signer_free(s);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: CMS_dataInit");
	}
	*out = s;
	return 0;
}

int ukit_cms_sign_update(struct cms_signer *s, const void *buf, size_t len,
		    struct fmt_err *e)
{
	const uint8_t *p = buf;

	while (len > 0) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		int w = BIO_write(s->bio, p, n);
		if (w <= 0)
			return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: digesting");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int self_check(const uint8_t *der, size_t len, struct fmt_err *e)
{
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	int ok;

	if (ukit_cms_parse(der, len, &cms, e) < 0)
		return -1;
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	ok = CMS_set1_signers_certs(cms, NULL, 0) >= 0 &&
	     CMS_SignerInfo_verify(si) == 1;
	CMS_ContentInfo_free(cms);
	if (!ok)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: self-check of the "
				       "new signature failed");
	return 0;
}

int ukit_cms_sign_final(struct cms_signer *s, uint8_t **der, size_t *len,
		   struct fmt_err *e)
{
	unsigned char *out = NULL;
	int n;

	if (BIO_flush(s->bio) != 1 || CMS_dataFinal(s->cms, s->bio) != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: signing failed");
	n = i2d_CMS_ContentInfo(s->cms, &out);
	if (n <= 0)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cms: DER encoding");
	/* Self-check: what we write parses and its signature verifies. */
	if (self_check(out, (size_t)n, e) < 0) {
		OPENSSL_free(out);
		return -1;
	}
	*der = out;
	*len = (size_t)n;
	return 0;
}

int ukit_cms_parse(const uint8_t *buf, size_t len, CMS_ContentInfo **out,
	      struct fmt_err *e)
{
	const unsigned char *p = buf;
	CMS_ContentInfo *cms;
	STACK_OF(CMS_SignerInfo) *si;
	int n;

	if (len > CMS_DER_MAX)
		return ukit_fmt_errf(e, 0, "CMS signature of %zu bytes exceeds the "
				"limit of %u", len, CMS_DER_MAX);
	ERR_clear_error();
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL)
		return ukit_fmt_err_openssl(e, (uint64_t)(p - buf),
				       "not a DER CMS message");
	if ((size_t)(p - buf) != len) {
		ukit_fmt_errf(e, (uint64_t)(p - buf), "trailing bytes after the CMS "
			 "message (%zu of %zu bytes used)", (size_t)(p - buf),
			 len);
		goto fail;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		ukit_fmt_errf(e, 0, "CMS message is not SignedData");
		goto fail;
	}
	if (CMS_is_detached(cms) != 1) {
		ukit_fmt_errf(e, 0, "CMS SignedData embeds its content; want a "
			 "detached signature");
		goto fail;
	}
	si = CMS_get0_SignerInfos(cms);
	n = si ? sk_CMS_SignerInfo_num(si) : 0;
	if (n != 1) {
		ukit_fmt_errf(e, 0, "CMS SignedData has %d signers; want 1", n);
		goto fail;
	}
	ERR_clear_error();
	*out = cms;
	return 0;
fail:
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return -1;
}

int ukit_cms_verify_fd(CMS_ContentInfo *cms, int fd, X509 **signer,
		  STACK_OF(X509) **certs, struct fmt_err *e)
{
	STACK_OF(X509) *signers;
	BIO *in;
	int ok;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "seeking to the start");
	in = BIO_new_fd(fd, BIO_NOCLOSE);
	if (in == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "BIO_new_fd");
	ERR_clear_error();
	/* The chain is the caller's: code signing needs more than CMS's. */
	ok = CMS_verify(cms, NULL, NULL, in, NULL,
			CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
	BIO_free(in);
	if (ok != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF,
				       "CMS signature does not verify");
	signers = CMS_get0_signers(cms);
	if (signers == NULL || sk_X509_num(signers) != 1) {
		sk_X509_free(signers);
		return ukit_fmt_errf(e, FMT_NOOFF, "CMS signer certificate missing");
	}
	*signer = sk_X509_value(signers, 0);
	X509_up_ref(*signer);
	sk_X509_free(signers);
	*certs = CMS_get1_certs(cms);
	if (*certs == NULL)
		*certs = sk_X509_new_null();
	return 0;
}
