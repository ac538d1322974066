/*
 * qresize.h: change the virtual size of a qcow2 image in place, as
 * qemu-img resize does.
 */
#ifndef UKIT_QRESIZE_H
#define UKIT_QRESIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/*
 * Set the virtual size of the qcow2 image on (fd) (open read-write) to
 * (size) (rounded up to 512 bytes).  Growing: when the L1 table needs
 * more clusters, a larger one is written at the end of the file (counted
 * in the existing refcount blocks), the header is switched over to it,
 * then the old one is freed: a crash leaves either size, at worst a
 * leaked cluster.  Shrinking needs (shrink) and is refused when guest
 * clusters past the new size are allocated (their data would be lost).
 * Images with internal snapshots are refused (qemu resizes them).  Each step is
 * synced unless (unsafe).  0, or -1 with (e).
 */
int ukit_qcow2_resize(int fd, uint64_t size, bool shrink, bool unsafe,
		      struct fmt_err *e);

#endif
