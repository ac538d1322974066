/*
 * ocitar.h: the tar archives of OCI images: a deterministic writer (ustar
 * headers, fixed owners, modes and mtimes, entries in the caller's order)
 * and a streaming reader for layers and oci-archive files.
 *
 * The reader trusts nothing: every header's checksum, octal fields, name
 * and size are checked; pax extended headers are bounded by OCITAR_PAX_MAX
 * and only their "path" and "size" records are used; names are normalised
 * ("./a" and "/a" are "a") and a name with a ".." component is refused.
 */
#ifndef UKIT_OCITAR_H
#define UKIT_OCITAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define OCITAR_BLOCK    512
#define OCITAR_NAME_MAX 1024          /* bytes of a path, including NUL */
#define OCITAR_PAX_MAX  (64u << 10)   /* bytes of one pax header */
#define OCITAR_SIZE_MAX (1ull << 46)  /* bytes of one entry (64 TiB) */

/* Something that consumes bytes (a compressor, a hash, a file). */
struct ukit_oci_sink {
	int  (*write)(void *ctx, const void *buf, size_t len,
		      struct fmt_err *e);
	void  *ctx;
};

/* Something that produces bytes: returns bytes read (0 at end), -1 with (e). */
struct ukit_oci_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len, struct fmt_err *e);
	void    *ctx;
};

/*
 * Write a ustar header for a directory ((size) 0, (dir) true) or a regular
 * file of (size) bytes named (name) (≤ 255 bytes split at a '/' into
 * prefix and name), owner 0:0 with empty owner names, (mode), (mtime).
 * Sizes of 8 GiB and more use the base-256 size encoding GNU tar and Go
 * read.  0 or -1 with (e).
 */
int ukit_ocitar_header(const struct ukit_oci_sink *s, const char *name,
		       bool dir, uint32_t mode, uint64_t size, int64_t mtime,
		       struct fmt_err *e);

/* The zero padding after (size) bytes of file data. */
int ukit_ocitar_pad(const struct ukit_oci_sink *s, uint64_t size,
		    struct fmt_err *e);

/* The end of the archive: two zero blocks. */
int ukit_ocitar_end(const struct ukit_oci_sink *s, struct fmt_err *e);

/* ---- reading -------------------------------------------------------- */

enum ukit_ocitar_type {
	OCITAR_FILE = 1,
	OCITAR_DIR,
	OCITAR_OTHER,           /* links, devices, FIFOs: listed, not read */
};

struct ukit_ocitar_entry {
	char     name[OCITAR_NAME_MAX];   /* normalised */
	enum ukit_ocitar_type type;
	char     typeflag;
	uint32_t mode;
	uint64_t size;                    /* data bytes (0 unless FILE) */
	uint64_t data_off;                /* archive offset of the data */
};

struct ukit_ocitar_rd {
	struct ukit_oci_source src;
	const char *what;                 /* names the archive in errors */
	uint64_t pos;                     /* archive bytes consumed */
	uint64_t left;                    /* data bytes of the current entry */
	uint64_t pad;                     /* padding after them */
	bool     done;
};

void ukit_ocitar_rd_init(struct ukit_ocitar_rd *r,
			 const struct ukit_oci_source *src, const char *what);

/*
 * Skip what is left of the current entry and read the next header into
 * (*ent).  Returns 1, 0 at the end of the archive, -1 with (e) (offsets
 * in errors are archive offsets).
 */
int ukit_ocitar_next(struct ukit_ocitar_rd *r, struct ukit_ocitar_entry *ent,
		     struct fmt_err *e);

/* Read up to (len) bytes of the current entry's data; 0 at its end. */
ssize_t ukit_ocitar_read(struct ukit_ocitar_rd *r, void *buf, size_t len,
			 struct fmt_err *e);

/* Parse one 512-byte header block (for the fuzzer and tests): 1 header,
 * 0 zero block, -1 with (e). */
int ukit_ocitar_parse_header(const uint8_t blk[OCITAR_BLOCK], uint64_t off,
			     struct ukit_ocitar_entry *ent, struct fmt_err *e);

#endif
