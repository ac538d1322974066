/*
 * solo5.h: a unikernel's Solo5 ABI and manifest notes, found the way a
 * Solo5 tender finds them (tenders/common/elf.c): from the program
 * headers alone, the first note of each PT_NOTE, owner "Solo5".  Signing
 * states these facts and verification compares them, through this one
 * reader, which needs no libelf.
 */
#ifndef UKIT_SOLO5_H
#define UKIT_SOLO5_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "elfhdr.h"
#include "err.h"
#include "manifest.h"

/* Solo5 tender limits (Solo5 v0.12 mft_abi.h, elf_abi.h). */
#define SOLO5_MFT1_DESC_MAX (MFT_DESC_PAD + 8 + MFT_ENTRY_SIZE * 64) /* 6668 */
#define SOLO5_ABI1_DESC_MAX 32   /* ABI1_NOTE_MAX_SIZE */
#define SOLO5_ABI1_DESC_MIN 8    /* target + version; Solo5 over-reads below */

/* A Solo5 note found the tender's way. */
struct ukit_solo5_note {
	size_t   phdr;          /* index of its PT_NOTE */
	uint64_t offset;        /* file offset of the note header */
	uint32_t descsz;
	uint8_t  desc[SOLO5_MFT1_DESC_MAX];   /* (descsz) bytes */
};

/*
 * What Solo5 tenders accept before reading notes, minus the host
 * architecture and byte order: ELF64, ET_EXEC, at least one program
 * header.  0 or -1 with (e) set.
 */
int ukit_solo5_check(const struct elfhdr *h, struct fmt_err *e);

/* The first bytes of a PT_NOTE a Solo5 note lookup reads. */
#define SOLO5_NOTE_HEAD (NOTE_HDR_SIZE + 8)

/*
 * Judge (head), the first SOLO5_NOTE_HEAD bytes of PT_NOTE (phdr) at
 * (offset), (filesz) bytes long, as ukit_solo5_note() below does: 0 when
 * it is not the Solo5 note of (type); 1 with (*descsz) when it is and its
 * descriptor fits; -1 with (e) set when it is but its size is wrong.
 * The one rule for both readers (this file's and elfimg.c's).
 */
int ukit_solo5_note_head(const uint8_t *head, bool big, uint32_t type,
			 size_t phdr, uint64_t offset, uint64_t filesz,
			 uint32_t *descsz, struct fmt_err *e);

/*
 * Find the Solo5 note of (type) (MFT1_NOTE_TYPE or ABI1_NOTE_TYPE): only
 * the first note of each PT_NOTE is read; it is Solo5's when namesz is 6
 * and the name "Solo5"; the first such note with (type) wins.  Unlike
 * Solo5, PT_NOTEs too small for a note header are skipped instead of
 * failing the lookup.  Its descriptor must be 1..limit bytes (6668 for
 * MFT1, 32 for ABI1) and lie within the segment.  Returns 1 with (*out)
 * filled, 0 if there is none, -1 with (e) set.  Requires ukit_solo5_check().
 */
int ukit_solo5_note(const struct elfhdr *h, uint32_t type, struct ukit_solo5_note *out,
	       struct fmt_err *e);

/*
 * The Solo5 manifest and ABI of (h), each found as above.
 * (*have_mft) / (*have_abi) say whether each was present; a present but malformed one (MFT1 failing Solo5's
 * validation, an ABI1 descriptor shorter than 8 bytes) is an error.
 * Returns 0, or -1 with (e) set.
 */
int ukit_solo5_read(const struct elfhdr *h, struct manifest *mft, bool *have_mft,
	       struct solo5_abi *abi, bool *have_abi, struct fmt_err *e);

/* "hvt", "spt", "virtio", "muen", "genode", "xen", else "unknown". */
const char *ukit_solo5_target_name(uint32_t target);

/*
 * What a statement says of the image on (fd): its Solo5 ABI and manifest
 * as {abi: {target, version}, manifest: <query-manifest object>}, in
 * (*out) (owned), or NULL for a file that is not a Solo5 executable (not
 * ELF, not ELF64 ET_EXEC, no notes).  A manifest without an ABI note or
 * the reverse, or an unknown target, is an error.  0 or -1 with (e).
 */
int ukit_solo5_facts(int fd, const char *path, json_t **out, struct fmt_err *e);

#endif
