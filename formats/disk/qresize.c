/*
 * qresize.c: qcow2 resize in place (qresize.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "outfile.h"
#include "qcow2.h"
#include "qrefcnt.h"
#include "qresize.h"

/* qrefcnt's write and sync, by the names this file's steps read well with */
static int wr(int fd, const void *buf, size_t len, uint64_t off,
	      struct fmt_err *e)
{
	return ukit_qrc_write(fd, buf, len, off, e);
}

static int sync_step(int fd, bool unsafe, struct fmt_err *e)
{
	return ukit_qrc_sync(fd, unsafe, e);
}


/*
 * Move the L1 table of (new_l1) entries (the first (old_bytes) from (l1))
 * to the end of the file of (fsize) bytes and set the virtual size to
 * (size).  Everything new is appended as one run of clusters: the table,
 * a larger refcount table when the old one cannot cover the run, and a
 * refcount block for each part of the run that no block covers yet.
 * Order: the new clusters (counted in their blocks), sync; the refcount
 * table entries (or the header's refcount table pointer), sync; the
 * header's L1 pointer and size, sync; then the old L1 (and refcount)
 * table is freed.  A crash leaves the old or the new image, at worst
 * with leaked clusters.
 */
static int grow_l1(int fd, const struct ukit_qcow2_header *h, uint64_t fsize,
		   const uint8_t *l1, uint64_t new_l1, uint64_t size,
		   bool unsafe, struct fmt_err *e)
{
	struct ukit_qrc r = { .rt = NULL };
	struct ukit_qrc_run run = { .rt2 = NULL };
	uint64_t cs = h->cluster_size, old_bytes = (uint64_t)h->l1_size * 8;
	uint64_t new_cl = div_up(new_l1 * 8, cs);
	uint8_t *buf = NULL, hdr[24];
	int rc = -1;

	if (ukit_qrc_load(fd, h, &r, e) < 0)
		goto out;
	if ((buf = calloc(new_cl, cs)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	/* 1, 2: the new table, counted, with the refcount structures */
	if (ukit_qrc_run_begin(&r, fsize, new_cl, &run, e) < 0)
		goto out;
	memcpy(buf, l1, old_bytes);
	if (wr(fd, buf, new_cl * cs, run.first * cs, e) < 0) {
		ukit_qrc_run_abort(&run, fd);
		goto out;
	}
	if (ukit_qrc_run_commit(&r, &run, unsafe, e) < 0)
		goto out;
	/* 3: the header takes the new L1 table */
	be64_store(hdr, size);
	be32_store(hdr + 8, h->crypt_method);
	be32_store(hdr + 12, (uint32_t)new_l1);
	be64_store(hdr + 16, run.first * cs);
	if (wr(fd, hdr, 24, 24, e) < 0 || sync_step(fd, unsafe, e) < 0)
		goto out;
	/* 4: the old table is free (a crash before: leaked clusters) */
	for (uint64_t c = 0; c < div_up(old_bytes, cs); c++)
		if (ukit_qrc_add(&r, h->l1_table_offset / cs + c, -1, e) < 0)
			goto out;
	rc = sync_step(fd, unsafe, e);
out:
	ukit_qrc_free(&r);
	free(buf);
	return rc;
}

/* Host clusters to free once the tables no longer point at them. */
struct freelist {
	uint64_t *c;
	size_t n, cap;
};

#define FREELIST_FLUSH (1u << 20)   /* entries gathered before freeing */

static int fl_push(struct freelist *f, uint64_t c, struct fmt_err *e)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		uint64_t *p = realloc(f->c, cap * sizeof *p);

		if (p == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		f->c = p;
		f->cap = cap;
	}
	f->c[f->n++] = c;
	return 0;
}

/* Sync the cleared tables, then decrement what they pointed at. */
static int fl_flush(struct freelist *f, const struct ukit_qrc *r, bool unsafe,
		    struct fmt_err *e)
{
	if (f->n == 0)
		return 0;
	if (sync_step(r->fd, unsafe, e) < 0)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		if (ukit_qrc_add(r, f->c[i], -1, e) < 0)
			return -1;
	f->n = 0;
	return 0;
}

/*
 * Drop refcount blocks that count nothing but (perhaps) themselves, as
 * qemu's shrink does, so that the tail they sit in can be cut: their
 * table entries are cleared and synced, then a block counted by another
 * block is freed there.
 */
static int drop_empty_blocks(const struct ukit_qcow2_header *h,
			     struct ukit_qrc *r, bool unsafe, struct fmt_err *e)
{
	uint8_t *b = malloc(r->cs), *gone = calloc(r->rt_n, 1), z[8] = { 0 };
	uint64_t *was = calloc(r->rt_n, 8);
	bool any = false;
	int rc = -1;

	if (b == NULL || gone == NULL || was == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	for (uint64_t ti = 0; ti < r->rt_n; ti++) {
		uint64_t self = r->rt[ti] / r->cs;
		bool empty = true;

		if (r->rt[ti] == 0)
			continue;
		if (ukit_pread_full(r->fd, b, r->cs, (off_t)r->rt[ti]) !=
		    (ssize_t)r->cs) {
			ukit_fmt_errf(e, r->rt[ti], "refcount block %" PRIu64
				 " past end of file", ti);
			goto out;
		}
		for (uint64_t i = 0; i < r->per && empty; i++) {
			uint64_t v = ukit_qrc_entry(b, i, r->bits);

			empty = v == 0 || (v == 1 && ti * r->per + i == self);
		}
		if (!empty)
			continue;
		if (wr(r->fd, z, 8, h->refcount_table_offset + ti * 8, e) < 0)
			goto out;
		gone[ti] = 1;
		was[ti] = self;
		r->rt[ti] = 0;
		any = true;
	}
	if (!any) {
		rc = 0;
		goto out;
	}
	if (sync_step(r->fd, unsafe, e) < 0)
		goto out;
	for (uint64_t ti = 0; ti < r->rt_n; ti++)
		if (gone[ti] && was[ti] / r->per != ti &&
		    ukit_qrc_add(r, was[ti], -1, e) < 0)
			goto out;
	rc = sync_step(r->fd, unsafe, e);
out:
	free(b);
	free(gone);
	free(was);
	return rc;
}

/* rc_first_free(), for one block: its first cluster counted 0 */
static int free_in_block(void *arg, const struct ukit_qrc *r, uint64_t ti,
			 const uint8_t *b, struct fmt_err *e)
{
	(void)e;
	for (uint64_t i = 0; i < r->per; i++)
		if (ukit_qrc_entry(b, i, r->bits) == 0 && ti * r->per + i != 0) {
			*(uint64_t *)arg = ti * r->per + i;
			return 1;
		}
	return 0;
}

/*
 * The first host cluster that a refcount block counts as free (not
 * cluster 0, the header), in (*c): where qemu allocates.  0, 1 when no
 * block has one, or -1 with (e).
 */
static int rc_first_free(const struct ukit_qrc *r, uint64_t *c,
			 struct fmt_err *e)
{
	int rc = ukit_qrc_scan(r, free_in_block, c, e);

	return rc < 0 ? -1 : !rc;
}

/*
 * The consistency check, before resize trusts the refcounts to say which
 * cluster is free and which it may free: where the refcounts are lower
 * than the references (the active L1 table counted 0, say), a copied L2
 * table or a new L1 table would go over a cluster in use, and a shrink
 * would free one.  Leaks pass, as for convert.  0, or -1 with (e) naming
 * the first corruption.
 */
static int check_first(int fd, struct fmt_err *e)
{
	struct qcow2_check r;
	int rc = 0;

	if (ukit_qcow2_check_fd(fd, e->path, QCOW2_CHECK_NO_INFLATE, &r,
				e) < 0) {
		ukit_qcow2_check_free(&r);
		return -1;
	}
	for (size_t i = 0; i < r.nfindings; i++)
		if (r.findings[i].kind != QCOW2_F_LEAK) {
			rc = ukit_fmt_errf(e, r.findings[i].off, "%s (image is "
					   "corrupt; see 'ukit-pack check'): "
					   "resize changes consistent images "
					   "only",
					   r.findings[i].msg);
			break;
		}
	if (rc == 0 && (r.corruptions > 0 || r.check_errors > 0))
		rc = ukit_fmt_errf(e, FMT_NOOFF, "%" PRIu64 " corruptions and %"
				   PRIu64 " check errors (image is corrupt; "
				   "see 'ukit-pack check')", r.corruptions,
				   r.check_errors);
	ukit_qcow2_check_free(&r);
	return rc;
}

/*
 * Copy-on-write of L2 table (i) of the active L1 table (l1), whose
 * contents (t) a snapshot shares, as qemu does before it changes such a
 * table.  The copy goes to the first free cluster (when no refcount
 * block has one: appended to the file with the refcount blocks, and the
 * larger refcount table, that count it: ukit_qrc_run_begin()), counted,
 * synced; then the L1 entry takes it, with the copied flag (its refcount
 * is 1), synced; then the old table's refcount drops by one (the
 * snapshots keep it).  The clusters the table maps keep their
 * refcounts: one walk through the old table became one through the
 * copy.  A crash leaves the old table or the copy, at worst a leaked
 * cluster.  (*fsize) follows the file when it grows.
 */
static int cow_l2(const struct ukit_qcow2_header *h, struct ukit_qrc *r,
		  uint8_t *l1, uint64_t i, const uint8_t *t, uint64_t *fsize,
		  bool unsafe, struct fmt_err *e)
{
	struct ukit_qrc_run run = { .rt2 = NULL };
	uint64_t cs = r->cs, c = 0, end;
	uint64_t old = be64_load(l1 + i * 8) & QCOW2_OFFSET_MASK;
	int found;

	if ((found = rc_first_free(r, &c, e)) < 0)
		return -1;
	if (found == 0) {
		if (ck_mul(c + 1, cs, &end) || end - cs > QCOW2_OFFSET_MASK)
			return ukit_fmt_errf(e, FMT_NOOFF, "the first free host "
					"cluster, %" PRIu64 ", is past what an "
					"L1 entry can address", c);
		if (wr(r->fd, t, cs, c * cs, e) < 0 ||
		    ukit_qrc_add(r, c, 1, e) < 0 ||
		    sync_step(r->fd, unsafe, e) < 0)
			return -1;
	} else {
		if (ukit_qrc_run_begin(r, *fsize, 1, &run, e) < 0)
			return -1;
		c = run.first;
		if (wr(r->fd, t, cs, c * cs, e) < 0) {
			ukit_qrc_run_abort(&run, r->fd);
			return -1;
		}
		if (ukit_qrc_run_commit(r, &run, unsafe, e) < 0)
			return -1;
		end = run.next * cs;
	}
	if (end > *fsize)
		*fsize = end;
	be64_store(l1 + i * 8, c * cs | QCOW2_OFLAG_COPIED);
	if (wr(r->fd, l1 + i * 8, 8, h->l1_table_offset + i * 8, e) < 0 ||
	    sync_step(r->fd, unsafe, e) < 0 || ukit_qrc_add(r, old / cs, -1, e) < 0)
		return -1;
	return sync_step(r->fd, unsafe, e);
}

/*
 * Shrink to (size), as qemu-img resize --shrink: the header takes the new
 * size first (sync: the data past it is gone from the guest's view), then
 * the L2 entries of the guest clusters past the new end (those that
 * start at or past it) and the L1 entries of L2 tables left empty are
 * cleared, synced, and what they pointed at is freed; last the file is
 * cut after its last cluster in use.  The L1 table keeps its size.  An
 * L2 table a snapshot shares that is cut in part is copied first
 * (cow_l2), before the size changes.  A crash leaves the old or the new
 * size, at worst with leaked clusters.
 */
static int shrink_drop(int fd, const struct ukit_qcow2_header *h,
		       uint64_t fsize, uint8_t *l1, uint64_t size, bool unsafe,
		       struct fmt_err *e)
{
	struct ukit_qrc r = { .rt = NULL };
	struct freelist f = { .c = NULL };
	uint64_t cs = h->cluster_size, keep = div_up(size, cs);
	uint64_t esz = h->extended_l2 ? 16 : 8, last;
	uint8_t *t = NULL, hdr[8];
	int rc = -1;

	if (ukit_qrc_load(fd, h, &r, e) < 0)
		goto out;
	if ((t = malloc(cs)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	/* an L2 table shared with a snapshot is kept whole or dropped
	 * whole (its clusters' refcounts count each table walk: they drop
	 * by one either way); clearing part of it takes a copy-on-write
	 * first, as qemu's discard does */
	if (keep % h->l2_entries != 0 && keep / h->l2_entries < h->l1_size) {
		uint64_t i = keep / h->l2_entries, v = 0;
		uint64_t l2 = be64_load(l1 + i * 8) & QCOW2_OFFSET_MASK;
		bool past = false;

		if (l2 != 0 && ukit_qrc_get(&r, l2 / cs, &v, e) < 0)
			goto out;
		if (v > 1) {
			if (l2 + cs > fsize || ukit_pread_full(fd, t, cs,
					(off_t)l2) != (ssize_t)cs) {
				ukit_fmt_errf(e, l2, "L2 table %" PRIu64 " past "
					 "end of file (0x%" PRIx64 ")", i,
					 fsize);
				goto out;
			}
			for (uint64_t k = keep % h->l2_entries * esz; k < cs;
			     k++)
				past |= t[k] != 0;
			if (past && cow_l2(h, &r, l1, i, t, &fsize, unsafe,
					   e) < 0)
				goto out;
		}
	}
	be64_store(hdr, size);
	if (wr(fd, hdr, 8, 24, e) < 0 || sync_step(fd, unsafe, e) < 0)
		goto out;
	for (uint64_t i = keep / h->l2_entries; i < h->l1_size; i++) {
		uint64_t l2 = be64_load(l1 + i * 8) & QCOW2_OFFSET_MASK;
		uint64_t j0 = i == keep / h->l2_entries ?
			keep % h->l2_entries : 0;
		bool dirty = false;

		if (l2 == 0)
			continue;
		if (l2 + cs > fsize ||
		    ukit_pread_full(fd, t, cs, (off_t)l2) != (ssize_t)cs) {
			ukit_fmt_errf(e, l2, "L2 table %" PRIu64 " past end of "
				 "file (0x%" PRIx64 ")", i, fsize);
			goto out;
		}
		for (uint64_t j = j0; j < h->l2_entries; j++) {
			uint64_t ent = be64_load(t + j * esz), host, ns;

			if (ent & QCOW2_OFLAG_COMPRESSED) {
				ukit_qcow2_compressed_desc(h->cluster_bits, ent,
							   &host, &ns);
				host &= ~511ULL;
				for (uint64_t c = host / cs;
				     c <= (host + ns * 512 - 1) / cs; c++)
					if (fl_push(&f, c, e) < 0)
						goto out;
			} else if ((host = ent & QCOW2_OFFSET_MASK) != 0 &&
				   fl_push(&f, host / cs, e) < 0) {
				goto out;
			}
			for (uint64_t k = 0; k < esz; k++)
				dirty |= t[j * esz + k] != 0;
			memset(t + j * esz, 0, esz);
		}
		if (j0 == 0) {
			/* the whole table goes: unhook it, then free it */
			memset(l1 + i * 8, 0, 8);
			if (wr(fd, l1 + i * 8, 8, h->l1_table_offset + i * 8,
			       e) < 0 || fl_push(&f, l2 / cs, e) < 0)
				goto out;
		} else if (dirty && wr(fd, t, cs, l2, e) < 0) {
			goto out;
		}
		if (f.n >= FREELIST_FLUSH && fl_flush(&f, &r, unsafe, e) < 0)
			goto out;
	}
	if (fl_flush(&f, &r, unsafe, e) < 0 || sync_step(fd, unsafe, e) < 0 ||
	    drop_empty_blocks(h, &r, unsafe, e) < 0)
		goto out;
	/* cut the free tail, as qemu does (best effort there too) */
	for (last = div_up(fsize, cs); last > 1; last--) {
		uint64_t v = 0;

		if (ukit_qrc_get(&r, last - 1, &v, e) < 0)
			goto out;
		if (v != 0)
			break;
	}
	if (last * cs < fsize && ftruncate(fd, (off_t)(last * cs)) < 0) {
		ukit_fmt_errno(e, last * cs, "cannot cut the file after its "
			  "last cluster in use");
		goto out;
	}
	rc = 0;
out:
	ukit_qrc_free(&r);
	free(f.c);
	free(t);
	return rc;
}

int ukit_qcow2_resize(int fd, uint64_t size, bool shrink, bool unsafe,
		      struct fmt_err *e)
{
	struct ukit_qcow2_header h;
	struct stat st;
	uint64_t cs, span, new_l1, old_bytes, new_bytes, old_cl, new_cl;
	uint8_t *l1 = NULL, hdr[24];
	int rc = -1;

	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	switch (ukit_qcow2_header_read(fd, (uint64_t)st.st_size, &h, e)) {
	case 0:
		break;
	default:
		return -1;
	}
	if (h.incompatible & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))
		return ukit_fmt_errf(e, 72, "the image is marked dirty or corrupt; "
				"check it first");
	if (size % 512 != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "the new size %" PRIu64 " must "
				"be a multiple of 512 (as qemu-img says)", size);
	if (size < h.size && !shrink)
		return ukit_fmt_errf(e, FMT_NOOFF, "shrinking from %" PRIu64 " to %"
				PRIu64 " bytes needs --shrink", h.size, size);
	/* a v2 snapshot has no disk size of its own: qemu refuses too */
	if (h.nb_snapshots > 0 && h.version < 3)
		return ukit_fmt_errf(e, 60, "a version 2 image with %" PRIu32
				" internal snapshots cannot be resized (as "
				"qemu-img says)", h.nb_snapshots);
	if (size == h.size)
		return 0;
	if (check_first(fd, e) < 0)
		return -1;
	cs = h.cluster_size;
	span = cs * h.l2_entries;
	new_l1 = div_up(size, span);
	if (new_l1 > QCOW2_MAX_L1_BYTES / 8)
		return ukit_fmt_errf(e, FMT_NOOFF, "size %" PRIu64 " needs an L1 "
				"table larger than %u bytes", size,
				QCOW2_MAX_L1_BYTES);
	old_bytes = (uint64_t)h.l1_size * 8;
	l1 = calloc(1, (new_l1 > h.l1_size ? new_l1 : h.l1_size) * 8 + 8);
	if (l1 == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (old_bytes > 0 &&
	    ukit_pread_full(fd, l1, old_bytes, (off_t)h.l1_table_offset) !=
	    (ssize_t)old_bytes) {
		ukit_fmt_errf(e, h.l1_table_offset, "L1 table past end of file");
		goto out;
	}
	if (size < h.size) {
		rc = shrink_drop(fd, &h, (uint64_t)st.st_size, l1, size,
				 unsafe, e);
		goto out;
	}
	/* the L1 table never shrinks (it may be larger than needed) */
	if (new_l1 < h.l1_size)
		new_l1 = h.l1_size;
	new_bytes = new_l1 * 8;
	old_cl = div_up(old_bytes, cs);
	new_cl = div_up(new_bytes, cs);
	if (new_l1 > h.l1_size && (new_cl > old_cl || old_bytes == 0)) {
		rc = grow_l1(fd, &h, (uint64_t)st.st_size, l1, new_l1, size,
			     unsafe, e);
		goto out;
	}
	if (new_l1 > h.l1_size) {
		/* the new entries, in the table's last cluster, are made
		 * zero (they should be already) */
		if (wr(fd, l1 + old_bytes, new_bytes - old_bytes,
		       h.l1_table_offset + old_bytes, e) < 0 ||
		    sync_step(fd, unsafe, e) < 0)
			goto out;
	}
	be64_store(hdr, size);
	be32_store(hdr + 8, h.crypt_method);
	be32_store(hdr + 12, (uint32_t)new_l1);
	if (wr(fd, hdr, 16, 24, e) < 0)
		goto out;
	rc = sync_step(fd, unsafe, e);
out:
	free(l1);
	return rc;
}
