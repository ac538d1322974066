/*
 * elfedit_apply.c: apply a note edit's plan (see elfedit.h): copy the
 * input, in the kernel where it can (a reflink, or copy_file_range() over
 * the data regions), else through a bounded buffer, then write the
 * patches.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "io.h"
#include "bytes.h"
#include "elfedit.h"

#define COPY_BUF    (1u << 20)

/* Copy (size) bytes of (in) to (out) through a bounded buffer. */
static int copy_buffered(int in, int out, uint64_t size, struct fmt_err *e)
{
	uint8_t *buf = malloc(COPY_BUF);
	uint64_t off = 0;

	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	while (off < size) {
		size_t chunk = size - off < COPY_BUF ? (size_t)(size - off)
						     : COPY_BUF;
		ssize_t n = ukit_pread_full(in, buf, chunk, (off_t)off);
		if (n < 0 || (size_t)n != chunk) {
			free(buf);
			return n < 0 ? ukit_fmt_errno(e, off, "read failed")
				     : ukit_fmt_errf(e, off, "input shrank while "
						"being copied");
		}
		if (ukit_pwrite_full(out, buf, chunk, off) < 0) {
			free(buf);
			return ukit_fmt_errno(e, FMT_NOOFF, "write failed");
		}
		off += chunk;
	}
	free(buf);
	return 0;
}

/* copy_file_range() [off, end) of (in) to the same offsets of (out).
 * 1 done, 0 not possible between these files, -1 error. */
static int copy_range(int in, int out, uint64_t off, uint64_t end,
		      struct fmt_err *e)
{
	loff_t ioff = (loff_t)off, ooff = (loff_t)off;

	while ((uint64_t)ioff < end) {
		uint64_t left = end - (uint64_t)ioff;
		ssize_t n = copy_file_range(in, &ioff, out, &ooff,
					    left < (1u << 30) ? (size_t)left
							      : (1u << 30), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EBADF)
				return 0;
			return ukit_fmt_errno(e, (uint64_t)ioff, "copy failed");
		}
		if (n == 0)
			return ukit_fmt_errf(e, (uint64_t)ioff, "input shrank while "
					"being copied");
	}
	return 1;
}

/*
 * Copy in the kernel: a reflink (FICLONE) where the file system shares
 * blocks, else copy_file_range() over the data regions only (SEEK_DATA /
 * SEEK_HOLE), so holes stay holes and cost nothing.  1 done, 0 not
 * possible here (the caller copies through a buffer, from the start), -1
 * error.
 */
static int copy_kernel(int in, int out, uint64_t size, struct fmt_err *e)
{
	uint64_t off = 0;

	if (ioctl(out, FICLONE, in) == 0)
		return 1;
	while (off < size) {
		off_t d = lseek(in, (off_t)off, SEEK_DATA), h;
		int r;

		if (d < 0 && errno == ENXIO)
			break;                  /* only a hole is left */
		if (d < 0) {
			d = (off_t)off;         /* no SEEK_DATA: all data */
			h = (off_t)size;
		} else if ((h = lseek(in, d, SEEK_HOLE)) < 0 ||
			   (uint64_t)h > size) {
			h = (off_t)size;
		}
		if ((uint64_t)d >= size)
			break;
		if ((r = copy_range(in, out, (uint64_t)d, (uint64_t)h, e)) <= 0)
			return r;
		off = (uint64_t)h;
	}
	if (ftruncate(out, (off_t)size) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot size output");
	return 1;
}

int ukit_elfedit_apply_fd(int in_fd, int out_fd, const struct elfedit_plan *plan,
		     struct fmt_err *e)
{
	struct stat st;
	int r;

	if (fstat(in_fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot stat input");
	if ((uint64_t)st.st_size != plan->in_size)
		return ukit_fmt_errf(e, FMT_NOOFF, "input changed size while being "
				"edited (0x%" PRIx64 " != 0x%" PRIx64 ")",
				(uint64_t)st.st_size, plan->in_size);
	if ((r = copy_kernel(in_fd, out_fd, plan->in_size, e)) < 0)
		return -1;
	if (r == 0 && copy_buffered(in_fd, out_fd, plan->in_size, e) < 0)
		return -1;
	if (plan->out_size != plan->in_size &&
	    ftruncate(out_fd, (off_t)plan->out_size) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot extend output");
	for (size_t i = 0; i < plan->n; i++)
		if (ukit_pwrite_full(out_fd, plan->p[i].data, plan->p[i].len,
				plan->p[i].off) < 0)
			return ukit_fmt_errno(e, plan->p[i].off, "write failed");
	return 0;
}

int ukit_elfedit_apply_buf(const uint8_t *in, size_t len,
		      const struct elfedit_plan *plan, uint8_t **out,
		      size_t *out_len, struct fmt_err *e)
{
	uint8_t *b;

	if (len != plan->in_size || plan->out_size > SIZE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "plan is for another input");
	if ((b = calloc(1, plan->out_size ? (size_t)plan->out_size : 1)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memcpy(b, in, len);
	for (size_t i = 0; i < plan->n; i++) {
		if (!in_bounds(plan->p[i].off, plan->p[i].len, plan->out_size)) {
			free(b);
			return ukit_fmt_errf(e, plan->p[i].off, "patch past end");
		}
		memcpy(b + plan->p[i].off, plan->p[i].data, plan->p[i].len);
	}
	*out = b;
	*out_len = (size_t)plan->out_size;
	return 0;
}
