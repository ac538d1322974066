/*
 * bundle.h: Sigstore bundle JSON holding a DSSE envelope, and the footer
 * that appends a bundle to an image.
 *
 * Bundle: {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
 *          "verificationMaterial": {"publicKey": {"hint": KEYID}} or
 *              {"certificate": {"rawBytes": B64}} (v0.3: the leaf alone;
 *               intermediates belong to the verifier's trust material) or
 *              {"x509CertificateChain": {"certificates": [{"rawBytes": B64}
 *               ...]}} (the older form: leaf first, then intermediates,
 *               never the root),
 *              optionally "tlogEntries": [] (must be empty: no log here),
 *              optionally "timestampVerificationData": {"rfc3161Timestamps":
 *               [{"signedTimestamp": B64}]} (one RFC 3161 response),
 *          "dsseEnvelope": {...}}
 *
 * Read: media types v0.3 (both spellings) and v0.2; the certificate form
 * only in v0.3.  Written: v0.3 with publicKey or certificate; a leaf with
 * intermediates in the chain form under the v0.2 media type (sigstore
 * clients refuse the chain form in a v0.3 bundle).
 *
 * Appended form: IMAGE bytes, bundle JSON, then struct sigfoot_abi (64
 * bytes, little-endian), ending exactly at end of file.
 */
#ifndef UKIT_BUNDLE_H
#define UKIT_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "dsse.h"
#include "err.h"

#define BUNDLE_MEDIA_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define BUNDLE_MEDIA_TYPE_V03_LEGACY \
	"application/vnd.dev.sigstore.bundle+json;version=0.3"
#define BUNDLE_MEDIA_TYPE_V02 \
	"application/vnd.dev.sigstore.bundle+json;version=0.2"
#define BUNDLE_MAX        (1024 * 1024)  /* bytes of bundle JSON */
#define BUNDLE_MAX_CERTS  8              /* leaf + intermediates */
#define BUNDLE_CERT_MAX   (64 * 1024)    /* bytes of one DER certificate */

struct bundle {
	char          *hint;               /* publicKey.hint, or NULL */
	size_t         ncert;              /* 0 with a hint */
	uint8_t       *cert[BUNDLE_MAX_CERTS];   /* DER */
	size_t         cert_len[BUNDLE_MAX_CERTS];
	struct dsse_env env;
	/* verificationMaterial.timestampVerificationData.rfc3161Timestamps
	 * [0].signedTimestamp: a DER TimeStampResp (tsa.h), or NULL */
	uint8_t       *tsr;
	size_t         tsr_len;
};

/* Parse (buf, len) strictly (size bounded by BUNDLE_MAX).  0 or -1. */
int ukit_bundle_parse(const char *buf, size_t len, struct bundle *out,
		 struct fmt_err *e);

/* Serialise (b) as indented JSON with a final newline; malloc'd. */
int ukit_bundle_serialize(const struct bundle *b, char **out, size_t *len,
		     struct fmt_err *e);

void ukit_bundle_free(struct bundle *b);

/* ---- appended footer ------------------------------------------------- */

#define SIGFOOT_MAGIC   "UKITSIG1"
#define SIGFOOT_VERSION 1
#define SIGFOOT_SIZE    64

/* On-disk footer; all integers little-endian. */
struct sigfoot_abi {
	uint8_t magic[8];          /* "UKITSIG1" */
	uint8_t version_le[4];     /* SIGFOOT_VERSION */
	uint8_t reserved0[4];      /* zero */
	uint8_t orig_size_le[8];   /* bytes of the signed image */
	uint8_t bundle_off_le[8];  /* == orig_size */
	uint8_t bundle_len_le[8];  /* 1..BUNDLE_MAX */
	uint8_t reserved[24];      /* zero */
};
_Static_assert(sizeof(struct sigfoot_abi) == SIGFOOT_SIZE, "sigfoot layout");

struct sigfoot {
	uint64_t orig_size;
	uint64_t bundle_off;
	uint64_t bundle_len;
};

/* Encode (f) into (out). */
void ukit_sigfoot_encode(const struct sigfoot *f, uint8_t out[SIGFOOT_SIZE]);

/*
 * Decode the last SIGFOOT_SIZE bytes (buf) of a file of (file_size) bytes.
 * Returns 1 with (*out) when the footer is valid and image + bundle +
 * footer make up the file exactly, 0 when (buf) does not start with the
 * magic (no footer), -1 with (e) for any other layout.
 */
int ukit_sigfoot_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  struct sigfoot *out, struct fmt_err *e);

/* ukit_sigfoot_parse() on the end of (fd).  Same returns. */
int ukit_sigfoot_read(int fd, struct sigfoot *out, struct fmt_err *e);

#endif
