/*
 * sealfd.c: memfd copies with write, shrink, grow and seal seals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "sealfd.h"

int sealfd_create(const char *name, struct fmt_err *e)
{
	int fd = memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC);

	if (fd < 0)
		return fmt_errno(e, FMT_NOOFF, "memfd_create");
	return fd;
}

int sealfd_write(int fd, const void *buf, size_t len, struct fmt_err *e)
{
	if (write_full(fd, buf, len) < 0)
		return fmt_errno(e, FMT_NOOFF, "writing the sealed copy");
	return 0;
}

int sealfd_seal(int fd, struct fmt_err *e)
{
	int seals;

	if (fcntl(fd, F_ADD_SEALS, SEALFD_SEALS) < 0)
		return fmt_errno(e, FMT_NOOFF, "sealing the copy");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return fmt_errno(e, FMT_NOOFF, "reading the seals");
	if ((seals & SEALFD_SEALS) != SEALFD_SEALS)
		return fmt_errf(e, FMT_NOOFF, "copy not sealed (seals 0x%x)",
				seals);
	return 0;
}

int sealfd_exec_fd(int fd, char *path, size_t len, struct fmt_err *e)
{
	int seals = fcntl(fd, F_GET_SEALS), flags;

	if (seals < 0 || (seals & SEALFD_SEALS) != SEALFD_SEALS)
		return fmt_errf(e, FMT_NOOFF, "refusing to pass on an "
				"unsealed copy");
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
		return fmt_errno(e, FMT_NOOFF, "clearing close-on-exec");
	if ((size_t)snprintf(path, len, "/proc/self/fd/%d", fd) >= len)
		return fmt_errf(e, FMT_NOOFF, "path buffer too small");
	return 0;
}
