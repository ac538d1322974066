/*
 * qcow2w.c: streaming qcow2 writer (see qcow2w.h).
 *
 * Trusts its caller (indices increase, compressed lengths are below the
 * cluster size); trusts nothing else.  Format facts from qemu's
 * docs/interop/qcow2.txt: big-endian header, L1/L2 entries with bit 63
 * (COPIED, refcount exactly one) and bit 62 (compressed); a compressed
 * descriptor holds the host byte offset in its low 62 - (cluster_bits - 8)
 * bits and, above it, the number of 512-byte sectors the data occupies
 * beyond the one holding its first byte.  qemu-img check counts a
 * compressed cluster as a reference to every host cluster its sectors
 * touch; the refcounts written here are counted the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "qcow2w.h"

#define QCOW2_MAGIC 0x514649fbu
#define L_COPIED (1ULL << 63)
#define L_COMPRESSED (1ULL << 62)
#define V2_HEADER_LEN 72
#define V3_HEADER_LEN 112   /* with the compression type byte, as qemu 7.2 */
#define EXT_FEATURE_TABLE 0x6803f857u
#define FEATURE_NAME_LEN 46
#define INCOMPAT_COMPRESSION 0x8u
#define INCOMPAT_EXTL2 0x10u
#define COMPAT_LAZY_REFCOUNTS 0x1u
#define EXT_BACKING_FMT 0xe2792acau
#define BACKING_MAX 1023

/* The feature name table qemu-img 7.2 writes into every v3 image. */
static const struct {
	uint8_t type, bit;
	const char *name;
} features[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

struct qcow2w {
	int fd;
	const char *path;
	struct qcow2w_opts o;
	struct ukit_qcow2w_geom g;
	uint64_t next_free;     /* first cluster never allocated */
	uint64_t rc_base;       /* first cluster of the open refcount range */
	uint16_t *rc;           /* refcounts of the open range */
	uint64_t *rt;           /* refcount block offsets of sealed ranges */
	size_t rt_n, rt_cap;
	uint64_t l1_off;
	uint64_t cur_l2;        /* L1 index of the L2 table in memory */
	bool l2_used;
	uint64_t *l2;           /* host-order entries */
	uint8_t *cbuf;          /* one cluster, for encoding */
	uint64_t comp_pos;      /* next free byte of the packing cluster */
	bool comp_open;         /* comp_pos lies inside a usable cluster */
	uint64_t last_idx;
	bool any;
	uint64_t filled;        /* preallocation: clusters [0, filled) done */
	struct iovec iov[QCOW2W_IOV]; /* gathered data writes */
	int niov;
	uint64_t iov_off, iov_len;    /* where they go, how much */
};

int ukit_qcow2w_geom(const struct qcow2w_opts *o, uint64_t vsize,
		struct ukit_qcow2w_geom *g, struct fmt_err *e)
{
	uint64_t size, span, l1b, bits = o->refcount_bits ? o->refcount_bits : 16;

	if (o->cluster_bits < QCOW2W_MIN_CLUSTER_BITS ||
	    o->cluster_bits > QCOW2W_MAX_CLUSTER_BITS)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"cluster size 2^%u outside 512 B..2 MiB",
				o->cluster_bits);
	if (o->version != 2 && o->version != 3)
		return ukit_fmt_errf(e, FMT_NOOFF, "qcow2 version %d not 2 or 3",
				o->version);
	if (o->version == 2 && (o->comp == QCOW2W_ZSTD || o->zstd_header))
		return ukit_fmt_errf(e, FMT_NOOFF,
				"zstd compression needs compat 1.1 (v3)");
	if (bits > 64 || (bits & (bits - 1)) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "refcount bits %" PRIu64
				" not a power of two from 1 to 64", bits);
	if (o->version == 2 && bits != 16)
		return ukit_fmt_errf(e, FMT_NOOFF, "refcount bits other than 16 "
				"need compat 1.1 (v3)");
	if (o->version == 2 && o->lazy_refcounts)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"lazy refcounts need compat 1.1 (v3)");
	if (o->version == 2 && o->extended_l2)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"extended L2 entries need compat 1.1 (v3)");
	if (o->extended_l2 && o->cluster_bits < 14)
		return ukit_fmt_errf(e, FMT_NOOFF, "extended L2 entries need "
				"clusters of at least 16 KiB");
	if (o->prealloc != QCOW2W_PREALLOC_OFF && o->comp != QCOW2W_NONE)
		return ukit_fmt_errf(e, FMT_NOOFF, "preallocation and compression "
				"exclude each other");
	if (o->backing_fmt != NULL && o->backing_file == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"a backing format without a backing file");
	if (o->backing_file != NULL && (o->backing_file[0] == '\0' ||
					strlen(o->backing_file) > BACKING_MAX))
		return ukit_fmt_errf(e, FMT_NOOFF, "backing file name of %zu "
				"bytes (want 1..%d)", strlen(o->backing_file),
				BACKING_MAX);
	if (o->backing_fmt != NULL && strlen(o->backing_fmt) > 63)
		return ukit_fmt_errf(e, FMT_NOOFF, "backing format name too long");
	if (ck_align(vsize, 512, &size) || size > (1ULL << 62))
		return ukit_fmt_errf(e, FMT_NOOFF,
				"virtual size 0x%" PRIx64 " too large", vsize);
	memset(g, 0, sizeof *g);
	g->cluster_size = 1ULL << o->cluster_bits;
	g->size = size;
	g->l2_esize = o->extended_l2 ? 16 : 8;
	g->l2_entries = g->cluster_size / g->l2_esize;
	g->refcount_bits = (unsigned)bits;
	g->refcount_max = bits >= 16 ? QCOW2W_REFCOUNT_MAX
				     : (1ULL << bits) - 1;
	span = g->cluster_size * g->l2_entries;
	g->l1_size = div_up(size, span);
	l1b = g->l1_size * 8;
	if (l1b > QCOW2W_MAX_L1_BYTES)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"virtual size 0x%" PRIx64 " needs an L1 table of "
				"%" PRIu64 " bytes (> %u); use larger clusters",
				size, l1b, QCOW2W_MAX_L1_BYTES);
	/* an empty image has no L1 table (offset 0), as qemu writes it:
	 * a cluster for it would be a cluster nothing refers to */
	g->l1_clusters = div_up(l1b, g->cluster_size);
	g->rb_entries = g->cluster_size * 8 / bits;
	g->csize_shift = 62 - (o->cluster_bits - 8);
	g->header_len = o->version == 2
		? V2_HEADER_LEN
		: V3_HEADER_LEN + 8 + ARRAY_SIZE(features) * 48;
	if (o->backing_fmt != NULL)
		g->header_len += 8 + ((strlen(o->backing_fmt) + 7) & ~7ULL);
	if (o->version == 3 || o->backing_fmt != NULL)
		g->header_len += 8;   /* end of extensions */
	if (o->backing_file != NULL) {
		g->backing_off = g->header_len;
		if (g->header_len + strlen(o->backing_file) > g->cluster_size)
			return ukit_fmt_errf(e, FMT_NOOFF, "backing file name does "
					"not fit in the header cluster");
	}
	return 0;
}

void ukit_qcow2w_refcount_fit(uint64_t used, uint64_t sealed, uint64_t rb_entries,
			 uint64_t cluster_size, uint64_t *blocks,
			 uint64_t *table)
{
	uint64_t b = 1, t = 1;

	for (;;) {
		uint64_t n = used + b + t;
		uint64_t ranges = div_up(n, rb_entries);
		uint64_t nb = ranges - sealed;
		uint64_t nt = div_up(ranges * 8, cluster_size);

		if (nb == b && nt == t)
			break;
		/* Both only grow with n, so this settles in a few rounds. */
		b = nb > b ? nb : b;
		t = nt > t ? nt : t;
	}
	*blocks = b;
	*table = t;
}

uint64_t ukit_qcow2w_comp_desc(const struct ukit_qcow2w_geom *g, uint64_t off,
			  uint64_t len)
{
	uint64_t extra = ((off + len - 1) >> 9) - (off >> 9);

	return L_COMPRESSED | extra << g->csize_shift | off;
}

void ukit_qcow2w_header(const struct qcow2w_opts *o, const struct ukit_qcow2w_geom *g,
		   uint64_t rt_off, uint64_t rt_clusters, uint64_t l1_off,
		   uint8_t *buf)
{
	uint8_t *p;
	uint64_t incompat = 0;

	memset(buf, 0, g->cluster_size);
	be32_store(buf, QCOW2_MAGIC);
	be32_store(buf + 4, (uint32_t)o->version);
	be32_store(buf + 20, o->cluster_bits);
	be64_store(buf + 24, g->size);
	be32_store(buf + 36, (uint32_t)g->l1_size);
	be64_store(buf + 40, l1_off);
	be64_store(buf + 48, rt_off);
	be32_store(buf + 56, (uint32_t)rt_clusters);
	if (o->backing_file != NULL) {
		be64_store(buf + 8, g->backing_off);
		be32_store(buf + 16, (uint32_t)strlen(o->backing_file));
		memcpy(buf + g->backing_off, o->backing_file,
		       strlen(o->backing_file));
	}
	p = buf + (o->version == 2 ? V2_HEADER_LEN : V3_HEADER_LEN);
	if (o->backing_fmt != NULL) {
		size_t n = strlen(o->backing_fmt);

		be32_store(p, EXT_BACKING_FMT);
		be32_store(p + 4, (uint32_t)n);
		memcpy(p + 8, o->backing_fmt, n);
		p += 8 + ((n + 7) & ~(size_t)7);
	}
	if (o->version == 2)
		return;
	if (o->comp == QCOW2W_ZSTD || o->zstd_header) {
		incompat |= INCOMPAT_COMPRESSION;
		buf[104] = 1;
	}
	if (o->extended_l2)
		incompat |= INCOMPAT_EXTL2;
	be64_store(buf + 72, incompat);
	if (o->lazy_refcounts)
		be64_store(buf + 80, COMPAT_LAZY_REFCOUNTS);
	be32_store(buf + 96, (uint32_t)__builtin_ctz(g->refcount_bits));
	be32_store(buf + 100, V3_HEADER_LEN);
	be32_store(p, EXT_FEATURE_TABLE);
	be32_store(p + 4, (uint32_t)(ARRAY_SIZE(features) * 48));
	p += 8;
	for (size_t i = 0; i < ARRAY_SIZE(features); i++, p += 48) {
		p[0] = features[i].type;
		p[1] = features[i].bit;
		memcpy(p + 2, features[i].name, strlen(features[i].name));
	}
	/* end of extensions: type 0, length 0 (already zero) */
}

static int wr(struct qcow2w *w, const void *buf, size_t len, uint64_t off,
	      struct fmt_err *e)
{
	if (ukit_pwrite_full(w->fd, buf, len, off) < 0)
		return ukit_fmt_errno(e, off, "write failed");
	return 0;
}

int ukit_qcow2w_flush(struct qcow2w *w, struct fmt_err *e)
{
	struct iovec *v = w->iov;
	int n = w->niov;
	uint64_t off = w->iov_off;

	while (n > 0) {
		ssize_t r = pwritev(w->fd, v, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ukit_fmt_errno(e, off, "write failed");
		}
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= v->iov_len) {
			r -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	w->niov = 0;
	w->iov_len = 0;
	return 0;
}

/* Queue (len) bytes at (data) for host offset (off). */
static int gather(struct qcow2w *w, const void *data, size_t len, uint64_t off,
		  struct fmt_err *e)
{
	if (w->niov > 0 && (w->niov == QCOW2W_IOV ||
			    w->iov_off + w->iov_len != off))
		if (ukit_qcow2w_flush(w, e) < 0)
			return -1;
	if (w->niov == 0)
		w->iov_off = off;
	w->iov[w->niov].iov_base = (void *)(uintptr_t)data;
	w->iov[w->niov].iov_len = len;
	w->niov++;
	w->iov_len += len;
	return 0;
}

/* One more reference to host cluster (c) of the open range. */
static int ref(struct qcow2w *w, uint64_t c, struct fmt_err *e)
{
	uint16_t *r = &w->rc[c - w->rc_base];

	if (*r >= w->g.refcount_max)
		return ukit_fmt_errf(e, c * w->g.cluster_size,
				"refcount overflow on host cluster");
	(*r)++;
	return 0;
}

static int rt_push(struct qcow2w *w, uint64_t off, struct fmt_err *e)
{
	if (w->rt_n == w->rt_cap) {
		size_t cap = w->rt_cap ? w->rt_cap * 2 : 64;
		uint64_t *n = realloc(w->rt, cap * sizeof *n);
		if (n == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		w->rt = n;
		w->rt_cap = cap;
	}
	w->rt[w->rt_n++] = off;
	return 0;
}

static void encode_rc(const struct qcow2w *w, uint8_t *buf)
{
	unsigned bits = w->g.refcount_bits;

	memset(buf, 0, w->g.cluster_size);
	for (uint64_t i = 0; i < w->g.rb_entries; i++) {
		uint64_t v = w->rc[i];

		switch (bits) {
		case 1: case 2: case 4:
			/* the first entry in the least significant bits */
			buf[i * bits / 8] |= (uint8_t)(v << (i * bits % 8));
			break;
		case 8:  buf[i] = (uint8_t)v; break;
		case 16: be16_store(buf + 2 * i, (uint16_t)v); break;
		case 32: be32_store(buf + 4 * i, (uint32_t)v); break;
		default: be64_store(buf + 8 * i, v); break;
		}
	}
}

/*
 * A fresh host cluster, referenced once.  Entering a new refcount range
 * seals the previous one: its block goes to the range's first cluster.
 */
static int alloc_cluster(struct qcow2w *w, uint64_t *out, struct fmt_err *e)
{
	uint64_t c = w->next_free;

	if (c == w->rc_base + w->g.rb_entries) {
		uint64_t off = c * w->g.cluster_size;

		encode_rc(w, w->cbuf);
		if (wr(w, w->cbuf, w->g.cluster_size, off, e) < 0 ||
		    rt_push(w, off, e) < 0)
			return -1;
		w->rc_base = c;
		memset(w->rc, 0, w->g.rb_entries * sizeof *w->rc);
		w->rc[0] = 1;
		w->comp_open = false;
		c++;
	}
	w->rc[c - w->rc_base] = 1;
	w->next_free = c + 1;
	*out = c;
	return 0;
}

int ukit_qcow2w_open(int fd, const char *path, const struct qcow2w_opts *o,
		uint64_t vsize, struct qcow2w **out, struct fmt_err *e)
{
	struct qcow2w *w;
	uint64_t c;

	w = calloc(1, sizeof *w);
	if (w == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	w->fd = fd;
	w->path = path;
	w->o = *o;
	if (ukit_qcow2w_geom(o, vsize, &w->g, e) < 0)
		goto fail;
	w->rc = calloc(w->g.rb_entries, sizeof *w->rc);
	w->l2 = calloc(w->g.l2_entries * (w->g.l2_esize / 8), sizeof *w->l2);
	w->cbuf = malloc(w->g.cluster_size);
	if (w->rc == NULL || w->l2 == NULL || w->cbuf == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	/* header (written last), then the L1 table */
	if (alloc_cluster(w, &c, e) < 0)
		goto fail;
	for (uint64_t i = 0; i < w->g.l1_clusters; i++)
		if (alloc_cluster(w, &c, e) < 0)
			goto fail;
	w->l1_off = w->g.l1_clusters ? w->g.cluster_size : 0;
	*out = w;
	return 0;
fail:
	ukit_qcow2w_free(w);
	return -1;
}

static int flush_l2(struct qcow2w *w, struct fmt_err *e)
{
	uint64_t c, off;
	uint8_t ent[8];

	if (!w->l2_used)
		return 0;
	if (alloc_cluster(w, &c, e) < 0)
		return -1;
	off = c * w->g.cluster_size;
	for (uint64_t i = 0; i < w->g.l2_entries * (w->g.l2_esize / 8); i++)
		be64_store(w->cbuf + 8 * i, w->l2[i]);
	if (wr(w, w->cbuf, w->g.cluster_size, off, e) < 0)
		return -1;
	be64_store(ent, off | L_COPIED);
	if (wr(w, ent, 8, w->l1_off + 8 * w->cur_l2, e) < 0)
		return -1;
	memset(w->l2, 0, w->g.l2_entries * (w->g.l2_esize / 8) *
	       sizeof *w->l2);
	w->l2_used = false;
	return 0;
}

/*
 * Set the L2 entry of guest cluster (idx) of the current table: (ent),
 * and with extended L2 entries the subcluster bitmap: every subcluster
 * allocated for a normal cluster, none for a compressed one.
 */
static void set_l2(struct qcow2w *w, uint64_t idx, uint64_t ent)
{
	uint64_t i = idx % w->g.l2_entries;

	if (w->g.l2_esize == 16) {
		w->l2[2 * i] = ent;
		w->l2[2 * i + 1] = ent & L_COMPRESSED ? 0 : 0xffffffffULL;
	} else {
		w->l2[i] = ent;
	}
}

/* Make the L2 table of guest cluster (idx) the current one. */
static int l2_switch(struct qcow2w *w, uint64_t idx, struct fmt_err *e)
{
	uint64_t l1i = idx / w->g.l2_entries;

	if (l1i != w->cur_l2) {
		if (flush_l2(w, e) < 0)
			return -1;
		w->cur_l2 = l1i;
	}
	w->l2_used = true;
	return 0;
}

/* Preallocation: a host cluster for each guest cluster below (end) that
 * has none yet (fresh file space: it reads as zeros). */
static int fill_to(struct qcow2w *w, uint64_t end, struct fmt_err *e)
{
	uint64_t c;

	for (; w->filled < end; w->filled++) {
		if (l2_switch(w, w->filled, e) < 0)
			return -1;
		if (w->o.prealloc == QCOW2W_PREALLOC_OFF &&
		    w->o.version >= 3) {
			/* zero_unwritten: the zero flag (extended L2: every
			 * subcluster's zero bit) */
			uint64_t i = w->filled % w->g.l2_entries;

			if (w->g.l2_esize == 16)
				w->l2[2 * i + 1] = 0xffffffff00000000ULL;
			else
				w->l2[i] = 1;
			continue;
		}
		if (alloc_cluster(w, &c, e) < 0)
			return -1;
		set_l2(w, w->filled, c * w->g.cluster_size | L_COPIED);
	}
	return 0;
}

static bool fills(const struct qcow2w *w)
{
	return w->o.prealloc != QCOW2W_PREALLOC_OFF || w->o.zero_unwritten;
}

/* Make the L2 table of guest cluster (idx) current. */
static int l2_for(struct qcow2w *w, uint64_t idx, struct fmt_err *e)
{
	if (idx * w->g.cluster_size >= w->g.size)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"cluster %" PRIu64 " past the virtual size", idx);
	if (w->any && idx <= w->last_idx)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"cluster %" PRIu64 " out of order", idx);
	w->any = true;
	w->last_idx = idx;
	if (fills(w) && fill_to(w, idx, e) < 0)
		return -1;
	w->filled = idx + 1;
	return l2_switch(w, idx, e);
}

int ukit_qcow2w_put(struct qcow2w *w, uint64_t idx, const void *data,
	       struct fmt_err *e)
{
	uint64_t c, off;

	if (l2_for(w, idx, e) < 0 || alloc_cluster(w, &c, e) < 0)
		return -1;
	off = c * w->g.cluster_size;
	if (gather(w, data, w->g.cluster_size, off, e) < 0)
		return -1;
	set_l2(w, idx, off | L_COPIED);
	return 0;
}

int ukit_qcow2w_alloc(struct qcow2w *w, uint64_t idx, uint64_t *host,
		 struct fmt_err *e)
{
	uint64_t c;

	if (l2_for(w, idx, e) < 0 || alloc_cluster(w, &c, e) < 0)
		return -1;
	*host = c * w->g.cluster_size;
	set_l2(w, idx, *host | L_COPIED);
	return 0;
}

int ukit_qcow2w_put_compressed(struct qcow2w *w, uint64_t idx, const void *data,
			  size_t len, struct fmt_err *e)
{
	uint64_t cs = w->g.cluster_size, pos = 0, first = 0, last = 0, c;

	if (len == 0 || len >= cs)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"compressed cluster of %zu bytes", len);
	if (l2_for(w, idx, e) < 0)
		return -1;
	/*
	 * Go on packing where the last compressed cluster ended if the bytes
	 * fit there, or run on into the next host cluster when that is the
	 * next one to be allocated and in the same refcount range.
	 */
	if (w->comp_open) {
		pos = w->comp_pos;
		first = pos / cs;
		last = (pos + len - 1) / cs;
		if (w->rc[first - w->rc_base] >= w->g.refcount_max ||
		    (last > first &&
		     (first + 1 != w->next_free ||
		      last >= w->rc_base + w->g.rb_entries)))
			w->comp_open = false;
	}
	if (!w->comp_open) {
		if (alloc_cluster(w, &c, e) < 0)
			return -1;
		pos = c * cs;
		first = last = c;
		w->rc[c - w->rc_base] = 0;   /* counted below */
	}
	for (c = first; c <= last; c++) {
		if (c >= w->next_free) {
			w->rc[c - w->rc_base] = 0;
			w->next_free = c + 1;
		}
		if (ref(w, c, e) < 0)
			return -1;
	}
	if (gather(w, data, len, pos, e) < 0)
		return -1;
	set_l2(w, idx, ukit_qcow2w_comp_desc(&w->g, pos, len));
	w->comp_pos = pos + len;
	w->comp_open = w->comp_pos % cs != 0;
	return 0;
}

int ukit_qcow2w_finish(struct qcow2w *w, struct fmt_err *e)
{
	uint64_t cs = w->g.cluster_size, used, nb, nt, first, blk_off;
	uint64_t sealed;

	if (fills(w) && fill_to(w, div_up(w->g.size, cs), e) < 0)
		return -1;
	if (ukit_qcow2w_flush(w, e) < 0 || flush_l2(w, e) < 0)
		return -1;
	w->comp_open = false;
	/* after the last L2 table: allocating it may have sealed a range */
	sealed = w->rt_n;
	used = w->next_free;
	ukit_qcow2w_refcount_fit(used, sealed, w->g.rb_entries, cs, &nb, &nt);
	first = used;
	blk_off = first * cs;
	/*
	 * Blocks for ranges sealed .. sealed + nb - 1 at clusters
	 * first .. first + nb - 1, then the table; every cluster from
	 * (first) on is referenced once.
	 */
	for (uint64_t b = 0; b < nb; b++) {
		uint64_t base = (sealed + b) * w->g.rb_entries;

		if (b > 0)
			memset(w->rc, 0, w->g.rb_entries * sizeof *w->rc);
		for (uint64_t c = first; c < first + nb + nt; c++)
			if (c >= base && c < base + w->g.rb_entries)
				w->rc[c - base] = 1;
		encode_rc(w, w->cbuf);
		if (wr(w, w->cbuf, cs, blk_off + b * cs, e) < 0 ||
		    rt_push(w, blk_off + b * cs, e) < 0)
			return -1;
	}
	/* the refcount table, zero-padded to whole clusters */
	for (uint64_t t = 0; t < nt; t++) {
		memset(w->cbuf, 0, cs);
		for (uint64_t i = 0; i < cs / 8; i++) {
			uint64_t k = t * (cs / 8) + i;
			if (k < w->rt_n)
				be64_store(w->cbuf + 8 * i, w->rt[k]);
		}
		if (wr(w, w->cbuf, cs, (first + nb + t) * cs, e) < 0)
			return -1;
	}
	w->next_free = first + nb + nt;
	ukit_qcow2w_header(&w->o, &w->g, (first + nb) * cs, nt, w->l1_off,
		      w->cbuf);
	if (wr(w, w->cbuf, cs, 0, e) < 0)
		return -1;
	if (w->o.prealloc >= QCOW2W_PREALLOC_FALLOC) {
		int r = posix_fallocate(w->fd, 0, (off_t)(w->next_free * cs));

		if (r != 0) {
			errno = r;
			return ukit_fmt_errno(e, FMT_NOOFF, "cannot preallocate");
		}
	}
	return 0;
}

uint64_t ukit_qcow2w_host_size(const struct qcow2w *w)
{
	return w->next_free * w->g.cluster_size;
}

void ukit_qcow2w_free(struct qcow2w *w)
{
	if (w == NULL)
		return;
	free(w->rc);
	free(w->rt);
	free(w->l2);
	free(w->cbuf);
	free(w);
}
