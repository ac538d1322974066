/*
 * replace.c: atomic, durable file replacement (see replace.h).  Trusts
 * only its caller's path.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "replace.h"

char *ukit_replace_template(const char *path)
{
	char *copy = strdup(path), *dir, *base, *t = NULL;

	if (copy == NULL)
		return NULL;
	base = strrchr(copy, '/');
	if (base != NULL) {
		*base++ = '\0';
		dir = copy[0] ? copy : "/";
	} else {
		base = copy;
		dir = ".";
	}
	if (asprintf(&t, "%s/.%s.ukit-XXXXXX", dir, base) < 0)
		t = NULL;
	free(copy);
	return t;
}

int ukit_replace_link(int fd, const char *path, char **tmp)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	for (int tries = 0; tries < 100; tries++) {
		char *t = ukit_replace_template(path);
		int tfd, err;

		if (t == NULL) {
			errno = ENOMEM;
			return -1;
		}
		tfd = mkstemp(t);       /* reserve a unique name */
		if (tfd < 0) {
			free(t);
			return -1;
		}
		close(tfd);
		unlink(t);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, t, AT_SYMLINK_FOLLOW) == 0) {
			*tmp = t;
			return 0;
		}
		err = errno;
		free(t);
		errno = err;
		if (err != EEXIST)     /* else another process took the name */
			return -1;
	}
	return -1;
}

void ukit_replace_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int ukit_replace_file(const char *path, const void *buf, size_t len,
		      mode_t mode, struct fmt_err *e)
{
	char *copy = strdup(path), *tmp = NULL;
	mode_t um;
	int fd, rc = -1;

	if (copy == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	fd = open(dirname(copy), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	free(copy);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot create output in its "
				      "directory");
	if (fd < 0) {           /* no O_TMPFILE here: a named temporary */
		if ((tmp = ukit_replace_template(path)) == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
			free(tmp);
			return ukit_fmt_errno(e, FMT_NOOFF, "cannot create "
					      "temporary output");
		}
		um = umask(0);
		umask(um);
		if (fchmod(fd, mode & ~um) != 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "cannot set output mode");
			goto out;
		}
	}
	if (ukit_write_full(fd, buf, len) != 0)
		ukit_fmt_errno(e, FMT_NOOFF, "write failed");
	else if (fsync(fd) != 0)
		ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
	else if (tmp == NULL && ukit_replace_link(fd, path, &tmp) != 0)
		ukit_fmt_errno(e, FMT_NOOFF, "cannot name the output");
	else if (rename(tmp, path) != 0)
		ukit_fmt_errno(e, FMT_NOOFF, "cannot rename output into place");
	else {
		free(tmp);
		tmp = NULL;
		ukit_replace_fsync_dir(path);
		rc = 0;
	}
out:
	close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}
