/*
 * fuzz_bootfat.c: the two parsers of ukit-pack disk's boot loader side on
 * arbitrary bytes: ukit_fat_root_file (a FAT file system's boot sector
 * and root directory) and ukit_grub_moddep_order (GRUB's moddep.lst, with
 * the roots ukit-pack disk asks for).  A failure must come with a message;
 * a found file's sectors must lie where the parser said it looked; nothing
 * may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootdisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const roots[] = { "multiboot", "part_gpt", "fat" };
	static char names[UKIT_GRUB_MAX_MODS][UKIT_GRUB_MODNAME];
	struct fmt_err e;
	uint64_t sector, fsize;
	unsigned n;
	int rc;

	memset(&e, 0, sizeof e);
	rc = ukit_fat_root_file(data, size, "KERNEL     ", &sector, &fsize, &e);
	if (rc < 0 && e.msg[0] == '\0')
		abort();
	memset(&e, 0, sizeof e);
	if (ukit_grub_moddep_order((const char *)data, size, roots, 3, names,
				   &n, &e) < 0) {
		if (e.msg[0] == '\0')
			abort();
	} else if (n > UKIT_GRUB_MAX_MODS) {
		abort();
	}
	return 0;
}
