/*
 * elfedit_plan.c: plans for note edits (see elfedit.h, elfedit_int.h):
 * byte patches, and where a new note goes: over the old one, in a new
 * PT_NOTE (the program header table grown in place or moved), in a
 * repointed PT_NOTE, with its SHT_NOTE section following it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "elfedit_int.h"

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
int ukit_elfedit_add_patch(struct elfedit_plan *plan, uint64_t off,
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

/* Store a note header + name (padded to 4) at (b); returns its length. */
size_t ukit_elfedit_note_hdr_store(uint8_t *b, const char *owner,
				   uint32_t descsz, uint32_t type, bool big)
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
int ukit_elfedit_notes_untouched(const struct elfedit *ed, uint64_t off,
				 uint64_t len, uint64_t same,
				 struct fmt_err *e)
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
int ukit_elfedit_plan_overwrite(const struct elfedit *ed, uint64_t off,
				uint64_t old_size, const uint8_t *note,
				size_t len, struct elfedit_plan *plan,
				struct fmt_err *e)
{
	uint8_t *buf;
	int r;

	if (len > old_size || (len < old_size && old_size - len < PAD_NOTE_MIN))
		return ukit_fmt_errf(e, off, "internal: note does not fit");
	if (ukit_elfedit_notes_untouched(ed, off, old_size, off, e) < 0)
		return -1;
	if ((buf = calloc(1, (size_t)old_size)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memcpy(buf, note, len);
	if (len < old_size) {
		size_t h = ukit_elfedit_note_hdr_store(buf + len,
						       UKIT_NOTE_NAME, 0,
						       UKIT_NOTE_PADDING,
						       ed->big);
		st32(buf + len + 4, (uint32_t)(old_size - len - h), ed->big);
	}
	r = ukit_elfedit_add_patch(plan, off, buf, (size_t)old_size, e);
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
	if (ukit_elfedit_rd(ed, z, sizeof z, x, e) < 0)
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
	if (ukit_elfedit_notes_untouched(ed, OFF_PHNUM, 2, UINT64_MAX,
					 e) < 0 ||
	    (!grow && ukit_elfedit_notes_untouched(ed, OFF_PHOFF, 8,
						   UINT64_MAX, e) < 0))
		return -1;
	if (grow && ukit_elfedit_notes_untouched(ed, ed->phoff +
						 (uint64_t)first * PHDR_SIZE,
						 (uint64_t)(n - first) *
						 PHDR_SIZE,
						 UINT64_MAX, NULL) < 0) {
		grow = false;   /* a PT_NOTE inside the table: move it */
		if (ukit_elfedit_notes_untouched(ed, OFF_PHOFF, 8, UINT64_MAX,
						 e) < 0)
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
	if ((!grow && ukit_elfedit_add_patch(plan, OFF_PHOFF, phoff,
					     sizeof phoff, e) < 0) ||
	    ukit_elfedit_add_patch(plan, OFF_PHNUM, num, sizeof num, e) < 0 ||
	    (grow ? ukit_elfedit_add_patch(plan, tab_off +
					   (uint64_t)first * PHDR_SIZE,
					   tab + (size_t)first * PHDR_SIZE,
					   tabsz - (size_t)first * PHDR_SIZE,
					   e)
		  : ukit_elfedit_add_patch(plan, tab_off, tab, tabsz, e)) < 0 ||
	    ukit_elfedit_add_patch(plan, note_off, note, len, e) < 0) {
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

	if (ukit_elfedit_notes_untouched(ed, at, PHDR_SIZE, UINT64_MAX, e) < 0)
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
	if (ukit_elfedit_add_patch(plan, at, ent, sizeof ent, e) < 0 ||
	    ukit_elfedit_add_patch(plan, note_off, note, len, e) < 0) {
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
		if (ukit_elfedit_add_patch(plan, s->at + 8, b, sizeof b,
					   e) < 0) {
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
	if (ukit_elfedit_notes_untouched(ed, OFF_SHOFF, 8, UINT64_MAX, e) < 0 ||
	    ukit_elfedit_notes_untouched(ed, OFF_SHNUM, 2, UINT64_MAX, e) < 0)
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
	if (ukit_elfedit_rd(ed, buf, (size_t)str->size, str->offset, e) < 0)
		goto out;
	memcpy(buf + str->size, name, nlen);
	if (ukit_elfedit_add_patch(plan, str_off, buf, strsz, e) < 0)
		goto out;
	/* the header table: the name table's entry moved, the new entry */
	memset(buf, 0, tabsz);
	if (ukit_elfedit_rd(ed, buf, tabsz - SHDR_SIZE, ed->shoff, e) < 0)
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
	if (ukit_elfedit_add_patch(plan, tab_off, buf, tabsz, e) < 0 ||
	    ukit_elfedit_add_patch(plan, OFF_SHOFF, shoff, sizeof shoff,
				   e) < 0 ||
	    ukit_elfedit_add_patch(plan, OFF_SHNUM, num, sizeof num, e) < 0)
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
int ukit_elfedit_plan_append(const struct elfedit *ed, int old,
			     uint64_t old_off, uint64_t old_size, unsigned ins,
			     const char *secname, const uint8_t *note,
			     size_t len, struct elfedit_plan *plan,
			     struct fmt_err *e)
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
