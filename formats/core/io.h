/*
 * io.h: whole reads and writes.  read(2) and write(2) may move fewer bytes
 * than asked and may be interrupted; these loop until all is done, EOF or
 * a real error.  For files and pipes alike; no buffering.
 */
#ifndef UKIT_IO_H
#define UKIT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* write(2) all of (buf) to (fd).  0 or -1 (errno set). */
int ukit_write_full(int fd, const void *buf, size_t len);

/* pwrite(2) all of (buf) at (off), retrying short writes.  0 or -1 (errno). */
int ukit_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* pread(2) exactly (len) bytes.  Returns bytes read (< len at EOF) or -1. */
ssize_t ukit_pread_full(int fd, void *buf, size_t len, off_t off);

struct fmt_err;

/*
 * Read all of the regular file (path), at most (max) bytes, into (*out)
 * (NUL-terminated, malloc'd) and (*len) (readsmall.c).  0, or -1 with
 * (e) naming the path; after a failed open errno is open(2)'s.  A FIFO
 * or device is refused, never waited on.
 */
int ukit_read_small(const char *path, size_t max, char **out, size_t *len,
		    struct fmt_err *e);

#endif
