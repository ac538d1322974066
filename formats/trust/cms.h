/*
 * cms.h: detached DER CMS SignedData (RFC 5652) over an image's bytes, the
 * form `openssl cms -verify -binary -inform DER -content IMAGE` accepts.
 *
 * Signing streams: the image bytes are fed in chunks through the CMS
 * digest BIOs (CMS_PARTIAL, never CMS_STREAM, which with DER output would
 * embed the content), so memory stays bounded whatever the image size.
 * Verification reads the image through an fd BIO into a null sink.
 */
#ifndef UKIT_CMS_H
#define UKIT_CMS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

#define CMS_DER_MAX (1u << 20)   /* bytes, a .p7s we accept or write */

struct cms_signer;

/*
 * Start a detached signature with (key) and its certificate (cert) (both
 * borrowed; the certificate and (chain), which may be NULL, are included in
 * the output).  Returns 0 and (*out), or -1 with (e).
 */
int ukit_cms_sign_begin(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
		   struct cms_signer **out, struct fmt_err *e);

/* Feed the next (len) content bytes.  0 or -1 with (e). */
int ukit_cms_sign_update(struct cms_signer *s, const void *buf, size_t len,
		    struct fmt_err *e);

/*
 * Finish: sign, then return the DER in (*der) (free with OPENSSL_free) of
 * (*len) bytes.  0 or -1 with (e).
 */
int ukit_cms_sign_final(struct cms_signer *s, uint8_t **der, size_t *len,
		   struct fmt_err *e);

/* NULL is fine. */
void ukit_cms_signer_free(struct cms_signer *s);

/*
 * Parse (len) bytes of DER: a CMS SignedData, detached (no content), with
 * exactly one signer.  Returns 0 and (*out) (CMS_ContentInfo_free), or -1
 * with (e).  Outside bytes: the fuzzers' entry point.
 */
int ukit_cms_parse(const uint8_t *buf, size_t len, CMS_ContentInfo **out,
	      struct fmt_err *e);

/*
 * Check the signature of (cms) over the bytes of (fd) read from offset 0
 * to end of file (bounded memory; the certificate chain is NOT checked
 * here, the caller does that on (*signer) and (*certs)).  Returns 0 with
 * (*signer) (the signing certificate, X509_free) and (*certs) (every
 * certificate in the message, sk_X509_pop_free(.., X509_free)), or -1
 * with (e).
 */
int ukit_cms_verify_fd(CMS_ContentInfo *cms, int fd, X509 **signer,
		  STACK_OF(X509) **certs, struct fmt_err *e);

#endif
