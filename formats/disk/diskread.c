/*
 * diskread.c: a boot disk's GPT and FAT files, read through image.h (see
 * diskread.h).  Facts: the UEFI specification's GPT header (signature
 * "EFI PART", header size and CRC32 with its own field zeroed, entry
 * array LBA, count, size and CRC32) and Microsoft's FAT specification
 * (BPB fields, FAT12/16/32 decided by the count of clusters, 32-byte
 * directory entries, long-name entries with attribute 0x0f).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "bytes.h"
#include "diskread.h"

#define MAX_DIR_ENTRIES 65536u

static int rd(struct image *img, void *buf, size_t len, uint64_t off,
	      const char *what, struct fmt_err *e)
{
	if (!in_bounds(off, len, ukit_image_size(img)))
		return ukit_fmt_errf(e, off, "%s (%zu bytes at 0x%" PRIx64 ") ends "
				"past the end of the disk (%" PRIu64 " bytes)",
				what, len, off, ukit_image_size(img));
	return ukit_image_read(img, buf, len, off, e);
}

int ukit_gpt_read(struct image *img, struct ukit_gpt *g, struct fmt_err *e)
{
	uint8_t h[UKIT_SECTOR], *ent = NULL;
	uint64_t size = ukit_image_size(img), elba, bytes;
	uint32_t hsize, crc, num, esz;
	int rc = -1;

	if (size < 34 * UKIT_SECTOR)
		return 0;
	if (rd(img, h, sizeof h, UKIT_SECTOR, "GPT header", e) < 0)
		return -1;
	if (memcmp(h, "EFI PART", 8) != 0)
		return 0;
	memset(g, 0, sizeof *g);
	g->sectors = size / UKIT_SECTOR;
	hsize = le32_load(h + 12);
	if (hsize < 92 || hsize > UKIT_SECTOR)
		return ukit_fmt_errf(e, UKIT_SECTOR + 12, "GPT header size %" PRIu32
				" outside 92..512", hsize);
	crc = le32_load(h + 16);
	le32_store(h + 16, 0);
	if ((uint32_t)crc32(0, h, hsize) != crc)
		return ukit_fmt_errf(e, UKIT_SECTOR + 16, "GPT header CRC32 0x%08"
				PRIx32 " does not match its bytes (0x%08" PRIx32
				")", crc, (uint32_t)crc32(0, h, hsize));
	if (le64_load(h + 24) != 1)
		return ukit_fmt_errf(e, UKIT_SECTOR + 24, "GPT header at LBA 1 says "
				"it is at LBA %" PRIu64, le64_load(h + 24));
	memcpy(g->disk_guid, h + 56, 16);
	elba = le64_load(h + 72);
	num = le32_load(h + 80);
	esz = le32_load(h + 84);
	if (esz < 128 || esz > 4096 || (esz & (esz - 1)) != 0)
		return ukit_fmt_errf(e, UKIT_SECTOR + 84, "GPT entry size %" PRIu32
				" is not a power of two from 128 to 4096", esz);
	if (num == 0 || num > 4096 || (uint64_t)num * esz > (1u << 20))
		return ukit_fmt_errf(e, UKIT_SECTOR + 80, "GPT entry count %" PRIu32
				" outside 1..4096 (and 1 MiB of entries)", num);
	bytes = (uint64_t)num * esz;
	if (elba < 2 || elba > size / UKIT_SECTOR ||
	    !in_bounds(elba * UKIT_SECTOR, bytes, size))
		return ukit_fmt_errf(e, UKIT_SECTOR + 72, "GPT entries at LBA %"
				PRIu64 " (%" PRIu64 " bytes) outside the disk",
				elba, bytes);
	ent = malloc(bytes);
	if (ent == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (rd(img, ent, bytes, elba * UKIT_SECTOR, "GPT entries", e) < 0)
		goto out;
	if ((uint32_t)crc32(0, ent, (uInt)bytes) != le32_load(h + 88)) {
		ukit_fmt_errf(e, elba * UKIT_SECTOR, "GPT entries CRC32 0x%08"
			 PRIx32 " does not match their bytes (0x%08" PRIx32 ")",
			 le32_load(h + 88), (uint32_t)crc32(0, ent, (uInt)bytes));
		goto out;
	}
	for (uint32_t i = 0; i < num; i++) {
		const uint8_t *d = ent + (size_t)i * esz;
		static const uint8_t zero[16];
		struct ukit_gpt_part *p;
		uint64_t at = elba * UKIT_SECTOR + (uint64_t)i * esz;

		if (memcmp(d, zero, 16) == 0)
			continue;
		if (g->n == UKIT_GPT_MAX_PARTS) {
			ukit_fmt_errf(e, at, "more than %u GPT partitions",
				 UKIT_GPT_MAX_PARTS);
			goto out;
		}
		p = &g->p[g->n];
		memcpy(p->type, d, 16);
		memcpy(p->guid, d + 16, 16);
		p->first = le64_load(d + 32);
		p->last = le64_load(d + 40);
		p->attrs = le64_load(d + 48);
		if (p->first > p->last || p->last >= g->sectors) {
			ukit_fmt_errf(e, at + 32, "GPT partition %" PRIu32 ": LBA %"
				 PRIu64 "-%" PRIu64 " outside the disk (%" PRIu64
				 " sectors)", i + 1, p->first, p->last,
				 g->sectors);
			goto out;
		}
		for (int c = 0; c < 36; c++) {
			uint16_t u = le16_load(d + 56 + 2 * c);

			if (u == 0)
				break;
			p->name[c] = u >= 0x20 && u < 0x7f ? (char)u : '?';
		}
		g->index[g->n++] = i + 1;
	}
	rc = 1;
out:
	free(ent);
	return rc;
}

struct fat {
	struct image *img;
	uint64_t off, len;
	uint32_t bps, spc, cs;       /* bytes per sector, sectors and bytes
					per cluster */
	uint64_t fat_off, fat_bytes, root_off, root_bytes, data_off;
	uint32_t nclus, root_clus;
	int type;                    /* 12, 16, 32 */
};

static int fat_open(struct fat *f, struct image *img, uint64_t off,
		    uint64_t len, struct fmt_err *e)
{
	uint8_t b[UKIT_SECTOR];
	uint32_t rsv, nfats, rootent, tot, fatsz, rootsec, datastart;

	memset(f, 0, sizeof *f);
	f->img = img;
	f->off = off;
	f->len = len;
	if (len < UKIT_SECTOR)
		return ukit_fmt_errf(e, off, "FAT: partition of %" PRIu64 " bytes",
				len);
	if (rd(img, b, sizeof b, off, "FAT boot sector", e) < 0)
		return -1;
	f->bps = le16_load(b + 11);
	f->spc = b[13];
	rsv = le16_load(b + 14);
	nfats = b[16];
	rootent = le16_load(b + 17);
	tot = le16_load(b + 19) ? le16_load(b + 19) : le32_load(b + 32);
	fatsz = le16_load(b + 22) ? le16_load(b + 22) : le32_load(b + 36);
	if (f->bps < 512 || f->bps > 4096 || (f->bps & (f->bps - 1)) != 0)
		return ukit_fmt_errf(e, off + 11, "FAT: %" PRIu32 " bytes per sector",
				f->bps);
	if (f->spc == 0 || (f->spc & (f->spc - 1)) != 0)
		return ukit_fmt_errf(e, off + 13, "FAT: %" PRIu32 " sectors per "
				"cluster", f->spc);
	if (rsv == 0 || nfats == 0 || fatsz == 0)
		return ukit_fmt_errf(e, off + 14, "FAT: %" PRIu32 " reserved sectors, "
				"%" PRIu32 " FATs of %" PRIu32 " sectors", rsv,
				nfats, fatsz);
	if ((uint64_t)tot * f->bps > len)
		return ukit_fmt_errf(e, off + 19, "FAT: %" PRIu32 " sectors of %"
				PRIu32 " bytes do not fit the partition (%"
				PRIu64 " bytes)", tot, f->bps, len);
	f->cs = f->bps * f->spc;
	rootsec = (rootent * 32u + f->bps - 1) / f->bps;
	if ((uint64_t)rsv + (uint64_t)nfats * fatsz + rootsec >= tot)
		return ukit_fmt_errf(e, off + 14, "FAT: no room for data (%" PRIu32
				" sectors)", tot);
	datastart = rsv + nfats * fatsz + rootsec;
	f->nclus = (tot - datastart) / f->spc;
	f->type = f->nclus < 4085 ? 12 : f->nclus < 65525 ? 16 : 32;
	f->fat_off = off + (uint64_t)rsv * f->bps;
	f->fat_bytes = (uint64_t)fatsz * f->bps;
	f->root_off = f->fat_off + (uint64_t)nfats * f->fat_bytes;
	f->root_bytes = (uint64_t)rootsec * f->bps;
	f->data_off = off + (uint64_t)datastart * f->bps;
	if (f->fat_bytes * 8 < ((uint64_t)f->nclus + 2) * (unsigned)f->type)
		return ukit_fmt_errf(e, off + 22, "FAT%d: a FAT of %" PRIu64 " bytes "
				"cannot map %" PRIu32 " clusters", f->type,
				f->fat_bytes, f->nclus);
	if (f->type == 32) {
		f->root_clus = le32_load(b + 44);
		if (rootent != 0 || f->root_clus < 2 ||
		    f->root_clus >= f->nclus + 2)
			return ukit_fmt_errf(e, off + 44, "FAT32: root cluster %"
					PRIu32 " outside 2..%" PRIu32,
					f->root_clus, f->nclus + 1);
	} else if (rootent == 0) {
		return ukit_fmt_errf(e, off + 17, "FAT%d: no root directory entries",
				f->type);
	}
	return 0;
}

/* The cluster after (c): 1 and (*next), 0 at the end of the chain, -1. */
static int fat_next(const struct fat *f, uint32_t c, uint32_t *next,
		    struct fmt_err *e)
{
	uint8_t b[4];
	uint64_t at;
	uint32_t v, eoc;

	if (f->type == 12) {
		at = c + c / 2;
		if (rd(f->img, b, 2, f->fat_off + at, "FAT entry", e) < 0)
			return -1;
		v = le16_load(b);
		v = c & 1 ? v >> 4 : v & 0xfff;
		eoc = 0xff8;
	} else if (f->type == 16) {
		at = (uint64_t)c * 2;
		if (rd(f->img, b, 2, f->fat_off + at, "FAT entry", e) < 0)
			return -1;
		v = le16_load(b);
		eoc = 0xfff8;
	} else {
		at = (uint64_t)c * 4;
		if (rd(f->img, b, 4, f->fat_off + at, "FAT entry", e) < 0)
			return -1;
		v = le32_load(b) & 0x0fffffff;
		eoc = 0x0ffffff8;
	}
	if (v >= eoc)
		return 0;
	if (v < 2 || v >= f->nclus + 2)
		return ukit_fmt_errf(e, f->fat_off + at, "FAT%d: cluster %" PRIu32
				" is followed by %" PRIu32 ", outside 2..%"
				PRIu32, f->type, c, v, f->nclus + 1);
	*next = v;
	return 1;
}

static uint64_t clus_off(const struct fat *f, uint32_t c)
{
	return f->data_off + (uint64_t)(c - 2) * f->cs;
}

/* "kernel" -> "KERNEL     "; -1 when it is no 8.3 name. */
static int short_name(const char *s, size_t n, char out[11])
{
	size_t i = 0, j = 0;

	memset(out, ' ', 11);
	for (; i < n && s[i] != '.'; i++) {
		if (j == 8)
			return -1;
		out[j++] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	}
	if (i < n) {
		i++;
		for (j = 8; i < n; i++) {
			if (j == 11 || s[i] == '.')
				return -1;
			out[j++] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32
					  : s[i]);
		}
	}
	return 0;
}

/* Look (name) up in the directory at cluster (c) (0: the FAT12/16 root).
 * 1 and (*ent) (32 bytes), 0 absent, -1. */
static int dir_find(const struct fat *f, uint32_t c, const char name[11],
		    uint8_t ent[32], struct fmt_err *e)
{
	uint64_t at, end;
	unsigned seen = 0;
	int r;

	if (c == 0) {
		at = f->root_off;
		end = f->root_off + f->root_bytes;
	} else {
		at = clus_off(f, c);
		end = at + f->cs;
	}
	for (;;) {
		for (; at < end; at += 32) {
			if (++seen > MAX_DIR_ENTRIES)
				return ukit_fmt_errf(e, at, "FAT: a directory of more "
						"than %u entries", MAX_DIR_ENTRIES);
			if (rd(f->img, ent, 32, at, "FAT directory entry",
			       e) < 0)
				return -1;
			if (ent[0] == 0)
				return 0;
			if (ent[0] == 0xe5 || ent[11] == 0x0f ||
			    (ent[11] & 0x08))
				continue;
			if (memcmp(ent, name, 11) == 0)
				return 1;
		}
		if (c == 0)
			return 0;
		r = fat_next(f, c, &c, e);
		if (r <= 0)
			return r;
		at = clus_off(f, c);
		end = at + f->cs;
	}
}

int ukit_fat_read(struct image *img, uint64_t off, uint64_t len,
		  const char *path, uint64_t max, uint8_t **buf,
		  size_t *size, struct fmt_err *e)
{
	struct fat f;
	uint8_t ent[32], *b;
	char name[11];
	uint32_t c, fsize;
	uint64_t got = 0, steps = 0;
	const char *s = path;
	int r;

	if (fat_open(&f, img, off, len, e) < 0)
		return -1;
	c = f.type == 32 ? f.root_clus : 0;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);

		if (short_name(s, n, name) < 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an 8.3 name", path);
		r = dir_find(&f, c, name, ent, e);
		if (r <= 0)
			return r;
		c = (uint32_t)le16_load(ent + 26) |
			(f.type == 32 ? (uint32_t)le16_load(ent + 20) << 16 : 0);
		if (slash == NULL)
			break;
		if (!(ent[11] & 0x10))
			return 0;
		if (c < 2 || c >= f.nclus + 2)
			return ukit_fmt_errf(e, FMT_NOOFF, "FAT: directory %.*s at "
					"cluster %" PRIu32 " outside 2..%" PRIu32,
					(int)n, s, c, f.nclus + 1);
		s = slash + 1;
	}
	if (ent[11] & 0x10)
		return 0;
	fsize = le32_load(ent + 28);
	if (fsize > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "FAT: %s is %" PRIu32 " bytes, more "
				"than the %" PRIu64 " read", path, fsize, max);
	b = malloc((size_t)fsize + 1);
	if (b == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	while (got < fsize) {
		size_t n = fsize - got < f.cs ? (size_t)(fsize - got) : f.cs;

		if (c < 2 || c >= f.nclus + 2 || ++steps > f.nclus) {
			ukit_fmt_errf(e, FMT_NOOFF, "FAT: %s: cluster chain broken at "
				 "cluster %" PRIu32 " after %" PRIu64 " of %"
				 PRIu32 " bytes", path, c, got, fsize);
			goto fail;
		}
		if (rd(img, b + got, n, clus_off(&f, c), "FAT file data",
		       e) < 0)
			goto fail;
		got += n;
		if (got < fsize) {
			r = fat_next(&f, c, &c, e);
			if (r < 0)
				goto fail;
			if (r == 0) {
				ukit_fmt_errf(e, FMT_NOOFF, "FAT: %s: the cluster "
					 "chain ends after %" PRIu64 " of %"
					 PRIu32 " bytes", path, got, fsize);
				goto fail;
			}
		}
	}
	b[fsize] = 0;
	*buf = b;
	*size = fsize;
	return 1;
fail:
	free(b);
	return -1;
}
