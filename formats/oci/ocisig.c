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

/*
 * The fallback index of the layout (ref) for the subject of (a[0..n))
 * (one subject: a set's) with each of them listed, as new JSON in
 * (*out); nothing is written.  A layout with no index.json yet (a pull's
 * new one) has none to add to.
 */
static int local_sig_index(const struct ukit_oci_ref *ref,
			   const struct ukit_oci_artifact *a, size_t n,
			   char **out, struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_ref tref;
	struct ukit_oci_desc old;
	char tag[80], *cur = NULL, *next, *where = NULL;
	size_t curlen = 0;
	int rc = -1;

	fallback_tag(a[0].subject.digest, tag);
	tref = *ref;
	tref.tag = tag;
	tref.digest = NULL;
	if (asprintf(&where, "%s/index.json", ref->path) < 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (access(where, F_OK) == 0) {
		if (ukit_oci_local_open(ref, &l, e) < 0)
			goto out;
		if (ukit_oci_local_resolve(l, &tref, &old, NULL) == 0) {
			free(where);
			if (asprintf(&where, "%s/blobs/sha256/%s (tag %s)",
				     ref->path, old.digest + 7, tag) < 0) {
				where = NULL;
				ukit_oci_desc_free(&old);
				ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
				goto out;
			}
			if (ukit_oci_local_read(l, &old, &cur, e) < 0) {
				ukit_oci_desc_free(&old);
				goto out;
			}
			/* its size, not strlen(): a NUL inside must be seen */
			curlen = (size_t)old.size;
			ukit_oci_desc_free(&old);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (ukit_oci_referrers_index_add(cur, curlen, where,
						 &a[i].manifest_desc, &next,
						 e) < 0)
			goto out;
		free(cur);
		cur = next;
		curlen = strlen(cur);
	}
	*out = cur;
	cur = NULL;
	rc = 0;
out:
	free(cur);
	free(where);
	ukit_oci_local_close(l);
	return rc;
}

/* Store (a[0..n)) (one subject) in the layout (ref) with one commit: the
 * layout has all of them or, on failure, none listed. */
static int local_attach(const struct ukit_oci_ref *ref,
			const struct ukit_oci_artifact *a, size_t n,
			struct fmt_err *e)
{
	struct ukit_oci_out *w = NULL;
	struct ukit_oci_desc ixd;
	char tag[80], *ix = NULL, dg[OCI_DIGEST_LEN + 1];
	int rc = -1;

	if (n == 0)
		return 0;
	if (ref->kind != OCI_REF_DIR)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: signatures are stored in oci: "
				"layouts and registries, not in oci-archive: "
				"files", ref->text);
	fallback_tag(a[0].subject.digest, tag);
	if (local_sig_index(ref, a, n, &ix, e) < 0)
		return -1;
	if (ukit_oci_out_open(ref, 0, &w, e) < 0 ||
	    ukit_oci_out_blob_bytes(w, OCI_EMPTY_JSON, 2, dg, e) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (ukit_oci_out_blob_bytes(w, a[i].blob, a[i].blob_len, dg,
					    e) < 0 ||
		    ukit_oci_out_blob_bytes(w, a[i].manifest, a[i].manifest_len,
					    dg, e) < 0)
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
	free(ix);
	return rc;
}

int ukit_oci_sig_attach(const struct ukit_oci_ref *ref,
			const struct ukit_oci_regopts *o,
			const struct ukit_oci_artifact *a, struct fmt_err *e)
{
	if (ref->kind == OCI_REF_DOCKER)
		return ukit_oci_remote_attach(ref, o, a, e);
	return local_attach(ref, a, 1, e);
}

static int local_referrers(const struct ukit_oci_ref *ref, const char *subject,
			   ukit_oci_referrer_fn fn, void *arg,
			   struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_ref tref;
	struct ukit_oci_desc ixd;
	struct ukit_oci_index ix;
	char tag[80], *raw = NULL, *where = NULL, mwhere[4200];
	size_t rawlen = 0;
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
	/* where it is: the blob file the tag names */
	if (rc == 0 && asprintf(&where, "%s/blobs/sha256/%s", ref->path,
				ixd.digest + 7) < 0) {
		where = NULL;
		rc = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	/* the bytes read are (size) long; strlen() would stop at a NUL
	 * and parse less than the digest covers */
	rawlen = (size_t)ixd.size;
	ukit_oci_desc_free(&ixd);
	if (rc < 0 ||
	    (rc = ukit_oci_index_parse(raw, rawlen, where, &ix, e)) < 0)
		goto out;
	rc = -1;
	for (size_t i = 0; i < ix.n && found == 0; i++) {
		struct ukit_oci_manifest m;
		struct ukit_oci_artifact a;
		char *mraw = NULL, *blob = NULL;
		size_t mlen = (size_t)ix.m[i].size;
		int k;

		if (ix.m[i].artifact_type[0] &&
		    strcmp(ix.m[i].artifact_type, OCI_MT_BUNDLE) != 0)
			continue;
		if (ukit_oci_index_listed_before(&ix, i) ||
		    !ukit_oci_desc_may_sign(&ix.m[i]))
			continue;
		if (ukit_oci_local_read(l, &ix.m[i], &mraw, e) < 0)
			goto out;
		snprintf(mwhere, sizeof mwhere, "%.4000s/blobs/sha256/%s",
			 ref->path, ix.m[i].digest + 7);
		k = ukit_oci_manifest_parse(mraw, mlen, mwhere, &m, e);
		if (k < 0) {
			free(mraw);
			goto out;
		}
		if (!ukit_oci_manifest_signs(&m, subject, OCI_MT_BUNDLE,
					     OCI_ARTIFACT_MAX)) {
			free(mraw);
			ukit_oci_manifest_free(&m);
			continue;
		}
		if (ukit_oci_local_read(l, &m.layers[0], &blob, e) < 0) {
			free(mraw);
			ukit_oci_manifest_free(&m);
			goto out;
		}
		ukit_oci_artifact_view(&a, &m, &ix.m[i], mraw, mlen, blob);
		k = fn(arg, &a, e);
		free(blob);
		free(mraw);
		ukit_oci_manifest_free(&m);
		if (k < 0)
			goto out;
		found = k > 0;
	}
	rc = found;
out:
	ukit_oci_index_free(&ix);
	free(raw);
	free(where);
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

static int try_bundle(void *arg, const struct ukit_oci_artifact *a,
		      struct fmt_err *e)
{
	struct vctx *v = arg;
	struct verify_policy pol = *v->p;
	const char *blob = a->blob;
	size_t len = a->blob_len;
	char path[64];
	int bfd, rc;

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

/* ---- carrying signatures from one place to another ------------------ */

static void sigset_add_skip(struct ukit_oci_sigset *s, json_t *why)
{
	if (s->skipped == NULL)
		s->skipped = json_array();
	json_array_append_new(s->skipped, why);
}

static int collect_one(void *arg, const struct ukit_oci_artifact *a,
		       struct fmt_err *e)
{
	struct ukit_oci_sigset *s = arg;
	struct ukit_oci_artifact *n, *c;
	char *blob, *man;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->a[i].manifest_desc.digest,
			   a->manifest_desc.digest) == 0)
			return 0;       /* listed twice */
	/* what ukit-sign and cosign write: the empty config, which attach
	 * pushes from OCI_EMPTY_JSON; anything else would need its config
	 * blob carried too */
	if (strcmp(a->config.digest, empty_digest) != 0 || a->config.size != 2) {
		sigset_add_skip(s, json_sprintf("%s: config %s is not the empty "
				"descriptor %s; not carried",
				a->manifest_desc.digest, a->config.digest,
				empty_digest));
		return 0;
	}
	if (s->n >= OCI_SIGS_MAX || a->blob_len > OCI_SIGS_BYTES_MAX - s->bytes) {
		/* 1 ends the walk: what a listing names past the limits is
		 * neither fetched nor read (up to OCI_INDEX_MAX manifests and
		 * their bundles otherwise, each read only to be left) */
		sigset_add_skip(s, json_sprintf("%s: past %d signatures or %u "
				"bytes of bundles; not carried, nor any "
				"listed after it", a->manifest_desc.digest,
				OCI_SIGS_MAX, OCI_SIGS_BYTES_MAX));
		return 1;
	}
	n = realloc(s->a, (s->n + 1) * sizeof *n);
	if (n == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	s->a = n;
	blob = malloc(a->blob_len ? a->blob_len : 1);
	man = malloc(a->manifest_len + 1);
	if (blob == NULL || man == NULL) {
		free(blob);
		free(man);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	memcpy(blob, a->blob, a->blob_len);
	memcpy(man, a->manifest, a->manifest_len);
	man[a->manifest_len] = 0;
	c = &s->a[s->n++];
	s->bytes += a->blob_len;
	*c = *a;
	c->blob = blob;
	c->manifest = man;
	/* the descriptors' annotations become the set's own references */
	json_incref(c->subject.annotations);
	json_incref(c->config.annotations);
	json_incref(c->layer.annotations);
	json_incref(c->manifest_desc.annotations);
	return 0;
}

int ukit_oci_sig_collect(const struct ukit_oci_ref *ref,
			 const struct ukit_oci_regopts *o,
			 const char *subject, struct ukit_oci_sigset *s,
			 struct fmt_err *e)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (ref->kind == OCI_REF_DOCKER)
		rc = ukit_oci_remote_referrers(ref, o, subject, OCI_MT_BUNDLE,
					       collect_one, s, e);
	else if (ref->kind == OCI_REF_DIR)
		rc = local_referrers(ref, subject, collect_one, s, e);
	else
		rc = 0;         /* oci-archive: files hold no signatures */
	if (rc < 0) {
		ukit_oci_sigset_free(s);
		return -1;
	}
	return 0;
}

int ukit_oci_sig_copy(const struct ukit_oci_sigset *s,
		      const struct ukit_oci_ref *dst,
		      const struct ukit_oci_regopts *o, struct fmt_err *e)
{
	struct ukit_oci_regopts ro;

	if (o != NULL) {
		/* a signature's blobs are its own, never mounted */
		ro = *o;
		ro.mount_from = NULL;
		o = &ro;
	}
	if (dst->kind != OCI_REF_DOCKER)
		return local_attach(dst, s->a, s->n, e);
	for (size_t i = 0; i < s->n; i++)
		if (ukit_oci_sig_attach(dst, o, &s->a[i], e) < 0)
			return -1;
	return 0;
}

int ukit_oci_sig_copy_check(const struct ukit_oci_sigset *s,
			    const struct ukit_oci_ref *dst, struct fmt_err *e)
{
	char *ix = NULL;

	if (dst->kind != OCI_REF_DIR || s->n == 0)
		return 0;
	if (local_sig_index(dst, s->a, s->n, &ix, e) < 0)
		return -1;
	free(ix);
	return 0;
}

void ukit_oci_sigset_free(struct ukit_oci_sigset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->a[i].blob);
		/* collect_one took references on all four descriptors */
		ukit_oci_desc_free(&s->a[i].config);
		ukit_oci_desc_free(&s->a[i].layer);
		ukit_oci_artifact_free(&s->a[i]);
	}
	free(s->a);
	json_decref(s->skipped);
	memset(s, 0, sizeof *s);
}
