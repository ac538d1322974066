/*
 * crl.c: CRL files for verify --crl (see crl.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crl.h"
#include "sig.h"

static const char pem_begin[] = "-----BEGIN X509 CRL-----";

static int push(STACK_OF(X509_CRL) *sk, X509_CRL *c, size_t off,
		struct fmt_err *e)
{
	if (sk_X509_CRL_num(sk) >= UKIT_CRL_MAX) {
		X509_CRL_free(c);
		return ukit_fmt_errf(e, off, "more than %d CRLs", UKIT_CRL_MAX);
	}
	if (!sk_X509_CRL_push(sk, c)) {
		X509_CRL_free(c);
		return ukit_fmt_errf(e, off, "out of memory");
	}
	return 0;
}

/* Only whitespace in buf[from, len)? */
static bool blank(const uint8_t *buf, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
		    buf[i] != '\n')
			return false;
	return true;
}

int ukit_crl_parse(const uint8_t *buf, size_t len, STACK_OF(X509_CRL) **skp,
		   struct fmt_err *e)
{
	STACK_OF(X509_CRL) *sk = *skp;
	X509_CRL *c;
	size_t off = 0;

	if (len > UKIT_CRL_FILE_MAX)
		return ukit_fmt_errf(e, UKIT_CRL_FILE_MAX, "larger than %d bytes",
				UKIT_CRL_FILE_MAX);
	if (len == 0)
		return ukit_fmt_errf(e, 0, "empty: no CRL");
	if (sk == NULL && (sk = sk_X509_CRL_new_null()) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	*skp = sk;
	if (buf[0] == 0x30) {                        /* one DER CRL */
		const unsigned char *p = buf;

		c = d2i_X509_CRL(NULL, &p, (long)len);
		if (c == NULL) {
			ERR_clear_error();
			return ukit_fmt_errf(e, 0, "not a DER CRL");
		}
		if ((size_t)(p - buf) != len) {
			X509_CRL_free(c);
			return ukit_fmt_errf(e, (uint64_t)(p - buf),
					"bytes after the DER CRL");
		}
		return push(sk, c, 0, e);
	}
	while (off < len && !blank(buf, off, len)) {
		const uint8_t *b = memmem(buf + off, len - off, pem_begin,
					  sizeof pem_begin - 1);
		BIO *bio;
		size_t start;

		if (b == NULL || !blank(buf, off, (size_t)(b - buf)))
			return ukit_fmt_errf(e, off, "\"%s\" expected", pem_begin);
		start = (size_t)(b - buf);
		bio = BIO_new_mem_buf(b, (int)(len - start));
		if (bio == NULL)
			return ukit_fmt_errf(e, start, "out of memory");
		c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		/* the BIO tells how much of the PEM block was read */
		off = len - (size_t)BIO_pending(bio);
		BIO_free(bio);
		if (c == NULL) {
			ERR_clear_error();
			return ukit_fmt_errf(e, start, "not a PEM X509 CRL");
		}
		if (push(sk, c, start, e) != 0)
			return -1;
	}
	if (sk_X509_CRL_num(sk) == 0)
		return ukit_fmt_errf(e, 0, "no CRL");
	return 0;
}

int ukit_crl_load(const char *path, STACK_OF(X509_CRL) **sk,
		  struct fmt_err *e)
{
	uint8_t *buf;
	size_t len;
	int rc;

	e->path = path;
	if (ukit_sig_read_input(path, UKIT_CRL_FILE_MAX, &buf, &len, e) != 0)
		return -1;
	rc = ukit_crl_parse(buf, len, sk, e);
	free(buf);
	return rc;
}
