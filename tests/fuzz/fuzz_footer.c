/*
 * fuzz_footer.c: the appended-signature footer parser.  The input's first
 * 8 bytes give the file size the footer is checked against; the rest is
 * the footer (64 bytes expected, anything accepted).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { 0 };
	struct sigfoot f;
	uint64_t fsize, end;
	int r;

	if (size < 8)
		return 0;
	fsize = le64_load(data);
	r = ukit_sigfoot_parse(data + 8, size - 8, fsize, &f, &e);
	if (r == 1) {
		uint8_t again[SIGFOOT_SIZE];
		/* a valid footer describes the file exactly ... */
		if (ck_add(f.bundle_off, f.bundle_len, &end) ||
		    end + SIGFOOT_SIZE != fsize || f.bundle_off != f.orig_size ||
		    f.bundle_len == 0 || f.bundle_len > BUNDLE_MAX)
			abort();
		/* ... and re-encodes to the same bytes */
		ukit_sigfoot_encode(&f, again);
		if (memcmp(again, data + 8, SIGFOOT_SIZE) != 0)
			abort();
	}
	return 0;
}
