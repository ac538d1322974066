/*
 * ocibuild.h: build a unikernel OCI image (image-spec v1.1): one layer
 * holding the kernel (and an optional disk image and initrd) under fixed
 * paths, a config, a manifest, annotated for urunc (com.urunc.unikernel.*)
 * and, for Unikraft kernels, kraftkit (org.unikraft.*).
 *
 * Reproducible: the layer tar has a fixed order, owners 0:0, fixed modes
 * and every mtime set to (epoch); gzip has no name and mtime 0, zstd is
 * single-threaded with fixed parameters; JSON is written with sorted keys.
 * The same inputs and epoch give the same manifest digest.
 */
#ifndef UKIT_OCIBUILD_H
#define UKIT_OCIBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ocijson.h"
#include "ocilayout.h"

enum ukit_oci_comp { OCI_COMP_GZIP = 0, OCI_COMP_ZSTD = 1 };

#define OCI_ANN_MAX 256           /* user annotations */

struct ukit_oci_build_opts {
	const char *kernel;         /* required */
	const char *disk, *initrd;  /* or NULL */
	const char *cmdline;        /* or NULL */
	const char *target;         /* hvt|spt|virtio|qemu|firecracker|xen,
				       NULL: from the Solo5 ABI note */
	const char *unikernel_type; /* urunc's unikernelType, NULL: unikraft
				       when the kernel has .uk_ sections */
	const char *arch;           /* OCI architecture, NULL: from the ELF */
	enum ukit_oci_comp comp;
	int         level;          /* -1: default (gzip 6, zstd 3) */
	int64_t     epoch;          /* mtimes and "created" */
	size_t      nann;
	const char *ann_key[OCI_ANN_MAX], *ann_val[OCI_ANN_MAX];
};

/* What the build decided (for messages and inspect). */
struct ukit_oci_build_info {
	char hypervisor[32];        /* urunc's name */
	char unikernel_type[32];    /* "" when unknown */
	char arch[16];
	char kernel_path[64];       /* inside the image, with leading '/' */
};

/*
 * Build the image into (w) (blobs staged, not committed) and return the
 * manifest's descriptor in (*manifest) (annotations NULL).  0 or -1.
 */
int ukit_oci_build(struct ukit_oci_out *w, const struct ukit_oci_build_opts *o,
		   struct ukit_oci_desc *manifest, struct ukit_oci_build_info *info,
		   struct fmt_err *e);

/* "YYYY-MM-DDTHH:MM:SSZ" of (t). */
void ukit_oci_rfc3339(int64_t t, char out[32]);

#endif
