/*
 * elfhdr.c: ELF and program headers by pread (see elfhdr.h).  Every field
 * that sizes or places something is checked against the file first.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "elfhdr.h"
#include "io.h"

int ukit_elfhdr_pread(const struct elfhdr *h, void *buf, size_t len, uint64_t off,
		 struct fmt_err *e)
{
	uint64_t end;
	ssize_t n;

	if (ck_add(off, len, &end) || end > h->file_size)
		return ukit_fmt_errf(e, off, "read of 0x%zx bytes extends past end "
				"of file (0x%" PRIx64 " > 0x%" PRIx64 ")", len,
				off + len, h->file_size);
	n = ukit_pread_full(h->fd, buf, len, (off_t)off);
	if (n < 0)
		return ukit_fmt_errno(e, off, "read");
	if ((size_t)n != len)
		return ukit_fmt_errf(e, off, "file shrank while reading (0x%zx of "
				"0x%zx bytes)", (size_t)n, len);
	return 0;
}

static int read_phdrs(struct elfhdr *h, const uint8_t *eh, bool is64,
		      struct fmt_err *e)
{
	uint64_t phoff = is64 ? ld64(eh + 32, h->big) : ld32(eh + 28, h->big);
	unsigned entsz = ld16(eh + (is64 ? 54 : 42), h->big);
	unsigned want = is64 ? 56 : 32;
	uint64_t tbl, end;

	h->phnum = ld16(eh + (is64 ? 56 : 44), h->big);
	if (h->phnum == 0)
		return 0;
	if (entsz != want)
		return ukit_fmt_errf(e, is64 ? 54 : 42, "e_phentsize %u, expected "
				"%u", entsz, want);
	/* PN_XNUM needs section header 0, which loaders never read */
	if (h->phnum == 0xffff)
		return ukit_fmt_errf(e, is64 ? 56 : 44, "e_phnum PN_XNUM (0xffff): "
				"more program headers than a loader reads");
	if (ck_mul(h->phnum, entsz, &tbl) || ck_add(phoff, tbl, &end) ||
	    end > h->file_size)
		return ukit_fmt_errf(e, is64 ? 32 : 28, "program header table "
				"extends past end of file (0x%" PRIx64 " + %zu "
				"* %u > 0x%" PRIx64 ")", phoff, h->phnum, entsz,
				h->file_size);
	h->ph = calloc(h->phnum, sizeof *h->ph);
	if (h->ph == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	for (size_t i = 0; i < h->phnum; i++) {
		uint8_t p[56];
		uint64_t at = phoff + i * entsz;
		struct elfhdr_phdr *ph = &h->ph[i];

		if (ukit_elfhdr_pread(h, p, entsz, at, e) < 0)
			return -1;
		ph->type = ld32(p, h->big);
		ph->offset = is64 ? ld64(p + 8, h->big) : ld32(p + 4, h->big);
		ph->filesz = is64 ? ld64(p + 32, h->big) : ld32(p + 16, h->big);
		if (ph->filesz != 0 && (ck_add(ph->offset, ph->filesz, &end) ||
					end > h->file_size))
			return ukit_fmt_errf(e, at, "phdr[%zu]: segment extends past "
					"end of file (0x%" PRIx64 " + 0x%" PRIx64
					" > 0x%" PRIx64 ")", i, ph->offset,
					ph->filesz, h->file_size);
	}
	return 0;
}

int ukit_elfhdr_read(int fd, const char *path, struct elfhdr *out,
		struct fmt_err *e)
{
	struct elfhdr h = { .fd = fd, .path = path };
	uint8_t eh[64];
	struct stat st;
	bool is64;

	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	h.file_size = (uint64_t)st.st_size;
	if (h.file_size < 16)
		return 0;
	if (ukit_elfhdr_pread(&h, eh, 16, 0, e) < 0)
		return -1;
	if (memcmp(eh, "\177ELF", 4) != 0)
		return 0;
	if (eh[4] != 1 && eh[4] != 2)
		return ukit_fmt_errf(e, 4, "unknown ELF class %u (expected 1 or 2)",
				eh[4]);
	if (eh[5] != 1 && eh[5] != 2)
		return ukit_fmt_errf(e, 5, "unknown ELF data encoding %u (expected "
				"1 or 2)", eh[5]);
	is64 = eh[4] == 2;
	h.elfclass = eh[4];
	h.big = eh[5] == 2;
	if (h.file_size < (is64 ? 64u : 52u))
		return ukit_fmt_errf(e, 0, "file too short for an ELF%d header "
				"(%" PRIu64 " < %d bytes)", is64 ? 64 : 32,
				h.file_size, is64 ? 64 : 52);
	if (ukit_elfhdr_pread(&h, eh, is64 ? 64 : 52, 0, e) < 0)
		return -1;
	h.type = ld16(eh + 16, h.big);
	h.machine = ld16(eh + 18, h.big);
	h.version = ld32(eh + 20, h.big);
	h.ehsize = ld16(eh + (is64 ? 52 : 40), h.big);
	if (read_phdrs(&h, eh, is64, e) < 0) {
		free(h.ph);
		return -1;
	}
	*out = h;
	return 1;
}

void ukit_elfhdr_free(struct elfhdr *h)
{
	free(h->ph);
	h->ph = NULL;
}
