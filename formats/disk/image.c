/*
 * image.c: the image reader interface (image.h) over raw files, qcow2
 * (qcow2.c), ELF and flat binaries (the file's bytes).
 *
 * The format is decided from content (qcow2 magic, ELF magic, else raw),
 * never from the file name; "bin" only when asked for.  Raw files are
 * mapped with SEEK_DATA/SEEK_HOLE so callers skip holes.  No state is
 * shared between handles; one handle is used by one thread at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "image.h"
#include "qcow2.h"

struct image {
	enum image_format fmt;
	int fd;
	uint64_t size;
	struct qcow2 *q;
};

static const char *const names[] = {
	[IMG_RAW] = "raw", [IMG_QCOW2] = "qcow2", [IMG_ELF] = "elf",
	[IMG_BIN] = "bin",
};

const char *image_format_name(enum image_format fmt)
{
	if ((int)fmt < 0 || (size_t)fmt >= ARRAY_SIZE(names))
		return "unknown";
	return names[fmt];
}

enum image_format image_format_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return (enum image_format)i;
	return IMG_PROBE;
}

int image_probe(int fd, enum image_format *fmt, struct fmt_err *e)
{
	uint8_t m[4] = { 0 };
	ssize_t n = pread_full(fd, m, sizeof m, 0);

	if (n < 0)
		return fmt_errno(e, 0, "read");
	if (n == 4 && be32_load(m) == QCOW2_MAGIC)
		*fmt = IMG_QCOW2;
	else if (n == 4 && memcmp(m, "\177ELF", 4) == 0)
		*fmt = IMG_ELF;
	else
		*fmt = IMG_RAW;
	return 0;
}

/* QEMU's lock bytes (file-posix): base + permission bit number */
#define QEMU_LOCK_PERM     100   /* the holder has the permission */
#define QEMU_LOCK_SHARED   200   /* the holder lets no one else have it */
#define QEMU_PERM_READ     0     /* consistent read */
#define QEMU_PERM_WRITE    1

/* No OFD locks on this file system (or kernel): nothing to learn. */
static bool no_ofd_locks(int err)
{
	return err == EINVAL || err == ENOLCK || err == EOPNOTSUPP ||
	       err == ENOSYS;
}

int image_lock(int fd, struct fmt_err *e)
{
	static const off_t mine[] = {
		QEMU_LOCK_PERM + QEMU_PERM_READ,
		QEMU_LOCK_SHARED + QEMU_PERM_WRITE,
	};
	struct flock fl;

	for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_RDLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = mine[i];
		fl.l_len = 1;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			continue;
		if (no_ofd_locks(errno))
			return 0;
		if (errno != EAGAIN && errno != EACCES)
			return fmt_errno(e, FMT_NOOFF, "lock");
		/* QEMU takes read locks only: someone else's exclusive one */
		return fmt_errf(e, FMT_NOOFF, IMAGE_IN_USE "another process "
				"holds an exclusive lock on byte %lld; stop "
				"it first", (long long)mine[i]);
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = QEMU_LOCK_PERM + QEMU_PERM_WRITE;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return no_ofd_locks(errno) ? 0 : fmt_errno(e, FMT_NOOFF, "lock");
	if (fl.l_type != F_UNLCK)
		return fmt_errf(e, FMT_NOOFF, IMAGE_IN_USE "another process "
				"has it open for writing (QEMU's write lock, "
				"byte %d), so what is read could change; stop "
				"it first",
				QEMU_LOCK_PERM + QEMU_PERM_WRITE);
	return 0;
}

int image_in_use(int fd, uint64_t *byte, struct fmt_err *e)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = QEMU_LOCK_PERM;
	fl.l_len = 2 * (QEMU_LOCK_SHARED - QEMU_LOCK_PERM);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return no_ofd_locks(errno) ? 0 : fmt_errno(e, FMT_NOOFF, "lock");
	if (fl.l_type == F_UNLCK)
		return 0;
	*byte = (uint64_t)(fl.l_start > QEMU_LOCK_PERM ? fl.l_start
			   : QEMU_LOCK_PERM);
	return 1;
}

int image_open_chain(int fd, const char *path, enum image_format fmt,
		     const struct image_opts *opts, int depth,
		     struct image **out, struct fmt_err *e)
{
	struct image *img;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return fmt_errno(e, FMT_NOOFF, "fstat");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return fmt_errf(e, FMT_NOOFF, "not a regular file");
	if (!(opts && opts->force_share) && image_lock(fd, e) < 0)
		return -1;
	if (fmt == IMG_PROBE && image_probe(fd, &fmt, e) < 0)
		return -1;
	if ((int)fmt < 0 || (size_t)fmt >= ARRAY_SIZE(names))
		return fmt_errf(e, FMT_NOOFF, "unknown image format %d", fmt);
	img = calloc(1, sizeof *img);
	if (img == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	img->fmt = fmt;
	img->fd = fd;
	if (fmt == IMG_QCOW2) {
		unsigned fl = 0;

		if (opts && opts->allow_backing)
			fl |= QCOW2_ALLOW_BACKING;
		if (opts && opts->allow_corrupt)
			fl |= QCOW2_ALLOW_CORRUPT;
		if (opts && opts->check)
			fl |= QCOW2_CHECK_FIRST;
		if (opts && opts->force_share)
			fl |= QCOW2_FORCE_SHARE;
		if (qcow2_open_depth(fd, path, fl, depth, &img->q, e) < 0) {
			free(img);
			return -1;
		}
		img->size = qcow2_header(img->q)->size;
	} else if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0) {
			free(img);
			return fmt_errno(e, FMT_NOOFF, "lseek");
		}
		img->size = (uint64_t)end;
	} else {
		img->size = (uint64_t)st.st_size;
	}
	*out = img;
	return 0;
}

int image_open(int fd, const char *path, enum image_format fmt,
	       const struct image_opts *opts, struct image **out,
	       struct fmt_err *e)
{
	return image_open_chain(fd, path, fmt, opts, 0, out, e);
}

int image_dup(const struct image *img, struct image **out,
	      struct fmt_err *e)
{
	struct image *d = malloc(sizeof *d);

	if (d == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	*d = *img;
	d->q = NULL;
	if (img->q != NULL && qcow2_dup(img->q, &d->q, e) < 0) {
		free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void image_close(struct image *img)
{
	if (img == NULL)
		return;
	qcow2_close(img->q);
	free(img);
}

enum image_format image_format(const struct image *img)
{
	return img->fmt;
}

uint64_t image_size(const struct image *img)
{
	return img->size;
}

struct qcow2 *image_qcow2(struct image *img)
{
	return img->q;
}

/* Raw, ELF, bin: the file's allocation, from SEEK_DATA/SEEK_HOLE. */
static int file_map(struct image *img, uint64_t off, struct image_extent *ext,
		    struct fmt_err *e)
{
	off_t d, h;

	ext->off = off;
	d = lseek(img->fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO) {       /* only a hole up to the end */
			ext->len = img->size - off;
			ext->kind = EXT_HOLE;
			return 0;
		}
		/* no SEEK_DATA here (EINVAL): everything is data */
		ext->len = img->size - off;
		ext->kind = EXT_DATA;
		return 0;
	}
	if ((uint64_t)d > off) {
		ext->len = ((uint64_t)d < img->size ? (uint64_t)d : img->size)
			   - off;
		ext->kind = EXT_HOLE;
		return 0;
	}
	h = lseek(img->fd, (off_t)off, SEEK_HOLE);
	if (h < 0 || (uint64_t)h > img->size)
		h = (off_t)img->size;
	if ((uint64_t)h <= off)         /* file changed under us */
		return fmt_errf(e, off, "file changed while reading");
	ext->len = (uint64_t)h - off;
	ext->kind = EXT_DATA;
	return 0;
}

int image_map(struct image *img, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e)
{
	if (off >= img->size)
		return fmt_errf(e, FMT_NOOFF, "map offset 0x%" PRIx64
				" past the image size 0x%" PRIx64, off,
				img->size);
	if (img->q)
		return qcow2_map(img->q, off, ext, e);
	return file_map(img, off, ext, e);
}

int image_read(struct image *img, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e)
{
	uint64_t end;
	ssize_t n;

	if (ck_add(off, len, &end) || end > img->size)
		return fmt_errf(e, FMT_NOOFF, "read of %zu bytes at 0x%" PRIx64
				" past the image size 0x%" PRIx64, len, off,
				img->size);
	if (img->q)
		return qcow2_read(img->q, buf, len, off, e);
	n = pread_full(img->fd, buf, len, (off_t)off);
	if (n < 0)
		return fmt_errno(e, off, "read");
	if ((size_t)n != len)
		return fmt_errf(e, off + (uint64_t)n, "file ends early "
				"(truncated while reading?)");
	return 0;
}
