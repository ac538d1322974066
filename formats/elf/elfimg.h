/*
 * elfimg.h: read ELF files (ELF32/ELF64, either byte order, any machine)
 * through libelf: header, program headers, section headers and every note
 * in PT_NOTE segments and SHT_NOTE sections; and find the Solo5 notes the
 * way a Solo5 tender does.
 *
 * Reads headers and notes only: opening a file reads its ELF header and
 * header tables (bounded by ELFIMG_MAX_PHDRS / ELFIMG_MAX_SECTIONS), a note
 * container is read when it is iterated (bounded by ELFIMG_NOTES_MAX), so
 * the cost does not depend on the size of the file.  Every size from the
 * file is checked against its container and the file before it is used.
 */
#ifndef UKIT_ELFIMG_H
#define UKIT_ELFIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "manifest.h"
#include "solo5.h"

#define ELFIMG_MAX_PHDRS    65535          /* program headers */
#define ELFIMG_MAX_SECTIONS 65536          /* section headers */
#define ELFIMG_NOTES_MAX    (16u << 20)    /* bytes of one note container */
#define ELFIMG_STRTAB_MAX   (1u << 20)     /* bytes of .shstrtab read */
#define ELFIMG_NAME_MAX     4096           /* bytes of a note name kept */


struct elfimg;

/* The ELF header, decoded. */
struct ukit_elfimg_info {
	unsigned elfclass;      /* 1 ELFCLASS32, 2 ELFCLASS64 */
	unsigned data;          /* 1 ELFDATA2LSB, 2 ELFDATA2MSB */
	bool     big;           /* data == ELFDATA2MSB */
	unsigned osabi;         /* e_ident[EI_OSABI] */
	uint16_t type;          /* e_type: ET_EXEC 2, ET_DYN 3, ... */
	uint16_t machine;       /* e_machine: EM_X86_64 62, ... */
	uint32_t version;       /* e_version */
	uint64_t entry;
	uint64_t phoff;
	size_t   phnum;         /* real count (PN_XNUM resolved) */
	uint16_t phentsize;
	uint64_t shoff;
	size_t   shnum;         /* real count (extended numbering resolved) */
	uint16_t shentsize;
	size_t   shstrndx;
	uint32_t flags;
	uint16_t ehsize;
	uint64_t file_size;     /* bytes in the file (or buffer) */
};

/* A program header, widened to 64 bits. */
struct ukit_elfimg_phdr {
	uint32_t type;          /* PT_LOAD 1, PT_NOTE 4, ... */
	uint32_t flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

/* A section header, widened; (name) borrowed until ukit_elfimg_close(). */
struct ukit_elfimg_shdr {
	const char *name;       /* "" when absent or unreadable */
	uint32_t type;
	uint64_t flags, addr, offset, size, align;
	uint32_t link, info;
	uint64_t entsize;
};

/*
 * Open the ELF file on (fd) (borrowed; must stay open until ukit_elfimg_close();
 * must be a regular file).  (path) names it in errors (borrowed, may be
 * NULL).  Checks: magic, class, byte order, header sizes, the program and
 * section header tables within the file and within the limits, every
 * segment's file range within the file.  Returns 0 and (*out), or -1 with
 * (e) set.
 */
int ukit_elfimg_open(int fd, const char *path, struct elfimg **out,
		struct fmt_err *e);

/*
 * Open the ELF file on (fd) as a Solo5 tender reads it (Solo5's
 * tenders/common/elf.c): the ELF header and the program header table
 * only, which must lie within the file; e_ident[EI_VERSION] is not looked
 * at, e_phnum is taken as it is, segments are checked where they are read.
 * A section header table that is damaged, cut off or unreadable does not
 * fail the open: the file then has no sections, and
 * ukit_elfimg_section_error() says why.  On such a handle
 * ukit_elfimg_solo5_check() also refuses what a tender refuses: machines other
 * than x86_64, aarch64 and ppc64le, big-endian files; and
 * ukit_elfimg_solo5_note() a PT_NOTE smaller than a note header.
 */
int ukit_elfimg_open_tender(int fd, const char *path, struct elfimg **out,
			    struct fmt_err *e);

/* NULL, or why the section header table of a handle opened with
 * ukit_elfimg_open_tender() could not be read (valid until close). */
const struct fmt_err *ukit_elfimg_section_error(const struct elfimg *img);

/* The same for (len) bytes at (buf), which are copied. */
int ukit_elfimg_open_mem(const void *buf, size_t len, const char *path,
		    struct elfimg **out, struct fmt_err *e);

/* NULL is fine. */
void ukit_elfimg_close(struct elfimg *img);

/* The decoded ELF header; valid until ukit_elfimg_close(). */
const struct ukit_elfimg_info *ukit_elfimg_info(const struct elfimg *img);

/* Program header (i) < phnum; 0 or -1 with (e) set (out of range). */
int ukit_elfimg_phdr(const struct elfimg *img, size_t i, struct ukit_elfimg_phdr *ph,
		struct fmt_err *e);

/* Section header (i) < shnum; 0 or -1 with (e) set. */
int ukit_elfimg_shdr(struct elfimg *img, size_t i, struct ukit_elfimg_shdr *sh,
		struct fmt_err *e);

/*
 * Read (len) bytes at file offset (off) into (buf); the range must lie
 * within the file.  0 or -1 with (e) set.
 */
int ukit_elfimg_pread(const struct elfimg *img, void *buf, size_t len,
		 uint64_t off, struct fmt_err *e);

/* "x86_64", "aarch64", "ppc64", ...; NULL if unknown. */
const char *ukit_elfimg_machine_name(uint16_t machine);

/* ---- notes ---------------------------------------------------------- */

enum elfimg_where {
	ELFIMG_SEGMENT = 1,     /* a PT_NOTE program header */
	ELFIMG_SECTION = 2,     /* an SHT_NOTE section */
};

/* One note.  Pointers are valid until the next ukit_elfimg_notes_next() call. */
struct elfimg_note {
	enum elfimg_where where;
	size_t   index;         /* program header or section index */
	const char *section;    /* section name when where == SECTION, else "" */
	unsigned align;         /* 4 or 8: padding of name and descriptor */
	bool     first;         /* the first note of its container */
	uint64_t offset;        /* file offset of the 12-byte note header */
	uint32_t namesz;        /* as in the file, including the NUL */
	const char *name;       /* NUL-terminated copy of the name bytes */
	size_t   namelen;       /* bytes in (name) before its NUL (may hold
				   NULs if the file's name does) */
	uint32_t type;
	uint32_t descsz;
	const uint8_t *desc;    /* (descsz) bytes */
	uint64_t desc_offset;   /* file offset of the descriptor */
};

/* Iterator state; treat as opaque. */
struct elfimg_notes {
	struct elfimg *img;
	unsigned which;         /* ELFIMG_SEGMENT | ELFIMG_SECTION */
	unsigned phase;         /* 0 segments, 1 sections, 2 done */
	size_t   idx;           /* next header to look at */
	uint8_t *buf;           /* current container's bytes */
	uint64_t len, pos, base;
	size_t   cur;           /* current container's header index */
	unsigned align;
	const char *section;
	char    *name;          /* ELFIMG_NAME_MAX + 1 bytes */
};

/*
 * Iterate over every note of (img): those in PT_NOTE segments (in program
 * header order) when (which) has ELFIMG_SEGMENT, then those in SHT_NOTE
 * sections when it has ELFIMG_SECTION (a note in both is seen twice; compare
 * offsets).  Alignment follows p_align/sh_addralign as readelf does: 8 when
 * it is 8, 4 when it is below 4 or 4, anything else is an error.
 */
void ukit_elfimg_notes_begin(struct elfimg *img, unsigned which,
			struct elfimg_notes *it);

/*
 * The next note in (*n): returns 1, 0 at the end, or -1 with (e) set when a
 * container or note is malformed (outside the file, namesz/descsz/padding
 * past the container's end, bad alignment, container larger than
 * ELFIMG_NOTES_MAX); after -1 the iteration may continue with the next
 * container.  Empty containers yield nothing.
 */
int ukit_elfimg_notes_next(struct elfimg_notes *it, struct elfimg_note *n,
		      struct fmt_err *e);

/* Release the iterator's buffers (also done when next returns 0). */
void ukit_elfimg_notes_end(struct elfimg_notes *it);

/* ---- Solo5 ---------------------------------------------------------- */


/*
 * Find the Solo5 note of (type) (MFT1_NOTE_TYPE or ABI1_NOTE_TYPE) as a
 * Solo5 tender does: only the first note of each PT_NOTE is read; it is
 * Solo5's when namesz is 6 and the name "Solo5"; the first such note with
 * (type) wins.  Unlike Solo5, PT_NOTEs too small for a note header are
 * skipped instead of failing the lookup.  Its descriptor must be 1..limit
 * bytes (6668 for MFT1, 32 for ABI1) and lie within the segment.  Returns
 * 1 with (*out) filled, 0 if there is none, -1 with (e) set.
 * Requires an ELF64 ET_EXEC (ukit_elfimg_solo5_check()).
 */
int ukit_elfimg_solo5_note(struct elfimg *img, uint32_t type,
		      struct ukit_solo5_note *out, struct fmt_err *e);

/*
 * What Solo5 tenders accept before reading notes, minus the host
 * architecture and byte order: ELF64, ET_EXEC, at least one program
 * header.  0 or -1 with (e) set.
 */
int ukit_elfimg_solo5_check(const struct elfimg *img, struct fmt_err *e);

/*
 * A machine Solo5 builds for: x86_64, aarch64 or ppc64le, little-endian.
 * 0, or -1 with (e) set, naming the machine.
 */
int ukit_elfimg_solo5_machine(const struct ukit_elfimg_info *in,
			      struct fmt_err *e);

/*
 * The Solo5 manifest and ABI of (img), each found as above.  (mft) and
 * (abi) may be NULL (not wanted).  (*have_mft) / (*have_abi) say whether
 * each was present; a present but malformed one (MFT1 failing Solo5's
 * validation, an ABI1 descriptor shorter than 8 bytes) is an error.
 * Returns 0, or -1 with (e) set.
 */
int ukit_elfimg_solo5(struct elfimg *img, struct manifest *mft, bool *have_mft,
		 struct solo5_abi *abi, bool *have_abi, struct fmt_err *e);

/* "hvt", "spt", "virtio", "muen", "genode", "xen", else "unknown". */
const char *ukit_elfimg_abi_target_name(uint32_t target);

/* ---- notes as JSON (elfimg_json.c) ---------------------------------- */

struct json_t;

/*
 * Every note of (img) as a jansson object (schemas/elftool-notes.schema.json):
 * class, data, machine, e_type and "notes", one object per note (owner,
 * type, type_name where known, descsz, offset, segment {index, first} and/or
 * section {index, name}; a note in both a PT_NOTE and an SHT_NOTE section is
 * listed once) with "content" decoded for Solo5 MFT1/ABI1, GNU ABI tag,
 * build-id, gold version and properties, Xen and FDO package metadata
 * notes, else "desc_hex" (descriptors up to 1 KiB).  A malformed descriptor
 * gives {"error": reason} as content; a malformed container fails.
 * Returns 0 and a new reference in (*out), or -1 with (e) set.
 */
int ukit_elfimg_notes_json(struct elfimg *img, struct json_t **out,
		      struct fmt_err *e);

/*
 * A JSON string from (len) bytes from a file (note owners and names,
 * qcow2 snapshot names): as they are when valid UTF-8 without NUL, else
 * every byte >= 0x80 as the Latin-1 code point, NUL as U+0000.  NULL when
 * memory runs out.
 */
struct json_t *ukit_elfimg_json_bytes(const void *p, size_t len);

#endif
