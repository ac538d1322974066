/*
 * pwrite.c: whole positioned writes (see io.h), what image writers need
 * and a verifier does not.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "io.h"

int ukit_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}
