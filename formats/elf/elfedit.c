/*
 * elfedit.c: plan and apply note edits on a linked ELF64 (see elfedit.h).
 *
 * Trusts nothing: the ELF header, program headers, section headers and
 * notes are decoded from bytes at their offsets in the file's byte order;
 * every offset and size is checked against the file size with overflow-
 * checked arithmetic before it is used.  Memory is bounded by
 * ELFEDIT_MAX_PHNUM, ELFEDIT_MAX_SHNUM and ELFEDIT_MAX_NOTE, never by a size
 * field.  Only the headers, the first bytes of notes and the 56 bytes after
 * the program header table are read.
 *
 * Facts this relies on (Solo5's tenders/common/elf.c, systemd's
 * src/shared/elf-util.c):
 * - a Solo5 tender (hvt, spt) walks the PT_NOTEs in program header order,
 *   reads only the first note of each, skips the ones not owned by "Solo5"
 *   or of another type, and takes the first MFT1 one; it rejects the file if
 *   any PT_NOTE has 0 < p_filesz < 12 (12 = note header);
 * - virtio, xen, muen and genode guests read the manifest through the
 *   linked-in symbol __solo5_mft1_note, so for them only an in-place
 *   rewrite of that note has any effect;
 * - systemd (inspect-elf, coredump) walks the PT_NOTE segments, not the
 *   sections, iterates every note of each with 4-byte alignment
 *   (ELF_T_NHDR) and takes the first note of type 0xcafe1a7e whose namesz
 *   and descsz are non-zero, whatever its owner.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/fs.h>

#include "io.h"
#include "bytes.h"
#include "elfedit.h"
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
#define COPY_BUF    (1u << 20)

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

/* One decoded note header. */
struct note {
	uint64_t off;        /* of the header */
	uint32_t namesz, descsz, type;
	uint64_t size;       /* header + padded name + padded descriptor,
	                      * capped at what is left of the segment */
	char     name[12];   /* valid when namesz <= sizeof name */
};

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~(uint64_t)3;   /* v < 2^33: cannot overflow */
}

static int rd(const struct elfedit *ed, void *buf, size_t len, uint64_t off,
	      struct fmt_err *e)
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
	if (rd(ed, h, sizeof h, 0, e) < 0 || check_ehdr(ed, h, &shoff, e) < 0)
		goto fail;

	ed->phraw = malloc((size_t)ed->phnum * PHDR_SIZE);
	ed->ph = calloc(ed->phnum, sizeof *ed->ph);
	if (ed->phraw == NULL || ed->ph == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	if (rd(ed, ed->phraw, (size_t)ed->phnum * PHDR_SIZE, ed->phoff, e) < 0)
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
		if (rd(ed, shraw, (size_t)ed->shnum * SHDR_SIZE, shoff, e) < 0)
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

void ukit_elfedit_plan_free(struct elfedit_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		free(plan->p[i].data);
	plan->n = 0;
}

const char *ukit_elfedit_how_name(enum elfedit_how how)
{
	switch (how) {
	case ELFEDIT_IN_PLACE: return "in place";
	case ELFEDIT_GROW:     return "grown program header table";
	case ELFEDIT_MOVE:     return "moved program header table";
	case ELFEDIT_REPOINT:  return "PT_NOTE pointed at the new note";
	}
	return "?";
}

/* Add a patch of (len) bytes at (off), copying (data) (zeros if NULL). */
static int add_patch(struct elfedit_plan *plan, uint64_t off,
		     const void *data, size_t len, struct fmt_err *e)
{
	struct elfedit_patch *p;

	if (plan->n >= ELFEDIT_MAX_PATCHES)
		return ukit_fmt_errf(e, FMT_NOOFF, "too many patches");
	p = &plan->p[plan->n];
	if ((p->data = calloc(1, len ? len : 1)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (data != NULL)
		memcpy(p->data, data, len);
	p->off = off;
	p->len = len;
	plan->n++;
	return 0;
}

/*
 * Decode the note header at (off) with (avail) bytes left in its segment.
 * Returns 1 and (n) when a whole note fits, 0 when it does not (the
 * segment's note sequence ends there, as for gelf_getnote()), -1 on I/O
 * error.
 */
static int note_at(const struct elfedit *ed, uint64_t off, uint64_t avail,
		   struct note *n, struct fmt_err *e)
{
	uint8_t h[NOTE_HDR_SIZE];
	uint64_t need;

	if (avail < NOTE_HDR_SIZE)
		return 0;
	if (rd(ed, h, sizeof h, off, e) < 0)
		return -1;
	memset(n, 0, sizeof *n);
	n->off = off;
	n->namesz = ld32(h, ed->big);
	n->descsz = ld32(h + 4, ed->big);
	n->type = ld32(h + 8, ed->big);
	need = NOTE_HDR_SIZE + align4(n->namesz) + (uint64_t)n->descsz;
	if (need > avail)
		return 0;
	n->size = NOTE_HDR_SIZE + align4(n->namesz) + align4(n->descsz);
	if (n->size > avail)
		n->size = avail;   /* last descriptor without its padding */
	if (n->namesz <= sizeof n->name &&
	    rd(ed, n->name, n->namesz, off + NOTE_HDR_SIZE, e) < 0)
		return -1;
	return 1;
}

static bool note_owner_is(const struct note *n, const char *owner)
{
	size_t len = strlen(owner) + 1;

	return n->namesz == len && len <= sizeof n->name &&
	       memcmp(n->name, owner, len) == 0;
}

/* Store a note header + name (padded to 4) at (b); returns its length. */
static size_t note_hdr_store(uint8_t *b, const char *owner, uint32_t descsz,
			     uint32_t type, bool big)
{
	size_t namesz = strlen(owner) + 1, padded = (size_t)align4(namesz);

	st32(b, (uint32_t)namesz, big);
	st32(b + 4, descsz, big);
	st32(b + 8, type, big);
	memset(b + NOTE_HDR_SIZE, 0, padded);
	memcpy(b + NOTE_HDR_SIZE, owner, namesz);
	return NOTE_HDR_SIZE + padded;
}

/* Does [a, a+al) overlap [b, b+bl)?  Both ranges lie inside the file. */
static bool overlaps(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return al > 0 && bl > 0 && a < b + bl && b < a + al;
}

/*
 * The bytes [off, off+len) of the input are about to change: refuse if a
 * PT_NOTE other than one starting at (same) (the note being replaced, or
 * UINT64_MAX for none) covers any of them, since its notes would change
 * under it (hostile files point PT_NOTEs into headers and tables).
 */
static int notes_untouched(const struct elfedit *ed, uint64_t off,
			   uint64_t len, uint64_t same, struct fmt_err *e)
{
	for (unsigned i = 0; i < ed->phnum; i++) {
		const struct ph *p = &ed->ph[i];

		if (p->type != PT_NOTE_ || p->offset == same ||
		    !overlaps(p->offset, p->filesz, off, len))
			continue;
		return ukit_fmt_errf(e, ed->phoff + (uint64_t)i * PHDR_SIZE + 8,
				"phdr[%u]: PT_NOTE covers bytes this edit "
				"changes (0x%" PRIx64 "..0x%" PRIx64 ")", i,
				off, off + len);
	}
	return 0;
}

#define PAD_NOTE_MIN (NOTE_HDR_SIZE + 8)   /* "ukit" padded, no descriptor */

/*
 * Plan overwriting the note of (old_size) bytes at (off) with (note, len)
 * followed, when shorter, by a padding note filling the rest.
 *
 * Why a padding note rather than shrinking p_filesz: the note usually also
 * lies in an SHT_NOTE section (readelf -n, libelf and h2's reader walk
 * those) and maybe in a PT_LOAD; shrinking only the PT_NOTE would leave the
 * section's tail as stale note bytes that parse as garbage, and shrinking
 * the section too would mean editing more headers.  A well-formed filler
 * note keeps every container's size and keeps all of them parsing cleanly,
 * and the Solo5 tender reads only the first note of the PT_NOTE anyway.
 */
static int plan_overwrite(const struct elfedit *ed, uint64_t off,
			  uint64_t old_size, const uint8_t *note, size_t len,
			  struct elfedit_plan *plan, struct fmt_err *e)
{
	uint8_t *buf;
	int r;

	if (len > old_size || (len < old_size && old_size - len < PAD_NOTE_MIN))
		return ukit_fmt_errf(e, off, "internal: note does not fit");
	if (notes_untouched(ed, off, old_size, off, e) < 0)
		return -1;
	if ((buf = calloc(1, (size_t)old_size)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memcpy(buf, note, len);
	if (len < old_size) {
		size_t h = note_hdr_store(buf + len, UKIT_NOTE_NAME, 0,
					  UKIT_NOTE_PADDING, ed->big);
		st32(buf + len + 4, (uint32_t)(old_size - len - h), ed->big);
	}
	r = add_patch(plan, off, buf, (size_t)old_size, e);
	free(buf);
	if (r < 0)
		return -1;
	plan->how = ELFEDIT_IN_PLACE;
	plan->note_off = off;
	return 0;
}

/*
 * Can the program header table grow by one entry into the bytes right
 * after it?  Only if those bytes exist, are all zero, and belong to no
 * section and no segment other than PT_PHDR and the segments that already
 * contain the whole table and will contain the grown one as well.
 */
static int can_grow(const struct elfedit *ed, bool *ok, struct fmt_err *e)
{
	uint64_t tab = (uint64_t)ed->phnum * PHDR_SIZE;
	uint64_t x = ed->phoff + tab;   /* in bounds: checked at open */
	uint8_t z[PHDR_SIZE];

	*ok = false;
	if (!in_bounds(x, PHDR_SIZE, ed->src.size))
		return 0;
	for (unsigned i = 0; i < ed->shnum; i++) {
		const struct sh *s = &ed->sh[i];
		if (s->type != SHT_NULL_ && s->type != SHT_NOBITS_ &&
		    overlaps(s->offset, s->size, x, PHDR_SIZE))
			return 0;
	}
	for (unsigned i = 0; i < ed->phnum; i++) {
		const struct ph *p = &ed->ph[i];
		bool holds_table = p->offset <= ed->phoff &&
			ed->phoff + tab <= p->offset + p->filesz;
		bool holds_new = p->offset <= ed->phoff &&
			x + PHDR_SIZE <= p->offset + p->filesz;

		if (p->type == PT_NULL_ || p->type == PT_PHDR_)
			continue;
		if (holds_table ? !holds_new
				: overlaps(p->offset, p->filesz, x, PHDR_SIZE))
			return 0;
	}
	if (rd(ed, z, sizeof z, x, e) < 0)
		return -1;
	for (size_t i = 0; i < sizeof z; i++)
		if (z[i] != 0)
			return 0;
	*ok = true;
	return 0;
}

/*
 * Plan a new PT_NOTE holding (note, len), appended at the end of the file,
 * inserted at index (ins) of the program header table (entries from ins on
 * move down one slot).  The table grows into free space after it if it
 * can, else a copy of it with the new entry is appended and e_phoff points
 * there (the old table's bytes stay, unused).
 *
 * PT_PHDR: when the table grows in place, a PT_PHDR that describes it is
 * updated to the new size.  A moved table is no longer inside any PT_LOAD,
 * so a PT_PHDR could not stay truthful (it must describe loaded memory);
 * such files are refused rather than given a lying PT_PHDR.  Solo5
 * unikernels have none: they are static and their loaders (the tenders,
 * multiboot) never read the program headers from memory.
 */
static int plan_insert(const struct elfedit *ed, unsigned ins,
		       const uint8_t *note, size_t len,
		       struct elfedit_plan *plan, struct fmt_err *e)
{
	unsigned n = ed->phnum + 1;
	size_t tabsz = (size_t)n * PHDR_SIZE, insoff = (size_t)ins * PHDR_SIZE;
	uint64_t tab_off, note_off, end;
	uint8_t *tab, num[2], phoff[8];
	unsigned first;
	bool grow;
	int phdr = -1;

	if (n >= PN_XNUM_ || n > ELFEDIT_MAX_PHNUM)
		return ukit_fmt_errf(e, OFF_PHNUM, "no room for another program "
				"header (%u already)", ed->phnum);
	if (can_grow(ed, &grow, e) < 0)
		return -1;
	for (unsigned i = 0; i < ed->phnum; i++)
		if (ed->ph[i].type == PT_PHDR_) {
			phdr = (int)i;
			break;
		}
	/* The table changes from the first entry rewritten on: the new one,
	 * or an earlier PT_PHDR whose sizes follow the table. */
	first = ins;
	if (phdr >= 0 && (unsigned)phdr < ins &&
	    ed->ph[phdr].offset == ed->phoff)
		first = (unsigned)phdr;
	if (notes_untouched(ed, OFF_PHNUM, 2, UINT64_MAX, e) < 0 ||
	    (!grow && notes_untouched(ed, OFF_PHOFF, 8, UINT64_MAX, e) < 0))
		return -1;
	if (grow && notes_untouched(ed, ed->phoff + (uint64_t)first * PHDR_SIZE,
				    (uint64_t)(n - first) * PHDR_SIZE,
				    UINT64_MAX, NULL) < 0) {
		grow = false;   /* a PT_NOTE inside the table: move it */
		if (notes_untouched(ed, OFF_PHOFF, 8, UINT64_MAX, e) < 0)
			return -1;
	}

	if (!grow && phdr >= 0)
		return ukit_fmt_errf(e, ed->phoff + (uint64_t)phdr * PHDR_SIZE,
				"no free space after the program header table "
				"to grow it, and moving it would leave "
				"phdr[%d] (PT_PHDR) describing unloaded bytes",
				phdr);

	if (ck_align(ed->src.size, NEW_ALIGN, &tab_off))
		return ukit_fmt_errf(e, FMT_NOOFF, "file too large");
	if (grow) {
		note_off = tab_off;
		tab_off = ed->phoff;
	} else if (ck_add(tab_off, tabsz, &note_off)) {
		return ukit_fmt_errf(e, FMT_NOOFF, "file too large");
	}
	if (ck_add(note_off, len, &end) || end > INT64_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "file too large");

	if ((tab = calloc(1, tabsz)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memcpy(tab, ed->phraw, insoff);
	memcpy(tab + insoff + PHDR_SIZE, ed->phraw + insoff,
	       (size_t)ed->phnum * PHDR_SIZE - insoff);
	{
		uint8_t *b = tab + insoff;
		st32(b, PT_NOTE_, ed->big);
		st32(b + 4, PF_R_, ed->big);
		st64(b + 8, note_off, ed->big);
		st64(b + 16, 0, ed->big);           /* not loaded */
		st64(b + 24, 0, ed->big);
		st64(b + 32, len, ed->big);
		st64(b + 40, len, ed->big);
		st64(b + 48, NOTE_ALIGN, ed->big);
	}
	if (grow && phdr >= 0 && ed->ph[phdr].offset == ed->phoff) {
		size_t at = ((size_t)phdr + ((unsigned)phdr >= ins)) * PHDR_SIZE;
		st64(tab + at + 32, tabsz, ed->big);   /* p_filesz */
		st64(tab + at + 40, tabsz, ed->big);   /* p_memsz */
	}

	plan->in_size = ed->src.size;
	plan->out_size = end;
	plan->how = grow ? ELFEDIT_GROW : ELFEDIT_MOVE;
	plan->phdr_index = ins;
	plan->note_off = note_off;
	st16(num, (uint16_t)n, ed->big);
	st64(phoff, tab_off, ed->big);
	if ((!grow && add_patch(plan, OFF_PHOFF, phoff, sizeof phoff, e) < 0) ||
	    add_patch(plan, OFF_PHNUM, num, sizeof num, e) < 0 ||
	    (grow ? add_patch(plan, tab_off + (uint64_t)first * PHDR_SIZE,
			      tab + (size_t)first * PHDR_SIZE,
			      tabsz - (size_t)first * PHDR_SIZE, e)
		  : add_patch(plan, tab_off, tab, tabsz, e)) < 0 ||
	    add_patch(plan, note_off, note, len, e) < 0) {
		free(tab);
		ukit_elfedit_plan_free(plan);
		return -1;
	}
	free(tab);
	return 0;
}

/*
 * Plan pointing PT_NOTE (idx), which holds nothing but the note being
 * replaced, at (note, len) appended to the file; the old note's bytes stay,
 * unused.  Preferred to a new PT_NOTE when the program header table cannot
 * grow in place: moving the table out of the first PT_LOAD makes binutils
 * (strip, objcopy, dh_strip) lay the file out anew and shift the loaded
 * sections, and is impossible with a PT_PHDR; a repointed entry changes
 * no layout.
 */
static int plan_repoint(const struct elfedit *ed, unsigned idx,
			const uint8_t *note, size_t len,
			struct elfedit_plan *plan, struct fmt_err *e)
{
	uint64_t at = ed->phoff + (uint64_t)idx * PHDR_SIZE, note_off, end;
	uint8_t ent[PHDR_SIZE];

	if (notes_untouched(ed, at, PHDR_SIZE, UINT64_MAX, e) < 0)
		return -1;
	if (ck_align(ed->src.size, NEW_ALIGN, &note_off) ||
	    ck_add(note_off, len, &end) || end > INT64_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "file too large");
	memcpy(ent, ed->phraw + (size_t)idx * PHDR_SIZE, PHDR_SIZE);
	st64(ent + 8, note_off, ed->big);      /* p_offset */
	st64(ent + 16, 0, ed->big);            /* not loaded */
	st64(ent + 24, 0, ed->big);
	st64(ent + 32, len, ed->big);
	st64(ent + 40, len, ed->big);
	st64(ent + 48, NOTE_ALIGN, ed->big);
	plan->in_size = ed->src.size;
	plan->out_size = end;
	plan->how = ELFEDIT_REPOINT;
	plan->phdr_index = idx;
	plan->note_off = note_off;
	if (add_patch(plan, at, ent, sizeof ent, e) < 0 ||
	    add_patch(plan, note_off, note, len, e) < 0) {
		ukit_elfedit_plan_free(plan);
		return -1;
	}
	return 0;
}

/*
 * Is the note of (size) bytes at (off) all that PT_NOTE (idx) holds, and
 * has the program header table no free space to grow into?  Then
 * plan_repoint() rather than plan_insert().  0 with (*yes), or -1.
 */
static int want_repoint(const struct elfedit *ed, unsigned idx, uint64_t off,
			uint64_t size, bool *yes, struct fmt_err *e)
{
	bool grow = false;

	*yes = false;
	if (ed->ph[idx].offset != off || ed->ph[idx].filesz != size)
		return 0;
	if (can_grow(ed, &grow, e) < 0)
		return -1;
	*yes = !grow;
	return 0;
}

/*
 * After plan_insert(): the new PT_NOTE takes over from the note of
 * (old_size) bytes at (old_off).  An SHT_NOTE section that holds exactly
 * that note is pointed at the new one (plan->note_off, (len) bytes), so
 * that tools reading notes by section (readelf -n, objdump, libelf) show
 * what the loader reads, not the stale note.  The section is no longer
 * allocated: the new note is not loaded (its PT_NOTE has no address).  A
 * section holding more than that note is left as it is.  0 or -1 with (e).
 */
static int plan_retarget_section(const struct elfedit *ed, uint64_t old_off,
				 uint64_t old_size, size_t len,
				 struct elfedit_plan *plan, struct fmt_err *e)
{
	for (unsigned i = 0; i < ed->shnum; i++) {
		const struct sh *s = &ed->sh[i];
		uint8_t b[32];

		if (s->type != SHT_NOTE_ || s->offset != old_off ||
		    s->size != old_size)
			continue;
		st64(b, s->flags & ~(uint64_t)SHF_ALLOC_, ed->big);  /* sh_flags */
		st64(b + 8, 0, ed->big);                             /* sh_addr */
		st64(b + 16, plan->note_off, ed->big);               /* sh_offset */
		st64(b + 24, len, ed->big);                          /* sh_size */
		if (add_patch(plan, s->at + 8, b, sizeof b, e) < 0) {
			ukit_elfedit_plan_free(plan);
			return -1;
		}
		return 0;
	}
	return 0;
}

/*
 * After plan_insert() of a note that had no predecessor: give it a section
 * of its own, named (name) as the linker would name it, so that tools
 * reading notes by section
 * (readelf -n, objdump, libelf) see it too.  A copy of the section name
 * table with the name added, then a copy of the section header table with
 * the new entry last (the name table's entry pointing at the copy), are
 * appended after the note; e_shoff and e_shnum point at them, and the old
 * copies' bytes stay, unused.  Files without a section header table, or
 * whose name table is not a plain SHT_STRTAB of at most
 * ELFEDIT_MAX_SHSTRTAB bytes, get no section (the PT_NOTE is what loaders
 * and systemd read).  0 or -1 with (e).
 */
static int plan_add_section(const struct elfedit *ed, const char *name,
			    size_t len, struct elfedit_plan *plan,
			    struct fmt_err *e)
{
	const struct sh *str;
	size_t nlen = strlen(name) + 1, strsz, tabsz;
	uint64_t str_off, tab_off, end;
	uint8_t *buf = NULL, num[2], shoff[8], *ent;
	int rc = -1;

	if (ed->shnum == 0 || ed->shstrndx == 0 ||
	    ed->shstrndx >= ed->shnum || ed->shnum + 1 >= SHN_LORESERVE_ ||
	    ed->shnum + 1 > ELFEDIT_MAX_SHNUM)
		return 0;
	str = &ed->sh[ed->shstrndx];
	if (str->type != SHT_STRTAB_ || str->size > ELFEDIT_MAX_SHSTRTAB)
		return 0;
	if (notes_untouched(ed, OFF_SHOFF, 8, UINT64_MAX, e) < 0 ||
	    notes_untouched(ed, OFF_SHNUM, 2, UINT64_MAX, e) < 0)
		goto out;
	strsz = (size_t)str->size + nlen;
	tabsz = (size_t)(ed->shnum + 1) * SHDR_SIZE;
	str_off = plan->out_size;
	if (ck_align(str_off + strsz, NEW_ALIGN, &tab_off) ||
	    ck_add(tab_off, tabsz, &end) || end > INT64_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "file too large");
		goto out;
	}
	if ((buf = calloc(1, strsz > tabsz ? strsz : tabsz)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	/* the name table, with the new name last */
	if (rd(ed, buf, (size_t)str->size, str->offset, e) < 0)
		goto out;
	memcpy(buf + str->size, name, nlen);
	if (add_patch(plan, str_off, buf, strsz, e) < 0)
		goto out;
	/* the header table: the name table's entry moved, the new entry */
	memset(buf, 0, tabsz);
	if (rd(ed, buf, tabsz - SHDR_SIZE, ed->shoff, e) < 0)
		goto out;
	ent = buf + (size_t)ed->shstrndx * SHDR_SIZE;
	st64(ent + 0x18, str_off, ed->big);
	st64(ent + 0x20, strsz, ed->big);
	ent = buf + tabsz - SHDR_SIZE;
	st32(ent, (uint32_t)str->size, ed->big);        /* sh_name */
	st32(ent + 4, SHT_NOTE_, ed->big);
	st64(ent + 0x18, plan->note_off, ed->big);
	st64(ent + 0x20, len, ed->big);
	st64(ent + 0x30, NOTE_ALIGN, ed->big);          /* sh_addralign */
	st16(num, (uint16_t)(ed->shnum + 1), ed->big);
	st64(shoff, tab_off, ed->big);
	if (add_patch(plan, tab_off, buf, tabsz, e) < 0 ||
	    add_patch(plan, OFF_SHOFF, shoff, sizeof shoff, e) < 0 ||
	    add_patch(plan, OFF_SHNUM, num, sizeof num, e) < 0)
		goto out;
	plan->out_size = end;
	rc = 0;
out:
	free(buf);
	if (rc < 0)
		ukit_elfedit_plan_free(plan);
	return rc;
}

/*
 * Plan appending (note, len) that replaces the note of (old_size) bytes at
 * (old_off), first in PT_NOTE (old) (or, with old < 0, a note that had no
 * predecessor): repoint that PT_NOTE when want_repoint() says so, else a
 * new PT_NOTE at index (ins); then the old note's section follows the new
 * note, or a note with no predecessor gets a section named (secname).
 */
static int plan_append(const struct elfedit *ed, int old, uint64_t old_off,
		       uint64_t old_size, unsigned ins, const char *secname,
		       const uint8_t *note, size_t len,
		       struct elfedit_plan *plan, struct fmt_err *e)
{
	bool rp = false;
	int r;

	if (old >= 0 && want_repoint(ed, (unsigned)old, old_off, old_size,
				     &rp, e) < 0)
		return -1;
	r = rp ? plan_repoint(ed, (unsigned)old, note, len, plan, e)
	       : plan_insert(ed, ins, note, len, plan, e);
	if (r < 0)
		return -1;
	return old >= 0 ? plan_retarget_section(ed, old_off, old_size, len,
						plan, e)
			: plan_add_section(ed, secname, len, plan, e);
}

static const char *target_name(uint32_t t)
{
	static const char *const names[] = {
		NULL, "hvt", "spt", "virtio", "muen", "genode", "xen",
	};
	return t < ARRAY_SIZE(names) && names[t] ? names[t] : "unknown";
}

/* What the tender sees: the first Solo5 note of each type, per PT_NOTE. */
struct solo5_view {
	int      obsd, abi, mft;     /* phdr index, or -1 */
	int      first_note;         /* first PT_NOTE, or -1 */
	uint32_t target;
	uint64_t mft_size;           /* bytes of the current MFT1 note */
};

static int solo5_scan(const struct elfedit *ed, struct solo5_view *v,
		      struct fmt_err *e)
{
	v->obsd = v->abi = v->mft = v->first_note = -1;
	v->target = 0;
	v->mft_size = 0;
	for (unsigned i = 0; i < ed->phnum; i++) {
		const struct ph *p = &ed->ph[i];
		uint64_t at = ed->phoff + (uint64_t)i * PHDR_SIZE;
		struct note n;
		int r;

		if (p->type != PT_NOTE_)
			continue;
		if (v->first_note < 0)
			v->first_note = (int)i;
		if (p->filesz == 0)
			continue;   /* empty PT_NOTE: no note to read */
		if (p->filesz < NOTE_HDR_SIZE)
			return ukit_fmt_errf(e, at + 32, "phdr[%u]: PT_NOTE too small "
					"for a note header (0x%" PRIx64 " < 0x%x "
					"bytes)", i, p->filesz, NOTE_HDR_SIZE);
		if ((r = note_at(ed, p->offset, p->filesz, &n, e)) < 0)
			return -1;
		if (r == 0) {
			uint8_t h[NOTE_HDR_SIZE];
			if (rd(ed, h, sizeof h, p->offset, e) < 0)
				return -1;
			return ukit_fmt_errf(e, p->offset, "phdr[%u]: note (namesz "
					"%" PRIu32 ", descsz %" PRIu32 ") extends "
					"past its PT_NOTE (0x%" PRIx64 " bytes)",
					i, ld32(h, ed->big), ld32(h + 4, ed->big),
					p->filesz);
		}
		if (v->obsd < 0 && note_owner_is(&n, "OpenBSD"))
			v->obsd = (int)i;
		if (!note_owner_is(&n, SOLO5_NOTE_NAME))
			continue;
		if (n.type == ABI1_NOTE_TYPE && v->abi < 0) {
			uint8_t d[4];
			if (n.descsz < 8)
				return ukit_fmt_errf(e, n.off + 4, "phdr[%u]: ABI1 "
						"descriptor too short (%" PRIu32
						" < 8 bytes)", i, n.descsz);
			if (rd(ed, d, sizeof d, n.off + NOTE_HDR_SIZE + 8, e) < 0)
				return -1;
			v->abi = (int)i;
			v->target = ld32(d, ed->big);
		} else if (n.type == MFT1_NOTE_TYPE && v->mft < 0) {
			v->mft = (int)i;
			v->mft_size = n.size;
		}
	}
	return 0;
}

/*
 * The old MFT1 note at (off), (size) bytes, stays in the file when the new
 * one is appended (its PT_NOTE or SHT_NOTE section may hold other notes):
 * make it a ukit padding note of the same size, zero descriptor, so that a
 * tool reading every note finds exactly one manifest.
 */
static int plan_inert(const struct elfedit *ed, uint64_t off, uint64_t size,
		      struct elfedit_plan *plan, struct fmt_err *e)
{
	uint8_t *buf;
	size_t h;
	int r;

	if (size < PAD_NOTE_MIN)
		return ukit_fmt_errf(e, off, "internal: old note too small");
	if (notes_untouched(ed, off, size, off, e) < 0)
		return -1;
	if ((buf = calloc(1, (size_t)size)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	h = note_hdr_store(buf, UKIT_NOTE_NAME, 0, UKIT_NOTE_PADDING, ed->big);
	st32(buf + 4, (uint32_t)(size - h), ed->big);
	r = add_patch(plan, off, buf, (size_t)size, e);
	free(buf);
	return r;
}

static int check_mft_note(const struct elfedit *ed, const uint8_t *note,
			  size_t len, struct fmt_err *e)
{
	if (len < NOTE_HDR_SIZE + 8 || len > ELFEDIT_MAX_NOTE ||
	    ld32(note, ed->big) != SOLO5_NOTE_NAMESZ ||
	    memcmp(note + NOTE_HDR_SIZE, SOLO5_NOTE_NAME,
		   SOLO5_NOTE_NAMESZ) != 0 ||
	    ld32(note + 8, ed->big) != MFT1_NOTE_TYPE ||
	    (uint64_t)ld32(note + 4, ed->big) + NOTE_HDR_SIZE + 8 != len ||
	    len % 4 != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "new manifest is not an MFT1 note "
				"in the file's byte order");
	return 0;
}

int ukit_elfedit_plan_manifest(struct elfedit *ed, const uint8_t *note, size_t len,
			  struct elfedit_plan *plan, struct fmt_err *e)
{
	struct solo5_view v;
	unsigned ins;

	memset(plan, 0, sizeof *plan);
	plan->in_size = plan->out_size = ed->src.size;
	if (check_mft_note(ed, note, len, e) < 0)
		return -1;
	if (ed->type != ET_EXEC_)
		return ukit_fmt_errf(e, 0x10, "not an executable (e_type %u, "
				"expected ET_EXEC)", ed->type);
	if (solo5_scan(ed, &v, e) < 0)
		return -1;
	if (v.mft >= 0 && (len == v.mft_size ||
			   (len < v.mft_size && v.mft_size - len >= PAD_NOTE_MIN))) {
		plan->phdr_index = (unsigned)v.mft;
		return plan_overwrite(ed, ed->ph[v.mft].offset, v.mft_size,
				      note, len, plan, e);
	}
	if (v.abi < 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "the new manifest (%zu bytes) does "
				"not fit the existing MFT1 note (%" PRIu64
				" bytes) and there is no Solo5 ABI1 note to tell "
				"the target", len, v.mft_size);
	if (v.target != ABI_HVT && v.target != ABI_SPT) {
		if (v.mft < 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "no MFT1 note to rewrite, "
					"and target %s (%" PRIu32 ") reads the "
					"manifest linked in as __solo5_mft1_note: "
					"relink with the new manifest",
					target_name(v.target), v.target);
		return ukit_fmt_errf(e, ed->ph[v.mft].offset, "the new manifest (%zu "
				"bytes) does not fit the existing MFT1 note (%"
				PRIu64 " bytes), and target %s (%" PRIu32 ") "
				"reads the manifest linked in as "
				"__solo5_mft1_note, not a new PT_NOTE: relink "
				"with the new manifest", len, v.mft_size,
				target_name(v.target), v.target);
	}
	/* Before the MFT1 PT_NOTE the tender reads now (the first one wins),
	 * and after the OpenBSD note's PT_NOTE, which must stay first. */
	if (v.mft >= 0)
		ins = (unsigned)v.mft;
	else if (v.obsd >= 0)
		ins = (unsigned)v.obsd + 1;
	else if (v.first_note >= 0)
		ins = (unsigned)v.first_note;
	else
		ins = ed->phnum;
	if (plan_append(ed, v.mft, v.mft >= 0 ? ed->ph[v.mft].offset : 0,
			v.mft_size, ins, ".note.solo5.manifest", note, len,
			plan, e) < 0)
		return -1;
	return v.mft >= 0 ? plan_inert(ed, ed->ph[v.mft].offset, v.mft_size,
				       plan, e)
			  : 0;
}

int ukit_elfedit_pkgmeta_check(const char *json, size_t len, struct fmt_err *e)
{
	json_error_t jerr;
	json_t *j;

	if (len > ELFEDIT_MAX_PKGMETA)
		return ukit_fmt_errf(e, FMT_NOOFF, "package metadata too large "
				"(%zu > %u bytes)", len, ELFEDIT_MAX_PKGMETA);
	if (memchr(json, '\0', len) != NULL)
		return ukit_fmt_errf(e, (uint64_t)((const char *)memchr(json, '\0',
					len) - json),
				"package metadata contains a NUL byte");
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return ukit_fmt_errf(e, jerr.position >= 0 ? (uint64_t)jerr.position
						      : FMT_NOOFF,
				"line %d, column %d: %s", jerr.line,
				jerr.column, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return ukit_fmt_errf(e, FMT_NOOFF, "package metadata must be a "
				"JSON object");
	}
	json_decref(j);
	return 0;
}

/* The first package metadata note, as systemd finds it. */
static int find_pkgmeta(const struct elfedit *ed, int *seg, struct note *out,
			struct fmt_err *e)
{
	*seg = -1;
	for (unsigned i = 0; i < ed->phnum; i++) {
		const struct ph *p = &ed->ph[i];
		uint64_t off = 0;
		unsigned count = 0;

		if (p->type != PT_NOTE_)
			continue;
		while (off < p->filesz && count++ < ELFEDIT_MAX_NOTES) {
			struct note n;
			int r = note_at(ed, p->offset + off, p->filesz - off,
					&n, e);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			if (n.type == FDO_PACKAGING_METADATA && n.namesz != 0 &&
			    n.descsz != 0) {
				*seg = (int)i;
				*out = n;
				return 0;
			}
			off += n.size;
		}
	}
	return 0;
}

int ukit_elfedit_plan_package_metadata(struct elfedit *ed, const char *json,
				  size_t len, struct elfedit_plan *plan,
				  struct fmt_err *e)
{
	struct note old;
	uint8_t *note;
	size_t descsz, h, nlen;
	int seg, r;

	memset(plan, 0, sizeof *plan);
	plan->in_size = plan->out_size = ed->src.size;
	if (ukit_elfedit_pkgmeta_check(json, len, e) < 0)
		return -1;
	while (len > 0 && strchr(" \t\r\n", json[len - 1]) != NULL)
		len--;
	if (find_pkgmeta(ed, &seg, &old, e) < 0)
		return -1;

	descsz = (size_t)align4(len + 1);   /* NUL-terminated, 0-padded */
	nlen = NOTE_HDR_SIZE + 4 + descsz;
	/* A shorter note than the old one: pad with NULs when the rest is
	 * too small for a filler note (the JSON text ends at the first NUL). */
	if (seg >= 0 && nlen < old.size && old.size - nlen < PAD_NOTE_MIN) {
		descsz += (size_t)(old.size - nlen);
		nlen = (size_t)old.size;
	}
	if ((note = calloc(1, nlen)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	h = note_hdr_store(note, FDO_NOTE_NAME, (uint32_t)descsz,
			   FDO_PACKAGING_METADATA, ed->big);
	memcpy(note + h, json, len);
	if (seg >= 0 && nlen <= old.size) {
		plan->phdr_index = (unsigned)seg;
		r = plan_overwrite(ed, old.off, old.size, note, nlen, plan, e);
	} else {
		r = plan_append(ed, seg, seg >= 0 ? old.off : 0,
				seg >= 0 ? old.size : 0,
				seg >= 0 ? (unsigned)seg : ed->phnum,
				".note.package", note, nlen, plan, e);
	}
	free(note);
	return r;
}

/* ---- applying a plan ------------------------------------------------- */

/* Copy (size) bytes of (in) to (out) through a bounded buffer. */
static int copy_buffered(int in, int out, uint64_t size, struct fmt_err *e)
{
	uint8_t *buf = malloc(COPY_BUF);
	uint64_t off = 0;

	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	while (off < size) {
		size_t chunk = size - off < COPY_BUF ? (size_t)(size - off)
						     : COPY_BUF;
		ssize_t n = ukit_pread_full(in, buf, chunk, (off_t)off);
		if (n < 0 || (size_t)n != chunk) {
			free(buf);
			return n < 0 ? ukit_fmt_errno(e, off, "read failed")
				     : ukit_fmt_errf(e, off, "input shrank while "
						"being copied");
		}
		if (ukit_pwrite_full(out, buf, chunk, off) < 0) {
			free(buf);
			return ukit_fmt_errno(e, FMT_NOOFF, "write failed");
		}
		off += chunk;
	}
	free(buf);
	return 0;
}

/* copy_file_range() [off, end) of (in) to the same offsets of (out).
 * 1 done, 0 not possible between these files, -1 error. */
static int copy_range(int in, int out, uint64_t off, uint64_t end,
		      struct fmt_err *e)
{
	loff_t ioff = (loff_t)off, ooff = (loff_t)off;

	while ((uint64_t)ioff < end) {
		uint64_t left = end - (uint64_t)ioff;
		ssize_t n = copy_file_range(in, &ioff, out, &ooff,
					    left < (1u << 30) ? (size_t)left
							      : (1u << 30), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EBADF)
				return 0;
			return ukit_fmt_errno(e, (uint64_t)ioff, "copy failed");
		}
		if (n == 0)
			return ukit_fmt_errf(e, (uint64_t)ioff, "input shrank while "
					"being copied");
	}
	return 1;
}

/*
 * Copy in the kernel: a reflink (FICLONE) where the file system shares
 * blocks, else copy_file_range() over the data regions only (SEEK_DATA /
 * SEEK_HOLE), so holes stay holes and cost nothing.  1 done, 0 not
 * possible here (the caller copies through a buffer, from the start), -1
 * error.
 */
static int copy_kernel(int in, int out, uint64_t size, struct fmt_err *e)
{
	uint64_t off = 0;

	if (ioctl(out, FICLONE, in) == 0)
		return 1;
	while (off < size) {
		off_t d = lseek(in, (off_t)off, SEEK_DATA), h;
		int r;

		if (d < 0 && errno == ENXIO)
			break;                  /* only a hole is left */
		if (d < 0) {
			d = (off_t)off;         /* no SEEK_DATA: all data */
			h = (off_t)size;
		} else if ((h = lseek(in, d, SEEK_HOLE)) < 0 ||
			   (uint64_t)h > size) {
			h = (off_t)size;
		}
		if ((uint64_t)d >= size)
			break;
		if ((r = copy_range(in, out, (uint64_t)d, (uint64_t)h, e)) <= 0)
			return r;
		off = (uint64_t)h;
	}
	if (ftruncate(out, (off_t)size) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot size output");
	return 1;
}

int ukit_elfedit_apply_fd(int in_fd, int out_fd, const struct elfedit_plan *plan,
		     struct fmt_err *e)
{
	struct stat st;
	int r;

	if (fstat(in_fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot stat input");
	if ((uint64_t)st.st_size != plan->in_size)
		return ukit_fmt_errf(e, FMT_NOOFF, "input changed size while being "
				"edited (0x%" PRIx64 " != 0x%" PRIx64 ")",
				(uint64_t)st.st_size, plan->in_size);
	if ((r = copy_kernel(in_fd, out_fd, plan->in_size, e)) < 0)
		return -1;
	if (r == 0 && copy_buffered(in_fd, out_fd, plan->in_size, e) < 0)
		return -1;
	if (plan->out_size != plan->in_size &&
	    ftruncate(out_fd, (off_t)plan->out_size) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot extend output");
	for (size_t i = 0; i < plan->n; i++)
		if (ukit_pwrite_full(out_fd, plan->p[i].data, plan->p[i].len,
				plan->p[i].off) < 0)
			return ukit_fmt_errno(e, plan->p[i].off, "write failed");
	return 0;
}

int ukit_elfedit_apply_buf(const uint8_t *in, size_t len,
		      const struct elfedit_plan *plan, uint8_t **out,
		      size_t *out_len, struct fmt_err *e)
{
	uint8_t *b;

	if (len != plan->in_size || plan->out_size > SIZE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "plan is for another input");
	if ((b = calloc(1, plan->out_size ? (size_t)plan->out_size : 1)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memcpy(b, in, len);
	for (size_t i = 0; i < plan->n; i++) {
		if (!in_bounds(plan->p[i].off, plan->p[i].len, plan->out_size)) {
			free(b);
			return ukit_fmt_errf(e, plan->p[i].off, "patch past end");
		}
		memcpy(b + plan->p[i].off, plan->p[i].data, plan->p[i].len);
	}
	*out = b;
	*out_len = (size_t)plan->out_size;
	return 0;
}
