/*
 * binelf.c: ELF executable <-> flat binary (see binelf.h).
 *
 * The ELF is untrusted: elfimg (libelf) parses it, and every section or
 * segment range is checked against the file size and the flat binary
 * against BINELF_MAX_BIN before a byte is copied.
 */
#include <errno.h>
#include <elf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "binelf.h"
#include "bytes.h"
#include "elfimg.h"

#define COPY_CHUNK (1u << 20)

struct piece {
	uint64_t lma, off, size;
	unsigned idx;            /* section or segment number, for errors */
};

int ukit_binelf_arch(const char *name)
{
	if (strcmp(name, "x86_64") == 0)
		return EM_X86_64;
	if (strcmp(name, "aarch64") == 0)
		return EM_AARCH64;
	if (strcmp(name, "ppc64le") == 0)
		return EM_PPC64;
	return -1;
}

static int cmp_piece(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	if (x->lma != y->lma)
		return x->lma < y->lma ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * The pieces of the flat binary: allocated sections with contents (LMA
 * from the PT_LOAD that holds them, as BFD computes it: p_paddr plus the
 * section's offset into the segment), or without section headers the
 * PT_LOAD segments.  elfimg has checked the tables and the segments
 * against the file; section ranges are checked here.
 */
static int collect(struct elfimg *img, struct piece **out, size_t *np,
		   struct fmt_err *e)
{
	const struct ukit_elfimg_info *in = ukit_elfimg_info(img);
	size_t shnum = in->shnum, phnum = in->phnum, n = 0;
	struct ukit_elfimg_phdr *ph = NULL;
	struct piece *pc;

	if (phnum > 0 && (ph = calloc(phnum, sizeof *ph)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	for (size_t i = 0; i < phnum; i++)
		if (ukit_elfimg_phdr(img, i, &ph[i], e) < 0) {
			free(ph);
			return -1;
		}
	pc = calloc(shnum > phnum ? shnum : phnum ? phnum : 1, sizeof *pc);
	if (pc == NULL) {
		free(ph);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	if (shnum > 1) {
		for (size_t i = 1; i < shnum; i++) {
			struct ukit_elfimg_shdr sh;

			if (ukit_elfimg_shdr(img, i, &sh, e) < 0) {
				free(ph);
				free(pc);
				return -1;
			}
			if (!(sh.flags & SHF_ALLOC) || sh.type == SHT_NOBITS ||
			    sh.type == SHT_NULL || sh.size == 0)
				continue;
			pc[n].lma = sh.addr;
			pc[n].off = sh.offset;
			pc[n].size = sh.size;
			pc[n].idx = (unsigned)i;
			for (size_t j = 0; j < phnum; j++) {
				if (ph[j].type != PT_LOAD ||
				    sh.offset < ph[j].offset ||
				    sh.offset - ph[j].offset >= ph[j].filesz ||
				    sh.size > ph[j].filesz -
					      (sh.offset - ph[j].offset) ||
				    sh.addr < ph[j].vaddr ||
				    sh.addr - ph[j].vaddr >= ph[j].memsz)
					continue;
				pc[n].lma = ph[j].paddr +
					    (sh.offset - ph[j].offset);
				break;
			}
			n++;
		}
	} else {
		for (size_t j = 0; j < phnum; j++) {
			if (ph[j].type != PT_LOAD || ph[j].filesz == 0)
				continue;
			pc[n].lma = ph[j].paddr;
			pc[n].off = ph[j].offset;
			pc[n].size = ph[j].filesz;
			pc[n].idx = (unsigned)j;
			n++;
		}
	}
	free(ph);
	for (size_t i = 0; i < n; i++)
		if (!in_bounds(pc[i].off, pc[i].size, in->file_size)) {
			ukit_fmt_errf(e, pc[i].off, "%s %u: contents end past end of "
				 "file (0x%" PRIx64 " + 0x%" PRIx64 " > 0x%"
				 PRIx64 ")", shnum > 1 ? "section" : "segment",
				 pc[i].idx, pc[i].off, pc[i].size,
				 in->file_size);
			free(pc);
			return -1;
		}
	qsort(pc, n, sizeof *pc, cmp_piece);
	*out = pc;
	*np = n;
	return 0;
}

static int write_out(int ofd, const void *buf, size_t len, const char *opath,
		     struct fmt_err *e)
{
	if (ukit_write_full(ofd, buf, len) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "write failed");
		e->path = opath;
		return -1;
	}
	return 0;
}

int ukit_binelf_img_to_bin(struct elfimg *img, int ofd, const char *opath,
		      struct fmt_err *e)
{
	struct piece *pc = NULL;
	size_t n = 0;
	uint64_t base, pos, end = 0;
	uint8_t *buf = NULL;
	int rc = -1;

	if (collect(img, &pc, &n, e) < 0)
		return -1;
	if (n == 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "no loadable contents");
		goto out;
	}
	base = pc[0].lma;
	for (size_t i = 0; i < n; i++) {
		uint64_t pend;

		if (ck_add(pc[i].lma, pc[i].size, &pend) ||
		    pend - base > BINELF_MAX_BIN) {
			ukit_fmt_errf(e, FMT_NOOFF, "flat binary would span more than "
				 "%llu bytes (0x%" PRIx64 "..0x%" PRIx64 ")",
				 BINELF_MAX_BIN, base, pc[i].lma);
			goto out;
		}
		if (i > 0 && pc[i].lma < end) {
			ukit_fmt_errf(e, pc[i].off, "loadable contents overlap at "
				 "load address 0x%" PRIx64, pc[i].lma);
			goto out;
		}
		end = pend;
	}
	if ((buf = malloc(COPY_CHUNK)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	pos = base;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = pc[i].off, left = pc[i].size;

		/* zeros up to the piece, then its bytes */
		memset(buf, 0, COPY_CHUNK);
		while (pos < pc[i].lma) {
			uint64_t z = pc[i].lma - pos;
			size_t k = z < COPY_CHUNK ? (size_t)z : COPY_CHUNK;

			if (write_out(ofd, buf, k, opath, e) < 0)
				goto out;
			pos += k;
		}
		while (left > 0) {
			size_t k = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;

			if (ukit_elfimg_pread(img, buf, k, off, e) < 0 ||
			    write_out(ofd, buf, k, opath, e) < 0)
				goto out;
			off += k;
			left -= k;
		}
		pos += pc[i].size;
	}
	rc = 0;
out:
	free(buf);
	free(pc);
	return rc;
}

int ukit_binelf_to_bin(int fd, const char *ipath, int ofd, const char *opath,
		  struct fmt_err *e)
{
	struct elfimg *img;
	int rc;

	e->path = ipath;
	if (ukit_elfimg_open(fd, ipath, &img, e) < 0)
		return -1;
	rc = ukit_binelf_img_to_bin(img, ofd, opath, e);
	ukit_elfimg_close(img);
	return rc;
}

static int copy_range(int fd, uint64_t off, uint64_t len, int ofd,
		      uint8_t *buf, const char *opath, struct fmt_err *e)
{
	while (len > 0) {
		size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t r = ukit_pread_full(fd, buf, n, (off_t)off);

		if (r < 0)
			return ukit_fmt_errno(e, off, "read failed");
		if ((size_t)r < n)
			return ukit_fmt_errf(e, off, "file shrank while reading");
		if (write_out(ofd, buf, n, opath, e) < 0)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

#define EH_SIZE 64
#define PH_SIZE 56
#define SH_SIZE 64

int ukit_binelf_to_elf(int fd, const char *ipath, int ofd, const char *opath,
		  const struct binelf_opts *o, struct fmt_err *e)
{
	static const char shstr[] = "\0.text\0.shstrtab";   /* 17 bytes */
	uint8_t hdr[EH_SIZE + PH_SIZE], tail[24 + 3 * SH_SIZE];
	uint64_t size, align, data_off, str_off, sh_off, end;
	uint8_t *pad, *sh;
	struct stat st;

	e->path = ipath;
	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot stat");
	size = (uint64_t)st.st_size;
	if (size == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "empty flat binary");
	if (size > BINELF_MAX_BIN)
		return ukit_fmt_errf(e, FMT_NOOFF, "flat binary larger than %llu bytes",
				BINELF_MAX_BIN);
	if (ck_add(o->load_addr, size, &end))
		return ukit_fmt_errf(e, FMT_NOOFF, "load address 0x%" PRIx64
				" + size 0x%" PRIx64 " overflows", o->load_addr,
				size);
	if (o->entry < o->load_addr || o->entry >= end)
		return ukit_fmt_errf(e, FMT_NOOFF, "entry 0x%" PRIx64 " outside the "
				"loaded bytes 0x%" PRIx64 "..0x%" PRIx64,
				o->entry, o->load_addr, end);
	/* max page size of each ABI; file offset congruent to the address */
	align = o->machine == EM_X86_64 ? 0x1000 : 0x10000;
	data_off = align + o->load_addr % align;
	str_off = data_off + size;
	sh_off = (str_off + sizeof shstr + 7) & ~7ULL;

	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, ELFMAG, SELFMAG);
	hdr[EI_CLASS] = ELFCLASS64;
	hdr[EI_DATA] = ELFDATA2LSB;
	hdr[EI_VERSION] = EV_CURRENT;
	hdr[EI_OSABI] = ELFOSABI_NONE;
	le16_store(hdr + 16, ET_EXEC);
	le16_store(hdr + 18, (uint16_t)o->machine);
	le32_store(hdr + 20, EV_CURRENT);
	le64_store(hdr + 24, o->entry);
	le64_store(hdr + 32, EH_SIZE);              /* e_phoff */
	le64_store(hdr + 40, sh_off);               /* e_shoff */
	le32_store(hdr + 48, o->machine == EM_PPC64 ? 2 : 0); /* ELFv2 */
	le16_store(hdr + 52, EH_SIZE);
	le16_store(hdr + 54, PH_SIZE);
	le16_store(hdr + 56, 1);
	le16_store(hdr + 58, SH_SIZE);
	le16_store(hdr + 60, 3);
	le16_store(hdr + 62, 2);                    /* e_shstrndx */
	/* the PT_LOAD */
	le32_store(hdr + 64, PT_LOAD);
	le32_store(hdr + 68, PF_R | PF_W | PF_X);
	le64_store(hdr + 72, data_off);
	le64_store(hdr + 80, o->load_addr);
	le64_store(hdr + 88, o->load_addr);
	le64_store(hdr + 96, size);
	le64_store(hdr + 104, size);
	le64_store(hdr + 112, align);

	pad = calloc(1, COPY_CHUNK);
	if (pad == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	e->path = opath;
	if (ukit_write_full(ofd, hdr, sizeof hdr) < 0 ||
	    ukit_write_full(ofd, pad, data_off - sizeof hdr) < 0) {
		free(pad);
		return ukit_fmt_errno(e, FMT_NOOFF, "write failed");
	}
	e->path = ipath;
	if (copy_range(fd, 0, size, ofd, pad, opath, e) < 0) {
		free(pad);
		return -1;
	}
	free(pad);

	/* .shstrtab, then the section headers: null, .text, .shstrtab */
	memset(tail, 0, sizeof tail);
	memcpy(tail, shstr, sizeof shstr);
	sh = tail + (sh_off - str_off);
	sh += SH_SIZE;
	le32_store(sh, 1);                           /* ".text" */
	le32_store(sh + 4, SHT_PROGBITS);
	le64_store(sh + 8, SHF_ALLOC | SHF_WRITE | SHF_EXECINSTR);
	le64_store(sh + 16, o->load_addr);
	le64_store(sh + 24, data_off);
	le64_store(sh + 32, size);
	le64_store(sh + 48, 1);
	sh += SH_SIZE;
	le32_store(sh, 7);                           /* ".shstrtab" */
	le32_store(sh + 4, SHT_STRTAB);
	le64_store(sh + 24, str_off);
	le64_store(sh + 32, sizeof shstr);
	le64_store(sh + 48, 1);
	e->path = opath;
	if (ukit_write_full(ofd, tail, (size_t)(sh_off - str_off) + 3 * SH_SIZE) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "write failed");
	return 0;
}
