/*
 * regxfer.c: the client's requests (see registry_int.h): opening a client
 * (credentials, TLS, GET /v2/ choosing https or, where allowed, plain
 * http), one request performed with retries and backoff, and the 401
 * challenge answered, Basic or with a bearer token.  The token request is
 * itself a request, so answering the challenge lives beside the loop that
 * retries with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "curldl.h"
#include "registry_int.h"
#include "sigjson.h"

void ukit_oci_reg_free(struct reg *r)
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

int ukit_oci_reg_perform(struct reg *r, struct xfer *x, struct fmt_err *e)
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
		curl_easy_setopt(r->c, CURLOPT_HEADERFUNCTION,
				 ukit_oci_reg_on_header);
		curl_easy_setopt(r->c, CURLOPT_HEADERDATA, x);
		curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION,
				 ukit_oci_reg_on_write);
		curl_easy_setopt(r->c, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(r->c, CURLOPT_BUFFERSIZE, (long)XFER_BUF);
		curl_easy_setopt(r->c, CURLOPT_UPLOAD_BUFFERSIZE, (long)XFER_BUF);
		curl_easy_setopt(r->c, CURLOPT_CONNECTTIMEOUT, 30L);
		curl_easy_setopt(r->c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->c, CURLOPT_LOW_SPEED_TIME, 120L);
		curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(r->c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		ukit_oci_reg_set_tls(r);
		r->cert_requested = false;
		if (x->tls_probe) {
			curl_easy_setopt(r->c, CURLOPT_DEBUGFUNCTION,
					 ukit_oci_reg_on_debug);
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
			curl_easy_setopt(r->c, CURLOPT_READFUNCTION,
					 ukit_oci_reg_on_read);
			curl_easy_setopt(r->c, CURLOPT_READDATA, x);
			curl_easy_setopt(r->c, CURLOPT_SEEKFUNCTION,
					 ukit_oci_reg_on_seek);
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
		    r->status == 200 && ukit_oci_reg_clen_wrong(x))
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
			alert = ukit_oci_reg_client_alert(r, abuf, sizeof abuf);
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
					"retries)" : "",
					ukit_oci_reg_tls_hint(rc));
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

char *ukit_oci_reg_urlenc(CURL *c, const char *s)
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
	svc = ukit_oci_reg_urlenc(r->c, ch.service);
	scope = ukit_oci_reg_urlenc(r->c, scopebuf);
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
		rc = ukit_oci_reg_perform(r, &x, e);
		OPENSSL_cleanse(hdr, sizeof hdr);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (r->status != 200) {
		ukit_oci_reg_http_err(r, e, "token request");
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

static bool is_local(const char *host)
{
	return strncmp(host, "localhost", 9) == 0 &&
		       (host[9] == 0 || host[9] == ':') ? true :
	       strncmp(host, "127.", 4) == 0 ? true :
	       strncmp(host, "[::1]", 5) == 0;
}

int ukit_oci_reg_open(struct reg *r, const struct ukit_oci_ref *ref,
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
	if (ukit_curl_load(e) < 0)
		return -1;
	r->c = curl_easy_init();
	if (r->c == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot start libcurl");
	if (ukit_oci_reg_load_creds(r, e) < 0 ||
	    ukit_oci_reg_load_cert_dir(r, e) < 0)
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
		rc = ukit_oci_reg_perform(r, &x, e);
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
		return ukit_oci_reg_http_err(r, e,
					     r->user ? "credentials rejected" :
					     "the registry wants credentials");
	if (r->status != 200)
		return ukit_oci_reg_http_err(r, e, "GET /v2/");
	return 0;
}
