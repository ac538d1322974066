/*
 * tsa.c: RFC 3161 requests, the HTTP exchange (libcurl) and verification
 * of responses with OpenSSL's TS API (see tsa.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "curldl.h"
#include "tsa.h"

static int der_out(int n, unsigned char *der, uint8_t **out, size_t *len,
		   struct fmt_err *e)
{
	if (n <= 0)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot encode");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_free(der);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	memcpy(*out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

int ukit_tsa_request(const uint8_t *data, size_t len, uint8_t **req,
		     size_t *reqlen, struct fmt_err *e)
{
	TS_REQ *r = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = BN_new();
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = sizeof md;
	int rc = -1, n;

	if (r == NULL || mi == NULL || alg == NULL || bn == NULL ||
	    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
	    !TS_MSG_IMPRINT_set_algo(mi, alg) ||
	    !TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen) ||
	    !TS_REQ_set_version(r, 1) || !TS_REQ_set_msg_imprint(r, mi) ||
	    !BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !TS_REQ_set_nonce(r, nonce) || !TS_REQ_set_cert_req(r, 1)) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "cannot build the TimeStampReq");
		goto out;
	}
	n = i2d_TS_REQ(r, &der);
	rc = der_out(n, der, req, reqlen, e);
out:
	ASN1_INTEGER_free(nonce);
	BN_free(bn);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(r);
	return rc;
}

/* ---- HTTP ----------------------------------------------------------- */

struct body {
	uint8_t *buf;
	size_t   len;
	bool     too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	uint8_t *nb;

	if (b->len + add > UKIT_TSA_RESP_MAX) {
		b->too_big = true;
		return 0;                  /* aborts the transfer */
	}
	nb = realloc(b->buf, b->len + add + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + b->len, p, add);
	b->buf = nb;
	b->len += add;
	return add;
}

int ukit_tsa_fetch(const char *url, const uint8_t *req, size_t reqlen,
		   uint8_t **resp, size_t *resplen, struct fmt_err *e)
{
	struct body b = { 0 };
	struct curl_slist *h = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	const char *ctype = NULL;
	long code = 0;
	CURLcode cr;
	CURL *c;
	int rc = -1;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "TSA URL %.200s: want http:// or "
				"https://", url);
	if (ukit_curl_load(e) < 0)
		return -1;
	if ((c = curl_easy_init()) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot start libcurl");
	h = curl_slist_append(h, "Content-Type: application/timestamp-query");
	h = curl_slist_append(h, "Accept: application/timestamp-reply");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)reqlen);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	cr = curl_easy_perform(c);
	if (b.too_big) {
		ukit_fmt_errf(e, FMT_NOOFF, "TSA %.200s: response larger than %d "
			 "bytes", url, UKIT_TSA_RESP_MAX);
		goto out;
	}
	if (cr != CURLE_OK) {
		ukit_fmt_errf(e, FMT_NOOFF, "TSA %.200s: %s", url,
			 cerr[0] ? cerr : curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (code != 200) {
		ukit_fmt_errf(e, FMT_NOOFF, "TSA %.200s: HTTP status %ld", url, code);
		goto out;
	}
	if (ctype == NULL ||
	    strncmp(ctype, "application/timestamp-reply", 27) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "TSA %.200s: content type %.64s, want "
			 "application/timestamp-reply", url,
			 ctype ? ctype : "(none)");
		goto out;
	}
	if (b.len == 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "TSA %.200s: empty response", url);
		goto out;
	}
	*resp = b.buf;
	*resplen = b.len;
	b.buf = NULL;
	rc = 0;
out:
	free(b.buf);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

/* ---- responses ------------------------------------------------------ */

static TS_RESP *parse_resp(const uint8_t *resp, size_t len, struct fmt_err *e)
{
	const unsigned char *p = resp;
	TS_RESP *r;

	if (len > UKIT_TSA_RESP_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "timestamp response larger than %d bytes",
			 UKIT_TSA_RESP_MAX);
		return NULL;
	}
	r = d2i_TS_RESP(NULL, &p, (long)len);
	if (r == NULL) {
		ukit_fmt_err_openssl(e, 0, "not a DER TimeStampResp");
		return NULL;
	}
	if ((size_t)(p - resp) != len) {
		TS_RESP_free(r);
		ukit_fmt_errf(e, (uint64_t)(p - resp), "bytes after the "
			 "TimeStampResp");
		return NULL;
	}
	return r;
}

static int granted(TS_RESP *r, struct fmt_err *e)
{
	TS_STATUS_INFO *si = TS_RESP_get_status_info(r);
	long st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));

	if (st != TS_STATUS_GRANTED && st != TS_STATUS_GRANTED_WITH_MODS)
		return ukit_fmt_errf(e, FMT_NOOFF, "timestamp not granted (PKIStatus "
				"%ld)", st);
	if (TS_RESP_get_token(r) == NULL || TS_RESP_get_tst_info(r) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "timestamp response without a "
				"token");
	return 0;
}

int ukit_tsa_check_reply(const uint8_t *req, size_t reqlen,
			 const uint8_t *resp, size_t resplen,
			 struct fmt_err *e)
{
	const unsigned char *p = req;
	TS_REQ *q = d2i_TS_REQ(NULL, &p, (long)reqlen);
	TS_RESP *r = parse_resp(resp, resplen, e);
	TS_TST_INFO *ti;
	TS_MSG_IMPRINT *a, *b;
	ASN1_OCTET_STRING *da, *db;
	int rc = -1;

	if (q == NULL || r == NULL || granted(r, e) != 0) {
		if (q == NULL)
			ukit_fmt_errf(e, FMT_NOOFF, "bad request");
		goto out;
	}
	ti = TS_RESP_get_tst_info(r);
	a = TS_REQ_get_msg_imprint(q);
	b = TS_TST_INFO_get_msg_imprint(ti);
	da = TS_MSG_IMPRINT_get_msg(a);
	db = TS_MSG_IMPRINT_get_msg(b);
	if (ASN1_OCTET_STRING_cmp(da, db) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "the TSA stamped another message imprint");
		goto out;
	}
	if (TS_TST_INFO_get_nonce(ti) == NULL ||
	    ASN1_INTEGER_cmp(TS_REQ_get_nonce(q), TS_TST_INFO_get_nonce(ti)) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "the TSA's nonce differs from ours");
		goto out;
	}
	rc = 0;
out:
	TS_REQ_free(q);
	TS_RESP_free(r);
	return rc;
}

int ukit_tsa_verify(const uint8_t *resp, size_t resplen, const uint8_t *data,
		    size_t len, STACK_OF(X509) *roots, time_t *gen_time,
		    struct fmt_err *e)
{
	TS_RESP *r = parse_resp(resp, resplen, e);
	TS_VERIFY_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	unsigned char md[32], *imp;
	unsigned int mdlen = sizeof md;
	const ASN1_GENERALIZEDTIME *gt;
	struct tm tm;
	int rc = -1;

	if (r == NULL || granted(r, e) != 0)
		goto out;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
		goto out;
	}
	if ((ctx = TS_VERIFY_CTX_new()) == NULL ||
	    (store = X509_STORE_new()) == NULL ||
	    (imp = OPENSSL_memdup(md, mdlen)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE |
				TS_VFY_SIGNER | TS_VFY_IMPRINT);
	TS_VERIFY_CTX_set_imprint(ctx, imp, mdlen);
	TS_VERIFY_CTX_set_store(ctx, store);
	store = NULL;                          /* owned by ctx now */
	if (TS_RESP_verify_response(ctx, r) != 1) {
		unsigned long err = ERR_peek_last_error();
		char buf[160];

		ERR_error_string_n(err, buf, sizeof buf);
		ERR_clear_error();
		ukit_fmt_errf(e, FMT_NOOFF, "timestamp does not verify: %s",
			 ERR_reason_error_string(err) ?
			 ERR_reason_error_string(err) : buf);
		goto out;
	}
	gt = TS_TST_INFO_get_time(TS_RESP_get_tst_info(r));
	if (gt == NULL || ASN1_TIME_to_tm(gt, &tm) != 1) {
		ukit_fmt_errf(e, FMT_NOOFF, "timestamp without a valid genTime");
		goto out;
	}
	*gen_time = timegm(&tm);
	rc = 0;
out:
	X509_STORE_free(store);
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(r);
	return rc;
}
