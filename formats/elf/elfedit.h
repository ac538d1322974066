/*
 * elfedit.h: rewrite the notes of an already linked ELF64 executable.
 *
 * Two edits: put a new Solo5 MFT1 manifest note where a Solo5 tender will
 * find it (set-manifest), and add or replace the FDO packaging metadata
 * note (set-package-metadata).  An edit is planned first, from the headers
 * and notes only (ukit_elfedit_open + elfedit_plan_*), as a short list of byte
 * patches and a new file size; applying it copies the input and writes the
 * patches, so every byte outside the patched ranges is preserved and the
 * input is never read whole into memory.
 *
 * Trusts nothing in the input: every header field is decoded from bytes at
 * its offset, in the file's byte order, and every size is bounds- and
 * overflow-checked against the file.
 */
#ifndef UKIT_ELFEDIT_H
#define UKIT_ELFEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ELFEDIT_MAX_PHNUM    4096         /* program headers we accept */
#define ELFEDIT_MAX_SHNUM    65280        /* section headers (SHN_LORESERVE) */
#define ELFEDIT_MAX_NOTE     (1u << 20)   /* bytes of one note we write */
#define ELFEDIT_MAX_PKGMETA  (64u << 10)  /* bytes of package metadata JSON */
#define ELFEDIT_MAX_NOTES    4096         /* notes scanned per PT_NOTE */
#define ELFEDIT_MAX_SHSTRTAB (1u << 20)   /* section name table we copy */
#define ELFEDIT_MAX_PATCHES  12

#define FDO_NOTE_NAME        "FDO"
#define FDO_PACKAGING_METADATA 0xcafe1a7eU

/*
 * Filler note written after a shorter note that replaced a longer one in
 * place: owner "ukit", this type, a zero descriptor.  It keeps every
 * PT_NOTE and SHT_NOTE section a clean sequence of notes.
 */
#define UKIT_NOTE_NAME       "ukit"
#define UKIT_NOTE_PADDING    0x44415055U  /* "UPAD" */

/* Where the input bytes come from: a buffer (buf != NULL) or a file. */
struct elfedit_src {
	const uint8_t *buf;
	int            fd;
	uint64_t       size;   /* bytes */
	const char    *path;   /* for errors; borrowed */
};

enum elfedit_how {
	ELFEDIT_IN_PLACE = 1,  /* an existing note was overwritten */
	ELFEDIT_GROW,          /* new PT_NOTE; phdr table grew into free space */
	ELFEDIT_MOVE,          /* new PT_NOTE; phdr table moved to end of file */
	ELFEDIT_REPOINT,       /* the old note's PT_NOTE points at a new note */
};

struct elfedit_patch {
	uint64_t off;          /* in the output */
	size_t   len;
	uint8_t *data;         /* owned */
};

/* The result of planning: apply the patches to a copy of the input. */
struct elfedit_plan {
	uint64_t in_size;      /* bytes */
	uint64_t out_size;     /* bytes; > in_size when data is appended */
	enum elfedit_how how;
	unsigned phdr_index;   /* index of the PT_NOTE holding the new note */
	uint64_t note_off;     /* file offset of the new note */
	size_t   n;
	struct elfedit_patch p[ELFEDIT_MAX_PATCHES];
};

struct elfedit;

/*
 * Read and check the ELF header, program headers and section headers of
 * (src) (ELF64 only, either byte order).  (src) must stay valid until
 * ukit_elfedit_close().  Returns 0 and (*out), or -1 with (e) set.
 */
int ukit_elfedit_open(const struct elfedit_src *src, struct elfedit **out,
		 struct fmt_err *e);
void ukit_elfedit_close(struct elfedit *ed);   /* NULL is fine */

/* True if the file is big-endian (ELFDATA2MSB). */
bool ukit_elfedit_big_endian(const struct elfedit *ed);

/*
 * Plan replacing the Solo5 manifest with (note, len), a complete MFT1 note
 * in the file's byte order.  In place when it fits the note a tender reads
 * now (any target); otherwise, for hvt and spt only, the new note is
 * appended: when the program header table has no free space after it and
 * the old note is alone in its PT_NOTE, that PT_NOTE is pointed at the new
 * note (no table edit: binutils keeps the layout, PT_PHDR stays true);
 * else a new PT_NOTE before the old one.  An SHT_NOTE section holding
 * exactly the old note now
 * describes the new one (readelf -n reads by section); with no MFT1 note
 * before, the new one gets a ".note.solo5.manifest" section when the file
 * has a section name table.  Returns 0 with (plan) filled (free with ukit_elfedit_plan_free),
 * or -1 with (e) set and (plan) empty (e.g. a virtio image whose manifest
 * does not fit).
 */
int ukit_elfedit_plan_manifest(struct elfedit *ed, const uint8_t *note, size_t len,
			  struct elfedit_plan *plan, struct fmt_err *e);

/*
 * Check (json, len) as package metadata: a JSON object, no duplicate keys,
 * no NUL, at most ELFEDIT_MAX_PKGMETA bytes.  0 or -1 with (e) set (offset
 * = byte position of a syntax error).
 */
int ukit_elfedit_pkgmeta_check(const char *json, size_t len, struct fmt_err *e);

/*
 * Plan adding the FDO packaging metadata note holding (json, len) (checked
 * with ukit_elfedit_pkgmeta_check; trailing white space is dropped): replaces the
 * first existing one in place when it fits, else a new PT_NOTE placed
 * before the PT_NOTE holding the old one (readers take the first), or last;
 * the old note's own SHT_NOTE section, if any, then describes the new one;
 * a first note also gets a ".note.package" section when the file has a
 * section name table (copies of the name and header tables are appended).
 */
int ukit_elfedit_plan_package_metadata(struct elfedit *ed, const char *json,
				  size_t len, struct elfedit_plan *plan,
				  struct fmt_err *e);

void ukit_elfedit_plan_free(struct elfedit_plan *plan);

/*
 * Write the edited file to (out_fd), an empty regular file: copy (in_fd)
 * (FICLONE or copy_file_range where the file systems allow, else through a
 * bounded buffer), extend it to plan->out_size, write the patches.  0 or -1
 * with (e) set.
 */
int ukit_elfedit_apply_fd(int in_fd, int out_fd, const struct elfedit_plan *plan,
		     struct fmt_err *e);

/* The same on memory: (*out) is malloc'ed, (*out_len) == plan->out_size. */
int ukit_elfedit_apply_buf(const uint8_t *in, size_t len,
		      const struct elfedit_plan *plan, uint8_t **out,
		      size_t *out_len, struct fmt_err *e);

/* "in place", "grown program header table", "moved program header table" */
const char *ukit_elfedit_how_name(enum elfedit_how how);

#endif
