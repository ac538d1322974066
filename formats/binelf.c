/*
 * binelf.c: ELF executable <-> flat binary (see binelf.h).
 *
 * The ELF is untrusted: libelf parses it, and every section or segment
 * range is checked against the file size and the flat binary against
 * BINELF_MAX_BIN before a byte is copied.
 */
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binelf.h"
#include "bytes.h"
#include "outfile.h"

#define COPY_CHUNK (1u << 20)

struct piece {
	uint64_t lma, off, size;
	unsigned idx;            /* section or segment number, for errors */
};

int binelf_arch(const char *name)
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

static int elf_fail(struct fmt_err *e, const char *what)
{
	return fmt_errf(e, FMT_NOOFF, "%s: %s", what, elf_errmsg(-1));
}

/*
 * The pieces of the flat binary: allocated sections with contents (LMA
 * from the PT_LOAD that holds them, as BFD computes it: p_paddr plus the
 * section's offset into the segment), or without section headers the
 * PT_LOAD segments.
 */
static int collect(Elf *elf, uint64_t fsize, struct piece **out, size_t *np,
		   struct fmt_err *e)
{
	size_t shnum, phnum, n = 0;
	struct piece *pc = NULL;
	GElf_Phdr *ph = NULL;

	if (elf_getshdrnum(elf, &shnum) != 0 || elf_getphdrnum(elf, &phnum) != 0)
		return elf_fail(e, "cannot read ELF headers");
	if (phnum > 0 && (ph = calloc(phnum, sizeof *ph)) == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	for (size_t i = 0; i < phnum; i++)
		if (gelf_getphdr(elf, (int)i, &ph[i]) == NULL) {
			free(ph);
			return elf_fail(e, "cannot read program header");
		}
	pc = calloc(shnum > phnum ? shnum : phnum ? phnum : 1, sizeof *pc);
	if (pc == NULL) {
		free(ph);
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	if (shnum > 1) {
		for (size_t i = 1; i < shnum; i++) {
			Elf_Scn *scn = elf_getscn(elf, i);
			GElf_Shdr sh;

			if (scn == NULL || gelf_getshdr(scn, &sh) == NULL) {
				free(ph);
				free(pc);
				return elf_fail(e, "cannot read section header");
			}
			if (!(sh.sh_flags & SHF_ALLOC) || sh.sh_type == SHT_NOBITS ||
			    sh.sh_type == SHT_NULL || sh.sh_size == 0)
				continue;
			pc[n].lma = sh.sh_addr;
			pc[n].off = sh.sh_offset;
			pc[n].size = sh.sh_size;
			pc[n].idx = (unsigned)i;
			for (size_t j = 0; j < phnum; j++) {
				if (ph[j].p_type != PT_LOAD ||
				    sh.sh_offset < ph[j].p_offset ||
				    sh.sh_offset - ph[j].p_offset >= ph[j].p_filesz ||
				    sh.sh_size > ph[j].p_filesz -
						 (sh.sh_offset - ph[j].p_offset) ||
				    sh.sh_addr < ph[j].p_vaddr ||
				    sh.sh_addr - ph[j].p_vaddr >= ph[j].p_memsz)
					continue;
				pc[n].lma = ph[j].p_paddr +
					    (sh.sh_offset - ph[j].p_offset);
				break;
			}
			n++;
		}
	} else {
		for (size_t j = 0; j < phnum; j++) {
			if (ph[j].p_type != PT_LOAD || ph[j].p_filesz == 0)
				continue;
			pc[n].lma = ph[j].p_paddr;
			pc[n].off = ph[j].p_offset;
			pc[n].size = ph[j].p_filesz;
			pc[n].idx = (unsigned)j;
			n++;
		}
	}
	free(ph);
	for (size_t i = 0; i < n; i++)
		if (!in_bounds(pc[i].off, pc[i].size, fsize)) {
			fmt_errf(e, pc[i].off, "%s %u: contents end past end of "
				 "file (0x%" PRIx64 " + 0x%" PRIx64 " > 0x%"
				 PRIx64 ")", shnum > 1 ? "section" : "segment",
				 pc[i].idx, pc[i].off, pc[i].size, fsize);
			free(pc);
			return -1;
		}
	qsort(pc, n, sizeof *pc, cmp_piece);
	*out = pc;
	*np = n;
	return 0;
}

static int copy_range(int fd, uint64_t off, uint64_t len, int ofd,
		      uint8_t *buf, const char *opath, struct fmt_err *e)
{
	while (len > 0) {
		size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t r = pread_full(fd, buf, n, (off_t)off);

		if (r < 0)
			return fmt_errno(e, off, "read failed");
		if ((size_t)r < n)
			return fmt_errf(e, off, "file shrank while reading");
		if (write_full(ofd, buf, n) < 0) {
			fmt_errno(e, FMT_NOOFF, "write failed");
			e->path = opath;
			return -1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

int binelf_to_bin(int fd, const char *ipath, int ofd, const char *opath,
		  struct fmt_err *e)
{
	struct piece *pc = NULL;
	size_t n = 0;
	struct stat st;
	uint64_t base, pos, end = 0;
	uint8_t *buf = NULL;
	Elf *elf = NULL;
	int rc = -1;

	e->path = ipath;
	if (fstat(fd, &st) < 0)
		return fmt_errno(e, FMT_NOOFF, "cannot stat");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return elf_fail(e, "libelf");
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf == NULL || elf_kind(elf) != ELF_K_ELF) {
		fmt_errf(e, 0, "not an ELF file");
		goto out;
	}
	if (collect(elf, (uint64_t)st.st_size, &pc, &n, e) < 0)
		goto out;
	if (n == 0) {
		fmt_errf(e, FMT_NOOFF, "no loadable contents");
		goto out;
	}
	base = pc[0].lma;
	for (size_t i = 0; i < n; i++) {
		uint64_t pend;

		if (ck_add(pc[i].lma, pc[i].size, &pend) ||
		    pend - base > BINELF_MAX_BIN) {
			fmt_errf(e, FMT_NOOFF, "flat binary would span more than "
				 "%llu bytes (0x%" PRIx64 "..0x%" PRIx64 ")",
				 BINELF_MAX_BIN, base, pc[i].lma);
			goto out;
		}
		if (i > 0 && pc[i].lma < end) {
			fmt_errf(e, pc[i].off, "loadable contents overlap at "
				 "load address 0x%" PRIx64, pc[i].lma);
			goto out;
		}
		end = pend;
	}
	if ((buf = calloc(1, COPY_CHUNK)) == NULL) {
		fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	pos = base;
	for (size_t i = 0; i < n; i++) {
		/* zeros up to the piece, then its bytes */
		while (pos < pc[i].lma) {
			uint64_t z = pc[i].lma - pos;
			size_t k = z < COPY_CHUNK ? (size_t)z : COPY_CHUNK;

			memset(buf, 0, k);
			if (write_full(ofd, buf, k) < 0) {
				fmt_errno(e, FMT_NOOFF, "write failed");
				e->path = opath;
				goto out;
			}
			pos += k;
		}
		if (copy_range(fd, pc[i].off, pc[i].size, ofd, buf, opath,
			       e) < 0)
			goto out;
		pos += pc[i].size;
	}
	rc = 0;
out:
	free(buf);
	free(pc);
	elf_end(elf);
	return rc;
}

#define EH_SIZE 64
#define PH_SIZE 56
#define SH_SIZE 64

int binelf_to_elf(int fd, const char *ipath, int ofd, const char *opath,
		  const struct binelf_opts *o, struct fmt_err *e)
{
	static const char shstr[] = "\0.text\0.shstrtab";   /* 17 bytes */
	uint8_t hdr[EH_SIZE + PH_SIZE], tail[24 + 3 * SH_SIZE];
	uint64_t size, align, data_off, str_off, sh_off, end;
	uint8_t *pad, *sh;
	struct stat st;

	e->path = ipath;
	if (fstat(fd, &st) < 0)
		return fmt_errno(e, FMT_NOOFF, "cannot stat");
	size = (uint64_t)st.st_size;
	if (size == 0)
		return fmt_errf(e, FMT_NOOFF, "empty flat binary");
	if (size > BINELF_MAX_BIN)
		return fmt_errf(e, FMT_NOOFF, "flat binary larger than %llu bytes",
				BINELF_MAX_BIN);
	if (ck_add(o->load_addr, size, &end))
		return fmt_errf(e, FMT_NOOFF, "load address 0x%" PRIx64
				" + size 0x%" PRIx64 " overflows", o->load_addr,
				size);
	if (o->entry < o->load_addr || o->entry >= end)
		return fmt_errf(e, FMT_NOOFF, "entry 0x%" PRIx64 " outside the "
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
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	e->path = opath;
	if (write_full(ofd, hdr, sizeof hdr) < 0 ||
	    write_full(ofd, pad, data_off - sizeof hdr) < 0) {
		free(pad);
		return fmt_errno(e, FMT_NOOFF, "write failed");
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
	if (write_full(ofd, tail, (size_t)(sh_off - str_off) + 3 * SH_SIZE) < 0)
		return fmt_errno(e, FMT_NOOFF, "write failed");
	return 0;
}
