/*
 * fuzz_tsa.c: RFC 3161 responses from outside (sign's TSA answer, the
 * signedTimestamp of a bundle): ukit_tsa_check_reply() against a fixed
 * request and ukit_tsa_verify() against an empty set of roots must refuse
 * (nobody trusted signed them) without crashing or leaking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *req;
	static size_t reqlen;
	static STACK_OF(X509) *roots;
	struct fmt_err e = { 0 };
	time_t t;

	if (req == NULL) {
		if (ukit_tsa_request((const uint8_t *)"sig", 3, &req, &reqlen,
				     &e) != 0 ||
		    (roots = sk_X509_new_null()) == NULL)
			abort();
	}
	(void)ukit_tsa_check_reply(req, reqlen, data, size, &e);
	if (memchr(e.msg, '\0', sizeof e.msg) == NULL)
		abort();
	if (ukit_tsa_verify(data, size, (const uint8_t *)"sig", 3, roots, &t,
			    &e) == 0)
		abort();           /* no roots: nothing may verify */
	return 0;
}
