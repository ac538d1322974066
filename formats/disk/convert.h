/*
 * convert.h: write an image's virtual content as qcow2 or as a sparse raw
 * file, reading it through image.h so that cost follows allocated data.
 */
#ifndef UKIT_CONVERT_H
#define UKIT_CONVERT_H

#include <stdint.h>

#include "err.h"
#include "image.h"
#include "qcow2w.h"

#define CONVERT_MAX_THREADS 64
#define CONVERT_WINDOW_BYTES (24u << 20) /* bytes of slots in flight */

/* Called now and then with the virtual offset reached. */
typedef void (*convert_progress_fn)(void *ctx, uint64_t done);

struct convert_opts {
	struct qcow2w_opts q;     /* qcow2 output only */
	int level;                /* compression level; -1: the default */
	unsigned threads;         /* compression threads, >= 1 */
	bool no_writeback;        /* the output will not be flushed (-t
				   * unsafe): no early writeback either */
	bool keep_size;           /* raw output: (fd) is an existing target
				   * (a block device, a file) already zeroed
				   * over the image: do not resize it */
	convert_progress_fn progress;   /* may be NULL */
	void *ctx;
};

/*
 * Each of the (o->threads) workers reads (img) through its own
 * ukit_image_dup() of it, in parallel; (ipath) names it in errors.
 *
 * Write (img) as qcow2 to (fd) (borrowed, empty, open for writing;
 * named (opath) in errors).  Compressed clusters are stored only when
 * smaller than a cluster; clusters that read as zeros are not stored.
 * The output bytes do not depend on (o->threads).  0, or -1 with (e)
 * (e->path set to the file at fault: the image's or (opath)).
 */
int ukit_convert_to_qcow2(struct image *img, const char *ipath, int fd,
		     const char *opath, const struct convert_opts *o,
		     struct fmt_err *e);

/*
 * Write (img)'s virtual content to (fd) as a raw file of ukit_image_size()
 * bytes with holes wherever a 4 KiB block is zero; (o->threads) workers
 * read and write ranges in parallel.  (o) may be NULL (one thread).
 * 0, or -1 with (e).
 */
int ukit_convert_to_raw(struct image *img, const char *ipath, int fd,
		   const char *opath, const struct convert_opts *o,
		   struct fmt_err *e);

/*
 * Compress (len) bytes at (in) into at most (cap) bytes at (out) the way
 * qemu reads them back (zlib: raw deflate, 4 KiB window; zstd: one
 * frame).  Returns the compressed length, or 0 if it does not fit.
 * For tests: ukit_convert_to_qcow2() keeps one context per thread.
 */
size_t ukit_convert_compress(enum qcow2w_comp comp, int level, const void *in,
			size_t len, void *out, size_t cap);

#endif
