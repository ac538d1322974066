/*
 * qrefcnt.c: qcow2 refcounts changed in place (qrefcnt.h).  Trusts the
 * header it is given (ukit_qcow2_header_parse checked it); every refcount
 * block offset is checked for alignment, and every table and block read
 * from the file is read with a length check.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "io.h"
#include "qrefcnt.h"

int ukit_qrc_write(int fd, const void *buf, size_t len, uint64_t off,
		   struct fmt_err *e)
{
	if (ukit_pwrite_full(fd, buf, len, off) < 0)
		return ukit_fmt_errno(e, off, "write failed");
	return 0;
}

int ukit_qrc_sync(int fd, bool unsafe, struct fmt_err *e)
{
	if (!unsafe && fdatasync(fd) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
	return 0;
}

int ukit_qrc_load(int fd, const struct ukit_qcow2_header *h,
		  struct ukit_qrc *r, struct fmt_err *e)
{
	uint64_t n = (uint64_t)h->refcount_table_clusters * h->cluster_size / 8;
	uint8_t *buf;

	r->fd = fd;
	r->cs = h->cluster_size;
	r->bits = 1ULL << h->refcount_order;
	r->per = r->cs * 8 / r->bits;
	r->rt_n = n;
	r->rt_off = h->refcount_table_offset;
	r->rt_clusters = h->refcount_table_clusters;
	r->rt = calloc(n, 8);
	buf = malloc(n * 8);
	if (r->rt == NULL || buf == NULL) {
		free(buf);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	if (ukit_pread_full(fd, buf, n * 8, (off_t)h->refcount_table_offset) !=
	    (ssize_t)(n * 8)) {
		free(buf);
		return ukit_fmt_errf(e, h->refcount_table_offset, "refcount "
				"table (%" PRIu64 " bytes) past end of file",
				n * 8);
	}
	for (uint64_t i = 0; i < n; i++) {
		r->rt[i] = be64_load(buf + i * 8) & ~511ULL;
		/* refcounts written there would land inside another
		 * cluster (qemu-img check: "not cluster aligned") */
		if (r->rt[i] & (r->cs - 1)) {
			free(buf);
			return ukit_fmt_errf(e, h->refcount_table_offset + i * 8,
					"refcount block %" PRIu64 " at 0x%" PRIx64
					" not aligned to the cluster size", i,
					r->rt[i]);
		}
	}
	free(buf);
	return 0;
}

void ukit_qrc_free(struct ukit_qrc *r)
{
	free(r->rt);
	r->rt = NULL;
}

uint64_t ukit_qrc_entry(const uint8_t *blk, uint64_t i, uint64_t bits)
{
	switch (bits) {
	case 8:  return blk[i];
	case 16: return be16_load(blk + i * 2);
	case 32: return be32_load(blk + i * 4);
	case 64: return be64_load(blk + i * 8);
	default: /* 1, 2, 4 bits: the lowest index in the lowest bits */
		return (blk[i * bits / 8] >> (i * bits % 8)) &
		       ((1u << bits) - 1);
	}
}

void ukit_qrc_set_entry(uint8_t *blk, uint64_t i, uint64_t bits, uint64_t v)
{
	switch (bits) {
	case 8:  blk[i] = (uint8_t)v; break;
	case 16: be16_store(blk + i * 2, (uint16_t)v); break;
	case 32: be32_store(blk + i * 4, (uint32_t)v); break;
	case 64: be64_store(blk + i * 8, v); break;
	default: {
		unsigned sh = (unsigned)(i * bits % 8);
		uint8_t *b = blk + i * bits / 8;

		*b = (uint8_t)((*b & ~(((1u << bits) - 1) << sh)) | (v << sh));
	}
	}
}

/*
 * Where the refcount of host cluster (c) lives: the file offset of the
 * byte(s) holding it, (*idx) its index relative to (*at), (*n) bytes.
 * 0, or 1 when no refcount block covers (c).
 */
static int rc_where(const struct ukit_qrc *r, uint64_t c, uint64_t *at,
		    uint64_t *idx, size_t *n)
{
	uint64_t ti = c / r->per, i = c % r->per;

	if (ti >= r->rt_n || r->rt[ti] == 0)
		return 1;
	*at = r->rt[ti] + i * r->bits / 8;
	*idx = r->bits < 8 ? i % (8 / r->bits) : 0;
	*n = r->bits < 8 ? 1 : (size_t)(r->bits / 8);
	return 0;
}

int ukit_qrc_get(const struct ukit_qrc *r, uint64_t c, uint64_t *v,
		 struct fmt_err *e)
{
	uint64_t at, idx;
	uint8_t b[8];
	size_t n;

	if (rc_where(r, c, &at, &idx, &n) != 0) {
		*v = 0;
		return 0;
	}
	if (ukit_pread_full(r->fd, b, n, (off_t)at) != (ssize_t)n)
		return ukit_fmt_errf(e, at, "refcount of host cluster %" PRIu64
				" past end of file", c);
	*v = ukit_qrc_entry(b, idx, r->bits);
	return 0;
}

int ukit_qrc_add(const struct ukit_qrc *r, uint64_t c, int d,
		 struct fmt_err *e)
{
	uint64_t at, idx, v, max = r->bits == 64 ? UINT64_MAX :
		(1ULL << r->bits) - 1;
	uint8_t b[8];
	size_t n;

	if (rc_where(r, c, &at, &idx, &n) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "host cluster %" PRIu64
				" (0x%" PRIx64 ") is in use but no refcount "
				"block covers it", c, c * r->cs);
	if (ukit_pread_full(r->fd, b, n, (off_t)at) != (ssize_t)n)
		return ukit_fmt_errf(e, at, "refcount of host cluster %" PRIu64
				" past end of file", c);
	v = ukit_qrc_entry(b, idx, r->bits);
	if ((d < 0 && v == 0) || (d > 0 && v == max))
		return ukit_fmt_errf(e, at, "refcount of host cluster %" PRIu64
				" (0x%" PRIx64 ") is %" PRIu64 "; cannot %s "
				"it", c, c * r->cs, v, d < 0 ? "decrement" :
				"increment");
	ukit_qrc_set_entry(b, idx, r->bits, d < 0 ? v - 1 : v + 1);
	return ukit_qrc_write(r->fd, b, n, at, e);
}

int ukit_qrc_scan(const struct ukit_qrc *r, ukit_qrc_block_fn fn, void *arg,
		  struct fmt_err *e)
{
	uint8_t *b = malloc(r->cs);
	int rc = 0;

	if (b == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	for (uint64_t ti = 0; ti < r->rt_n && rc == 0; ti++) {
		if (r->rt[ti] == 0)
			continue;
		if (ukit_pread_full(r->fd, b, r->cs, (off_t)r->rt[ti]) !=
		    (ssize_t)r->cs)
			rc = ukit_fmt_errf(e, r->rt[ti], "refcount block %"
					   PRIu64 " past end of file", ti);
		else
			rc = fn(arg, r, ti, b, e);
	}
	free(b);
	return rc;
}

/* ukit_qrc_check_tail(), for one block: counts past cluster (*end) */
static int tail_block(void *arg, const struct ukit_qrc *r, uint64_t ti,
		      const uint8_t *b, struct fmt_err *e)
{
	uint64_t end = *(const uint64_t *)arg;

	for (uint64_t c = ti * r->per > end ? ti * r->per : end;
	     c < (ti + 1) * r->per; c++) {
		uint64_t v = ukit_qrc_entry(b, c - ti * r->per, r->bits);

		if (v != 0)
			return ukit_fmt_errf(e, r->rt[ti], "host cluster %"
					     PRIu64 " past the end of the file "
					     "has refcount %" PRIu64, c, v);
	}
	return 0;
}

int ukit_qrc_check_tail(const struct ukit_qrc *r, uint64_t fsize,
			struct fmt_err *e)
{
	uint64_t end = div_up(fsize, r->cs);

	return ukit_qrc_scan(r, tail_block, &end, e);
}

static void run_release(struct ukit_qrc_run *run)
{
	free(run->rt2);
	free(run->blocks);
	free(run->orig);
	free(run->missing);
	run->rt2 = NULL;
	run->blocks = run->orig = run->missing = NULL;
}

void ukit_qrc_run_abort(struct ukit_qrc_run *run, int fd)
{
	if (run->written && !run->hooked) {
		/* old blocks back, the run cut off (best effort: the
		 * error is what counts) */
		for (uint64_t ti = run->t0; ti <= run->t1; ti++)
			if (!run->missing[ti - run->t0] &&
			    ukit_pwrite_full(fd, run->orig + (ti - run->t0) *
					     run->cs, run->cs,
					     (off_t)run->rt2[ti]) < 0)
				break;
		if (ftruncate(fd, (off_t)run->fsize) < 0)
			(void)0;
		run->written = false;
	}
	run_release(run);
}

int ukit_qrc_run_begin(struct ukit_qrc *r, uint64_t fsize, uint64_t n,
		       struct ukit_qrc_run *run, struct fmt_err *e)
{
	uint64_t cs = r->cs, end = div_up(fsize, cs), nblk = 0, nrt = 0;
	uint64_t next, t0, t1;
	uint8_t *buf = NULL;

	memset(run, 0, sizeof *run);
	run->cs = cs;
	run->fsize = fsize;
	/* grow the run until it covers itself */
	for (;;) {
		uint64_t miss = 0, want = 0;

		next = end + n + nrt + nblk;
		t0 = end / r->per;
		t1 = (next - 1) / r->per;
		if (t1 >= r->rt_n)
			want = div_up((t1 + 1) * 8, cs);
		for (uint64_t ti = t0; ti <= t1; ti++)
			miss += ti >= r->rt_n || r->rt[ti] == 0;
		if (miss <= nblk && want <= nrt)
			break;
		nblk = miss > nblk ? miss : nblk;
		nrt = want > nrt ? want : nrt;
	}
	if (nrt * cs > QCOW2_MAX_REFTABLE_BYTES)
		return ukit_fmt_errf(e, 48, "the image needs a refcount table "
				"of %" PRIu64 " bytes, more than %" PRIu64,
				nrt * cs, (uint64_t)QCOW2_MAX_REFTABLE_BYTES);
	run->first = end;
	run->n = n;
	run->next = next;
	run->nrt = nrt;
	run->t0 = t0;
	run->t1 = t1;
	run->rt2_n = nrt ? nrt * cs / 8 : r->rt_n;
	run->rt2 = calloc(run->rt2_n, 8);
	run->missing = calloc(t1 - t0 + 1, 1);
	run->blocks = malloc((t1 - t0 + 1) * cs);
	run->orig = malloc((t1 - t0 + 1) * cs);
	if (nrt)
		buf = calloc(nrt, cs);
	if (run->rt2 == NULL || run->missing == NULL || run->blocks == NULL ||
	    run->orig == NULL || (nrt && buf == NULL)) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	memcpy(run->rt2, r->rt, r->rt_n * 8);
	/* the refcount blocks of the run: new ones zero, old ones read and
	 * checked (clusters past the end of the file are free) */
	for (uint64_t ti = t0, k = 0; ti <= t1; ti++) {
		uint8_t *b = run->blocks + (ti - t0) * cs;

		if (run->rt2[ti] == 0) {
			run->missing[ti - t0] = 1;
			run->rt2[ti] = (end + n + nrt + k++) * cs;
			memset(b, 0, cs);
		} else if (ukit_pread_full(r->fd, b, cs, (off_t)run->rt2[ti]) !=
			   (ssize_t)cs) {
			ukit_fmt_errf(e, run->rt2[ti], "refcount block %" PRIu64
				 " past end of file", ti);
			goto fail;
		}
		memcpy(run->orig + (ti - t0) * cs, b, cs);
		for (uint64_t c = ti * r->per > end ? ti * r->per : end;
		     c < next && c < (ti + 1) * r->per; c++) {
			uint64_t v = ukit_qrc_entry(b, c - ti * r->per, r->bits);

			if (v != 0) {
				ukit_fmt_errf(e, run->rt2[ti], "host cluster %"
					 PRIu64 " past the end of the file has "
					 "refcount %" PRIu64, c, v);
				goto fail;
			}
			ukit_qrc_set_entry(b, c - ti * r->per, r->bits, 1);
		}
	}
	/* nothing points at any of it yet */
	run->written = true;
	if (nrt) {
		for (uint64_t i = 0; i < run->rt2_n; i++)
			be64_store(buf + i * 8, run->rt2[i]);
		if (ukit_qrc_write(r->fd, buf, nrt * cs, (end + n) * cs, e) < 0)
			goto fail;
	}
	for (uint64_t ti = t0; ti <= t1; ti++)
		if (ukit_qrc_write(r->fd, run->blocks + (ti - t0) * cs, cs,
				   run->rt2[ti], e) < 0)
			goto fail;
	free(buf);
	return 0;
fail:
	free(buf);
	ukit_qrc_run_abort(run, r->fd);
	return -1;
}

int ukit_qrc_run_commit(struct ukit_qrc *r, struct ukit_qrc_run *run,
			bool unsafe, struct fmt_err *e)
{
	uint64_t cs = r->cs, old_off = r->rt_off;
	uint32_t old_cl = r->rt_clusters;
	uint8_t hdr[12];

	if (ukit_qrc_sync(r->fd, unsafe, e) < 0)
		goto fail;
	/* the refcount table takes the new blocks: from the first write on,
	 * the file may point into the run, which must then stay (a failure
	 * leaks the caller's clusters, it never cuts what is pointed at) */
	run->hooked = true;
	if (run->nrt) {
		be64_store(hdr, (run->first + run->n) * cs);
		be32_store(hdr + 8, (uint32_t)run->nrt);
		if (ukit_qrc_write(r->fd, hdr, 12, 48, e) < 0)
			goto fail;
	} else {
		for (uint64_t ti = run->t0; ti <= run->t1; ti++) {
			if (!run->missing[ti - run->t0])
				continue;
			be64_store(hdr, run->rt2[ti]);
			if (ukit_qrc_write(r->fd, hdr, 8, r->rt_off + ti * 8,
					   e) < 0)
				goto fail;
		}
	}
	if (ukit_qrc_sync(r->fd, unsafe, e) < 0)
		goto fail;
	/* from here on the new blocks are in use */
	run->written = false;
	free(r->rt);
	r->rt = run->rt2;
	r->rt_n = run->rt2_n;
	run->rt2 = NULL;
	if (run->nrt) {
		r->rt_off = (run->first + run->n) * cs;
		r->rt_clusters = (uint32_t)run->nrt;
		/* the old table is free (a crash before: leaked clusters) */
		for (uint64_t c = 0; c < old_cl; c++)
			if (ukit_qrc_add(r, old_off / cs + c, -1, e) < 0) {
				run_release(run);
				return -1;
			}
	}
	run_release(run);
	return 0;
fail:
	ukit_qrc_run_abort(run, r->fd);
	return -1;
}
