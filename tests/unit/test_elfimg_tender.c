/*
 * test_elfimg_tender.c: ukit_elfimg_open_tender(), an executable read as
 * the Solo5 tenders read it (tenders/common/elf.c), on an ELF64 image
 * built in memory (text PT_LOAD, ABI1 PT_NOTE, a two-entry section header
 * table at the end) and a table of damaged variants, each with the exact
 * error (or section table error) expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "elfimg.h"
#include "err.h"
#include "manifest.h"

#define PHOFF   64
#define NOTEOFF 0x100      /* ABI1 note: 20 + 16 bytes */
#define SHSTR   0x130      /* "\0.shstrtab\0" */
#define SHOFF   0x140      /* two section headers */
#define SIZE    (SHOFF + 2 * 64)

/* The intact image: PT_LOAD over the first page's bytes, PT_NOTE ABI1. */
static void gen(uint8_t *b)
{
	memset(b, 0, SIZE);
	memcpy(b, "\177ELF\2\1\1", 7);
	st16(b + 16, 2, false);          /* ET_EXEC */
	st16(b + 18, 62, false);         /* x86_64 */
	st32(b + 20, 1, false);
	st64(b + 24, 0x100000, false);
	st64(b + 32, PHOFF, false);
	st64(b + 40, SHOFF, false);
	st16(b + 52, 64, false);
	st16(b + 54, 56, false);
	st16(b + 56, 2, false);
	st16(b + 58, 64, false);
	st16(b + 60, 2, false);
	st16(b + 62, 1, false);
	/* phdr[0] PT_LOAD, phdr[1] PT_NOTE */
	st32(b + PHOFF, 1, false);
	st32(b + PHOFF + 4, 5, false);
	st64(b + PHOFF + 16, 0x100000, false);
	st64(b + PHOFF + 32, NOTEOFF, false);
	st64(b + PHOFF + 40, NOTEOFF, false);
	st64(b + PHOFF + 48, 0x1000, false);
	st32(b + PHOFF + 56, 4, false);
	st64(b + PHOFF + 56 + 8, NOTEOFF, false);
	st64(b + PHOFF + 56 + 32, 36, false);
	st64(b + PHOFF + 56 + 40, 36, false);
	st64(b + PHOFF + 56 + 48, 4, false);
	/* the ABI1 note: hvt, version 2 */
	st32(b + NOTEOFF, 6, false);
	st32(b + NOTEOFF + 4, 16, false);
	st32(b + NOTEOFF + 8, ABI1_NOTE_TYPE, false);
	memcpy(b + NOTEOFF + 12, "Solo5", 6);
	st32(b + NOTEOFF + 20, 1, false);
	st32(b + NOTEOFF + 24, 2, false);
	/* .shstrtab and its section header (index 1) */
	memcpy(b + SHSTR, "\0.shstrtab", 11);
	st32(b + SHOFF + 64, 1, false);
	st32(b + SHOFF + 64 + 4, 3, false);   /* SHT_STRTAB */
	st64(b + SHOFF + 64 + 24, SHSTR, false);
	st64(b + SHOFF + 64 + 32, 11, false);
}

enum want { OPEN_FAILS, SECTION_ERROR, SOLO5_FAILS, ABI_FOUND };

struct tcase {
	const char *name;
	void (*mutate)(uint8_t *b, size_t *len);
	enum want want;
	uint64_t off;           /* of the error, FMT_NOOFF for none */
	const char *msg;        /* exact */
};

static void m_none(uint8_t *b, size_t *len) { (void)b; (void)len; }
static void m_shoff_past(uint8_t *b, size_t *len) { (void)len; st64(b + 40, 0x10000, false); }
static void m_shentsize(uint8_t *b, size_t *len) { (void)len; st16(b + 58, 32, false); }
static void m_cut_table(uint8_t *b, size_t *len) { (void)b; *len = SHOFF + 100; }
static void m_cut_all(uint8_t *b, size_t *len) { (void)b; *len = SHOFF; }
static void m_shnum(uint8_t *b, size_t *len) { (void)len; st16(b + 60, 0xfff0, false); }
static void m_eiversion(uint8_t *b, size_t *len) { (void)len; b[6] = 0; }
static void m_osabi(uint8_t *b, size_t *len) { (void)len; b[7] = 9; }
static void m_arm(uint8_t *b, size_t *len) { (void)len; st16(b + 18, 40, false); }
static void m_riscv(uint8_t *b, size_t *len) { (void)len; st16(b + 18, 243, false); }
static void m_ppc64le(uint8_t *b, size_t *len) { (void)len; st16(b + 18, 21, false); }
static void m_empty_note(uint8_t *b, size_t *len) { (void)len; st64(b + PHOFF + 56 + 32, 0, false); }
static void m_note8(uint8_t *b, size_t *len) { (void)len; st64(b + PHOFF + 56 + 32, 8, false); }
static void m_note16(uint8_t *b, size_t *len) { (void)len; st64(b + PHOFF + 56 + 32, 16, false); }
static void m_phnum0(uint8_t *b, size_t *len) { (void)len; st16(b + 56, 0, false); }
static void m_phoff_past(uint8_t *b, size_t *len) { (void)len; st64(b + 32, SIZE - 8, false); }
static void m_short(uint8_t *b, size_t *len) { (void)b; *len = 40; }
static void m_mz(uint8_t *b, size_t *len) { memcpy(b, "MZ", 2); *len = 2; }
static void m_version(uint8_t *b, size_t *len) { (void)len; st32(b + 20, 0, false); }
static void m_note_off(uint8_t *b, size_t *len) { (void)len; st64(b + PHOFF + 56 + 8, SIZE - 10, false); }

static const struct tcase cases[] = {
	{ "intact", m_none, ABI_FOUND, FMT_NOOFF, NULL },
	{ "e_shoff past the end", m_shoff_past, SECTION_ERROR, 40,
	  "section header table starts past end of file (0x10000 + 0x40 > 0x1c0)" },
	{ "e_shentsize 32", m_shentsize, SECTION_ERROR, 58,
	  "e_shentsize 32, expected 64" },
	{ "cut in the section table", m_cut_table, SECTION_ERROR, 40,
	  "section header table extends past end of file (0x140 + 2 * 64 > 0x1a4)" },
	{ "cut at the section table", m_cut_all, SECTION_ERROR, 40,
	  "section header table starts past end of file (0x140 + 0x40 > 0x140)" },
	{ "e_shnum 0xfff0", m_shnum, SECTION_ERROR, 40,
	  "section header table extends past end of file (0x140 + 65520 * 64 > 0x1c0)" },
	{ "e_ident[EI_VERSION] 0", m_eiversion, SECTION_ERROR, 6,
	  "e_ident[EI_VERSION] 0, expected 1: the section headers are not read" },
	{ "EI_OSABI 9", m_osabi, ABI_FOUND, FMT_NOOFF, NULL },
	{ "ppc64le", m_ppc64le, ABI_FOUND, FMT_NOOFF, NULL },
	{ "arm", m_arm, SOLO5_FAILS, 18,
	  "e_machine 40 (arm): Solo5 builds for x86_64, aarch64 and ppc64le only" },
	{ "riscv", m_riscv, SOLO5_FAILS, 18,
	  "e_machine 243 (riscv): Solo5 builds for x86_64, aarch64 and ppc64le only" },
	{ "e_version 0", m_version, SOLO5_FAILS, 20, "e_version 0, expected 1" },
	{ "empty PT_NOTE", m_empty_note, SOLO5_FAILS, PHOFF + 56 + 32,
	  "phdr[1]: PT_NOTE of 0 bytes, too small for a note header (12): "
	  "a Solo5 tender refuses the executable" },
	{ "8-byte PT_NOTE", m_note8, SOLO5_FAILS, PHOFF + 56 + 32,
	  "phdr[1]: PT_NOTE of 8 bytes, too small for a note header (12): "
	  "a Solo5 tender refuses the executable" },
	{ "16-byte PT_NOTE: skipped, no ABI", m_note16, SECTION_ERROR + 10,
	  FMT_NOOFF, NULL },
	{ "e_phnum 0", m_phnum0, SOLO5_FAILS, 56, "no program headers" },
	{ "note header past the end", m_note_off, SOLO5_FAILS, SIZE - 10,
	  "phdr[1]: note header: read of 0x14 bytes extends past end of file "
	  "(0x1ca > 0x1c0)" },
	{ "program headers past the end", m_phoff_past, OPEN_FAILS, 32,
	  "program header table extends past end of file (0x1b8 + 2 * 56 > 0x1c0)" },
	{ "40 bytes", m_short, OPEN_FAILS, 0,
	  "file too short for an ELF64 header (40 < 64 bytes)" },
	{ "MZ", m_mz, OPEN_FAILS, 0, "not an ELF file (bad magic 4d 5a 00 00)" },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct tcase *c = &cases[k];
		uint8_t b[SIZE];
		size_t len = SIZE;
		struct fmt_err e = { 0 };
		struct elfimg *img = NULL;
		struct solo5_abi abi;
		const struct fmt_err *se;
		bool ha = false;
		int fd, r;

		gen(b);
		c->mutate(b, &len);
		fd = memfd_create("t", MFD_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, b, len), (ssize_t)len);
		r = ukit_elfimg_open_tender(fd, "x.elf", &img, &e);
		if (c->want == OPEN_FAILS) {
			assert_int_equal(r, -1);
			assert_string_equal(e.msg, c->msg);
			assert_int_equal(e.off, c->off);
			close(fd);
			continue;
		}
		assert_int_equal(r, 0);
		se = ukit_elfimg_section_error(img);
		if (c->want == SECTION_ERROR) {
			assert_non_null(se);
			assert_string_equal(se->msg, c->msg);
			assert_int_equal(se->off, c->off);
		} else {
			assert_null(se);
		}
		r = ukit_elfimg_solo5(img, NULL, NULL, &abi, &ha, &e);
		if (c->want == SOLO5_FAILS) {
			assert_int_equal(r, -1);
			assert_string_equal(e.msg, c->msg);
			assert_int_equal(e.off, c->off);
		} else if (c->want == SECTION_ERROR + 10) {
			assert_int_equal(r, 0);
			assert_false(ha);
		} else {
			/* the tender's view: the ABI whatever the sections */
			assert_int_equal(r, 0);
			assert_true(ha);
			assert_int_equal(abi.target, 1);
			assert_int_equal(abi.version, 2);
		}
		ukit_elfimg_close(img);
		close(fd);
	}
}

/* The strict open still refuses what the tender view forgives. */
static void test_strict_unchanged(void **state)
{
	uint8_t b[SIZE];
	struct fmt_err e = { 0 };
	struct elfimg *img = NULL;

	(void)state;
	gen(b);
	st64(b + 40, 0x10000, false);
	assert_int_equal(ukit_elfimg_open_mem(b, SIZE, "x.elf", &img, &e), -1);
	assert_string_equal(e.msg, "section header table starts past end of "
			    "file (0x10000 + 0x40 > 0x1c0)");
	gen(b);
	st16(b + 18, 40, false);   /* arm: no machine rule outside the view */
	assert_int_equal(ukit_elfimg_open_mem(b, SIZE, "x.elf", &img, &e), 0);
	assert_int_equal(ukit_elfimg_solo5_check(img, &e), 0);
	ukit_elfimg_close(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_strict_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
