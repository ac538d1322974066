/*
 * fuzz_binelf.c: elf -> bin on arbitrary bytes (ukit_elfimg_open_mem, then
 * ukit_binelf_img_to_bin writing to /dev/null).  Errors must come with a
 * message; nothing may crash, leak or read out of bounds.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binelf.h"
#include "elfimg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	struct elfimg *img;
	struct fmt_err e;

	if (devnull < 0 && (devnull = open("/dev/null", O_WRONLY)) < 0)
		abort();
	memset(&e, 0, sizeof e);
	if (ukit_elfimg_open_mem(data, size, "fuzz", &img, &e) < 0)
		return 0;
	if (ukit_binelf_img_to_bin(img, devnull, "null", &e) < 0 && e.msg[0] == '\0')
		abort();
	ukit_elfimg_close(img);
	return 0;
}
