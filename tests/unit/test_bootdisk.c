/*
 * test_bootdisk.c: boot disk bytes: GUID text and derivation, the layout,
 * the GPT and protective MBR (CRCs, both copies), GRUB i386-pc patching,
 * and the Multiboot check on hand-made kernels with exact errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "io.h"
#include "bootdisk.h"
#include "bytes.h"
#include "err.h"
#include "multiboot.h"
#include "outfile.h"

static void test_guid_text(void **state)
{
	static const uint8_t esp[16] = {
		0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
		0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
	};
	uint8_t g[16];
	char s[37];

	(void)state;
	assert_int_equal(ukit_guid_parse(UKIT_GPT_TYPE_ESP, g), 0);
	assert_memory_equal(g, esp, 16);
	ukit_guid_format(g, s);
	assert_string_equal(s, UKIT_GPT_TYPE_ESP);
	assert_int_equal(ukit_guid_parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
					 g), 0);
	assert_memory_equal(g, esp, 16);
	assert_int_equal(ukit_guid_parse("C12A7328F81F-11D2-BA4B-00A0C93EC93B0",
					 g), -1);
	assert_int_equal(ukit_guid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93", g),
			 -1);
	assert_int_equal(ukit_guid_parse("G12A7328-F81F-11D2-BA4B-00A0C93EC93B",
					 g), -1);
}

static void test_guid_derive(void **state)
{
	uint8_t seed[32] = { 1, 2, 3 }, a[16], b[16], c[16];
	struct fmt_err e = { 0 };
	char s[37];

	(void)state;
	assert_int_equal(ukit_guid_derive(seed, "esp", a, &e), 0);
	assert_int_equal(ukit_guid_derive(seed, "esp", b, &e), 0);
	assert_memory_equal(a, b, 16);
	assert_int_equal(ukit_guid_derive(seed, "disk", c, &e), 0);
	assert_memory_not_equal(a, c, 16);
	seed[31] = 1;
	assert_int_equal(ukit_guid_derive(seed, "esp", b, &e), 0);
	assert_memory_not_equal(a, b, 16);
	ukit_guid_format(a, s);
	assert_int_equal(s[14], '8');                    /* version 8 */
	assert_non_null(strchr("89AB", s[19]));          /* variant 10 */
}

static void test_layout(void **state)
{
	struct ukit_bootdisk_layout l;
	struct fmt_err e = { 0 };

	(void)state;
	assert_int_equal(ukit_bootdisk_layout(140800, 3u << 20, 0, &l, &e), 0);
	assert_int_equal(l.bios_lba, 2048);
	assert_int_equal(l.bios_sectors, 2048);
	assert_int_equal(l.esp_lba, 4096);
	assert_int_equal(l.esp_sectors, 6144);
	assert_int_equal(l.esp_index, 2);
	assert_int_equal(l.sectors, 4096 + 6144 + 2048);
	assert_int_equal(ukit_bootdisk_layout(0, 1, 0, &l, &e), 0);
	assert_int_equal(l.bios_sectors, 0);
	assert_int_equal(l.esp_lba, 2048);
	assert_int_equal(l.esp_sectors, 2048);
	assert_int_equal(l.esp_index, 1);
	assert_int_equal(l.sectors, 6144);
	assert_int_equal(ukit_bootdisk_layout(0, 1, 64u << 20, &l, &e), 0);
	assert_int_equal(l.sectors, 131072);
	assert_int_equal(ukit_bootdisk_layout(0, 1, 6144 * 512 - 512, &l, &e),
			 -1);
	assert_string_equal(e.msg, "disk size 3145216 is below the 3145728 "
			    "bytes this disk needs");
	assert_int_equal(ukit_bootdisk_layout(0, 1, 4000000 + 1, &l, &e), -1);
	assert_string_equal(e.msg, "disk size 4000001 is not a multiple of 512");
}

static void test_gpt(void **state)
{
	char path[] = "/tmp/test_bootdisk.XXXXXX";
	int fd = mkstemp(path);
	uint64_t n = 8192;
	uint8_t *d = calloc(n, 512), code[440], g[16];
	struct ukit_gpt_part p[1] = { { .first = 2048, .last = 6143 } };
	struct fmt_err e = { 0 };
	uint8_t *h, *bh, hdr[92];

	(void)state;
	assert_true(fd >= 0 && d != NULL);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)(n * 512)), 0);
	memset(code, 0xcc, sizeof code);
	ukit_guid_parse(UKIT_GPT_TYPE_ESP, p[0].type);
	memset(p[0].guid, 0x11, 16);
	strcpy(p[0].name, "EFI system");
	memset(g, 0x22, 16);
	assert_int_equal(ukit_gpt_write(fd, path, n, g, p, 1, code, &e), 0);
	assert_int_equal(ukit_pread_full(fd, d, n * 512, 0), (ssize_t)(n * 512));
	/* protective MBR */
	assert_memory_equal(d, code, 440);
	assert_int_equal(d[446 + 4], 0xee);
	assert_int_equal(le32_load(d + 446 + 8), 1);
	assert_int_equal(le32_load(d + 446 + 12), n - 1);
	assert_int_equal(d[510], 0x55);
	assert_int_equal(d[511], 0xaa);
	/* primary header and its CRCs */
	h = d + 512;
	assert_memory_equal(h, "EFI PART", 8);
	memcpy(hdr, h, 92);
	le32_store(hdr + 16, 0);
	assert_int_equal(le32_load(h + 16), (uint32_t)crc32(0, hdr, 92));
	assert_int_equal(le32_load(h + 88),
			 (uint32_t)crc32(0, d + 1024, 128 * 128));
	assert_int_equal(le64_load(h + 24), 1);
	assert_int_equal(le64_load(h + 32), n - 1);
	assert_int_equal(le64_load(h + 40), 34);
	assert_int_equal(le64_load(h + 48), n - 34);
	assert_memory_equal(h + 56, g, 16);
	/* the entry */
	assert_memory_equal(d + 1024, p[0].type, 16);
	assert_int_equal(le64_load(d + 1024 + 32), 2048);
	assert_int_equal(le64_load(d + 1024 + 40), 6143);
	assert_int_equal(le16_load(d + 1024 + 56), 'E');
	/* backup: entries then header at the end, pointing back */
	bh = d + (n - 1) * 512;
	assert_memory_equal(bh, "EFI PART", 8);
	assert_int_equal(le64_load(bh + 24), n - 1);
	assert_int_equal(le64_load(bh + 32), 1);
	assert_int_equal(le64_load(bh + 72), n - 33);
	assert_memory_equal(d + (n - 33) * 512, d + 1024, 128 * 128);
	/* a partition outside the usable sectors is refused */
	p[0].last = n - 2;
	assert_int_equal(ukit_gpt_write(fd, path, n, g, p, 1, NULL, &e), -1);
	assert_string_equal(e.msg, "GPT: partition 1 (LBA 2048-8190) outside "
			    "the usable sectors");
	close(fd);
	free(d);
}

static void test_grub_pc_patch(void **state)
{
	uint8_t boot[512] = { 0 }, core[3 * 512] = { 0 };
	struct fmt_err e = { 0 };

	(void)state;
	boot[0x64] = 0xff;
	boot[0x66] = 0xeb;
	boot[0x67] = 0x05;
	boot[510] = 0x55;
	boot[511] = 0xaa;
	le64_store(core + 0x1f4, 2);
	le16_store(core + 0x1fc, 2);
	le16_store(core + 0x1fe, 0x820);
	assert_int_equal(ukit_grub_pc_patch(boot, 512, core, sizeof core, 2048,
					    &e), 0);
	assert_int_equal(le64_load(boot + 0x5c), 2048);
	assert_int_equal(boot[0x66], 0x90);
	assert_int_equal(boot[0x67], 0x90);
	assert_int_equal(le64_load(core + 0x1f4), 2049);
	assert_int_equal(le16_load(core + 0x1fc), 2);
	assert_int_equal(le16_load(core + 0x1fe), 0x820);
	boot[511] = 0;
	assert_int_equal(ukit_grub_pc_patch(boot, 512, core, sizeof core, 2048,
					    &e), -1);
	assert_string_equal(e.msg, "boot.img: 512 bytes without the 0x55 0xaa "
			    "signature: not GRUB's i386-pc boot.img");
	boot[511] = 0xaa;
	le16_store(core + 0x1fe, 0);
	assert_int_equal(ukit_grub_pc_patch(boot, 512, core, sizeof core, 2048,
					    &e), -1);
	assert_string_equal(e.msg, "core.img: the first sector has no diskboot "
			    "block list (segment 0x0000)");
	assert_int_equal(ukit_grub_pc_patch(boot, 512, core, 700, 2048, &e), -1);
}

static void test_grub_moddep(void **state)
{
	static const char lst[] =
		"relocator: mmap\n"
		"multiboot: relocator boot net\n"
		"net: priority_queue boot\n"
		"boot:\n"
		"mmap: boot\n"
		"priority_queue:\n"
		"fat: fshelp\n"
		"fshelp:\n"
		"loop: loop2\n"
		"loop2: loop\n";
	static const char *const roots[] = { "multiboot", "fat" };
	static const char *const bad[] = { "loop" };
	static const char *const gone[] = { "net", "video" };
	char names[UKIT_GRUB_MAX_MODS][UKIT_GRUB_MODNAME];
	const char *want[] = { "boot", "mmap", "relocator", "priority_queue",
			       "net", "multiboot", "fshelp", "fat" };
	struct fmt_err e = { 0 };
	unsigned n = 0;

	(void)state;
	assert_int_equal(ukit_grub_moddep_order(lst, sizeof lst - 1, roots, 2,
						names, &n, &e), 0);
	assert_int_equal(n, 8);
	for (unsigned i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
	assert_int_equal(ukit_grub_moddep_order(lst, sizeof lst - 1, bad, 1,
						names, &n, &e), -1);
	assert_string_equal(e.msg, "module loop depends on itself");
	assert_int_equal(ukit_grub_moddep_order(lst, sizeof lst - 1, gone, 2,
						names, &n, &e), -1);
	assert_string_equal(e.msg, "module video has no line");
	/* "boo" is not "boot": whole names only */
	assert_int_equal(ukit_grub_moddep_order("boot:\n", 6,
		(const char *const[]){ "boo" }, 1, names, &n, &e), -1);
	assert_string_equal(e.msg, "module boo has no line");
}

static void test_fat_root_file(void **state)
{
	static uint8_t fs[8 * 512];
	struct fmt_err e = { 0 };
	uint64_t sector = 0, size = 0;
	uint8_t *d = fs + 3 * 512;            /* root directory */

	(void)state;
	memset(fs, 0, sizeof fs);
	le16_store(fs + 11, 512);
	fs[13] = 2;                           /* sectors per cluster */
	le16_store(fs + 14, 1);               /* reserved */
	fs[16] = 2;                           /* FATs */
	le16_store(fs + 17, 16);              /* root entries: 1 sector */
	le16_store(fs + 22, 1);               /* sectors per FAT */
	fs[510] = 0x55;
	fs[511] = 0xaa;
	memcpy(d, "KERNEL     ", 11);         /* deleted: skipped */
	d[0] = 0xe5;
	memcpy(d + 32, "Bk\0e\0r\0n\0e\0", 11);  /* a long-name entry */
	d[32 + 11] = 0x0f;
	memcpy(d + 64, "KERNEL     ", 11);
	le16_store(d + 64 + 26, 5);
	le32_store(d + 64 + 28, 1000);
	assert_int_equal(ukit_fat_root_file(fs, sizeof fs, "KERNEL     ",
					    &sector, &size, &e), 1);
	/* data from sector 1 + 2 * 1 + 1 = 4; cluster 5 is 3 clusters on */
	assert_int_equal(sector, 4 + 3 * 2);
	assert_int_equal(size, 1000);
	assert_int_equal(ukit_fat_root_file(fs, sizeof fs, "KERNEL  CFG",
					    &sector, &size, &e), 0);
	assert_int_equal(ukit_fat_root_file(fs, 3 * 512 + 100, "KERNEL     ",
					    &sector, &size, &e), -1);
	assert_string_equal(e.msg, "FAT: root directory at 0x600 past the 1636 "
			    "bytes read");
	le16_store(fs + 11, 4096);
	assert_int_equal(ukit_fat_root_file(fs, sizeof fs, "KERNEL     ",
					    &sector, &size, &e), -1);
	assert_string_equal(e.msg, "FAT: 4096 bytes per sector, not 512");
	le16_store(fs + 11, 512);
	fs[13] = 3;
	assert_int_equal(ukit_fat_root_file(fs, sizeof fs, "KERNEL     ",
					    &sector, &size, &e), -1);
}

/* A minimal ELF32 i386 kernel: one PT_LOAD of the whole file at 1 MiB,
 * a Multiboot 1 header at 0x60, entry at 0x100070. */
static size_t mini(uint8_t *b, size_t cap)
{
	size_t len = 0x200;

	assert_true(cap >= len);
	memset(b, 0, len);
	memcpy(b, "\177ELF\1\1\1", 7);
	le16_store(b + 16, 2);
	le16_store(b + 18, 3);
	le32_store(b + 20, 1);
	le32_store(b + 24, 0x100070);
	le32_store(b + 28, 52);
	le16_store(b + 40, 52);
	le16_store(b + 42, 32);
	le16_store(b + 44, 1);
	le32_store(b + 52, 1);                 /* PT_LOAD */
	le32_store(b + 52 + 4, 0);
	le32_store(b + 52 + 8, 0x100000);
	le32_store(b + 52 + 12, 0x100000);
	le32_store(b + 52 + 16, (uint32_t)len);
	le32_store(b + 52 + 20, (uint32_t)len + 0x1000);
	le32_store(b + 0x60, 0x1BADB002);
	le32_store(b + 0x64, 3);
	le32_store(b + 0x68, (uint32_t)-(0x1BADB002 + 3));
	return len;
}

static void test_multiboot(void **state)
{
	uint8_t b[0x200];
	size_t len = mini(b, sizeof b);
	struct ukit_mb_kernel k;
	struct fmt_err e = { 0 };
	static const struct {
		uint32_t off, val;
		unsigned width;      /* 1, 2 or 4 bytes */
		size_t len;          /* 0: keep */
		uint64_t eoff;
		const char *msg;
	} bad[] = {
		{ 0x68, 0, 4, 0, 0x60, "no Multiboot header: Multiboot 1 magic "
		  "with a bad checksum (0x1badb002 + 0x00000003 + 0x00000000 "
		  "is not 0)" },
		{ 0x60, 0, 4, 0, 0, "no Multiboot header: no Multiboot 1 header "
		  "(magic 0x1BADB002) in the first 8192 bytes and no Multiboot "
		  "2 header (magic 0xE85250D6) in the first 32768" },
		{ 18, 183, 2, 0, 18, "ELF32 machine AArch64 (183): ukit-pack "
		  "disk boots x86 kernels (ELF32 i386 or ELF64 x86-64)" },
		{ 4, 3, 1, 0, 4, "unknown ELF class 3" },
		{ 28, 0x1f0, 4, 0, 0x1f0, "truncated kernel: program headers "
		  "(1 at 0x1f0) end past the end of the file (512 bytes)" },
		{ 44, 0, 2, 0, 44, "no program headers" },
		{ 44, 300, 2, 0, 44, "300 program headers: more than 256" },
		{ 42, 40, 2, 0, 42, "e_phentsize 40 is not 32" },
		{ 52, 6, 4, 0, 52, "no PT_LOAD segment with bytes to load" },
		{ 24, 0x200000, 4, 0, 24, "entry point 0x200000 is outside every "
		  "PT_LOAD segment" },
		{ 52 + 16, 0x2000, 4, 0, 52, "phdr[0]: p_filesz 0x2000 > p_memsz "
		  "0x1200" },
		{ 0, 0x7f, 1, 0x100, 52, "truncated kernel: phdr[0]: segment at "
		  "file offset 0x0 (0x200 bytes) ends past the end of the file "
		  "(256 bytes)" },
		{ 0, 0x7f, 1, 20, 0, "not an ELF file: 20 bytes" },
		{ 0x64, 0x10003, 4, 0, 0x60, NULL },  /* checksum fixed below */
	};

	(void)state;
	assert_int_equal(ukit_mb_parse(b, len, &k, &e), 0);
	assert_int_equal(k.mb_version, 1);
	assert_int_equal(k.hdr_off, 0x60);
	assert_int_equal(k.elf_class, 32);
	assert_int_equal(k.entry, 0x100070);
	assert_int_equal(k.load_lo, 0x100000);
	assert_int_equal(k.load_hi, 0x101200);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t l = mini(b, sizeof b);

		if (bad[i].width == 1)
			b[bad[i].off] = (uint8_t)bad[i].val;
		else if (bad[i].width == 2)
			le16_store(b + bad[i].off, (uint16_t)bad[i].val);
		else
			le32_store(b + bad[i].off, bad[i].val);
		if (bad[i].len)
			l = bad[i].len;
		if (bad[i].msg == NULL) {
			/* the a.out kludge with its address fields all 0:
			 * header_addr 0 where the ELF loads it at 0x100060 */
			le32_store(b + 0x68, (uint32_t)-(0x1BADB002 + 0x10003));
			assert_int_equal(ukit_mb_parse(b, l, &k, &e), -1);
			assert_string_equal(e.msg, "Multiboot 1 header: "
					    "header_addr 0x0 but the ELF loads "
					    "the header at 0x100060 (phdr[0])");
			assert_int_equal(e.off, 0x6c);
			continue;
		}
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_mb_parse(b, l, &k, &e), -1);
		assert_string_equal(e.msg, bad[i].msg);
		assert_int_equal(e.off, bad[i].eoff);
	}
}

/*
 * Empty PT_LOADs inside another PT_LOAD (Unikraft's tls_load), which
 * GRUB 2.06 refuses ("overlap detected"): their program headers are
 * named, one at the end of a segment or outside is not, nor more than
 * UKIT_MB_MAX_EMPTY taken.
 */
static void test_multiboot_empty_load(void **state)
{
	uint8_t b[0x200];
	size_t len = mini(b, sizeof b);
	struct ukit_mb_kernel k;
	struct fmt_err e = { 0 };
	const uint32_t ph = 0x80;
	const uint32_t at[] = { 0x100800, 0x101200, 0x100000, 0x90000 };

	(void)state;
	memmove(b + ph, b + 52, 32);           /* phdr[0] moved to 0x80 */
	memset(b + 52, 0, 0x60 - 52);
	le32_store(b + 28, ph);
	for (unsigned i = 0; i < 4; i++) {
		memset(b + ph + 32 * (i + 1), 0, 32);
		le32_store(b + ph + 32 * (i + 1), 1);
		le32_store(b + ph + 32 * (i + 1) + 8, at[i]);
		le32_store(b + ph + 32 * (i + 1) + 12, at[i]);
	}
	le16_store(b + 44, 5);
	assert_int_equal(ukit_mb_parse(b, len, &k, &e), 0);
	assert_int_equal(k.nload, 1);
	assert_int_equal(k.nempty, 2);          /* 0x100800 and 0x100000 */
	assert_int_equal(k.empty_ph[0], ph + 32);
	assert_int_equal(k.empty_ph[1], ph + 96);
	/* nine inside: refused, at the ninth's program header */
	for (unsigned i = 1; i < 10; i++) {
		memset(b + ph + 32 * i, 0, 32);
		le32_store(b + ph + 32 * i, 1);
		le32_store(b + ph + 32 * i + 12, 0x100000 + 0x10 * i);
	}
	le16_store(b + 44, 10);
	assert_int_equal(ukit_mb_parse(b, len, &k, &e), -1);
	assert_string_equal(e.msg, "more than 8 empty PT_LOAD segments inside "
			    "others: GRUB refuses them (overlap detected)");
	assert_int_equal(e.off, ph + 32 * 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guid_text),
		cmocka_unit_test(test_guid_derive),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_gpt),
		cmocka_unit_test(test_grub_pc_patch),
		cmocka_unit_test(test_grub_moddep),
		cmocka_unit_test(test_fat_root_file),
		cmocka_unit_test(test_multiboot),
		cmocka_unit_test(test_multiboot_empty_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
