/*
 * imgopen.h: open an image as the reader its format needs (raw, qcow2,
 * ELF, flat binary), deciding the format from content when asked.  Above
 * image.h and qcow2.h: the interface and the readers do not know each
 * other, this picks.
 */
#ifndef UKIT_IMGOPEN_H
#define UKIT_IMGOPEN_H

#include "err.h"
#include "image.h"

/*
 * Open the image on (fd) (borrowed; must stay open until ukit_image_close()).
 * (fmt) IMG_PROBE decides from content: qcow2 magic, ELF magic, else raw.
 * (opts) may be NULL.  Everything from the file is checked before it is
 * trusted.  Returns 0 and (*out), or -1 with (e) set.
 */
int ukit_image_open(int fd, const char *path, enum ukit_image_format fmt,
	       const struct image_opts *opts, struct image **out,
	       struct fmt_err *e);

/*
 * ukit_image_open() for a backing chain: (above) the images already open
 * above this one (NULL for a top image); qcow2 refuses chains deeper than
 * QCOW2_MAX_BACKING_DEPTH and chains that loop.
 */
int ukit_image_open_chain(int fd, const char *path, enum ukit_image_format fmt,
		     const struct image_opts *opts,
		     const struct image_chain *above,
		     struct image **out, struct fmt_err *e);

/*
 * The format of the file on (fd) from its first bytes: qcow2 magic, ELF
 * magic, else raw.  0 and (*fmt), or -1 with (e) when it cannot be read.
 */
int ukit_image_probe(int fd, enum ukit_image_format *fmt, struct fmt_err *e);

#endif
