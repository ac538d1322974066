/*
 * sealfd.h: a sealed in-memory copy of an image (memfd), so that what a
 * tender boots is exactly what was verified: once sealed, nobody (not the
 * tender, not whoever rewrites the file on disk) can change its bytes.
 */
#ifndef UKIT_SEALFD_H
#define UKIT_SEALFD_H

#include <stddef.h>

#include "err.h"

/* The seals a verified copy carries. */
#define SEALFD_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * Create an empty memfd named (name) that can be sealed (close-on-exec
 * until ukit_sealfd_exec_fd() clears it).  Returns the fd, or -1 with (e).
 */
int ukit_sealfd_create(const char *name, struct fmt_err *e);

/*
 * Seal (fd) with SEALFD_SEALS and check that the seals hold.  0 or -1
 * with (e).
 */
int ukit_sealfd_seal(int fd, struct fmt_err *e);

/*
 * Clear close-on-exec on the sealed (fd) and write "/proc/self/fd/N" to
 * (path) (of (len) bytes).  Refuses an fd that is not sealed.  0 or -1.
 */
int ukit_sealfd_exec_fd(int fd, char *path, size_t len, struct fmt_err *e);

/*
 * Run (argv) (argv[0] looked up in PATH) with every "{}" in its arguments
 * replaced by "/proc/self/fd/N", the sealed (fd) (ukit_sealfd_exec_fd()).
 * Returns only on failure: 127 when the program does not exist, 126 when
 * it cannot be run, as a shell's exit codes say, 1 for anything else; (e)
 * says why.
 */
int ukit_sealfd_exec(int fd, char *const *argv, struct fmt_err *e);

#endif
