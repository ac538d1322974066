/*
 * fuzz_multiboot.c: the Multiboot kernel check (ukit_mb_parse) on
 * arbitrary bytes.  A refusal must come with a message; an accepted
 * kernel must describe itself consistently; nothing may crash, hang or
 * read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multiboot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukit_mb_kernel k;
	struct fmt_err e;

	memset(&e, 0, sizeof e);
	if (ukit_mb_parse(data, size, &k, &e) < 0) {
		if (e.msg[0] == '\0')
			abort();
		return 0;
	}
	if ((k.mb_version != 1 && k.mb_version != 2) ||
	    (k.elf_class != 32 && k.elf_class != 64) || k.nload == 0 ||
	    k.load_lo >= k.load_hi || k.load_hi > 0x100000000ull ||
	    k.hdr_off >= size)
		abort();
	return 0;
}
