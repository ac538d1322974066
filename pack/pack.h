/*
 * pack.h: what the files of ukit-pack share: one file per command
 * (info.c, check.c, compare.c, convert.c), dispatch and helpers in pack.c.
 */
#ifndef UKIT_PACK_H
#define UKIT_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "image.h"

int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_oci(int argc, char **argv);

/*
 * Print an error from opening an image; when another process has the
 * image open for writing (image_lock), say how to read it anyway.
 */
void open_err(const struct fmt_err *e);

/* Print (j) as indented JSON on stdout and release it.  0, or -1 after
 * printing why. */
int print_json(json_t *j);

#endif
