/*
 * elfhdr.h: an ELF file's header and program headers as a loader sees
 * them, read with pread and no libelf.  Solo5's tenders read nothing else
 * (never the section headers), so what they load, this reads; a verifier
 * that links only this and solo5.h needs no libelf.
 */
#ifndef UKIT_ELFHDR_H
#define UKIT_ELFHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ELFHDR_MAX_PHDRS 65535     /* program headers read at most */

/* A program header, widened to 64 bits. */
struct elfhdr_phdr {
	uint32_t type;          /* PT_LOAD 1, PT_NOTE 4, ... */
	uint64_t offset, filesz;
};

struct elfhdr {
	int      fd;            /* borrowed */
	const char *path;       /* borrowed, for messages */
	uint64_t file_size;
	unsigned elfclass;      /* 1 ELFCLASS32, 2 ELFCLASS64 */
	bool     big;           /* ELFDATA2MSB */
	uint16_t type;          /* e_type */
	uint16_t machine;       /* e_machine */
	uint32_t version;       /* e_version */
	uint16_t ehsize;
	size_t   phnum;
	struct elfhdr_phdr *ph; /* phnum entries (owned) */
};

/*
 * Read the ELF header and program header table of the file on (fd):
 * magic, class, byte order, e_phentsize, the table within the file and
 * ELFHDR_MAX_PHDRS, every segment's file range within the file.
 * 1 and (*out) for an ELF file, 0 when (fd) holds no ELF magic, -1 with
 * (e) for a malformed one.  Release with ukit_elfhdr_free().
 */
int ukit_elfhdr_read(int fd, const char *path, struct elfhdr *out,
		struct fmt_err *e);

/* pread (len) bytes at (off), which must lie within the file.  0 or -1. */
int ukit_elfhdr_pread(const struct elfhdr *h, void *buf, size_t len, uint64_t off,
		 struct fmt_err *e);

void ukit_elfhdr_free(struct elfhdr *h);

#endif
