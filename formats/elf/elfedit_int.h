/*
 * elfedit_int.h: what the parts of the note editor (elfedit.h) share.
 * Internal to libukit's elf layer.
 *
 *   elfedit.c         the ELF reader: headers decoded and checked
 *   elfedit_plan.c    byte patches, and where a new note goes
 *   elfedit_notes.c   the Solo5 manifest and package metadata edits
 *   elfedit_apply.c   applying a plan to a copy of the input
 */
#ifndef UKIT_ELFEDIT_INT_H
#define UKIT_ELFEDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfedit.h"
#include "err.h"
#include "manifest.h"

#define EHDR_SIZE   64
#define PHDR_SIZE   56
#define SHDR_SIZE   64
#define PT_NULL_    0
#define PT_NOTE_    4
#define PT_PHDR_    6
#define SHT_NULL_   0
#define SHT_STRTAB_ 3
#define SHT_NOTE_   7
#define SHT_NOBITS_ 8
#define SHF_ALLOC_  2
#define PF_R_       4
#define ET_EXEC_    2
#define PN_XNUM_    0xffff
#define OFF_PHOFF   0x20
#define OFF_SHOFF   0x28
#define OFF_PHNUM   0x38
#define OFF_SHNUM   0x3c
#define SHN_LORESERVE_ 0xff00
#define NEW_ALIGN   8     /* alignment of data appended to the file */
#define NOTE_ALIGN  4     /* note layout (ELF_T_NHDR), p_align of new PT_NOTEs */

#define PAD_NOTE_MIN (NOTE_HDR_SIZE + 8)   /* "ukit" padded, no descriptor */

struct ph {
	uint32_t type;
	uint64_t offset, vaddr, filesz;
};

struct sh {
	uint32_t type;
	uint64_t flags, offset, size;
	uint64_t at;         /* file offset of the section header */
};

struct elfedit {
	struct elfedit_src src;
	bool      big;
	uint16_t  type;
	uint64_t  phoff;
	unsigned  phnum;
	unsigned  shnum;
	uint64_t  shoff;
	unsigned  shstrndx;  /* e_shstrndx */
	uint8_t  *phraw;     /* the program header table as in the file */
	struct ph *ph;
	struct sh *sh;
};

static inline uint64_t align4(uint64_t v)
{
	return (v + 3) & ~(uint64_t)3;   /* v < 2^33: cannot overflow */
}

/* ---- elfedit.c ---------------------------------------------------------- */

/* Read (len) bytes at (off) of the input, checked against its size.
 * 0, or -1 with (e). */
int ukit_elfedit_rd(const struct elfedit *ed, void *buf, size_t len,
		    uint64_t off, struct fmt_err *e);

/* ---- elfedit_plan.c ----------------------------------------------------- */

/* Add a patch of (len) bytes at (off), copying (data) (zeros if NULL). */
int ukit_elfedit_add_patch(struct elfedit_plan *plan, uint64_t off,
			   const void *data, size_t len, struct fmt_err *e);
/* Store a note header + name (padded to 4) at (b); returns its length. */
size_t ukit_elfedit_note_hdr_store(uint8_t *b, const char *owner,
				   uint32_t descsz, uint32_t type, bool big);
/*
 * The bytes [off, off+len) of the input are about to change: refuse if a
 * PT_NOTE other than one starting at (same) (the note being replaced, or
 * UINT64_MAX for none) covers any of them.  0, or -1 with (e).
 */
int ukit_elfedit_notes_untouched(const struct elfedit *ed, uint64_t off,
				 uint64_t len, uint64_t same,
				 struct fmt_err *e);
/*
 * Plan overwriting the note of (old_size) bytes at (off) with (note, len)
 * followed, when shorter, by a padding note filling the rest.
 */
int ukit_elfedit_plan_overwrite(const struct elfedit *ed, uint64_t off,
				uint64_t old_size, const uint8_t *note,
				size_t len, struct elfedit_plan *plan,
				struct fmt_err *e);
/*
 * Plan appending (note, len) that replaces the note of (old_size) bytes at
 * (old_off), first in PT_NOTE (old) (or, with old < 0, a note that had no
 * predecessor), in a repointed or a new PT_NOTE (at index (ins)), and its
 * section (a new one named (secname) for a note with no predecessor).
 */
int ukit_elfedit_plan_append(const struct elfedit *ed, int old,
			     uint64_t old_off, uint64_t old_size, unsigned ins,
			     const char *secname, const uint8_t *note,
			     size_t len, struct elfedit_plan *plan,
			     struct fmt_err *e);

#endif
