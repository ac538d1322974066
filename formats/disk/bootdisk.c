/*
 * bootdisk.c: GPT, protective MBR, derived GUIDs and GRUB i386-pc image
 * patching (see bootdisk.h).
 *
 * Facts used: the UEFI specification (GPT header and entries, protective
 * MBR: one partition of type 0xEE from LBA 1), and GRUB 2's i386-pc
 * images: boot.img keeps the LBA of the first core.img sector as a 64-bit
 * little-endian number at 0x5c, the boot drive (0xff: the one the BIOS
 * passes in DL) at 0x64 and, at 0x66, a 2-byte jump that skips the check
 * for BIOSes passing a wrong drive (grub-install turns it into two NOPs on
 * hard disks); core.img's first sector (diskboot.img) ends with a block
 * list, entries of { u64 start sector, u16 sector count, u16 segment }
 * growing down from 0x1f4 and ended by a zero count, that grub-mkimage
 * fills with the count of the sectors after the first and segment 0x820;
 * the installer sets the start.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "io.h"
#include "bootdisk.h"
#include "bytes.h"
#include "outfile.h"

#define BOOT_KERNEL_SECTOR 0x5c
#define BOOT_DRIVE 0x64
#define BOOT_DRIVE_CHECK 0x66
#define BOOT_CODE_LEN 440
#define BLOCKLIST 0x1f4
#define DISKBOOT_SEGMENT 0x0820

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int ukit_bootdisk_layout(uint64_t core_bytes, uint64_t esp_bytes,
			 uint64_t size, struct ukit_bootdisk_layout *out,
			 struct fmt_err *e)
{
	struct ukit_bootdisk_layout l = { 0 };
	uint64_t lim = UINT64_C(1) << 50, min;

	if (core_bytes > lim || esp_bytes > lim)
		return ukit_fmt_errf(e, FMT_NOOFF, "boot files too large (%" PRIu64
				" bytes)", core_bytes + esp_bytes);
	l.esp_lba = UKIT_GPT_ALIGN;
	l.esp_index = 1;
	if (core_bytes > 0) {
		l.bios_lba = UKIT_GPT_ALIGN;
		l.bios_sectors = round_up((core_bytes + UKIT_SECTOR - 1) /
					  UKIT_SECTOR, UKIT_GPT_ALIGN);
		l.esp_lba = l.bios_lba + l.bios_sectors;
		l.esp_index = 2;
	}
	l.esp_sectors = round_up((esp_bytes + UKIT_SECTOR - 1) / UKIT_SECTOR,
				 UKIT_GPT_ALIGN);
	if (l.esp_sectors == 0)
		l.esp_sectors = UKIT_GPT_ALIGN;
	/* the backup entries and header fit in the last MiB */
	min = l.esp_lba + l.esp_sectors + UKIT_GPT_ALIGN;
	if (size == 0) {
		l.sectors = min;
	} else {
		if (size % UKIT_SECTOR != 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "disk size %" PRIu64
					" is not a multiple of 512", size);
		if (size / UKIT_SECTOR < min)
			return ukit_fmt_errf(e, FMT_NOOFF, "disk size %" PRIu64
					" is below the %" PRIu64 " bytes this "
					"disk needs", size, min * UKIT_SECTOR);
		if (size > lim)
			return ukit_fmt_errf(e, FMT_NOOFF, "disk size %" PRIu64
					" is above %" PRIu64, size, lim);
		l.sectors = size / UKIT_SECTOR;
	}
	*out = l;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* text order of the 16 bytes in on-disk order: the first three fields
 * are little-endian */
static const uint8_t guid_order[16] = {
	3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15,
};

int ukit_guid_parse(const char *s, uint8_t out[16])
{
	uint8_t t[16];
	size_t j = 0;

	if (strlen(s) != 36)
		return -1;
	for (size_t i = 0; i < 36; ) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			i++;
			continue;
		}
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		t[j++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	for (int i = 0; i < 16; i++)
		out[guid_order[i]] = t[i];
	return 0;
}

void ukit_guid_format(const uint8_t g[16], char out[37])
{
	size_t n = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		n += (size_t)snprintf(out + n, 3, "%02X", g[guid_order[i]]);
	}
	out[n] = '\0';
}

int ukit_guid_derive(const uint8_t seed[32], const char *label,
		     uint8_t out[16], struct fmt_err *e)
{
	uint8_t md[EVP_MAX_MD_SIZE], t[16];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, "ukit-guid\0", 10) != 1 ||
	    EVP_DigestUpdate(c, seed, 32) != 1 ||
	    EVP_DigestUpdate(c, label, strlen(label)) != 1 ||
	    EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
		EVP_MD_CTX_free(c);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "SHA-256");
	}
	EVP_MD_CTX_free(c);
	memcpy(t, md, 16);
	t[6] = (uint8_t)((t[6] & 0x0f) | 0x80);    /* version 8 */
	t[8] = (uint8_t)((t[8] & 0x3f) | 0x80);    /* variant 10 */
	for (int i = 0; i < 16; i++)
		out[guid_order[i]] = t[i];
	return 0;
}

static void gpt_header(uint8_t *h, uint64_t sectors, const uint8_t guid[16],
		       bool primary, uint32_t entries_crc)
{
	memset(h, 0, UKIT_SECTOR);
	memcpy(h, "EFI PART", 8);
	le32_store(h + 8, 0x00010000);
	le32_store(h + 12, 92);
	le64_store(h + 24, primary ? 1 : sectors - 1);
	le64_store(h + 32, primary ? sectors - 1 : 1);
	le64_store(h + 40, 2 + UKIT_GPT_TABLE_SECTORS);
	le64_store(h + 48, sectors - 2 - UKIT_GPT_TABLE_SECTORS);
	memcpy(h + 56, guid, 16);
	le64_store(h + 72, primary ? 2 : sectors - 1 - UKIT_GPT_TABLE_SECTORS);
	le32_store(h + 80, UKIT_GPT_ENTRIES);
	le32_store(h + 84, UKIT_GPT_ENTRY_SIZE);
	le32_store(h + 88, entries_crc);
	le32_store(h + 16, (uint32_t)crc32(0, h, 92));
}

int ukit_gpt_write(int fd, const char *path, uint64_t sectors,
		   const uint8_t disk_guid[16], const struct ukit_gpt_part *p,
		   unsigned n, const uint8_t *boot_code, struct fmt_err *e)
{
	uint8_t ent[UKIT_GPT_TABLE_SECTORS * UKIT_SECTOR];
	uint8_t mbr[UKIT_SECTOR], hdr[UKIT_SECTOR];
	uint64_t ent_bytes = sizeof ent;
	uint32_t crc;

	(void)path;
	if (n > UKIT_GPT_ENTRIES ||
	    sectors < 2 * (2 + UKIT_GPT_TABLE_SECTORS))
		return ukit_fmt_errf(e, FMT_NOOFF, "GPT: %u partitions on %" PRIu64
				" sectors", n, sectors);
	memset(ent, 0, sizeof ent);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *d = ent + (size_t)i * UKIT_GPT_ENTRY_SIZE;

		if (p[i].first < 2 + UKIT_GPT_TABLE_SECTORS ||
		    p[i].last < p[i].first ||
		    p[i].last > sectors - 2 - UKIT_GPT_TABLE_SECTORS)
			return ukit_fmt_errf(e, FMT_NOOFF, "GPT: partition %u "
					"(LBA %" PRIu64 "-%" PRIu64 ") outside "
					"the usable sectors", i + 1,
					p[i].first, p[i].last);
		memcpy(d, p[i].type, 16);
		memcpy(d + 16, p[i].guid, 16);
		le64_store(d + 32, p[i].first);
		le64_store(d + 40, p[i].last);
		le64_store(d + 48, p[i].attrs);
		for (size_t c = 0; c < 36 && p[i].name[c] != '\0'; c++)
			le16_store(d + 56 + 2 * c, (uint8_t)p[i].name[c]);
	}
	crc = (uint32_t)crc32(0, ent, (uInt)ent_bytes);

	memset(mbr, 0, sizeof mbr);
	if (boot_code != NULL)
		memcpy(mbr, boot_code, BOOT_CODE_LEN);
	mbr[446 + 1] = 0x00;       /* CHS of LBA 1: head 0, sector 2 */
	mbr[446 + 2] = 0x02;
	mbr[446 + 4] = 0xee;
	mbr[446 + 5] = 0xff;
	mbr[446 + 6] = 0xff;
	mbr[446 + 7] = 0xff;
	le32_store(mbr + 446 + 8, 1);
	le32_store(mbr + 446 + 12, sectors - 1 > 0xffffffffu ? 0xffffffffu
		   : (uint32_t)(sectors - 1));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (ukit_pwrite_full(fd, mbr, sizeof mbr, 0) < 0)
		return ukit_fmt_errno(e, 0, "write the protective MBR");
	gpt_header(hdr, sectors, disk_guid, true, crc);
	if (ukit_pwrite_full(fd, hdr, sizeof hdr, UKIT_SECTOR) < 0 ||
	    ukit_pwrite_full(fd, ent, sizeof ent, 2 * UKIT_SECTOR) < 0)
		return ukit_fmt_errno(e, UKIT_SECTOR, "write the GPT");
	gpt_header(hdr, sectors, disk_guid, false, crc);
	if (ukit_pwrite_full(fd, ent, sizeof ent, (sectors - 1 -
		UKIT_GPT_TABLE_SECTORS) * UKIT_SECTOR) < 0 ||
	    ukit_pwrite_full(fd, hdr, sizeof hdr, (sectors - 1) * UKIT_SECTOR) < 0)
		return ukit_fmt_errno(e, (sectors - 1) * UKIT_SECTOR,
				 "write the backup GPT");
	return 0;
}

int ukit_grub_pc_patch(uint8_t *boot, size_t boot_len, uint8_t *core,
		       size_t core_len, uint64_t core_lba, struct fmt_err *e)
{
	uint64_t n;

	if (boot_len != UKIT_SECTOR || boot[510] != 0x55 || boot[511] != 0xaa)
		return ukit_fmt_errf(e, FMT_NOOFF, "boot.img: %zu bytes without the "
				"0x55 0xaa signature: not GRUB's i386-pc "
				"boot.img", boot_len);
	if (boot[BOOT_DRIVE] != 0xff ||
	    (boot[BOOT_DRIVE_CHECK] != 0xeb && boot[BOOT_DRIVE_CHECK] != 0x90))
		return ukit_fmt_errf(e, BOOT_DRIVE, "boot.img: boot drive 0x%02x, "
				"drive check 0x%02x: not GRUB 2's boot.img",
				boot[BOOT_DRIVE], boot[BOOT_DRIVE_CHECK]);
	if (core_len < 2 * UKIT_SECTOR || core_len % UKIT_SECTOR != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "core.img: %zu bytes: not whole "
				"sectors past the first", core_len);
	n = core_len / UKIT_SECTOR;
	if (le16_load(core + BLOCKLIST + 10) != DISKBOOT_SEGMENT ||
	    le16_load(core + BLOCKLIST - 12 + 8) != 0)
		return ukit_fmt_errf(e, BLOCKLIST, "core.img: the first sector has "
				"no diskboot block list (segment 0x%04x)",
				le16_load(core + BLOCKLIST + 10));
	if (n - 1 > 0xffff)
		return ukit_fmt_errf(e, FMT_NOOFF, "core.img: %" PRIu64 " sectors: "
				"more than one block list entry holds", n);
	le64_store(boot + BOOT_KERNEL_SECTOR, core_lba);
	boot[BOOT_DRIVE_CHECK] = 0x90;
	boot[BOOT_DRIVE_CHECK + 1] = 0x90;
	le64_store(core + BLOCKLIST, core_lba + 1);
	le16_store(core + BLOCKLIST + 8, (uint16_t)(n - 1));
	return 0;
}

/* The dependencies of (name) (nlen bytes) in moddep.lst: its line's text
 * after the colon.  1 and (*deps, *dlen) or 0 if no line names it. */
static int moddep_find(const char *lst, size_t len, const char *name,
		       size_t nlen, const char **deps, size_t *dlen)
{
	for (size_t i = 0; i < len; ) {
		const char *nl = memchr(lst + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - lst) : len;

		if (end - i > nlen && memcmp(lst + i, name, nlen) == 0 &&
		    lst[i + nlen] == ':') {
			*deps = lst + i + nlen + 1;
			*dlen = end - i - nlen - 1;
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

struct moddep_walk {
	const char *lst;
	size_t len;
	char (*names)[UKIT_GRUB_MODNAME];
	unsigned n;
	const char *stack[UKIT_GRUB_MAX_MODS];
	size_t stack_len[UKIT_GRUB_MAX_MODS];
	unsigned depth;
	struct fmt_err *e;
};

static int moddep_visit(struct moddep_walk *w, const char *name, size_t nlen)
{
	const char *deps;
	size_t dlen;

	if (nlen == 0 || nlen >= UKIT_GRUB_MODNAME)
		return ukit_fmt_errf(w->e, FMT_NOOFF, "module name '%.*s': "
				"not 1-%d bytes", (int)(nlen > 64 ? 64 : nlen),
				name, UKIT_GRUB_MODNAME - 1);
	for (unsigned i = 0; i < w->n; i++)
		if (strlen(w->names[i]) == nlen &&
		    memcmp(w->names[i], name, nlen) == 0)
			return 0;
	for (unsigned i = 0; i < w->depth; i++)
		if (w->stack_len[i] == nlen &&
		    memcmp(w->stack[i], name, nlen) == 0)
			return ukit_fmt_errf(w->e, FMT_NOOFF, "module %.*s "
					"depends on itself", (int)nlen, name);
	if (!moddep_find(w->lst, w->len, name, nlen, &deps, &dlen))
		return ukit_fmt_errf(w->e, FMT_NOOFF, "module %.*s has no "
				"line", (int)nlen, name);
	if (w->depth == UKIT_GRUB_MAX_MODS || w->n == UKIT_GRUB_MAX_MODS)
		return ukit_fmt_errf(w->e, FMT_NOOFF, "module %.*s: more than "
				"%d modules", (int)nlen, name,
				UKIT_GRUB_MAX_MODS);
	w->stack[w->depth] = name;
	w->stack_len[w->depth] = nlen;
	w->depth++;
	for (size_t i = 0; i < dlen; ) {
		size_t j;

		while (i < dlen && (deps[i] == ' ' || deps[i] == '\t' ||
				    deps[i] == '\r'))
			i++;
		for (j = i; j < dlen && deps[j] != ' ' && deps[j] != '\t' &&
		     deps[j] != '\r'; j++)
			;
		if (j > i && moddep_visit(w, deps + i, j - i) < 0)
			return -1;
		i = j;
	}
	w->depth--;
	if (w->n == UKIT_GRUB_MAX_MODS)
		return ukit_fmt_errf(w->e, FMT_NOOFF, "module %.*s: more than "
				"%d modules", (int)nlen, name,
				UKIT_GRUB_MAX_MODS);
	memcpy(w->names[w->n], name, nlen);
	w->names[w->n][nlen] = '\0';
	w->n++;
	return 0;
}

int ukit_grub_moddep_order(const char *lst, size_t len,
			   const char *const *roots, unsigned nroots,
			   char names[][UKIT_GRUB_MODNAME], unsigned *n,
			   struct fmt_err *e)
{
	struct moddep_walk w = {
		.lst = lst, .len = len, .names = names, .e = e,
	};

	if (memchr(lst, '\0', len) != NULL)
		return ukit_fmt_errf(e, (uint64_t)((const char *)memchr(lst,
				'\0', len) - lst), "a NUL byte: not GRUB's "
				"moddep.lst");
	for (unsigned i = 0; i < nroots; i++)
		if (moddep_visit(&w, roots[i], strlen(roots[i])) < 0)
			return -1;
	*n = w.n;
	return 0;
}

int ukit_fat_root_file(const uint8_t *fs, size_t len, const char name[11],
		       uint64_t *sector, uint64_t *size, struct fmt_err *e)
{
	uint64_t spc, rsv, nfats, rootents, fatsz, first_data, dir, dir_len;
	uint32_t clus;

	if (len < UKIT_SECTOR || fs[510] != 0x55 || fs[511] != 0xaa)
		return ukit_fmt_errf(e, 0, "FAT: no boot sector signature");
	if (le16_load(fs + 11) != UKIT_SECTOR)
		return ukit_fmt_errf(e, 11, "FAT: %u bytes per sector, not 512",
				le16_load(fs + 11));
	spc = fs[13];
	rsv = le16_load(fs + 14);
	nfats = fs[16];
	rootents = le16_load(fs + 17);
	fatsz = le16_load(fs + 22);
	if (fatsz == 0)
		fatsz = le32_load(fs + 36);
	if (spc == 0 || (spc & (spc - 1)) != 0 || rsv == 0 || nfats == 0 ||
	    fatsz == 0)
		return ukit_fmt_errf(e, 13, "FAT: %" PRIu64 " sectors per "
				"cluster, %" PRIu64 " reserved, %" PRIu64
				" FATs of %" PRIu64 " sectors", spc, rsv,
				nfats, fatsz);
	first_data = rsv + nfats * fatsz + (rootents * 32 + UKIT_SECTOR - 1) /
		UKIT_SECTOR;
	if (rootents != 0) {                    /* FAT12/16: a fixed area */
		dir = (rsv + nfats * fatsz) * UKIT_SECTOR;
		dir_len = rootents * 32;
	} else {                                /* FAT32: the root's cluster */
		clus = le32_load(fs + 44);
		if (clus < 2)
			return ukit_fmt_errf(e, 44, "FAT: root cluster %u",
					clus);
		dir = (first_data + (uint64_t)(clus - 2) * spc) * UKIT_SECTOR;
		dir_len = spc * UKIT_SECTOR;
	}
	if (dir > len || dir_len > len - dir)
		return ukit_fmt_errf(e, FMT_NOOFF, "FAT: root directory at 0x%"
				PRIx64 " past the %zu bytes read", dir, len);
	for (uint64_t o = dir; o < dir + dir_len; o += 32) {
		const uint8_t *d = fs + o;

		if (d[0] == 0)
			break;
		if (d[0] == 0xe5 || d[11] == 0x0f || (d[11] & 0x18) != 0 ||
		    memcmp(d, name, 11) != 0)
			continue;
		clus = (uint32_t)le16_load(d + 26) |
			(uint32_t)le16_load(d + 20) << 16;
		if (clus < 2)
			return ukit_fmt_errf(e, o, "FAT: %.11s starts at cluster "
					"%u", name, clus);
		*sector = first_data + (uint64_t)(clus - 2) * spc;
		*size = le32_load(d + 28);
		return 1;
	}
	return 0;
}
