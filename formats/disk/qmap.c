/*
 * qmap.c: qemu-img map entries and qemu-img measure sizes (qmap.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <sys/stat.h>

#include "io.h"
#include "bytes.h"
#include "outfile.h"
#include "qcow2.h"
#include "qmap.h"

#define MAP_MERGE_MAX 4096      /* runs of clusters merged per call */

static uint64_t round_up(uint64_t a, uint64_t b)
{
	return div_up(a, b) * b;
}

bool ukit_map_mergeable(const struct ukit_map_entry *a,
			const struct ukit_map_entry *b)
{
	if (a->depth != b->depth || a->present != b->present ||
	    a->zero != b->zero || a->data != b->data ||
	    a->has_offset != b->has_offset)
		return false;
	return !a->has_offset || a->offset + a->length == b->offset;
}

/* What the host file holds at a host offset: data known in
 * [data_lo, data_hi). */
struct hostview {
	int fd;
	bool recurse;            /* ask the file at all */
	uint64_t data_lo, data_hi;
};

/*
 * Data at host offset (m->offset): like qemu, ask the file whether that
 * part of it is a hole (then the entry reads as zeros: "zero": true) and
 * stop the entry where the file's data or hole ends.
 */
static void host_zero(struct hostview *hv, struct ukit_map_entry *m)
{
	uint64_t h = m->offset, end;
	off_t d, x;

	if (h >= hv->data_lo && h < hv->data_hi) {
		end = hv->data_hi;
	} else {
		d = lseek(hv->fd, (off_t)h, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)      /* a hole up to end of file */
				m->zero = true;
			return;                  /* else: nothing to learn */
		}
		if ((uint64_t)d > h) {
			m->zero = true;
			if ((uint64_t)d - h < m->length)
				m->length = (uint64_t)d - h;
			return;
		}
		x = lseek(hv->fd, (off_t)h, SEEK_HOLE);
		if (x < 0 || (uint64_t)x <= h)
			return;
		hv->data_lo = h;
		hv->data_hi = end = (uint64_t)x;
	}
	if (end - h < m->length)
		m->length = end - h;
}

/* The run of qcow2 clusters of one kind from (off) (extended L2, in a
 * MIXED cluster: the run of subclusters of one kind), as a map entry:
 * the clusters of one L2 table at most, and with host storage only
 * while their host offsets follow each other. */
static int qcow2_piece(struct qcow2 *q, struct hostview *hv, bool below,
		       uint64_t off, uint64_t limit, struct ukit_map_entry *m,
		       struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = ukit_qcow2_header(q);
	uint64_t cs = h->cluster_size, vc = off / cs, in = off % cs, end;
	struct ukit_qcow2_run r;
	enum qcow2_ctype t;

	if (ukit_qcow2_run(q, vc, div_up(limit, cs), QCOW2_RUN_CONTIG, &r,
			   e) < 0)
		return -1;
	t = r.c.type;
	end = (vc + r.n) * cs;
	if (t == QCOW2_C_MIXED) {
		uint64_t scs = cs / QCOW2_SUBCLUSTERS;
		unsigned i = (unsigned)(in / scs);
		bool a = r.c.alloc & (1u << i), z = r.c.zero & (1u << i);

		t = a ? QCOW2_C_NORMAL : z ? QCOW2_C_ZERO : QCOW2_C_HOLE;
		while (++i < QCOW2_SUBCLUSTERS &&
		       !!(r.c.alloc & (1u << i)) == a &&
		       !!(r.c.zero & (1u << i)) == z)
			;
		end = vc * cs + i * scs;
	}
	if (end > limit)
		end = limit;
	memset(m, 0, sizeof *m);
	m->start = off;
	m->length = end - off;
	/* a cluster with host storage has host offsets, whatever it reads
	 * as (zeros that keep theirs; extended L2: each subcluster, and
	 * unallocated clusters that keep theirs, as preallocation=metadata
	 * leaves them), compressed ones have none */
	if (r.c.type != QCOW2_C_COMPRESSED && r.c.host != 0) {
		m->has_offset = true;
		m->offset = r.c.host + in;
	}
	switch (t) {
	case QCOW2_C_HOLE:
		/* unallocated: the backing file says, else zeros */
		m->zero = !below;
		break;
	case QCOW2_C_ZERO:
		m->present = m->zero = true;
		break;
	case QCOW2_C_COMPRESSED:
		m->present = m->data = true;
		break;
	default:
		m->present = m->data = true;
		m->has_offset = true;
		m->offset = r.c.host + in;
		if (hv->recurse)
			host_zero(hv, m);
		break;
	}
	return 0;
}

int ukit_map_chain_init(struct image *img, const char *path,
			struct ukit_map_chain *c, struct fmt_err *e)
{
	memset(c, 0, sizeof *c);
	while (img != NULL) {
		struct ukit_map_layer *l;
		struct qcow2 *q = ukit_image_qcow2(img);

		/* the open stopped deeper chains */
		if (c->n == UKIT_MAP_MAX_LAYERS)
			return ukit_fmt_errf(e, FMT_NOOFF, "backing chain "
					     "deeper than %d",
					     QCOW2_MAX_BACKING_DEPTH);
		l = &c->l[c->n++];
		l->img = img;
		l->path = path;
		l->size = ukit_image_size(img);
		if (q == NULL) {
			/* qemu sees a raw file in whole sectors */
			l->size = round_up(l->size, 512);
			break;
		}
		if (ukit_qcow2_metadata_prealloc(ukit_image_fd(img),
						 ukit_qcow2_header(q),
						 &l->prealloc, e) < 0)
			return -1;
		img = ukit_qcow2_backing(q, &path);
	}
	return 0;
}

/*
 * Layer (i) of (c) alone at (off), up to (limit): (m) with depth (i).
 * Unallocated in a layer with a backing file: present, zero and data
 * all false.
 */
static int layer_entry(const struct ukit_map_chain *c, int i, uint64_t off,
		       uint64_t limit, struct ukit_map_entry *m,
		       struct fmt_err *e)
{
	const struct ukit_map_layer *l = &c->l[i];
	struct qcow2 *q = ukit_image_qcow2(l->img);
	struct hostview hv = { .fd = ukit_image_fd(l->img),
			       .recurse = l->prealloc };
	bool below = i + 1 < c->n;

	memset(m, 0, sizeof *m);
	m->start = off;
	m->depth = i;
	if (q == NULL) {
		/* raw: the file's own allocation, at its own offsets; past
		 * its end (the last sector) a hole */
		struct image_extent x = { .kind = EXT_HOLE,
					  .len = limit - off };

		if (off < ukit_image_size(l->img) &&
		    ukit_image_map(l->img, off, &x, e) < 0)
			return -1;
		if (x.len > limit - off)
			x.len = limit - off;
		m->length = x.len;
		m->present = true;
		m->data = x.kind == EXT_DATA;
		m->zero = !m->data;
		m->has_offset = true;
		m->offset = off;
		return 0;
	}
	if (off >= ukit_image_size(l->img)) {
		m->length = limit - off;
		m->zero = true;
		return 0;
	}
	/* runs of clusters, merged as qemu-img map merges them */
	if (qcow2_piece(q, &hv, below, off, limit, m, e) < 0)
		return -1;
	m->depth = i;
	for (unsigned n = 0; n < MAP_MERGE_MAX && m->start + m->length < limit;
	     n++) {
		struct ukit_map_entry nx;

		if (qcow2_piece(q, &hv, below, m->start + m->length, limit,
				&nx, e) < 0)
			return -1;
		nx.depth = i;
		if (!ukit_map_mergeable(m, &nx))
			break;
		m->length += nx.length;
	}
	return 0;
}

int ukit_map_entry(const struct ukit_map_chain *c, uint64_t off,
		   struct ukit_map_entry *m, struct fmt_err *e)
{
	uint64_t limit = c->l[0].size;

	/* qemu-img map: down the chain until a layer has the data or
	 * zeros, each asked about what the one above leaves to it */
	for (int i = 0; i < c->n; i++) {
		if (layer_entry(c, i, off, limit, m, e) < 0)
			return -1;
		if (m->present || m->zero || m->data)
			break;
		/* (i) has a backing file (else its holes read as zeros) */
		if (off >= c->l[i + 1].size) {
			/* past the end of the backing file: zeros here */
			m->zero = true;
			break;
		}
		limit = off + m->length;
		if (limit > c->l[i + 1].size)
			limit = c->l[i + 1].size;
	}
	m->file = m->has_offset ? c->l[m->depth].path : NULL;
	return 0;
}

uint64_t ukit_qcow2_prealloc_size(uint64_t size, uint64_t cs,
				  unsigned refcount_bits, bool extended_l2)
{
	uint64_t l2e = extended_l2 ? 16 : 8, aligned = round_up(size, cs);
	uint64_t meta = cs, nl2e, nl1e, clusters;
	uint64_t per_block = cs * 8 / refcount_bits, per_table = cs / 8;
	uint64_t blocks = 0, table = 0, n = 0, last;

	/* the header, then every L2 table and the L1 table, each rounded
	 * to whole tables */
	nl2e = round_up(aligned / cs, cs / l2e);
	meta += nl2e * l2e;
	nl1e = round_up(nl2e * l2e / cs, cs / 8);
	meta += nl1e * 8;
	/* refcount blocks and table that also count themselves */
	clusters = (meta + aligned) / cs;
	do {
		last = n;
		blocks = div_up(clusters + table + blocks, per_block);
		table = div_up(blocks, per_table);
		n = clusters + blocks + table;
	} while (n != last);
	return meta + (blocks + table) * cs + aligned;
}

/* The output clusters that hold data, counted as the pieces of data
 * arrive, in order of their offsets. */
struct dcount {
	uint64_t cs;             /* output cluster size */
	uint64_t next;           /* end of the last cluster counted */
	uint64_t bytes;          /* clusters counted, in bytes */
};

static void count_data(struct dcount *d, uint64_t a, uint64_t b)
{
	uint64_t lo = a / d->cs * d->cs, hi = round_up(b, d->cs);

	if (lo < d->next)
		lo = d->next;
	if (hi > lo) {
		d->bytes += hi - lo;
		d->next = hi;
	}
}

/* Data at host offset (h) of (fd) for the guest bytes [a, b) of a
 * layer preallocated with metadata: the parts the file has data for
 * (where it cannot say, all of it), as host_zero() splits them. */
static void count_host_data(struct dcount *d, int fd, uint64_t a,
			    uint64_t b, uint64_t h)
{
	while (a < b) {
		off_t dat, hole;
		uint64_t n;

		dat = lseek(fd, (off_t)h, SEEK_DATA);
		if (dat < 0) {
			if (errno != ENXIO)     /* nothing to learn */
				count_data(d, a, b);
			return;                 /* else a hole to the end */
		}
		if ((uint64_t)dat > h) {
			n = (uint64_t)dat - h;
			if (n >= b - a)
				return;
			a += n;
			h += n;
			continue;
		}
		hole = lseek(fd, (off_t)h, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole <= h) {
			count_data(d, a, b);
			return;
		}
		n = (uint64_t)hole - h;
		if (n > b - a)
			n = b - a;
		count_data(d, a, a + n);
		a += n;
		h += n;
	}
}

static int measure_layer(const struct ukit_map_chain *c, int i, uint64_t a,
			 uint64_t b, struct dcount *d, struct fmt_err *e);

/* Guest bytes [a, b) that layer (i) leaves unallocated: the layer
 * below, up to its end; zeros past it or without one. */
static int measure_below(const struct ukit_map_chain *c, int i, uint64_t a,
			 uint64_t b, struct dcount *d, struct fmt_err *e)
{
	if (i + 1 >= c->n || a >= c->l[i + 1].size)
		return 0;
	if (b > c->l[i + 1].size)
		b = c->l[i + 1].size;
	return measure_layer(c, i + 1, a, b, d, e);
}

/* The subclusters of the MIXED cluster (r) at guest offset (base) that
 * lie in [a, b). */
static int measure_mixed(const struct ukit_map_chain *c, int i,
			 const struct ukit_qcow2_cluster *r, uint64_t base,
			 uint64_t cs, uint64_t a, uint64_t b,
			 struct dcount *d, struct fmt_err *e)
{
	uint64_t scs = cs / QCOW2_SUBCLUSTERS;
	const struct ukit_map_layer *l = &c->l[i];

	while (a < b) {
		unsigned k = (unsigned)((a - base) / scs), j = k;
		bool al = r->alloc & (1u << k), z = r->zero & (1u << k);
		uint64_t end;

		while (++j < QCOW2_SUBCLUSTERS &&
		       !!(r->alloc & (1u << j)) == al &&
		       !!(r->zero & (1u << j)) == z)
			;
		end = base + j * scs;
		if (end > b)
			end = b;
		if (al && l->prealloc)
			count_host_data(d, ukit_image_fd(l->img), a, end,
					r->host + (a - base));
		else if (al)
			count_data(d, a, end);
		else if (!z && measure_below(c, i, a, end, d, e) < 0)
			return -1;
		a = end;
	}
	return 0;
}

/*
 * The data of layer (i) of (c) and what it leaves to the layers below,
 * in the guest bytes [a, b) (b at most the layer's size as qemu sees
 * it), into (d).  qcow2: a run of clusters of one kind at a time, one L2
 * table at most, no host offset looked at unless the layer is
 * preallocated with metadata.  0 or -1 with (e).
 */
static int measure_layer(const struct ukit_map_chain *c, int i, uint64_t a,
			 uint64_t b, struct dcount *d, struct fmt_err *e)
{
	const struct ukit_map_layer *l = &c->l[i];
	struct qcow2 *q = ukit_image_qcow2(l->img);
	uint64_t isz = ukit_image_size(l->img), cs;

	/* past the end of a raw file (its last sector): a hole */
	if (b > isz)
		b = isz;
	if (q == NULL) {
		while (a < b) {
			struct image_extent x;

			if (ukit_image_map(l->img, a, &x, e) < 0)
				return -1;
			if (x.len == 0)
				return ukit_fmt_errf(e, a, "empty extent");
			if (x.len > b - a)
				x.len = b - a;
			if (x.kind == EXT_DATA)
				count_data(d, a, a + x.len);
			a += x.len;
		}
		return 0;
	}
	cs = ukit_qcow2_header(q)->cluster_size;
	while (a < b) {
		uint64_t vc = a / cs, end;
		struct ukit_qcow2_run r;

		if (ukit_qcow2_run(q, vc, div_up(b, cs),
				   l->prealloc ? QCOW2_RUN_CONTIG : 0, &r,
				   e) < 0)
			return -1;
		end = (vc + r.n) * cs;
		if (end > b)
			end = b;
		switch (r.c.type) {
		case QCOW2_C_HOLE:
			if (measure_below(c, i, a, end, d, e) < 0)
				return -1;
			break;
		case QCOW2_C_ZERO:
			break;
		case QCOW2_C_COMPRESSED:
			count_data(d, a, end);
			break;
		case QCOW2_C_NORMAL:
			if (l->prealloc)
				count_host_data(d, ukit_image_fd(l->img), a,
						end, r.c.host + (a - vc * cs));
			else
				count_data(d, a, end);
			break;
		case QCOW2_C_MIXED:
			if (measure_mixed(c, i, &r.c, vc * cs, cs, a, end, d,
					  e) < 0)
				return -1;
			break;
		}
		a = end;
	}
	return 0;
}

int ukit_measure_qcow2(const struct ukit_map_chain *c, uint64_t size,
		       const struct qcow2w_opts *o, struct ukit_measure *m,
		       struct fmt_err *e)
{
	uint64_t cs = 1ULL << o->cluster_bits, required = 0;
	unsigned bits = o->refcount_bits ? o->refcount_bits : 16;

	memset(m, 0, sizeof *m);
	if (c != NULL) {
		/* qemu's loop counts each data extent from the start of its
		 * first cluster to the end of its last, and goes on from
		 * there: every output cluster that holds data, once */
		struct dcount d = { .cs = cs };

		if (measure_layer(c, 0, 0, c->l[0].size, &d, e) < 0)
			return -1;
		required = d.bytes;
		size = round_up(c->l[0].size, cs);
	} else {
		size = round_up(size, 512);
	}
	if (o->prealloc == QCOW2W_PREALLOC_FULL ||
	    o->prealloc == QCOW2W_PREALLOC_FALLOC)
		required = round_up(size, cs);
	m->fully_allocated = ukit_qcow2_prealloc_size(size, cs, bits,
						      o->extended_l2);
	m->required = m->fully_allocated - round_up(size, cs) + required;
	return 0;
}

int ukit_qcow2_bitmaps_size(int fd, const struct ukit_qcow2_header *h,
			    uint64_t fsize, uint64_t cs, uint64_t *out,
			    struct fmt_err *e)
{
	uint64_t total = 0, dir_size = 0;
	struct qcow2_bitmap *b;
	uint8_t *dir;
	size_t pos = 0;
	int rc = -1;

	*out = 0;
	if (!h->has_bitmaps || !(h->autoclear & QCOW2_AUTOCLEAR_BITMAPS) ||
	    h->nb_bitmaps == 0)
		return 0;
	if (ukit_qcow2_bitmap_dir_read(fd, h, fsize, &dir, e) != 0)
		return -1;
	if ((b = malloc(sizeof *b)) == NULL) {
		free(dir);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	for (uint32_t i = 0; i < h->nb_bitmaps; i++) {
		uint64_t g, bytes, clusters;

		if (ukit_qcow2_bitmap_entry(dir, h->bitmap_dir_size, &pos,
				       h->bitmap_dir_offset, b, e) < 0)
			goto out;
		if (b->granularity_bits > 63)
			continue;
		g = 1ULL << b->granularity_bits;
		/* the bitmap, all of it allocated, and its table */
		bytes = div_up(div_up(h->size, g), 8);
		clusters = div_up(bytes, cs);
		total += clusters * cs + round_up(clusters * 8, cs);
		/* a directory entry: 24 bytes and the name, padded to 8 */
		dir_size += round_up(24 + strlen(b->name), 8);
	}
	*out = total + round_up(dir_size, cs);
	rc = 0;
out:
	free(b);
	free(dir);
	return rc;
}

int ukit_qcow2_metadata_prealloc(int fd, const struct ukit_qcow2_header *h,
				 bool *out, struct fmt_err *e)
{
	uint64_t cs = h->cluster_size, bits = 1ULL << h->refcount_order;
	uint64_t per = cs * 8 / bits, real, threshold, end, count = 0;
	uint64_t rt_n = (uint64_t)h->refcount_table_clusters * cs / 8;
	uint8_t *rt = NULL, *rb = NULL;
	struct stat st;
	int rc = -1;

	*out = false;
	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	real = (uint64_t)st.st_blocks * 512 / cs;
	threshold = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
	end = div_up((uint64_t)st.st_size, cs);
	rt = malloc(rt_n * 8);
	rb = malloc(cs);
	if (rt == NULL || rb == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	if (ukit_pread_full(fd, rt, rt_n * 8, (off_t)h->refcount_table_offset) !=
	    (ssize_t)(rt_n * 8)) {
		rc = 0;          /* a broken table: nothing to detect */
		goto out;
	}
	for (uint64_t t = 0; t < rt_n && t * per < end && count < threshold;
	     t++) {
		uint64_t boff = be64_load(rt + t * 8) & ~511ULL;

		if (boff == 0 || ukit_pread_full(fd, rb, cs, (off_t)boff) !=
		    (ssize_t)cs)
			continue;
		for (uint64_t i = 0; i < per && t * per + i < end &&
		     count < threshold; i++) {
			uint64_t v;

			switch (bits) {
			case 1: case 2: case 4:
				v = (rb[i * bits / 8] >> (i * bits % 8)) &
				    ((1u << bits) - 1);
				break;
			case 8:  v = rb[i]; break;
			case 16: v = be16_load(rb + 2 * i); break;
			case 32: v = be32_load(rb + 4 * i); break;
			default: v = be64_load(rb + 8 * i); break;
			}
			count += v != 0;
		}
	}
	*out = count >= threshold;
	rc = 0;
out:
	free(rt);
	free(rb);
	return rc;
}
