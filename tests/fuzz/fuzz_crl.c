/*
 * fuzz_crl.c: ukit_crl_parse() on arbitrary bytes (a verify --crl file):
 * no crash, no leak; a refusal carries an offset within the input (or at
 * the size limit); an accepted file gives 1..UKIT_CRL_MAX lists.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509_CRL) *sk = NULL;
	struct fmt_err e = { 0 };
	int rc = ukit_crl_parse(data, size, &sk, &e);

	if (rc != 0) {
		if (memchr(e.msg, '\0', sizeof e.msg) == NULL ||
		    (e.off != FMT_NOOFF && e.off > size &&
		     e.off != UKIT_CRL_FILE_MAX))
			abort();
	} else if (sk == NULL || sk_X509_CRL_num(sk) < 1 ||
		   sk_X509_CRL_num(sk) > UKIT_CRL_MAX) {
		abort();
	}
	sk_X509_CRL_pop_free(sk, X509_CRL_free);
	return 0;
}
