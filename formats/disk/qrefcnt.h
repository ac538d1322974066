/*
 * qrefcnt.h: the refcount structures of a qcow2 image opened read-write,
 * for the code that changes an image in place (qresize.c, qinto.c).
 * Internal to libukit's disk layer.
 *
 * The refcount table is held in memory; refcount entries are read and
 * written one at a time in the file.  New clusters are only ever
 * appended, as one run, with the refcount blocks (and, when the table
 * cannot reach them, a larger relocated table) that count them: nothing
 * points at the run until its refcounts are on disk, so a crash leaves
 * leaked clusters at worst, never a reference to a free cluster.
 */
#ifndef UKIT_QREFCNT_H
#define UKIT_QREFCNT_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "qcow2.h"

struct ukit_qrc {
	int fd;
	uint64_t cs, bits, per;         /* per: entries in a refcount block */
	uint64_t *rt;                   /* block offsets, 0 = none */
	uint64_t rt_n;                  /* entries */
	uint64_t rt_off;                /* where the table is in the file */
	uint32_t rt_clusters;
};

/* Load the refcount table that (h) describes from (fd); a refcount block
 * offset not aligned to the cluster size is refused.  0, or -1 with (e);
 * ukit_qrc_free() either way. */
int ukit_qrc_load(int fd, const struct ukit_qcow2_header *h,
		  struct ukit_qrc *r, struct fmt_err *e);
void ukit_qrc_free(struct ukit_qrc *r);

/* Refcount entry (i) of the refcount block (blk) of (bits) per entry. */
uint64_t ukit_qrc_entry(const uint8_t *blk, uint64_t i, uint64_t bits);
void ukit_qrc_set_entry(uint8_t *blk, uint64_t i, uint64_t bits, uint64_t v);

/* The refcount of host cluster (c) in (*v): 0 when no block covers it.
 * 0, or -1 with (e). */
int ukit_qrc_get(const struct ukit_qrc *r, uint64_t c, uint64_t *v,
		 struct fmt_err *e);

/* Add (d) (+1 or -1) to the refcount of host cluster (c); refused (-1
 * with (e)) when no block covers it or the count would wrap. */
int ukit_qrc_add(const struct ukit_qrc *r, uint64_t c, int d,
		 struct fmt_err *e);

/*
 * Each refcount block of (r) in table order, read into a buffer and
 * given to (fn) with its table index (ti), until (fn) returns other
 * than 0, which is returned.  0 when every block was seen, -1 with (e)
 * for a block the file does not hold.
 */
typedef int (*ukit_qrc_block_fn)(void *arg, const struct ukit_qrc *r,
				 uint64_t ti, const uint8_t *b,
				 struct fmt_err *e);
int ukit_qrc_scan(const struct ukit_qrc *r, ukit_qrc_block_fn fn, void *arg,
		  struct fmt_err *e);

/*
 * What ukit_qrc_run_begin() will require of the file of (fsize) bytes,
 * checked before anything is written: every refcount block is inside the
 * file, and counts 0 for each host cluster past its end.  0, or -1 with
 * (e).
 */
int ukit_qrc_check_tail(const struct ukit_qrc *r, uint64_t fsize,
			struct fmt_err *e);

/* (len) bytes of (buf) at (off) of (fd): 0, or -1 with (e) at (off). */
int ukit_qrc_write(int fd, const void *buf, size_t len, uint64_t off,
		   struct fmt_err *e);

/* fdatasync (fd) unless (unsafe).  0, or -1 with (e). */
int ukit_qrc_sync(int fd, bool unsafe, struct fmt_err *e);

/*
 * A run of clusters appended at host cluster (first): (n) clusters for
 * the caller, then (nrt) of a new refcount table (0: the old one reaches
 * the run), then the refcount blocks the run needs.
 */
struct ukit_qrc_run {
	uint64_t first, n, next;        /* next: first cluster after the run */
	uint64_t nrt, t0, t1, rt2_n, *rt2;
	uint8_t *blocks, *orig, *missing;
	uint64_t cs;
	uint64_t fsize;                 /* the file's size before */
	bool written;
	bool hooked;                    /* the table may point into the run */
};

/*
 * Plan the run of (n) clusters at the end of the file of (fsize) bytes
 * and write its refcount metadata (the blocks count every cluster of the
 * run as 1; clusters past the end of the file must count 0, else -1 with
 * (e)).  The caller then writes its (n) clusters at run->first and calls
 * ukit_qrc_run_commit(), or ukit_qrc_run_abort() on failure.  0, or -1
 * with (e) (the run aborted).
 */
int ukit_qrc_run_begin(struct ukit_qrc *r, uint64_t fsize, uint64_t n,
		       struct ukit_qrc_run *run, struct fmt_err *e);

/*
 * Sync (the caller's clusters with the rest), hook the new refcount
 * blocks into the table (or the new table into the header, at byte 48),
 * sync, then free the old table's clusters.  (r) follows.  0, or -1 with
 * (e): before the hook the run is undone; after it, leaks at worst.
 */
int ukit_qrc_run_commit(struct ukit_qrc *r, struct ukit_qrc_run *run,
			bool unsafe, struct fmt_err *e);

/* Undo a run not committed (best effort: the old refcount blocks back,
 * the file cut to its old size) and release it; a run that a failed
 * commit had begun to hook in is left whole (its clusters leak).  Fine
 * after a commit. */
void ukit_qrc_run_abort(struct ukit_qrc_run *run, int fd);

#endif
