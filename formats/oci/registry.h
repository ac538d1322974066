/*
 * registry.h: an OCI distribution-spec v1.1 client over libcurl, and the
 * image copies built on it: push a local layout to a registry, pull from
 * a registry into a local layout.
 *
 * Protocol: GET /v2/ (scheme and auth), blob HEAD to skip what exists,
 * monolithic (POST + PUT) and chunked (POST, PATCH..., PUT) uploads,
 * cross-repository mount, manifest PUT with its media type, redirects on
 * blob GETs (at most OCI_REDIRECTS_MAX), retries with exponential backoff
 * on 5xx, 429 and dropped connections (OCI_RETRIES, UKIT_OCI_RETRY_MS base,
 * default 500 ms).  Auth: anonymous, basic, bearer tokens from the
 * WWW-Authenticate challenge; credentials from --creds, --authfile,
 * REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json, ~/.docker/config.json.  TLS with the
 * system CAs or --cert-dir / --ca-file; plain HTTP only with
 * tls_verify == 0 or for localhost, 127.0.0.0/8 and ::1.
 *
 * Everything a registry sends is untrusted: manifests are bounded by
 * OCI_JSON_MAX and digested, blobs are hashed while received and must
 * match their descriptors before anything is committed.  Memory does not
 * depend on blob sizes.
 */
#ifndef UKIT_REGISTRY_H
#define UKIT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "ocijson.h"
#include "ocilayout.h"

#define OCI_RETRIES        5            /* attempts per request */
#define OCI_REDIRECTS_MAX  10
#define OCI_TOKEN_MAX      (64u << 10)  /* bytes of a token response */
#define OCI_ERRBODY_MAX    (64u << 10)  /* bytes of an error body kept */
#define OCI_CHALLENGE_MAX  4096         /* bytes of a WWW-Authenticate */
#define OCI_AUTHFILE_MAX   (1u << 20)   /* bytes of an auth file */

struct ukit_oci_regopts {
	const char *authfile;       /* or NULL: the usual places */
	const char *creds;          /* "USER:PASS" or NULL */
	int         tls_verify;     /* -1 default (on), 0 off, 1 on */
	const char *cert_dir;       /* *.crt CA files, or NULL */
	const char *ca_file;        /* or NULL */
	uint64_t    chunk_size;     /* 0: monolithic uploads */
	const char *mount_from;     /* repository to mount blobs from */
};

/* A parsed WWW-Authenticate challenge. */
struct ukit_oci_challenge {
	char scheme[16];            /* "basic", "bearer" (lowercased) */
	char realm[1024];
	char service[256];
	char scope[512];
};

/*
 * Parse the first challenge of a WWW-Authenticate header value (hdr, len)
 * (≤ OCI_CHALLENGE_MAX): a scheme, then comma-separated auth-params
 * (token or quoted-string values, backslash escapes).  0 or -1 with (e).
 */
int ukit_oci_challenge_parse(const char *hdr, size_t len,
			     struct ukit_oci_challenge *c, struct fmt_err *e);

/*
 * Find credentials for (host) in the auth file JSON (buf, len): an object
 * with "auths": { HOST: { "auth": base64("user:pass") } } (keys HOST,
 * https://HOST, http://HOST).  1 found ((*user), (*pass) malloc'd), 0 not
 * there, -1 with (e) when the file is malformed.
 */
int ukit_oci_authfile_lookup(const char *buf, size_t len, const char *what,
			     const char *host, char **user, char **pass,
			     struct fmt_err *e);

/*
 * Push the image (src) (a local layout) to (dst) (docker://).  Blobs the
 * registry has are not sent again.  When (report) is not NULL it gets
 * {"digest": manifest digest, "blobs": [{"digest", "size", "action":
 * "exists"|"uploaded"|"mounted"}]}.  0 or -1 with (e).
 */
int ukit_oci_push(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o, json_t *report,
		  struct fmt_err *e);

/*
 * Pull (src) (docker://) into (dst) (a local layout), under (dst)'s tag
 * or else (src)'s.  Nothing is visible in (dst) unless every digest
 * matched.  (digest_out) (may be NULL) gets the manifest digest.  0 or -1.
 */
int ukit_oci_pull(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o,
		  char digest_out[OCI_DIGEST_LEN + 1], struct fmt_err *e);

#endif
