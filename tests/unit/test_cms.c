/*
 * test_cms.c: detached CMS signatures: a streamed signature verifies over
 * the file and fails over changed bytes; the parser refuses what is not a
 * detached one-signer SignedData.  (openssl cms -verify accepts ukit's
 * output: e2e t71.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cms.h"

struct fix { EVP_PKEY *key; X509 *cert; };

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	X509_NAME *n;

	f->key = EVP_EC_gen("P-256");
	f->cert = X509_new();
	X509_set_version(f->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(f->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(f->cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(f->cert), 3600);
	X509_set_pubkey(f->cert, f->key);
	n = X509_get_subject_name(f->cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)"ukit test", -1, -1, 0);
	X509_set_issuer_name(f->cert, n);
	X509_sign(f->cert, f->key, EVP_sha256());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

static int tmpfile_with(const uint8_t *buf, size_t len)
{
	char path[] = "/tmp/ukit-cms-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	return fd;
}

static void sign_buf(struct fix *f, const uint8_t *buf, size_t len,
		     uint8_t **der, size_t *der_len)
{
	struct cms_signer *s;
	struct fmt_err e = { 0 };

	assert_int_equal(ukit_cms_sign_begin(f->key, f->cert, NULL, &s, &e), 0);
	for (size_t off = 0; off < len; off += 1000)
		assert_int_equal(ukit_cms_sign_update(s, buf + off,
			len - off < 1000 ? len - off : 1000, &e), 0);
	assert_int_equal(ukit_cms_sign_final(s, der, der_len, &e), 0);
	ukit_cms_signer_free(s);
}

static void test_sign_verify(void **state)
{
	struct fix *f = *state;
	size_t len = 100000, der_len;
	uint8_t *buf = malloc(len), *der;
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;
	X509 *signer;
	struct fmt_err e = { 0 };
	int fd;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7);
	sign_buf(f, buf, len, &der, &der_len);
	assert_true(der_len < 2000);              /* detached: no content */
	fd = tmpfile_with(buf, len);
	assert_int_equal(ukit_cms_parse(der, der_len, &cms, &e), 0);
	assert_int_equal(ukit_cms_verify_fd(cms, fd, &signer, &certs, &e), 0);
	assert_int_equal(X509_cmp(signer, f->cert), 0);
	assert_int_equal(sk_X509_num(certs), 1);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	/* one byte changed: the message digest no longer matches */
	assert_int_equal(pwrite(fd, "\xff", 1, 5000), 1);
	assert_int_equal(ukit_cms_verify_fd(cms, fd, &signer, &certs, &e), -1);
	assert_non_null(strstr(e.msg, "CMS signature does not verify"));
	CMS_ContentInfo_free(cms);
	close(fd);
	OPENSSL_free(der);
	free(buf);
}

static void test_parse_rejects(void **state)
{
	struct fix *f = *state;
	uint8_t data[16] = "attached content", *der, *big;
	size_t der_len;
	CMS_ContentInfo *cms, *att;
	struct fmt_err e = { 0 };
	BIO *in;
	unsigned char *adr = NULL;
	int alen;

	sign_buf(f, data, sizeof data, &der, &der_len);
	/* trailing garbage */
	big = malloc(der_len + 1);
	memcpy(big, der, der_len);
	big[der_len] = 0;
	assert_int_equal(ukit_cms_parse(big, der_len + 1, &cms, &e), -1);
	assert_non_null(strstr(e.msg, "trailing bytes"));
	assert_int_equal(e.off, der_len);
	/* truncated */
	assert_int_equal(ukit_cms_parse(der, der_len - 1, &cms, &e), -1);
	assert_non_null(strstr(e.msg, "not a DER CMS message"));
	/* empty and oversized */
	assert_int_equal(ukit_cms_parse(der, 0, &cms, &e), -1);
	assert_int_equal(ukit_cms_parse(der, CMS_DER_MAX + 1, &cms, &e), -1);
	assert_non_null(strstr(e.msg, "exceeds the limit"));
	/* content embedded */
	in = BIO_new_mem_buf(data, sizeof data);
	att = CMS_sign(f->cert, f->key, NULL, in, CMS_BINARY);
	alen = i2d_CMS_ContentInfo(att, &adr);
	assert_true(alen > 0);
	assert_int_equal(ukit_cms_parse(adr, (size_t)alen, &cms, &e), -1);
	assert_non_null(strstr(e.msg, "embeds its content"));
	CMS_ContentInfo_free(att);
	OPENSSL_free(adr);
	BIO_free(in);
	free(big);
	OPENSSL_free(der);
}

static void test_ed25519_refused(void **state)
{
	struct fix *f = *state;
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct cms_signer *s = NULL;
	struct fmt_err e = { 0 };

	assert_int_equal(ukit_cms_sign_begin(ed, f->cert, NULL, &s, &e), -1);
	assert_non_null(strstr(e.msg, "need an ECDSA or RSA key"));
	assert_null(s);
	EVP_PKEY_free(ed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_ed25519_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
