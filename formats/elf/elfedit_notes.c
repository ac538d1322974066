/*
 * elfedit_notes.c: the two note edits (see elfedit.h, elfedit_int.h): a
 * new Solo5 MFT1 manifest where the tender reads it, and the FDO package
 * metadata note where systemd reads it.
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
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bytes.h"
#include "elfedit_int.h"

/* One decoded note header. */
struct note {
	uint64_t off;        /* of the header */
	uint32_t namesz, descsz, type;
	uint64_t size;       /* header + padded name + padded descriptor,
	                      * capped at what is left of the segment */
	char     name[12];   /* valid when namesz <= sizeof name */
};

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
	if (ukit_elfedit_rd(ed, h, sizeof h, off, e) < 0)
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
	    ukit_elfedit_rd(ed, n->name, n->namesz, off + NOTE_HDR_SIZE, e) < 0)
		return -1;
	return 1;
}

static bool note_owner_is(const struct note *n, const char *owner)
{
	size_t len = strlen(owner) + 1;

	return n->namesz == len && len <= sizeof n->name &&
	       memcmp(n->name, owner, len) == 0;
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
			if (ukit_elfedit_rd(ed, h, sizeof h, p->offset, e) < 0)
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
			if (ukit_elfedit_rd(ed, d, sizeof d,
					    n.off + NOTE_HDR_SIZE + 8, e) < 0)
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
	if (ukit_elfedit_notes_untouched(ed, off, size, off, e) < 0)
		return -1;
	if ((buf = calloc(1, (size_t)size)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	h = ukit_elfedit_note_hdr_store(buf, UKIT_NOTE_NAME, 0,
					UKIT_NOTE_PADDING, ed->big);
	st32(buf + 4, (uint32_t)(size - h), ed->big);
	r = ukit_elfedit_add_patch(plan, off, buf, (size_t)size, e);
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

static int plan_manifest(struct elfedit *ed, const uint8_t *note, size_t len,
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
		return ukit_elfedit_plan_overwrite(ed, ed->ph[v.mft].offset,
						   v.mft_size, note, len,
						   plan, e);
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
	if (ukit_elfedit_plan_append(ed, v.mft,
				     v.mft >= 0 ? ed->ph[v.mft].offset : 0,
				     v.mft_size, ins, ".note.solo5.manifest",
				     note, len, plan, e) < 0)
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

static int plan_package_metadata(struct elfedit *ed, const char *json,
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
	h = ukit_elfedit_note_hdr_store(note, FDO_NOTE_NAME, (uint32_t)descsz,
					FDO_PACKAGING_METADATA, ed->big);
	memcpy(note + h, json, len);
	if (seg >= 0 && nlen <= old.size) {
		plan->phdr_index = (unsigned)seg;
		r = ukit_elfedit_plan_overwrite(ed, old.off, old.size, note,
						nlen, plan, e);
	} else {
		r = ukit_elfedit_plan_append(ed, seg, seg >= 0 ? old.off : 0,
				seg >= 0 ? old.size : 0,
				seg >= 0 ? (unsigned)seg : ed->phnum,
				".note.package", note, nlen, plan, e);
	}
	free(note);
	return r;
}

/* On failure the plan is left empty: nothing for the caller to free. */
int ukit_elfedit_plan_manifest(struct elfedit *ed, const uint8_t *note, size_t len,
			  struct elfedit_plan *plan, struct fmt_err *e)
{
	if (plan_manifest(ed, note, len, plan, e) < 0) {
		ukit_elfedit_plan_free(plan);
		return -1;
	}
	return 0;
}

int ukit_elfedit_plan_package_metadata(struct elfedit *ed, const char *json,
				  size_t len, struct elfedit_plan *plan,
				  struct fmt_err *e)
{
	if (plan_package_metadata(ed, json, len, plan, e) < 0) {
		ukit_elfedit_plan_free(plan);
		return -1;
	}
	return 0;
}
