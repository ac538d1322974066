/*
 * crl.h: certificate revocation lists for verify --crl: a file of PEM
 * CRLs (one or more) or one DER CRL, parsed strictly (at most
 * UKIT_CRL_FILE_MAX bytes, UKIT_CRL_MAX lists, nothing after the last).
 * The lists are checked in the chain verification (cert.h); a revoked leaf
 * or intermediate is refused with its serial number.
 */
#ifndef UKIT_CRL_H
#define UKIT_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "err.h"

#define UKIT_CRL_FILE_MAX  (4 * 1024 * 1024)
#define UKIT_CRL_MAX       64

/* Parse (len) bytes; append the lists to (*sk) (created if NULL).  0, or
 * -1 with (e) (e->off: where the bad list starts). */
int ukit_crl_parse(const uint8_t *buf, size_t len, STACK_OF(X509_CRL) **sk,
		   struct fmt_err *e);

/* ukit_crl_parse() on file (path) (a pipe will do). */
int ukit_crl_load(const char *path, STACK_OF(X509_CRL) **sk,
		  struct fmt_err *e);

#endif
