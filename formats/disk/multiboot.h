/*
 * multiboot.h: check that a file is a kernel GRUB can boot with its
 * multiboot or multiboot2 command on x86: an ELF32 (EM_386) or ELF64
 * (EM_X86_64) executable with a valid Multiboot 1 header in its first
 * 8 KiB or a Multiboot 2 header in its first 32 KiB, whose segments, load
 * addresses and entry point agree with each other and with the file.
 *
 * Everything is read from outside bytes and bounds-checked: errors name
 * the byte offset in the file and the values compared.
 */
#ifndef UKIT_MULTIBOOT_H
#define UKIT_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define UKIT_MB1_SEARCH 8192u      /* Multiboot 1: header in these bytes */
#define UKIT_MB2_SEARCH 32768u     /* Multiboot 2 */
#define UKIT_MB_MAX_PHDRS 256u     /* more program headers are refused */
#define UKIT_MB_MAX_EMPTY 8u       /* empty PT_LOADs GRUB would refuse */

struct ukit_mb_kernel {
	int mb_version;          /* 1 or 2: the GRUB command that loads it */
	uint64_t hdr_off;        /* file offset of that header */
	uint32_t mb_flags;       /* Multiboot 1 flags (0 for 2) */
	bool aout_kludge;        /* load by the header's addresses */
	int elf_class;           /* 32 or 64 */
	uint16_t machine;        /* EM_386 or EM_X86_64 */
	uint64_t entry;          /* physical entry point */
	uint64_t load_lo;        /* physical range loaded, [lo, hi) */
	uint64_t load_hi;
	unsigned nload;          /* PT_LOAD segments */
	/*
	 * Empty PT_LOADs (p_memsz 0) at an address inside another PT_LOAD:
	 * nothing to load, but GRUB 2.06 reserves each PT_LOAD's range and
	 * refuses the kernel ("overlap detected").  Unikraft's x86_64
	 * linker script makes one (tls_load, where .data starts).  The file
	 * offsets of their program headers, to boot a copy where they are
	 * PT_NULL; none under the a.out kludge (GRUB ignores the ELF then).
	 */
	unsigned nempty;
	uint64_t empty_ph[UKIT_MB_MAX_EMPTY];
};

/*
 * Check the kernel held in (len) bytes at (buf).  0 and (*k), or -1 with
 * (e) (e->off the offset at fault, e->path untouched).
 */
int ukit_mb_parse(const uint8_t *buf, size_t len, struct ukit_mb_kernel *k,
		  struct fmt_err *e);

/*
 * The same for the (size)-byte file on (fd) (borrowed), read with
 * pread: only the headers are read, whatever the kernel's size.
 */
int ukit_mb_parse_fd(int fd, uint64_t size, struct ukit_mb_kernel *k,
		     struct fmt_err *e);

/* "AArch64", "x86-64", ... for an ELF e_machine, or NULL. */
const char *ukit_mb_machine_name(unsigned machine);

#endif
