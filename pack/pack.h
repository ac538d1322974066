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
int cmd_disk(int argc, char **argv);

/*
 * Print an error from opening an image; when another process has the
 * image open for writing (image_lock), say how to read it anyway.
 */
void open_err(const struct fmt_err *e);

struct elfimg;

/*
 * info of an ELF kernel (class, machine, segments, Solo5 ABI and
 * manifest) into (j) as "elf", printed unless (json); closes (img).
 * 0, or -1 after printing why.
 */
int info_elf_img(struct elfimg *img, const char *path, json_t *j, bool json);

/*
 * info of a boot disk (raw or qcow2 on (fd)): its GPT partitions and,
 * when an ESP holds ukit-pack disk's files, the boot configuration and
 * the kernel (info_elf_img).  Nothing when the image has no GPT.  0, or
 * -1 after printing why.
 */
int info_bootdisk(int fd, const char *path, enum image_format fmt,
		  bool force_share, json_t *j, bool json);

/* Print (j) as indented JSON on stdout and release it.  0, or -1 after
 * printing why. */
int print_json(json_t *j);

#endif
