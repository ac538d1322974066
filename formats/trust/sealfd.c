/*
 * sealfd.c: memfd copies with write, shrink, grow and seal seals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sealfd.h"

int ukit_sealfd_create(const char *name, struct fmt_err *e)
{
	int fd = memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC);

	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd_create");
	return fd;
}

int ukit_sealfd_seal(int fd, struct fmt_err *e)
{
	int seals;

	if (fcntl(fd, F_ADD_SEALS, SEALFD_SEALS) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "sealing the copy");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "reading the seals");
	if ((seals & SEALFD_SEALS) != SEALFD_SEALS)
		return ukit_fmt_errf(e, FMT_NOOFF, "copy not sealed (seals 0x%x)",
				seals);
	return 0;
}

int ukit_sealfd_exec_fd(int fd, char *path, size_t len, struct fmt_err *e)
{
	int seals = fcntl(fd, F_GET_SEALS), flags;

	if (seals < 0 || (seals & SEALFD_SEALS) != SEALFD_SEALS)
		return ukit_fmt_errf(e, FMT_NOOFF, "refusing to pass on an "
				"unsealed copy");
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "clearing close-on-exec");
	if ((size_t)snprintf(path, len, "/proc/self/fd/%d", fd) >= len)
		return ukit_fmt_errf(e, FMT_NOOFF, "path buffer too small");
	return 0;
}

/* (a) with every "{}" replaced by (path), or NULL (out of memory). */
static char *subst(const char *a, const char *path)
{
	size_t count = 0, len = strlen(a), pl = strlen(path);
	const char *p;
	char *out, *w;

	for (p = a; (p = strstr(p, "{}")) != NULL; p += 2)
		count++;
	out = malloc(len + count * pl + 1);
	if (out == NULL)
		return NULL;
	for (w = out, p = a; *p != '\0';) {
		if (p[0] == '{' && p[1] == '}') {
			memcpy(w, path, pl);
			w += pl;
			p += 2;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return out;
}

int ukit_sealfd_exec(int fd, char *const *argv, struct fmt_err *e)
{
	char path[64], **av;
	size_t n = 0;
	int err;

	if (ukit_sealfd_exec_fd(fd, path, sizeof path, e) != 0)
		return 1;
	while (argv[n] != NULL)
		n++;
	av = calloc(n + 1, sizeof *av);
	if (av == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if ((av[i] = subst(argv[i], path)) == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			return 1;
		}
	fflush(stdout);
	fflush(stderr);
	execvp(av[0], av);
	err = errno;
	ukit_fmt_errno(e, FMT_NOOFF, "cannot run %s", av[0]);
	for (size_t i = 0; i < n; i++)
		free(av[i]);
	free(av);
	/* the shell's codes: not found, or found but not runnable */
	return err == ENOENT ? 127 : 126;
}
