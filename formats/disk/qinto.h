/*
 * qinto.h: write an image's virtual content into an existing qcow2 image
 * in place (qemu-img convert -n -O qcow2), keeping the target's own
 * header options (cluster size, compat, refcount width, compression
 * type).
 */
#ifndef UKIT_QINTO_H
#define UKIT_QINTO_H

#include <stdbool.h>
#include <stdint.h>

#include "convert.h"
#include "err.h"
#include "image.h"

struct ukit_qinto_stats {
	uint64_t reused;        /* data clusters written over in place */
	uint64_t allocated;     /* data clusters appended */
	uint64_t zeroed;        /* clusters made zero (v3) or deallocated */
	uint64_t freed;         /* host clusters whose refcount dropped */
	uint64_t l2_new;        /* L2 tables appended */
	uint64_t file_before, file_after;   /* bytes */
};

/*
 * Write (img) (named (ipath) in errors) into the qcow2 image on (fd)
 * (borrowed, open read-write, named (opath)), guest cluster by guest
 * cluster: data goes into the host cluster the target already has when
 * only that entry uses it (refcount 1), else into a new cluster appended
 * (with refcount blocks, or a larger refcount table, as needed); source
 * clusters that read as zeros become zero-flagged entries (compat 1.1)
 * or unallocated ones (0.10), and the clusters they had are freed.  The
 * target's content past the input's size is left as it was (a last
 * partial cluster keeps its old bytes past that size).
 *
 * Before anything is written the target is checked and refused (-1 with
 * (e), the file unchanged): dirty or corrupt (bit or consistency check),
 * a backing file, internal snapshots, persistent bitmaps, extended L2
 * entries, a virtual size smaller than (img)'s ("output file is smaller
 * than input file", as qemu-img says), a refcount block past the end of
 * the file or counting a host cluster past it (where new clusters will
 * go); encryption and an external data file are refused by the header
 * parser.
 *
 * New clusters are counted (and synced) before a table points at them;
 * tables are written (and synced) before what they stopped pointing at
 * is freed; a crash leaves leaked clusters at worst.  The file is synced
 * at the end unless (unsafe).  (o) gives the progress callback only.
 * 0 and (*st), or -1 with (e) (e->path the file at fault).
 */
int ukit_convert_into_qcow2(struct image *img, const char *ipath, int fd,
			    const char *opath, const struct convert_opts *o,
			    bool unsafe, struct ukit_qinto_stats *st,
			    struct fmt_err *e);

#endif
