/*
 * fuzz_verity.c: ukit_verity_json_parse() on arbitrary JSON (the statement's
 * "verity" object); whatever it accepts must re-encode to an object that
 * parses back to the same root and salt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t root[VERITY_DIGEST], salt[VERITY_SALT_MAX];
	uint8_t root2[VERITY_DIGEST], salt2[VERITY_SALT_MAX];
	size_t slen, slen2;
	struct fmt_err e;
	json_t *o, *back;

	o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL)
		return 0;
	if (ukit_verity_json_parse(o, root, salt, &slen, &e) == 0) {
		back = ukit_verity_json(root, salt, slen, &e);
		if (back == NULL ||
		    ukit_verity_json_parse(back, root2, salt2, &slen2, &e) != 0 ||
		    slen2 != slen || memcmp(root, root2, sizeof root) != 0 ||
		    memcmp(salt, salt2, slen) != 0)
			abort();
		json_decref(back);
	} else if (memchr(e.msg, '\0', sizeof e.msg) == NULL) {
		abort();
	}
	json_decref(o);
	return 0;
}
