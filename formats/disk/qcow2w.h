/*
 * qcow2w.h: a streaming qcow2 writer (v2 compat 0.10 and v3 compat 1.1).
 *
 * The caller hands over the guest clusters that hold data, in increasing
 * order, each either as plain bytes or already compressed; the writer
 * places them in the output file, builds the L1/L2 tables, and at the end
 * sizes the refcount structures exactly and writes the header.  Memory is
 * one L2 table and one refcount block (one cluster each) plus the
 * refcount table (8 bytes per refcount block), whatever the image size.
 *
 * Layout: cluster 0 header (+ feature name table on v3), then the L1
 * table, then data clusters with each L2 table written after the data it
 * maps; a refcount block is written at the first cluster of each
 * refcount range once the previous range is complete; the last refcount
 * blocks and the refcount table close the file.  Compressed clusters are
 * packed byte by byte like qemu packs them (a compressed cluster may run
 * on into the next host cluster when that one is the next one allocated).
 */
#ifndef UKIT_QCOW2W_H
#define UKIT_QCOW2W_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define QCOW2W_MIN_CLUSTER_BITS 9      /* 512 B */
#define QCOW2W_MAX_CLUSTER_BITS 21     /* 2 MiB */
#define QCOW2W_MAX_L1_BYTES (32u << 20) /* qemu's QCOW_MAX_L1_SIZE */
#define QCOW2W_REFCOUNT_MAX 0xffffu    /* refcount_order 4: 16 bits */
#define QCOW2W_IOV 64                  /* data writes gathered per pwritev */

enum qcow2w_comp {
	QCOW2W_NONE = 0,     /* clusters are written uncompressed */
	QCOW2W_ZLIB,         /* raw deflate, 4 KiB window (qemu's -12) */
	QCOW2W_ZSTD,         /* zstd frames; incompatible feature bit 3 */
};

enum qcow2w_prealloc {
	QCOW2W_PREALLOC_OFF = 0,  /* only clusters that hold data */
	QCOW2W_PREALLOC_METADATA, /* every guest cluster gets a host cluster
				   * (L2 entries set, file sparse) */
	QCOW2W_PREALLOC_FALLOC,   /* metadata, and the file is fallocate()d */
	QCOW2W_PREALLOC_FULL,     /* as falloc: the blocks are allocated and
				   * read as zeros */
};

struct qcow2w_opts {
	unsigned cluster_bits;   /* 9..21 */
	int version;             /* 2 (compat 0.10) or 3 (compat 1.1) */
	enum qcow2w_comp comp;   /* the header's compression type */
	bool zstd_header;        /* zstd in the header with comp NONE */
	unsigned refcount_bits;  /* 1, 2, 4, ... 64; 0 means 16 (v2: 16) */
	bool lazy_refcounts;     /* compatible feature bit 0 (v3) */
	bool extended_l2;        /* 128-bit L2 entries, 32 subclusters (v3,
				  * clusters of 16 KiB or more) */
	enum qcow2w_prealloc prealloc;   /* not with compressed clusters */
	bool zero_unwritten;     /* guest clusters not stored read as zeros
				  * even over a backing file: zero flags
				  * (v2: zero-filled clusters) */
	const char *backing_file;        /* NULL: none; at most 1023 bytes */
	const char *backing_fmt;         /* NULL: none; with backing_file */
};

/* The fixed part of the layout, from the options and the virtual size. */
struct ukit_qcow2w_geom {
	uint64_t cluster_size;
	uint64_t size;           /* virtual size, rounded up to 512 */
	uint64_t l2_entries;     /* entries per L2 table */
	uint64_t l2_esize;       /* bytes per L2 entry: 8, or 16 (extended) */
	unsigned refcount_bits;  /* 1..64 */
	uint64_t refcount_max;   /* largest refcount the writer stores */
	uint64_t l1_size;        /* L1 entries */
	uint64_t l1_clusters;
	uint64_t rb_entries;     /* refcounts per refcount block */
	unsigned csize_shift;    /* compressed descriptor: sector count bits */
	uint64_t header_len;     /* header + extensions + end marker */
	uint64_t backing_off;    /* the backing file name, or 0 */
};

/*
 * Compute the geometry for (vsize) bytes with (o).  0, or -1 with (e)
 * (cluster bits out of range, v2 with zstd or another v3 feature,
 * refcount bits not a power of two up to 64, extended L2 entries with
 * clusters under 16 KiB, preallocation with compression, a backing file
 * name too long, L1 table too large).
 */
int ukit_qcow2w_geom(const struct qcow2w_opts *o, uint64_t vsize,
		struct ukit_qcow2w_geom *g, struct fmt_err *e);

/*
 * Refcount structures for a file whose clusters [0, used) are taken, of
 * which the refcount ranges below (sealed) already have their blocks:
 * the number of new refcount blocks (*blocks) and refcount table clusters
 * (*table) so that they also count themselves.  Pure: for tests.
 */
void ukit_qcow2w_refcount_fit(uint64_t used, uint64_t sealed, uint64_t rb_entries,
			 uint64_t cluster_size, uint64_t *blocks,
			 uint64_t *table);

/* L2 entry of a compressed cluster of (len) bytes at host offset (off). */
uint64_t ukit_qcow2w_comp_desc(const struct ukit_qcow2w_geom *g, uint64_t off,
			  uint64_t len);

/*
 * Encode the header cluster (g->cluster_size bytes at (buf)).
 * Pure: for tests.
 */
void ukit_qcow2w_header(const struct qcow2w_opts *o, const struct ukit_qcow2w_geom *g,
		   uint64_t rt_off, uint64_t rt_clusters, uint64_t l1_off,
		   uint8_t *buf);

struct qcow2w;

/*
 * Start an image of (vsize) bytes on (fd) (borrowed, open for writing,
 * empty).  Errors name (path).  0 and (*out), or -1 with (e).
 */
int ukit_qcow2w_open(int fd, const char *path, const struct qcow2w_opts *o,
		uint64_t vsize, struct qcow2w **out, struct fmt_err *e);

/*
 * Store guest cluster (idx) (cluster_size bytes at (data)) uncompressed.
 * Indices must increase from call to call.  Writes to consecutive host
 * offsets are gathered: (data) must stay unchanged until the next
 * ukit_qcow2w_flush() (or ukit_qcow2w_finish()).  0 or -1 with (e).
 */
int ukit_qcow2w_put(struct qcow2w *w, uint64_t idx, const void *data,
	       struct fmt_err *e);

/*
 * Store guest cluster (idx) as (len) < cluster_size compressed bytes;
 * (data) as for ukit_qcow2w_put().  0 or -1 with (e).
 */
int ukit_qcow2w_put_compressed(struct qcow2w *w, uint64_t idx, const void *data,
			  size_t len, struct fmt_err *e);

/*
 * Allocate a host cluster for guest cluster (idx) (indices increasing as
 * for ukit_qcow2w_put()) and return its offset in (*host); the caller writes
 * the data there.  Parts it does not write read as zeros (the cluster is
 * fresh file space).  0 or -1 with (e).
 */
int ukit_qcow2w_alloc(struct qcow2w *w, uint64_t idx, uint64_t *host,
		 struct fmt_err *e);

/* Write what ukit_qcow2w_put*() gathered.  0 or -1 with (e). */
int ukit_qcow2w_flush(struct qcow2w *w, struct fmt_err *e);

/*
 * Write the last L2 table, the refcount structures and the header.
 * 0 or -1 with (e).  The file is complete but not synced.
 */
int ukit_qcow2w_finish(struct qcow2w *w, struct fmt_err *e);

/* Bytes of host file written so far (for progress and tests). */
uint64_t ukit_qcow2w_host_size(const struct qcow2w *w);

/* NULL is fine. */
void ukit_qcow2w_free(struct qcow2w *w);

#endif
