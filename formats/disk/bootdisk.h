/*
 * bootdisk.h: the parts of a bootable GPT disk that are plain bytes: the
 * layout, the protective MBR and both GPT copies, GUIDs derived from the
 * content, and the two GRUB i386-pc images patched to find each other.
 *
 * 512-byte sectors.  Layout: LBA 0 protective MBR (GRUB's boot.img code
 * when the disk boots under BIOS), LBA 1 GPT header, LBA 2..33 128
 * partition entries; partitions start on 1 MiB boundaries: a BIOS boot
 * partition holding GRUB's core.img and modules (BIOS only), then the EFI system
 * partition (FAT) holding the kernel, its modules and (UEFI) the GRUB EFI
 * image; the backup entries and header end the disk.
 */
#ifndef UKIT_BOOTDISK_H
#define UKIT_BOOTDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define UKIT_SECTOR 512u
#define UKIT_GPT_ENTRIES 128u
#define UKIT_GPT_ENTRY_SIZE 128u
#define UKIT_GPT_ALIGN 2048u        /* sectors: 1 MiB */
#define UKIT_GPT_TABLE_SECTORS 32u  /* 128 entries of 128 bytes */

/* GPT partition type GUIDs, as text */
#define UKIT_GPT_TYPE_BIOS "21686148-6449-6E6F-744E-656564454649"
#define UKIT_GPT_TYPE_ESP  "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

struct ukit_gpt_part {
	uint8_t type[16];        /* on-disk (mixed-endian) byte order */
	uint8_t guid[16];
	uint64_t first, last;    /* LBAs, inclusive */
	uint64_t attrs;
	char name[37];           /* ASCII, up to 36 characters */
};

struct ukit_bootdisk_layout {
	uint64_t sectors;        /* whole disk */
	uint64_t bios_lba, bios_sectors;   /* 0, 0 without BIOS boot */
	uint64_t esp_lba, esp_sectors;
	int esp_index;           /* GPT partition number of the ESP (1-based) */
};

/*
 * Lay out a disk with a BIOS boot partition of at least (core_bytes)
 * (none when 0) and an ESP of at least (esp_bytes), in a disk of (size)
 * bytes (0: as small as fits; else a multiple of 512 at least that).
 * 0 and (*l), or -1 with (e) (size too small: says the minimum).
 */
int ukit_bootdisk_layout(uint64_t core_bytes, uint64_t esp_bytes,
			 uint64_t size, struct ukit_bootdisk_layout *l,
			 struct fmt_err *e);

/*
 * Parse a GUID written as text ("C12A7328-F81F-11D2-...") into its
 * on-disk byte order.  0, or -1 if malformed.
 */
int ukit_guid_parse(const char *s, uint8_t out[16]);

/* Format an on-disk GUID as upper-case text (37 bytes with the NUL). */
void ukit_guid_format(const uint8_t g[16], char out[37]);

/*
 * A GUID derived from (seed) (32 bytes) and (label): SHA-256 of both,
 * marked as an RFC 9562 version 8 (custom) variant 1 UUID.  The same seed
 * and label always give the same GUID.  0, or -1 with (e).
 */
int ukit_guid_derive(const uint8_t seed[32], const char *label,
		     uint8_t out[16], struct fmt_err *e);

/*
 * Write the protective MBR, the primary and the backup GPT for a disk of
 * (sectors) sectors with GUID (disk_guid) and the (n) partitions (p) to
 * (fd) (named (path) in errors).  (boot_code): the first 440 bytes of the
 * MBR (GRUB's patched boot.img), or NULL for none.  0, or -1 with (e).
 */
int ukit_gpt_write(int fd, const char *path, uint64_t sectors,
		   const uint8_t disk_guid[16], const struct ukit_gpt_part *p,
		   unsigned n, const uint8_t *boot_code, struct fmt_err *e);

/*
 * Patch GRUB's i386-pc images for a core.img at (core_lba): (boot) is
 * boot.img (512 bytes), patched in place to load sector (core_lba) and to
 * trust the BIOS's boot drive; (core) (core_len bytes, a whole number of
 * sectors) is core.img, whose first sector (diskboot.img) gets the block
 * list of its remaining sectors.  0, or -1 with (e) when either image is
 * not what GRUB 2 makes.
 */
int ukit_grub_pc_patch(uint8_t *boot, size_t boot_len, uint8_t *core,
		       size_t core_len, uint64_t core_lba, struct fmt_err *e);

/*
 * GRUB's modules (roots) and every module they need, in an order that
 * loads each one after those it depends on, from moddep.lst's text (lst,
 * len bytes: one "NAME: DEP DEP..." line per module).  Writes up to
 * UKIT_GRUB_MAX_MODS names to (names) and their count to (*n).  0, or -1
 * with (e): a module without a line, a cycle, too many modules or too
 * long a name.
 */
#define UKIT_GRUB_MAX_MODS 64
#define UKIT_GRUB_MODNAME 32        /* bytes, with the NUL */
int ukit_grub_moddep_order(const char *lst, size_t len,
			   const char *const *roots, unsigned nroots,
			   char names[][UKIT_GRUB_MODNAME], unsigned *n,
			   struct fmt_err *e);

/*
 * Find the file (name) (11 bytes, 8.3 as stored: "KERNEL     ") in the
 * root directory of the FAT file system whose first (len) bytes are (fs)
 * (they must reach past the root directory).  1 and its first sector
 * (*sector, counted from the file system's start, the clusters as if
 * contiguous) and size, 0 if the root directory does not hold it, or -1
 * with (e) when (fs) is not a FAT file system this can read.  The caller
 * checks that the file's bytes are where (*sector) says.
 */
int ukit_fat_root_file(const uint8_t *fs, size_t len, const char name[11],
		       uint64_t *sector, uint64_t *size, struct fmt_err *e);

#endif
