/*
 * cert.c: X.509 signer checks (see cert.h).  Certificates are untrusted
 * until they chain to a root the caller gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "sig.h"

int ukit_cert_load_pem(const char *path, STACK_OF(X509) **out, struct fmt_err *e)
{
	STACK_OF(X509) *sk;
	uint8_t *data;
	size_t len;
	BIO *bio;
	X509 *x;

	if (ukit_sig_read_input(path, CERT_FILE_MAX, &data, &len, e) != 0)
		return -1;
	bio = BIO_new_mem_buf(data, (int)len);
	sk = sk_X509_new_null();
	if (bio == NULL || sk == NULL) {
		BIO_free(bio);
		sk_X509_free(sk);
		free(data);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "out of memory");
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= CERT_FILE_CERTS || !sk_X509_push(sk, x)) {
			X509_free(x);
			BIO_free(bio);
			free(data);
			sk_X509_pop_free(sk, X509_free);
			return ukit_fmt_errf(e, FMT_NOOFF, "more than %d certificates",
					CERT_FILE_CERTS);
		}
	}
	ERR_clear_error();   /* end of input */
	BIO_free(bio);
	free(data);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return ukit_fmt_errf(e, FMT_NOOFF, "no PEM certificate in file");
	}
	*out = sk;
	return 0;
}

int ukit_cert_parse_der(const uint8_t *der, size_t len, X509 **out,
		   struct fmt_err *e)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "not a DER certificate");
	if (p != der + len) {
		X509_free(x);
		return ukit_fmt_errf(e, FMT_NOOFF, "trailing bytes after certificate");
	}
	*out = x;
	return 0;
}

void ukit_cert_subject(X509 *x, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	buf[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
			       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		if (n > 0)
			snprintf(buf, size, "%.*s", (int)n, p);
	}
	BIO_free(bio);
}

int ukit_cert_self_issued(X509 *x)
{
	return X509_NAME_cmp(X509_get_subject_name(x),
			     X509_get_issuer_name(x)) == 0;
}

int ukit_cert_check_usage(X509 *leaf, struct fmt_err *e)
{
	uint32_t flags = X509_get_extension_flags(leaf);

	if (!(flags & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN))
		return ukit_fmt_errf(e, FMT_NOOFF, "signer certificate lacks the "
				"codeSigning extended key usage");
	if (!(flags & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))
		return ukit_fmt_errf(e, FMT_NOOFF, "signer certificate lacks the "
				"digitalSignature key usage");
	if (flags & EXFLAG_CA)
		return ukit_fmt_errf(e, FMT_NOOFF, "signer certificate is a CA");
	return 0;
}

/*
 * OpenSSL 3's strict mode wants a keyUsage extension on every CA, which
 * `openssl req -x509` does not add by default; `openssl verify` and
 * `openssl cms -verify` accept such CAs (a CA with a keyUsage that lacks
 * keyCertSign is still refused).  Every other strict check stays.
 */
static int chain_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) ==
		   X509_V_ERR_CA_CERT_MISSING_KEY_USAGE) {
		X509_STORE_CTX_set_error(ctx, X509_V_OK);
		return 1;
	}
	return ok;
}

static int check(X509 *leaf, STACK_OF(X509) *untrusted,
		 STACK_OF(X509) *roots, STACK_OF(X509_CRL) *crls,
		 const time_t *at, bool partial, struct fmt_err *e);

int ukit_cert_check_signer(X509 *leaf, STACK_OF(X509) *untrusted,
		      STACK_OF(X509) *roots, const time_t *at,
		      struct fmt_err *e)
{
	return check(leaf, untrusted, roots, NULL, at, false, e);
}

int ukit_cert_check_chain(X509 *leaf, STACK_OF(X509) *untrusted,
			  STACK_OF(X509) *anchors, const time_t *at,
			  bool partial, struct fmt_err *e)
{
	return check(leaf, untrusted, anchors, NULL, at, partial, e);
}

int ukit_cert_check_signer_crl(X509 *leaf, STACK_OF(X509) *untrusted,
			       STACK_OF(X509) *roots,
			       STACK_OF(X509_CRL) *crls, const time_t *at,
			       struct fmt_err *e)
{
	return check(leaf, untrusted, roots, crls, at, false, e);
}

/* "serial 0x.., subject .." of the certificate a failed check stopped at. */
static void failed_cert(X509_STORE_CTX *ctx, char *buf, size_t size)
{
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	BIGNUM *bn;
	char *hex = NULL, subj[256];

	buf[0] = '\0';
	if (x == NULL)
		return;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn != NULL)
		hex = BN_bn2hex(bn);
	ukit_cert_subject(x, subj, sizeof subj);
	snprintf(buf, size, ": serial 0x%s, subject %s", hex ? hex : "?", subj);
	OPENSSL_free(hex);
	BN_free(bn);
}

static int check(X509 *leaf, STACK_OF(X509) *untrusted,
		 STACK_OF(X509) *roots, STACK_OF(X509_CRL) *crls,
		 const time_t *at, bool partial, struct fmt_err *e)
{
	char who[400];
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int rc = -1, err;

	if (store == NULL || ctx == NULL) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(roots); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(roots, i))) {
			ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot add root");
			goto out;
		}
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "X509_STORE_CTX_init");
		goto out;
	}
	X509_STORE_CTX_set_verify_cb(ctx, chain_cb);
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT);
	if (partial)
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	if (crls != NULL) {
		X509_STORE_CTX_set0_crls(ctx, crls);
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK |
					    X509_V_FLAG_CRL_CHECK_ALL);
	}
	if (at != NULL)
		X509_VERIFY_PARAM_set_time(vp, *at);
	else
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		ERR_clear_error();
		who[0] = '\0';
		if (err == X509_V_ERR_CERT_REVOKED ||
		    err == X509_V_ERR_UNABLE_TO_GET_CRL)
			failed_cert(ctx, who, sizeof who);
		ukit_fmt_errf(e, FMT_NOOFF, "certificate chain does not verify: %s "
			 "(depth %d)%s", X509_verify_cert_error_string(err),
			 X509_STORE_CTX_get_error_depth(ctx), who);
		goto out;
	}
	rc = ukit_cert_check_usage(leaf, e);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}
