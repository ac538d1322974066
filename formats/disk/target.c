/*
 * target.c: writing into an existing block device or file (target.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "outfile.h"
#include "target.h"

const char *ukit_file_kind(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:  return "a regular file";
	case S_IFDIR:  return "a directory";
	case S_IFBLK:  return "a block device";
	case S_IFCHR:  return "a character device";
	case S_IFIFO:  return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFLNK:  return "a symbolic link";
	default:       return "not a regular file";
	}
}

int ukit_target_open(const char *path, struct ukit_target *t,
		     struct fmt_err *e)
{
	struct stat st;

	memset(t, 0, sizeof *t);
	t->fd = -1;
	/* look before opening: opening a FIFO for writing would block */
	if (stat(path, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot write in place");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "is %s: -n writes into a block "
				"device or a regular file",
				ukit_file_kind(st.st_mode));
	t->fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot open for writing");
	if (fstat(t->fd, &st) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "fstat");
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(t->fd, BLKGETSIZE64, &sz) < 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "cannot get the device size");
			goto fail;
		}
		t->size = sz;
		t->is_blk = true;
	} else if (S_ISREG(st.st_mode)) {
		t->size = (uint64_t)st.st_size;
	} else {
		ukit_fmt_errf(e, FMT_NOOFF, "is %s: -n writes into a block device "
			 "or a regular file", ukit_file_kind(st.st_mode));
		goto fail;
	}
	return 0;
fail:
	close(t->fd);
	t->fd = -1;
	return -1;
}

static int write_zeros(int fd, uint64_t off, uint64_t len, struct fmt_err *e)
{
	static const uint8_t z[1 << 16];

	while (len > 0) {
		size_t n = len < sizeof z ? (size_t)len : sizeof z;

		if (ukit_pwrite_full(fd, z, n, off) < 0)
			return ukit_fmt_errno(e, off, "write failed");
		off += n;
		len -= n;
	}
	return 0;
}

int ukit_target_zero(struct ukit_target *t, uint64_t len, struct fmt_err *e)
{
	if (t->is_blk) {
		uint64_t r[2] = { 0, len & ~511ULL };

		if (len > t->size)
			return ukit_fmt_errf(e, FMT_NOOFF, "device of %" PRIu64
					" bytes is smaller than the image (%"
					PRIu64 " bytes)", t->size, len);
		if (r[1] > 0 && ioctl(t->fd, BLKZEROOUT, r) < 0 &&
		    write_zeros(t->fd, 0, r[1], e) < 0)
			return -1;
		return write_zeros(t->fd, r[1], len - r[1], e);
	}
	if (len > t->size) {
		uint64_t old = t->size;

		if (ftruncate(t->fd, (off_t)len) < 0)
			return ukit_fmt_errno(e, FMT_NOOFF, "cannot grow the target");
		t->size = len;
		len = old;          /* the part past the old end is a hole */
	}
	if (len > 0 && fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_KEEP_SIZE, 0, (off_t)len) < 0)
		return write_zeros(t->fd, 0, len, e);
	return 0;
}

int ukit_target_sync(struct ukit_target *t, struct fmt_err *e)
{
	if (fsync(t->fd) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
	return 0;
}
