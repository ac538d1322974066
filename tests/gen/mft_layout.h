/*
 * mft_layout.h: ukit's own declaration of the Solo5 MFT1 note layout, for
 * the tests that compile gen-manifest's C output.  Written from the layout
 * facts (formats/elf/manifest.h), not from Solo5's mft_abi.h; the tests install
 * it as "mft_abi.h" so that the generated file compiles unchanged, and then
 * compare the section bytes with Solo5's own (data/solo5/ * /note.hex).
 *
 * ELF64 targets only: the 8-byte member makes an entry 104 bytes and puts
 * the manifest 4 bytes after the 20-byte note header, as Solo5's does.
 */
#ifndef UKIT_TEST_MFT_LAYOUT_H
#define UKIT_TEST_MFT_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#define MFT_VERSION          1
#define MFT_DEV_BLOCK_BASIC  1
#define MFT_DEV_NET_BASIC    2
#define MFT_RESERVED_FIRST   0x40000000u

#ifndef MFT_ENTRIES
#error "define MFT_ENTRIES before including mft_layout.h"
#endif

struct ukit_mft_entry {
	char     name[68];          /* NUL-terminated */
	uint32_t type;
	union {                     /* device properties, zero in the file */
		uint8_t  bytes[16];
		uint64_t align8;
	} props;
	uint64_t backing;           /* host fd or pointer, zero in the file */
	bool     attached;          /* false in the file; then 7 pad bytes */
};
_Static_assert(sizeof(struct ukit_mft_entry) == 104, "entry layout");

struct ukit_mft {
	uint32_t version;
	uint32_t entries;
	struct ukit_mft_entry e[MFT_ENTRIES];
};

struct ukit_mft1_note {
	uint32_t namesz, descsz, type;
	char     name[8];           /* "Solo5" padded to 4 bytes */
	struct ukit_mft m;          /* 8-aligned: 4 bytes of padding first */
};
_Static_assert(__builtin_offsetof(struct ukit_mft1_note, m) == 24,
	       "descriptor padding");

#define MFT1_NOTE_DECLARE_BEGIN                                         \
	const struct ukit_mft1_note __solo5_mft1_note                   \
	__attribute__((section(".note.solo5.manifest"), aligned(4))) = { \
		.namesz = 6,                                            \
		.descsz = sizeof(struct ukit_mft1_note) - 20,           \
		.type = 0x3154464d,                                     \
		.name = "Solo5",                                        \
		.m =

#define MFT1_NOTE_DECLARE_END };

#endif
