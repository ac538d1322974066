/*
 * binelf.h: ELF executable <-> flat binary.
 *
 * ELF -> bin produces what `objcopy -O binary` produces: the contents of
 * the allocated sections that have file contents, laid out by load
 * address (LMA) from the lowest one, gaps filled with zeros; an ELF
 * without section headers is laid out from its PT_LOAD segments
 * (p_paddr, p_filesz).  bin -> ELF wraps a flat binary in an ET_EXEC with
 * one PT_LOAD.
 */
#ifndef UKIT_BINELF_H
#define UKIT_BINELF_H

#include <stdint.h>

#include "err.h"

#define BINELF_MAX_BIN (4ULL << 30)  /* bytes of flat binary, either way */

struct binelf_opts {
	uint64_t load_addr;      /* p_vaddr = p_paddr of the PT_LOAD */
	uint64_t entry;          /* e_entry; inside the loaded bytes */
	int machine;             /* EM_X86_64, EM_AARCH64 or EM_PPC64 */
};

/* EM_* for "x86_64", "aarch64" or "ppc64le"; -1 for anything else. */
int ukit_binelf_arch(const char *name);

/*
 * Write the flat binary of the ELF file on (fd) to (ofd) (written
 * sequentially; may be a pipe).  Paths name the files in errors.
 * 0, or -1 with (e).
 */
int ukit_binelf_to_bin(int fd, const char *ipath, int ofd, const char *opath,
		  struct fmt_err *e);

struct elfimg;

/* The same from an open elfimg (the (buf, len) path for fuzzing). */
int ukit_binelf_img_to_bin(struct elfimg *img, int ofd, const char *opath,
		      struct fmt_err *e);

/*
 * Write the flat binary on (fd) to (ofd) as a little-endian ELF64
 * ET_EXEC with one RWX PT_LOAD at a page-aligned file offset.
 * 0, or -1 with (e).
 */
int ukit_binelf_to_elf(int fd, const char *ipath, int ofd, const char *opath,
		  const struct binelf_opts *o, struct fmt_err *e);

#endif
