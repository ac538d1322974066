/*
 * qcow2.h: a bounded, checking reader for qcow2 images (v2 "compat 0.10"
 * and v3 "compat 1.1"), zlib and zstd compressed clusters, extended L2
 * entries (subclusters).
 *
 * Everything in the file is hostile: the header is checked in one place
 * (ukit_qcow2_header_parse), every table and data offset is compared with the
 * file size before it is read, and memory is bounded by the named limits
 * below, never by a size field.
 */
#ifndef UKIT_QCOW2_H
#define UKIT_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "image.h"

#define QCOW2_MAGIC          0x514649fbU   /* "QFI\xfb" */
#define QCOW2_V2_HDR_LEN     72            /* bytes */
#define QCOW2_V3_HDR_LEN     104           /* bytes, without compression type */
#define QCOW2_MIN_CLUSTER_BITS 9           /* 512 B */
#define QCOW2_MAX_CLUSTER_BITS 21          /* 2 MiB */
#define QCOW2_MAX_L1_BYTES   (32u << 20)   /* as qemu: 32 MiB of L1 entries */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20) /* as qemu: 8 MiB */
#define QCOW2_MAX_SNAPSHOTS  65536
#define QCOW2_L2_CACHE_BYTES (8u << 20)    /* L2 tables kept, per handle */
#define QCOW2_MAX_BACKING_DEPTH 8
#define QCOW2_BACKING_MAX    1023          /* bytes of backing file name */
#define QCOW2_SUBCLUSTERS    32            /* per cluster, extended L2 */
#define QCOW2_EXTL2_MIN_CLUSTER_BITS 14    /* 512-byte subclusters, as qemu */

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY        (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN        0x1fULL
/* Compatible feature bits. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

#define QCOW2_COMPRESS_ZLIB 0
#define QCOW2_COMPRESS_ZSTD 1

/* Table entry bits. */
#define QCOW2_OFLAG_COPIED     (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO       (1ULL << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ULL

/* Header extension types. */
#define QCOW2_EXT_END          0x00000000U
#define QCOW2_EXT_BACKING_FMT  0xe2792acaU
#define QCOW2_EXT_FEATURES     0x6803f857U
#define QCOW2_EXT_BITMAPS      0x23852875U
#define QCOW2_EXT_CRYPTO       0x0537be77U
#define QCOW2_AUTOCLEAR_BITMAPS 0x1ULL   /* the bitmaps extension is valid */
#define QCOW2_EXT_DATA_FILE    0x44415441U

/* The decoded header; every field has passed ukit_qcow2_header_parse(). */
struct ukit_qcow2_header {
	uint32_t version;               /* 2 or 3 */
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;          /* 9..21 */
	uint64_t cluster_size;
	uint64_t size;                  /* virtual size, bytes */
	uint32_t crypt_method;          /* 0 */
	uint32_t l1_size;               /* entries */
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompatible;
	uint64_t compatible;
	uint64_t autoclear;
	uint32_t refcount_order;        /* 0..6 */
	uint32_t header_length;         /* bytes; 72 for v2 */
	uint8_t  compression_type;      /* QCOW2_COMPRESS_* */
	uint64_t l1_needed;             /* L1 entries the virtual size needs */
	bool     extended_l2;           /* incompatible bit 4: 128-bit L2 entries */
	uint64_t l2_entries;            /* per L2 table: cluster_size / 8, or / 16 */
	bool     has_backing;
	char     backing_file[QCOW2_BACKING_MAX + 1];
	char     backing_fmt[64];       /* from the extension, or "" */
	/* persistent dirty bitmaps (extension 0x23852875), unchecked */
	bool     has_bitmaps;
	uint64_t bitmaps_ext;           /* file offset of the extension */
	uint32_t nb_bitmaps;
	uint64_t bitmap_dir_size;
	uint64_t bitmap_dir_offset;
	uint64_t ext_end;               /* end of the header extensions */
};

/*
 * Parse and check the header in (buf, len): the first bytes of the file
 * (at least 72, ideally the whole first cluster, where the extensions
 * live).  Checks every limit: magic, version, cluster_bits, header_length,
 * size against l1_size, refcount_order, table offsets aligned, feature bits
 * (unknown incompatible bits, external data file and encryption are
 * refused; extended L2 entries are read; dirty and corrupt are reported in
 * (h) and left to the caller), compression type, backing file name
 * bounds, extensions.
 * Returns 0 and (*h), or -1 with (e) pointing at the offending field.
 */
int ukit_qcow2_header_parse(const uint8_t *buf, size_t len,
		       struct ukit_qcow2_header *h, struct fmt_err *e);

/*
 * Read the first cluster of the file on (fd) of (fsize) bytes (at most
 * 2 MiB: the header and its extensions) and parse it.  0 and (*h); -1
 * with (e) when the file cannot be read (or memory runs out); -2 with (e)
 * when the header is refused.
 */
int ukit_qcow2_header_read(int fd, uint64_t fsize, struct ukit_qcow2_header *h,
		      struct fmt_err *e);

/* One entry of the bitmap directory. */
struct qcow2_bitmap {
	uint64_t table_offset;
	uint32_t table_size;     /* entries */
	uint32_t flags;          /* bit 0 in use, bit 1 auto */
	uint32_t granularity_bits;
	char name[1024];         /* NUL-terminated (names are at most 1023) */
};

#define QCOW2_BITMAP_DIR_MAX (64u << 20)  /* directory bytes, as qemu */

/*
 * The bitmap directory entry at (*pos) of (dir, len) (read from
 * h->bitmap_dir_offset): fills (b) and moves (*pos) to the next entry.
 * 0, or -1 with (e) (offset relative to the directory start (base)).
 */
int ukit_qcow2_bitmap_entry(const uint8_t *dir, size_t len, size_t *pos,
		       uint64_t base, struct qcow2_bitmap *b,
		       struct fmt_err *e);

/*
 * Read the bitmap directory that (h) points at in the file on (fd) of
 * (fsize) bytes into (*dir) (h->bitmap_dir_size bytes, malloc'd).  0; -1
 * with (e) when it cannot be read (or memory runs out); -2 with (e) when
 * it is empty, larger than QCOW2_BITMAP_DIR_MAX or past end of file.
 */
int ukit_qcow2_bitmap_dir_read(int fd, const struct ukit_qcow2_header *h,
			  uint64_t fsize, uint8_t **dir, struct fmt_err *e);

/* One entry of the snapshot table. */
struct qcow2_snapshot {
	uint64_t l1_table_offset;
	uint32_t l1_size;        /* entries */
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;  /* the 64-bit one when the extra data has it */
	uint64_t icount;         /* UINT64_MAX when the extra data has none */
	const uint8_t *id, *name;       /* in the table: not NUL-terminated */
	size_t id_len, name_len;
};

#define QCOW2_SNAPSHOTS_MAX_BYTES (64u << 20)  /* the table, as qemu */
#define QCOW2_SNAPSHOT_EXTRA_MAX  1024         /* extra data bytes, as qemu */

#define QCOW2_SNAPSHOT_HDR 40     /* bytes of an entry before its extra data */

/*
 * Bytes of the snapshot table entry whose first QCOW2_SNAPSHOT_HDR bytes
 * are (hdr): header, extra data, id and name, padded to 8.
 */
uint64_t ukit_qcow2_snapshot_len(const uint8_t *hdr);

/*
 * The snapshot table entry at (*pos) of (tab, len) (read from
 * h->snapshots_offset): fills (s), pointing into (tab), and moves (*pos)
 * to the next entry.  0, or -1 with (e) (offset (base) + position).
 */
int ukit_qcow2_snapshot_entry(const uint8_t *tab, size_t len, size_t *pos,
			 uint64_t base, struct qcow2_snapshot *s,
			 struct fmt_err *e);

/*
 * Read what can hold the snapshot table that (h) points at, from the
 * file on (fd) of (fsize) bytes: at most QCOW2_SNAPSHOTS_MAX_BYTES, up to
 * the end of the file, into (*tab, *len) (malloc'd).  0, or -1 with (e).
 */
int ukit_qcow2_snapshots_read(int fd, const struct ukit_qcow2_header *h,
			 uint64_t fsize, uint8_t **tab, size_t *len,
			 struct fmt_err *e);

/* ukit_qcow2_open() flags */
#define QCOW2_ALLOW_BACKING 0x1   /* follow a backing file, read-only */
#define QCOW2_ALLOW_CORRUPT 0x2   /* open images with the corrupt bit */
#define QCOW2_CHECK_FIRST   0x4   /* refuse what qcow2_check() calls corrupt */
#define QCOW2_FORCE_SHARE   0x8   /* no image locks on backing files */

struct qcow2;

/*
 * Open the qcow2 image on (fd) (borrowed; must outlive the handle) named
 * (path) (borrowed, for messages and for a relative backing file name).
 * Reads the header and the L1 table and checks them against the file size.
 * A backing file is refused (ukit_qcow2_open()) or, with QCOW2_ALLOW_BACKING,
 * opened through (opener) below (above), the images already open over
 * this one (NULL: none; ukit_qcow2_open_depth()).  A chain deeper than
 * QCOW2_MAX_BACKING_DEPTH or one that names an image above again is
 * refused.
 * Returns 0 and (*out), or -1 with (e).
 */
int ukit_qcow2_open(int fd, const char *path, unsigned flags, struct qcow2 **out,
	       struct fmt_err *e);
int ukit_qcow2_open_depth(int fd, const char *path, unsigned flags,
		     const struct image_chain *above,
		     image_open_fn opener, struct qcow2 **out,
		     struct fmt_err *e);

/*
 * The backing image of (q) and in (*path) the name it was opened by
 * (the backing file name, relative to (q)'s directory), both borrowed
 * until (q) closes; NULL when (q) has no backing file open.
 */
struct image *ukit_qcow2_backing(const struct qcow2 *q, const char **path);

/* qcow2 behind the image interface (ukit_image_wrap()). */
extern const struct image_ops ukit_qcow2_image_ops;

/* NULL is fine. */
void ukit_qcow2_close(struct qcow2 *q);

/* ukit_image_dup() for qcow2: a handle sharing (q)'s descriptors.  0 or -1. */
int ukit_qcow2_dup(const struct qcow2 *q, struct qcow2 **out, struct fmt_err *e);

const struct ukit_qcow2_header *ukit_qcow2_header(const struct qcow2 *q);

/*
 * False when the consistency check at open (QCOW2_CHECK_FIRST) found no
 * compressed cluster in the active layer, in (q) or its backing chain:
 * reading it is copying, not inflating.  True otherwise.
 */
bool ukit_qcow2_maybe_compressed(const struct qcow2 *q);
uint64_t ukit_qcow2_file_size(const struct qcow2 *q);

/* One guest cluster, as its L2 entry describes it. */
enum qcow2_ctype {
	QCOW2_C_HOLE = 0,       /* unallocated: zeros or the backing file */
	QCOW2_C_ZERO,           /* zero flag: reads zeros */
	QCOW2_C_NORMAL,         /* data at (host) */
	QCOW2_C_COMPRESSED,     /* compressed data at (host), (csize) bytes */
	QCOW2_C_MIXED,          /* extended L2: subclusters of more than one
				 * kind, see (alloc) and (zero) */
};
struct ukit_qcow2_cluster {
	enum qcow2_ctype type;
	uint64_t host;          /* NORMAL, COMPRESSED, MIXED (or 0); 0 otherwise */
	uint64_t csize;         /* COMPRESSED: bytes of compressed data */
	/* MIXED: subcluster i is data at host + i * cluster_size / 32 when
	 * bit i of (alloc) is set, zeros when bit i of (zero) is, and
	 * unallocated (zeros or the backing file) when neither is */
	uint32_t alloc, zero;
};

/*
 * Describe guest cluster number (vc) (< clusters in the virtual size).
 * Checks the L2 table and the entry (alignment, end of file).  A zero
 * cluster that keeps its host cluster (qemu's "zero, allocated"), and
 * with extended L2 entries an unallocated one that does ("unallocated,
 * allocated": preallocation=metadata over a backing file), has (host)
 * too.  0 or -1.
 */
int ukit_qcow2_cluster(struct qcow2 *q, uint64_t vc, struct ukit_qcow2_cluster *c,
		  struct fmt_err *e);

/* A run of guest clusters of one kind (ukit_qcow2_run()). */
struct ukit_qcow2_run {
	struct ukit_qcow2_cluster c;    /* the first cluster */
	uint64_t n;                     /* clusters in the run, at least 1 */
};

#define QCOW2_RUN_CONTIG 0x1    /* clusters with host storage: only
				   those that follow (c.host) in the file,
				   and those without only with others
				   without */

/*
 * The clusters from guest cluster (vc) (< clusters in the virtual size)
 * to at most (max) (exclusive; at least vc + 1) that have the type of
 * (vc), within one L2 table: a whole table's span at once when the L1
 * entry is unallocated, else one read of the table (cached) and its
 * entries checked as ukit_qcow2_cluster() checks them.  A MIXED cluster
 * is a run of 1.  With QCOW2_RUN_CONTIG, clusters with host clusters
 * (but compressed ones) go on only while their host offsets do, and
 * ones without only with others without.  0 and (*r), or -1 with (e).
 */
int ukit_qcow2_run(struct qcow2 *q, uint64_t vc, uint64_t max, unsigned flags,
		   struct ukit_qcow2_run *r, struct fmt_err *e);

/*
 * The extent at virtual offset (off) < size: holes (unallocated, no
 * backing file), zeros (zero flag) or data, merged over neighbouring
 * clusters of the same kind.  0 or -1 with (e).
 */
int ukit_qcow2_map(struct qcow2 *q, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e);

/*
 * Read (len) bytes of virtual content at (off); off + len <= size.
 * Not thread safe on one handle (it caches L2 tables and one
 * decompressed cluster); separate handles are independent.  0 or -1.
 */
int ukit_qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e);

/*
 * Decompress one compressed cluster: (in, inlen) with (type) into exactly
 * (outlen) bytes at (out).  0, or -1 with (e) (offset (off) reported).
 */
int ukit_qcow2_decompress(int type, const uint8_t *in, size_t inlen, uint8_t *out,
		     size_t outlen, uint64_t off, struct fmt_err *e);

/* Bits of a compressed L2 entry: host offset and sector count. */
void ukit_qcow2_compressed_desc(uint32_t cluster_bits, uint64_t l2e,
			   uint64_t *host, uint64_t *nsectors);

/* ---- consistency check (qcow2_check.c) ------------------------------ */

#define QCOW2_CHECK_MAX_CLUSTERS (12u << 20)  /* host clusters: 3 B each */
#define QCOW2_CHECK_MAX_FINDINGS 1000         /* kept; the rest counted */

/* ukit_qcow2_check_fd() flags */
#define QCOW2_CHECK_NO_INFLATE 0x1  /* do not inflate compressed clusters */

enum qcow2_finding_kind {
	QCOW2_F_CORRUPTION = 0,  /* as qemu-img check: data at risk */
	QCOW2_F_LEAK,            /* refcount higher than the references */
	QCOW2_F_ERROR,           /* the check could not look at something */
};

struct qcow2_finding {
	enum qcow2_finding_kind kind;
	uint64_t off;            /* byte offset in the file, or FMT_NOOFF */
	/*
	 * A stored refcount lower than the references, or a COPIED flag
	 * that disagrees with it: what lazy refcounts leave in an image
	 * whose dirty bit is set (qemu rebuilds them at its next
	 * read-write open).  The L2 tables are still the truth for reading.
	 */
	bool refcount_only;
	char msg[200];
};

struct qcow2_check {
	bool header_ok;          /* header parsed; (h) valid */
	struct ukit_qcow2_header h;
	uint64_t file_size;
	uint64_t corruptions, leaks, check_errors;
	uint64_t refcount_only;       /* of the corruptions */
	uint64_t total_clusters;      /* guest clusters in the virtual size */
	uint64_t allocated_clusters;  /* guest clusters with host storage */
	uint64_t compressed_clusters;
	uint64_t fragmented_clusters; /* as qemu-img check counts them */
	uint64_t image_end_offset;    /* end of the last used host cluster */
	struct qcow2_finding *findings;
	size_t nfindings;
	uint64_t dropped;             /* findings not kept */
};

/*
 * Check the qcow2 image on (fd) read-only, as qemu-img check does: header
 * limits and feature bits, L1/L2 bounds and alignment, refcounts rebuilt
 * from every reference and compared with the stored ones (lower: corruption;
 * higher: leak), overlaps between metadata and data, the COPIED flags,
 * compressed descriptors in bounds and inflating to one cluster.
 * (flags) QCOW2_CHECK_NO_INFLATE leaves out the inflating (a reader
 * inflates what it reads anyway).  Returns 0 with (*r) filled (findings
 * may be empty or not), or -1 with (e) when the check itself could not run
 * (I/O error, memory limit).  Free (r) with ukit_qcow2_check_free() either way.
 */
int ukit_qcow2_check_fd(int fd, const char *path, unsigned flags,
		   struct qcow2_check *r, struct fmt_err *e);
void ukit_qcow2_check_free(struct qcow2_check *r);

#endif
