/*
 * registry.c: the OCI distribution client and push/pull (see registry.h).
 * Every header and body a registry or token server sends is untrusted.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "io.h"
#include "outfile.h"
#include "registry.h"
#include "sigjson.h"

#define XFER_BUF (512u << 10)

/* ---- WWW-Authenticate ----------------------------------------------- */

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

int ukit_oci_challenge_parse(const char *hdr, size_t len,
			     struct ukit_oci_challenge *c, struct fmt_err *e)
{
	size_t i = 0, n;

	memset(c, 0, sizeof *c);
	if (len > OCI_CHALLENGE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: %zu bytes, over "
				"the limit of %d", len, OCI_CHALLENGE_MAX);
	while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
		i++;
	for (n = 0; i < len && tchar(hdr[i]); i++, n++)
		if (n + 1 < sizeof c->scheme)
			c->scheme[n] = (char)tolower((unsigned char)hdr[i]);
	if (n == 0 || n >= sizeof c->scheme)
		return ukit_fmt_errf(e, i, "WWW-Authenticate: no auth scheme");
	c->scheme[n] = 0;
	for (;;) {
		char key[32], val[1024];
		size_t kn = 0, vn = 0;
		char *dst = NULL;
		size_t cap = 0;

		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ','))
			i++;
		if (i >= len)
			break;
		for (; i < len && tchar(hdr[i]); i++)
			if (kn + 1 < sizeof key)
				key[kn++] = (char)tolower((unsigned char)hdr[i]);
			else
				return ukit_fmt_errf(e, i, "WWW-Authenticate: "
						"parameter name too long");
		key[kn] = 0;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (kn == 0 || i >= len || hdr[i] != '=')
			return ukit_fmt_errf(e, i, "WWW-Authenticate: expected "
					"name=value at byte %zu", i);
		i++;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (i < len && hdr[i] == '"') {
			i++;
			for (;;) {
				if (i >= len)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"unterminated quoted "
							"string");
				if (hdr[i] == '"') {
					i++;
					break;
				}
				if (hdr[i] == '\\') {
					if (++i >= len)
						return ukit_fmt_errf(e, i,
							"WWW-Authenticate: "
							"escape at the end");
				}
				if ((unsigned char)hdr[i] < 0x20 && hdr[i] != '\t')
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"control character in "
							"a quoted string");
				if (vn + 1 >= sizeof val)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"value too long");
				val[vn++] = hdr[i++];
			}
		} else {
			for (; i < len && tchar(hdr[i]); i++) {
				if (vn + 1 >= sizeof val)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"value too long");
				val[vn++] = hdr[i];
			}
			if (vn == 0)
				return ukit_fmt_errf(e, i, "WWW-Authenticate: empty "
						"value for %s", key);
		}
		val[vn] = 0;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (i < len && hdr[i] != ',')
			return ukit_fmt_errf(e, i, "WWW-Authenticate: expected ',' at "
					"byte %zu", i);
		if (strcmp(key, "realm") == 0) {
			dst = c->realm;
			cap = sizeof c->realm;
		} else if (strcmp(key, "service") == 0) {
			dst = c->service;
			cap = sizeof c->service;
		} else if (strcmp(key, "scope") == 0) {
			dst = c->scope;
			cap = sizeof c->scope;
		}
		if (dst != NULL) {
			if (vn >= cap)
				return ukit_fmt_errf(e, i, "WWW-Authenticate: %s "
						"longer than %zu bytes", key,
						cap - 1);
			memcpy(dst, val, vn + 1);
		}
	}
	if (strcmp(c->scheme, "bearer") == 0) {
		if (c->realm[0] == 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: Bearer "
					"challenge without a realm");
		if (strncmp(c->realm, "https://", 8) != 0 &&
		    strncmp(c->realm, "http://", 7) != 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: realm "
					"\"%.100s\" is not an http(s) URL",
					c->realm);
	}
	return 0;
}

/* ---- auth files ----------------------------------------------------- */

int ukit_oci_authfile_lookup(const char *buf, size_t len, const char *what,
			     const char *host, char **user, char **pass,
			     struct fmt_err *e)
{
	json_t *root, *auths, *ent = NULL, *a;
	char key[600];
	const char *forms[] = { "%s", "https://%s", "http://%s", "https://%s/v1/" };
	uint8_t *dec = NULL;
	size_t dlen;
	char *colon;
	int rc = -1;

	root = ukit_sigjson_load(buf, len, what, e);
	if (root == NULL)
		return -1;
	auths = json_object_get(root, "auths");
	if (auths == NULL) {
		json_decref(root);
		return 0;
	}
	if (!json_is_object(auths)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths: not an object", what);
		goto out;
	}
	for (size_t f = 0; f < 4 && ent == NULL; f++) {
		snprintf(key, sizeof key, forms[f], host);
		ent = json_object_get(auths, key);
	}
	if (ent == NULL && strcmp(host, "docker.io") == 0)
		ent = json_object_get(auths, "https://index.docker.io/v1/");
	if (ent == NULL) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(ent)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"]: not an object",
			 what, host);
		goto out;
	}
	a = json_object_get(ent, "auth");
	if (a == NULL) {
		rc = 0;         /* a credential helper entry: not ours */
		goto out;
	}
	if (!json_is_string(a)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"].auth: not a string",
			 what, host);
		goto out;
	}
	if (ukit_b64_decode(json_string_value(a), 4096, &dec, &dlen, e) < 0) {
		char tmp[FMT_ERR_MSG];
		snprintf(tmp, sizeof tmp, "%.100s: $.auths[\"%.60s\"].auth",
			 what, host);
		ukit_oci_err_prefix(e, tmp);
		goto out;
	}
	colon = memchr(dec, ':', dlen);
	if (colon == NULL || memchr(dec, 0, dlen) != NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"].auth: not "
			 "base64 of USER:PASSWORD", what, host);
		goto out;
	}
	*user = strndup((char *)dec, (size_t)(colon - (char *)dec));
	*pass = strndup(colon + 1, dlen - (size_t)(colon - (char *)dec) - 1);
	if (*user == NULL || *pass == NULL) {
		free(*user);
		free(*pass);
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	rc = 1;
out:
	if (dec != NULL) {
		OPENSSL_cleanse(dec, dlen);
		free(dec);
	}
	json_decref(root);
	return rc;
}

/* ---- the client ----------------------------------------------------- */

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

static void reg_free(struct reg *r)
{
	if (r->c)
		curl_easy_cleanup(r->c);
	if (r->pass)
		OPENSSL_cleanse(r->pass, strlen(r->pass));
	free(r->user);
	free(r->pass);
	if (r->auth)
		OPENSSL_cleanse(r->auth, strlen(r->auth));
	free(r->auth);
	free(r->ca_pem);
	free(r->client_cert);
	free(r->client_key);
	memset(r, 0, sizeof *r);
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ctx)
{
	struct xfer *x = ctx;
	struct reg *r = x->r;
	size_t n = sz * nm, k;
	const char *v;
	char *dst = NULL;
	size_t cap = 0;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or 100): forget the old */
		r->location[0] = r->ctype[0] = r->dcd[0] = r->www[0] = 0;
		r->subject_hdr[0] = 0;
		r->clen = -1;
		return n;
	}
	v = memchr(p, ':', n);
	if (v == NULL)
		return n;
	k = (size_t)(v - p);
	v++;
	while (v < p + n && (*v == ' ' || *v == '\t'))
		v++;
	if (k == 8 && strncasecmp(p, "location", 8) == 0) {
		dst = r->location;
		cap = sizeof r->location;
	} else if (k == 12 && strncasecmp(p, "content-type", 12) == 0) {
		dst = r->ctype;
		cap = sizeof r->ctype;
	} else if (k == 21 && strncasecmp(p, "docker-content-digest", 21) == 0) {
		dst = r->dcd;
		cap = sizeof r->dcd;
	} else if (k == 11 && strncasecmp(p, "oci-subject", 11) == 0) {
		dst = r->subject_hdr;
		cap = sizeof r->subject_hdr;
	} else if (k == 16 && strncasecmp(p, "www-authenticate", 16) == 0) {
		if (r->www[0])
			return n;       /* the first challenge */
		dst = r->www;
		cap = sizeof r->www;
	} else if (k == 14 && strncasecmp(p, "content-length", 14) == 0) {
		char tmp[32];
		size_t vl = (size_t)(p + n - v);
		char *end;
		if (vl >= sizeof tmp)
			return n;
		memcpy(tmp, v, vl);
		tmp[vl] = 0;
		trim(tmp);
		errno = 0;
		r->clen = (int64_t)strtoll(tmp, &end, 10);
		if (errno || *end || r->clen < 0)
			r->clen = -1;
		return n;
	}
	if (dst != NULL) {
		size_t vl = (size_t)(p + n - v);
		if (vl >= cap)
			vl = cap - 1;   /* too long: truncated, then checked */
		memcpy(dst, v, vl);
		dst[vl] = 0;
		trim(dst);
		if (dst == r->ctype) {
			char *semi = strchr(dst, ';');
			if (semi)
				*semi = 0;
			trim(dst);
		}
	}
	return n;
}

/*
 * A blob response whose Content-Length is not the descriptor's size is
 * refused before its first byte is kept (and when it has no body at all):
 * the registry is not sending the blob we asked for.  true, with
 * x->cberr, when so.
 */
static bool clen_wrong(struct xfer *x)
{
	uint64_t want = x->down ? x->downmax : (uint64_t)x->bmax;

	if (!x->exact || x->r->clen < 0 || (uint64_t)x->r->clen == want)
		return false;
	ukit_fmt_errf(&x->cberr, FMT_NOOFF, "Content-Length %" PRId64
		      " disagrees with the descriptor's size %" PRIu64,
		      x->r->clen, want);
	return true;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ctx)
{
	struct xfer *x = ctx;
	struct reg *r = x->r;
	size_t n = sz * nm;
	long st = 0;

	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &st);
	if (st < 200 || st > 299) {
		size_t k = sizeof r->errbody - 1 - r->errlen;
		if (k > n)
			k = n;
		memcpy(r->errbody + r->errlen, p, k);
		r->errlen += k;
		r->errbody[r->errlen] = 0;
		return n;
	}
	if (x->down == NULL && x->bmax == 0)
		return n;       /* a body nobody asked for (201, 202) */
	if (x->got == 0 && clen_wrong(x)) {
		x->cbfail = true;
		return 0;
	}
	if (x->got + n > (x->down ? x->downmax : x->bmax)) {
		ukit_fmt_errf(&x->cberr, FMT_NOOFF, "response longer than %" PRIu64
			 " bytes%s", x->down ? x->downmax : (uint64_t)x->bmax,
			 x->down ? " (the descriptor's size)" : "");
		x->cbfail = true;
		return 0;
	}
	x->got += n;
	if (x->down) {
		if (x->down(x->downctx, p, n, &x->cberr) < 0) {
			x->cbfail = true;
			return 0;
		}
		return n;
	}
	if (x->body == NULL) {
		x->body = malloc(x->bmax + 1);
		if (x->body == NULL) {
			ukit_fmt_errf(&x->cberr, FMT_NOOFF, "out of memory");
			x->cbfail = true;
			return 0;
		}
	}
	memcpy(x->body + x->blen, p, n);
	x->blen += n;
	x->body[x->blen] = 0;
	return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ctx)
{
	struct xfer *x = ctx;
	ssize_t n;

	if (x->up == NULL)
		return 0;
	n = x->up(x->upctx, p, sz * nm, &x->cberr);
	if (n < 0) {
		x->cbfail = true;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

/* curl rewinds a request body to resend it (a redirect, a dropped
 * connection it retries itself) */
static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct xfer *x = ctx;

	if (off != 0 || origin != SEEK_SET || x->rewind == NULL)
		return CURL_SEEKFUNC_CANTSEEK;
	return x->rewind(x->rwctx, &x->cberr) < 0 ? CURL_SEEKFUNC_FAIL :
	       CURL_SEEKFUNC_OK;
}

/* "CODE: message" from a registry error body, or "". */
static void reg_errtext(const struct reg *r, char *out, size_t cap)
{
	json_t *j, *errs, *e0, *code, *msg;

	out[0] = 0;
	if (r->errlen == 0)
		return;
	j = json_loadb(r->errbody, r->errlen, 0, NULL);
	errs = j ? json_object_get(j, "errors") : NULL;
	e0 = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
	code = e0 ? json_object_get(e0, "code") : NULL;
	msg = e0 ? json_object_get(e0, "message") : NULL;
	if (json_is_string(code)) {
		char tmp[200];
		snprintf(tmp, sizeof tmp, " (%s%s%s)", json_string_value(code),
			 json_is_string(msg) ? ": " : "",
			 json_is_string(msg) ? json_string_value(msg) : "");
		for (char *q = tmp; *q; q++)
			if ((unsigned char)*q < 0x20)
				*q = '?';
		snprintf(out, cap, "%s", tmp);
	}
	json_decref(j);
}

static int http_err(struct reg *r, struct fmt_err *e, const char *what)
{
	char et[200];

	reg_errtext(r, et, sizeof et);
	return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: HTTP %ld%s%s", r->ref->text,
			what, r->status,
			r->status == 401 ? " Unauthorized" :
			r->status == 403 ? " Forbidden" :
			r->status == 404 ? " Not Found" :
			r->status == 429 ? " Too Many Requests" : "", et);
}

static void backoff(struct reg *r, int attempt)
{
	long ms = r->retry_ms << attempt;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int authenticate(struct reg *r, struct fmt_err *e);

/* The path of (url) up to its query, for messages: "/v2/a/blobs/..." */
static int url_path_len(const char *url, const char **path)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : url;
	if (p == NULL)
		p = url;
	*path = p;
	return (int)strcspn(p, "?");
}

static void set_tls(struct reg *r)
{
	CURL *c = r->c;

	if (r->o->tls_verify == 0) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_pem != NULL) {
		struct curl_blob b = { r->ca_pem, r->ca_len, CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	} else if (r->o->ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, r->o->ca_file);
	}
	if (r->client_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/*
 * libcurl's trace of the TLS handshake (GET /v2/ only), read for one
 * thing: whether the registry sent a CertificateRequest.  Under TLS 1.3 a
 * registry that refuses the client certificate (or its absence) says so
 * after the client has finished, often as a reset rather than an alert, so
 * the request is the reliable sign that a refusal was about certificates.
 */
static int on_debug(CURL *c, curl_infotype type, char *p, size_t n, void *ctx)
{
	struct reg *r = ctx;

	(void)c;
	if (type == CURLINFO_TEXT && n >= 12 && memmem(p, n, "Request CERT", 12))
		r->cert_requested = true;
	return 0;
}

/* What to do about a TLS failure (rc), for its message. */
static const char *tls_hint(CURLcode rc)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return " (--cert-dir DIR or --ca-file F names a private CA)";
	if (rc == CURLE_SSL_CERTPROBLEM)
		return " (the client certificate or key in --cert-dir)";
	return "";
}

/*
 * The TLS alert the registry sent when it refused our client certificate
 * (or the lack of one), from libcurl's message: "bad certificate",
 * "certificate required", ...; NULL for other failures.  (buf) holds it.
 */
static const char *client_alert(const struct reg *r, char *buf, size_t size)
{
	static const char *const alerts[] = {
		"certificate required", "bad certificate", "unknown ca",
		"certificate unknown", "handshake failure",
		"unsupported certificate", "access denied",
	};
	const char *a = strstr(r->curl_msg, "alert ");

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
		if (strncmp(a + 6, alerts[i], strlen(alerts[i])) == 0) {
			snprintf(buf, size, "alert \"%s\"", alerts[i]);
			return buf;
		}
	return NULL;
}

static int perform(struct reg *r, struct xfer *x, struct fmt_err *e)
{
	bool auth_tried = false;

	x->r = r;
	for (int attempt = 0; attempt < OCI_RETRIES; attempt++) {
		struct curl_slist *h = NULL;
		CURLcode rc;
		const char *a = x->auth_override ? x->auth_override : r->auth;

		if (attempt > 0 && x->rewind != NULL &&
		    x->rewind(x->rwctx, e) < 0)
			return -1;
		x->got = 0;
		x->blen = 0;
		x->cbfail = false;
		r->status = 0;
		r->errlen = 0;
		r->errbody[0] = 0;
		r->location[0] = r->ctype[0] = r->dcd[0] = r->www[0] = 0;
		r->subject_hdr[0] = 0;
		r->clen = -1;
		curl_easy_reset(r->c);
		r->curl_msg[0] = 0;
		curl_easy_setopt(r->c, CURLOPT_ERRORBUFFER, r->curl_msg);
		curl_easy_setopt(r->c, CURLOPT_URL, x->url);
		curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(r->c, CURLOPT_USERAGENT, "ukit/" UKIT_VERSION);
		curl_easy_setopt(r->c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(r->c, CURLOPT_HEADERDATA, x);
		curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(r->c, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(r->c, CURLOPT_BUFFERSIZE, (long)XFER_BUF);
		curl_easy_setopt(r->c, CURLOPT_UPLOAD_BUFFERSIZE, (long)XFER_BUF);
		curl_easy_setopt(r->c, CURLOPT_CONNECTTIMEOUT, 30L);
		curl_easy_setopt(r->c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->c, CURLOPT_LOW_SPEED_TIME, 120L);
		curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(r->c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		set_tls(r);
		r->cert_requested = false;
		if (x->tls_probe) {
			curl_easy_setopt(r->c, CURLOPT_DEBUGFUNCTION, on_debug);
			curl_easy_setopt(r->c, CURLOPT_DEBUGDATA, r);
			curl_easy_setopt(r->c, CURLOPT_VERBOSE, 1L);
		}
		if (x->follow) {
			curl_easy_setopt(r->c, CURLOPT_FOLLOWLOCATION, 1L);
			curl_easy_setopt(r->c, CURLOPT_MAXREDIRS,
					 (long)OCI_REDIRECTS_MAX);
		}
		for (struct curl_slist *s = x->hdrs; s; s = s->next)
			h = curl_slist_append(h, s->data);
		h = curl_slist_append(h, "Expect:");
		if (a != NULL)
			h = curl_slist_append(h, a);
		curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, h);
		if (strcmp(x->method, "HEAD") == 0) {
			curl_easy_setopt(r->c, CURLOPT_NOBODY, 1L);
		} else if (strcmp(x->method, "POST") == 0 && !x->has_body) {
			curl_easy_setopt(r->c, CURLOPT_POST, 1L);
			curl_easy_setopt(r->c, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(r->c, CURLOPT_POSTFIELDSIZE, 0L);
		} else if (strcmp(x->method, "PUT") == 0 ||
			   strcmp(x->method, "PATCH") == 0) {
			curl_easy_setopt(r->c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(r->c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(r->c, CURLOPT_READDATA, x);
			curl_easy_setopt(r->c, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(r->c, CURLOPT_SEEKDATA, x);
			curl_easy_setopt(r->c, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)(x->has_body ? x->upsize : 0));
			if (strcmp(x->method, "PATCH") == 0)
				curl_easy_setopt(r->c, CURLOPT_CUSTOMREQUEST,
						 "PATCH");
		}
		rc = curl_easy_perform(r->c);
		r->curl_rc = rc;
		curl_slist_free_all(h);
		curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &r->status);
		if (!x->cbfail && rc == CURLE_OK && x->got == 0 &&
		    r->status == 200 && clen_wrong(x))
			x->cbfail = true;       /* an empty body */
		if (x->cbfail) {
			const char *pp;
			int pl = url_path_len(x->url, &pp);
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s %.*s: %s",
					r->ref->text, x->method, pl > 120 ? 120 : pl,
					pp, x->cberr.msg);
		}
		if (rc != CURLE_OK) {
			const char *pp, *alert;
			char abuf[48];
			int pl;

			/* a refused client certificate is no passing fault */
			alert = client_alert(r, abuf, sizeof abuf);
			if (alert == NULL && r->cert_requested)
				alert = rc == CURLE_SSL_CONNECT_ERROR ?
					"handshake failed" : "connection ended";
			if (alert != NULL) {
				r->cert_requested = true;
				pl = url_path_len(x->url, &pp);
				return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s %.*s: "
					"the registry ended the TLS handshake "
					"(%s): %s", r->ref->text,
					x->method, pl > 60 ? 60 : pl, pp, alert,
					r->client_cert == NULL ? "it wants a "
					"client certificate (NAME.cert and "
					"NAME.key in --cert-dir DIR)" : "it "
					"refused the client certificate");
			}
			if (transient(rc) && attempt + 1 < OCI_RETRIES) {
				backoff(r, attempt);
				continue;
			}
			pl = url_path_len(x->url, &pp);
			if (pl > 120)
				pl = 120;
			if (rc == CURLE_TOO_MANY_REDIRECTS)
				return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s %.*s: more "
						"than %d redirects (a redirect "
						"loop?)", r->ref->text,
						x->method, pl, pp,
						OCI_REDIRECTS_MAX);
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s %.*s: %s%s%.100s%s%s",
					r->ref->text, x->method, pl, pp,
					curl_easy_strerror(rc),
					r->curl_msg[0] ? ": " : "", r->curl_msg,
					transient(rc) ? " (gave up after "
					"retries)" : "", tls_hint(rc));
		}
		if (r->status == 401 && !x->no_auth && !auth_tried &&
		    r->www[0]) {
			auth_tried = true;
			if (authenticate(r, e) < 0)
				return -1;
			attempt--;      /* not a failure of the registry */
			continue;
		}
		if ((r->status >= 500 || r->status == 429) &&
		    attempt + 1 < OCI_RETRIES) {
			backoff(r, attempt);
			continue;
		}
		return 0;
	}
	return 0;
}

static char *urlenc(CURL *c, const char *s)
{
	char *t = curl_easy_escape(c, s, 0);
	char *d = t ? strdup(t) : NULL;

	curl_free(t);
	return d;
}

static int set_auth(struct reg *r, const char *scheme, const char *cred)
{
	size_t n = strlen(scheme) + strlen(cred) + 32;

	if (r->auth) {
		OPENSSL_cleanse(r->auth, strlen(r->auth));
		free(r->auth);
	}
	r->auth = malloc(n);
	if (r->auth == NULL)
		return -1;
	snprintf(r->auth, n, "Authorization: %s %s", scheme, cred);
	return 0;
}

static char *basic_cred(const struct reg *r)
{
	size_t n = strlen(r->user) + strlen(r->pass) + 2;
	char *up = malloc(n), *b;

	if (up == NULL)
		return NULL;
	snprintf(up, n, "%s:%s", r->user, r->pass);
	b = ukit_b64_encode((uint8_t *)up, n - 1);
	OPENSSL_cleanse(up, n);
	free(up);
	return b;
}

static int authenticate(struct reg *r, struct fmt_err *e)
{
	struct ukit_oci_challenge ch;
	char *b = NULL, *svc = NULL, *scope = NULL, scopebuf[1200];
	struct xfer x;
	json_t *j = NULL, *t;
	int rc = -1;

	if (ukit_oci_challenge_parse(r->www, strlen(r->www), &ch, e) < 0) {
		ukit_oci_err_prefix(e, r->ref->text);
		return -1;
	}
	if (r->user != NULL && (b = basic_cred(r)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (strcmp(ch.scheme, "basic") == 0) {
		if (b == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: HTTP 401 Unauthorized:"
					" the registry wants a user name and "
					"password (--creds USER:PASS or an auth "
					"file)", r->ref->text);
		rc = set_auth(r, "Basic", b);
		OPENSSL_cleanse(b, strlen(b));
		free(b);
		return rc < 0 ? ukit_fmt_errf(e, FMT_NOOFF, "out of memory") : 0;
	}
	if (strcmp(ch.scheme, "bearer") != 0) {
		free(b);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: HTTP 401: unsupported auth "
				"scheme \"%s\"", r->ref->text, ch.scheme);
	}
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.bmax = OCI_TOKEN_MAX;
	x.no_auth = true;
	snprintf(scopebuf, sizeof scopebuf, "repository:%s:%s", r->ref->repo,
		 r->actions);
	if (r->o->mount_from != NULL && strchr(r->actions, ',')) {
		size_t l = strlen(scopebuf);
		snprintf(scopebuf + l, sizeof scopebuf - l, " repository:%s:pull",
			 r->o->mount_from);
	}
	svc = urlenc(r->c, ch.service);
	scope = urlenc(r->c, scopebuf);
	if (svc == NULL || scope == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	snprintf(x.url, sizeof x.url, "%s%sservice=%s&scope=%s", ch.realm,
		 strchr(ch.realm, '?') ? "&" : "?", svc, scope);
	{
		char hdr[2048];
		if (b != NULL) {
			snprintf(hdr, sizeof hdr, "Authorization: Basic %s", b);
			x.auth_override = hdr;
		} else {
			/* anonymous token: no Authorization at all */
			free(r->auth);
			r->auth = NULL;
		}
		rc = perform(r, &x, e);
		OPENSSL_cleanse(hdr, sizeof hdr);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (r->status != 200) {
		http_err(r, e, "token request");
		goto out;
	}
	j = x.body ? ukit_sigjson_load(x.body, x.blen, "token response", e) : NULL;
	if (j == NULL) {
		if (x.body == NULL)
			ukit_fmt_errf(e, FMT_NOOFF, "%s: empty token response",
				 r->ref->text);
		goto out;
	}
	t = json_object_get(j, "token");
	if (!json_is_string(t))
		t = json_object_get(j, "access_token");
	if (!json_is_string(t) || json_string_length(t) == 0 ||
	    strlen(json_string_value(t)) != json_string_length(t)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: token response has no \"token\"",
			 r->ref->text);
		goto out;
	}
	for (const char *p = json_string_value(t); *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: token has a control "
				 "character", r->ref->text);
			goto out;
		}
	if (set_auth(r, "Bearer", json_string_value(t)) < 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	if (x.body) {
		OPENSSL_cleanse(x.body, x.blen);
		free(x.body);
	}
	if (b) {
		OPENSSL_cleanse(b, strlen(b));
		free(b);
	}
	free(svc);
	free(scope);
	return rc;
}

/* Credentials: --creds, else the first auth file with an entry. */
static int load_creds(struct reg *r, struct fmt_err *e)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_RUNTIME_DIR"),
		   *dc = getenv("DOCKER_CONFIG"), *raf = getenv("REGISTRY_AUTH_FILE");
	char paths[5][4096];
	int np = 0;

	if (r->o->creds != NULL) {
		const char *c = strchr(r->o->creds, ':');
		if (c == NULL || c == r->o->creds)
			return ukit_fmt_errf(e, FMT_NOOFF, "--creds: not USER:PASSWORD");
		r->user = strndup(r->o->creds, (size_t)(c - r->o->creds));
		r->pass = strdup(c + 1);
		return r->user && r->pass ? 0 : ukit_fmt_errf(e, FMT_NOOFF,
							  "out of memory");
	}
	if (r->o->authfile != NULL) {
		snprintf(paths[np++], sizeof paths[0], "%s", r->o->authfile);
	} else {
		if (raf && *raf)
			snprintf(paths[np++], sizeof paths[0], "%s", raf);
		if (xdg && *xdg)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/containers/auth.json", xdg);
		if (home && *home)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/.config/containers/auth.json", home);
		if (dc && *dc)
			snprintf(paths[np++], sizeof paths[0], "%s/config.json",
				 dc);
		else if (home && *home)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/.docker/config.json", home);
	}
	for (int i = 0; i < np; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		char *buf;
		ssize_t n;
		int rc;

		if (fd < 0) {
			if (errno == ENOENT && r->o->authfile == NULL)
				continue;
			return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot open auth "
					 "file", paths[i]);
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size > OCI_AUTHFILE_MAX) {
			close(fd);
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file of "
					"at most %u bytes", paths[i],
					OCI_AUTHFILE_MAX);
		}
		buf = malloc((size_t)st.st_size + 1);
		if (buf == NULL) {
			close(fd);
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		}
		n = ukit_pread_full(fd, buf, (size_t)st.st_size, 0);
		close(fd);
		if (n != st.st_size) {
			free(buf);
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: short read", paths[i]);
		}
		rc = ukit_oci_authfile_lookup(buf, (size_t)n, paths[i],
					      r->ref->host, &r->user, &r->pass, e);
		OPENSSL_cleanse(buf, (size_t)n);
		free(buf);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
	}
	return 0;
}

/* (dir)/(name) with its suffix (sfx) replaced by (nsfx), malloc'd */
static char *sibling(const char *dir, const char *name, size_t sfx,
		     const char *nsfx)
{
	size_t n = strlen(dir) + strlen(name) + strlen(nsfx) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%.*s%s", dir, (int)(strlen(name) - sfx), name,
			 nsfx);
	return p;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Append the CA file (path) to r->ca_pem. */
static int add_ca_file(struct reg *r, const char *path, struct fmt_err *e)
{
	struct stat st;
	char *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read --cert-dir CA "
			       "certificate", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > OCI_CERTFILE_MAX) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file of at "
				     "most %u bytes", path, OCI_CERTFILE_MAX);
	}
	nb = realloc(r->ca_pem, r->ca_len + (size_t)st.st_size + 2);
	if (nb == NULL) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	r->ca_pem = nb;
	if (ukit_pread_full(fd, nb + r->ca_len, (size_t)st.st_size, 0) !=
	    st.st_size) {
		ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read", path);
		close(fd);
		return -1;
	}
	close(fd);
	r->ca_len += (size_t)st.st_size;
	r->ca_pem[r->ca_len++] = '\n';
	r->ca_pem[r->ca_len] = 0;
	return 0;
}

/*
 * --cert-dir DIR as containers/image reads it: every *.crt is a CA
 * certificate; NAME.cert with NAME.key is the client certificate and key
 * for mutual TLS (one pair: libcurl presents one).  A .cert without its
 * .key, or a .key without its .cert, is an error, as in skopeo.
 */
static int load_cert_dir(struct reg *r, struct fmt_err *e)
{
	const char *dir = r->o->cert_dir;
	struct dirent **ents = NULL;
	int n, rc = 0;

	if (dir == NULL)
		return 0;
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read --cert-dir",
				      dir);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t l = strlen(name);
		char *path = NULL, *other = NULL;

		if (rc < 0 || name[0] == '.')
			goto next;
		if (l > 4 && strcmp(name + l - 4, ".crt") == 0) {
			path = sibling(dir, name, 0, "");
			rc = path ? add_ca_file(r, path, e) :
			     ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		} else if (l > 5 && strcmp(name + l - 5, ".cert") == 0) {
			path = sibling(dir, name, 0, "");
			other = sibling(dir, name, 5, ".key");
			if (path == NULL || other == NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			else if (!is_file(other))
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: client "
					"certificate without its key %s (CA "
					"certificates end in .crt)", path, other);
			else if (r->client_cert != NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: a second "
					"client certificate in --cert-dir (after "
					"%s); only one is presented", path,
					r->client_cert);
			else {
				r->client_cert = path;
				r->client_key = other;
				path = other = NULL;
			}
		} else if (l > 4 && strcmp(name + l - 4, ".key") == 0) {
			path = sibling(dir, name, 0, "");
			other = sibling(dir, name, 4, ".cert");
			if (path == NULL || other == NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			else if (!is_file(other))
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: key without "
					"its client certificate %s", path, other);
		}
next:
		free(path);
		free(other);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static bool is_local(const char *host)
{
	return strncmp(host, "localhost", 9) == 0 &&
		       (host[9] == 0 || host[9] == ':') ? true :
	       strncmp(host, "127.", 4) == 0 ? true :
	       strncmp(host, "[::1]", 5) == 0;
}

static int reg_open(struct reg *r, const struct ukit_oci_ref *ref,
		    const struct ukit_oci_regopts *o, const char *actions,
		    struct fmt_err *e)
{
	const char *rm = getenv("UKIT_OCI_RETRY_MS");
	struct xfer x;

	memset(r, 0, sizeof *r);
	r->o = o;
	r->ref = ref;
	r->actions = actions;
	r->retry_ms = rm && *rm ? strtol(rm, NULL, 10) : 500;
	if (r->retry_ms < 0 || r->retry_ms > 60000)
		r->retry_ms = 500;
	r->insecure_ok = o->tls_verify == 0 || is_local(ref->host);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r->c = curl_easy_init();
	if (r->c == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot start libcurl");
	if (load_creds(r, e) < 0 || load_cert_dir(r, e) < 0)
		return -1;
	snprintf(r->base, sizeof r->base, "https://%s",
		 strcmp(ref->host, "docker.io") == 0 ? "registry-1.docker.io" :
		 ref->host);
	for (int pass = 0; pass < 2; pass++) {
		int rc;
		memset(&x, 0, sizeof x);
		x.method = "GET";
		x.bmax = OCI_ERRBODY_MAX;
		x.tls_probe = pass == 0;
		snprintf(x.url, sizeof x.url, "%s/v2/", r->base);
		rc = perform(r, &x, e);
		free(x.body);
		if (rc < 0) {
			/* a plain-HTTP registry answers TLS with garbage */
			if (pass == 0 && r->insecure_ok && r->status == 0 &&
			    r->curl_rc == CURLE_SSL_CONNECT_ERROR &&
			    !r->cert_requested) {
				snprintf(r->base, sizeof r->base, "http://%s",
					 ref->host);
				continue;
			}
			return -1;
		}
		break;
	}
	if (r->status == 401)
		return http_err(r, e, r->user ? "credentials rejected" :
				"the registry wants credentials");
	if (r->status != 200)
		return http_err(r, e, "GET /v2/");
	return 0;
}

/* ---- manifests ------------------------------------------------------ */

static const char accept_hdr[] = "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX
	", " DOCKER_MT_MANIFEST ", " DOCKER_MT_LIST;

/* GET a manifest by tag or digest; verify it; (*body) malloc'd. */
static int get_manifest(struct reg *r, const char *ref, const char *want,
			char **body, size_t *len, char ctype[256],
			char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e);

/* The same, but a 404 is 0 with (*body) NULL. */
static int get_manifest_opt(struct reg *r, const char *ref, char **body,
			    size_t *len, char ctype[256],
			    char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	struct fmt_err e2 = { .off = FMT_NOOFF };

	*body = NULL;
	if (get_manifest(r, ref, NULL, body, len, ctype, digest, &e2) == 0)
		return 0;
	if (r->status == 404)
		return 0;
	if (e != NULL)
		*e = e2;
	return -1;
}

static int get_manifest(struct reg *r, const char *ref, const char *want,
			char **body, size_t *len, char ctype[256],
			char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	struct xfer x;
	char what[200];

	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.bmax = OCI_JSON_MAX;
	x.hdrs = curl_slist_append(NULL, accept_hdr);
	snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r->base,
		 r->ref->repo, ref);
	snprintf(what, sizeof what, "manifest %s", ref);
	if (perform(r, &x, e) < 0) {
		curl_slist_free_all(x.hdrs);
		free(x.body);
		return -1;
	}
	curl_slist_free_all(x.hdrs);
	if (r->status != 200) {
		free(x.body);
		return http_err(r, e, what);
	}
	if (x.body == NULL) {
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: empty response",
				r->ref->text, what);
	}
	if (ukit_oci_digest_buf(x.body, x.blen, digest, e) < 0) {
		free(x.body);
		return -1;
	}
	if (want != NULL && strcmp(want, digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: received a manifest with "
				"digest %s (HTTP %ld)", r->ref->text, what,
				digest, r->status);
	}
	if (r->dcd[0] && strcmp(r->dcd, digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: Docker-Content-Digest %s "
				"but the bytes have digest %s", r->ref->text,
				what, r->dcd, digest);
	}
	snprintf(ctype, 256, "%s", r->ctype);
	*body = x.body;
	*len = x.blen;
	return 0;
}

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "";
#endif
}

/* ---- blobs ---------------------------------------------------------- */

/* An upload source: a blob of a local layout read at (pos), hashed once
 * in order even when a chunk is sent again. */
struct upsrc {
	int fd;
	uint64_t base, size, pos, start, end, hashed;
	EVP_MD_CTX *md;
	const char *digest;
};

static ssize_t up_read(void *ctx, void *buf, size_t len, struct fmt_err *e)
{
	struct upsrc *u = ctx;
	ssize_t n;

	if (u->pos >= u->end)
		return 0;
	if (len > u->end - u->pos)
		len = (size_t)(u->end - u->pos);
	n = pread(u->fd, buf, len, (off_t)(u->base + u->pos));
	if (n < 0)
		return ukit_fmt_errno(e, u->pos, "blob %s: read", u->digest);
	if (n == 0)
		return ukit_fmt_errf(e, u->pos, "blob %s: shorter than its "
				"descriptor", u->digest);
	if (u->pos + (uint64_t)n > u->hashed) {
		uint64_t skip = u->hashed - u->pos;
		if (!EVP_DigestUpdate(u->md, (uint8_t *)buf + skip,
				      (size_t)((uint64_t)n - skip)))
			return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
		u->hashed = u->pos + (uint64_t)n;
	}
	u->pos += (uint64_t)n;
	return n;
}

static int up_rewind(void *ctx, struct fmt_err *e)
{
	struct upsrc *u = ctx;

	(void)e;
	u->pos = u->start;
	return 0;
}

static int up_check(struct upsrc *u, const char *what, struct fmt_err *e)
{
	uint8_t md[32];
	char got[OCI_DIGEST_LEN + 1];

	if (u->hashed != u->size)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: sent %" PRIu64 " of "
				"%" PRIu64 " bytes", what, u->digest, u->hashed,
				u->size);
	if (!EVP_DigestFinal_ex(u->md, md, NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	ukit_oci_digest_fmt(md, got);
	if (strcmp(got, u->digest) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: local blob %s has digest %s: "
				"the layout is corrupt", what, u->digest, got);
	return 0;
}

/* Resolve a Location against the registry base URL. */
static int location_url(struct reg *r, char *out, size_t cap,
			struct fmt_err *e)
{
	if (r->location[0] == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: HTTP %ld without a "
				"Location", r->ref->text, r->status);
	if (strncmp(r->location, "http://", 7) == 0 ||
	    strncmp(r->location, "https://", 8) == 0)
		snprintf(out, cap, "%s", r->location);
	else if (r->location[0] == '/') {
		if ((size_t)snprintf(out, cap, "%s%s", r->base, r->location) >= cap)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: Location too "
					"long", r->ref->text);
	}
	else
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: unusable Location "
				"\"%.100s\"", r->ref->text, r->location);
	return 0;
}

static int blob_exists(struct reg *r, const struct ukit_oci_desc *d,
		       struct fmt_err *e)
{
	struct xfer x;
	char what[120];

	memset(&x, 0, sizeof x);
	x.method = "HEAD";
	x.follow = true;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	if (perform(r, &x, e) < 0)
		return -1;
	if (r->status == 200)
		return 1;
	if (r->status == 404)
		return 0;
	snprintf(what, sizeof what, "HEAD blob %s", d->digest);
	return http_err(r, e, what);
}

static int push_blob_fd(struct reg *r, int fd, uint64_t off,
			const struct ukit_oci_desc *d, const char **action,
			struct fmt_err *e);

static int push_blob(struct reg *r, struct ukit_oci_local *l,
		     const struct ukit_oci_desc *d, const char **action,
		     struct fmt_err *e)
{
	int fd, rc;
	uint64_t off;

	rc = blob_exists(r, d, e);
	if (rc != 0) {
		*action = "exists";
		return rc < 0 ? -1 : 0;
	}
	if (ukit_oci_local_blob(l, d->digest, d->size, &fd, &off, e) < 0)
		return -1;
	return push_blob_fd(r, fd, off, d, action, e);
}

static int push_blob_fd(struct reg *r, int fd, uint64_t off,
			const struct ukit_oci_desc *d, const char **action,
			struct fmt_err *e)
{
	struct upsrc u;
	struct xfer x;
	char loc[4096], what[120];
	int rc = -1;
	snprintf(what, sizeof what, "blob %s", d->digest);
	memset(&x, 0, sizeof x);
	x.method = "POST";
	if (r->o->mount_from != NULL)
		snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/uploads/?mount=%s"
			 "&from=%s", r->base, r->ref->repo, d->digest,
			 r->o->mount_from);
	else
		snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/uploads/",
			 r->base, r->ref->repo);
	if (perform(r, &x, e) < 0)
		return -1;
	if (r->status == 201 && r->o->mount_from != NULL) {
		*action = "mounted";
		return 0;
	}
	if (r->status != 202)
		return http_err(r, e, what);
	if (location_url(r, loc, sizeof loc, e) < 0)
		return -1;

	memset(&u, 0, sizeof u);
	u.fd = fd;
	u.base = off;
	u.size = d->size;
	u.digest = d->digest;
	u.md = EVP_MD_CTX_new();
	if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(u.md);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	rc = -1;
	if (r->o->chunk_size > 0) {
		while (u.pos < u.size) {
			char range[80];
			u.start = u.pos;
			u.end = u.size - u.pos < r->o->chunk_size ? u.size :
				u.pos + r->o->chunk_size;
			memset(&x, 0, sizeof x);
			x.method = "PATCH";
			snprintf(x.url, sizeof x.url, "%s", loc);
			snprintf(range, sizeof range, "Content-Range: %" PRIu64
				 "-%" PRIu64, u.start, u.end - 1);
			x.hdrs = curl_slist_append(NULL, range);
			x.hdrs = curl_slist_append(x.hdrs, "Content-Type: "
						   "application/octet-stream");
			x.up = up_read;
			x.upctx = &u;
			x.upsize = u.end - u.start;
			x.has_body = true;
			x.rewind = up_rewind;
			x.rwctx = &u;
			if (perform(r, &x, e) < 0) {
				curl_slist_free_all(x.hdrs);
				goto out;
			}
			curl_slist_free_all(x.hdrs);
			if (r->status != 202) {
				http_err(r, e, what);
				goto out;
			}
			if (location_url(r, loc, sizeof loc, e) < 0)
				goto out;
		}
		if (up_check(&u, r->ref->text, e) < 0)
			goto out;
		memset(&x, 0, sizeof x);
		x.method = "PUT";
	} else {
		u.start = 0;
		u.end = u.size;
		memset(&x, 0, sizeof x);
		x.method = "PUT";
		x.up = up_read;
		x.upctx = &u;
		x.upsize = u.size;
		x.has_body = true;
		x.rewind = up_rewind;
		x.rwctx = &u;
		x.hdrs = curl_slist_append(NULL, "Content-Type: "
					   "application/octet-stream");
	}
	if ((size_t)snprintf(x.url, sizeof x.url, "%s%sdigest=%s", loc,
			     strchr(loc, '?') ? "&" : "?", d->digest) >=
	    sizeof x.url) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: Location too long",
			 r->ref->text);
		curl_slist_free_all(x.hdrs);
		goto out;
	}
	if (perform(r, &x, e) < 0) {
		curl_slist_free_all(x.hdrs);
		goto out;
	}
	curl_slist_free_all(x.hdrs);
	if (r->o->chunk_size == 0 && up_check(&u, r->ref->text, e) < 0)
		goto out;
	if (r->status != 201) {
		http_err(r, e, what);
		goto out;
	}
	if (r->dcd[0] && strcmp(r->dcd, d->digest) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: the registry stored digest %s",
			 r->ref->text, what, r->dcd);
		goto out;
	}
	*action = "uploaded";
	rc = 0;
out:
	EVP_MD_CTX_free(u.md);
	return rc;
}

struct downsink {
	struct ukit_oci_out *w;
	struct ukit_oci_blobw *b;
};

static int down_write(void *ctx, const void *buf, size_t len,
		      struct fmt_err *e)
{
	struct downsink *s = ctx;

	return ukit_oci_blobw_write(s->b, buf, len, e);
}

static int down_rewind(void *ctx, struct fmt_err *e)
{
	struct downsink *s = ctx;

	ukit_oci_out_blob_drop(s->b);
	s->b = NULL;
	return ukit_oci_out_blob_begin(s->w, &s->b, e);
}

static int pull_blob(struct reg *r, struct ukit_oci_out *w,
		     const struct ukit_oci_desc *d, struct fmt_err *e)
{
	struct downsink s = { w, NULL };
	struct xfer x;
	char what[120];

	if (ukit_oci_out_blob_begin(w, &s.b, e) < 0)
		return -1;
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.follow = true;
	x.down = down_write;
	x.downctx = &s;
	x.downmax = d->size;
	x.exact = true;
	x.rewind = down_rewind;
	x.rwctx = &s;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	snprintf(what, sizeof what, "blob %s", d->digest);
	if (perform(r, &x, e) < 0) {
		ukit_oci_out_blob_drop(s.b);
		return -1;
	}
	if (r->status != 200) {
		ukit_oci_out_blob_drop(s.b);
		return http_err(r, e, what);
	}
	if (ukit_oci_out_blob_end(w, s.b, d->digest, d->size, NULL, NULL, e) < 0) {
		ukit_oci_err_prefix(e, r->ref->text);
		return -1;
	}
	return 0;
}

/* ---- push and pull -------------------------------------------------- */

static int get_blob_mem(struct reg *r, const struct ukit_oci_desc *d,
			size_t max, char **out, struct fmt_err *e);

static void report_blob(json_t *rep, const struct ukit_oci_desc *d,
			const char *action)
{
	json_t *a;

	if (rep == NULL)
		return;
	a = json_object_get(rep, "blobs");
	if (a == NULL) {
		a = json_array();
		json_object_set_new(rep, "blobs", a);
	}
	json_array_append_new(a, json_pack("{s:s,s:I,s:s}", "digest",
			      d->digest, "size", (json_int_t)d->size, "action",
			      action));
}

int ukit_oci_push(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o, json_t *report,
		  struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_desc md;
	struct ukit_oci_manifest m;
	struct reg r;
	struct xfer x;
	char *raw = NULL, hdr[320], what[120];
	const char *action, *mt;
	int kind, rc = -1;

	memset(&m, 0, sizeof m);
	memset(&md, 0, sizeof md);
	memset(&r, 0, sizeof r);
	if (ukit_oci_local_open(src, &l, e) < 0 ||
	    ukit_oci_local_resolve(l, src, &md, e) < 0 ||
	    ukit_oci_local_read(l, &md, &raw, e) < 0)
		goto out;
	kind = ukit_oci_doc_kind(md.media_type, raw, strlen(raw), e);
	if (kind < 0)
		goto out;
	if (kind != 1) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s is an image index; push one "
			 "image", src->text, md.digest);
		goto out;
	}
	if (ukit_oci_manifest_parse(raw, strlen(raw), md.digest, &m, e) < 0)
		goto out;
	if (reg_open(&r, dst, o, "pull,push", e) < 0)
		goto out;
	/* config first: a push killed during a layer leaves it, and the
	 * next push skips it */
	if (push_blob(&r, l, &m.config, &action, e) < 0)
		goto out;
	report_blob(report, &m.config, action);
	for (size_t i = 0; i < m.nlayers; i++) {
		if (push_blob(&r, l, &m.layers[i], &action, e) < 0)
			goto out;
		report_blob(report, &m.layers[i], action);
	}
	mt = m.media_type[0] ? m.media_type : md.media_type;
	memset(&x, 0, sizeof x);
	x.method = "PUT";
	snprintf(hdr, sizeof hdr, "Content-Type: %s", mt);
	x.hdrs = curl_slist_append(NULL, hdr);
	{
		struct ukit_oci_blobrd br;
		int fd;
		uint64_t off;
		if (ukit_oci_local_blob(l, md.digest, md.size, &fd, &off, e) < 0) {
			curl_slist_free_all(x.hdrs);
			goto out;
		}
		struct upsrc u = { .fd = fd, .base = off, .size = md.size,
				   .end = md.size, .digest = md.digest };
		(void)br;
		u.md = EVP_MD_CTX_new();
		if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(u.md);
			curl_slist_free_all(x.hdrs);
			ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
			goto out;
		}
		x.up = up_read;
		x.upctx = &u;
		x.upsize = md.size;
		x.has_body = true;
		x.rewind = up_rewind;
		x.rwctx = &u;
		snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r.base,
			 dst->repo, dst->digest ? dst->digest : dst->tag);
		rc = perform(&r, &x, e);
		EVP_MD_CTX_free(u.md);
		curl_slist_free_all(x.hdrs);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	snprintf(what, sizeof what, "PUT manifest %s", md.digest);
	if (r.status != 201) {
		http_err(&r, e, what);
		goto out;
	}
	if (r.dcd[0] && strcmp(r.dcd, md.digest) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: the registry stored digest %s",
			 dst->text, what, r.dcd);
		goto out;
	}
	if (report != NULL) {
		json_object_set_new(report, "reference", json_string(dst->text));
		json_object_set_new(report, "digest", json_string(md.digest));
	}
	rc = 0;
out:
	reg_free(&r);
	ukit_oci_manifest_free(&m);
	ukit_oci_desc_free(&md);
	free(raw);
	ukit_oci_local_close(l);
	return rc;
}

/* The image manifest (src) names: an index is resolved to the linux
 * image of this machine's architecture.  (*body) malloc'd, verified. */
static int resolve_image(struct reg *r, const struct ukit_oci_ref *src,
			 char **bodyp, size_t *lenp,
			 char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	char *body = NULL, ctype[256];
	size_t len;
	int kind;

	if (get_manifest(r, src->digest ? src->digest : src->tag, src->digest,
			 &body, &len, ctype, digest, e) < 0)
		goto fail;
	kind = ukit_oci_doc_kind(ctype, body, len, e);
	if (kind < 0) {
		char tmp[FMT_ERR_MSG];
		snprintf(tmp, sizeof tmp, "%.150s: manifest %s", src->text,
			 digest);
		ukit_oci_err_prefix(e, tmp);
		goto fail;
	}
	if (kind == 2) {
		struct ukit_oci_index ix;
		const struct ukit_oci_desc *pick = NULL;
		char want[OCI_DIGEST_LEN + 1];
		if (ukit_oci_index_parse(body, len, digest, &ix, e) < 0)
			goto fail;
		for (size_t i = 0; i < ix.n && pick == NULL; i++)
			if (strcmp(ix.m[i].platform_arch, host_arch()) == 0 &&
			    (ix.m[i].platform_os[0] == 0 ||
			     strcmp(ix.m[i].platform_os, "linux") == 0))
				pick = &ix.m[i];
		if (pick == NULL && ix.n == 1)
			pick = &ix.m[0];
		if (pick == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: index %s has no image for "
				 "linux/%s", src->text, digest, host_arch());
			ukit_oci_index_free(&ix);
			goto fail;
		}
		snprintf(want, sizeof want, "%s", pick->digest);
		ukit_oci_index_free(&ix);
		free(body);
		body = NULL;
		if (get_manifest(r, want, want, &body, &len, ctype, digest,
				 e) < 0)
			goto fail;
		if (ukit_oci_doc_kind(ctype, body, len, e) != 1) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: not an image manifest",
				 src->text, want);
			goto fail;
		}
	}
	*bodyp = body;
	*lenp = len;
	return 0;
fail:
	free(body);
	return -1;
}

int ukit_oci_remote_image(const struct ukit_oci_ref *ref,
			  const struct ukit_oci_regopts *o,
			  struct ukit_oci_desc *d, char **raw, size_t *len,
			  char **config, struct fmt_err *e)
{
	struct reg r;
	struct ukit_oci_manifest m;
	int rc = -1;

	memset(&m, 0, sizeof m);
	memset(d, 0, sizeof *d);
	*raw = *config = NULL;
	if (reg_open(&r, ref, o, "pull", e) < 0 ||
	    resolve_image(&r, ref, raw, len, d->digest, e) < 0 ||
	    ukit_oci_manifest_parse(*raw, *len, d->digest, &m, e) < 0 ||
	    get_blob_mem(&r, &m.config, OCI_JSON_MAX, config, e) < 0)
		goto out;
	snprintf(d->media_type, sizeof d->media_type, "%s",
		 m.media_type[0] ? m.media_type : OCI_MT_MANIFEST);
	d->size = *len;
	rc = 0;
out:
	if (rc < 0) {
		free(*raw);
		*raw = NULL;
	}
	ukit_oci_manifest_free(&m);
	reg_free(&r);
	return rc;
}

int ukit_oci_pull(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o,
		  char digest_out[OCI_DIGEST_LEN + 1],
		  ukit_oci_precommit_fn check, void *check_arg,
		  struct fmt_err *e)
{
	struct reg r;
	struct ukit_oci_manifest m;
	struct ukit_oci_out *w = NULL;
	struct ukit_oci_desc md;
	char *body = NULL, digest[OCI_DIGEST_LEN + 1],
	     staged[OCI_DIGEST_LEN + 1];
	size_t len;
	int rc = -1;

	memset(&m, 0, sizeof m);
	memset(&md, 0, sizeof md);
	if (reg_open(&r, src, o, "pull", e) < 0)
		goto out;
	if (resolve_image(&r, src, &body, &len, digest, e) < 0)
		goto out;
	if (ukit_oci_manifest_parse(body, len, digest, &m, e) < 0)
		goto out;
	if (ukit_oci_out_open(dst, 0, &w, e) < 0)
		goto out;
	if (ukit_oci_out_blob_bytes(w, body, len, staged, e) < 0)
		goto out;
	if (pull_blob(&r, w, &m.config, e) < 0)
		goto out;
	for (size_t i = 0; i < m.nlayers; i++)
		if (pull_blob(&r, w, &m.layers[i], e) < 0)
			goto out;
	snprintf(md.media_type, sizeof md.media_type, "%s",
		 m.media_type[0] ? m.media_type : OCI_MT_MANIFEST);
	snprintf(md.digest, sizeof md.digest, "%s", digest);
	md.size = len;
	/* everything is staged and its digests matched: last, the caller's
	 * check (the signature), then the commit */
	reg_free(&r);
	if (check != NULL && check(check_arg, &md, body, len, e) < 0)
		goto out;
	rc = ukit_oci_out_commit(w, &md, dst->tag ? dst->tag : src->tag, e);
	w = NULL;
	if (rc == 0 && digest_out != NULL)
		strcpy(digest_out, digest);
out:
	ukit_oci_out_abort(w);
	reg_free(&r);
	ukit_oci_manifest_free(&m);
	free(body);
	return rc;
}

/* ---- referrers: attach and list artifacts --------------------------- */

static int mem_fd(const void *buf, size_t len, struct fmt_err *e)
{
	int fd = memfd_create("ukit-oci", MFD_CLOEXEC);

	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd_create");
	if (ukit_write_full(fd, buf, len) < 0) {
		close(fd);
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd write");
	}
	return fd;
}

/* Push (buf, len) as blob (d) unless the registry has it. */
static int push_mem(struct reg *r, const void *buf, size_t len,
		    const struct ukit_oci_desc *d, struct fmt_err *e)
{
	const char *action;
	int fd, rc = blob_exists(r, d, e);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	fd = mem_fd(buf, len, e);
	if (fd < 0)
		return -1;
	rc = push_blob_fd(r, fd, 0, d, &action, e);
	close(fd);
	return rc;
}

static int put_manifest(struct reg *r, const char *ref, const char *mt,
			const char *buf, size_t len, struct fmt_err *e)
{
	struct upsrc u;
	struct xfer x;
	char hdr[320], what[200];
	int fd, rc;

	fd = mem_fd(buf, len, e);
	if (fd < 0)
		return -1;
	memset(&u, 0, sizeof u);
	memset(&x, 0, sizeof x);
	u.fd = fd;
	u.size = u.end = len;
	u.digest = "manifest";
	u.md = EVP_MD_CTX_new();
	if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(u.md);
		close(fd);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	x.method = "PUT";
	snprintf(hdr, sizeof hdr, "Content-Type: %s", mt);
	x.hdrs = curl_slist_append(NULL, hdr);
	x.up = up_read;
	x.upctx = &u;
	x.upsize = len;
	x.has_body = true;
	x.rewind = up_rewind;
	x.rwctx = &u;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r->base,
		 r->ref->repo, ref);
	rc = perform(r, &x, e);
	curl_slist_free_all(x.hdrs);
	EVP_MD_CTX_free(u.md);
	close(fd);
	if (rc < 0)
		return -1;
	if (r->status != 201) {
		snprintf(what, sizeof what, "PUT manifest %s", ref);
		return http_err(r, e, what);
	}
	return 0;
}

int ukit_oci_remote_manifest(const struct ukit_oci_ref *ref,
			     const struct ukit_oci_regopts *o,
			     struct ukit_oci_desc *d, char **raw, size_t *len,
			     struct fmt_err *e)
{
	struct reg r;
	char ctype[256];
	int rc = -1, kind;

	memset(d, 0, sizeof *d);
	if (reg_open(&r, ref, o, "pull", e) < 0)
		goto out;
	if (get_manifest(&r, ref->digest ? ref->digest : ref->tag, ref->digest,
			 raw, len, ctype, d->digest, e) < 0)
		goto out;
	kind = ukit_oci_doc_kind(ctype, *raw, *len, e);
	if (kind < 0) {
		free(*raw);
		*raw = NULL;
		goto out;
	}
	snprintf(d->media_type, sizeof d->media_type, "%s",
		 kind == 2 ? OCI_MT_INDEX : OCI_MT_MANIFEST);
	if (ctype[0] && ukit_oci_media_type_valid(ctype))
		snprintf(d->media_type, sizeof d->media_type, "%s", ctype);
	d->size = *len;
	rc = 0;
out:
	reg_free(&r);
	return rc;
}

int ukit_oci_remote_attach(const struct ukit_oci_ref *ref,
			   const struct ukit_oci_regopts *o,
			   const struct ukit_oci_artifact *a,
			   struct fmt_err *e)
{
	struct reg r;
	char *ix = NULL, *old = NULL, ctype[256], odig[OCI_DIGEST_LEN + 1],
	     tag[80];
	size_t oldlen = 0;
	int rc = -1;

	if (reg_open(&r, ref, o, "pull,push", e) < 0)
		goto out;
	if (push_mem(&r, OCI_EMPTY_JSON, 2, &a->config, e) < 0 ||
	    push_mem(&r, a->blob, a->blob_len, &a->layer, e) < 0 ||
	    put_manifest(&r, a->manifest_desc.digest, OCI_MT_MANIFEST,
			 a->manifest, a->manifest_len, e) < 0)
		goto out;
	if (r.subject_hdr[0] &&
	    strcmp(r.subject_hdr, a->subject.digest) == 0) {
		rc = 0;         /* the registry keeps referrers itself */
		goto out;
	}
	/* no referrers API: the image-spec's fallback tag */
	snprintf(tag, sizeof tag, "sha256-%s", a->subject.digest + 7);
	if (get_manifest_opt(&r, tag, &old, &oldlen, ctype, odig, e) < 0)
		goto out;
	if (ukit_oci_referrers_index_add(old, oldlen, &a->manifest_desc, &ix,
					 e) < 0)
		goto out;
	if (put_manifest(&r, tag, OCI_MT_INDEX, ix, strlen(ix), e) < 0)
		goto out;
	rc = 0;
out:
	free(ix);
	free(old);
	reg_free(&r);
	return rc;
}

/* GET blob (d) (≤ max bytes) into memory, digest checked. */
static int get_blob_mem(struct reg *r, const struct ukit_oci_desc *d,
			size_t max, char **out, struct fmt_err *e)
{
	struct xfer x;
	char got[OCI_DIGEST_LEN + 1], what[120];

	if (d->size > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: %" PRIu64 " bytes, "
				"over the limit of %zu", r->ref->text, d->digest,
				d->size, max);
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.follow = true;
	x.bmax = (size_t)d->size;
	x.exact = true;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	snprintf(what, sizeof what, "blob %s", d->digest);
	if (perform(r, &x, e) < 0) {
		free(x.body);
		return -1;
	}
	if (r->status != 200) {
		free(x.body);
		return http_err(r, e, what);
	}
	if (x.body == NULL) {
		x.body = malloc(1);
		if (x.body == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		x.body[0] = 0;
	}
	if (ukit_oci_digest_buf(x.body, x.blen, got, e) < 0 ||
	    x.blen != d->size || strcmp(got, d->digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: the %zu bytes "
				"received have digest %s", r->ref->text,
				d->digest, x.blen, got);
	}
	*out = x.body;
	return 0;
}

int ukit_oci_remote_referrers(const struct ukit_oci_ref *ref,
			      const struct ukit_oci_regopts *o,
			      const char *subject, const char *artifact_type,
			      ukit_oci_referrer_fn fn, void *arg,
			      struct fmt_err *e)
{
	struct reg r;
	struct xfer x;
	struct ukit_oci_index ix;
	char *body = NULL, ctype[256], dg[OCI_DIGEST_LEN + 1], tag[80], *at;
	size_t len = 0;
	int rc = -1, found = 0;

	memset(&ix, 0, sizeof ix);
	if (reg_open(&r, ref, o, "pull", e) < 0)
		goto out;
	at = urlenc(r.c, artifact_type);
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.bmax = OCI_JSON_MAX;
	x.hdrs = curl_slist_append(NULL, "Accept: " OCI_MT_INDEX);
	snprintf(x.url, sizeof x.url, "%s/v2/%s/referrers/%s?artifactType=%s",
		 r.base, ref->repo, subject, at ? at : "");
	free(at);
	rc = perform(&r, &x, e);
	curl_slist_free_all(x.hdrs);
	if (rc < 0) {
		free(x.body);
		goto out;
	}
	rc = -1;
	if (r.status == 200 && x.body != NULL) {
		body = x.body;
		len = x.blen;
	} else {
		free(x.body);
		snprintf(tag, sizeof tag, "sha256-%s", subject + 7);
		if (get_manifest_opt(&r, tag, &body, &len, ctype, dg, e) < 0)
			goto out;
	}
	if (body == NULL) {
		rc = 0;
		goto out;
	}
	if (ukit_oci_index_parse(body, len, "referrers index", &ix, e) < 0)
		goto out;
	for (size_t i = 0; i < ix.n && found == 0; i++) {
		struct ukit_oci_manifest m;
		char *raw = NULL, *blob = NULL;
		size_t rlen;
		int k;

		if (ix.m[i].artifact_type[0] &&
		    strcmp(ix.m[i].artifact_type, artifact_type) != 0)
			continue;
		if (get_manifest(&r, ix.m[i].digest, ix.m[i].digest, &raw,
				 &rlen, ctype, dg, e) < 0)
			goto out;
		if (ukit_oci_manifest_parse(raw, rlen, ix.m[i].digest, &m,
					    e) < 0) {
			free(raw);
			goto out;
		}
		free(raw);
		if (!m.has_subject || strcmp(m.subject.digest, subject) != 0 ||
		    m.nlayers != 1 ||
		    strcmp(m.layers[0].media_type, artifact_type) != 0) {
			ukit_oci_manifest_free(&m);
			continue;       /* not a signature of this image */
		}
		if (get_blob_mem(&r, &m.layers[0], OCI_ARTIFACT_MAX, &blob,
				 e) < 0) {
			ukit_oci_manifest_free(&m);
			goto out;
		}
		k = fn(arg, blob, (size_t)m.layers[0].size, ix.m[i].digest, e);
		free(blob);
		ukit_oci_manifest_free(&m);
		if (k < 0)
			goto out;
		if (k > 0)
			found = 1;
	}
	rc = found;
out:
	ukit_oci_index_free(&ix);
	free(body);
	reg_free(&r);
	return rc;
}

int ukit_oci_referrers_index_add(const char *old, size_t oldlen,
				 const struct ukit_oci_desc *d, char **out,
				 struct fmt_err *e)
{
	json_t *root, *ms, *v;
	size_t i;

	if (old != NULL) {
		struct ukit_oci_index ix;
		if (ukit_oci_index_parse(old, oldlen, "referrers index", &ix,
					 e) < 0)
			return -1;
		ukit_oci_index_free(&ix);
		root = ukit_sigjson_load(old, oldlen, "referrers index", e);
		if (root == NULL)
			return -1;
	} else {
		root = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2,
				 "mediaType", OCI_MT_INDEX, "manifests");
		if (root == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	ms = json_object_get(root, "manifests");
	json_array_foreach(ms, i, v) {
		json_t *dg = json_object_get(v, "digest");
		if (json_is_string(dg) &&
		    strcmp(json_string_value(dg), d->digest) == 0)
			break;
	}
	if (i == json_array_size(ms))
		json_array_append_new(ms, ukit_oci_desc_json(d));
	*out = ukit_oci_json_dump(root);
	json_decref(root);
	return *out ? 0 : ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
}
