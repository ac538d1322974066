/*
 * fuzz_cms.c: ukit_cms_parse() on arbitrary bytes (the .p7s a verifier reads);
 * whatever it accepts is verified over a fixed content held in a memfd,
 * which must fail (nobody signed it) without crashing or leaking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "cms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;
	X509 *signer;
	struct fmt_err e;

	if (fd < 0) {
		fd = memfd_create("fuzz-content", MFD_CLOEXEC);
		if (fd < 0 || write(fd, "ukit fuzz content\n", 18) != 18)
			abort();
	}
	if (ukit_cms_parse(data, size, &cms, &e) < 0) {
		if (memchr(e.msg, '\0', sizeof e.msg) == NULL)
			abort();
		return 0;
	}
	if (ukit_cms_verify_fd(cms, fd, &signer, &certs, &e) == 0) {
		X509_free(signer);
		sk_X509_pop_free(certs, X509_free);
	}
	CMS_ContentInfo_free(cms);
	return 0;
}
