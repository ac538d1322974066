/*
 * image.h: one reader interface for every input image format.
 *
 * A struct image presents an image's virtual content (a disk's guest view
 * for raw and qcow2; the file's bytes for elf and bin) as extents of data,
 * known zeros and holes, so converters, compare, signing and dm-verity can
 * skip what is not allocated and read the rest.
 */
#ifndef UKIT_IMAGE_H
#define UKIT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum image_format {
	IMG_RAW = 0,
	IMG_QCOW2,
	IMG_ELF,
	IMG_BIN,
	IMG_PROBE = -1,          /* image_open(): decide from content */
};

struct image_opts {
	bool allow_backing;      /* follow a qcow2 backing file */
	bool allow_corrupt;      /* open qcow2 images with the corrupt bit */
	bool check;              /* run the qcow2 consistency check first and
				    refuse a corrupt image (leaks pass) */
	bool force_share;        /* no image locks: read an image that another
				    process has open for writing (image_lock) */
};

enum extent_kind {
	EXT_DATA = 0,            /* allocated; read it */
	EXT_ZERO,                /* allocated or flagged, reads as zeros */
	EXT_HOLE,                /* unallocated, reads as zeros */
};

struct image_extent {
	uint64_t off;            /* virtual offset */
	uint64_t len;            /* > 0 */
	enum extent_kind kind;
};

struct image;

/*
 * Open the image on (fd) (borrowed; must stay open until image_close()).
 * (fmt) IMG_PROBE decides from content: qcow2 magic, ELF magic, else raw.
 * (opts) may be NULL.  Everything from the file is checked before it is
 * trusted.  Returns 0 and (*out), or -1 with (e) set.
 */
int image_open(int fd, const char *path, enum image_format fmt,
	       const struct image_opts *opts, struct image **out,
	       struct fmt_err *e);

/*
 * Lock the image file on (fd) for reading the way qemu-img does, and
 * refuse it when another process (a running QEMU, qemu-nbd...) has it
 * open for writing: what is read could change underneath.  QEMU's locks
 * (file-posix) are OFD read locks on one byte each: 100 + i for each
 * permission i its user holds (0 consistent read, 1 write, 3 resize) and
 * 200 + i for each it lets no one else hold.  A reader holds 100 and 201,
 * so no QEMU can start writing the image while it is read; a writer holds
 * 101.  The locks go with the last descriptor of the open file.  Where the
 * file system has no OFD locks there is nothing to learn, and it returns 0.
 * image_open() calls it unless (opts) says force_share.  0 or -1 with (e).
 */
int image_lock(int fd, struct fmt_err *e);

/* What the messages of image_lock() and of an output in use start with. */
#define IMAGE_IN_USE "in use: "

/*
 * Does another process hold any of QEMU's image locks (bytes 100 to 299)
 * on the file on (fd)?  For an output about to be replaced: a QEMU that
 * has it open, even read-only, would go on with the old file.  1 and the
 * first locked byte in (*byte), 0 (also where the file system has no OFD
 * locks), or -1 with (e).
 */
int image_in_use(int fd, uint64_t *byte, struct fmt_err *e);

/*
 * image_open() for a backing chain: (depth) images already open above this
 * one (0 for a top image); qcow2 refuses chains deeper than
 * QCOW2_MAX_BACKING_DEPTH.
 */
int image_open_chain(int fd, const char *path, enum image_format fmt,
		     const struct image_opts *opts, int depth,
		     struct image **out, struct fmt_err *e);

/*
 * A second handle on the image (img) for another thread: it shares the
 * file descriptors and what the open checked (the header, the L1 table,
 * the backing chain) and has caches of its own.  Nothing is opened or
 * checked again, so a file renamed over the input meanwhile cannot slip
 * in.  Close it with image_close() before (img).  0 or -1 with (e).
 */
int image_dup(const struct image *img, struct image **out,
	      struct fmt_err *e);

/* NULL is fine. */
void image_close(struct image *img);

/*
 * The format of the file on (fd) from its first bytes: qcow2 magic, ELF
 * magic, else raw.  0 and (*fmt), or -1 with (e) when it cannot be read.
 */
int image_probe(int fd, enum image_format *fmt, struct fmt_err *e);

/* The qcow2 reader behind (img), or NULL for other formats. */
struct qcow2 *image_qcow2(struct image *img);

/* Parse "raw", "qcow2", "elf", "bin"; -1 (IMG_PROBE) if unknown. */
enum image_format image_format_parse(const char *name);

enum image_format image_format(const struct image *img);
const char *image_format_name(enum image_format fmt);   /* "raw", ... */
uint64_t image_size(const struct image *img);           /* virtual size */

/*
 * The extent that starts at virtual offset (off) < image_size(): its kind
 * and a length > 0 (it may stop early; callers loop).  0 or -1 with (e).
 */
int image_map(struct image *img, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e);

/*
 * Read (len) bytes of virtual content at (off); off + len must not pass
 * image_size().  0 or -1 with (e).
 */
int image_read(struct image *img, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e);

#endif
