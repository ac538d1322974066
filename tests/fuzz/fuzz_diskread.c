/*
 * fuzz_diskread.c: the boot-disk readers on arbitrary bytes as a raw
 * disk: ukit_gpt_read, then ukit_fat_read of the files ukit-pack disk
 * writes, in the first ESP if there is one, else in the whole image.
 * A refusal must come with a message; nothing may crash, hang or read out
 * of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "imgopen.h"
#include "io.h"
#include "diskread.h"
#include "outfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fat(struct image *img, uint64_t off, uint64_t len)
{
	static const char *const names[] = {
		"KERNEL", "UKITBOOT.CFG", "EFI/BOOT/BOOTX64.EFI",
	};
	struct fmt_err e;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		uint8_t *buf = NULL;
		size_t n = 0;
		int r;

		memset(&e, 0, sizeof e);
		r = ukit_fat_read(img, off, len, names[i], 1u << 20, &buf, &n, &e);
		if (r < 0 && e.msg[0] == '\0')
			abort();
		if (r == 1 && buf[n] != 0)
			abort();
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ukit_gpt g;
	struct image_opts io = { .force_share = true };
	struct image *img = NULL;
	struct fmt_err e;
	int fd, r;

	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || ukit_write_full(fd, data, size) < 0)
		abort();
	memset(&e, 0, sizeof e);
	if (ukit_image_open(fd, "fuzz", IMG_RAW, &io, &img, &e) < 0) {
		close(fd);
		return 0;
	}
	r = ukit_gpt_read(img, &g, &e);
	if (r < 0 && e.msg[0] == '\0')
		abort();
	if (r == 1) {
		for (unsigned i = 0; i < g.n; i++)
			if (g.p[i].last >= g.sectors || g.p[i].first > g.p[i].last)
				abort();
		if (g.n > 0)
			fat(img, g.p[0].first * UKIT_SECTOR,
			    (g.p[0].last - g.p[0].first + 1) * UKIT_SECTOR);
	} else {
		fat(img, 0, size);
	}
	ukit_image_close(img);
	close(fd);
	return 0;
}
