/*
 * ociblobrd.c: the verifying blob reader (see ocilayout.h): a blob's
 * bytes read and hashed, and refused at the end when they do not have
 * the descriptor's digest and size.  The bytes are untrusted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ocilayout.h"

int ukit_oci_blobrd_init(struct ukit_oci_blobrd *b, int fd, uint64_t off,
			 uint64_t size, const char *digest, const char *what,
			 struct fmt_err *e)
{
	memset(b, 0, sizeof *b);
	b->fd = fd;
	b->off = off;
	b->left = b->size = size;
	snprintf(b->want, sizeof b->want, "%s", digest);
	snprintf(b->what, sizeof b->what, "%s", what);
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	return 0;
}

static int blobrd_check(struct ukit_oci_blobrd *b, struct fmt_err *e)
{
	uint8_t md[32];
	char got[OCI_DIGEST_LEN + 1];

	if (b->verified)
		return 0;
	if (!EVP_DigestFinal_ex(b->md, md, NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	ukit_oci_digest_fmt(md, got);
	if (strcmp(got, b->want) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s has digest %s "
				"(%" PRIu64 " bytes): content does not match",
				b->what, b->want, got, b->size);
	b->verified = true;
	return 0;
}

ssize_t ukit_oci_blobrd_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e)
{
	struct ukit_oci_blobrd *b = ctx;
	ssize_t n;

	if (b->left == 0)
		return blobrd_check(b, e) < 0 ? -1 : 0;
	if (len > b->left)
		len = (size_t)b->left;
	do
		n = pread(b->fd, buf, len, (off_t)b->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ukit_fmt_errno(e, b->off, "%s: read blob %s", b->what, b->want);
	if (n == 0)
		return ukit_fmt_errf(e, b->off, "%s: blob %s is shorter than its "
				"descriptor's size %" PRIu64, b->what, b->want,
				b->size);
	if (!EVP_DigestUpdate(b->md, buf, (size_t)n))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	b->off += (uint64_t)n;
	b->left -= (uint64_t)n;
	return n;
}

int ukit_oci_blobrd_finish(struct ukit_oci_blobrd *b, struct fmt_err *e)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = ukit_oci_blobrd_read(b, buf, sizeof buf, e)) > 0)
		;
	return n < 0 ? -1 : 0;
}

void ukit_oci_blobrd_free(struct ukit_oci_blobrd *b)
{
	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}
