/*
 * dsse.h: DSSE envelopes (secure-systems-lab/dsse protocol v1.0.0).
 *
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
 * LEN = ASCII decimal byte length without leading zeros.  The JSON form is
 * {payload (base64), payloadType, signatures [{keyid?, sig (base64)}]}.
 * A verifier trusts only the payload bytes that a signature covered.
 */
#ifndef UKIT_DSSE_H
#define UKIT_DSSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "sig.h"

#define DSSE_INTOTO_TYPE   "application/vnd.in-toto+json"
#define DSSE_MAX_SIGS      8            /* signatures per envelope */
#define DSSE_MAX_PAYLOAD   (512 * 1024) /* bytes, decoded */
#define DSSE_MAX_TYPE      256          /* bytes of payloadType */
#define DSSE_MAX_KEYID     256          /* bytes of a keyid hint */

struct dsse_sig {
	char    *keyid;        /* NULL when absent (unauthenticated hint) */
	uint8_t *sig;
	size_t   siglen;
};

struct dsse_env {
	char           *type;
	uint8_t        *payload;    /* decoded, NUL after payload_len bytes */
	size_t          payload_len;
	size_t          nsig;
	struct dsse_sig sig[DSSE_MAX_SIGS];
};

/* PAE of (type, body) into malloc'd (*out).  0 or -1 with (e). */
int ukit_dsse_pae(const char *type, size_t tlen, const uint8_t *body, size_t blen,
	     uint8_t **out, size_t *outlen, struct fmt_err *e);

/*
 * Decode the envelope object (obj) found at JSON path (path) strictly
 * (exact keys, 1..DSSE_MAX_SIGS signatures, base64 checked).  0 or -1.
 */
int ukit_dsse_from_json(const json_t *obj, const char *path, struct dsse_env *out,
		   struct fmt_err *e);

/* Encode (env) as a new JSON object, or NULL (e set). */
json_t *ukit_dsse_to_json(const struct dsse_env *env, struct fmt_err *e);

/*
 * Sign (payload) of (type) with (k) into a fresh envelope with one
 * signature carrying k's key id.  0 or -1.
 */
int ukit_dsse_sign(const char *type, const uint8_t *payload, size_t len,
	      struct sig_key *k, struct dsse_env *out, struct fmt_err *e);

/*
 * Verify: is there a signature in (env) that (k) verifies over PAE?  When
 * the signature names a keyid it must be k's.  Returns the index of the
 * first such signature, or -1 with (e).
 */
int ukit_dsse_verify(const struct dsse_env *env, const struct sig_key *k,
		struct fmt_err *e);

void ukit_dsse_free(struct dsse_env *env);

#endif
