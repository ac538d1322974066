/*
 * manifest.h: the Solo5 application manifest (MFT1) and ABI (ABI1) notes.
 *
 * Layout facts (Solo5's mft_abi.h / elf_abi.h, ELF64 targets): a note is
 * namesz 6 "Solo5\0" padded to 8, then the descriptor.  MFT1 descriptor =
 * 4 bytes of padding (struct mft is 8-aligned) + version u32 + entries u32
 * + entries of 104 bytes (name[68], type u32, 16-byte union, 8-byte union,
 * bool attached, 7 bytes padding).  Entry 0 is RESERVED_FIRST with an empty
 * name.  descsz = 12 + 104 * (devices + 1).  Integers follow the ELF file's
 * byte order.
 */
#ifndef UKIT_MANIFEST_H
#define UKIT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SOLO5_NOTE_NAME    "Solo5"
#define SOLO5_NOTE_NAMESZ  6            /* bytes, including NUL */
#define MFT1_NOTE_TYPE     0x3154464dU  /* "MFT1" */
#define ABI1_NOTE_TYPE     0x31494241U  /* "ABI1" */
#define MFT_VERSION        1
#define MFT_MAX_DEVICES    63           /* user entries; entry 0 reserved */
#define MFT_NAME_SIZE      68           /* bytes, including NUL */
#define MFT_NAME_MAX       67           /* characters */
#define MFT_ENTRY_SIZE     104          /* bytes */
#define MFT_DESC_PAD       4            /* bytes before struct mft */
#define MFT_RESERVED_FIRST 0x40000000U
#define ABI1_DESC_SIZE     16           /* target, version, 2 reserved */
#define NOTE_HDR_SIZE      12           /* namesz, descsz, type */

enum manifest_dev_type {
	MFT_BLOCK_BASIC = 1,
	MFT_NET_BASIC   = 2,
};

enum solo5_abi_target {
	ABI_HVT = 1, ABI_SPT, ABI_VIRTIO, ABI_MUEN, ABI_GENODE, ABI_XEN,
};

struct manifest_dev {
	char     name[MFT_NAME_SIZE];   /* NUL-terminated, 1..67 alnum */
	uint32_t type;                  /* enum manifest_dev_type */
};

struct manifest {
	size_t              n;          /* user devices, 0..63 */
	struct manifest_dev dev[MFT_MAX_DEVICES];
};

struct solo5_abi {
	uint32_t target;                /* enum solo5_abi_target */
	uint32_t version;
};

/* MFT1 descriptor size for (ndev) user devices. */
static inline uint32_t manifest_descsz(size_t ndev)
{
	return (uint32_t)(MFT_DESC_PAD + 8 + MFT_ENTRY_SIZE * (ndev + 1));
}

/* Whole MFT1 note size (header, padded name, descriptor). */
static inline size_t manifest_note_size(size_t ndev)
{
	return NOTE_HDR_SIZE + 8 + manifest_descsz(ndev);
}

#endif
