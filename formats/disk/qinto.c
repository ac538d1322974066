/*
 * qinto.c: convert into an existing qcow2 image (qinto.h).
 *
 * The target is hostile like every input: its header goes through
 * ukit_qcow2_header_read(), the whole image through the consistency
 * check (ukit_qcow2_open with QCOW2_CHECK_FIRST) before anything is
 * written, and every L2 table and host offset used here is compared with
 * the file size again.  The input is read through image.h.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "convert_int.h"
#include "io.h"
#include "qcow2.h"
#include "qinto.h"
#include "qrefcnt.h"

#define INTO_BATCH_BYTES (16u << 20)   /* input read per step, at most */

struct into {
	int fd;
	const char *opath;
	struct ukit_qcow2_header h;
	struct ukit_qrc r;
	uint64_t cs, fsize, isize;
	bool unsafe;
	uint8_t *l1;             /* the L1 table (h.l1_size entries) */
	uint8_t *l2;             /* the L2 table being worked on */
	uint64_t l2_idx;         /* its L1 index, or UINT64_MAX */
	uint64_t l2_off;         /* its host offset, 0: none yet */
	uint64_t *fl;            /* host clusters to free after the sync */
	size_t nfl, capfl;
	uint8_t *tail;           /* the target's bytes past the input's end
				  * in the input's last cluster */
	uint64_t tail_len;
	uint64_t *slot;          /* per cluster of a batch: its new cluster */
	struct ukit_qinto_stats *st;
};

static int wr(const struct into *t, const void *buf, size_t len,
	      uint64_t off, struct fmt_err *e)
{
	e->path = t->opath;
	if (ukit_pwrite_full(t->fd, buf, len, (off_t)off) < 0)
		return ukit_fmt_errno(e, off, "write failed");
	return 0;
}

static int fl_push(struct into *t, uint64_t c, struct fmt_err *e)
{
	if (t->nfl == t->capfl) {
		size_t cap = t->capfl ? t->capfl * 2 : 256;
		uint64_t *p = realloc(t->fl, cap * sizeof *p);

		if (p == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		t->fl = p;
		t->capfl = cap;
	}
	t->fl[t->nfl++] = c;
	return 0;
}

#define INTO_BLOCK 4096u   /* bytes: zero blocks are holes, as qemu-img */

/*
 * Write the cluster (d) at (at): its non-zero 4 KiB blocks are written;
 * its zero blocks are left alone in a (fresh) cluster past the old end
 * of the file (holes already) and punched out of a reused one (written
 * as zeros where the file system cannot punch).
 */
static int write_cluster(const struct into *t, const uint8_t *d,
			 uint64_t at, bool fresh, struct fmt_err *e)
{
	uint64_t bs = t->cs < INTO_BLOCK ? t->cs : INTO_BLOCK;

	for (uint64_t i = 0; i < t->cs;) {
		bool z = ukit_convert_all_zero(d + i, bs);
		uint64_t j = i + bs;

		while (j < t->cs && ukit_convert_all_zero(d + j, bs) == z)
			j += bs;
		if (!z || (!fresh && fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
					       FALLOC_FL_KEEP_SIZE,
					       (off_t)(at + i),
					       (off_t)(j - i)) < 0)) {
			if (wr(t, d + i, j - i, at + i, e) < 0)
				return -1;
		}
		i = j;
	}
	return 0;
}

/* Queue what the L2 entry (ent) points at for freeing. */
static int free_entry(struct into *t, uint64_t ent, struct fmt_err *e)
{
	uint64_t host, ns;

	if (ent & QCOW2_OFLAG_COMPRESSED) {
		ukit_qcow2_compressed_desc(t->h.cluster_bits, ent, &host, &ns);
		host &= ~511ULL;
		for (uint64_t c = host / t->cs;
		     c <= (host + ns * 512 - 1) / t->cs; c++)
			if (fl_push(t, c, e) < 0)
				return -1;
		return 0;
	}
	host = ent & QCOW2_OFFSET_MASK;
	return host != 0 ? fl_push(t, host / t->cs, e) : 0;
}

/*
 * Sync what points elsewhere now, then drop the refcounts of what it
 * pointed at; a normal cluster that no one uses any more is punched out
 * of the file (best effort: a file system without holes keeps it).
 */
static int fl_flush(struct into *t, struct fmt_err *e)
{
	e->path = t->opath;
	if (t->nfl == 0)
		return 0;
	if (ukit_qrc_sync(t->fd, t->unsafe, e) < 0)
		return -1;
	for (size_t i = 0; i < t->nfl; i++) {
		uint64_t v;

		if (ukit_qrc_add(&t->r, t->fl[i], -1, e) < 0 ||
		    ukit_qrc_get(&t->r, t->fl[i], &v, e) < 0)
			return -1;
		t->st->freed++;
		if (v == 0)
			(void)fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE,
					(off_t)(t->fl[i] * t->cs),
					(off_t)t->cs);
	}
	t->nfl = 0;
	return 0;
}

/* Make the L2 table of L1 index (i) the one in t->l2. */
static int l2_load(struct into *t, uint64_t i, struct fmt_err *e)
{
	uint64_t off = be64_load(t->l1 + i * 8) & QCOW2_OFFSET_MASK, v;

	e->path = t->opath;
	t->l2_idx = i;
	t->l2_off = off;
	if (off == 0) {
		memset(t->l2, 0, t->cs);
		return 0;
	}
	if (off + t->cs > t->fsize ||
	    ukit_pread_full(t->fd, t->l2, t->cs, (off_t)off) != (ssize_t)t->cs)
		return ukit_fmt_errf(e, t->h.l1_table_offset + i * 8, "L2 table "
				"%" PRIu64 " at 0x%" PRIx64 " past end of file "
				"(0x%" PRIx64 ")", i, off, t->fsize);
	if (ukit_qrc_get(&t->r, off / t->cs, &v, e) < 0)
		return -1;
	if (v != 1)
		return ukit_fmt_errf(e, t->h.l1_table_offset + i * 8, "L2 table "
				"%" PRIu64 " at 0x%" PRIx64 " has refcount %"
				PRIu64 ", not 1: a shared table is not "
				"written in place", i, off, v);
	return 0;
}

/* Fill (buf) with the input's guest clusters [g0, g1); past the input's
 * end: the target's old tail, then zeros. */
static int read_input(struct into *t, struct image *img, const char *ipath,
		      uint8_t *buf, uint64_t g0, uint64_t g1,
		      struct fmt_err *e)
{
	uint64_t lo = g0 * t->cs, hi = g1 * t->cs, end = hi;
	struct image_extent x;

	if (end > t->isize)
		end = t->isize;
	memset(buf, 0, hi - lo);
	for (uint64_t off = lo; off < end; off += x.len) {
		e->path = ipath;
		if (ukit_image_map(img, off, &x, e) < 0)
			return -1;
		if (x.len == 0 || x.off != off)
			return ukit_fmt_errf(e, off, "reader returned no extent");
		if (x.len > end - off)
			x.len = end - off;
		if (x.kind == EXT_DATA &&
		    ukit_image_read(img, buf + (off - lo), x.len, off, e) < 0)
			return -1;
	}
	if (t->tail_len > 0 && hi > t->isize)
		memcpy(buf + (t->isize - lo), t->tail, t->tail_len);
	return 0;
}

/*
 * Guest clusters [g0, g1), all in one L2 table, from (buf): see which
 * need a new host cluster, append those (and the L2 table when there is
 * none) as one counted run, write data, then the table, then free what
 * the old entries had.
 */
static int do_batch(struct into *t, const uint8_t *buf, uint64_t g0,
		    uint64_t g1, struct fmt_err *e)
{
	uint64_t cs = t->cs, l2e = t->h.l2_entries, n = g1 - g0, nalloc = 0;
	uint64_t *slot = t->slot;
	struct ukit_qrc_run run;
	bool dirty = false, new_l2;

	e->path = t->opath;
	if (t->l2_idx != g0 / l2e && l2_load(t, g0 / l2e, e) < 0)
		return -1;
	/* 1: decide, entry by entry */
	for (uint64_t k = 0; k < n; k++) {
		uint8_t *pe = t->l2 + (g0 + k) % l2e * 8;
		uint64_t ent = be64_load(pe), host = ent & QCOW2_OFFSET_MASK;
		bool comp = ent & QCOW2_OFLAG_COMPRESSED;
		bool zf = !comp && (ent & QCOW2_OFLAG_ZERO);
		const uint8_t *d = buf + k * cs;
		uint64_t v = 0;

		slot[k] = UINT64_MAX;
		if (comp)
			host = 0;
		if (ukit_convert_all_zero(d, cs)) {
			/* reads zeros already: a hole (no backing file) or
			 * the zero flag, with or without a host cluster */
			if (!comp && (host == 0 || zf))
				continue;
			if (free_entry(t, ent, e) < 0)
				return -1;
			be64_store(pe, t->h.version >= 3 ? QCOW2_OFLAG_ZERO : 0);
			t->st->zeroed++;
			dirty = true;
			continue;
		}
		if (host != 0 && host + cs <= t->fsize &&
		    ukit_qrc_get(&t->r, host / cs, &v, e) < 0)
			return -1;
		if (host != 0 && host + cs <= t->fsize && v == 1) {
			/* ours alone: written over in place */
			if (write_cluster(t, d, host, false, e) < 0)
				return -1;
			if (ent != (host | QCOW2_OFLAG_COPIED)) {
				be64_store(pe, host | QCOW2_OFLAG_COPIED);
				dirty = true;
			}
			t->st->reused++;
			continue;
		}
		if (ent != 0 && !(zf && host == 0) &&
		    free_entry(t, ent, e) < 0)
			return -1;
		slot[k] = nalloc++;
	}
	new_l2 = t->l2_off == 0 && nalloc > 0;
	/* 2: the new clusters, counted and synced before anything points
	 * at them */
	if (nalloc > 0) {
		if (ukit_qrc_run_begin(&t->r, t->fsize, nalloc + new_l2, &run,
				       e) < 0)
			return -1;
		for (uint64_t k = 0; k < n; k++) {
			uint64_t at;

			if (slot[k] == UINT64_MAX)
				continue;
			at = (run.first + slot[k]) * cs;
			be64_store(t->l2 + (g0 + k) % l2e * 8,
				   at | QCOW2_OFLAG_COPIED);
			if (write_cluster(t, buf + k * cs, at, true, e) < 0)
				goto abort;
		}
		/* the run's last cluster may be a hole: the file covers it */
		if (ftruncate(t->fd, (off_t)(run.next * cs)) < 0) {
			ukit_fmt_errno(e, run.next * cs, "cannot grow the file");
			goto abort;
		}
		if (new_l2) {
			t->l2_off = (run.first + nalloc) * cs;
			if (write_cluster(t, t->l2, t->l2_off, true, e) < 0)
				goto abort;
		}
		if (ukit_qrc_run_commit(&t->r, &run, t->unsafe, e) < 0)
			return -1;
		t->fsize = run.next * cs;
		t->st->allocated += nalloc;
		t->st->l2_new += new_l2;
		if (!new_l2)
			dirty = true;   /* the table in place takes them */
	}
	/* 3: the tables point at the new clusters */
	if (new_l2) {
		uint8_t b[8];

		be64_store(b, t->l2_off | QCOW2_OFLAG_COPIED);
		be64_store(t->l1 + t->l2_idx * 8, t->l2_off | QCOW2_OFLAG_COPIED);
		if (wr(t, b, 8, t->h.l1_table_offset + t->l2_idx * 8, e) < 0)
			return -1;
	} else if (dirty && wr(t, t->l2 + g0 % l2e * 8, n * 8,
			       t->l2_off + g0 % l2e * 8, e) < 0) {
		/* the batch's entries only: a 2 MiB table stays sparse */
		return -1;
	}
	/* 4: synced, what the old entries had is free */
	return fl_flush(t, e);
abort:
	ukit_qrc_run_abort(&run, t->fd);
	return -1;
}

/* Checks before anything is written; the header is in t->h. */
static int refuse(struct into *t, struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = &t->h;

	if (h->incompatible & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))
		return ukit_fmt_errf(e, 72, "the image is marked %s; check it "
				"first (qemu-img check -r all)",
				h->incompatible & QCOW2_INCOMPAT_CORRUPT ?
				"corrupt" : "dirty");
	if (h->has_backing)
		return ukit_fmt_errf(e, 8, "has a backing file (%s): -n into an "
				"image with a backing file is not supported "
				"(its unwritten clusters show the backing "
				"file)", h->backing_file);
	if (h->nb_snapshots > 0)
		return ukit_fmt_errf(e, 60, "has %" PRIu32 " internal snapshots: "
				"-n into an image with snapshots is not "
				"supported", h->nb_snapshots);
	if (h->has_bitmaps || (h->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return ukit_fmt_errf(e, 88, "has persistent dirty bitmaps: -n "
				"would leave them stale; not supported "
				"(qemu-img bitmap --remove them first)");
	if (h->extended_l2)
		return ukit_fmt_errf(e, 72, "has extended L2 entries "
				"(subclusters): -n into them is not supported");
	if (h->size < t->isize)
		return ukit_fmt_errf(e, 24, "output file is smaller than input "
				"file (as qemu-img says): virtual size %" PRIu64
				" < %" PRIu64 " bytes", h->size, t->isize);
	return 0;
}

/* The checker over the whole target, and the old bytes of the tail. */
static int check_and_tail(struct into *t, struct fmt_err *e)
{
	struct image *ti = NULL;
	struct qcow2 *q = NULL;
	uint64_t cend = (t->isize + t->cs - 1) / t->cs * t->cs;
	int rc = -1;

	e->path = t->opath;
	/* refused here, in words for a target: the reader's message offers
	 * --no-check, which a target never gets */
	if (t->fsize / t->cs + 1 > QCOW2_CHECK_MAX_CLUSTERS)
		return ukit_fmt_errf(e, FMT_NOOFF, "the target has %" PRIu64
				" host clusters, more than the consistency "
				"check can count (%u); -n writes only into a "
				"target it has checked", t->fsize / t->cs + 1,
				QCOW2_CHECK_MAX_CLUSTERS);
	if (ukit_qcow2_open(t->fd, t->opath, QCOW2_CHECK_FIRST, &q, e) < 0)
		return -1;
	if (ukit_image_wrap(t->fd, IMG_QCOW2, t->h.size,
			    &ukit_qcow2_image_ops, q, &ti, e) < 0)
		return -1;
	if (cend > t->h.size)
		cend = t->h.size;
	t->tail_len = cend > t->isize ? cend - t->isize : 0;
	if (t->tail_len > 0) {
		if ((t->tail = malloc(t->tail_len)) == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			goto out;
		}
		if (ukit_image_read(ti, t->tail, t->tail_len, t->isize, e) < 0)
			goto out;
	}
	rc = 0;
out:
	ukit_image_close(ti);
	return rc;
}

int ukit_convert_into_qcow2(struct image *img, const char *ipath, int fd,
			    const char *opath, const struct convert_opts *o,
			    bool unsafe, struct ukit_qinto_stats *st,
			    struct fmt_err *e)
{
	struct into t = { .fd = fd, .opath = opath, .unsafe = unsafe,
			  .l2_idx = UINT64_MAX, .st = st };
	uint8_t *buf = NULL;
	uint64_t ncl, per, l1b;
	struct stat sb;
	int rc = -1;

	memset(st, 0, sizeof *st);
	e->path = opath;
	if (fstat(fd, &sb) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	t.fsize = (uint64_t)sb.st_size;
	st->file_before = t.fsize;
	if (ukit_qcow2_header_read(fd, t.fsize, &t.h, e) < 0)
		return -1;
	t.cs = t.h.cluster_size;
	t.isize = ukit_image_size(img);
	if (refuse(&t, e) < 0 || check_and_tail(&t, e) < 0)
		goto out;
	e->path = opath;
	l1b = (uint64_t)t.h.l1_size * 8;
	per = INTO_BATCH_BYTES / t.cs ? INTO_BATCH_BYTES / t.cs : 1;
	t.l1 = calloc(1, l1b + 8);
	t.l2 = malloc(t.cs);
	t.slot = calloc(per, sizeof *t.slot);
	buf = ukit_convert_iobuf(per * t.cs);
	if (t.l1 == NULL || t.l2 == NULL || t.slot == NULL || buf == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	if (l1b > 0 && ukit_pread_full(fd, t.l1, l1b,
				       (off_t)t.h.l1_table_offset) !=
	    (ssize_t)l1b) {
		ukit_fmt_errf(e, t.h.l1_table_offset, "L1 table past end of "
			 "file");
		goto out;
	}
	/* what appending will require of the refcount blocks, now */
	if (ukit_qrc_load(fd, &t.h, &t.r, e) < 0 ||
	    ukit_qrc_check_tail(&t.r, t.fsize, e) < 0)
		goto out;
	ncl = (t.isize + t.cs - 1) / t.cs;
	/* every L2 table to write into is ours alone: refused before
	 * anything is written, not half way */
	for (uint64_t i = 0; i < (ncl + t.h.l2_entries - 1) / t.h.l2_entries;
	     i++)
		if (l2_load(&t, i, e) < 0)
			goto out;
	t.l2_idx = UINT64_MAX;
	for (uint64_t g0 = 0; g0 < ncl;) {
		uint64_t g1 = g0 + per;

		if (g1 > ncl)
			g1 = ncl;
		if (g1 > (g0 / t.h.l2_entries + 1) * t.h.l2_entries)
			g1 = (g0 / t.h.l2_entries + 1) * t.h.l2_entries;
		if (read_input(&t, img, ipath, buf, g0, g1, e) < 0 ||
		    do_batch(&t, buf, g0, g1, e) < 0)
			goto out;
		g0 = g1;
		if (o != NULL && o->progress != NULL)
			o->progress(o->ctx, g0 * t.cs < t.isize ? g0 * t.cs :
				    t.isize);
	}
	e->path = opath;
	if (!unsafe && fsync(fd) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
		goto out;
	}
	if (fstat(fd, &sb) == 0)
		st->file_after = (uint64_t)sb.st_size;
	rc = 0;
out:
	ukit_qrc_free(&t.r);
	free(t.l1);
	free(t.l2);
	free(t.fl);
	free(t.tail);
	free(t.slot);
	free(buf);
	return rc;
}
