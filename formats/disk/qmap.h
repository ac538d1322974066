/*
 * qmap.h: what qemu-img map and qemu-img measure say about an image,
 * computed the way they compute it (facts from qemu's documentation and
 * its observable output): map entries with present/zero/data/offset, and
 * the qcow2 sizes measure reports.
 */
#ifndef UKIT_QMAP_H
#define UKIT_QMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "image.h"
#include "qcow2.h"
#include "qcow2w.h"

/* One entry of qemu-img map --output=json. */
struct ukit_map_entry {
	uint64_t start, length;
	int depth;               /* 0: the top image, 1 its backing file... */
	bool present, zero, data;
	bool has_offset;
	uint64_t offset;         /* host offset, when has_offset */
	const char *file;        /* the layer's name, when has_offset
				    (borrowed from the chain) */
};

struct ukit_qcow2_header;

/*
 * Does the qcow2 image (h) on (fd) look preallocated with metadata, as
 * qemu decides it: more clusters have a refcount than the file has
 * blocks allocated (by a ninth, or two clusters)?  Then qemu's map asks
 * the file where its data clusters are holes.  0 and (*out), or -1
 * with (e).
 */
int ukit_qcow2_metadata_prealloc(int fd, const struct ukit_qcow2_header *h,
				 bool *out, struct fmt_err *e);

/* An image and the backing files under it, as map and measure see them:
 * layer 0 is the top image. */
#define UKIT_MAP_MAX_LAYERS (QCOW2_MAX_BACKING_DEPTH + 1)
struct ukit_map_layer {
	struct image *img;       /* borrowed from the top image */
	const char *path;        /* borrowed */
	uint64_t size;           /* as qemu sees it: raw rounded up to 512 */
	bool prealloc;           /* qcow2 with metadata preallocation */
};
struct ukit_map_chain {
	int n;
	struct ukit_map_layer l[UKIT_MAP_MAX_LAYERS];
};

/*
 * The layers of (img) named (path) (both borrowed: the chain lives until
 * (img) closes), opened with its backing chain or not, each qcow2 layer
 * checked for metadata preallocation.  0 and (*c), or -1 with (e).
 */
int ukit_map_chain_init(struct image *img, const char *path,
			struct ukit_map_chain *c, struct fmt_err *e);

/*
 * The entry of (c) at virtual offset (off) < the top image's size,
 * merged with what follows it as qemu-img map merges (same flags,
 * contiguous host offsets), up to some bound: callers loop, merging
 * again.  Raw: data and holes (zero, present) at their own offsets;
 * qcow2: data clusters at their host offsets (with metadata
 * preallocation, zero where the file has a hole), compressed data
 * without one, zero clusters present (at their host offsets when they
 * keep their host clusters), unallocated ones not: these are
 * looked up in the backing file (depth + 1), and read as zeros of the
 * layer above past its end.  0 or -1 with (e).
 */
int ukit_map_entry(const struct ukit_map_chain *c, uint64_t off,
		   struct ukit_map_entry *m, struct fmt_err *e);

/* Can (b) be appended to (a) in qemu-img map's output as one entry? */
bool ukit_map_mergeable(const struct ukit_map_entry *a,
			const struct ukit_map_entry *b);

/* qemu-img measure's answer. */
struct ukit_measure {
	uint64_t required, fully_allocated;
	bool has_bitmaps;        /* qcow2 input and v3 output */
	uint64_t bitmaps;
};

/*
 * Measure a qcow2 output with (o) for the image (c) (or, when (c) is
 * NULL, an empty image of (size) bytes): the bytes it needs for its
 * allocated data (what ukit_map_entry() calls data and not zero, in any
 * layer) and fully allocated, as qemu-img measure -O qcow2 computes
 * them.  0 or -1 with (e).
 */
int ukit_measure_qcow2(const struct ukit_map_chain *c, uint64_t size,
		       const struct qcow2w_opts *o, struct ukit_measure *m,
		       struct fmt_err *e);

/* qemu's metadata estimate for a fully allocated image (pure). */
uint64_t ukit_qcow2_prealloc_size(uint64_t size, uint64_t cluster_size,
				  unsigned refcount_bits, bool extended_l2);

/* Bytes the persistent dirty bitmaps of the qcow2 image (h) on (fd) of
 * (fsize) bytes would take in a qcow2 with (cluster_size) clusters, as
 * qemu-img measure counts them: 0 when it has none.  0 or -1 with (e). */
int ukit_qcow2_bitmaps_size(int fd, const struct ukit_qcow2_header *h,
			    uint64_t fsize, uint64_t cluster_size,
			    uint64_t *out, struct fmt_err *e);

#endif
