/*
 * fuzz_notes.c: libFuzzer harness for the ELF note reader on (buf, len):
 * open, iterate every note of segments and sections, the Solo5 tender
 * lookup, and the notes JSON (fuzz_elfwalk.h).
 */
#include <stdint.h>

#include "elfimg.h"
#include "fuzz_elfwalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { .path = "fuzz" };
	struct elfimg *img;
	volatile uint32_t sink;

	if (ukit_elfimg_open_mem(data, size, "fuzz", &img, &e) < 0)
		return 0;
	sink = fuzz_elfwalk(img);
	ukit_elfimg_close(img);
	(void)sink;
	return 0;
}
