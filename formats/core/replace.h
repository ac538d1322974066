/*
 * replace.h: atomic, durable replacement of a file (what outfile.h builds
 * on, and all a device's small state file needs).
 *
 * The new contents go to an unnamed temporary (O_TMPFILE) in the
 * destination's directory, are fsynced, given a fresh temporary name and
 * renamed over the destination; then the directory is fsynced.  A kill at
 * any point leaves the old file or the new one.  Where the file system
 * lacks O_TMPFILE, a named ".NAME.ukit-XXXXXX" temporary is used.
 */
#ifndef UKIT_REPLACE_H
#define UKIT_REPLACE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* ".BASE.ukit-XXXXXX" beside (path), a mkstemp() template; NULL: no memory. */
char *ukit_replace_template(const char *path);

/*
 * Give the unnamed file (fd) a fresh temporary name beside (path);
 * (*tmp) gets it (malloc'd).  0, or -1 with errno set.
 */
int ukit_replace_link(int fd, const char *path, char **tmp);

/* fsync the directory of (path); errors are ignored (best effort). */
void ukit_replace_fsync_dir(const char *path);

/*
 * Replace (path) with (len) bytes of (buf), created with (mode) (the umask
 * applies).  0, or -1 with (e) set and (path) untouched.
 */
int ukit_replace_file(const char *path, const void *buf, size_t len,
		      mode_t mode, struct fmt_err *e);

#endif
