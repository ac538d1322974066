/*
 * ocilayout_int.h: what the parts of ocilayout.h's implementation share,
 * inside libukit only (not installed).  The parts:
 *
 *   ociref.c     references parsed and checked
 *   ociblobrd.c  the verifying blob reader
 *   ocilocal.c   reading a layout (directory or archive)
 *   ociout.c     writing a layout atomically
 */
#ifndef UKIT_OCILAYOUT_INT_H
#define UKIT_OCILAYOUT_INT_H

#include <stddef.h>

#include "err.h"

/* Read the whole regular file (path) of at most (max) bytes into
 * (*out), malloc'd and NUL-terminated, its length in (*len).  0, or -1
 * with (e). */
int ukit_oci_layout_slurp(const char *path, size_t max, char **out,
			  size_t *len, struct fmt_err *e);

#endif
