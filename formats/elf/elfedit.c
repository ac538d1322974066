/*
 * elfedit.c: open a linked ELF64 for note edits (see elfedit.h,
 * elfedit_int.h): the ELF header, program headers and section headers,
 * decoded and checked.
 *
 * Trusts nothing: the ELF header, program headers, section headers and
 * notes are decoded from bytes at their offsets in the file's byte order;
 * every offset and size is checked against the file size with overflow-
 * checked arithmetic before it is used.  Memory is bounded by
 * ELFEDIT_MAX_PHNUM, ELFEDIT_MAX_SHNUM and ELFEDIT_MAX_NOTE, never by a size
 * field.  Only the headers, the first bytes of notes and the 56 bytes after
 * the program header table are read.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "elfedit_int.h"

int ukit_elfedit_rd(const struct elfedit *ed, void *buf, size_t len,
		    uint64_t off, struct fmt_err *e)
{
	ssize_t n;

	if (!in_bounds(off, len, ed->src.size))
		return ukit_fmt_errf(e, off, "read of 0x%zx bytes past end of file "
				"(size 0x%" PRIx64 ")", len, ed->src.size);
	if (ed->src.buf != NULL) {
		memcpy(buf, ed->src.buf + off, len);
		return 0;
	}
	n = ukit_pread_full(ed->src.fd, buf, len, (off_t)off);
	if (n < 0)
		return ukit_fmt_errno(e, off, "read failed");
	if ((size_t)n != len)
		return ukit_fmt_errf(e, off, "file shrank while being read");
	return 0;
}

bool ukit_elfedit_big_endian(const struct elfedit *ed)
{
	return ed->big;
}

void ukit_elfedit_close(struct elfedit *ed)
{
	if (ed == NULL)
		return;
	free(ed->phraw);
	free(ed->ph);
	free(ed->sh);
	free(ed);
}

static int check_ehdr(struct elfedit *ed, const uint8_t *h, uint64_t *shoff,
		      struct fmt_err *e)
{
	uint64_t size = ed->src.size, end, tab;
	uint16_t ehsize, phentsize, shentsize;
	bool big;

	if (memcmp(h, "\177ELF", 4) != 0)
		return ukit_fmt_errf(e, 0, "not an ELF file (bad magic)");
	if (h[4] != 2)
		return ukit_fmt_errf(e, 4, "ELF class %u not supported (only ELF64)",
				h[4]);
	if (h[5] != 1 && h[5] != 2)
		return ukit_fmt_errf(e, 5, "unknown ELF data encoding %u", h[5]);
	if (h[6] != 1)
		return ukit_fmt_errf(e, 6, "unknown ELF version %u", h[6]);
	big = ed->big = h[5] == 2;
	if (ld32(h + 0x14, big) != 1)
		return ukit_fmt_errf(e, 0x14, "unknown ELF version %" PRIu32,
				ld32(h + 0x14, big));
	ed->type = ld16(h + 0x10, big);
	ed->phoff = ld64(h + OFF_PHOFF, big);
	*shoff = ld64(h + OFF_SHOFF, big);
	ed->shstrndx = ld16(h + 0x3e, big);
	ehsize = ld16(h + 0x34, big);
	phentsize = ld16(h + 0x36, big);
	ed->phnum = ld16(h + OFF_PHNUM, big);
	shentsize = ld16(h + 0x3a, big);
	ed->shnum = ld16(h + OFF_SHNUM, big);
	if (ehsize != EHDR_SIZE)
		return ukit_fmt_errf(e, 0x34, "e_ehsize %u, expected %u", ehsize,
				EHDR_SIZE);
	if (ed->phnum == 0)
		return ukit_fmt_errf(e, OFF_PHNUM, "no program headers");
	if (ed->phnum == PN_XNUM_)
		return ukit_fmt_errf(e, OFF_PHNUM, "extended program header "
				"numbering (PN_XNUM) not supported");
	if (ed->phnum > ELFEDIT_MAX_PHNUM)
		return ukit_fmt_errf(e, OFF_PHNUM, "too many program headers "
				"(%u > %u)", ed->phnum, ELFEDIT_MAX_PHNUM);
	if (phentsize != PHDR_SIZE)
		return ukit_fmt_errf(e, 0x36, "e_phentsize %u, expected %u",
				phentsize, PHDR_SIZE);
	if (ed->phoff < EHDR_SIZE)
		return ukit_fmt_errf(e, OFF_PHOFF, "program header table overlaps "
				"the ELF header (e_phoff 0x%" PRIx64 " < 0x%x)",
				ed->phoff, EHDR_SIZE);
	tab = (uint64_t)ed->phnum * PHDR_SIZE;
	if (ck_add(ed->phoff, tab, &end) || end > size)
		return ukit_fmt_errf(e, OFF_PHOFF, "program header table ends past "
				"end of file (0x%" PRIx64 " + 0x%" PRIx64
				" > 0x%" PRIx64 ")", ed->phoff, tab, size);
	if (*shoff == 0) {
		ed->shnum = 0;   /* no section header table */
		return 0;
	}
	if (ed->shnum == 0)
		return ukit_fmt_errf(e, 0x3c, "extended section numbering "
				"(e_shnum 0) not supported");
	if (shentsize != SHDR_SIZE)
		return ukit_fmt_errf(e, 0x3a, "e_shentsize %u, expected %u",
				shentsize, SHDR_SIZE);
	if (ed->shnum > ELFEDIT_MAX_SHNUM)
		return ukit_fmt_errf(e, 0x3c, "too many section headers (%u > %u)",
				ed->shnum, ELFEDIT_MAX_SHNUM);
	tab = (uint64_t)ed->shnum * SHDR_SIZE;
	if (ck_add(*shoff, tab, &end) || end > size)
		return ukit_fmt_errf(e, 0x28, "section header table ends past end "
				"of file (0x%" PRIx64 " + 0x%" PRIx64 " > 0x%"
				PRIx64 ")", *shoff, tab, size);
	return 0;
}

int ukit_elfedit_open(const struct elfedit_src *src, struct elfedit **out,
		 struct fmt_err *e)
{
	struct elfedit *ed;
	uint8_t h[EHDR_SIZE], *shraw = NULL;
	uint64_t shoff = 0, end;

	if (src->size < EHDR_SIZE)
		return ukit_fmt_errf(e, 0, "file too short for an ELF64 header "
				"(%" PRIu64 " < %u bytes)", src->size, EHDR_SIZE);
	if ((ed = calloc(1, sizeof *ed)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	ed->src = *src;
	if (ukit_elfedit_rd(ed, h, sizeof h, 0, e) < 0 ||
	    check_ehdr(ed, h, &shoff, e) < 0)
		goto fail;

	ed->phraw = malloc((size_t)ed->phnum * PHDR_SIZE);
	ed->ph = calloc(ed->phnum, sizeof *ed->ph);
	if (ed->phraw == NULL || ed->ph == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	if (ukit_elfedit_rd(ed, ed->phraw, (size_t)ed->phnum * PHDR_SIZE,
			    ed->phoff, e) < 0)
		goto fail;
	for (unsigned i = 0; i < ed->phnum; i++) {
		const uint8_t *b = ed->phraw + (size_t)i * PHDR_SIZE;
		struct ph *p = &ed->ph[i];
		uint64_t at = ed->phoff + (uint64_t)i * PHDR_SIZE;

		p->type = ld32(b, ed->big);
		p->offset = ld64(b + 8, ed->big);
		p->vaddr = ld64(b + 16, ed->big);
		p->filesz = ld64(b + 32, ed->big);
		/* PT_NULL entries too: ukit's reader checks every entry,
		 * and an output it refuses would be no use. */
		if (ck_add(p->offset, p->filesz, &end)) {
			ukit_fmt_errf(e, at + 8, "phdr[%u]: p_offset 0x%" PRIx64
				 " + p_filesz 0x%" PRIx64 " overflows", i,
				 p->offset, p->filesz);
			goto fail;
		}
		if (end > ed->src.size) {
			ukit_fmt_errf(e, at + 8, "phdr[%u]: segment ends past end of "
				 "file (0x%" PRIx64 " > 0x%" PRIx64 ")", i, end,
				 ed->src.size);
			goto fail;
		}
	}

	ed->shoff = shoff;
	if (ed->shnum > 0) {
		ed->sh = calloc(ed->shnum, sizeof *ed->sh);
		shraw = malloc((size_t)ed->shnum * SHDR_SIZE);
		if (ed->sh == NULL || shraw == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			goto fail;
		}
		if (ukit_elfedit_rd(ed, shraw, (size_t)ed->shnum * SHDR_SIZE,
				    shoff, e) < 0)
			goto fail;
		for (unsigned i = 0; i < ed->shnum; i++) {
			const uint8_t *b = shraw + (size_t)i * SHDR_SIZE;
			struct sh *s = &ed->sh[i];
			uint64_t at = shoff + (uint64_t)i * SHDR_SIZE;

			s->type = ld32(b + 4, ed->big);
			s->flags = ld64(b + 8, ed->big);
			s->at = at;
			s->offset = ld64(b + 0x18, ed->big);
			s->size = ld64(b + 0x20, ed->big);
			if (s->type == SHT_NULL_ || s->type == SHT_NOBITS_)
				continue;
			if (ck_add(s->offset, s->size, &end) ||
			    end > ed->src.size) {
				ukit_fmt_errf(e, at + 0x18, "section[%u]: ends past "
					 "end of file (0x%" PRIx64 " + 0x%"
					 PRIx64 " > 0x%" PRIx64 ")", i,
					 s->offset, s->size, ed->src.size);
				goto fail;
			}
		}
		free(shraw);
	}
	*out = ed;
	return 0;
fail:
	free(shraw);
	ukit_elfedit_close(ed);
	return -1;
}
