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

enum ukit_image_format {
	IMG_RAW = 0,
	IMG_QCOW2,
	IMG_ELF,
	IMG_BIN,
	IMG_PROBE = -1,          /* ukit_image_open(): decide from content */
};

struct image_opts {
	bool allow_backing;      /* follow a qcow2 backing file */
	bool allow_corrupt;      /* open qcow2 images with the corrupt bit */
	bool check;              /* run the qcow2 consistency check first and
				    refuse a corrupt image (leaks pass) */
	bool force_share;        /* no image locks: read an image that another
				    process has open for writing (ukit_image_lock) */
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
struct qcow2;

/*
 * A format reader behind a struct image (qcow2.c's, for one): what
 * ukit_image_map(), ukit_image_read(), ukit_image_dup() and ukit_image_close() do on it.  Raw,
 * ELF and flat binary images are the file's bytes and need none.
 */
struct image_ops {
	int  (*map)(void *impl, uint64_t off, struct image_extent *ext,
		    struct fmt_err *e);
	int  (*read)(void *impl, void *buf, size_t len, uint64_t off,
		     struct fmt_err *e);
	int  (*dup)(const void *impl, void **out, struct fmt_err *e);
	void (*close)(void *impl);
};

/*
 * An image of format (fmt) and virtual size (size) on (fd) (borrowed),
 * read through (ops) on (impl) (owned from now on, also on failure), or
 * as the file's bytes when (ops) is NULL.  imgopen.c decides which.
 * 0 and (*out), or -1 with (e).
 */
int ukit_image_wrap(int fd, enum ukit_image_format fmt, uint64_t size,
	       const struct image_ops *ops, void *impl, struct image **out,
	       struct fmt_err *e);

/*
 * The images above a backing file being opened, nearest first, each on
 * the caller's stack for as long as the open runs: for the depth limit
 * and to refuse a chain that loops back to an image above.
 */
struct image_chain {
	const struct image_chain *up;   /* NULL: this is the top image */
	const char *path;               /* borrowed, for messages */
	uint64_t dev, ino;              /* the file, from fstat() */
	int depth;                      /* 0 for the top image */
};

/*
 * What opens a backing file for a format reader: ukit_image_open_chain()
 * (imgopen.h), handed down so that a reader never depends on the code
 * that picks readers.  (above) is the image whose backing file it is.
 */
typedef int (*image_open_fn)(int fd, const char *path,
			     enum ukit_image_format fmt,
			     const struct image_opts *opts,
			     const struct image_chain *above,
			     struct image **out, struct fmt_err *e);

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
 * ukit_image_open() calls it unless (opts) says force_share.  0 or -1 with (e).
 */
int ukit_image_lock(int fd, struct fmt_err *e);

/* What the messages of ukit_image_lock() and of an output in use start with. */
#define IMAGE_IN_USE "in use: "

/*
 * Does another process hold any of QEMU's image locks (bytes 100 to 299)
 * on the file on (fd)?  For an output about to be replaced: a QEMU that
 * has it open, even read-only, would go on with the old file.  1 and the
 * first locked byte in (*byte), 0 (also where the file system has no OFD
 * locks), or -1 with (e).
 */
int ukit_image_in_use(int fd, uint64_t *byte, struct fmt_err *e);

/*
 * A second handle on the image (img) for another thread: it shares the
 * file descriptors and what the open checked (the header, the L1 table,
 * the backing chain) and has caches of its own.  Nothing is opened or
 * checked again, so a file renamed over the input meanwhile cannot slip
 * in.  Close it with ukit_image_close() before (img).  0 or -1 with (e).
 */
int ukit_image_dup(const struct image *img, struct image **out,
	      struct fmt_err *e);

/* NULL is fine. */
void ukit_image_close(struct image *img);

/* The qcow2 reader behind (img), or NULL for other formats. */
struct qcow2 *ukit_image_qcow2(struct image *img);

/* Parse "raw", "qcow2", "elf", "bin"; -1 (IMG_PROBE) if unknown. */
enum ukit_image_format ukit_image_format_parse(const char *name);

enum ukit_image_format ukit_image_format(const struct image *img);
const char *ukit_image_format_name(enum ukit_image_format fmt);   /* "raw", ... */
uint64_t ukit_image_size(const struct image *img);           /* virtual size */
int ukit_image_fd(const struct image *img);    /* the descriptor it reads */

/*
 * The extent that starts at virtual offset (off) < ukit_image_size(): its kind
 * and a length > 0 (it may stop early; callers loop).  0 or -1 with (e).
 */
int ukit_image_map(struct image *img, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e);

/*
 * Read (len) bytes of virtual content at (off); off + len must not pass
 * ukit_image_size().  0 or -1 with (e).
 */
int ukit_image_read(struct image *img, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e);

#endif
