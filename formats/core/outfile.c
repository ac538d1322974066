/*
 * outfile.c: atomic output files (see outfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "outfile.h"
#include "replace.h"

static char *dir_of(const char *path)
{
	char *copy = strdup(path), *d;

	if (copy == NULL)
		return NULL;
	d = strdup(dirname(copy));
	free(copy);
	return d;
}

int ukit_outfile_open(struct outfile *o, const char *path, mode_t mode,
		 struct fmt_err *e)
{
	char *dir;
	mode_t um;
	struct stat st;

	memset(o, 0, sizeof *o);
	o->fd = -1;
	if (strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
		o->is_stdout = true;
		return 0;
	}
	/* say so now, not after the whole output is written (a symbolic
	 * link to a directory is replaced, as rename() does) */
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "output is a directory");
	um = umask(0);
	umask(um);
	o->mode = mode & ~um;
	if ((o->path = strdup(path)) == NULL ||
	    (dir = dir_of(path)) == NULL) {
		free(o->path);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, o->mode);
	free(dir);
	if (o->fd >= 0) {
		o->unnamed = true;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot create output in its directory");
		free(o->path);
		o->path = NULL;
		return -1;
	}
	if ((o->tmp = ukit_replace_template(path)) == NULL) {
		free(o->path);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot create temporary output");
		free(o->tmp);
		free(o->path);
		o->tmp = o->path = NULL;
		return -1;
	}
	if (fchmod(o->fd, o->mode) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot set output mode");
		ukit_outfile_abort(o);
		return -1;
	}
	return 0;
}

int ukit_outfile_open_new(struct outfile *o, const char *path, mode_t mode,
		     struct fmt_err *e)
{
	if (strcmp(path, "-") == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot write a new file to stdout");
	if (ukit_outfile_open(o, path, mode, e) != 0)
		return -1;
	o->excl = true;
	return 0;
}

/* Exclusive commit: link the finished file to (path), never replacing. */
static int commit_excl(struct outfile *o, struct fmt_err *e)
{
	char proc[64];
	int r;

	if (o->unnamed) {
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
		r = linkat(AT_FDCWD, proc, AT_FDCWD, o->path, AT_SYMLINK_FOLLOW);
	} else {
		r = link(o->tmp, o->path);
	}
	if (r != 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot create");
	return 0;
}

int ukit_outfile_write(struct outfile *o, const void *buf, size_t len,
		  struct fmt_err *e)
{
	if (ukit_write_full(o->fd, buf, len) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "write failed");
	return 0;
}

static void release(struct outfile *o)
{
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	o->fd = -1;
}

int ukit_outfile_commit(struct outfile *o, struct fmt_err *e)
{
	if (o->is_stdout) {
		o->fd = -1;
		return 0;
	}
	if (!o->nosync && fsync(o->fd) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
		ukit_outfile_abort(o);
		return -1;
	}
	if (o->excl) {
		if (commit_excl(o, e) != 0) {
			ukit_outfile_abort(o);
			return -1;
		}
		if (o->tmp != NULL)
			unlink(o->tmp);
		close(o->fd);
		o->fd = -1;
		ukit_replace_fsync_dir(o->path);
		release(o);
		return 0;
	}
	if (o->unnamed) {
		/* Give the unnamed file a temporary name, then rename it
		 * over the destination: rename is the atomic step. */
		if (ukit_replace_link(o->fd, o->path, &o->tmp) != 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "cannot name the output");
			ukit_outfile_abort(o);
			return -1;
		}
		o->unnamed = false;
	}
	if (close(o->fd) < 0) {
		o->fd = -1;
		ukit_fmt_errno(e, FMT_NOOFF, "close failed");
		ukit_outfile_abort(o);
		return -1;
	}
	o->fd = -1;
	if (rename(o->tmp, o->path) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot rename output into place");
		ukit_outfile_abort(o);
		return -1;
	}
	if (!o->nosync)
		ukit_replace_fsync_dir(o->path);
	release(o);
	return 0;
}

void ukit_outfile_abort(struct outfile *o)
{
	if (o->is_stdout) {
		o->fd = -1;
		return;
	}
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp != NULL)
		unlink(o->tmp);
	release(o);
}
