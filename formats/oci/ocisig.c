/*
 * ocisig.c: signature artifacts of OCI images (see ocisig.h).  Artifacts,
 * indexes and bundles read from layouts and registries are untrusted:
 * digests are checked before they are parsed, bundles are verified by
 * formats/trust.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "ocibuild.h"
#include "ocisig.h"
#include "outfile.h"
#include "sigjson.h"

static const char empty_digest[] =
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

void ukit_oci_artifact_free(struct ukit_oci_artifact *a)
{
	if (a == NULL)
		return;
	free(a->manifest);
	ukit_oci_desc_free(&a->manifest_desc);
	ukit_oci_desc_free(&a->subject);
	memset(a, 0, sizeof *a);
}

static json_t *sig_annotations(int64_t created)
{
	char t[32];

	ukit_oci_rfc3339(created, t);
	return json_pack("{s:s,s:s,s:s}",
			 "dev.sigstore.bundle.content", "dsse-envelope",
			 "dev.sigstore.bundle.predicateType", "urn:ukit:image:v1",
			 OCI_ANN_CREATED, t);
}

int ukit_oci_sig_artifact(const struct ukit_oci_desc *subject,
			  const char *bundle, size_t len, int64_t created,
			  struct ukit_oci_artifact *a, struct fmt_err *e)
{
	json_t *m, *cfg, *subj;
	struct ukit_oci_desc s = *subject;

	memset(a, 0, sizeof *a);
	s.annotations = NULL;
	s.artifact_type[0] = 0;
	a->subject = s;
	snprintf(a->config.media_type, sizeof a->config.media_type, "%s",
		 OCI_MT_EMPTY);
	snprintf(a->config.digest, sizeof a->config.digest, "%s", empty_digest);
	a->config.size = 2;
	snprintf(a->layer.media_type, sizeof a->layer.media_type, "%s",
		 OCI_MT_BUNDLE);
	if (ukit_oci_digest_buf(bundle, len, a->layer.digest, e) < 0)
		return -1;
	a->layer.size = len;
	a->blob = bundle;
	a->blob_len = len;
	cfg = ukit_oci_desc_json(&a->config);
	json_object_set_new(cfg, "data", json_string("e30="));
	subj = ukit_oci_desc_json(&a->subject);
	m = json_pack("{s:i,s:s,s:s,s:o,s:[o],s:o,s:o}",
		      "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
		      "artifactType", OCI_MT_BUNDLE, "config", cfg,
		      "layers", ukit_oci_desc_json(&a->layer),
		      "subject", subj, "annotations", sig_annotations(created));
	if (m == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	a->manifest = ukit_oci_json_dump(m);
	json_decref(m);
	if (a->manifest == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	a->manifest_len = strlen(a->manifest);
	snprintf(a->manifest_desc.media_type, sizeof a->manifest_desc.media_type,
		 "%s", OCI_MT_MANIFEST);
	snprintf(a->manifest_desc.artifact_type,
		 sizeof a->manifest_desc.artifact_type, "%s", OCI_MT_BUNDLE);
	a->manifest_desc.size = a->manifest_len;
	a->manifest_desc.annotations = sig_annotations(created);
	if (ukit_oci_digest_buf(a->manifest, a->manifest_len,
				a->manifest_desc.digest, e) < 0) {
		ukit_oci_artifact_free(a);
		return -1;
	}
	return 0;
}

/* ---- local layouts ------------------------------------------------- */

static void fallback_tag(const char *digest, char tag[80])
{
	snprintf(tag, 80, "sha256-%s", digest + 7);
}

int ukit_oci_sig_subject(const struct ukit_oci_ref *ref,
			 const struct ukit_oci_regopts *o,
			 struct ukit_oci_desc *d, char **raw, size_t *len,
			 struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	int rc = -1;

	if (ref->kind == OCI_REF_DOCKER)
		return ukit_oci_remote_manifest(ref, o, d, raw, len, e);
	if (ukit_oci_local_open(ref, &l, e) < 0 ||
	    ukit_oci_local_resolve(l, ref, d, e) < 0)
		goto out;
	if (ukit_oci_local_read(l, d, raw, e) < 0) {
		ukit_oci_desc_free(d);
		goto out;
	}
	*len = (size_t)d->size;
	rc = 0;
out:
	ukit_oci_local_close(l);
	return rc;
}

int ukit_oci_sig_attach(const struct ukit_oci_ref *ref,
			const struct ukit_oci_regopts *o,
			const struct ukit_oci_artifact *a, struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_out *w = NULL;
	struct ukit_oci_ref tref;
	struct ukit_oci_desc old, ixd;
	char tag[80], *oldraw = NULL, *ix = NULL, dg[OCI_DIGEST_LEN + 1];
	int rc = -1;

	if (ref->kind == OCI_REF_DOCKER)
		return ukit_oci_remote_attach(ref, o, a, e);
	if (ref->kind != OCI_REF_DIR)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: signatures are stored in oci: "
				"layouts and registries, not in oci-archive: "
				"files", ref->text);
	fallback_tag(a->subject.digest, tag);
	memset(&tref, 0, sizeof tref);
	tref = *ref;
	tref.tag = tag;
	tref.digest = NULL;
	if (ukit_oci_local_open(ref, &l, e) < 0)
		return -1;
	if (ukit_oci_local_resolve(l, &tref, &old, NULL) == 0) {
		if (ukit_oci_local_read(l, &old, &oldraw, e) < 0) {
			ukit_oci_desc_free(&old);
			goto out;
		}
		ukit_oci_desc_free(&old);
	}
	if (ukit_oci_referrers_index_add(oldraw, oldraw ? strlen(oldraw) : 0,
					 &a->manifest_desc, &ix, e) < 0)
		goto out;
	if (ukit_oci_out_open(ref, 0, &w, e) < 0 ||
	    ukit_oci_out_blob_bytes(w, OCI_EMPTY_JSON, 2, dg, e) < 0 ||
	    ukit_oci_out_blob_bytes(w, a->blob, a->blob_len, dg, e) < 0 ||
	    ukit_oci_out_blob_bytes(w, a->manifest, a->manifest_len, dg, e) < 0)
		goto out;
	memset(&ixd, 0, sizeof ixd);
	snprintf(ixd.media_type, sizeof ixd.media_type, "%s", OCI_MT_INDEX);
	ixd.size = strlen(ix);
	if (ukit_oci_out_blob_bytes(w, ix, strlen(ix), ixd.digest, e) < 0)
		goto out;
	rc = ukit_oci_out_commit(w, &ixd, tag, e);
	w = NULL;
out:
	ukit_oci_out_abort(w);
	ukit_oci_local_close(l);
	free(oldraw);
	free(ix);
	return rc;
}

static int local_referrers(const struct ukit_oci_ref *ref, const char *subject,
			   ukit_oci_referrer_fn fn, void *arg,
			   struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_ref tref;
	struct ukit_oci_desc ixd;
	struct ukit_oci_index ix;
	char tag[80], *raw = NULL;
	int rc = -1, found = 0;

	memset(&ix, 0, sizeof ix);
	fallback_tag(subject, tag);
	tref = *ref;
	tref.tag = tag;
	tref.digest = NULL;
	if (ukit_oci_local_open(ref, &l, e) < 0)
		return -1;
	if (ukit_oci_local_resolve(l, &tref, &ixd, NULL) < 0) {
		rc = 0;         /* no signatures */
		goto out;
	}
	rc = ukit_oci_local_read(l, &ixd, &raw, e);
	ukit_oci_desc_free(&ixd);
	if (rc < 0 ||
	    (rc = ukit_oci_index_parse(raw, strlen(raw), tag, &ix, e)) < 0)
		goto out;
	rc = -1;
	for (size_t i = 0; i < ix.n && found == 0; i++) {
		struct ukit_oci_manifest m;
		char *mraw = NULL, *blob = NULL;
		int k;

		if (ix.m[i].artifact_type[0] &&
		    strcmp(ix.m[i].artifact_type, OCI_MT_BUNDLE) != 0)
			continue;
		if (ukit_oci_local_read(l, &ix.m[i], &mraw, e) < 0)
			goto out;
		k = ukit_oci_manifest_parse(mraw, strlen(mraw), ix.m[i].digest,
					    &m, e);
		free(mraw);
		if (k < 0)
			goto out;
		if (!ukit_oci_manifest_signs(&m, subject, OCI_MT_BUNDLE,
					     OCI_ARTIFACT_MAX)) {
			ukit_oci_manifest_free(&m);
			continue;
		}
		if (ukit_oci_local_read(l, &m.layers[0], &blob, e) < 0) {
			ukit_oci_manifest_free(&m);
			goto out;
		}
		k = fn(arg, blob, (size_t)m.layers[0].size, ix.m[i].digest, e);
		free(blob);
		ukit_oci_manifest_free(&m);
		if (k < 0)
			goto out;
		found = k > 0;
	}
	rc = found;
out:
	ukit_oci_index_free(&ix);
	free(raw);
	ukit_oci_local_close(l);
	return rc;
}

/* ---- verification --------------------------------------------------- */

struct vctx {
	int mfd;                        /* the manifest bytes */
	const char *what;
	const struct verify_policy *p;
	struct verify_result *r;
	bool tried;
};

static int try_bundle(void *arg, const char *blob, size_t len,
		      const char *artifact, struct fmt_err *e)
{
	struct vctx *v = arg;
	struct verify_policy pol = *v->p;
	char path[64];
	int bfd, rc;

	(void)artifact;
	bfd = memfd_create("ukit-bundle", MFD_CLOEXEC);
	if (bfd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd_create");
	if (ukit_write_full(bfd, blob, len) < 0) {
		close(bfd);
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd write");
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", bfd);
	pol.bundle = path;
	pol.tee_fd = -1;
	if (v->tried)
		ukit_verify_result_free(v->r);
	v->tried = true;
	rc = ukit_verify_image(v->mfd, v->what, &pol, v->r, e);
	close(bfd);
	if (rc < 0)
		return -1;
	return v->r->verified ? 1 : 0;
}

int ukit_oci_sig_verify(const struct ukit_oci_ref *ref,
			const struct ukit_oci_regopts *o,
			const struct ukit_oci_desc *subject, const char *raw,
			size_t len, const struct verify_policy *p,
			struct verify_result *r, struct fmt_err *e)
{
	struct vctx v = { .what = ref->text, .p = p, .r = r };
	int rc;

	memset(r, 0, sizeof *r);
	v.mfd = memfd_create("ukit-manifest", MFD_CLOEXEC);
	if (v.mfd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd_create");
	if (ukit_write_full(v.mfd, raw, len) < 0) {
		close(v.mfd);
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd write");
	}
	if (ref->kind == OCI_REF_DOCKER)
		rc = ukit_oci_remote_referrers(ref, o, subject->digest,
					       OCI_MT_BUNDLE, try_bundle, &v, e);
	else
		rc = local_referrers(ref, subject->digest, try_bundle, &v, e);
	close(v.mfd);
	if (rc < 0) {
		if (v.tried)
			ukit_verify_result_free(r);
		return -1;
	}
	if (!v.tried) {
		r->reasons = json_array();
		if (r->reasons == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		json_array_append_new(r->reasons, json_sprintf(
			"no signature of %s found (referrers of the manifest, "
			"tag sha256-%s)", subject->digest, subject->digest + 7));
		return 0;
	}
	return rc;
}
