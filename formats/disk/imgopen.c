/*
 * imgopen.c: open an image as its format's reader (see imgopen.h).
 *
 * The format is decided from content (qcow2 magic, ELF magic, else raw),
 * never from the file name; "bin" only when asked for.  Every input is
 * locked the way qemu-img locks it (ukit_image_lock) unless asked not to.
 */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "image.h"
#include "io.h"
#include "imgopen.h"
#include "qcow2.h"

int ukit_image_probe(int fd, enum ukit_image_format *fmt, struct fmt_err *e)
{
	uint8_t m[4] = { 0 };
	ssize_t n = ukit_pread_full(fd, m, sizeof m, 0);

	if (n < 0)
		return ukit_fmt_errno(e, 0, "read");
	if (n == 4 && be32_load(m) == QCOW2_MAGIC)
		*fmt = IMG_QCOW2;
	else if (n == 4 && memcmp(m, "\177ELF", 4) == 0)
		*fmt = IMG_ELF;
	else
		*fmt = IMG_RAW;
	return 0;
}

int ukit_image_open_chain(int fd, const char *path, enum ukit_image_format fmt,
		     const struct image_opts *opts,
		     const struct image_chain *above,
		     struct image **out, struct fmt_err *e)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "not a regular file");
	if (!(opts && opts->force_share) && ukit_image_lock(fd, e) < 0)
		return -1;
	if (fmt == IMG_PROBE && ukit_image_probe(fd, &fmt, e) < 0)
		return -1;
	if (strcmp(ukit_image_format_name(fmt), "unknown") == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "unknown image format %d", fmt);
	if (fmt == IMG_QCOW2) {
		struct qcow2 *q;
		unsigned fl = 0;

		if (opts && opts->allow_backing)
			fl |= QCOW2_ALLOW_BACKING;
		if (opts && opts->allow_corrupt)
			fl |= QCOW2_ALLOW_CORRUPT;
		if (opts && opts->check)
			fl |= QCOW2_CHECK_FIRST;
		if (opts && opts->force_share)
			fl |= QCOW2_FORCE_SHARE;
		if (ukit_qcow2_open_depth(fd, path, fl, above, ukit_image_open_chain,
				     &q, e) < 0)
			return -1;
		return ukit_image_wrap(fd, fmt, ukit_qcow2_header(q)->size,
				  &ukit_qcow2_image_ops, q, out, e);
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			return ukit_fmt_errno(e, FMT_NOOFF, "lseek");
		size = (uint64_t)end;
	} else {
		size = (uint64_t)st.st_size;
	}
	return ukit_image_wrap(fd, fmt, size, NULL, NULL, out, e);
}

int ukit_image_open(int fd, const char *path, enum ukit_image_format fmt,
	       const struct image_opts *opts, struct image **out,
	       struct fmt_err *e)
{
	return ukit_image_open_chain(fd, path, fmt, opts, NULL, out, e);
}
