/*
 * diskread.h: read what a boot disk holds, through image.h (raw or
 * qcow2): its GPT (primary header and entries, CRCs checked) and files
 * of a FAT12/16/32 file system in a partition, looked up by 8.3 name.
 * Everything read is outside bytes: bounded and checked; errors name the
 * virtual offset.
 */
#ifndef UKIT_DISKREAD_H
#define UKIT_DISKREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootdisk.h"
#include "err.h"
#include "image.h"

#define UKIT_GPT_MAX_PARTS 128

struct ukit_gpt {
	uint8_t disk_guid[16];
	uint64_t sectors;            /* the image's size in sectors */
	unsigned n;                  /* used entries in (p) */
	unsigned index[UKIT_GPT_MAX_PARTS];  /* 1-based partition numbers */
	struct ukit_gpt_part p[UKIT_GPT_MAX_PARTS];
};

/*
 * Read the primary GPT of (img).  1 and (*g) when there is one (header
 * signature at LBA 1), 0 when there is none, -1 with (e) when it is
 * damaged (CRC, bounds).
 */
int ukit_gpt_read(struct image *img, struct ukit_gpt *g, struct fmt_err *e);

/*
 * Read the file (path) ("KERNEL", "EFI/BOOT/BOOTX64.EFI": 8.3 names,
 * compared without case) of the FAT file system in the (len) bytes at
 * (off) of (img), if it holds at most (max) bytes.  1 and (*buf) (malloc,
 * NUL-terminated past (*size)) and (*size); 0 when the file is not there;
 * -1 with (e) when the file system is damaged or the file too large.
 */
int ukit_fat_read(struct image *img, uint64_t off, uint64_t len,
		  const char *path, uint64_t max, uint8_t **buf,
		  size_t *size, struct fmt_err *e);

#endif
