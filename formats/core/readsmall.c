/*
 * readsmall.c: a whole small regular file into memory (io.h), for the
 * JSON and credentials files that are read at once, never streamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "io.h"

int ukit_read_small(const char *path, size_t max, char **out, size_t *len,
		    struct fmt_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0) {
		int err = errno;

		ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot open", path);
		errno = err;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %jd bytes, over the limit of "
				"%zu", path, (intmax_t)st.st_size, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	n = ukit_pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: short read", path);
	}
	buf[n] = 0;
	*out = buf;
	*len = (size_t)n;
	return 0;
}
