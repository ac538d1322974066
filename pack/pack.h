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
#include "qcow2w.h"

int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_disk(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

struct ukit_qcow2_header;

/* info.c: the snapshot table of (h) as qemu-img info's JSON list (NULL
 * when there are none, or after printing why it cannot be read), and
 * as its text. */
json_t *qcow2_snapshots_json(int fd, const char *path,
			     const struct ukit_qcow2_header *h);
void print_snapshots(const json_t *sl);

/* ---- qemu-img's spellings (qopt.c) ---------------------------------- */

/* qcow2 creation options from -o KEY=VALUE,... and -c */
struct pack_qopts {
	struct qcow2w_opts q;
	enum qcow2w_comp ctype;      /* compression_type (zlib unless set) */
	bool have_ctype, have_compat;
	bool any;                    /* some -o was given */
	uint64_t size;               /* -o size= */
	bool have_size;
	char backing_file[1024], backing_fmt[64];  /* q points at them */
};

/* Defaults: 64 KiB clusters, compat 1.1, 16-bit refcounts. */
void pack_qopts_init(struct pack_qopts *o);

/*
 * Add one -o argument (KEY=VALUE[,KEY=VALUE...]) of command (cmd) to (o):
 * compat, cluster_size, compression_type, refcount_bits, lazy_refcounts,
 * extended_l2, preallocation, size, backing_file, backing_fmt.  0, or -1
 * after printing what is wrong (a usage error).
 */
int pack_parse_o(const char *cmd, const char *arg, struct pack_qopts *o);

/* After the options: (compress) is -c.  Checks the combination (the
 * writer's rules).  0, or -1 after printing why (a usage error). */
int pack_qopts_finish(const char *cmd, struct pack_qopts *o, bool compress);
void pack_qopts_free(struct pack_qopts *o);

/* Set the backing file (and format, or NULL) of (o).  0, or -1 after
 * printing that a name is too long (a usage error). */
int pack_qopts_backing(const char *cmd, struct pack_qopts *o,
		       const char *file, const char *fmt);

/* A size as qemu-img reads it: bytes, or a k/M/G/T/P/E suffix (1024). */
int pack_parse_size(const char *s, uint64_t *v);

/* --output=json|human.  0, or -1 after printing why. */
int pack_parse_output(const char *cmd, const char *arg, bool *json);

/* -t none|writeback|writethrough|directsync|unsafe: (*unsafe) is true
 * for unsafe (no flush).  0, or -1 after printing why. */
int pack_parse_cache(const char *cmd, const char *arg, bool *unsafe);

/* The file a chain of symbolic links (path) ends at (it may not exist
 * yet), malloc'd; (path) itself when it is no link.  NULL on a loop or
 * out of memory (errno). */
char *pack_follow_link(const char *path);
int cmd_oci(int argc, char **argv);

/*
 * Print an error from opening an image; when another process has the
 * image open for writing (ukit_image_lock), say how to read it anyway.
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
int info_bootdisk(int fd, const char *path, enum ukit_image_format fmt,
		  bool force_share, json_t *j, bool json);

/* Print (j) as indented JSON on stdout and release it.  0, or -1 after
 * printing why. */
int print_json(json_t *j);

#endif
