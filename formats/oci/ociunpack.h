/*
 * ociunpack.h: read files out of an image's layers: decompression
 * (gzip, zstd, none) as a streaming source, and extraction of named
 * files from a verified layer.  Layer bytes are untrusted; a layer's
 * digest is checked when its stream ends, before the caller commits
 * anything it wrote.
 */
#ifndef UKIT_OCIUNPACK_H
#define UKIT_OCIUNPACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "ocijson.h"
#include "ocilayout.h"
#include "ocitar.h"

struct ukit_oci_decomp;

/*
 * Decompress (src) according to the layer media type (mt): tar+gzip (OCI
 * or Docker), tar+zstd, plain tar; anything else is an error naming it.
 */
int ukit_oci_decomp_open(const char *mt, const struct ukit_oci_source *src,
			 struct ukit_oci_decomp **out, struct fmt_err *e);
/* A ukit_oci_source over the decompressed bytes. */
ssize_t ukit_oci_decomp_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e);
void ukit_oci_decomp_close(struct ukit_oci_decomp *d);

struct ukit_oci_extract_item {
	const char *path;       /* inside the image ("/unikernel/kernel") */
	int         fd;         /* written from offset 0 */
	bool        found;
	uint64_t    size;
};

/*
 * Walk every layer of (m) in (l) in order and write the files named by
 * (items) (a later layer's copy wins, as unpacking would) to their fds.
 * Every layer is read to its end and its digest checked.  0 or -1.
 */
int ukit_oci_extract(struct ukit_oci_local *l, const struct ukit_oci_manifest *m,
		     struct ukit_oci_extract_item *items, size_t n,
		     struct fmt_err *e);

/* The kernel's path in the image: com.urunc.unikernel.binary from the
 * manifest annotations or config labels, org.unikraft.kernel.image, else
 * "/unikernel/kernel". */
const char *ukit_oci_kernel_path(const struct ukit_oci_manifest *m,
				 const struct ukit_oci_config *c);

#endif
