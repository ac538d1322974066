/*
 * qcow2_check.c: read-only qcow2 consistency check.
 *
 * Rebuilds the reference count of every host cluster from the structures
 * that point at it (header, L1 and L2 tables, data, compressed data,
 * refcount table and blocks, snapshot table and snapshot L1/L2 tables) and
 * compares it with the stored refcounts, classifying differences as
 * qemu-img check does: stored lower than the references is a corruption,
 * higher a leak.  On top of that it names overlaps (a cluster used as two
 * different things), checks the COPIED flags, and inflates every compressed
 * cluster of the active layer.  Trusts nothing: every offset is compared
 * with the file size before it is read; memory is bounded by
 * QCOW2_CHECK_MAX_CLUSTERS (3 bytes per host cluster), the refcount table
 * limit and a few cluster buffers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"
#include "bytes.h"
#include "qcow2.h"

enum owner {
	O_NONE = 0, O_HEADER, O_L1, O_L2, O_DATA, O_COMPRESSED, O_REFTABLE,
	O_REFBLOCK, O_SNAPTABLE, O_BITMAPDIR, O_BITMAP,
};
#define O_KIND_MASK  0x0f
#define O_COPIED_SET 0x10   /* an active reference with COPIED */
#define O_COPIED_CLR 0x20   /* an active reference without COPIED */

static const char *const owner_name[] = {
	[O_NONE] = "nothing", [O_HEADER] = "the header",
	[O_L1] = "an L1 table", [O_L2] = "an L2 table",
	[O_DATA] = "guest data", [O_COMPRESSED] = "compressed data",
	[O_REFTABLE] = "the refcount table",
	[O_REFBLOCK] = "a refcount block",
	[O_SNAPTABLE] = "the snapshot table",
	[O_BITMAPDIR] = "the bitmap directory",
	[O_BITMAP] = "a dirty bitmap",
};

struct ck {
	int fd;
	struct qcow2_check *r;
	const struct ukit_qcow2_header *h;
	uint64_t cs;             /* cluster size */
	uint64_t fsize;
	uint64_t nb;             /* entries in ref/own */
	uint16_t *ref;           /* computed refcounts, saturating */
	uint8_t *own;
	uint8_t *buf;            /* one cluster: L1 chunk */
	uint8_t *l2;             /* one cluster: L2 table */
	uint8_t *cbuf, *dbuf;    /* compressed in (2 clusters), out */
	uint8_t *reftable;       /* raw refcount table */
	uint64_t rt_entries;
	uint8_t *rb;             /* cached refcount block */
	uint64_t rb_index;       /* which, or UINT64_MAX */
	uint64_t last_coff;      /* last compressed cluster inflated */
	uint64_t l2_budget;      /* bytes of L2 tables still to walk */
	bool inflate;            /* inflate compressed clusters */
	bool budget_hit;
};

/* Bytes of L2 tables walked at most: snapshots share tables, a hostile
 * image can share one table a million times. */
#define QCOW2_CHECK_L2_BUDGET(fsize) (64 * (uint64_t)(fsize) + ((uint64_t)256 << 20))

static void finding(struct ck *k, enum qcow2_finding_kind kind, uint64_t off,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void finding(struct ck *k, enum qcow2_finding_kind kind, uint64_t off,
		    const char *fmt, ...)
{
	struct qcow2_check *r = k->r;
	struct qcow2_finding *f;
	va_list ap;

	if (kind == QCOW2_F_CORRUPTION)
		r->corruptions++;
	else if (kind == QCOW2_F_LEAK)
		r->leaks++;
	else
		r->check_errors++;
	if (r->nfindings >= QCOW2_CHECK_MAX_FINDINGS) {
		r->dropped++;
		return;
	}
	f = &r->findings[r->nfindings++];
	f->kind = kind;
	f->off = off;
	f->refcount_only = false;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
}

/*
 * Count a reference to [off, off + size) made by the entry at (at) as
 * (kind).  Like qemu, a region that ends one cluster or more past the end
 * of the file is a corruption and is not counted.
 */
static void inc(struct ck *k, uint64_t off, uint64_t size, int kind,
		int copied, uint64_t at)
{
	uint64_t end, first, last;

	if (size == 0)
		return;
	if (ck_add(off, size, &end) ||
	    (end > k->fsize && end - k->fsize >= k->cs)) {
		finding(k, QCOW2_F_CORRUPTION, at, "%s at 0x%" PRIx64
			" (0x%" PRIx64 " bytes) extends past end of file "
			"(0x%" PRIx64 ")", owner_name[kind], off, size,
			k->fsize);
		return;
	}
	first = off / k->cs;
	last = (end - 1) / k->cs;
	for (uint64_t c = first; c <= last && c < k->nb; c++) {
		int prev = k->own[c] & O_KIND_MASK;

		if (prev != O_NONE && prev != kind)
			finding(k, QCOW2_F_CORRUPTION, at, "cluster 0x%" PRIx64
				" used as %s and as %s", c * k->cs,
				owner_name[prev], owner_name[kind]);
		else if (prev != O_NONE && kind != O_COMPRESSED &&
			 k->h->nb_snapshots == 0)
			finding(k, QCOW2_F_CORRUPTION, at, "cluster 0x%" PRIx64
				" used twice as %s", c * k->cs,
				owner_name[kind]);
		if (prev == O_NONE)
			k->own[c] = (uint8_t)((k->own[c] & ~O_KIND_MASK) |
					      kind);
		if (copied == 1)
			k->own[c] |= O_COPIED_SET;
		else if (copied == 0)
			k->own[c] |= O_COPIED_CLR;
		if (k->ref[c] < UINT16_MAX)
			k->ref[c]++;
	}
}

/* Read up to (len) bytes at (off), zero-filling past end of file. */
static int rd(struct ck *k, void *buf, size_t len, uint64_t off,
	      struct fmt_err *e)
{
	ssize_t n = ukit_pread_full(k->fd, buf, len, (off_t)off);

	if (n < 0)
		return ukit_fmt_errno(e, off, "read");
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return 0;
}

static int check_compressed(struct ck *k, uint64_t host, uint64_t csize,
			    uint64_t at, struct fmt_err *e)
{
	struct fmt_err de = { .off = FMT_NOOFF };
	uint64_t n = csize;

	if (host == k->last_coff || host >= k->fsize)
		return 0;
	if (n > 2 * k->cs)
		n = 2 * k->cs;
	if (host + n > k->fsize)
		n = k->fsize - host;
	if (rd(k, k->cbuf, n, host, e) < 0)
		return -1;
	k->last_coff = host;
	if (ukit_qcow2_decompress(k->h->compression_type, k->cbuf, n, k->dbuf,
			     k->cs, host, &de) < 0)
		finding(k, QCOW2_F_CORRUPTION, host, "%s (L2 entry at 0x%"
			PRIx64 ")", de.msg, at);
	return 0;
}

static int walk_l2(struct ck *k, uint64_t l2off, bool active,
		   struct fmt_err *e)
{
	/* extended L2 entries: 8 more bytes, the subcluster bitmap */
	uint64_t esize = k->h->extended_l2 ? 16 : 8, ents = k->cs / esize;
	uint64_t next = 0;       /* where a contiguous next cluster would be */

	if (rd(k, k->l2, k->cs, l2off, e) < 0)
		return -1;
	for (uint64_t i = 0; i < ents; i++) {
		uint64_t ent = be64_load(k->l2 + i * esize), at = l2off + i * esize;
		uint64_t bitmap = esize == 16 ? be64_load(k->l2 + i * 16 + 8) : 0;

		if (ent & QCOW2_OFLAG_COMPRESSED) {
			uint64_t host, ns, start;

			if (ent & QCOW2_OFLAG_COPIED)
				finding(k, QCOW2_F_CORRUPTION, at, "compressed "
					"cluster entry 0x%016" PRIx64 " has the "
					"COPIED flag", ent);
			if (bitmap != 0) {
				/* as qemu-img check: not counted further */
				finding(k, QCOW2_F_CORRUPTION, at + 8,
					"compressed cluster entry 0x%016" PRIx64
					" has subcluster bitmap 0x%016" PRIx64
					" (must be 0)", ent, bitmap);
				continue;
			}
			ukit_qcow2_compressed_desc(k->h->cluster_bits, ent, &host,
					      &ns);
			start = host & ~511ULL;
			inc(k, start, ns * 512, O_COMPRESSED, -1, at);
			if (!active)
				continue;
			k->r->allocated_clusters++;
			k->r->compressed_clusters++;
			k->r->fragmented_clusters++;   /* as qemu counts them */
			if (host == 0 || host >= k->fsize)
				finding(k, QCOW2_F_CORRUPTION, at, "compressed "
					"data at 0x%" PRIx64 " past end of file "
					"(0x%" PRIx64 ")", host, k->fsize);
			else if (k->inflate && check_compressed(k, host, ns * 512 -
						  (host & 511), at, e) < 0)
				return -1;
			continue;
		}
		uint64_t host = ent & QCOW2_OFFSET_MASK;

		if ((uint32_t)bitmap & (uint32_t)(bitmap >> 32))
			finding(k, QCOW2_F_CORRUPTION, at + 8, "subcluster "
				"bitmap 0x%016" PRIx64 " marks subclusters "
				"both allocated and zero", bitmap);
		if (host == 0) {
			if ((uint32_t)bitmap != 0)
				finding(k, QCOW2_F_CORRUPTION, at + 8,
					"subcluster bitmap 0x%016" PRIx64
					" marks subclusters allocated in an "
					"unallocated cluster", bitmap);
			continue;
		}
		if (active) {
			/* qemu-img check's fragmentation: a data cluster not
			 * right after the previous one of the same L2 table */
			k->r->allocated_clusters++;
			if (next != 0 && host != next)
				k->r->fragmented_clusters++;
			next = host + k->cs;
		}
		if (host & (k->cs - 1)) {
			finding(k, QCOW2_F_CORRUPTION, at, "L2 entry 0x%016"
				PRIx64 ": data offset 0x%" PRIx64 " not aligned "
				"to the cluster size", ent, host);
			continue;
		}
		inc(k, host, k->cs, O_DATA,
		    active ? !!(ent & QCOW2_OFLAG_COPIED) : -1, at);
	}
	return 0;
}

static int walk_l1(struct ck *k, uint64_t l1off, uint64_t l1n, bool active,
		   uint64_t at0, struct fmt_err *e)
{
	uint64_t per = k->cs / 8, bytes;

	if (l1n == 0)
		return 0;
	if (l1off & (k->cs - 1)) {
		finding(k, QCOW2_F_CORRUPTION, at0, "L1 table offset 0x%" PRIx64
			" not aligned to the cluster size", l1off);
		return 0;
	}
	bytes = l1n * 8;
	inc(k, l1off, bytes, O_L1, -1, at0);
	if (!in_bounds(l1off, bytes, k->fsize)) {
		if (!(l1off + bytes > k->fsize &&
		      l1off + bytes - k->fsize >= k->cs))
			finding(k, QCOW2_F_CORRUPTION, at0, "L1 table at 0x%"
				PRIx64 " (0x%" PRIx64 " bytes) extends past "
				"end of file (0x%" PRIx64 ")", l1off, bytes,
				k->fsize);
		return 0;
	}
	for (uint64_t base = 0; base < l1n; base += per) {
		uint64_t n = l1n - base < per ? l1n - base : per;

		if (rd(k, k->buf, n * 8, l1off + base * 8, e) < 0)
			return -1;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t ent = be64_load(k->buf + i * 8);
			uint64_t l2off = ent & QCOW2_OFFSET_MASK;
			uint64_t at = l1off + (base + i) * 8;
			bool seen;

			if (l2off == 0)
				continue;
			if (l2off & (k->cs - 1)) {
				finding(k, QCOW2_F_CORRUPTION, at, "L1 entry %"
					PRIu64 ": L2 table offset 0x%" PRIx64
					" not aligned to the cluster size",
					base + i, l2off);
				continue;
			}
			seen = l2off / k->cs < k->nb &&
			       (k->own[l2off / k->cs] & O_KIND_MASK) == O_L2;
			inc(k, l2off, k->cs, O_L2,
			    active ? !!(ent & QCOW2_OFLAG_COPIED) : -1, at);
			if (l2off >= k->fsize)
				continue;   /* reported by inc() */
			/* without snapshots a second use is an overlap (just
			 * reported); walking it again would only repeat */
			if (seen && k->h->nb_snapshots == 0)
				continue;
			if (k->l2_budget < k->cs) {
				if (!k->budget_hit)
					finding(k, QCOW2_F_ERROR, at, "stopped "
						"walking L2 tables: more than "
						"0x%" PRIx64 " bytes referenced",
						QCOW2_CHECK_L2_BUDGET(k->fsize));
				k->budget_hit = true;
				continue;
			}
			k->l2_budget -= k->cs;
			if (!in_bounds(l2off, k->cs, k->fsize))
				finding(k, QCOW2_F_CORRUPTION, at, "L2 table at "
					"0x%" PRIx64 " extends past end of file "
					"(0x%" PRIx64 ")", l2off, k->fsize);
			if (walk_l2(k, l2off, active, e) < 0)
				return -1;
		}
	}
	return 0;
}

static int walk_snapshots(struct ck *k, struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = k->h;
	uint64_t off = h->snapshots_offset;
	uint8_t s[QCOW2_SNAPSHOT_HDR];

	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		uint64_t l1off, len, end;
		uint32_t l1n;

		if (!in_bounds(off, sizeof s, k->fsize)) {
			finding(k, QCOW2_F_CORRUPTION, 64, "snapshot %" PRIu32
				" header at 0x%" PRIx64 " past end of file "
				"(0x%" PRIx64 ")", i, off, k->fsize);
			break;
		}
		if (rd(k, s, sizeof s, off, e) < 0)
			return -1;
		l1off = be64_load(s);
		l1n = be32_load(s + 8);
		len = ukit_qcow2_snapshot_len(s);
		if (l1n > QCOW2_MAX_L1_BYTES / 8)
			finding(k, QCOW2_F_CORRUPTION, off + 8, "snapshot %"
				PRIu32 ": l1_size %" PRIu32 " too large", i,
				l1n);
		else if (walk_l1(k, l1off, l1n, false, off, e) < 0)
			return -1;
		if (ck_add(off, len, &end))
			break;
		off = end;
	}
	inc(k, h->snapshots_offset, off - h->snapshots_offset, O_SNAPTABLE,
	    -1, 64);
	return 0;
}

#define BITMAP_TABLE_MAX 0x8000000u       /* entries, as qemu */

/*
 * Count the persistent dirty bitmaps: the directory, each bitmap's table
 * and the data clusters the table points at.  Only when autoclear bit 0
 * says the extension is valid: otherwise qemu ignores the bitmaps and so
 * do we (their clusters are leaks).
 */
static int walk_bitmaps(struct ck *k, struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = k->h;
	uint64_t at0 = h->bitmaps_ext, dsize = h->bitmap_dir_size;
	uint64_t doff = h->bitmap_dir_offset;
	struct fmt_err de = { .path = e->path, .off = FMT_NOOFF };
	struct qcow2_bitmap *b;
	size_t pos = 0;
	uint8_t *dir;
	int rc = -1;

	switch (ukit_qcow2_bitmap_dir_read(k->fd, h, k->fsize, &dir, &de)) {
	case -1:
		*e = de;
		return -1;
	case -2:
		finding(k, QCOW2_F_CORRUPTION, de.off, "%s", de.msg);
		return 0;
	}
	inc(k, doff, dsize, O_BITMAPDIR, -1, at0);
	if ((b = malloc(sizeof *b)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < h->nb_bitmaps; i++) {
		struct fmt_err be = { .off = FMT_NOOFF };
		uint64_t toff, tsize, at = doff + pos;

		if (ukit_qcow2_bitmap_entry(dir, dsize, &pos, doff, b, &be) < 0) {
			finding(k, QCOW2_F_CORRUPTION, be.off, "bitmap %"
				PRIu32 ": %s", i, be.msg);
			break;
		}
		toff = b->table_offset;
		tsize = b->table_size;
		if (tsize > BITMAP_TABLE_MAX || (toff & (k->cs - 1)) ||
		    !in_bounds(toff, tsize * 8, k->fsize)) {
			finding(k, QCOW2_F_CORRUPTION, at, "bitmap %" PRIu32
				" table at 0x%" PRIx64 " (%" PRIu64 " entries) "
				"misaligned or out of bounds", i, toff, tsize);
			continue;
		}
		inc(k, toff, tsize * 8, O_BITMAP, -1, at);
		for (uint64_t j = 0; j < tsize; j++) {
			uint64_t per = k->cs / 8, d;

			if (j % per == 0 &&
			    rd(k, k->buf, k->cs, toff + j * 8, e) < 0)
				goto fail;
			d = be64_load(k->buf + (j % per) * 8) &
			    QCOW2_OFFSET_MASK;
			if (d == 0)
				continue;
			if (d & (k->cs - 1))
				finding(k, QCOW2_F_CORRUPTION, toff + j * 8,
					"bitmap data at 0x%" PRIx64 " not "
					"aligned to the cluster size", d);
			else
				inc(k, d, k->cs, O_BITMAP, -1, toff + j * 8);
		}
	}
	rc = 0;
fail:
	free(dir);
	free(b);
	return rc;
}

/* The corruption just found compares a stored refcount only. */
static void refcount_only(struct ck *k)
{
	k->r->refcount_only++;
	if (k->r->nfindings > 0 && k->r->dropped == 0)
		k->r->findings[k->r->nfindings - 1].refcount_only = true;
}

/* Stored refcount of host cluster (c). */
static int stored(struct ck *k, uint64_t c, uint64_t *out, struct fmt_err *e)
{
	uint32_t bits = 1u << k->h->refcount_order;
	uint64_t per = k->cs * 8 / bits, ti = c / per, idx = c % per, roff;

	*out = 0;
	if (ti >= k->rt_entries)
		return 0;
	roff = be64_load(k->reftable + ti * 8) & ~511ULL;
	if (roff == 0 || (roff & (k->cs - 1)) ||
	    !in_bounds(roff, k->cs, k->fsize))
		return 0;                   /* reported while counting */
	if (k->rb_index != ti) {
		if (rd(k, k->rb, k->cs, roff, e) < 0)
			return -1;
		k->rb_index = ti;
	}
	switch (bits) {
	case 1: case 2: case 4: {
		uint64_t perbyte = 8 / bits;
		uint8_t b = k->rb[idx / perbyte];

		*out = (b >> ((idx % perbyte) * bits)) & ((1u << bits) - 1);
		break;
	}
	case 8:  *out = k->rb[idx]; break;
	case 16: *out = be16_load(k->rb + idx * 2); break;
	case 32: *out = be32_load(k->rb + idx * 4); break;
	default: *out = be64_load(k->rb + idx * 8); break;
	}
	return 0;
}

static int check_refcounts(struct ck *k, struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = k->h;
	uint64_t rtbytes = (uint64_t)h->refcount_table_clusters * k->cs;
	uint64_t highest = 0;
	bool any = false;

	/* the refcount table and its blocks */
	inc(k, h->refcount_table_offset, rtbytes, O_REFTABLE, -1, 48);
	k->rt_entries = rtbytes / 8;
	k->reftable = calloc(1, rtbytes);
	if (k->reftable == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (h->refcount_table_offset < k->fsize) {
		uint64_t n = k->fsize - h->refcount_table_offset;

		if (rd(k, k->reftable, n < rtbytes ? n : rtbytes,
		       h->refcount_table_offset, e) < 0)
			return -1;
	}
	for (uint64_t i = 0; i < k->rt_entries; i++) {
		uint64_t ent = be64_load(k->reftable + i * 8);
		uint64_t roff = ent & ~511ULL;
		uint64_t at = h->refcount_table_offset + i * 8;

		if (roff == 0)
			continue;
		if (roff & (k->cs - 1)) {
			finding(k, QCOW2_F_CORRUPTION, at, "refcount block %"
				PRIu64 " at 0x%" PRIx64 " not aligned to the "
				"cluster size", i, roff);
			continue;
		}
		if (roff >= k->fsize) {
			finding(k, QCOW2_F_CORRUPTION, at, "refcount block %"
				PRIu64 " at 0x%" PRIx64 " past end of file "
				"(0x%" PRIx64 ")", i, roff, k->fsize);
			continue;
		}
		inc(k, roff, k->cs, O_REFBLOCK, -1, at);
	}
	/* stored against computed, cluster by cluster */
	for (uint64_t c = 0; c < k->nb; c++) {
		uint64_t s, ref = k->ref[c];
		int own = k->own[c];

		if (stored(k, c, &s, e) < 0)
			return -1;
		if (s > 0 || ref > 0) {
			highest = c;
			any = true;
		}
		if (ref == UINT16_MAX && s >= UINT16_MAX)
			s = ref;            /* saturated: cannot tell */
		if (s < ref) {
			finding(k, QCOW2_F_CORRUPTION, c * k->cs, "cluster %"
				PRIu64 " (0x%" PRIx64 ", %s) refcount=%" PRIu64
				" reference=%" PRIu64, c, c * k->cs,
				owner_name[own & O_KIND_MASK], s, ref);
			refcount_only(k);
		}
		else if (s > ref)
			finding(k, QCOW2_F_LEAK, c * k->cs, "leaked cluster %"
				PRIu64 " (0x%" PRIx64 ") refcount=%" PRIu64
				" reference=%" PRIu64, c, c * k->cs, s, ref);
		if (s == ref && (own & O_KIND_MASK) == O_REFBLOCK && ref != 1)
			finding(k, QCOW2_F_CORRUPTION, c * k->cs, "refcount "
				"block at 0x%" PRIx64 " referenced %" PRIu64
				" times", c * k->cs, ref);
		/* COPIED must be set exactly when the refcount is 1 */
		if ((own & O_COPIED_SET) && s != 1) {
			finding(k, QCOW2_F_CORRUPTION, c * k->cs, "cluster 0x%"
				PRIx64 " (%s) has the COPIED flag but "
				"refcount=%" PRIu64, c * k->cs,
				owner_name[own & O_KIND_MASK], s);
			refcount_only(k);
		}
		if ((own & O_COPIED_CLR) && s == 1 &&
		    !(h->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS &&
		      h->incompatible & QCOW2_INCOMPAT_DIRTY)) {
			finding(k, QCOW2_F_CORRUPTION, c * k->cs, "cluster 0x%"
				PRIx64 " (%s) has refcount=1 but not the COPIED "
				"flag", c * k->cs,
				owner_name[own & O_KIND_MASK]);
			refcount_only(k);
		}
	}
	k->r->image_end_offset = any ? (highest + 1) * k->cs : 0;
	return 0;
}

void ukit_qcow2_check_free(struct qcow2_check *r)
{
	if (r == NULL)
		return;
	free(r->findings);
	r->findings = NULL;
	r->nfindings = 0;
}

int ukit_qcow2_check_fd(int fd, const char *path, unsigned flags,
		   struct qcow2_check *r, struct fmt_err *e)
{
	struct ck k = { .fd = fd, .r = r, .rb_index = UINT64_MAX,
			.last_coff = UINT64_MAX,
			.inflate = !(flags & QCOW2_CHECK_NO_INFLATE) };
	struct fmt_err he = { .path = path, .off = FMT_NOOFF };
	struct stat st;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->findings = calloc(QCOW2_CHECK_MAX_FINDINGS, sizeof *r->findings);
	if (r->findings == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	k.fsize = r->file_size = (uint64_t)st.st_size;
	k.l2_budget = QCOW2_CHECK_L2_BUDGET(k.fsize);
	switch (ukit_qcow2_header_read(fd, k.fsize, &r->h, &he)) {
	case -1:
		*e = he;
		return -1;
	case -2:
		finding(&k, QCOW2_F_CORRUPTION, he.off, "%s", he.msg);
		return 0;
	}
	r->header_ok = true;
	k.h = &r->h;
	k.cs = r->h.cluster_size;
	r->total_clusters = r->h.size / k.cs + (r->h.size % k.cs != 0);
	if (r->h.incompatible & QCOW2_INCOMPAT_CORRUPT)
		finding(&k, QCOW2_F_CORRUPTION, 72, "image is marked corrupt "
			"(incompatible feature bit 1)");
	if ((r->h.incompatible & QCOW2_INCOMPAT_DIRTY) &&
	    !(r->h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS))
		finding(&k, QCOW2_F_CORRUPTION, 72, "dirty bit (incompatible "
			"feature bit 0) set without lazy refcounts (compatible "
			"feature bit 0): only lazy refcounts may leave an image "
			"dirty");
	k.nb = k.fsize / k.cs + 1;  /* + the part of a cluster past EOF */
	if (k.nb > QCOW2_CHECK_MAX_CLUSTERS)
		return ukit_fmt_errf(e, FMT_NOOFF, "image has %" PRIu64 " host "
				"clusters, more than the check's limit of %u",
				k.nb, QCOW2_CHECK_MAX_CLUSTERS);
	k.ref = calloc(k.nb, sizeof *k.ref);
	k.own = calloc(k.nb, 1);
	k.buf = malloc(k.cs);
	k.l2 = malloc(k.cs);
	k.cbuf = malloc(2 * k.cs);
	k.dbuf = malloc(k.cs);
	k.rb = malloc(k.cs);
	if (!k.ref || !k.own || !k.buf || !k.l2 || !k.cbuf || !k.dbuf ||
	    !k.rb) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	inc(&k, 0, k.cs, O_HEADER, -1, 0);
	if (walk_l1(&k, r->h.l1_table_offset, r->h.l1_size, true, 40, e) < 0)
		goto out;
	if (r->h.nb_snapshots > 0 && walk_snapshots(&k, e) < 0)
		goto out;
	if (r->h.has_bitmaps && (r->h.autoclear & QCOW2_AUTOCLEAR_BITMAPS) &&
	    walk_bitmaps(&k, e) < 0)
		goto out;
	if (check_refcounts(&k, e) < 0)
		goto out;
	rc = 0;
out:
	free(k.ref);
	free(k.own);
	free(k.buf);
	free(k.l2);
	free(k.cbuf);
	free(k.dbuf);
	free(k.rb);
	free(k.reftable);
	return rc;
}
