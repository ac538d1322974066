/*
 * image.c: the image reader interface (image.h): the file's bytes for raw,
 * ELF and flat binaries, a format reader's image_ops for the others
 * (qcow2.c); imgopen.c picks.  Raw files are
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

struct image {
	enum ukit_image_format fmt;
	int fd;
	uint64_t size;
	const struct image_ops *ops;   /* NULL: the file's bytes */
	void *impl;                    /* what (ops) work on (owned) */
};

static const char *const names[] = {
	[IMG_RAW] = "raw", [IMG_QCOW2] = "qcow2", [IMG_ELF] = "elf",
	[IMG_BIN] = "bin",
};

const char *ukit_image_format_name(enum ukit_image_format fmt)
{
	if ((int)fmt < 0 || (size_t)fmt >= ARRAY_SIZE(names))
		return "unknown";
	return names[fmt];
}

enum ukit_image_format ukit_image_format_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return (enum ukit_image_format)i;
	return IMG_PROBE;
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

int ukit_image_lock(int fd, struct fmt_err *e)
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
			return ukit_fmt_errno(e, FMT_NOOFF, "lock");
		/* QEMU takes read locks only: someone else's exclusive one */
		return ukit_fmt_errf(e, FMT_NOOFF, IMAGE_IN_USE "another process "
				"holds an exclusive lock on byte %lld; stop "
				"it first", (long long)mine[i]);
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = QEMU_LOCK_PERM + QEMU_PERM_WRITE;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return no_ofd_locks(errno) ? 0 : ukit_fmt_errno(e, FMT_NOOFF, "lock");
	if (fl.l_type != F_UNLCK)
		return ukit_fmt_errf(e, FMT_NOOFF, IMAGE_IN_USE "another process "
				"has it open for writing (QEMU's write lock, "
				"byte %d), so what is read could change; stop "
				"it first",
				QEMU_LOCK_PERM + QEMU_PERM_WRITE);
	return 0;
}

int ukit_image_in_use(int fd, uint64_t *byte, struct fmt_err *e)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = QEMU_LOCK_PERM;
	fl.l_len = 2 * (QEMU_LOCK_SHARED - QEMU_LOCK_PERM);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return no_ofd_locks(errno) ? 0 : ukit_fmt_errno(e, FMT_NOOFF, "lock");
	if (fl.l_type == F_UNLCK)
		return 0;
	*byte = (uint64_t)(fl.l_start > QEMU_LOCK_PERM ? fl.l_start
			   : QEMU_LOCK_PERM);
	return 1;
}

int ukit_image_wrap(int fd, enum ukit_image_format fmt, uint64_t size,
	       const struct image_ops *ops, void *impl, struct image **out,
	       struct fmt_err *e)
{
	struct image *img = calloc(1, sizeof *img);

	if (img == NULL) {
		if (ops != NULL)
			ops->close(impl);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	img->fmt = fmt;
	img->fd = fd;
	img->size = size;
	img->ops = ops;
	img->impl = impl;
	*out = img;
	return 0;
}

int ukit_image_dup(const struct image *img, struct image **out,
	      struct fmt_err *e)
{
	struct image *d = malloc(sizeof *d);

	if (d == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	*d = *img;
	d->impl = NULL;
	if (img->ops != NULL && img->ops->dup(img->impl, &d->impl, e) < 0) {
		free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void ukit_image_close(struct image *img)
{
	if (img == NULL)
		return;
	if (img->ops != NULL)
		img->ops->close(img->impl);
	free(img);
}

enum ukit_image_format ukit_image_format(const struct image *img)
{
	return img->fmt;
}

int ukit_image_fd(const struct image *img)
{
	return img->fd;
}

uint64_t ukit_image_size(const struct image *img)
{
	return img->size;
}

struct qcow2 *ukit_image_qcow2(struct image *img)
{
	return img->fmt == IMG_QCOW2 ? img->impl : NULL;
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
		return ukit_fmt_errf(e, off, "file changed while reading");
	ext->len = (uint64_t)h - off;
	ext->kind = EXT_DATA;
	return 0;
}

int ukit_image_map(struct image *img, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e)
{
	if (off >= img->size)
		return ukit_fmt_errf(e, FMT_NOOFF, "map offset 0x%" PRIx64
				" past the image size 0x%" PRIx64, off,
				img->size);
	if (img->ops != NULL)
		return img->ops->map(img->impl, off, ext, e);
	return file_map(img, off, ext, e);
}

int ukit_image_read(struct image *img, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e)
{
	uint64_t end;
	ssize_t n;

	if (ck_add(off, len, &end) || end > img->size)
		return ukit_fmt_errf(e, FMT_NOOFF, "read of %zu bytes at 0x%" PRIx64
				" past the image size 0x%" PRIx64, len, off,
				img->size);
	if (img->ops != NULL)
		return img->ops->read(img->impl, buf, len, off, e);
	n = ukit_pread_full(img->fd, buf, len, (off_t)off);
	if (n < 0)
		return ukit_fmt_errno(e, off, "read");
	if ((size_t)n != len)
		return ukit_fmt_errf(e, off + (uint64_t)n, "file ends early "
				"(truncated while reading?)");
	return 0;
}
