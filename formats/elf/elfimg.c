/*
 * elfimg.c: ELF headers and notes through libelf, and the Solo5 tender's
 * note lookup.
 *
 * Trusts nothing in the file.  The ELF header is decoded here first (from
 * bytes, in the file's byte order) and its tables are checked against the
 * file size and named limits before libelf sees the file, so libelf never
 * allocates by a size field we have not bounded; libelf then decodes the
 * program and section headers (ELF_C_READ: it preads what is asked for and
 * nothing else).  Note containers are read by us, bounded, and every note
 * size is checked against its container.
 */
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "elfhdr.h"
#include "elfimg.h"
#include "solo5.h"

struct elfimg {
	int fd;                     /* borrowed, or -1 for a memory image */
	uint8_t *mem;               /* owned copy for ukit_elfimg_open_mem() */
	const char *path;
	Elf *elf;
	struct ukit_elfimg_info info;
	struct ukit_elfimg_phdr *ph;     /* info.phnum entries */
	struct ukit_elfimg_shdr *sh;     /* info.shnum entries, loaded lazily */
	char *shstr;                /* section name table, NUL-terminated */
	size_t shstrlen;
	bool tender;                /* opened as a Solo5 tender reads it */
	bool has_sherr;             /* tender: the section table is unusable */
	struct fmt_err sherr;       /* why */
};

#define EHDR32_SIZE 52
#define EHDR64_SIZE 64
#define PHDR32_SIZE 32
#define PHDR64_SIZE 56
#define SHDR32_SIZE 40
#define SHDR64_SIZE 64

int ukit_elfimg_pread(const struct elfimg *img, void *buf, size_t len,
		 uint64_t off, struct fmt_err *e)
{
	ssize_t n;

	if (!in_bounds(off, len, img->info.file_size))
		return ukit_fmt_errf(e, off, "read of 0x%zx bytes extends past end "
				"of file (0x%" PRIx64 " > 0x%" PRIx64 ")", len,
				off + len, img->info.file_size);
	if (len == 0)
		return 0;
	if (img->mem != NULL) {
		memcpy(buf, img->mem + off, len);
		return 0;
	}
	n = ukit_pread_full(img->fd, buf, len, (off_t)off);
	if (n < 0)
		return ukit_fmt_errno(e, off, "read");
	if ((size_t)n != len)
		return ukit_fmt_errf(e, off, "file shrank while reading (0x%zx of "
				"0x%zx bytes)", (size_t)n, len);
	return 0;
}

/*
 * Check the section header table against the file and the limits,
 * resolving extended numbering (e_shnum 0, e_phnum PN_XNUM, e_shstrndx
 * SHN_XINDEX via section header 0).  0, or -1 with (e) set.
 */
static int shdr_table_check(struct elfimg *img, bool is64, bool big,
			    uint16_t phnum, uint16_t shnum, uint16_t shstrndx,
			    struct fmt_err *e)
{
	struct ukit_elfimg_info *in = &img->info;
	uint64_t end, tbl;

	if (in->shoff != 0) {
		if (in->shentsize != (is64 ? SHDR64_SIZE : SHDR32_SIZE))
			return ukit_fmt_errf(e, is64 ? 58 : 46, "e_shentsize %u, "
					"expected %d", in->shentsize,
					is64 ? SHDR64_SIZE : SHDR32_SIZE);
		if (!in_bounds(in->shoff, in->shentsize, in->file_size))
			return ukit_fmt_errf(e, is64 ? 40 : 32, "section header "
					"table starts past end of file "
					"(0x%" PRIx64 " + 0x%x > 0x%" PRIx64 ")",
					in->shoff, in->shentsize, in->file_size);
		if (shnum == 0 || (phnum == 0xffff && !img->tender) ||
		    shstrndx == 0xffff) {
			uint8_t s0[SHDR64_SIZE];

			if (ukit_elfimg_pread(img, s0, in->shentsize, in->shoff, e) < 0)
				return -1;
			if (shnum == 0)
				in->shnum = is64 ? ld64(s0 + 32, big)
						 : ld32(s0 + 20, big);
			if (phnum == 0xffff && !img->tender)
				in->phnum = ld32(s0 + (is64 ? 44 : 28), big);
			if (shstrndx == 0xffff)
				in->shstrndx = ld32(s0 + (is64 ? 40 : 24), big);
		}
		if (in->shnum > ELFIMG_MAX_SECTIONS)
			return ukit_fmt_errf(e, in->shoff, "%zu sections, more than "
					"the limit %d", in->shnum,
					ELFIMG_MAX_SECTIONS);
		if (ck_mul(in->shnum, in->shentsize, &tbl) ||
		    ck_add(in->shoff, tbl, &end) || end > in->file_size)
			return ukit_fmt_errf(e, is64 ? 40 : 32, "section header "
					"table extends past end of file "
					"(0x%" PRIx64 " + %zu * %u > 0x%" PRIx64 ")",
					in->shoff, in->shnum, in->shentsize,
					in->file_size);
		if (in->shnum > 0 && in->shstrndx >= in->shnum)
			in->shstrndx = 0;       /* no names, not fatal */
	} else {
		in->shnum = 0;
		in->shstrndx = 0;
	}

	return 0;
}

/*
 * Decode the ELF header from bytes and check its tables against the file
 * and the limits, resolving extended numbering (e_shnum 0, e_phnum
 * PN_XNUM, e_shstrndx SHN_XINDEX via section header 0).
 */
static int ehdr_check(struct elfimg *img, struct fmt_err *e)
{
	struct ukit_elfimg_info *in = &img->info;
	uint8_t h[EHDR64_SIZE];
	uint64_t end, tbl;
	bool big, is64;
	uint16_t phnum, shnum, shstrndx;

	/* the magic first: a short file of another kind is not an ELF file */
	if (ukit_elfimg_pread(img, h, in->file_size < 4 ? in->file_size : 4, 0,
			 e) < 0)
		return -1;
	if (memcmp(h, "\177ELF", in->file_size < 4 ? in->file_size : 4) != 0)
		return ukit_fmt_errf(e, 0, "not an ELF file (bad magic "
				"%02x %02x %02x %02x)", h[0],
				in->file_size > 1 ? h[1] : 0,
				in->file_size > 2 ? h[2] : 0,
				in->file_size > 3 ? h[3] : 0);
	if (in->file_size < 16)
		return ukit_fmt_errf(e, 0, "file too short for an ELF header "
				"(%" PRIu64 " < 16 bytes)", in->file_size);
	if (ukit_elfimg_pread(img, h, 16, 0, e) < 0)
		return -1;
	if (memcmp(h, "\177ELF", 4) != 0)
		return ukit_fmt_errf(e, 0, "not an ELF file (bad magic "
				"%02x %02x %02x %02x)", h[0], h[1], h[2], h[3]);
	if (h[4] != ELFCLASS32 && h[4] != ELFCLASS64)
		return ukit_fmt_errf(e, 4, "unknown ELF class %u (expected 1 or 2)",
				h[4]);
	if (h[5] != ELFDATA2LSB && h[5] != ELFDATA2MSB)
		return ukit_fmt_errf(e, 5, "unknown ELF data encoding %u (expected "
				"1 or 2)", h[5]);
	/* libelf refuses other versions; say why instead of its "invalid".
	 * A tender does not look at this byte (only at e_version). */
	if (h[6] != EV_CURRENT && !img->tender)
		return ukit_fmt_errf(e, 6, "unknown ELF identification version %u "
				"(expected 1)", h[6]);
	is64 = h[4] == ELFCLASS64;
	big = h[5] == ELFDATA2MSB;
	in->elfclass = h[4];
	in->data = h[5];
	in->big = big;
	in->osabi = h[7];
	if (in->file_size < (is64 ? EHDR64_SIZE : EHDR32_SIZE))
		return ukit_fmt_errf(e, 0, "file too short for an ELF%d header "
				"(%" PRIu64 " < %d bytes)", is64 ? 64 : 32,
				in->file_size, is64 ? EHDR64_SIZE : EHDR32_SIZE);
	if (ukit_elfimg_pread(img, h, is64 ? EHDR64_SIZE : EHDR32_SIZE, 0, e) < 0)
		return -1;
	in->type = ld16(h + 16, big);
	in->machine = ld16(h + 18, big);
	in->version = ld32(h + 20, big);
	if (is64) {
		in->entry = ld64(h + 24, big);
		in->phoff = ld64(h + 32, big);
		in->shoff = ld64(h + 40, big);
		in->flags = ld32(h + 48, big);
		in->ehsize = ld16(h + 52, big);
		in->phentsize = ld16(h + 54, big);
		phnum = ld16(h + 56, big);
		in->shentsize = ld16(h + 58, big);
		shnum = ld16(h + 60, big);
		shstrndx = ld16(h + 62, big);
	} else {
		in->entry = ld32(h + 24, big);
		in->phoff = ld32(h + 28, big);
		in->shoff = ld32(h + 32, big);
		in->flags = ld32(h + 36, big);
		in->ehsize = ld16(h + 40, big);
		in->phentsize = ld16(h + 42, big);
		phnum = ld16(h + 44, big);
		in->shentsize = ld16(h + 46, big);
		shnum = ld16(h + 48, big);
		shstrndx = ld16(h + 50, big);
	}
	in->phnum = phnum;
	in->shnum = shnum;
	in->shstrndx = shstrndx;

	/* Section header table, and extended numbering through shdr[0].  A
	 * tender never reads it: there, a bad one is noted, not fatal, and
	 * e_phnum is taken as it is. */
	if (shdr_table_check(img, is64, big, phnum, shnum, shstrndx, e) < 0) {
		if (!img->tender)
			return -1;
		img->sherr = *e;
		img->has_sherr = true;
		in->shnum = 0;
		in->shstrndx = 0;
	}

	if (in->phnum > 0) {
		if (in->phentsize != (is64 ? PHDR64_SIZE : PHDR32_SIZE))
			return ukit_fmt_errf(e, is64 ? 54 : 42, "e_phentsize %u, "
					"expected %d", in->phentsize,
					is64 ? PHDR64_SIZE : PHDR32_SIZE);
		if (in->phnum > ELFIMG_MAX_PHDRS)
			return ukit_fmt_errf(e, is64 ? 56 : 44, "%zu program "
					"headers, more than the limit %d",
					in->phnum, ELFIMG_MAX_PHDRS);
		if (ck_mul(in->phnum, in->phentsize, &tbl) ||
		    ck_add(in->phoff, tbl, &end) || end > in->file_size)
			return ukit_fmt_errf(e, is64 ? 32 : 28, "program header "
					"table extends past end of file "
					"(0x%" PRIx64 " + %zu * %u > 0x%" PRIx64 ")",
					in->phoff, in->phnum, in->phentsize,
					in->file_size);
	}
	return 0;
}

static int load_phdrs(struct elfimg *img, struct fmt_err *e)
{
	struct ukit_elfimg_info *in = &img->info;
	size_t n;

	if (elf_getphdrnum(img->elf, &n) != 0)
		return ukit_fmt_errf(e, in->phoff, "program headers: %s",
				elf_errmsg(-1));
	if (n != in->phnum)
		return ukit_fmt_errf(e, in->phoff, "libelf counts %zu program "
				"headers, the header says %zu", n, in->phnum);
	if (n == 0)
		return 0;
	img->ph = calloc(n, sizeof *img->ph);
	if (img->ph == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "calloc");
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr g;
		struct ukit_elfimg_phdr *p = &img->ph[i];
		uint64_t where = in->phoff + i * in->phentsize, end;

		if (gelf_getphdr(img->elf, (int)i, &g) == NULL)
			return ukit_fmt_errf(e, where, "phdr[%zu]: %s", i,
					elf_errmsg(-1));
		p->type = g.p_type;
		p->flags = g.p_flags;
		p->offset = g.p_offset;
		p->vaddr = g.p_vaddr;
		p->paddr = g.p_paddr;
		p->filesz = g.p_filesz;
		p->memsz = g.p_memsz;
		p->align = g.p_align;
		if (p->filesz == 0)
			continue;
		if (ck_add(p->offset, p->filesz, &end) || end > in->file_size)
			return ukit_fmt_errf(e, where, "phdr[%zu]: segment extends "
					"past end of file (0x%" PRIx64 " + 0x%"
					PRIx64 " > 0x%" PRIx64 ")", i, p->offset,
					p->filesz, in->file_size);
	}
	return 0;
}

/*
 * Tender mode: decode the program headers from bytes, as a tender does
 * (Elf64 only: ukit_elfimg_solo5_check() refuses the rest, but notes read any
 * class).  A segment's file range is checked where it is read, not here:
 * a tender reads only the segments it loads.
 */
static int load_phdrs_raw(struct elfimg *img, struct fmt_err *e)
{
	struct ukit_elfimg_info *in = &img->info;
	const bool big = in->big, is64 = in->elfclass == ELFCLASS64;
	uint8_t *t;
	size_t len;

	if (in->phnum == 0)
		return 0;
	len = in->phnum * (size_t)in->phentsize;   /* bounded: ehdr_check */
	img->ph = calloc(in->phnum, sizeof *img->ph);
	t = malloc(len);
	if (img->ph == NULL || t == NULL) {
		free(t);
		return ukit_fmt_errno(e, FMT_NOOFF, "calloc");
	}
	if (ukit_elfimg_pread(img, t, len, in->phoff, e) < 0) {
		free(t);
		return -1;
	}
	for (size_t i = 0; i < in->phnum; i++) {
		const uint8_t *q = t + i * in->phentsize;
		struct ukit_elfimg_phdr *p = &img->ph[i];

		p->type = ld32(q, big);
		if (is64) {
			p->flags = ld32(q + 4, big);
			p->offset = ld64(q + 8, big);
			p->vaddr = ld64(q + 16, big);
			p->paddr = ld64(q + 24, big);
			p->filesz = ld64(q + 32, big);
			p->memsz = ld64(q + 40, big);
			p->align = ld64(q + 48, big);
		} else {
			p->offset = ld32(q + 4, big);
			p->vaddr = ld32(q + 8, big);
			p->paddr = ld32(q + 12, big);
			p->filesz = ld32(q + 16, big);
			p->memsz = ld32(q + 20, big);
			p->flags = ld32(q + 24, big);
			p->align = ld32(q + 28, big);
		}
	}
	free(t);
	return 0;
}

/* Tender mode: the section table is unusable; say why, keep going. */
static void section_error(struct elfimg *img, const struct fmt_err *e)
{
	if (!img->has_sherr) {
		img->sherr = *e;
		img->has_sherr = true;
	}
	img->info.shnum = 0;
	img->info.shstrndx = 0;
}

static int open_tender(struct elfimg *img, struct elfimg **out,
		       struct fmt_err *e)
{
	struct fmt_err se = { .path = img->path, .off = FMT_NOOFF };

	if (ehdr_check(img, e) < 0 || load_phdrs_raw(img, e) < 0)
		goto fail;
	if (img->info.shnum > 0) {
		uint8_t v = 0;

		if (ukit_elfimg_pread(img, &v, 1, 6, &se) < 0)
			;
		else if (v != EV_CURRENT)   /* libelf reads nothing then */
			ukit_fmt_errf(&se, 6, "e_ident[EI_VERSION] %u, expected 1: "
				 "the section headers are not read", v);
		else if (elf_version(EV_CURRENT) == EV_NONE)
			ukit_fmt_errf(&se, FMT_NOOFF, "libelf: %s", elf_errmsg(-1));
		else if ((img->elf = elf_begin(img->fd, ELF_C_READ,
					       NULL)) == NULL)
			ukit_fmt_errf(&se, 0, "section headers: libelf: %s",
				 elf_errmsg(-1));
		else if (elf_kind(img->elf) != ELF_K_ELF)
			ukit_fmt_errf(&se, 0, "section headers: libelf does not "
				 "read this as an ELF file");
		if (se.msg[0] != '\0')
			section_error(img, &se);
	}
	*out = img;
	return 0;
fail:
	ukit_elfimg_close(img);
	return -1;
}

/*
 * A handle on the regular file on (fd) named (path), nothing read yet:
 * what ukit_elfimg_open() and ukit_elfimg_open_tender() start from.
 * 0 and (*out), or -1 with (e).
 */
static int file_handle(int fd, const char *path, struct elfimg **out,
		       struct fmt_err *e)
{
	struct elfimg *img;
	struct stat st;

	if (e != NULL)
		e->path = path;
	if (fstat(fd, &st) != 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	if (!S_ISREG(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "not a regular file");
	img = calloc(1, sizeof *img);
	if (img == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "calloc");
	img->fd = fd;
	img->path = path;
	img->info.file_size = (uint64_t)st.st_size;
	*out = img;
	return 0;
}

int ukit_elfimg_open_tender(int fd, const char *path, struct elfimg **out,
			    struct fmt_err *e)
{
	struct elfimg *img;

	if (file_handle(fd, path, &img, e) < 0)
		return -1;
	img->tender = true;
	return open_tender(img, out, e);
}

const struct fmt_err *ukit_elfimg_section_error(const struct elfimg *img)
{
	return img->has_sherr ? &img->sherr : NULL;
}

static int open_common(struct elfimg *img, struct elfimg **out,
		       struct fmt_err *e)
{
	if (ehdr_check(img, e) < 0)
		goto fail;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		ukit_fmt_errf(e, FMT_NOOFF, "libelf: %s", elf_errmsg(-1));
		goto fail;
	}
	if (img->mem != NULL)
		img->elf = elf_memory((char *)img->mem, img->info.file_size);
	else
		img->elf = elf_begin(img->fd, ELF_C_READ, NULL);
	if (img->elf == NULL) {
		ukit_fmt_errf(e, 0, "libelf: %s", elf_errmsg(-1));
		goto fail;
	}
	if (elf_kind(img->elf) != ELF_K_ELF) {
		ukit_fmt_errf(e, 0, "libelf does not read this as an ELF file");
		goto fail;
	}
	if (load_phdrs(img, e) < 0)
		goto fail;
	*out = img;
	return 0;
fail:
	ukit_elfimg_close(img);
	return -1;
}

int ukit_elfimg_open(int fd, const char *path, struct elfimg **out,
		struct fmt_err *e)
{
	struct elfimg *img;

	if (file_handle(fd, path, &img, e) < 0)
		return -1;
	return open_common(img, out, e);
}

int ukit_elfimg_open_mem(const void *buf, size_t len, const char *path,
		    struct elfimg **out, struct fmt_err *e)
{
	struct elfimg *img;

	if (e != NULL)
		e->path = path;
	img = calloc(1, sizeof *img);
	if (img == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "calloc");
	img->fd = -1;
	img->path = path;
	/* libelf wants a writable image; keep our own (one spare byte so a
	 * zero-length buffer still has an address). */
	img->mem = malloc(len + 1);
	if (img->mem == NULL) {
		free(img);
		return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
	}
	if (len > 0)
		memcpy(img->mem, buf, len);
	img->info.file_size = len;
	return open_common(img, out, e);
}

void ukit_elfimg_close(struct elfimg *img)
{
	if (img == NULL)
		return;
	if (img->elf != NULL)
		elf_end(img->elf);
	free(img->ph);
	free(img->sh);
	free(img->shstr);
	free(img->mem);
	free(img);
}

const struct ukit_elfimg_info *ukit_elfimg_info(const struct elfimg *img)
{
	return &img->info;
}

int ukit_elfimg_phdr(const struct elfimg *img, size_t i, struct ukit_elfimg_phdr *ph,
		struct fmt_err *e)
{
	if (i >= img->info.phnum)
		return ukit_fmt_errf(e, FMT_NOOFF, "phdr[%zu] out of range (%zu "
				"program headers)", i, img->info.phnum);
	*ph = img->ph[i];
	return 0;
}

static int load_shdrs_strict(struct elfimg *img, struct fmt_err *e);

/* Load the section headers and (bounded) their name table, once.  In
 * tender mode a failure leaves no sections and is noted instead. */
static int load_shdrs(struct elfimg *img, struct fmt_err *e)
{
	struct fmt_err se = { .path = img->path, .off = FMT_NOOFF };

	if (!img->tender)
		return load_shdrs_strict(img, e);
	if (img->info.shnum > 0 && img->elf == NULL) {
		ukit_fmt_errf(&se, FMT_NOOFF, "section headers: not read");
		section_error(img, &se);
	}
	if (load_shdrs_strict(img, &se) < 0) {
		free(img->sh);
		img->sh = NULL;
		section_error(img, &se);
	}
	return 0;
}

static int load_shdrs_strict(struct elfimg *img, struct fmt_err *e)
{
	struct ukit_elfimg_info *in = &img->info;
	size_t n;

	if (img->sh != NULL || in->shnum == 0)
		return 0;
	if (elf_getshdrnum(img->elf, &n) != 0)
		return ukit_fmt_errf(e, in->shoff, "section headers: %s",
				elf_errmsg(-1));
	if (n != in->shnum)
		return ukit_fmt_errf(e, in->shoff, "libelf counts %zu sections, "
				"the header says %zu", n, in->shnum);
	img->sh = calloc(n, sizeof *img->sh);
	if (img->sh == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "calloc");
	for (size_t i = 0; i < n; i++) {
		Elf_Scn *scn = elf_getscn(img->elf, i);
		GElf_Shdr g;
		struct ukit_elfimg_shdr *s = &img->sh[i];

		if (scn == NULL || gelf_getshdr(scn, &g) == NULL) {
			free(img->sh);
			img->sh = NULL;
			return ukit_fmt_errf(e, in->shoff + i * in->shentsize,
					"section[%zu]: %s", i, elf_errmsg(-1));
		}
		s->name = "";
		s->type = g.sh_type;
		s->flags = g.sh_flags;
		s->addr = g.sh_addr;
		s->offset = g.sh_offset;
		s->size = g.sh_size;
		s->align = g.sh_addralign;
		s->link = g.sh_link;
		s->info = g.sh_info;
		s->entsize = g.sh_entsize;
	}
	/* Names: read .shstrtab ourselves, bounded, instead of elf_strptr()
	 * (which would read the whole section, whatever its size). */
	if (in->shstrndx != 0 && in->shstrndx < n) {
		struct ukit_elfimg_shdr *st = &img->sh[in->shstrndx];
		uint64_t len = st->size;

		if (st->type == SHT_STRTAB && len > 0 &&
		    in_bounds(st->offset, len, in->file_size)) {
			if (len > ELFIMG_STRTAB_MAX)
				len = ELFIMG_STRTAB_MAX;
			img->shstr = malloc(len + 1);
			if (img->shstr == NULL)
				return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
			if (ukit_elfimg_pread(img, img->shstr, len, st->offset,
					 e) < 0)
				return -1;
			img->shstr[len] = '\0';
			img->shstrlen = len;
		}
	}
	if (img->shstr != NULL) {
		for (size_t i = 0; i < n; i++) {
			GElf_Shdr g;
			Elf_Scn *scn = elf_getscn(img->elf, i);

			if (gelf_getshdr(scn, &g) != NULL &&
			    g.sh_name < img->shstrlen)
				img->sh[i].name = img->shstr + g.sh_name;
		}
	}
	return 0;
}

int ukit_elfimg_shdr(struct elfimg *img, size_t i, struct ukit_elfimg_shdr *sh,
		struct fmt_err *e)
{
	if (i >= img->info.shnum)
		return ukit_fmt_errf(e, FMT_NOOFF, "section[%zu] out of range (%zu "
				"sections)", i, img->info.shnum);
	if (load_shdrs(img, e) < 0)
		return -1;
	if (i >= img->info.shnum || img->sh == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "section[%zu]: the section header "
				"table cannot be read", i);
	*sh = img->sh[i];
	return 0;
}

const char *ukit_elfimg_machine_name(uint16_t machine)
{
	switch (machine) {
	case EM_386: return "i386";
	case EM_MIPS: return "mips";
	case EM_PPC: return "ppc";
	case EM_PPC64: return "ppc64";
	case EM_S390: return "s390";
	case EM_ARM: return "arm";
	case EM_X86_64: return "x86_64";
	case EM_AARCH64: return "aarch64";
	case EM_RISCV: return "riscv";
	default: return NULL;
	}
}

/* ---- notes ---------------------------------------------------------- */

void ukit_elfimg_notes_begin(struct elfimg *img, unsigned which,
			struct elfimg_notes *it)
{
	memset(it, 0, sizeof *it);
	it->img = img;
	it->which = which;
	it->phase = (which & ELFIMG_SEGMENT) ? 0 : 1;
}

void ukit_elfimg_notes_end(struct elfimg_notes *it)
{
	free(it->buf);
	free(it->name);
	it->buf = NULL;
	it->name = NULL;
	it->phase = 2;
}

/* Note alignment from p_align/sh_addralign, as readelf decides it. */
static int note_align(uint64_t a, unsigned *out)
{
	if (a <= 4) {
		*out = 4;
		return 0;
	}
	if (a == 8) {
		*out = 8;
		return 0;
	}
	return -1;
}

/*
 * Move to the next non-empty container and read it.  1 ready, 0 none
 * left, -1 error (the container is skipped).
 */
static int next_container(struct elfimg_notes *it, struct fmt_err *e)
{
	struct elfimg *img = it->img;
	const struct ukit_elfimg_info *in = &img->info;
	uint64_t off, size, align, hdr;
	const char *what;
	size_t i;

	free(it->buf);
	it->buf = NULL;
	for (;;) {
		if (it->phase == 0) {
			if (it->idx >= in->phnum) {
				it->phase = (it->which & ELFIMG_SECTION) ? 1 : 2;
				it->idx = 0;
				continue;
			}
			i = it->idx++;
			if (img->ph[i].type != PT_NOTE || img->ph[i].filesz == 0)
				continue;
			off = img->ph[i].offset;
			size = img->ph[i].filesz;
			align = img->ph[i].align;
			hdr = in->phoff + i * in->phentsize;
			what = "phdr";
			it->section = "";
		} else if (it->phase == 1) {
			if (it->idx == 0 && load_shdrs(img, e) < 0) {
				it->phase = 2;
				return -1;
			}
			if (it->idx >= in->shnum) {
				it->phase = 2;
				continue;
			}
			i = it->idx++;
			if (img->sh[i].type != SHT_NOTE || img->sh[i].size == 0)
				continue;
			off = img->sh[i].offset;
			size = img->sh[i].size;
			align = img->sh[i].align;
			hdr = in->shoff + i * in->shentsize;
			what = "section";
			it->section = img->sh[i].name;
			if (!in_bounds(off, size, in->file_size))
				return ukit_fmt_errf(e, hdr, "section[%zu]: SHT_NOTE "
						"extends past end of file (0x%"
						PRIx64 " + 0x%" PRIx64 " > 0x%"
						PRIx64 ")", i, off, size,
						in->file_size);
		} else {
			return 0;
		}
		if (note_align(align, &it->align) < 0)
			return ukit_fmt_errf(e, hdr, "%s[%zu]: note alignment %"
					PRIu64 ", expected 4 or 8", what, i,
					align);
		if (size > ELFIMG_NOTES_MAX)
			return ukit_fmt_errf(e, hdr, "%s[%zu]: 0x%" PRIx64 " bytes "
					"of notes, more than the limit 0x%x",
					what, i, size, ELFIMG_NOTES_MAX);
		it->buf = malloc(size);
		if (it->buf == NULL)
			return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
		if (ukit_elfimg_pread(img, it->buf, size, off, e) < 0) {
			free(it->buf);
			it->buf = NULL;
			return -1;
		}
		it->len = size;
		it->pos = 0;
		it->base = off;
		it->cur = i;
		return 1;
	}
}

int ukit_elfimg_notes_next(struct elfimg_notes *it, struct elfimg_note *n,
		      struct fmt_err *e)
{
	const bool big = it->img->info.big;
	const char *what;
	uint64_t left, dpos, next, at;
	uint32_t namesz, descsz;
	const uint8_t *p;
	size_t keep;
	int r;

	if (it->phase == 2 && it->buf == NULL)
		return 0;
	if (e != NULL)
		e->path = it->img->path;
	if (it->name == NULL) {
		it->name = malloc(ELFIMG_NAME_MAX + 1);
		if (it->name == NULL)
			return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
	}
	if (it->buf == NULL || it->pos >= it->len) {
		r = next_container(it, e);
		if (r == 0) {
			ukit_elfimg_notes_end(it);
			return 0;
		}
		if (r < 0)
			return -1;
	}
	what = it->phase == 0 ? "phdr" : "section";
	left = it->len - it->pos;
	at = it->base + it->pos;
	p = it->buf + it->pos;
	if (left < NOTE_HDR_SIZE) {
		it->pos = it->len;
		return ukit_fmt_errf(e, at, "%s[%zu]: %" PRIu64 " bytes left after "
				"the last note, too few for a note header (12)",
				what, it->cur, left);
	}
	namesz = ld32(p, big);
	descsz = ld32(p + 4, big);
	/* dpos = 12 + namesz rounded up to the alignment; cannot overflow
	 * in 64 bits, but check it against what is left. */
	if (ck_align(NOTE_HDR_SIZE + (uint64_t)namesz, it->align, &dpos) ||
	    dpos > left) {
		it->pos = it->len;
		return ukit_fmt_errf(e, at, "%s[%zu]: note name extends past end of "
				"its container (namesz 0x%x: 0x%" PRIx64 " > 0x%"
				PRIx64 ")", what, it->cur, namesz,
				(uint64_t)NOTE_HDR_SIZE + namesz, left);
	}
	if (descsz > left - dpos) {
		it->pos = it->len;
		return ukit_fmt_errf(e, at, "%s[%zu]: note descriptor extends past "
				"end of its container (descsz 0x%x: 0x%" PRIx64
				" > 0x%" PRIx64 ")", what, it->cur, descsz,
				dpos + descsz, left);
	}
	/* The last note may lack its trailing padding (readelf agrees). */
	if (ck_align(dpos + descsz, it->align, &next) || next > left)
		next = left;

	memset(n, 0, sizeof *n);
	n->where = it->phase == 0 ? ELFIMG_SEGMENT : ELFIMG_SECTION;
	n->index = it->cur;
	n->section = it->section;
	n->align = it->align;
	n->first = it->pos == 0;
	n->offset = at;
	n->namesz = namesz;
	keep = namesz < ELFIMG_NAME_MAX ? namesz : ELFIMG_NAME_MAX;
	memcpy(it->name, p + NOTE_HDR_SIZE, keep);
	it->name[keep] = '\0';
	/* The name's length without its terminating NUL(s). */
	while (keep > 0 && it->name[keep - 1] == '\0')
		keep--;
	n->name = it->name;
	n->namelen = keep;
	n->type = ld32(p + 8, big);
	n->descsz = descsz;
	n->desc = p + dpos;
	n->desc_offset = at + dpos;
	it->pos += next;
	return 1;
}

/* ---- Solo5 ---------------------------------------------------------- */

const char *ukit_elfimg_abi_target_name(uint32_t target)
{
	return ukit_solo5_target_name(target);
}

int ukit_elfimg_solo5_check(const struct elfimg *img, struct fmt_err *e)
{
	const struct ukit_elfimg_info *in = &img->info;

	if (e != NULL)
		e->path = img->path;
	if (in->elfclass != ELFCLASS64)
		return ukit_fmt_errf(e, 4, "ELF32 file: Solo5 executables are ELF64 "
				"(EI_CLASS %u, expected 2)", in->elfclass);
	if (in->type != ET_EXEC)
		return ukit_fmt_errf(e, 16, "e_type %u is not ET_EXEC (2): Solo5 "
				"loads only executables", in->type);
	if (in->version != EV_CURRENT)
		return ukit_fmt_errf(e, 20, "e_version %u, expected 1", in->version);
	if (in->ehsize != EHDR64_SIZE)
		return ukit_fmt_errf(e, 52, "e_ehsize %u, expected 64", in->ehsize);
	if (in->phnum < 1)
		return ukit_fmt_errf(e, 56, "no program headers");
	if (img->tender)
		return ukit_elfimg_solo5_machine(in, e);
	return 0;
}

int ukit_elfimg_solo5_machine(const struct ukit_elfimg_info *in,
			      struct fmt_err *e)
{
	const char *name = ukit_elfimg_machine_name(in->machine);
	bool ok = in->machine == EM_X86_64 || in->machine == EM_AARCH64 ||
		  in->machine == EM_PPC64;

	if (in->machine == EM_PPC64 && !in->big)
		name = "ppc64le";
	if (!ok)
		return ukit_fmt_errf(e, 18, "e_machine %u (%s): Solo5 builds for "
				"x86_64, aarch64 and ppc64le only", in->machine,
				name != NULL ? name : "unknown");
	/* Solo5 runs on little-endian hosts only and wants the host's order */
	if (in->big)
		return ukit_fmt_errf(e, 5, "big-endian %s (EI_DATA 2): Solo5 builds "
				"for x86_64, aarch64 and ppc64le only, all "
				"little-endian", name);
	return 0;
}

int ukit_elfimg_solo5_note(struct elfimg *img, uint32_t type,
		      struct ukit_solo5_note *out, struct fmt_err *e)
{
	const struct ukit_elfimg_info *in = &img->info;
	const bool big = in->big;

	if (ukit_elfimg_solo5_check(img, e) < 0)
		return -1;
	for (size_t i = 0; i < in->phnum; i++) {
		const struct ukit_elfimg_phdr *ph = &img->ph[i];
		uint8_t h[SOLO5_NOTE_HEAD];
		uint32_t descsz;
		int k;

		if (ph->type != PT_NOTE)
			continue;
		/* Below a note header (12 bytes), even empty, a tender
		 * refuses the executable; opened as a tender does, so does
		 * ukit.  Otherwise such a PT_NOTE is skipped, as are those too
		 * small for a Solo5 note header (20 bytes). */
		if (ph->filesz < NOTE_HDR_SIZE && img->tender)
			return ukit_fmt_errf(e, in->phoff + i * in->phentsize + 32,
					"phdr[%zu]: PT_NOTE of %" PRIu64 " bytes, "
					"too small for a note header (12): a "
					"Solo5 tender refuses the executable", i,
					ph->filesz);
		if (ph->filesz < sizeof h)
			continue;
		if (ukit_elfimg_pread(img, h, sizeof h, ph->offset, e) < 0) {
			char msg[FMT_ERR_MSG];

			snprintf(msg, sizeof msg, "%s", e->msg);
			return ukit_fmt_errf(e, e->off, "phdr[%zu]: note header: %s",
					i, msg);
		}
		k = ukit_solo5_note_head(h, big, type, i, ph->offset,
					 ph->filesz, &descsz, e);
		if (k <= 0) {
			if (k < 0)
				return -1;
			continue;
		}
		if (ukit_elfimg_pread(img, out->desc, descsz, ph->offset + sizeof h,
				 e) < 0)
			return -1;
		out->phdr = i;
		out->offset = ph->offset;
		out->descsz = descsz;
		return 1;
	}
	return 0;
}

int ukit_elfimg_solo5(struct elfimg *img, struct manifest *mft, bool *have_mft,
		 struct solo5_abi *abi, bool *have_abi, struct fmt_err *e)
{
	struct ukit_solo5_note *n;
	struct manifest m;
	struct solo5_abi a = { 0, 0 };
	bool hm = false, ha = false;
	int r = -1;

	if (ukit_elfimg_solo5_check(img, e) < 0)
		return -1;
	n = malloc(sizeof *n);
	if (n == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
	if (mft != NULL) {
		int f = ukit_elfimg_solo5_note(img, MFT1_NOTE_TYPE, n, e);

		if (f < 0)
			goto out;
		if (f == 1) {
			uint64_t at = n->offset + NOTE_HDR_SIZE + 8;

			if (ukit_manifest_desc_decode(n->desc, n->descsz,
						 img->info.big, &m, e) < 0) {
				char msg[FMT_ERR_MSG];

				snprintf(msg, sizeof msg, "%s", e->msg);
				e->path = img->path;
				ukit_fmt_errf(e, e->off == FMT_NOOFF ? at
					 : at + e->off, "phdr[%zu]: Solo5 "
					 "manifest: %s", n->phdr, msg);
				goto out;
			}
			hm = true;
		}
	}
	if (abi != NULL) {
		int f = ukit_elfimg_solo5_note(img, ABI1_NOTE_TYPE, n, e);

		if (f < 0)
			goto out;
		if (f == 1) {
			if (n->descsz < SOLO5_ABI1_DESC_MIN) {
				ukit_fmt_errf(e, n->offset + 4, "phdr[%zu]: Solo5 "
					 "ABI1 descriptor too short (%u < %d "
					 "bytes: target and version)", n->phdr,
					 n->descsz, SOLO5_ABI1_DESC_MIN);
				goto out;
			}
			a.target = ld32(n->desc, img->info.big);
			a.version = ld32(n->desc + 4, img->info.big);
			ha = true;
		}
	}
	if (mft != NULL && hm)
		*mft = m;
	if (have_mft != NULL)
		*have_mft = hm;
	if (abi != NULL && ha)
		*abi = a;
	if (have_abi != NULL)
		*have_abi = ha;
	r = 0;
out:
	free(n);
	return r;
}
