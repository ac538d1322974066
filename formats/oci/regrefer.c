/*
 * regrefer.c: artifacts that refer to an image (signatures): attach one
 * (the registry's referrers API, else the image-spec's fallback tag
 * index), list them and hand each blob of a type to the caller, and the
 * fallback index updated (see registry.h).  Indexes, manifests and blobs
 * from the registry are untrusted and digest-checked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "curldl.h"
#include "registry_int.h"
#include "sigjson.h"

void ukit_oci_artifact_view(struct ukit_oci_artifact *a,
			    const struct ukit_oci_manifest *m,
			    const struct ukit_oci_desc *listed,
			    const char *raw, size_t rlen, const char *blob)
{
	memset(a, 0, sizeof *a);
	a->subject = m->subject;
	a->config = m->config;
	a->layer = m->layers[0];
	a->blob = blob;
	a->blob_len = (size_t)m->layers[0].size;
	a->manifest = (char *)raw;
	a->manifest_len = rlen;
	/* the descriptor a referrers list gives: the manifest's own media
	 * type, artifactType and annotations (image-spec, referrers) */
	snprintf(a->manifest_desc.media_type, sizeof a->manifest_desc.media_type,
		 "%s", m->media_type[0] ? m->media_type : OCI_MT_MANIFEST);
	snprintf(a->manifest_desc.digest, sizeof a->manifest_desc.digest, "%s",
		 listed->digest);
	a->manifest_desc.size = rlen;
	snprintf(a->manifest_desc.artifact_type,
		 sizeof a->manifest_desc.artifact_type, "%s",
		 m->artifact_type[0] ? m->artifact_type : m->layers[0].media_type);
	a->manifest_desc.annotations = m->annotations;
}

int ukit_oci_remote_attach(const struct ukit_oci_ref *ref,
			   const struct ukit_oci_regopts *o,
			   const struct ukit_oci_artifact *a,
			   struct fmt_err *e)
{
	struct reg r;
	char *ix = NULL, *old = NULL, ctype[256], odig[OCI_DIGEST_LEN + 1],
	     tag[80], where[1200];
	size_t oldlen = 0;
	int rc = -1;

	if (ukit_oci_reg_open(&r, ref, o, "pull,push", e) < 0)
		goto out;
	if (ukit_oci_reg_push_mem(&r, OCI_EMPTY_JSON, 2, &a->config, e) < 0 ||
	    ukit_oci_reg_push_mem(&r, a->blob, a->blob_len, &a->layer, e) < 0 ||
	    ukit_oci_reg_put_manifest(&r, a->manifest_desc.digest,
				      OCI_MT_MANIFEST, a->manifest,
				      a->manifest_len, e) < 0)
		goto out;
	if (r.subject_hdr[0] &&
	    strcmp(r.subject_hdr, a->subject.digest) == 0) {
		rc = 0;         /* the registry keeps referrers itself */
		goto out;
	}
	/* no referrers API: the image-spec's fallback tag */
	snprintf(tag, sizeof tag, "sha256-%s", a->subject.digest + 7);
	if (ukit_oci_reg_get_manifest_opt(&r, tag, &old, &oldlen, ctype, odig,
					  e) < 0)
		goto out;
	snprintf(where, sizeof where, "%.500s/v2/%.500s/manifests/%s", r.base,
		 ref->repo, tag);
	if (ukit_oci_referrers_index_add(old, oldlen, where, &a->manifest_desc,
					 &ix, e) < 0)
		goto out;
	if (ukit_oci_reg_put_manifest(&r, tag, OCI_MT_INDEX, ix, strlen(ix),
				      e) < 0)
		goto out;
	rc = 0;
out:
	free(ix);
	free(old);
	ukit_oci_reg_free(&r);
	return rc;
}

int ukit_oci_remote_referrers(const struct ukit_oci_ref *ref,
			      const struct ukit_oci_regopts *o,
			      const char *subject, const char *artifact_type,
			      ukit_oci_referrer_fn fn, void *arg,
			      struct fmt_err *e)
{
	struct reg r;
	struct xfer x;
	struct ukit_oci_index ix;
	char *body = NULL, ctype[256], dg[OCI_DIGEST_LEN + 1], tag[80], *at,
	     where[4200];
	size_t len = 0;
	int rc = -1, found = 0;

	memset(&ix, 0, sizeof ix);
	if (ukit_oci_reg_open(&r, ref, o, "pull", e) < 0)
		goto out;
	at = ukit_oci_reg_urlenc(r.c, artifact_type);
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.bmax = OCI_JSON_MAX;
	x.hdrs = curl_slist_append(NULL, "Accept: " OCI_MT_INDEX);
	snprintf(x.url, sizeof x.url, "%s/v2/%s/referrers/%s?artifactType=%s",
		 r.base, ref->repo, subject, at ? at : "");
	free(at);
	rc = ukit_oci_reg_perform(&r, &x, e);
	curl_slist_free_all(x.hdrs);
	if (rc < 0) {
		free(x.body);
		goto out;
	}
	rc = -1;
	if (r.status == 200 && x.body != NULL) {
		body = x.body;
		len = x.blen;
		snprintf(where, sizeof where, "%.4000s", x.url);
	} else {
		free(x.body);
		snprintf(tag, sizeof tag, "sha256-%s", subject + 7);
		snprintf(where, sizeof where, "%.500s/v2/%.500s/manifests/%s",
			 r.base, ref->repo, tag);
		if (ukit_oci_reg_get_manifest_opt(&r, tag, &body, &len, ctype,
						  dg, e) < 0)
			goto out;
	}
	if (body == NULL) {
		rc = 0;
		goto out;
	}
	if (ukit_oci_index_parse(body, len, where, &ix, e) < 0)
		goto out;
	for (size_t i = 0; i < ix.n && found == 0; i++) {
		struct ukit_oci_artifact a;
		struct ukit_oci_manifest m;
		char *raw = NULL, *blob = NULL;
		size_t rlen;
		int k;

		if (ix.m[i].artifact_type[0] &&
		    strcmp(ix.m[i].artifact_type, artifact_type) != 0)
			continue;
		if (ukit_oci_index_listed_before(&ix, i) ||
		    !ukit_oci_desc_may_sign(&ix.m[i]))
			continue;
		if (ukit_oci_reg_get_manifest(&r, ix.m[i].digest,
					      ix.m[i].digest, &raw,
					      &rlen, ctype, dg, e) < 0)
			goto out;
		/* the digest matched, but a listing whose sizes lie is not
		 * one to build on (a layout would store the lie) */
		if (rlen != ix.m[i].size) {
			free(raw);
			ukit_fmt_errf(e, FMT_NOOFF, "%.150s: $.manifests[%zu]: "
				 "size %" PRIu64 " but %s is %zu bytes", where,
				 i, ix.m[i].size, ix.m[i].digest, rlen);
			goto out;
		}
		if (ukit_oci_manifest_parse(raw, rlen, ix.m[i].digest, &m,
					    e) < 0) {
			free(raw);
			goto out;
		}
		if (!ukit_oci_manifest_signs(&m, subject, artifact_type,
					     OCI_ARTIFACT_MAX)) {
			free(raw);
			ukit_oci_manifest_free(&m);
			continue;       /* not a signature of this image */
		}
		if (ukit_oci_reg_get_blob_mem(&r, &m.layers[0],
					      OCI_ARTIFACT_MAX, &blob, e) < 0) {
			free(raw);
			ukit_oci_manifest_free(&m);
			goto out;
		}
		ukit_oci_artifact_view(&a, &m, &ix.m[i], raw, rlen, blob);
		k = fn(arg, &a, e);
		free(blob);
		free(raw);
		ukit_oci_manifest_free(&m);
		if (k < 0)
			goto out;
		if (k > 0)
			found = 1;
	}
	rc = found;
out:
	ukit_oci_index_free(&ix);
	free(body);
	ukit_oci_reg_free(&r);
	return rc;
}

int ukit_oci_referrers_index_add(const char *old, size_t oldlen,
				 const char *where,
				 const struct ukit_oci_desc *d, char **out,
				 struct fmt_err *e)
{
	json_t *root, *ms, *v;
	size_t i;

	if (old != NULL) {
		struct ukit_oci_index ix;
		if (ukit_oci_index_parse(old, oldlen, where, &ix, e) < 0)
			return -1;
		ukit_oci_index_free(&ix);
		root = ukit_sigjson_load(old, oldlen, where, e);
		if (root == NULL)
			return -1;
	} else {
		root = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2,
				 "mediaType", OCI_MT_INDEX, "manifests");
		if (root == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	ms = json_object_get(root, "manifests");
	json_array_foreach(ms, i, v) {
		json_t *dg = json_object_get(v, "digest");
		if (json_is_string(dg) &&
		    strcmp(json_string_value(dg), d->digest) == 0)
			break;
	}
	if (i == json_array_size(ms))
		json_array_append_new(ms, ukit_oci_desc_json(d));
	*out = ukit_oci_json_dump(root);
	json_decref(root);
	return *out ? 0 : ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
}
