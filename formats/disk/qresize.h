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
 * (size) (a multiple of 512).  Growing: when the L1 table needs more
 * clusters, a larger one is appended to the file, with the refcount
 * blocks (and a larger, relocated refcount table) that cover it; they are
 * synced, then the refcount table and the header are switched over to
 * them, then the old tables are freed: a crash leaves either size, at
 * worst with leaked clusters.  Internal snapshots keep their own L1
 * tables and sizes.  Shrinking needs (shrink), as qemu-img resize
 * --shrink: the header takes the new size, then the guest clusters that
 * start past it are unhooked and freed, refcount blocks left counting
 * nothing are dropped and the free tail of the file is cut.  Shrinking
 * to inside an L2 table a snapshot shares, with data past the new size
 * in it, copies the table first, as qemu does: the copy goes to the
 * first free cluster (or, when no refcount block has one, to the end of
 * the file with the refcount blocks and table that count it), is
 * synced, the active L1 entry is switched to it, synced, and the old
 * table's refcount drops by one; then the copy is cut like any
 * other table, and a data cluster past the new size is freed only when
 * no snapshot still maps it.  Refused, before anything is written: a v2
 * image with snapshots (as qemu); an image the consistency check finds
 * corrupt (leaks pass).  Each step is synced unless
 * (unsafe).  0, or -1 with (e).
 */
int ukit_qcow2_resize(int fd, uint64_t size, bool shrink, bool unsafe,
		      struct fmt_err *e);

#endif
