/*
 * multiboot.c: check a Multiboot kernel (see multiboot.h).
 *
 * Facts used (the Multiboot 0.6.96 and 2.0 specifications, and what GRUB
 * 2's loaders check): a Multiboot 1 header is 4-byte aligned in the first
 * 8192 bytes: magic 0x1BADB002, flags, checksum with magic + flags +
 * checksum == 0 (mod 2^32); flag bits 3..15 are requirements GRUB does
 * not meet; bit 16 (the "a.out kludge") adds header_addr, load_addr,
 * load_end_addr, bss_end_addr and entry_addr, by which GRUB loads the file
 * instead of by its ELF segments.  A Multiboot 2 header is 8-byte aligned
 * in the first 32768 bytes: magic 0xE85250D6, architecture (0: i386),
 * header_length, checksum, then 8-byte aligned tags (u16 type, u16 flags,
 * u32 size) ending with a type 0 size 8 tag; flags bit 0 marks a tag
 * optional.  GRUB loads ELF segments at their physical addresses, below
 * 4 GiB, and enters the kernel in 32-bit protected mode.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "multiboot.h"
#include "outfile.h"

#define MB1_MAGIC 0x1BADB002u
#define MB1_UNSUPPORTED 0x0000fff8u
#define MB1_AOUT_KLUDGE 0x00010000u
#define MB2_MAGIC 0xE85250D6u
#define EM_386_ 3
#define EM_X86_64_ 62
#define PT_LOAD_ 1
#define ET_EXEC_ 2
#define FOUR_GIB 0x100000000ull
#define HOLE_LO 0xA0000ull     /* legacy video memory and BIOS ROMs */
#define HOLE_HI 0x100000ull

struct src {
	int fd;                  /* or -1: (buf) */
	const uint8_t *buf;
	uint64_t size;
};

/* Read (len) bytes at (off), which must lie in the file. */
static int src_read(const struct src *s, void *out, size_t len, uint64_t off,
		    const char *what, struct fmt_err *e)
{
	ssize_t n;

	if (!in_bounds(off, len, s->size))
		return ukit_fmt_errf(e, off, "truncated kernel: %s (%zu bytes at "
				"0x%" PRIx64 ") ends past the end of the file "
				"(%" PRIu64 " bytes)", what, len, off, s->size);
	if (s->fd < 0) {
		memcpy(out, s->buf + off, len);
		return 0;
	}
	n = ukit_pread_full(s->fd, out, len, (off_t)off);
	if (n < 0)
		return ukit_fmt_errno(e, off, "read %s", what);
	if ((size_t)n != len)
		return ukit_fmt_errf(e, off, "truncated kernel: the file shrank "
				"while %s was read", what);
	return 0;
}

const char *ukit_mb_machine_name(unsigned m)
{
	switch (m) {
	case 3: return "i386";
	case 8: return "MIPS";
	case 20: return "PowerPC";
	case 21: return "PowerPC64";
	case 40: return "ARM";
	case 62: return "x86-64";
	case 183: return "AArch64";
	case 243: return "RISC-V";
	default: return NULL;
	}
}

struct seg {
	uint64_t off, filesz, vaddr, paddr, memsz;
};

/* The loaded range of an a.out-kludge header (Multiboot 1 or the
 * Multiboot 2 address tag): header at file offset (hoff), addresses at
 * (a) (header_addr, load_addr, load_end_addr, bss_end_addr). */
static int check_addrs(const struct src *s, const char *who, uint64_t hoff,
		       uint64_t aoff, const uint32_t a[4],
		       struct ukit_mb_kernel *k, struct fmt_err *e)
{
	uint64_t header_addr = a[0], load_addr = a[1], load_end = a[2],
		 bss_end = a[3], delta, foff, flen, hi;

	if (header_addr < load_addr)
		return ukit_fmt_errf(e, aoff, "%s: header_addr 0x%" PRIx64 " is "
				"below load_addr 0x%" PRIx64, who,
				header_addr, load_addr);
	delta = header_addr - load_addr;
	if (delta > hoff)
		return ukit_fmt_errf(e, aoff, "%s: header_addr - load_addr = 0x%"
				PRIx64 " puts the load start before the file "
				"(header at file offset 0x%" PRIx64 ")", who,
				delta, hoff);
	foff = hoff - delta;
	if (load_end == 0) {
		flen = s->size - foff;
	} else {
		if (load_end <= load_addr)
			return ukit_fmt_errf(e, aoff + 8, "%s: load_end_addr 0x%"
					PRIx64 " is not above load_addr 0x%"
					PRIx64, who, load_end, load_addr);
		flen = load_end - load_addr;
		if (flen > s->size - foff)
			return ukit_fmt_errf(e, aoff + 8, "%s: loads 0x%" PRIx64
					" bytes from file offset 0x%" PRIx64
					", past the end of the file (%" PRIu64
					" bytes)", who, flen, foff, s->size);
	}
	if (flen < hoff - foff + 12)
		return ukit_fmt_errf(e, aoff + 8, "%s: the loaded bytes (0x%" PRIx64
				"-0x%" PRIx64 ") do not hold the header", who,
				load_addr, load_addr + flen);
	hi = load_addr + flen;
	if (bss_end != 0) {
		if (bss_end < hi)
			return ukit_fmt_errf(e, aoff + 12, "%s: bss_end_addr 0x%"
					PRIx64 " is below the end of the loaded "
					"bytes 0x%" PRIx64, who, bss_end, hi);
		hi = bss_end;
	}
	if (hi > FOUR_GIB)
		return ukit_fmt_errf(e, aoff + 8, "%s: loads up to 0x%" PRIx64
				", past 4 GiB", who, hi);
	k->load_lo = load_addr;
	k->load_hi = hi;
	return 0;
}

/* The ELF segment that holds file offset (off), if any, must load it at
 * (addr): the header's addresses describe the same file as the ELF. */
static int check_agrees(const struct seg *sg, unsigned n, const char *who,
			uint64_t off, uint64_t addr, uint64_t aoff,
			struct fmt_err *e)
{
	for (unsigned i = 0; i < n; i++)
		if (off >= sg[i].off && off - sg[i].off < sg[i].filesz &&
		    sg[i].paddr + (off - sg[i].off) != addr)
			return ukit_fmt_errf(e, aoff, "%s: header_addr 0x%" PRIx64
					" but the ELF loads the header at 0x%"
					PRIx64 " (phdr[%u])", who, addr,
					sg[i].paddr + (off - sg[i].off), i);
	return 0;
}

static int check_range(uint64_t lo, uint64_t hi, const char *who,
		       uint64_t off, struct fmt_err *e)
{
	if (lo < HOLE_HI && hi > HOLE_LO)
		return ukit_fmt_errf(e, off, "%s loads at 0x%" PRIx64 "-0x%" PRIx64
				", over the legacy video and BIOS area "
				"0xa0000-0xfffff", who, lo, hi);
	return 0;
}

/* Find and check a Multiboot 1 header.  1 found, 0 none, -1 error. */
static int find_mb1(const struct src *s, const uint8_t *head, size_t hlen,
		    const struct seg *sg, unsigned nseg,
		    struct ukit_mb_kernel *k, struct fmt_err *bad,
		    struct fmt_err *e)
{
	uint64_t first = UINT64_MAX;
	uint32_t badsum = 0, badflags = 0;

	for (size_t o = 0; o + 12 <= hlen; o += 4) {
		uint32_t magic = le32_load(head + o), flags, sum;

		if (magic != MB1_MAGIC)
			continue;
		flags = le32_load(head + o + 4);
		sum = le32_load(head + o + 8);
		if ((uint32_t)(magic + flags + sum) != 0) {
			if (first == UINT64_MAX) {
				first = o;
				badsum = sum;
				badflags = flags;
			}
			continue;
		}
		k->mb_version = 1;
		k->hdr_off = o;
		k->mb_flags = flags;
		if (flags & MB1_UNSUPPORTED)
			return ukit_fmt_errf(e, o + 4, "Multiboot 1 header: flags "
					"0x%08" PRIx32 " require features GRUB "
					"does not provide (bits 0x%04" PRIx32 ")",
					flags, flags & MB1_UNSUPPORTED);
		if (flags & MB1_AOUT_KLUDGE) {
			uint32_t a[5];
			uint8_t raw[20];

			if (o + 32 > hlen)
				return ukit_fmt_errf(e, o, "truncated kernel: the "
						"Multiboot 1 header's address "
						"fields (0x%zx-0x%zx) pass the "
						"end of the file", o + 12, o + 32);
			memcpy(raw, head + o + 12, 20);
			for (int i = 0; i < 5; i++)
				a[i] = le32_load(raw + 4 * i);
			k->aout_kludge = true;
			if (check_addrs(s, "Multiboot 1 header", o, o + 12, a,
					k, e) < 0 ||
			    check_agrees(sg, nseg, "Multiboot 1 header", o,
					 a[0], o + 12, e) < 0 ||
			    check_range(k->load_lo, k->load_hi,
					"Multiboot 1 header", o + 12, e) < 0)
				return -1;
			if (a[4] < k->load_lo || a[4] >= k->load_hi)
				return ukit_fmt_errf(e, o + 28, "Multiboot 1 header:"
						" entry_addr 0x%" PRIx32 " is "
						"outside the loaded range 0x%"
						PRIx64 "-0x%" PRIx64, a[4],
						k->load_lo, k->load_hi);
			k->entry = a[4];
		}
		return 1;
	}
	if (first != UINT64_MAX)
		ukit_fmt_errf(bad, first, "Multiboot 1 magic with a bad checksum "
			 "(0x%08" PRIx32 " + 0x%08" PRIx32 " + 0x%08" PRIx32
			 " is not 0)", MB1_MAGIC, badflags, badsum);
	return 0;
}

/* Find and check a Multiboot 2 header.  1 found, 0 none, -1 error. */
static int find_mb2(const struct src *s, const uint8_t *head, size_t hlen,
		    const struct seg *sg, unsigned nseg,
		    struct ukit_mb_kernel *k, struct fmt_err *bad,
		    struct fmt_err *e)
{
	for (size_t o = 0; o + 16 <= hlen; o += 8) {
		uint32_t arch, len, sum;
		uint64_t t, end;
		bool have_end = false, have_addr = false;
		uint64_t entry = UINT64_MAX, entry_off = 0;

		if (le32_load(head + o) != MB2_MAGIC)
			continue;
		arch = le32_load(head + o + 4);
		len = le32_load(head + o + 8);
		sum = le32_load(head + o + 12);
		if ((uint32_t)(MB2_MAGIC + arch + len + sum) != 0) {
			if (bad->msg[0] == '\0')
				ukit_fmt_errf(bad, o, "Multiboot 2 magic with a "
					 "bad checksum (0x%08" PRIx32 " + 0x%08"
					 PRIx32 " + 0x%08" PRIx32 " + 0x%08"
					 PRIx32 " is not 0)", MB2_MAGIC, arch,
					 len, sum);
			continue;
		}
		if (arch != 0)
			return ukit_fmt_errf(e, o + 4, "Multiboot 2 header: "
					"architecture %" PRIu32 " is not i386 (0)",
					arch);
		if (len < 24 || len > hlen - o)
			return ukit_fmt_errf(e, o + 8, "Multiboot 2 header: "
					"header_length %" PRIu32 " outside 24..%zu "
					"(the bytes left in the first %u of the "
					"file)", len, hlen - o, UKIT_MB2_SEARCH);
		k->mb_version = 2;
		k->hdr_off = o;
		end = o + len;
		for (t = o + 16; t + 8 <= end; ) {
			uint16_t type = le16_load(head + t);
			uint16_t fl = le16_load(head + t + 2);
			uint32_t size = le32_load(head + t + 4);

			if (size < 8 || size > end - t)
				return ukit_fmt_errf(e, t + 4, "Multiboot 2 header: "
						"tag type %u: size %" PRIu32
						" outside 8..%" PRIu64, type,
						size, end - t);
			if (type == 0) {
				have_end = true;
				break;
			}
			switch (type) {
			case 2: {   /* address */
				uint32_t a[4];

				if (size < 24)
					return ukit_fmt_errf(e, t + 4, "Multiboot 2 "
							"header: address tag "
							"size %" PRIu32 " < 24",
							size);
				for (int i = 0; i < 4; i++)
					a[i] = le32_load(head + t + 8 + 4 * i);
				k->aout_kludge = true;
				have_addr = true;
				if (check_addrs(s, "Multiboot 2 address tag", o,
						t + 8, a, k, e) < 0 ||
				    check_agrees(sg, nseg, "Multiboot 2 address "
						 "tag", o, a[0], t + 8, e) < 0 ||
				    check_range(k->load_lo, k->load_hi,
						"Multiboot 2 address tag",
						t + 8, e) < 0)
					return -1;
				break;
			}
			case 3:     /* entry address */
				if (size < 12)
					return ukit_fmt_errf(e, t + 4, "Multiboot 2 "
							"header: entry tag size "
							"%" PRIu32 " < 12", size);
				entry = le32_load(head + t + 8);
				entry_off = t + 8;
				break;
			case 1: case 4: case 5: case 6: case 7: case 8:
			case 9: case 10:
				break;
			default:
				if (!(fl & 1))
					return ukit_fmt_errf(e, t, "Multiboot 2 "
							"header: required tag "
							"type %u is unknown to "
							"GRUB", type);
			}
			t += (size + 7u) & ~(uint64_t)7;
		}
		if (!have_end)
			return ukit_fmt_errf(e, o + 8, "Multiboot 2 header: no end "
					"tag within header_length %" PRIu32, len);
		if (entry != UINT64_MAX) {
			if (have_addr && (entry < k->load_lo ||
					  entry >= k->load_hi))
				return ukit_fmt_errf(e, entry_off, "Multiboot 2 "
						"header: entry_addr 0x%" PRIx64
						" is outside the loaded range 0x%"
						PRIx64 "-0x%" PRIx64, entry,
						k->load_lo, k->load_hi);
			if (!have_addr) {
				bool in = false;

				for (unsigned i = 0; i < nseg; i++)
					if (entry >= sg[i].paddr &&
					    entry - sg[i].paddr < sg[i].memsz)
						in = true;
				if (!in)
					return ukit_fmt_errf(e, entry_off, "Multiboot "
							"2 header: entry_addr 0x%"
							PRIx64 " is outside every "
							"PT_LOAD segment", entry);
			}
			k->entry = entry;
		}
		return 1;
	}
	return 0;
}

static int parse(const struct src *s, struct ukit_mb_kernel *out,
		 struct fmt_err *e)
{
	uint8_t head[UKIT_MB2_SEARCH], ph[64];
	size_t hlen = s->size < sizeof head ? (size_t)s->size : sizeof head;
	struct ukit_mb_kernel k = { 0 };
	struct fmt_err bad = { .off = FMT_NOOFF };   /* a magic, bad checksum */
	struct seg sg[UKIT_MB_MAX_PHDRS];
	uint64_t ez[UKIT_MB_MAX_PHDRS][2];   /* empty PT_LOADs: phdr, paddr */
	unsigned nseg = 0, nez = 0;
	uint64_t phoff, entry, lo = UINT64_MAX, hi = 0;
	unsigned phnum, phent, type, machine;
	bool is64;
	const char *mname;
	int r;

	if (s->size < 52)
		return ukit_fmt_errf(e, 0, "not an ELF file: %" PRIu64 " bytes",
				s->size);
	if (src_read(s, head, hlen, 0, "the first bytes", e) < 0)
		return -1;
	if (memcmp(head, "\177ELF", 4) != 0)
		return ukit_fmt_errf(e, 0, "not an ELF file (no \\177ELF magic): "
				"ukit-pack disk boots Multiboot ELF kernels");
	if (head[4] != 1 && head[4] != 2)
		return ukit_fmt_errf(e, 4, "unknown ELF class %u", head[4]);
	is64 = head[4] == 2;
	if (head[5] != 1)
		return ukit_fmt_errf(e, 5, "ELF data encoding %u is not "
				"little-endian: not an x86 kernel", head[5]);
	if (is64 && s->size < 64)
		return ukit_fmt_errf(e, 0, "truncated kernel: ELF64 header needs 64 "
				"bytes, the file has %" PRIu64, s->size);
	type = le16_load(head + 16);
	machine = le16_load(head + 18);
	mname = ukit_mb_machine_name(machine);
	if (machine != (is64 ? EM_X86_64_ : EM_386_))
		return ukit_fmt_errf(e, 18, "ELF%d machine %s (%u): ukit-pack disk "
				"boots x86 kernels (ELF32 i386 or ELF64 x86-64)",
				is64 ? 64 : 32, mname ? mname : "unknown",
				machine);
	if (type != ET_EXEC_)
		return ukit_fmt_errf(e, 16, "ELF type %u is not ET_EXEC (2): GRUB's "
				"multiboot loads executables", type);
	if (is64) {
		entry = le64_load(head + 24);
		phoff = le64_load(head + 32);
		phent = le16_load(head + 54);
		phnum = le16_load(head + 56);
	} else {
		entry = le32_load(head + 24);
		phoff = le32_load(head + 28);
		phent = le16_load(head + 42);
		phnum = le16_load(head + 44);
	}
	if (phnum == 0)
		return ukit_fmt_errf(e, is64 ? 56 : 44, "no program headers");
	if (phnum > UKIT_MB_MAX_PHDRS)
		return ukit_fmt_errf(e, is64 ? 56 : 44, "%u program headers: more "
				"than %u", phnum, UKIT_MB_MAX_PHDRS);
	if (phent != (is64 ? 56u : 32u))
		return ukit_fmt_errf(e, is64 ? 54 : 42, "e_phentsize %u is not %u",
				phent, is64 ? 56u : 32u);
	if (!in_bounds(phoff, (uint64_t)phnum * phent, s->size))
		return ukit_fmt_errf(e, phoff, "truncated kernel: program headers "
				"(%u at 0x%" PRIx64 ") end past the end of the "
				"file (%" PRIu64 " bytes)", phnum, phoff,
				s->size);
	for (unsigned i = 0; i < phnum; i++) {
		uint64_t at = phoff + (uint64_t)i * phent, end;
		struct seg g;

		if (src_read(s, ph, phent, at, "a program header", e) < 0)
			return -1;
		if (le32_load(ph) != PT_LOAD_)
			continue;
		if (is64) {
			g.off = le64_load(ph + 8);
			g.vaddr = le64_load(ph + 16);
			g.paddr = le64_load(ph + 24);
			g.filesz = le64_load(ph + 32);
			g.memsz = le64_load(ph + 40);
		} else {
			g.off = le32_load(ph + 4);
			g.vaddr = le32_load(ph + 8);
			g.paddr = le32_load(ph + 12);
			g.filesz = le32_load(ph + 16);
			g.memsz = le32_load(ph + 20);
		}
		if (g.memsz == 0) {
			ez[nez][0] = at;
			ez[nez++][1] = g.paddr;
			continue;
		}
		if (g.filesz > g.memsz)
			return ukit_fmt_errf(e, at, "phdr[%u]: p_filesz 0x%" PRIx64
					" > p_memsz 0x%" PRIx64, i, g.filesz,
					g.memsz);
		if (!in_bounds(g.off, g.filesz, s->size))
			return ukit_fmt_errf(e, at, "truncated kernel: phdr[%u]: "
					"segment at file offset 0x%" PRIx64
					" (0x%" PRIx64 " bytes) ends past the end "
					"of the file (%" PRIu64 " bytes)", i,
					g.off, g.filesz, s->size);
		if (ck_add(g.paddr, g.memsz, &end) || end > FOUR_GIB)
			return ukit_fmt_errf(e, at, "phdr[%u]: loads at physical "
					"0x%" PRIx64 " + 0x%" PRIx64 ", past 4 "
					"GiB: Multiboot loads below 4 GiB", i,
					g.paddr, g.memsz);
		if (ck_add(g.vaddr, g.memsz, &end))
			return ukit_fmt_errf(e, at, "phdr[%u]: p_vaddr 0x%" PRIx64
					" + p_memsz 0x%" PRIx64 " overflows", i,
					g.vaddr, g.memsz);
		for (unsigned j = 0; j < nseg; j++)
			if (g.paddr < sg[j].paddr + sg[j].memsz &&
			    sg[j].paddr < g.paddr + g.memsz)
				return ukit_fmt_errf(e, at, "phdr[%u] (0x%" PRIx64
						"-0x%" PRIx64 ") overlaps an "
						"earlier PT_LOAD (0x%" PRIx64
						"-0x%" PRIx64 ")", i, g.paddr,
						g.paddr + g.memsz, sg[j].paddr,
						sg[j].paddr + sg[j].memsz);
		if (check_range(g.paddr, g.paddr + g.memsz, "a PT_LOAD segment",
				at, e) < 0)
			return -1;
		sg[nseg++] = g;
		if (g.paddr < lo)
			lo = g.paddr;
		if (g.paddr + g.memsz > hi)
			hi = g.paddr + g.memsz;
	}
	if (nseg == 0)
		return ukit_fmt_errf(e, phoff, "no PT_LOAD segment with bytes to load");
	k.elf_class = is64 ? 64 : 32;
	k.machine = (uint16_t)machine;
	k.nload = nseg;
	k.load_lo = lo;
	k.load_hi = hi;
	k.entry = UINT64_MAX;
	for (unsigned i = 0; i < nseg; i++)
		if (entry >= sg[i].vaddr && entry - sg[i].vaddr < sg[i].memsz)
			k.entry = entry - sg[i].vaddr + sg[i].paddr;

	r = find_mb1(s, head, hlen < UKIT_MB1_SEARCH ? hlen : UKIT_MB1_SEARCH,
		     sg, nseg, &k, &bad, e);
	if (r < 0)
		return -1;
	if (r == 0) {
		k.load_lo = lo;
		k.load_hi = hi;
		r = find_mb2(s, head, hlen, sg, nseg, &k, &bad, e);
		if (r < 0)
			return -1;
		if (r == 0 && bad.msg[0] != '\0')
			return ukit_fmt_errf(e, bad.off, "no Multiboot header: %s",
					bad.msg);
		if (r == 0)
			return ukit_fmt_errf(e, 0, "no Multiboot header: no Multiboot "
					"1 header (magic 0x1BADB002) in the first "
					"%u bytes and no Multiboot 2 header (magic "
					"0xE85250D6) in the first %u",
					UKIT_MB1_SEARCH, UKIT_MB2_SEARCH);
	}
	if (k.entry == UINT64_MAX)
		return ukit_fmt_errf(e, 24, "entry point 0x%" PRIx64 " is outside "
				"every PT_LOAD segment", entry);
	for (unsigned i = 0; i < nez && !k.aout_kludge; i++)
		for (unsigned j = 0; j < nseg; j++) {
			if (ez[i][1] < sg[j].paddr ||
			    ez[i][1] - sg[j].paddr >= sg[j].memsz)
				continue;
			if (k.nempty == UKIT_MB_MAX_EMPTY)
				return ukit_fmt_errf(e, ez[i][0], "more than %u "
						"empty PT_LOAD segments inside "
						"others: GRUB refuses them "
						"(overlap detected)",
						UKIT_MB_MAX_EMPTY);
			k.empty_ph[k.nempty++] = ez[i][0];
			break;
		}
	*out = k;
	return 0;
}

int ukit_mb_parse(const uint8_t *buf, size_t len, struct ukit_mb_kernel *k,
		  struct fmt_err *e)
{
	struct src s = { .fd = -1, .buf = buf, .size = len };

	return parse(&s, k, e);
}

int ukit_mb_parse_fd(int fd, uint64_t size, struct ukit_mb_kernel *k,
		     struct fmt_err *e)
{
	struct src s = { .fd = fd, .size = size };

	return parse(&s, k, e);
}
