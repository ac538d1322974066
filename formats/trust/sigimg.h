/*
 * sigimg.h: what ukit-sign states about an image besides its digest: the
 * format, and for ELF images with Solo5 notes the ABI and manifest as the
 * {abi: {target, version}, manifest: <query-manifest object>} JSON.
 */
#ifndef UKIT_SIGIMG_H
#define UKIT_SIGIMG_H

#include <jansson.h>

#include "err.h"

struct sigimg {
	const char *format;   /* "elf", "qcow2", "raw", ... (static) */
	json_t     *solo5;    /* NULL when absent (owned) */
};

/*
 * Probe the image on (fd) (reads headers and notes only; cost independent
 * of the file size).  0 or -1 with (e).
 */
int ukit_sigimg_probe(int fd, const char *path, struct sigimg *out,
		 struct fmt_err *e);

void ukit_sigimg_free(struct sigimg *s);

#endif
