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
/* Offsets within one 104-byte MFT entry (ELF64 layout). */
#define ENT_NAME      0
#define ENT_TYPE      68
#define ENT_ATTACHED  96
/* Offsets within the descriptor. */
#define DESC_VERSION  (MFT_DESC_PAD + 0)
#define DESC_ENTRIES  (MFT_DESC_PAD + 4)
#define DESC_ENTRY0   (MFT_DESC_PAD + 8)
#define MFT_MAX_ENTRIES (MFT_MAX_DEVICES + 1)
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

#define MANIFEST_JSON_MAX  (1024 * 1024)  /* bytes of manifest.json accepted */
#define MFT_NOTE_MAX       (NOTE_HDR_SIZE + 8 + MFT_DESC_PAD + 8 + \
			    MFT_ENTRY_SIZE * (MFT_MAX_DEVICES + 1))

/*
 * Parse a Solo5 manifest.json held in (json, len) into (out), strictly:
 * exactly the keys "type" ("solo5.manifest"), "version" (the integer 1) and
 * "devices" (an array of at most 63 objects with exactly "name", 1..67 ASCII
 * alphanumerics, unique, and "type", "BLOCK_BASIC" or "NET_BASIC").
 * Duplicate keys, comments, trailing bytes, "\u0000" and input longer than
 * MANIFEST_JSON_MAX are refused.  (json) need not be NUL-terminated.
 * Returns 0, or -1 with (e) set: the message starts with "LINE:COLUMN: "
 * for syntax errors and with the JSON path ("$.devices[3].name: ") for the
 * rest; (e->off) is FMT_NOOFF.  (out) is written only on success.
 */
int ukit_manifest_parse(const char *json, size_t len, struct manifest *out,
		   struct fmt_err *e);

/*
 * Encode (m) as a complete MFT1 note (12-byte header, "Solo5" padded to 8,
 * descriptor) into (buf), integers in big-endian order if (big_endian).
 * (len) must be at least manifest_note_size(m->n); exactly that many bytes
 * are written.  Returns 0, or -1 with (e) set (buffer too small, more than
 * MFT_MAX_DEVICES devices, a name not NUL-terminated within MFT_NAME_SIZE).
 */
int ukit_manifest_note_encode(const struct manifest *m, bool big_endian,
			 uint8_t *buf, size_t len, struct fmt_err *e);

/*
 * Decode an MFT1 descriptor (desc, descsz) as Solo5's tender validates it:
 * version 1, entries 1..64, descsz exactly 4 + 8 + 104 * entries, entry 0
 * RESERVED_FIRST with an empty name, every name NUL-terminated within 68
 * bytes, attached false.  (out->dev) receives entries 1..entries-1 with
 * names and types as read: a type may be unknown or >= MFT_RESERVED_FIRST
 * (solo5-elftool's query-manifest skips the latter) and a name may hold
 * any bytes (escape them before printing).  Returns 0, or -1 with (e) set
 * and (e->off) the offset within the descriptor.
 */
int ukit_manifest_desc_decode(const uint8_t *desc, size_t descsz, bool big_endian,
			 struct manifest *out, struct fmt_err *e);

/* "BLOCK_BASIC", "NET_BASIC", "RESERVED_FIRST", else "<undefined type>". */
const char *ukit_manifest_type_name(uint32_t type);

/*
 * C source for (m) in solo5-elftool's format ("#include \"mft_abi.h\"",
 * MFT1_NOTE_DECLARE_BEGIN ... END), written to a malloc'd NUL-terminated
 * string in (*out) (the caller frees it), length in (*outlen).  (m) must
 * have been checked by ukit_manifest_parse().  Returns 0, or -1 with (e) set.
 */
int ukit_manifest_c_source(const struct manifest *m, char **out, size_t *outlen,
		      struct fmt_err *e);

/* Architectures ukit_manifest_object() can write for. */
enum manifest_arch { MFT_ARCH_X86_64, MFT_ARCH_AARCH64, MFT_ARCH_PPC64LE };

/*
 * Parse an architecture name ("x86_64", "aarch64", "ppc64le"; "amd64" and
 * "arm64" too).  Returns 0, or -1 if unknown.  ukit_manifest_host_arch() gives
 * the architecture ukit was built for (x86_64 if none of these).
 */
int ukit_manifest_arch_parse(const char *name, enum manifest_arch *out);
enum manifest_arch ukit_manifest_host_arch(void);

/*
 * A relocatable ELF64 object (ET_REL) for (arch) holding (m) as section
 * ".note.solo5.manifest" (SHT_NOTE, SHF_ALLOC, align 4) with the global
 * STT_OBJECT symbol "__solo5_mft1_note" covering it, and an empty
 * ".note.GNU-stack".  Written to a malloc'd buffer (*out), (*outlen) bytes;
 * the caller frees it.  Returns 0, or -1 with (e) set.
 */
int ukit_manifest_object(const struct manifest *m, enum manifest_arch arch,
		    uint8_t **out, size_t *outlen, struct fmt_err *e);

#endif
