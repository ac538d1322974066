/*
 * regcurl.c: libcurl's callbacks for one request (see registry_int.h):
 * the response headers the client keeps, a response body bounded and kept
 * or streamed, a blob's Content-Length checked against its descriptor,
 * the request body read and rewound; and the registry's error body turned
 * into a message.  Everything here comes from the registry: untrusted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "curldl.h"
#include "registry_int.h"

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
}

size_t ukit_oci_reg_on_header(char *p, size_t sz, size_t nm, void *ctx)
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
bool ukit_oci_reg_clen_wrong(struct xfer *x)
{
	uint64_t want = x->down ? x->downmax : (uint64_t)x->bmax;

	if (!x->exact || x->r->clen < 0 || (uint64_t)x->r->clen == want)
		return false;
	ukit_fmt_errf(&x->cberr, FMT_NOOFF, "Content-Length %" PRId64
		      " disagrees with the descriptor's size %" PRIu64,
		      x->r->clen, want);
	return true;
}

size_t ukit_oci_reg_on_write(char *p, size_t sz, size_t nm, void *ctx)
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
	if (x->got == 0 && ukit_oci_reg_clen_wrong(x)) {
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

size_t ukit_oci_reg_on_read(char *p, size_t sz, size_t nm, void *ctx)
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
int ukit_oci_reg_on_seek(void *ctx, curl_off_t off, int origin)
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

int ukit_oci_reg_http_err(struct reg *r, struct fmt_err *e, const char *what)
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
