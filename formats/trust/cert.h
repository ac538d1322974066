/*
 * cert.h: X.509 signer checks for ukit-sign: a leaf certificate must chain
 * to one of the given roots through the given intermediates and carry the
 * codeSigning extended key usage and the digitalSignature key usage.
 * OpenSSL 3.0 has no code-signing purpose, so the usages are checked here.
 */
#ifndef UKIT_CERT_H
#define UKIT_CERT_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "err.h"

#define CERT_FILE_MAX  (1024 * 1024)   /* bytes of a PEM file */
#define CERT_FILE_CERTS 16             /* certificates in one file */

/* Every certificate in PEM file (path) (at least one).  0 or -1. */
int ukit_cert_load_pem(const char *path, STACK_OF(X509) **out, struct fmt_err *e);

/* One DER certificate.  0 or -1. */
int ukit_cert_parse_der(const uint8_t *der, size_t len, X509 **out,
		   struct fmt_err *e);

/*
 * Check (leaf) as a code signer: chains to a certificate in (roots)
 * through (untrusted) (may be NULL), usages as above.  Validity times are
 * checked at (*at) when (at) is not NULL, otherwise ignored.  Returns 0, or
 * -1 with every failure named in (e).
 */
int ukit_cert_check_signer(X509 *leaf, STACK_OF(X509) *untrusted,
		      STACK_OF(X509) *roots, const time_t *at,
		      struct fmt_err *e);

/*
 * ukit_cert_check_signer() for sign, before the bundle is written: with
 * (partial), (anchors) may be the top of the chain that sign was given
 * rather than a root (X509_V_FLAG_PARTIAL_CHAIN), so everything below the
 * root is still checked as verify will.
 */
int ukit_cert_check_chain(X509 *leaf, STACK_OF(X509) *untrusted,
			  STACK_OF(X509) *anchors, const time_t *at,
			  bool partial, struct fmt_err *e);

/*
 * ukit_cert_check_signer() with revocation: (crls) (crl.h) must hold a current
 * list from the issuer of every certificate in the chain (leaf and
 * intermediates); a revoked one is refused with its serial number and
 * subject.
 */
int ukit_cert_check_signer_crl(X509 *leaf, STACK_OF(X509) *untrusted,
			       STACK_OF(X509) *roots,
			       STACK_OF(X509_CRL) *crls, const time_t *at,
			       struct fmt_err *e);

/* Leaf usages alone (for signing: refuse a certificate that won't verify). */
int ukit_cert_check_usage(X509 *leaf, struct fmt_err *e);

/* The subject as an RFC 2253 string into (buf). */
void ukit_cert_subject(X509 *x, char *buf, size_t size);

/* Is (x) self-issued (subject == issuer)? */
int ukit_cert_self_issued(X509 *x);

#endif
