/*
 * test_elfedit.c: set-manifest and set-package-metadata planning on ELF64
 * images built in memory (both byte orders): in place (same size, smaller),
 * a new PT_NOTE with the program header table grown into free space or
 * moved to the end, refused targets, hostile headers (exact errors and
 * offsets), and applying a plan to a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "elfedit.h"
#include "err.h"
#include "manifest.h"

/* ---- image builder ---------------------------------------------------- */

struct img_opts {
	bool     big;
	uint32_t target;     /* ABI1 target */
	size_t   ndev;       /* devices in the linked-in manifest */
	bool     no_obsd, no_abi, no_mft;
	size_t   gap;        /* zero bytes after the program header table */
	bool     phdr;       /* a PT_PHDR first */
	bool     sections;   /* SHT_NOTE sections for the notes */
	bool     fdo;        /* an FDO package metadata note (PT_NOTE) */
	bool     shstrtab;   /* a section name table (with sections) */
};

struct img {
	uint8_t *b;
	size_t   len;
	unsigned phnum, mft_idx, obsd_idx;
	size_t   mft_off, mft_len, fdo_off, fdo_len, phoff;
};

static const char fdo_json[] = "{\"type\":\"deb\",\"name\":\"old\"}";

static void mk_manifest(struct manifest *m, size_t ndev, const char *prefix)
{
	memset(m, 0, sizeof *m);
	m->n = ndev;
	for (size_t i = 0; i < ndev; i++) {
		snprintf(m->dev[i].name, sizeof m->dev[i].name, "%s%zu",
			 prefix, i);
		m->dev[i].type = i % 2 ? MFT_BLOCK_BASIC : MFT_NET_BASIC;
	}
}

static size_t put_note(uint8_t *b, bool big, const char *owner,
		       uint32_t type, const void *desc, size_t descsz)
{
	size_t namesz = strlen(owner) + 1, p = 12;

	st32(b, (uint32_t)namesz, big);
	st32(b + 4, (uint32_t)descsz, big);
	st32(b + 8, type, big);
	memcpy(b + p, owner, namesz);
	p += (namesz + 3) & ~3u;
	memcpy(b + p, desc, descsz);
	return p + ((descsz + 3) & ~3u);
}

static void put_phdr(uint8_t *b, bool big, uint32_t type, uint64_t off,
		     uint64_t filesz)
{
	st32(b, type, big);
	st32(b + 4, 4, big);
	st64(b + 8, off, big);
	st64(b + 16, 0x10000000 + off, big);
	st64(b + 24, 0x10000000 + off, big);
	st64(b + 32, filesz, big);
	st64(b + 40, filesz, big);
	st64(b + 48, type == 1 ? 0x1000 : type == 6 ? 8 : 4, big);
}

static void put_shdr(uint8_t *b, bool big, uint32_t type, uint64_t off,
		     uint64_t size)
{
	memset(b, 0, 64);
	st32(b + 4, type, big);
	st64(b + 0x18, off, big);
	st64(b + 0x20, size, big);
	st64(b + 0x30, 4, big);
}

/*
 * Layout: ELF header, [PT_PHDR] PT_LOAD PT_NOTE(OpenBSD) PT_NOTE(ABI1)
 * PT_NOTE(MFT1) [PT_NOTE(FDO)], (gap) zeros, the notes, 16 bytes of text,
 * [section headers: NULL + one SHT_NOTE per note].  The PT_LOAD covers
 * everything up to the end of the text, like a FILEHDR PHDRS text segment.
 */
static void mkimg(const struct img_opts *o, struct img *im)
{
	struct manifest m;
	struct { size_t off, len; } sec[4];
	static const char names[] = "\0.shstrtab";
	size_t nsec = 0, p, tab, text_end;
	unsigned i = 0;
	uint8_t abi[16] = { 0 };
	bool big = o->big;

	memset(im, 0, sizeof *im);
	im->phnum = 1 + o->phdr + !o->no_obsd + !o->no_abi + !o->no_mft + o->fdo;
	im->b = calloc(1, 64 * 1024);
	assert_non_null(im->b);
	im->phoff = 64;
	tab = 64 + im->phnum * 56;
	p = (tab + o->gap + 7) & ~(size_t)7;

	if (o->phdr)
		put_phdr(im->b + 64 + 56 * i++, big, 6, 64, im->phnum * 56);
	i++;   /* PT_LOAD, filled in last */
	if (!o->no_obsd) {
		uint8_t z[4] = { 0 };
		size_t n = put_note(im->b + p, big, "OpenBSD", 1, z, 4);
		im->obsd_idx = i;
		put_phdr(im->b + 64 + 56 * i++, big, 4, p, n);
		sec[nsec].off = p, sec[nsec++].len = n;
		p += n;
	}
	if (!o->no_abi) {
		size_t n;
		st32(abi, o->target, big);
		st32(abi + 4, 2, big);
		n = put_note(im->b + p, big, "Solo5", ABI1_NOTE_TYPE, abi, 16);
		put_phdr(im->b + 64 + 56 * i++, big, 4, p, n);
		sec[nsec].off = p, sec[nsec++].len = n;
		p += n;
	}
	if (!o->no_mft) {
		struct fmt_err e = { 0 };
		mk_manifest(&m, o->ndev, "old");
		im->mft_len = manifest_note_size(o->ndev);
		assert_int_equal(ukit_manifest_note_encode(&m, big, im->b + p,
						      im->mft_len, &e), 0);
		im->mft_off = p;
		im->mft_idx = i;
		put_phdr(im->b + 64 + 56 * i++, big, 4, p, im->mft_len);
		sec[nsec].off = p, sec[nsec++].len = im->mft_len;
		p += im->mft_len;
	}
	if (o->fdo) {
		size_t n = put_note(im->b + p, big, "FDO", FDO_PACKAGING_METADATA,
				    fdo_json, sizeof fdo_json);
		im->fdo_off = p;
		im->fdo_len = n;
		put_phdr(im->b + 64 + 56 * i++, big, 4, p, n);
		sec[nsec].off = p, sec[nsec++].len = n;
		p += n;
	}
	memset(im->b + p, 0x90, 16);
	p += 16;
	text_end = p;
	put_phdr(im->b + 64 + 56 * o->phdr, big, 1, 0, text_end);

	memcpy(im->b, "\177ELF\2", 5);
	im->b[5] = big ? 2 : 1;
	im->b[6] = 1;
	st16(im->b + 0x10, 2, big);            /* ET_EXEC */
	st16(im->b + 0x12, big ? 21 : 62, big);
	st32(im->b + 0x14, 1, big);
	st64(im->b + 0x18, 0x10000000 + text_end - 16, big);
	st64(im->b + 0x20, 64, big);
	st16(im->b + 0x34, 64, big);
	st16(im->b + 0x36, 56, big);
	st16(im->b + 0x38, (uint16_t)im->phnum, big);
	if (o->sections) {
		size_t str = p, n = nsec + 1 + o->shstrtab;

		if (o->shstrtab) {     /* names: "", ".shstrtab" */
			memcpy(im->b + p, names, sizeof names);
			p += sizeof names;
		}
		p = (p + 7) & ~(size_t)7;
		st64(im->b + 0x28, p, big);
		st16(im->b + 0x3a, 64, big);
		st16(im->b + 0x3c, (uint16_t)n, big);
		put_shdr(im->b + p, big, 0, 0, 0);
		for (size_t s = 0; s < nsec; s++)
			put_shdr(im->b + p + 64 * (s + 1), big, 7, sec[s].off,
				 sec[s].len);
		if (o->shstrtab) {
			put_shdr(im->b + p + 64 * (nsec + 1), big, 3, str,
				 sizeof names);
			st32(im->b + p + 64 * (nsec + 1), 1, big); /* sh_name */
			st16(im->b + 0x3e, (uint16_t)(nsec + 1), big);
		}
		p += 64 * n;
	}
	im->len = p;
}

/* ---- running an edit -------------------------------------------------- */

static int plan_mft(const struct img *im, size_t ndev,
		    struct elfedit_plan *plan, uint8_t **out, size_t *out_len,
		    struct fmt_err *e)
{
	struct elfedit_src src = { .buf = im->b, .size = im->len,
				   .path = "mem" };
	struct elfedit *ed;
	struct manifest m;
	uint8_t note[MFT_NOTE_MAX];
	size_t len = manifest_note_size(ndev);
	int r;

	if (ukit_elfedit_open(&src, &ed, e) < 0)
		return -1;
	mk_manifest(&m, ndev, "new");
	assert_int_equal(ukit_manifest_note_encode(&m, ukit_elfedit_big_endian(ed), note,
					      len, e), 0);
	r = ukit_elfedit_plan_manifest(ed, note, len, plan, e);
	ukit_elfedit_close(ed);
	if (r < 0)
		return -1;
	return ukit_elfedit_apply_buf(im->b, im->len, plan, out, out_len, e);
}

/*
 * The manifest a Solo5 tender would read from (b, len): the first note of
 * the first PT_NOTE whose first note is Solo5/MFT1.  Also checks that
 * every PT_NOTE lies inside the file.
 */
static void tender_manifest(const uint8_t *b, size_t len, bool big,
			    struct manifest *m)
{
	uint64_t phoff = ld64(b + 0x20, big);
	unsigned phnum = ld16(b + 0x38, big);
	struct fmt_err e = { 0 };

	assert_true(in_bounds(phoff, (uint64_t)phnum * 56, len));
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + 56 * i;
		uint64_t off = ld64(ph + 8, big), sz = ld64(ph + 32, big);

		if (ld32(ph, big) != 4)
			continue;
		assert_true(in_bounds(off, sz, len));
		if (sz < 20 || ld32(b + off, big) != 6 ||
		    memcmp(b + off + 12, "Solo5", 6) != 0 ||
		    ld32(b + off + 8, big) != MFT1_NOTE_TYPE)
			continue;
		assert_true(20 + (uint64_t)ld32(b + off + 4, big) <= sz);
		assert_int_equal(ukit_manifest_desc_decode(b + off + 20,
				 ld32(b + off + 4, big), big, m, &e), 0);
		return;
	}
	fail_msg("no MFT1 PT_NOTE");
}

static void assert_new_manifest(const uint8_t *b, size_t len, bool big,
				size_t ndev)
{
	struct manifest got, want;

	tender_manifest(b, len, big, &got);
	mk_manifest(&want, ndev, "new");
	assert_int_equal(got.n, ndev);
	for (size_t i = 0; i < ndev; i++) {
		assert_string_equal(got.dev[i].name, want.dev[i].name);
		assert_int_equal(got.dev[i].type, want.dev[i].type);
	}
}

/* Every byte that differs lies in a patch or past the input. */
static void assert_only_patched(const struct img *im, const uint8_t *out,
				const struct elfedit_plan *plan)
{
	for (size_t off = 0; off < im->len; off++) {
		bool in = false;
		if (im->b[off] == out[off])
			continue;
		for (size_t i = 0; i < plan->n; i++)
			in |= off >= plan->p[i].off &&
			      off < plan->p[i].off + plan->p[i].len;
		if (!in)
			fail_msg("byte 0x%zx changed outside the patches", off);
	}
}

/* ---- tests ------------------------------------------------------------- */

static void test_in_place_same_size(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_VIRTIO,
				      .ndev = 3, .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out;
		size_t out_len;

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 3, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_IN_PLACE);
		assert_int_equal(plan.n, 1);
		assert_int_equal(plan.p[0].off, im.mft_off);
		assert_int_equal(plan.p[0].len, im.mft_len);
		assert_int_equal(plan.phdr_index, im.mft_idx);
		assert_int_equal(out_len, im.len);
		assert_only_patched(&im, out, &plan);
		assert_new_manifest(out, out_len, big, 3);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

static void test_in_place_smaller(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_XEN, .ndev = 5,
				      .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out, *pad;
		size_t out_len, newlen = manifest_note_size(2);

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_IN_PLACE);
		assert_int_equal(plan.p[0].len, im.mft_len);
		assert_int_equal(out_len, im.len);
		assert_only_patched(&im, out, &plan);
		assert_new_manifest(out, out_len, big, 2);
		/* the rest of the old note is one well-formed filler note */
		pad = out + im.mft_off + newlen;
		assert_int_equal(ld32(pad, big), 5);
		assert_int_equal(ld32(pad + 4, big), im.mft_len - newlen - 20);
		assert_int_equal(ld32(pad + 8, big), UKIT_NOTE_PADDING);
		assert_memory_equal(pad + 12, "ukit\0\0\0", 8);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

static void test_grow_into_free_space(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_HVT, .ndev = 1,
				      .gap = 200, .phdr = true,
				      .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out, *ent;
		size_t out_len, len = manifest_note_size(4);

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 4, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_GROW);
		assert_int_equal(plan.phdr_index, im.mft_idx);
		assert_int_equal(plan.note_off, (im.len + 7) & ~7ul);
		assert_int_equal(out_len, plan.note_off + len);
		assert_only_patched(&im, out, &plan);
		assert_int_equal(ld64(out + 0x20, big), 64);
		assert_int_equal(ld16(out + 0x38, big), im.phnum + 1);
		/* PT_PHDR follows the table */
		assert_int_equal(ld64(out + 64 + 32, big), (im.phnum + 1) * 56);
		/* OpenBSD first, then the new PT_NOTE before the old MFT1 */
		assert_true(im.obsd_idx < plan.phdr_index);
		ent = out + 64 + 56 * plan.phdr_index;
		assert_int_equal(ld32(ent, big), 4);
		assert_int_equal(ld64(ent + 8, big), plan.note_off);
		assert_int_equal(ld64(ent + 32, big), len);
		assert_memory_equal(out + 64 + 56 * (plan.phdr_index + 1),
				    im.b + 64 + 56 * im.mft_idx, 56);
		assert_new_manifest(out, out_len, big, 4);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

/* A new note with no predecessor and no free space: the table moves. */
static void test_move_to_end(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_SPT,
				      .no_mft = true, .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out;
		size_t out_len, tab_off;

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 63, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_MOVE);
		tab_off = (im.len + 7) & ~7ul;
		assert_int_equal(ld64(out + 0x20, big), tab_off);
		assert_int_equal(ld16(out + 0x38, big), im.phnum + 1);
		assert_int_equal(plan.note_off, tab_off + 56 * (im.phnum + 1));
		assert_int_equal(out_len, plan.note_off + manifest_note_size(63));
		/* the old table is left as it was */
		assert_memory_equal(out + 64, im.b + 64, 56 * im.phnum);
		assert_only_patched(&im, out, &plan);
		assert_new_manifest(out, out_len, big, 63);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

/*
 * The old manifest's own SHT_NOTE section follows the new note (readelf -n
 * reads by section), unallocated; a section holding more than the old
 * note is left as it is.
 */
static void test_section_follows_new_note(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_HVT, .ndev = 1,
				      .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out, *sh;
		size_t out_len, shoff;

		mkimg(&o, &im);
		shoff = ld64(im.b + 0x28, big);
		sh = im.b + shoff + 64 * 3;      /* NULL, OpenBSD, ABI1, MFT1 */
		assert_int_equal(ld64(sh + 0x18, big), im.mft_off);
		st64(sh + 8, 0x2 | 0x100, big);  /* SHF_ALLOC | another flag */
		st64(sh + 0x10, 0x10000000 + im.mft_off, big);
		assert_int_equal(plan_mft(&im, 3, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_REPOINT);
		sh = out + shoff + 64 * 3;
		assert_int_equal(ld64(sh + 8, big), 0x100);
		assert_int_equal(ld64(sh + 0x10, big), 0);
		assert_int_equal(ld64(sh + 0x18, big), plan.note_off);
		assert_int_equal(ld64(sh + 0x20, big), manifest_note_size(3));
		/* the other sections are untouched */
		assert_memory_equal(out + shoff, im.b + shoff, 64 * 3);
		assert_only_patched(&im, out, &plan);
		ukit_elfedit_plan_free(&plan);
		free(out);

		/* a section 4 bytes longer than the note: left alone */
		sh = im.b + shoff + 64 * 3;
		st64(sh + 0x20, im.mft_len + 4, big);
		assert_int_equal(plan_mft(&im, 3, &plan, &out, &out_len, &e), 0);
		assert_memory_equal(out + shoff, im.b + shoff, 64 * 4);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

/*
 * A larger manifest, no free space after the table, the old note alone in
 * its PT_NOTE: that PT_NOTE is pointed at the new note, appended; the
 * table neither grows nor moves, so a PT_PHDR is no obstacle.
 */
static void test_repoint(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		for (int phdr = 0; phdr < 2; phdr++) {
			struct img_opts o = { .big = big, .target = ABI_HVT,
					      .ndev = 1, .phdr = phdr };
			struct elfedit_plan plan;
			struct fmt_err e = { 0 };
			struct img im;
			uint8_t *out, *ent;
			size_t out_len, len = manifest_note_size(5);

			mkimg(&o, &im);
			assert_int_equal(plan_mft(&im, 5, &plan, &out, &out_len,
						  &e), 0);
			assert_int_equal(plan.how, ELFEDIT_REPOINT);
			assert_int_equal(plan.phdr_index, im.mft_idx);
			assert_int_equal(plan.note_off, (im.len + 7) & ~7ul);
			assert_int_equal(out_len, plan.note_off + len);
			assert_int_equal(ld64(out + 0x20, big), 64);
			assert_int_equal(ld16(out + 0x38, big), im.phnum);
			ent = out + 64 + 56 * im.mft_idx;
			assert_int_equal(ld32(ent, big), 4);
			assert_int_equal(ld64(ent + 8, big), plan.note_off);
			assert_int_equal(ld64(ent + 16, big), 0);
			assert_int_equal(ld64(ent + 32, big), len);
			assert_int_equal(ld64(ent + 40, big), len);
			/* every other entry as it was; the old note an inert
			 * ukit padding note of its size, zero descriptor */
			assert_memory_equal(out + 64, im.b + 64, 56 * im.mft_idx);
			assert_int_equal(ld32(out + im.mft_off, big), 5);
			assert_int_equal(ld32(out + im.mft_off + 4, big),
					 im.mft_len - 20);
			assert_int_equal(ld32(out + im.mft_off + 8, big),
					 UKIT_NOTE_PADDING);
			assert_memory_equal(out + im.mft_off + 12, "ukit\0\0\0\0", 8);
			for (size_t k = 20; k < im.mft_len; k++)
				assert_int_equal(out[im.mft_off + k], 0);
			assert_only_patched(&im, out, &plan);
			assert_new_manifest(out, out_len, big, 5);
			ukit_elfedit_plan_free(&plan);
			free(out);
			free(im.b);
		}
	}
}

static void test_gap_not_free(void **state)
{
	/* A gap that a section covers, or that holds a non-zero byte,
	 * is not free: the table moves instead (for a note with no
	 * predecessor; see test_repoint for one with). */
	struct img_opts o = { .target = ABI_HVT, .no_mft = true, .gap = 64,
			      .sections = true };
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct img im;
	uint8_t *out;
	size_t out_len;

	(void)state;
	mkimg(&o, &im);
	im.b[64 + 56 * im.phnum + 3] = 1;
	assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), 0);
	assert_int_equal(plan.how, ELFEDIT_MOVE);
	ukit_elfedit_plan_free(&plan);
	free(out);
	free(im.b);

	o.gap = 0;
	o.phdr = true;     /* no gap and a PT_PHDR: refused */
	mkimg(&o, &im);
	assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), -1);
	assert_non_null(strstr(e.msg, "PT_PHDR"));
	assert_int_equal(e.off, 64);
	free(im.b);
}

static void test_no_openbsd_note(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 0, .no_obsd = true,
			      .gap = 128 };
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct img im;
	uint8_t *out;
	size_t out_len;

	(void)state;
	mkimg(&o, &im);
	assert_int_equal(plan_mft(&im, 1, &plan, &out, &out_len, &e), 0);
	assert_int_equal(plan.how, ELFEDIT_GROW);
	assert_int_equal(plan.phdr_index, im.mft_idx);
	assert_new_manifest(out, out_len, false, 1);
	ukit_elfedit_plan_free(&plan);
	free(out);
	free(im.b);

	/* no MFT1 note at all: right after the OpenBSD one */
	o.no_obsd = false;
	o.no_mft = true;
	mkimg(&o, &im);
	assert_int_equal(plan_mft(&im, 1, &plan, &out, &out_len, &e), 0);
	assert_int_equal(plan.phdr_index, im.obsd_idx + 1);
	assert_new_manifest(out, out_len, false, 1);
	ukit_elfedit_plan_free(&plan);
	free(out);
	free(im.b);
}

static void test_refused_targets(void **state)
{
	static const struct { uint32_t target; const char *name; } t[] = {
		{ ABI_VIRTIO, "virtio" }, { ABI_MUEN, "muen" },
		{ ABI_GENODE, "genode" }, { ABI_XEN, "xen" }, { 9, "unknown" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct img_opts o = { .target = t[i].target, .ndev = 1,
				      .gap = 128 };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		char want[64];
		uint8_t *out = NULL;
		size_t out_len;

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), -1);
		snprintf(want, sizeof want, "target %s (%u) reads the manifest "
			 "linked in", t[i].name, t[i].target);
		assert_non_null(strstr(e.msg, want));
		assert_non_null(strstr(e.msg, "does not fit the existing MFT1 "
				       "note (240 bytes)"));
		assert_int_equal(e.off, im.mft_off);
		assert_null(out);
		free(im.b);
	}
	{	/* no ABI1 note: the target is unknown */
		struct img_opts o = { .no_abi = true, .ndev = 1 };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out;
		size_t out_len;

		mkimg(&o, &im);
		assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), -1);
		assert_non_null(strstr(e.msg, "no Solo5 ABI1 note"));
		free(im.b);
	}
}

enum fld { F8, F16, F32, F64 };

static void test_hostile_headers(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 1, .sections = true };
	struct img base;
	const uint64_t ph = 64, mftph = 64 + 56 * 3;   /* phdr[3]: MFT1 */
	struct {
		uint64_t off;
		enum fld w;
		uint64_t val;
		size_t trunc;        /* file length, 0 = unchanged */
		uint64_t err_off;
		const char *msg;
	} t[] = {
		{ 0, F8, 0x7e, 0, 0, "not an ELF file (bad magic)" },
		{ 4, F8, 1, 0, 4, "ELF class 1 not supported" },
		{ 5, F8, 3, 0, 5, "unknown ELF data encoding 3" },
		{ 6, F8, 0, 0, 6, "unknown ELF version 0" },
		{ 0x14, F32, 2, 0, 0x14, "unknown ELF version 2" },
		{ 0x34, F16, 52, 0, 0x34, "e_ehsize 52, expected 64" },
		{ 0x36, F16, 32, 0, 0x36, "e_phentsize 32, expected 56" },
		{ 0x38, F16, 0, 0, 0x38, "no program headers" },
		{ 0x38, F16, 0xffff, 0, 0x38, "PN_XNUM" },
		{ 0x38, F16, 5000, 0, 0x38, "too many program headers (5000 > 4096)" },
		{ 0x20, F64, 0, 0, 0x20, "overlaps the ELF header" },
		{ 0x20, F64, UINT64_MAX - 8, 0, 0x20, "program header table ends past end of file" },
		{ 0x20, F64, 0x100000, 0, 0x20, "program header table ends past end of file" },
		{ 0x3a, F16, 40, 0, 0x3a, "e_shentsize 40, expected 64" },
		{ 0x3c, F16, 0, 0, 0x3c, "extended section numbering" },
		{ 0x28, F64, UINT64_MAX - 63, 0, 0x28, "section header table ends past end of file" },
		{ ph + 56 + 8, F64, UINT64_MAX, 0, ph + 56 + 8, "phdr[1]: p_offset 0xffffffffffffffff + p_filesz 0x18 overflows" },
		{ ph + 56 + 32, F64, 0x100000, 0, ph + 56 + 8, "phdr[1]: segment ends past end of file" },
		{ ph, F64, 0, 0, 0, "file too short for an ELF64 header (63 < 64 bytes)" },
		{ 0x10, F16, 3, 0, 0x10, "not an executable (e_type 3, expected ET_EXEC)" },
		{ mftph + 32, F64, 5, 0, mftph + 32, "phdr[3]: PT_NOTE too small for a note header (0x5 < 0xc bytes)" },
		{ 0, F8, 0x7f, 0, 0, "extends past its PT_NOTE" },        /* MFT1 descsz, below */
		{ 0, F8, 0x7f, 0, 0, "ABI1 descriptor too short (4 < 8 bytes)" },
	};

	(void)state;
	mkimg(&o, &base);
	/* the last two rows patch notes, whose offsets mkimg decides */
	t[ARRAY_SIZE(t) - 2].off = base.mft_off + 4;
	t[ARRAY_SIZE(t) - 2].w = F32;
	t[ARRAY_SIZE(t) - 2].val = 0x10000;
	t[ARRAY_SIZE(t) - 2].err_off = base.mft_off;
	t[ARRAY_SIZE(t) - 1].off = base.mft_off - 36 + 4;   /* ABI1 descsz */
	t[ARRAY_SIZE(t) - 1].w = F32;
	t[ARRAY_SIZE(t) - 1].val = 4;
	t[ARRAY_SIZE(t) - 1].err_off = base.mft_off - 36 + 4;
	t[18].trunc = 63;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct img im = base;
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		uint8_t *out = NULL;
		size_t out_len;

		im.b = malloc(base.len);
		memcpy(im.b, base.b, base.len);
		if (t[i].trunc)
			im.len = t[i].trunc;
		else if (t[i].w == F8)
			im.b[t[i].off] = (uint8_t)t[i].val;
		else if (t[i].w == F16)
			st16(im.b + t[i].off, (uint16_t)t[i].val, false);
		else if (t[i].w == F32)
			st32(im.b + t[i].off, (uint32_t)t[i].val, false);
		else
			st64(im.b + t[i].off, t[i].val, false);
		assert_int_equal(plan_mft(&im, 1, &plan, &out, &out_len, &e), -1);
		if (strstr(e.msg, t[i].msg) == NULL || e.off != t[i].err_off)
			fail_msg("row %zu: got \"%s\" at 0x%llx, want \"%s\" at "
				 "0x%llx", i, e.msg, (unsigned long long)e.off,
				 t[i].msg, (unsigned long long)t[i].err_off);
		assert_null(out);
		free(im.b);
	}
	free(base.b);
}

/* fuzz finding: a PT_NULL entry pointing past the end of the file was
 * accepted, and the output was then refused by ukit's reader. */
static void test_pt_null_past_eof(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 1 };
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct img im;
	uint8_t *out = NULL;
	size_t out_len;

	(void)state;
	mkimg(&o, &im);
	st32(im.b + 64 + 56 * 2, 0, false);                  /* PT_NULL */
	st64(im.b + 64 + 56 * 2 + 8, 0x10000000002001ull, false);
	assert_int_equal(plan_mft(&im, 3, &plan, &out, &out_len, &e), -1);
	assert_non_null(strstr(e.msg, "phdr[2]: segment ends past end of file"));
	assert_int_equal(e.off, 64 + 56 * 2 + 8);
	assert_null(out);
	free(im.b);
}

/*
 * Found by running readelf on outputs of the fuzz corpus: PT_NOTEs that
 * point into the program header table (or into the note being replaced)
 * saw their bytes change.  The table now moves instead of growing under
 * such a PT_NOTE, and an in-place rewrite under one is refused.
 */
static void test_pt_note_overlaps_edit(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 1, .gap = 128 };
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct img im;
	uint8_t *out = NULL;
	size_t out_len;

	(void)state;
	mkimg(&o, &im);
	/* phdr[1] (the OpenBSD PT_NOTE) now covers phdr[3], the MFT1 one */
	st64(im.b + 64 + 56 + 8, 64 + 56 * 3, false);
	assert_int_equal(plan_mft(&im, 2, &plan, &out, &out_len, &e), 0);
	assert_int_equal(plan.how, ELFEDIT_MOVE);
	assert_only_patched(&im, out, &plan);
	assert_memory_equal(out + 64, im.b + 64, 56 * im.phnum);
	ukit_elfedit_plan_free(&plan);
	free(out);
	out = NULL;

	/* phdr[1] now starts inside the MFT1 note's descriptor */
	st64(im.b + 64 + 56 + 8, im.mft_off + 28, false);
	st64(im.b + 64 + 56 + 32, 16, false);
	assert_int_equal(plan_mft(&im, 1, &plan, &out, &out_len, &e), -1);
	assert_non_null(strstr(e.msg, "phdr[1]: PT_NOTE covers bytes this "
			       "edit changes"));
	assert_int_equal(e.off, 64 + 56 + 8);
	assert_null(out);
	free(im.b);
}

static void test_bad_new_note(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 1 };
	struct elfedit_src src;
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct elfedit *ed;
	struct img im;
	uint8_t note[64] = { 0 };

	(void)state;
	mkimg(&o, &im);
	src = (struct elfedit_src){ .buf = im.b, .size = im.len };
	assert_int_equal(ukit_elfedit_open(&src, &ed, &e), 0);
	assert_int_equal(ukit_elfedit_plan_manifest(ed, note, sizeof note, &plan,
					       &e), -1);
	assert_non_null(strstr(e.msg, "not an MFT1 note"));
	ukit_elfedit_close(ed);
	free(im.b);
}

/* ---- package metadata -------------------------------------------------- */

static int plan_pkg(const struct img *im, const char *json,
		    struct elfedit_plan *plan, uint8_t **out, size_t *out_len,
		    struct fmt_err *e)
{
	struct elfedit_src src = { .buf = im->b, .size = im->len };
	struct elfedit *ed;
	int r;

	if (ukit_elfedit_open(&src, &ed, e) < 0)
		return -1;
	r = ukit_elfedit_plan_package_metadata(ed, json, strlen(json), plan, e);
	ukit_elfedit_close(ed);
	if (r < 0)
		return -1;
	return ukit_elfedit_apply_buf(im->b, im->len, plan, out, out_len, e);
}

/* The first FDO metadata note's text, as systemd finds it. */
static const char *fdo_text(const uint8_t *b, size_t len, bool big)
{
	uint64_t phoff = ld64(b + 0x20, big);
	unsigned phnum = ld16(b + 0x38, big);

	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + 56 * i;
		uint64_t off = ld64(ph + 8, big), sz = ld64(ph + 32, big), p = 0;

		if (ld32(ph, big) != 4)
			continue;
		assert_true(in_bounds(off, sz, len));
		while (p + 12 <= sz) {
			const uint8_t *n = b + off + p;
			uint32_t nsz = ld32(n, big), dsz = ld32(n + 4, big);
			uint64_t d = 12 + ((nsz + 3ull) & ~3ull);

			if (d + dsz > sz - p)
				break;
			if (ld32(n + 8, big) == FDO_PACKAGING_METADATA &&
			    nsz && dsz) {
				assert_int_equal(n[d + dsz - 1], 0);
				return (const char *)n + d;
			}
			p += d + ((dsz + 3ull) & ~3ull);
		}
	}
	return NULL;
}

static void test_pkgmeta(void **state)
{
	static const char *json = "{\"type\":\"deb\",\"name\":\"hello\","
				  "\"version\":\"1.0\"}\n";
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_VIRTIO,
				      .ndev = 1, .gap = 64, .sections = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out;
		size_t out_len;
		const char *got;

		/* none yet: a new PT_NOTE, last */
		mkimg(&o, &im);
		assert_int_equal(plan_pkg(&im, json, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_GROW);
		assert_int_equal(plan.phdr_index, im.phnum);
		assert_only_patched(&im, out, &plan);
		got = fdo_text(out, out_len, big);
		assert_non_null(got);
		assert_string_equal(got, "{\"type\":\"deb\",\"name\":\"hello\","
				    "\"version\":\"1.0\"}");
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);

		/* one that fits: replaced in place, a filler note after it */
		o.fdo = true;
		mkimg(&o, &im);
		assert_int_equal(plan_pkg(&im, "{\"a\":1}", &plan, &out,
					  &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_IN_PLACE);
		assert_int_equal(plan.p[0].off, im.fdo_off);
		assert_int_equal(out_len, im.len);
		assert_string_equal(fdo_text(out, out_len, big), "{\"a\":1}");
		ukit_elfedit_plan_free(&plan);
		free(out);

		/* a larger one: a new PT_NOTE before the old one's */
		assert_int_equal(plan_pkg(&im, json, &plan, &out, &out_len, &e), 0);
		assert_int_equal(plan.how, ELFEDIT_GROW);
		assert_int_equal(plan.phdr_index, im.phnum - 1);
		assert_non_null(strstr(fdo_text(out, out_len, big), "hello"));
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

/*
 * A new package note with no predecessor gets a section of its own,
 * ".note.package", in copies of the name and header tables appended after
 * it; a file whose name table is missing or not an SHT_STRTAB gets none
 * (and no error).
 */
static void test_pkgmeta_section(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		struct img_opts o = { .big = big, .target = ABI_HVT, .ndev = 1,
				      .sections = true, .shstrtab = true };
		struct elfedit_plan plan;
		struct fmt_err e = { 0 };
		struct img im;
		uint8_t *out, *ent;
		size_t out_len, shoff, nshoff, str, shnum, strndx;

		mkimg(&o, &im);
		shoff = ld64(im.b + 0x28, big);
		shnum = ld16(im.b + 0x3c, big);
		strndx = ld16(im.b + 0x3e, big);
		assert_int_equal(plan_pkg(&im, "{\"name\":\"s\"}", &plan, &out,
					  &out_len, &e), 0);
		assert_int_equal(ld16(out + 0x3c, big), shnum + 1);
		nshoff = ld64(out + 0x28, big);
		assert_true(nshoff >= plan.note_off && nshoff % 8 == 0);
		assert_int_equal(out_len, nshoff + 64 * (shnum + 1));
		/* the old entries as they were, but the name table's */
		assert_memory_equal(out + nshoff, im.b + shoff, 64 * strndx);
		ent = out + nshoff + 64 * strndx;
		str = ld64(ent + 0x18, big);
		assert_int_equal(ld64(ent + 0x20, big), 11 + 14);
		assert_memory_equal(out + str, "\0.shstrtab\0.note.package", 25);
		ent = out + nshoff + 64 * shnum;
		assert_memory_equal(out + str + ld32(ent, big), ".note.package",
				    14);
		assert_int_equal(ld32(ent + 4, big), 7);
		assert_int_equal(ld64(ent + 8, big), 0);     /* not allocated */
		assert_int_equal(ld64(ent + 0x18, big), plan.note_off);
		assert_string_equal(fdo_text(out, out_len, big),
				    "{\"name\":\"s\"}");
		/* the old tables' bytes are untouched */
		assert_memory_equal(out + shoff, im.b + shoff, 64 * shnum);
		assert_only_patched(&im, out, &plan);
		ukit_elfedit_plan_free(&plan);
		free(out);

		/* the name table is not a string table: no section */
		st32(im.b + shoff + 64 * strndx + 4, 1, big);   /* PROGBITS */
		assert_int_equal(plan_pkg(&im, "{\"name\":\"s\"}", &plan, &out,
					  &out_len, &e), 0);
		assert_int_equal(ld16(out + 0x3c, big), shnum);
		assert_int_equal(ld64(out + 0x28, big), shoff);
		ukit_elfedit_plan_free(&plan);
		free(out);

		/* e_shstrndx out of range: no section */
		st32(im.b + shoff + 64 * strndx + 4, 3, big);
		st16(im.b + 0x3e, (uint16_t)shnum, big);
		assert_int_equal(plan_pkg(&im, "{\"name\":\"s\"}", &plan, &out,
					  &out_len, &e), 0);
		assert_int_equal(ld16(out + 0x3c, big), shnum);
		ukit_elfedit_plan_free(&plan);
		free(out);
		free(im.b);
	}
}

static void test_pkgmeta_check(void **state)
{
	static const struct { const char *json; size_t len; const char *msg; } t[] = {
		{ "[1]", 3, "must be a JSON object" },
		{ "\"s\"", 3, "expected" },
		{ "{\"a\":1,\"a\":2}", 13, "duplicate" },
		{ "{\"a\":1} x", 9, "end of file expected" },
		{ "{\"a\":1}\0", 8, "NUL byte" },
		{ "{\"a\":/*c*/1}", 12, "line 1" },
		{ "", 0, "line 1" },
	};
	struct fmt_err e = { 0 };
	char *big;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ukit_elfedit_pkgmeta_check(t[i].json, t[i].len, &e), -1);
		if (strstr(e.msg, t[i].msg) == NULL)
			fail_msg("row %zu: \"%s\"", i, e.msg);
	}
	big = malloc(ELFEDIT_MAX_PKGMETA + 2);
	memset(big, ' ', ELFEDIT_MAX_PKGMETA + 1);
	big[0] = '{';
	big[ELFEDIT_MAX_PKGMETA] = '}';
	assert_int_equal(ukit_elfedit_pkgmeta_check(big, ELFEDIT_MAX_PKGMETA + 1,
					       &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	assert_int_equal(ukit_elfedit_pkgmeta_check(big + 1, ELFEDIT_MAX_PKGMETA - 1,
					       &e), -1);
	big[ELFEDIT_MAX_PKGMETA - 1] = '}';
	assert_int_equal(ukit_elfedit_pkgmeta_check(big, ELFEDIT_MAX_PKGMETA, &e), 0);
	free(big);
}

/* apply_fd (kernel copy or buffer) gives the same bytes as apply_buf. */
static void test_apply_fd(void **state)
{
	struct img_opts o = { .target = ABI_HVT, .ndev = 2, .sections = true };
	struct elfedit_plan plan;
	struct fmt_err e = { 0 };
	struct img im;
	char in_path[] = "/tmp/ukit-elfedit-in.XXXXXX";
	char out_path[] = "/tmp/ukit-elfedit-out.XXXXXX";
	uint8_t *out, *got;
	size_t out_len;
	int in, outfd;

	(void)state;
	mkimg(&o, &im);
	assert_int_equal(plan_mft(&im, 7, &plan, &out, &out_len, &e), 0);
	in = mkstemp(in_path);
	outfd = mkstemp(out_path);
	assert_true(in >= 0 && outfd >= 0);
	assert_int_equal(write(in, im.b, im.len), (ssize_t)im.len);
	assert_int_equal(ukit_elfedit_apply_fd(in, outfd, &plan, &e), 0);
	got = malloc(out_len + 1);
	assert_int_equal(pread(outfd, got, out_len + 1, 0), (ssize_t)out_len);
	assert_memory_equal(got, out, out_len);
	/* an input that changed size since planning is refused */
	assert_int_equal(ftruncate(in, 10), 0);
	assert_int_equal(ukit_elfedit_apply_fd(in, outfd, &plan, &e), -1);
	assert_non_null(strstr(e.msg, "changed size"));
	close(in);
	close(outfd);
	unlink(in_path);
	unlink(out_path);
	free(got);
	free(out);
	ukit_elfedit_plan_free(&plan);
	free(im.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_place_same_size),
		cmocka_unit_test(test_in_place_smaller),
		cmocka_unit_test(test_grow_into_free_space),
		cmocka_unit_test(test_move_to_end),
		cmocka_unit_test(test_section_follows_new_note),
		cmocka_unit_test(test_repoint),
		cmocka_unit_test(test_gap_not_free),
		cmocka_unit_test(test_no_openbsd_note),
		cmocka_unit_test(test_refused_targets),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_pt_null_past_eof),
		cmocka_unit_test(test_pt_note_overlaps_edit),
		cmocka_unit_test(test_bad_new_note),
		cmocka_unit_test(test_pkgmeta),
		cmocka_unit_test(test_pkgmeta_section),
		cmocka_unit_test(test_pkgmeta_check),
		cmocka_unit_test(test_apply_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
