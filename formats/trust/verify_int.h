/*
 * verify_int.h: how the full verifier (verify.c) extends the core one
 * (verify_core.c).  Internal to libukit's trust layer.
 */
#ifndef UKIT_VERIFY_INT_H
#define UKIT_VERIFY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "stream.h"
#include "verify.h"

struct verify_ext;

/* One run: the policy, the image it is checked on, the extensions. */
struct vrun {
	const struct verify_policy *p;
	const char                 *image;
	const struct verify_ext    *x;      /* NULL: the core checks only */
};

/*
 * What the core leaves to an extension.  A check the policy asks for and
 * no extension provides is a failed check, never a skipped one.
 */
struct verify_ext {
	/* the pass over the image: (sink) (the SHA-256) and (so) as
	 * ukit_stream_read() takes them, plus the extension's own progress
	 * and consumers (the signed verity root) (NULL: ukit_stream_read()) */
	int  (*pass)(const struct vrun *o, int fd, const struct stream_opts *so,
		     const struct stream_sink *sink, uint64_t *total,
		     struct verify_result *r, struct fmt_err *e);
	/* the envelope's signature by the leaf of the bundle's chain */
	int  (*chain_signature)(const struct vrun *o, const struct bundle *b,
				struct verify_result *r);
	/* the RFC 3161 timestamp over the signature (policy tsa_roots) */
	void (*timestamp)(const struct vrun *o, const struct bundle *b,
			  struct verify_result *r);
	/* the chain to a root, usages, validity, revocation (policy roots) */
	void (*chain)(const struct vrun *o, const struct bundle *b,
		      struct verify_result *r);
	/* a detached CMS signature instead of a bundle (policy cms) */
	void (*cms)(const struct vrun *o, int fd, struct verify_result *r);
	/* the image by its signed dm-verity tree instead of the SHA-256
	 * pass; false when it does not apply (policy, statement) */
	bool (*verity)(const struct vrun *o, int fd, uint64_t image_len,
		       struct verify_result *r);
};

/* Append one reason to (r) (a failed check). */
void ukit_verify_reason(struct verify_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Seal the policy's tee_fd (the copy --exec runs); a failure is a reason. */
void ukit_verify_seal(const struct vrun *o, struct verify_result *r);

/* ukit_verify_image() with the extensions (x) (NULL: none). */
int ukit_verify_run(int fd, const char *path, const struct verify_policy *p,
	       const struct verify_ext *x, struct verify_result *r,
	       struct fmt_err *e);

#endif
