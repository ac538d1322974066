/*
 * ocisig.h: Sigstore bundles attached to OCI images as artifacts.
 *
 * The bundle (formats/trust/bundle.h) signs an in-toto statement whose
 * subject is the image manifest: its sha256 and size.  It is stored as an
 * OCI artifact manifest (artifactType and layer media type
 * application/vnd.dev.sigstore.bundle.v0.3+json, the empty config,
 * "subject" = the image manifest), the form cosign writes with its new
 * bundle format; registries with the referrers API index it themselves,
 * for the others (and oci: layouts) it is listed in the image index
 * tagged "sha256-<hex>" (image-spec's referrers tag schema).
 *
 * Verification goes through ukit_verify_image() with the manifest bytes as the
 * image: the same keys, chains, rollback and reasons as for files.
 */
#ifndef UKIT_OCISIG_H
#define UKIT_OCISIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ocijson.h"
#include "ocilayout.h"
#include "registry.h"
#include "verify.h"

#define OCI_MT_BUNDLE "application/vnd.dev.sigstore.bundle.v0.3+json"

/*
 * Build the artifact carrying (bundle, len) for (subject) into (*a)
 * (a->blob borrows (bundle)).  Release with ukit_oci_artifact_free().
 */
int ukit_oci_sig_artifact(const struct ukit_oci_desc *subject,
			  const char *bundle, size_t len, int64_t created,
			  struct ukit_oci_artifact *a, struct fmt_err *e);
void ukit_oci_artifact_free(struct ukit_oci_artifact *a);

/* The manifest (ref) names, local or remote, and its bytes (malloc'd). */
int ukit_oci_sig_subject(const struct ukit_oci_ref *ref,
			 const struct ukit_oci_regopts *o,
			 struct ukit_oci_desc *d, char **raw, size_t *len,
			 struct fmt_err *e);

/* Store (a) with the image (oci: layouts and registries). */
int ukit_oci_sig_attach(const struct ukit_oci_ref *ref,
			const struct ukit_oci_regopts *o,
			const struct ukit_oci_artifact *a, struct fmt_err *e);

/*
 * Look for bundles signing (subject) (whose bytes are (raw, len)) next to
 * (ref) and verify each with policy (p) until one holds.  Returns 1
 * verified, 0 not ((r) says why: the last bundle's reasons, or that there
 * is none), -1 with (e).  Free (r) with ukit_verify_result_free().
 */
int ukit_oci_sig_verify(const struct ukit_oci_ref *ref,
			const struct ukit_oci_regopts *o,
			const struct ukit_oci_desc *subject, const char *raw,
			size_t len, const struct verify_policy *p,
			struct verify_result *r, struct fmt_err *e);

/*
 * Signatures carried from one place to another (ukit-pack oci push and
 * pull): collected first, so that hostile input stops the command before
 * it writes anything, then attached as ukit-sign attaches a new one.
 */
#define OCI_SIGS_MAX       64          /* signatures carried per image */
#define OCI_SIGS_BYTES_MAX (16u << 20)  /* and their bundles' bytes */

struct ukit_oci_sigset {
	size_t n;
	size_t bytes;                   /* of the bundles held */
	struct ukit_oci_artifact *a;    /* a[i].blob owned by the set too */
	json_t *skipped;                /* NULL or strings: artifacts of the
					 * image not carried, and why */
};

/*
 * Every signature of (subject) next to (ref) (an oci: layout or a
 * registry; an oci-archive: file has none), found as
 * ukit_oci_sig_verify() finds them: the same walk, the same predicate
 * ukit_oci_manifest_signs(), the same errors (a malformed index, an
 * artifact whose bytes do not match its digest: -1 with (e)).  An
 * artifact listed twice is taken once; past OCI_SIGS_MAX signatures or
 * OCI_SIGS_BYTES_MAX bytes of bundles the rest are left, each named in
 * (s->skipped), so a registry listing thousands cannot exhaust memory.  0 (with (*s), maybe empty;
 * release with ukit_oci_sigset_free()) or -1 with (e).
 */
int ukit_oci_sig_collect(const struct ukit_oci_ref *ref,
			 const struct ukit_oci_regopts *o,
			 const char *subject, struct ukit_oci_sigset *s,
			 struct fmt_err *e);

/* Attach each of (s) at (dst) as ukit_oci_sig_attach() does (entries
 * already listed there are not listed twice); in an oci: layout all with
 * one commit, so that a failure lists none.  0 or -1 with (e). */
int ukit_oci_sig_copy(const struct ukit_oci_sigset *s,
		      const struct ukit_oci_ref *dst,
		      const struct ukit_oci_regopts *o, struct fmt_err *e);
/* What ukit_oci_sig_copy() to the oci: layout (dst) would read there (the
 * fallback index it adds to) read and checked, nothing written: a pull
 * calls it before it commits the image, so that a malformed index in
 * the layout stops it with the layout as it was.  0 or -1 with (e). */
int ukit_oci_sig_copy_check(const struct ukit_oci_sigset *s,
			    const struct ukit_oci_ref *dst, struct fmt_err *e);
void ukit_oci_sigset_free(struct ukit_oci_sigset *s);

#endif
