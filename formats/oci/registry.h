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
 * system CAs or --cert-dir / --ca-file, a client certificate from
 * --cert-dir (NAME.cert + NAME.key, as skopeo); plain HTTP only with
 * tls_verify == 0 or for localhost, 127.0.0.0/8 and ::1.
 *
 * Everything a registry sends is untrusted: manifests are bounded by
 * OCI_JSON_MAX and digested, blobs are hashed while received and must
 * match their descriptors before anything is committed.  Memory does not
 * depend on blob sizes.
 *
 * Implemented in registry.c and the reg*.c files registry_int.h lists.
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
#define OCI_CERTFILE_MAX   (1u << 20)   /* bytes of a --cert-dir CA file */

struct ukit_oci_regopts {
	const char *authfile;       /* or NULL: the usual places */
	const char *creds;          /* "USER:PASS" or NULL */
	int         tls_verify;     /* -1 default (on), 0 off, 1 on */
	const char *cert_dir;       /* *.crt CA files, NAME.cert + NAME.key
				     * client certificate, or NULL */
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
 * matched (and (check), when not NULL, accepted the manifest: signature
 * verification).  (digest_out) (may be NULL) gets the manifest digest.
 * 0 or -1.
 */
/* Called by pull with the image manifest before anything is committed:
 * 0 lets the pull finish, -1 (with (e)) stops it and writes nothing. */
typedef int (*ukit_oci_precommit_fn)(void *arg, const struct ukit_oci_desc *m,
				     const char *raw, size_t len,
				     struct fmt_err *e);

int ukit_oci_pull(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o,
		  char digest_out[OCI_DIGEST_LEN + 1],
		  ukit_oci_precommit_fn check, void *check_arg,
		  struct fmt_err *e);

/*
 * The image manifest (ref) names (an index resolved as pull does) and its
 * config, both digest-checked, without the layers: what inspect needs.
 * (*raw), (*config) malloc'd and NUL-terminated.  0 or -1 with (e).
 */
int ukit_oci_remote_image(const struct ukit_oci_ref *ref,
			  const struct ukit_oci_regopts *o,
			  struct ukit_oci_desc *d, char **raw, size_t *len,
			  char **config, struct fmt_err *e);

/* ---- artifacts that refer to an image (signatures) ----------------- */

#define OCI_ARTIFACT_MAX (1u << 20)      /* bytes of an artifact blob */
#define OCI_EMPTY_JSON   "{}"            /* the empty config's content */

/* An artifact manifest with one blob and a subject (ocisig.c builds it). */
struct ukit_oci_artifact {
	struct ukit_oci_desc subject;        /* the image manifest */
	struct ukit_oci_desc config;         /* the empty descriptor */
	struct ukit_oci_desc layer;          /* the blob */
	const char *blob;
	size_t      blob_len;
	char       *manifest;                /* its bytes (owned) */
	size_t      manifest_len;
	struct ukit_oci_desc manifest_desc;  /* with artifactType */
};

/* The manifest (or index) (ref) names, its bytes verified against the
 * digest when (ref) has one.  (*raw) malloc'd. */
int ukit_oci_remote_manifest(const struct ukit_oci_ref *ref,
			     const struct ukit_oci_regopts *o,
			     struct ukit_oci_desc *d, char **raw, size_t *len,
			     struct fmt_err *e);

/*
 * Push artifact (a) to (ref)'s repository: its blobs, its manifest by
 * digest; when the registry does not answer with OCI-Subject (no
 * referrers API), add it to the index under the fallback tag
 * "sha256-<hex of the subject>".  0 or -1 with (e).
 */
int ukit_oci_remote_attach(const struct ukit_oci_ref *ref,
			   const struct ukit_oci_regopts *o,
			   const struct ukit_oci_artifact *a,
			   struct fmt_err *e);

/*
 * Called with each artifact found (its manifest, digest-checked, passed
 * ukit_oci_manifest_signs()): (a) and everything it points to are
 * borrowed for the call.  1 stop (accepted), 0 go on, -1 error.
 */
typedef int (*ukit_oci_referrer_fn)(void *arg,
				    const struct ukit_oci_artifact *a,
				    struct fmt_err *e);

/*
 * Fill (a) as a view of the artifact manifest (m) (bytes (raw, rlen),
 * listed as (listed)) and its blob (blob): everything borrowed, do not
 * ukit_oci_artifact_free() it.  manifest_desc is the descriptor a
 * referrers list gives (media type, artifactType, annotations of (m)).
 */
void ukit_oci_artifact_view(struct ukit_oci_artifact *a,
			    const struct ukit_oci_manifest *m,
			    const struct ukit_oci_desc *listed,
			    const char *raw, size_t rlen, const char *blob);

/*
 * Hand (fn) each artifact of (artifact_type) whose subject is
 * (subject), found through the referrers API or else the fallback tag.
 * Artifact manifests and blobs are digest-checked first.  1 when (fn)
 * accepted one, 0 when none did (or there are none), -1 with (e).
 */
int ukit_oci_remote_referrers(const struct ukit_oci_ref *ref,
			      const struct ukit_oci_regopts *o,
			      const char *subject, const char *artifact_type,
			      ukit_oci_referrer_fn fn, void *arg,
			      struct fmt_err *e);

/* The fallback-tag index (old, oldlen) (NULL: none yet; read from
 * (where), which errors name) plus (d), as new malloc'd JSON. */
int ukit_oci_referrers_index_add(const char *old, size_t oldlen,
				 const char *where,
				 const struct ukit_oci_desc *d, char **out,
				 struct fmt_err *e);

#endif
