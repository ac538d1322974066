/*
 * registry_int.h: what the parts of the registry client share, inside
 * libukit only (not installed): the client (struct reg), one request
 * (struct xfer), an upload source (struct upsrc), and the functions that
 * cross the parts' files.  The public side is registry.h.
 *
 *   regxfer.c      open a client, perform a request (retries, the 401)
 *   regcurl.c      libcurl's callbacks, the registry's error text
 *   regtls.c       TLS options, --cert-dir, handshake refusals
 *   regauth.c      WWW-Authenticate, auth files, credentials
 *   regblob.c      blob uploads, downloads, small blobs in memory
 *   regmanifest.c  manifest GET and PUT
 *   registry.c     push, pull, remote image
 *   regrefer.c     referrers: attach, list, the fallback index
 *
 * A registry's headers and bodies are untrusted wherever they are read.
 */
#ifndef UKIT_REGISTRY_INT_H
#define UKIT_REGISTRY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "curldl.h"
#include "err.h"
#include "ocijson.h"
#include "ocilayout.h"
#include "registry.h"

#define XFER_BUF (512u << 10)   /* bytes: libcurl's buffers, each way */

/* A client of one repository; ukit_oci_reg_open fills it. */
struct reg {
	CURL *c;
	const struct ukit_oci_regopts *o;
	const struct ukit_oci_ref *ref;
	char  base[512];
	char *user, *pass;
	char *auth;             /* "Authorization: ..." or NULL */
	const char *actions;    /* "pull" or "pull,push" */
	char *ca_pem;
	size_t ca_len;
	char *client_cert, *client_key;  /* --cert-dir NAME.cert, NAME.key */
	char  curl_msg[CURL_ERROR_SIZE]; /* libcurl's words for curl_rc */
	bool  cert_requested;   /* the TLS server asked for a client cert */
	long  retry_ms;
	bool  insecure_ok;      /* plain HTTP allowed */
	/* the last response */
	long  status;
	CURLcode curl_rc;       /* of the last transfer */
	char  location[4096];
	char  ctype[256];
	char  dcd[OCI_DIGEST_LEN + 1];
	char  subject_hdr[OCI_DIGEST_LEN + 1];
	char  www[OCI_CHALLENGE_MAX + 1];
	int64_t clen;
	char  errbody[512];
	size_t errlen;
};

struct xfer {
	const char *method;     /* GET HEAD POST PUT PATCH */
	char  url[4096];
	struct curl_slist *hdrs;
	/* request body */
	ssize_t (*up)(void *ctx, void *buf, size_t len, struct fmt_err *e);
	void *upctx;
	uint64_t upsize;
	bool  has_body;
	int (*rewind)(void *ctx, struct fmt_err *e);
	void *rwctx;
	/* response body (2xx) */
	int (*down)(void *ctx, const void *buf, size_t len, struct fmt_err *e);
	void *downctx;
	uint64_t downmax, got;
	char *body;
	size_t blen, bmax;
	bool  follow;
	bool  exact;            /* a blob: Content-Length must be its size */
	bool  tls_probe;        /* watch the handshake (GET /v2/) */
	bool  no_auth;          /* token requests: no challenge handling */
	const char *auth_override;
	struct fmt_err cberr;
	bool  cbfail;
	struct reg *r;
};

/* An upload source: a blob of a local layout read at (pos), hashed once
 * in order even when a chunk is sent again. */
struct upsrc {
	int fd;
	uint64_t base, size, pos, start, end, hashed;
	EVP_MD_CTX *md;
	const char *digest;
};

/* regxfer.c */
/* Open (r) for (ref) with (o), for (actions) "pull" or "pull,push":
 * credentials, TLS, then GET /v2/.  0, or -1 with (e); either way
 * ukit_oci_reg_free(r) releases it. */
int ukit_oci_reg_open(struct reg *r, const struct ukit_oci_ref *ref,
		      const struct ukit_oci_regopts *o, const char *actions,
		      struct fmt_err *e);
void ukit_oci_reg_free(struct reg *r);
/* Perform (x) with retries, answering a 401 challenge once: 0 with
 * r->status (any HTTP status), or -1 with (e) for a transfer failure. */
int ukit_oci_reg_perform(struct reg *r, struct xfer *x, struct fmt_err *e);
/* (s) URL-encoded, malloc'd, or NULL */
char *ukit_oci_reg_urlenc(CURL *c, const char *s);

/* regcurl.c: libcurl callbacks, their ctx a struct xfer */
size_t ukit_oci_reg_on_header(char *p, size_t sz, size_t nm, void *ctx);
size_t ukit_oci_reg_on_write(char *p, size_t sz, size_t nm, void *ctx);
size_t ukit_oci_reg_on_read(char *p, size_t sz, size_t nm, void *ctx);
int ukit_oci_reg_on_seek(void *ctx, curl_off_t off, int origin);
/* true, with x->cberr, when a blob's Content-Length is not its size */
bool ukit_oci_reg_clen_wrong(struct xfer *x);
/* "REF: WHAT: HTTP nnn ..." from the last response into (e); -1 */
int ukit_oci_reg_http_err(struct reg *r, struct fmt_err *e, const char *what);

/* regtls.c */
void ukit_oci_reg_set_tls(struct reg *r);
int ukit_oci_reg_on_debug(CURL *c, curl_infotype type, char *p, size_t n,
			  void *ctx);
const char *ukit_oci_reg_tls_hint(CURLcode rc);
const char *ukit_oci_reg_client_alert(const struct reg *r, char *buf,
				      size_t size);
int ukit_oci_reg_load_cert_dir(struct reg *r, struct fmt_err *e);

/* regauth.c */
int ukit_oci_reg_load_creds(struct reg *r, struct fmt_err *e);

/* regblob.c: the upload source's callbacks, their ctx a struct upsrc */
ssize_t ukit_oci_reg_up_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e);
int ukit_oci_reg_up_rewind(void *ctx, struct fmt_err *e);
int ukit_oci_reg_up_check(struct upsrc *u, const char *what,
			  struct fmt_err *e);
/* Push blob (d) of layout (l) unless the registry has it; (*action)
 * "exists", "mounted" or "uploaded". */
int ukit_oci_reg_push_blob(struct reg *r, struct ukit_oci_local *l,
			   const struct ukit_oci_desc *d, const char **action,
			   struct fmt_err *e);
int ukit_oci_reg_pull_blob(struct reg *r, struct ukit_oci_out *w,
			   const struct ukit_oci_desc *d, struct fmt_err *e);
/* GET blob (d) (≤ max bytes) into memory, digest checked. */
int ukit_oci_reg_get_blob_mem(struct reg *r, const struct ukit_oci_desc *d,
			      size_t max, char **out, struct fmt_err *e);
/* Push (buf, len) as blob (d) unless the registry has it. */
int ukit_oci_reg_push_mem(struct reg *r, const void *buf, size_t len,
			  const struct ukit_oci_desc *d, struct fmt_err *e);
/* A memfd holding (buf, len), or -1 with (e) */
int ukit_oci_reg_mem_fd(const void *buf, size_t len, struct fmt_err *e);

/* regmanifest.c */
/* GET a manifest by tag or digest; verify it; (*body) malloc'd. */
int ukit_oci_reg_get_manifest(struct reg *r, const char *ref,
			      const char *want, char **body, size_t *len,
			      char ctype[256],
			      char digest[OCI_DIGEST_LEN + 1],
			      struct fmt_err *e);
/* The same, but a 404 is 0 with (*body) NULL. */
int ukit_oci_reg_get_manifest_opt(struct reg *r, const char *ref,
				  char **body, size_t *len, char ctype[256],
				  char digest[OCI_DIGEST_LEN + 1],
				  struct fmt_err *e);
int ukit_oci_reg_put_manifest(struct reg *r, const char *ref, const char *mt,
			      const char *buf, size_t len, struct fmt_err *e);

#endif
