/*
 * test_elfimg.c: ELF reading, note iteration and the Solo5 tender lookup on
 * ELF images built in memory (both classes, both byte orders), with tables
 * of hostile headers, segments and notes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "bytes.h"
#include "elfhdr.h"
#include "elfimg.h"
#include "err.h"
#include "manifest.h"
#include "solo5.h"

#define CAP 65536

struct seg {
	uint32_t type;           /* PT_* */
	const uint8_t *data;
	size_t len;
	uint64_t align;
};

/*
 * Build an ET_EXEC (x86_64 machine) of class 64 or 32 with one program
 * header per segment, data laid out after the headers, 8-aligned.
 * Returns the image size.
 */
static size_t gen_elf(uint8_t *b, bool big, bool is64, const struct seg *s,
		      size_t n)
{
	size_t eh = is64 ? 64 : 52, pe = is64 ? 56 : 32, off;

	memset(b, 0, CAP);
	memcpy(b, "\177ELF", 4);
	b[4] = is64 ? 2 : 1;
	b[5] = big ? 2 : 1;
	b[6] = 1;
	st16(b + 16, 2, big);            /* ET_EXEC */
	st16(b + 18, is64 ? 62 : 3, big);
	st32(b + 20, 1, big);
	off = eh + n * pe;
	off = (off + 7) & ~(size_t)7;
	if (is64) {
		st64(b + 24, 0x100000, big);
		st64(b + 32, eh, big);
		st16(b + 52, 64, big);
		st16(b + 54, 56, big);
		st16(b + 56, (uint16_t)n, big);
		st16(b + 58, 64, big);
	} else {
		st32(b + 24, 0x100000, big);
		st32(b + 28, (uint32_t)eh, big);
		st16(b + 40, 52, big);
		st16(b + 42, 32, big);
		st16(b + 44, (uint16_t)n, big);
		st16(b + 46, 40, big);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = b + eh + i * pe;

		if (is64) {
			st32(p, s[i].type, big);
			st32(p + 4, 4, big);
			st64(p + 8, s[i].len ? off : 0, big);
			st64(p + 16, 0x100000 + off, big);
			st64(p + 24, 0x100000 + off, big);
			st64(p + 32, s[i].len, big);
			st64(p + 40, s[i].len, big);
			st64(p + 48, s[i].align, big);
		} else {
			st32(p, s[i].type, big);
			st32(p + 4, s[i].len ? (uint32_t)off : 0, big);
			st32(p + 8, 0x100000 + (uint32_t)off, big);
			st32(p + 12, 0x100000 + (uint32_t)off, big);
			st32(p + 16, (uint32_t)s[i].len, big);
			st32(p + 20, (uint32_t)s[i].len, big);
			st32(p + 24, 4, big);
			st32(p + 28, (uint32_t)s[i].align, big);
		}
		if (s[i].len)
			memcpy(b + off, s[i].data, s[i].len);
		off += (s[i].len + 7) & ~(size_t)7;
	}
	return off;
}

/* A note with the name padded to (align) and the descriptor after it. */
static size_t gen_note(uint8_t *b, bool big, const char *name,
		       uint32_t namesz, uint32_t type, const void *desc,
		       uint32_t descsz, unsigned align)
{
	size_t d = (12 + namesz + align - 1) & ~(size_t)(align - 1);

	memset(b, 0, d + descsz + align);
	st32(b, namesz, big);
	st32(b + 4, descsz, big);
	st32(b + 8, type, big);
	memcpy(b + 12, name, strlen(name) + 1 < namesz ? strlen(name) + 1
						       : namesz);
	memcpy(b + d, desc, descsz);
	return (d + descsz + align - 1) & ~(size_t)(align - 1);
}

/* Solo5 layout: name always at 12, descriptor at 20 (namesz 6 -> 8). */
static size_t gen_abi1(uint8_t *b, bool big, uint32_t target,
		       uint32_t version, uint32_t descsz)
{
	uint8_t d[16] = { 0 };

	st32(d, target, big);
	st32(d + 4, version, big);
	return gen_note(b, big, "Solo5", 6, ABI1_NOTE_TYPE, d, descsz, 4);
}

static size_t gen_mft1(uint8_t *b, bool big, size_t ndev)
{
	struct manifest m;
	struct fmt_err e;

	memset(&m, 0, sizeof m);
	m.n = ndev;
	for (size_t i = 0; i < ndev; i++) {
		snprintf(m.dev[i].name, sizeof m.dev[i].name, "dev%zu", i);
		m.dev[i].type = i % 2 ? MFT_BLOCK_BASIC : MFT_NET_BASIC;
	}
	assert_int_equal(ukit_manifest_note_encode(&m, big, b, 8192, &e), 0);
	return manifest_note_size(ndev);
}

static const uint8_t openbsd_note[24] = {
	8, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 'O', 'p', 'e', 'n', 'B', 'S', 'D',
	0, 0, 0, 0, 0,
};

static uint8_t img_buf[CAP], mft_buf[8192], abi_buf[64];

static void test_solo5_found_both_orders(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		size_t ml = gen_mft1(mft_buf, big, 3);
		size_t al = gen_abi1(abi_buf, big, ABI_XEN, 7, 16);
		struct seg s[] = {
			{ PT_LOAD, NULL, 0, 0x1000 },
			{ PT_NOTE, openbsd_note, 24, 4 },
			{ PT_NOTE, NULL, 0, 4 },       /* empty */
			{ PT_NOTE, abi_buf, al, 4 },
			{ PT_NOTE, mft_buf, ml, 4 },
		};
		size_t len = gen_elf(img_buf, big, true, s, ARRAY_SIZE(s));
		struct fmt_err e = { 0 };
		struct elfimg *img;
		struct manifest m;
		struct solo5_abi abi;
		bool hm = false, ha = false;

		assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img,
						 &e), 0);
		assert_int_equal(ukit_elfimg_info(img)->big, big);
		assert_int_equal(ukit_elfimg_info(img)->phnum, 5);
		assert_int_equal(ukit_elfimg_solo5(img, &m, &hm, &abi, &ha, &e), 0);
		assert_true(hm && ha);
		assert_int_equal(m.n, 3);
		assert_string_equal(m.dev[2].name, "dev2");
		assert_int_equal(m.dev[1].type, MFT_BLOCK_BASIC);
		assert_int_equal(abi.target, ABI_XEN);
		assert_int_equal(abi.version, 7);
		ukit_elfimg_close(img);
	}
}

/* Only the first note of a PT_NOTE counts; the first matching one wins. */
static void test_solo5_tender_rule(void **state)
{
	uint8_t seg1[256], seg2[64];
	size_t l1, l2;
	struct fmt_err e = { 0 };
	struct elfimg *img;
	struct solo5_abi abi;
	bool ha = false;

	(void)state;
	/* seg1: OpenBSD note, then an ABI1 note (hidden: not first). */
	memcpy(seg1, openbsd_note, 24);
	l1 = 24 + gen_abi1(seg1 + 24, false, ABI_HVT, 1, 16);
	l2 = gen_abi1(seg2, false, ABI_SPT, 9, 16);
	struct seg s[] = {
		{ PT_NOTE, seg1, l1, 4 },
		{ PT_NOTE, seg2, l2, 4 },
		{ PT_NOTE, abi_buf, gen_abi1(abi_buf, false, ABI_MUEN, 3, 16), 4 },
	};
	size_t len = gen_elf(img_buf, false, true, s, ARRAY_SIZE(s));

	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_solo5(img, NULL, NULL, &abi, &ha, &e), 0);
	assert_true(ha);
	assert_int_equal(abi.target, ABI_SPT);
	assert_int_equal(abi.version, 9);
	ukit_elfimg_close(img);
}

struct bad_case {
	const char *what;
	const char *msg;      /* expected substring */
	uint64_t off;         /* expected e.off */
};

static void expect_open_fail(const uint8_t *b, size_t len,
			     const struct bad_case *c)
{
	struct fmt_err e = { 0 };
	struct elfimg *img = NULL;

	if (ukit_elfimg_open_mem(b, len, "mem", &img, &e) == 0) {
		ukit_elfimg_close(img);
		fail_msg("%s: opened", c->what);
	}
	if (strstr(e.msg, c->msg) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", c->what, e.msg,
			 c->msg);
	if (e.off != c->off)
		fail_msg("%s: offset 0x%llx, expected 0x%llx", c->what,
			 (unsigned long long)e.off, (unsigned long long)c->off);
}

static void test_open_hostile_headers(void **state)
{
	static const struct {
		struct bad_case c;
		size_t at;            /* patch offset, or SIZE_MAX: truncate */
		unsigned width;       /* bytes; 0: truncate to (val) */
		uint64_t val;
	} t[] = {
		{ { "empty", "file too short for an ELF header (0 < 16", 0 },
		  0, 0, 0 },
		{ { "10 bytes", "file too short for an ELF header (10 < 16", 0 },
		  0, 0, 10 },
		{ { "40 bytes", "file too short for an ELF64 header (40 < 64", 0 },
		  0, 0, 40 },
		{ { "bad magic", "not an ELF file (bad magic 7f 45 4c 47)", 0 },
		  3, 1, 'G' },
		{ { "class 3", "unknown ELF class 3", 4 }, 4, 1, 3 },
		{ { "data 0", "unknown ELF data encoding 0", 5 }, 5, 1, 0 },
		{ { "EI_VERSION 2", "unknown ELF identification version 2 "
		    "(expected 1)", 6 }, 6, 1, 2 },
		{ { "phentsize", "e_phentsize 32, expected 56", 54 }, 54, 2, 32 },
		{ { "phoff past end", "program header table extends past end "
		    "of file (0xfff0 + 3 * 56", 32 }, 32, 8, 0xfff0 },
		{ { "phoff overflow", "program header table extends past end",
		    32 }, 32, 8, UINT64_MAX - 8 },
		{ { "shoff past end", "section header table starts past end of "
		    "file", 40 }, 40, 8, 0x100000 },
		{ { "shentsize", "e_shentsize 63, expected 64", 58 }, 58, 2, 63 },
		{ { "segment past end", "phdr[2]: segment extends past end of "
		    "file", 64 + 2 * 56 }, 64 + 2 * 56 + 8, 8, 0x7fff0 },
		{ { "segment size overflow", "phdr[1]: segment extends past end",
		    64 + 56 }, 64 + 56 + 32, 8, UINT64_MAX },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t ml = gen_mft1(mft_buf, false, 1);
		size_t al = gen_abi1(abi_buf, false, 1, 2, 16);
		struct seg s[] = {
			{ PT_NOTE, openbsd_note, 24, 4 },
			{ PT_NOTE, abi_buf, al, 4 },
			{ PT_NOTE, mft_buf, ml, 4 },
		};
		size_t len = gen_elf(img_buf, false, true, s, ARRAY_SIZE(s));

		if (t[i].width == 0)
			len = t[i].val;
		else if (t[i].width == 1)
			img_buf[t[i].at] = (uint8_t)t[i].val;
		else if (t[i].width == 2)
			le16_store(img_buf + t[i].at, (uint16_t)t[i].val);
		else
			le64_store(img_buf + t[i].at, t[i].val);
		if ((t[i].at == 40 && t[i].width == 8) || t[i].at == 58)
			le16_store(img_buf + 60, 1);   /* one section */
		if (t[i].at == 58)
			le64_store(img_buf + 40, 64);
		expect_open_fail(img_buf, len, &t[i].c);
	}
}

/* Hostile Solo5 notes: the lookup fails with the reason, never reads past
 * the segment; harmless oddities are skipped. */
static void test_solo5_hostile_notes(void **state)
{
	static const struct {
		struct bad_case c;
		uint32_t type;        /* note looked up */
		uint32_t namesz, descsz;
		size_t seglen;        /* 0: the whole note */
	} t[] = {
		{ { "descsz past segment", "phdr[1]: Solo5 ABI1 note extends "
		    "past end of its PT_NOTE (0x14 + 0x10 > 0x20)", 0 },
		  ABI1_NOTE_TYPE, 6, 16, 32 },
		{ { "descsz 0xffffffff", "Solo5 ABI1 note descriptor size "
		    "4294967295 outside 1..32", 0 },
		  ABI1_NOTE_TYPE, 6, 0xffffffff, 0 },
		{ { "descsz 0", "descriptor size 0 outside 1..32", 0 },
		  ABI1_NOTE_TYPE, 6, 0, 0 },
		{ { "ABI1 4 bytes", "ABI1 descriptor too short (4 < 8 bytes", 4 },
		  ABI1_NOTE_TYPE, 6, 4, 0 },
		{ { "MFT1 too big", "Solo5 MFT1 note descriptor size 6669 "
		    "outside 1..6668", 0 }, MFT1_NOTE_TYPE, 6, 6669, 0 },
		{ { "MFT1 size disagrees", "phdr[1]: Solo5 manifest: ", 0 },
		  MFT1_NOTE_TYPE, 6, 16, 0 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		uint8_t note[64] = { 0 };
		size_t nl = 20 + 16;
		struct fmt_err e = { 0 };
		struct elfimg *img;
		struct manifest m;
		struct solo5_abi abi;
		bool have;
		int r;

		st32(note, t[i].namesz, false);
		st32(note + 4, t[i].descsz, false);
		st32(note + 8, t[i].type, false);
		memcpy(note + 12, "Solo5", 6);
		st32(note + 24, 1, false);
		struct seg s[] = {
			{ PT_NOTE, openbsd_note, 24, 4 },
			{ PT_NOTE, note, t[i].seglen ? t[i].seglen : nl, 4 },
		};
		size_t len = gen_elf(img_buf, false, true, s, ARRAY_SIZE(s));

		assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img,
						 &e), 0);
		if (t[i].type == MFT1_NOTE_TYPE)
			r = ukit_elfimg_solo5(img, &m, &have, NULL, NULL, &e);
		else
			r = ukit_elfimg_solo5(img, NULL, NULL, &abi, &have, &e);
		ukit_elfimg_close(img);
		if (r == 0)
			fail_msg("%s: accepted", t[i].c.what);
		if (strstr(e.msg, t[i].c.msg) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"",
				 t[i].c.what, e.msg, t[i].c.msg);
		/* every reported offset lies in the PT_NOTE */
		assert_true(e.off >= 64 + 2 * 56 && e.off < len);
	}
}

/* Empty and short PT_NOTEs are skipped; no manifest is "absent", not an
 * error; ELF32 and non-ET_EXEC are refused. */
static void test_solo5_skip_absent_refuse(void **state)
{
	uint8_t eight[8] = { 0 };
	struct fmt_err e = { 0 };
	struct elfimg *img;
	struct manifest m;
	struct solo5_abi abi;
	bool hm = true, ha = true;
	size_t ml, len;

	(void)state;
	ml = gen_mft1(mft_buf, true, 0);
	struct seg s[] = {
		{ PT_NOTE, NULL, 0, 4 },
		{ PT_NOTE, eight, 8, 4 },
		{ PT_NOTE, eight, 8, 4 },
		{ PT_NOTE, mft_buf, ml, 4 },
	};
	len = gen_elf(img_buf, true, true, s, ARRAY_SIZE(s));
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_solo5(img, &m, &hm, &abi, &ha, &e), 0);
	assert_true(hm);
	assert_false(ha);
	assert_int_equal(m.n, 0);
	ukit_elfimg_close(img);

	/* No notes at all. */
	len = gen_elf(img_buf, false, true, s, 1);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_solo5(img, &m, &hm, &abi, &ha, &e), 0);
	assert_false(hm);
	assert_false(ha);
	ukit_elfimg_close(img);

	/* ELF32: opens (notes are readable), Solo5 lookup refused. */
	len = gen_elf(img_buf, false, false, s + 3, 1);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_info(img)->elfclass, 1);
	assert_int_equal(ukit_elfimg_solo5(img, &m, &hm, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "ELF32 file: Solo5 executables are "
			       "ELF64 (EI_CLASS 1, expected 2)"));
	assert_int_equal(e.off, 4);
	ukit_elfimg_close(img);

	/* ET_DYN */
	len = gen_elf(img_buf, false, true, s + 3, 1);
	le16_store(img_buf + 16, 3);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_solo5(img, &m, &hm, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "e_type 3 is not ET_EXEC (2)"));
	assert_int_equal(e.off, 16);
	ukit_elfimg_close(img);
}

/* Every note of a segment, with 4- and 8-byte alignment. */
static void test_notes_iterate(void **state)
{
	uint8_t seg4[256], seg8[256], d[20];
	size_t l4 = 0, l8 = 0, len;
	struct fmt_err e = { 0 };
	struct elfimg *img;
	struct elfimg_notes it;
	struct elfimg_note n;

	(void)state;
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)i;
	l4 += gen_note(seg4 + l4, true, "GNU", 4, 3, d, 20, 4);
	l4 += gen_note(seg4 + l4, true, "Xen", 4, 6, d, 5, 4);
	l4 += gen_note(seg4 + l4, true, "", 0, 9, d, 0, 4);
	l8 += gen_note(seg8 + l8, true, "GNU", 4, 5, d, 16, 8);
	l8 += gen_note(seg8 + l8, true, "LongerName", 11, 7, d, 3, 8);
	struct seg s[] = {
		{ PT_NOTE, seg4, l4, 4 },
		{ PT_LOAD, NULL, 0, 4 },
		{ PT_NOTE, seg8, l8, 8 },
	};
	len = gen_elf(img_buf, true, true, s, ARRAY_SIZE(s));
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	ukit_elfimg_notes_begin(img, ELFIMG_SEGMENT | ELFIMG_SECTION, &it);

	static const struct {
		size_t idx; bool first; const char *name; uint32_t type, descsz;
		uint64_t rel; unsigned align;
	} want[] = {
		{ 0, true, "GNU", 3, 20, 0, 4 },
		{ 0, false, "Xen", 6, 5, 36, 4 },
		{ 0, false, "", 9, 0, 60, 4 },
		{ 2, true, "GNU", 5, 16, 0, 8 },
		{ 2, false, "LongerName", 7, 3, 32, 8 },
	};
	uint64_t base0 = 64 + 3 * 56, base2 = base0 + ((l4 + 7) & ~7u);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(ukit_elfimg_notes_next(&it, &n, &e), 1);
		assert_int_equal(n.where, ELFIMG_SEGMENT);
		assert_int_equal(n.index, want[i].idx);
		assert_int_equal(n.first, want[i].first);
		assert_string_equal(n.name, want[i].name);
		assert_int_equal(n.type, want[i].type);
		assert_int_equal(n.descsz, want[i].descsz);
		assert_int_equal(n.align, want[i].align);
		assert_int_equal(n.offset, (want[i].idx ? base2 : base0) +
				 want[i].rel);
		if (n.descsz)
			assert_memory_equal(n.desc, d, n.descsz);
	}
	assert_int_equal(ukit_elfimg_notes_next(&it, &n, &e), 0);
	assert_int_equal(ukit_elfimg_notes_next(&it, &n, &e), 0);
	ukit_elfimg_close(img);
}

static void test_notes_hostile(void **state)
{
	static const struct {
		struct bad_case c;
		uint32_t namesz, descsz;
		size_t seglen;
		uint64_t align;
	} t[] = {
		{ { "namesz overflow", "phdr[0]: note name extends past end of "
		    "its container (namesz 0xfffffffc", 0 },
		  0xfffffffc, 0, 32, 4 },
		{ { "descsz overflow", "phdr[0]: note descriptor extends past "
		    "end of its container (descsz 0xffffffff", 0 },
		  4, 0xffffffff, 32, 4 },
		{ { "descsz past end", "(descsz 0x18: 0x28 > 0x20)", 0 },
		  4, 24, 32, 4 },
		{ { "padding by 8", "(descsz 0x8: 0x20 > 0x1c)", 0 },
		  6, 8, 28, 8 },
		{ { "tail", "4 bytes left after the last note", 16 },
		  4, 0, 20, 4 },
		{ { "alignment 16", "phdr[0]: note alignment 16, expected 4 or 8",
		    64 }, 4, 0, 16, 16 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		uint8_t note[64] = { 0 };
		struct fmt_err e = { 0 };
		struct elfimg *img;
		struct elfimg_notes it;
		struct elfimg_note n;
		int r;
		uint64_t base = (64 + 56 + 7) & ~7u;

		st32(note, t[i].namesz, false);
		st32(note + 4, t[i].descsz, false);
		memcpy(note + 12, "GNU", 4);
		struct seg s[] = { { PT_NOTE, note, t[i].seglen, t[i].align } };
		size_t len = gen_elf(img_buf, false, true, s, 1);

		assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img,
						 &e), 0);
		ukit_elfimg_notes_begin(img, ELFIMG_SEGMENT, &it);
		while ((r = ukit_elfimg_notes_next(&it, &n, &e)) == 1)
			;
		ukit_elfimg_notes_end(&it);
		ukit_elfimg_close(img);
		if (r != -1)
			fail_msg("%s: no error", t[i].c.what);
		if (strstr(e.msg, t[i].c.msg) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"",
				 t[i].c.what, e.msg, t[i].c.msg);
		if (e.off != (t[i].c.off == 64 ? 64 : base + t[i].c.off))
			fail_msg("%s: offset 0x%llx", t[i].c.what,
				 (unsigned long long)e.off);
	}
}

/*
 * Little-endian ELF64 with one PT_NOTE holding (notes) and section headers:
 * [0] null, [1] ".note.t" SHT_NOTE over the same bytes, [2] ".shstrtab".
 * Returns the size; (*secoff) the file offset of section header 1.
 */
static size_t gen_elf_sections(uint8_t *b, const uint8_t *notes, size_t nl,
			       uint64_t align, size_t *secoff)
{
	static const char strtab[] = "\0.note.t\0.shstrtab";
	struct seg s[] = { { PT_NOTE, notes, nl, align } };
	size_t len = gen_elf(b, false, true, s, 1), str, sh;
	uint64_t noff = le64_load(b + 64 + 8);

	str = len;
	memcpy(b + str, strtab, sizeof strtab);
	sh = (str + sizeof strtab + 7) & ~(size_t)7;
	memset(b + sh, 0, 3 * 64);
	le32_store(b + sh + 64, 1);                 /* sh_name ".note.t" */
	le32_store(b + sh + 64 + 4, SHT_NOTE);
	le64_store(b + sh + 64 + 24, noff);
	le64_store(b + sh + 64 + 32, nl);
	le64_store(b + sh + 64 + 48, align);
	le32_store(b + sh + 128, 9);                /* ".shstrtab" */
	le32_store(b + sh + 128 + 4, SHT_STRTAB);
	le64_store(b + sh + 128 + 24, str);
	le64_store(b + sh + 128 + 32, sizeof strtab);
	le64_store(b + 40, sh);
	le16_store(b + 60, 3);
	le16_store(b + 62, 2);
	*secoff = sh + 64;
	return sh + 3 * 64;
}

/* notes JSON: a note in a PT_NOTE and a section is listed once with both;
 * malformed descriptors give "error" content, not a failure. */
static void test_notes_json(void **state)
{
	uint8_t notes[512], d[64] = { 0 };
	size_t nl = 0, len, secoff;
	struct fmt_err e = { 0 };
	struct elfimg *img;
	json_t *j, *arr, *o;

	(void)state;
	/* GNU property with pr_datasz past the descriptor */
	le32_store(d, 0xc0000002);
	le32_store(d + 4, 0x100);
	nl += gen_note(notes + nl, false, "GNU", 4, 5, d, 16, 4);
	/* Xen GUEST_OS string, Xen ENTRY integer */
	nl += gen_note(notes + nl, false, "Xen", 4, 6, "Solo5", 6, 4);
	le64_store(d, 0x1000);
	nl += gen_note(notes + nl, false, "Xen", 4, 1, d, 8, 4);
	/* FDO metadata with duplicate keys: kept as text */
	nl += gen_note(notes + nl, false, "FDO", 4, 0xcafe1a7e,
		       "{\"a\":1,\"a\":2}", 14, 4);
	/* Solo5 ABI1 with a 4-byte descriptor */
	nl += gen_abi1(notes + nl, false, 1, 1, 4);
	/* An owner with a byte that is not UTF-8 */
	nl += gen_note(notes + nl, false, "x\xff", 3, 7, d, 0, 4);
	len = gen_elf_sections(img_buf, notes, nl, 4, &secoff);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_notes_json(img, &j, &e), 0);
	arr = json_object_get(j, "notes");
	assert_int_equal(json_array_size(arr), 6);
	o = json_array_get(arr, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		o, "segment"), "index")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		o, "section"), "name")), ".note.t");
	assert_non_null(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(json_object_get(o, "content"),
		"properties"), 0), "error")), "pr_datasz 0x100 past end"));
	o = json_object_get(json_array_get(arr, 1), "content");
	assert_string_equal(json_string_value(json_object_get(o, "value")),
			    "Solo5");
	o = json_object_get(json_array_get(arr, 2), "content");
	assert_int_equal(json_integer_value(json_object_get(o, "value")),
			 0x1000);
	o = json_object_get(json_array_get(arr, 3), "content");
	assert_string_equal(json_string_value(json_object_get(o, "text")),
			    "{\"a\":1,\"a\":2}");
	o = json_object_get(json_array_get(arr, 4), "content");
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")),
			       "ABI1 descriptor too short (4 < 8"));
	o = json_array_get(arr, 5);
	assert_string_equal(json_string_value(json_object_get(o, "owner")),
			    "x\xc3\xbf");
	json_decref(j);
	ukit_elfimg_close(img);

	/* The section moved past the end of the file. */
	le64_store(img_buf + secoff + 24, len - 8);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_notes_json(img, &j, &e), -1);
	assert_non_null(strstr(e.msg, "section[1]: SHT_NOTE extends past end "
			       "of file"));
	assert_int_equal(e.off, secoff);
	ukit_elfimg_close(img);
}

/* Extended numbering: e_shnum 0 takes the count from section 0's sh_size,
 * which is bounded by ELFIMG_MAX_SECTIONS and the file. */
static void test_open_extended_numbering(void **state)
{
	uint8_t notes[64];
	size_t nl, len, secoff, sh;
	struct fmt_err e = { 0 };
	struct elfimg *img;
	struct ukit_elfimg_shdr s;
	static const struct { uint64_t count; const char *msg; } t[] = {
		{ 1u << 20, "1048576 sections, more than the limit 65536" },
		{ 60000, "section header table extends past end of file" },
	};

	(void)state;
	nl = gen_abi1(notes, false, 1, 2, 16);
	len = gen_elf_sections(img_buf, notes, nl, 4, &secoff);
	sh = secoff - 64;
	/* e_shnum 0, sh_size 3: same file */
	le16_store(img_buf + 60, 0);
	le64_store(img_buf + sh + 32, 3);
	assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img, &e), 0);
	assert_int_equal(ukit_elfimg_info(img)->shnum, 3);
	assert_int_equal(ukit_elfimg_shdr(img, 1, &s, &e), 0);
	assert_string_equal(s.name, ".note.t");
	assert_int_equal(ukit_elfimg_shdr(img, 3, &s, &e), -1);
	ukit_elfimg_close(img);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		le64_store(img_buf + sh + 32, t[i].count);
		assert_int_equal(ukit_elfimg_open_mem(img_buf, len, "mem", &img,
						 &e), -1);
		if (strstr(e.msg, t[i].msg) == NULL)
			fail_msg("%zu: \"%s\" lacks \"%s\"", i, e.msg, t[i].msg);
	}
}

/*
 * The loader's reader (elfhdr.c), from a file: the same refusals for what
 * a loader reads, and no opinion on section headers, which loaders never
 * read (a damaged table does not stop it).
 */
static void test_elfhdr_from_file(void **state)
{
	static const struct {
		const char *what;
		size_t at;            /* patch offset */
		unsigned width;       /* bytes; 0: truncate to (val) */
		uint64_t val;
		int ret;              /* ukit_elfhdr_read() */
		const char *msg;      /* for -1 */
		uint64_t off;
	} t[] = {
		{ "valid", 0, 1, 0x7f, 1, NULL, 0 },
		{ "10 bytes: not ELF", 0, 0, 10, 0, NULL, 0 },
		{ "bad magic: not ELF", 3, 1, 'G', 0, NULL, 0 },
		{ "40 bytes", 0, 0, 40, -1,
		  "file too short for an ELF64 header (40 < 64", 0 },
		{ "class 3", 4, 1, 3, -1, "unknown ELF class 3", 4 },
		{ "data 0", 5, 1, 0, -1, "unknown ELF data encoding 0", 5 },
		{ "phentsize", 54, 2, 32, -1, "e_phentsize 32, expected 56", 54 },
		{ "PN_XNUM", 56, 2, 0xffff, -1, "e_phnum PN_XNUM", 56 },
		{ "phoff past end", 32, 8, 0xfff0, -1, "program header table "
		  "extends past end of file (0xfff0 + 3 * 56", 32 },
		{ "phoff overflow", 32, 8, UINT64_MAX - 8, -1,
		  "program header table extends past end", 32 },
		{ "segment past end", 64 + 2 * 56 + 8, 8, 0x7fff0, -1,
		  "phdr[2]: segment extends past end of file", 64 + 2 * 56 },
		{ "segment size overflow", 64 + 56 + 32, 8, UINT64_MAX, -1,
		  "phdr[1]: segment extends past end", 64 + 56 },
		{ "section table past end", 40, 8, 0x100000, 1, NULL, 0 },
		{ "section table cut off", 60, 2, 4000, 1, NULL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t ml = gen_mft1(mft_buf, false, 1);
		size_t al = gen_abi1(abi_buf, false, 1, 2, 16);
		struct seg s[] = {
			{ PT_NOTE, openbsd_note, 24, 4 },
			{ PT_NOTE, abi_buf, al, 4 },
			{ PT_NOTE, mft_buf, ml, 4 },
		};
		size_t len = gen_elf(img_buf, false, true, s, ARRAY_SIZE(s));
		struct fmt_err e = { 0 };
		struct elfhdr h;
		json_t *facts = NULL;
		int fd, r;

		if (t[i].width == 0)
			len = t[i].val;
		else if (t[i].width == 1)
			img_buf[t[i].at] = (uint8_t)t[i].val;
		else if (t[i].width == 2)
			le16_store(img_buf + t[i].at, (uint16_t)t[i].val);
		else
			le64_store(img_buf + t[i].at, t[i].val);
		fd = memfd_create("elf", MFD_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, img_buf, len), (ssize_t)len);
		r = ukit_elfhdr_read(fd, "mem", &h, &e);
		if (r != t[i].ret)
			fail_msg("%s: returned %d, expected %d (%s)", t[i].what,
				 r, t[i].ret, e.msg);
		if (r == 1) {
			assert_int_equal(h.phnum, 3);
			ukit_elfhdr_free(&h);
			/* what sign states and the verifier compares */
			assert_int_equal(ukit_solo5_facts(fd, "mem", &facts, &e), 0);
			assert_non_null(facts);
			assert_string_equal(json_string_value(json_object_get(
				json_object_get(facts, "abi"), "target")), "hvt");
			json_decref(facts);
		} else if (r < 0) {
			if (strstr(e.msg, t[i].msg) == NULL)
				fail_msg("%s: message \"%s\" lacks \"%s\"",
					 t[i].what, e.msg, t[i].msg);
			assert_int_equal(e.off, t[i].off);
		}
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_solo5_found_both_orders),
		cmocka_unit_test(test_solo5_tender_rule),
		cmocka_unit_test(test_open_hostile_headers),
		cmocka_unit_test(test_solo5_hostile_notes),
		cmocka_unit_test(test_solo5_skip_absent_refuse),
		cmocka_unit_test(test_elfhdr_from_file),
		cmocka_unit_test(test_notes_iterate),
		cmocka_unit_test(test_notes_hostile),
		cmocka_unit_test(test_notes_json),
		cmocka_unit_test(test_open_extended_numbering),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
