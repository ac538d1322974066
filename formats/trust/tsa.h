/*
 * tsa.h: RFC 3161 trusted time for ukit-sign.  sign --tsa URL asks a time
 * stamping authority for a token over the SHA-256 of the envelope's
 * signature bytes (as Sigstore bundles do) and stores the DER
 * TimeStampResp in verificationMaterial.timestampVerificationData.
 * rfc3161Timestamps[].signedTimestamp; verify --tsa-ca ROOT checks the
 * response (status, signature, TSA certificate chain and timeStamping
 * usage, message imprint) and returns the stamped time.
 */
#ifndef UKIT_TSA_H
#define UKIT_TSA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "err.h"

#define UKIT_TSA_RESP_MAX  (64 * 1024)   /* bytes of one TimeStampResp */

/* A DER TimeStampReq over SHA-256(data) with a random nonce and certReq.
 * (*req) malloc'd.  0 or -1 with (e). */
int ukit_tsa_request(const uint8_t *data, size_t len, uint8_t **req,
		     size_t *reqlen, struct fmt_err *e);

/* POST (req) to (url) (http or https, 30 s, at most UKIT_TSA_RESP_MAX
 * bytes back, 200 and application/timestamp-reply).  (*resp) malloc'd. */
int ukit_tsa_fetch(const char *url, const uint8_t *req, size_t reqlen,
		   uint8_t **resp, size_t *resplen, struct fmt_err *e);

/* sign's check of a fresh response: granted, and it answers (req)
 * (imprint, nonce).  0 or -1 with (e). */
int ukit_tsa_check_reply(const uint8_t *req, size_t reqlen,
			 const uint8_t *resp, size_t resplen,
			 struct fmt_err *e);

/*
 * Verify the DER TimeStampResp (resp) over SHA-256(data) against the TSA
 * roots (roots): status granted, the token's signature by a certificate
 * that chains to a root and has the critical timeStamping extended key
 * usage, the message imprint.  (*gen_time): the stamped time.  0 or -1
 * with (e).
 */
int ukit_tsa_verify(const uint8_t *resp, size_t resplen, const uint8_t *data,
		    size_t len, STACK_OF(X509) *roots, time_t *gen_time,
		    struct fmt_err *e);

#endif
