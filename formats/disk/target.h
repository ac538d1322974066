/*
 * target.h: an existing output that is written in place (qemu-img
 * convert -n): a block device (an image flashed onto a disk) or a file.
 */
#ifndef UKIT_TARGET_H
#define UKIT_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct ukit_target {
	int fd;                  /* open for writing */
	uint64_t size;           /* bytes: the device's, or the file's */
	bool is_blk;             /* a block device */
};

/*
 * Open the existing (path) for writing in place, without creating or
 * truncating it.  A regular file or a block device; anything else (a
 * directory, a FIFO, a socket, a character device) is refused, naming
 * what it is.  0, or -1 with (e).
 */
int ukit_target_open(const char *path, struct ukit_target *t,
		     struct fmt_err *e);

/*
 * Make bytes [0, len) of (t) read as zeros: a block device is zeroed
 * (BLKZEROOUT), a file gets holes punched (growing it to (len) when
 * shorter); where that is not supported, zeros are written.  A device
 * shorter than (len) is refused.  0, or -1 with (e).
 */
int ukit_target_zero(struct ukit_target *t, uint64_t len, struct fmt_err *e);

/* fsync the target (a device: its write cache too).  0, or -1 with (e). */
int ukit_target_sync(struct ukit_target *t, struct fmt_err *e);

/* A name for what the file type (st_mode) is: "a FIFO", "a socket"... */
const char *ukit_file_kind(unsigned mode);

#endif
