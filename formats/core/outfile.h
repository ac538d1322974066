/*
 * outfile.h: atomic output files.
 *
 * An output is written to an unnamed temporary file (O_TMPFILE) in the
 * destination directory, fsynced, given a temporary name and renamed over
 * the destination.  An error, or a kill at any point before the rename,
 * leaves the destination as it was and (with O_TMPFILE) no stray file; where
 * the file system lacks O_TMPFILE a named ".NAME.ukit-XXXXXX" temporary is
 * used and removed on error.  "-" means standard output (not atomic).
 */
#ifndef UKIT_OUTFILE_H
#define UKIT_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct outfile {
	int   fd;          /* write here */
	char *path;        /* destination (owned) */
	char *tmp;         /* named temporary, or NULL (owned) */
	bool  is_stdout;
	bool  unnamed;     /* O_TMPFILE in use */
	bool  excl;        /* commit fails if (path) exists (ukit_outfile_open_new) */
	bool  nosync;      /* set after open: commit renames without fsync
			      (qemu-img's -t unsafe: not durable) */
	mode_t mode;
};

/*
 * Start writing (path) with permission bits (mode) (masked by the umask).
 * (path) "-" writes to stdout.  Returns 0, or -1 with (e) set.
 */
int ukit_outfile_open(struct outfile *o, const char *path, mode_t mode,
		 struct fmt_err *e);

/*
 * Like ukit_outfile_open() for a file that must not exist yet (keys): the commit
 * links the finished file to (path) and fails with EEXIST if something is
 * there, so nothing is ever replaced and a kill leaves no partial file.
 * Not for "-".
 */
int ukit_outfile_open_new(struct outfile *o, const char *path, mode_t mode,
		     struct fmt_err *e);

/* Write all of (buf), retrying short writes.  0 or -1 with (e) set. */
int ukit_outfile_write(struct outfile *o, const void *buf, size_t len,
		  struct fmt_err *e);

/*
 * fsync, then atomically replace (path).  Returns 0, or -1 with (e) set
 * (the temporary is removed and (path) is untouched).  Frees (o) either way.
 */
int ukit_outfile_commit(struct outfile *o, struct fmt_err *e);

/* Drop the temporary; (path) is untouched.  Safe after a failed commit. */
void ukit_outfile_abort(struct outfile *o);

#endif
