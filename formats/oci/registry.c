/*
 * registry.c: image copies over the registry client (see registry.h):
 * push a local layout's image, pull an image (an index resolved to this
 * machine's architecture) into a layout, and read a remote image's
 * manifest and config.  The client itself is regxfer.c's; everything a
 * registry sends is untrusted and checked before anything is committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "curldl.h"
#include "registry_int.h"

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "";
#endif
}

static void report_blob(json_t *rep, const struct ukit_oci_desc *d,
			const char *action)
{
	json_t *a;

	if (rep == NULL)
		return;
	a = json_object_get(rep, "blobs");
	if (a == NULL) {
		a = json_array();
		json_object_set_new(rep, "blobs", a);
	}
	json_array_append_new(a, json_pack("{s:s,s:I,s:s}", "digest",
			      d->digest, "size", (json_int_t)d->size, "action",
			      action));
}

int ukit_oci_push(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o, json_t *report,
		  struct fmt_err *e)
{
	struct ukit_oci_local *l = NULL;
	struct ukit_oci_desc md;
	struct ukit_oci_manifest m;
	struct reg r;
	struct xfer x;
	char *raw = NULL, hdr[320], what[120];
	const char *action, *mt;
	int kind, rc = -1;

	memset(&m, 0, sizeof m);
	memset(&md, 0, sizeof md);
	memset(&r, 0, sizeof r);
	if (ukit_oci_local_open(src, &l, e) < 0 ||
	    ukit_oci_local_resolve(l, src, &md, e) < 0 ||
	    ukit_oci_local_read(l, &md, &raw, e) < 0)
		goto out;
	kind = ukit_oci_doc_kind(md.media_type, raw, strlen(raw), e);
	if (kind < 0)
		goto out;
	if (kind != 1) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s is an image index; push one "
			 "image", src->text, md.digest);
		goto out;
	}
	if (ukit_oci_manifest_parse(raw, strlen(raw), md.digest, &m, e) < 0)
		goto out;
	if (ukit_oci_reg_open(&r, dst, o, "pull,push", e) < 0)
		goto out;
	/* config first: a push killed during a layer leaves it, and the
	 * next push skips it */
	if (ukit_oci_reg_push_blob(&r, l, &m.config, &action, e) < 0)
		goto out;
	report_blob(report, &m.config, action);
	for (size_t i = 0; i < m.nlayers; i++) {
		if (ukit_oci_reg_push_blob(&r, l, &m.layers[i], &action, e) < 0)
			goto out;
		report_blob(report, &m.layers[i], action);
	}
	mt = m.media_type[0] ? m.media_type : md.media_type;
	memset(&x, 0, sizeof x);
	x.method = "PUT";
	snprintf(hdr, sizeof hdr, "Content-Type: %s", mt);
	x.hdrs = curl_slist_append(NULL, hdr);
	{
		struct ukit_oci_blobrd br;
		int fd;
		uint64_t off;
		if (ukit_oci_local_blob(l, md.digest, md.size, &fd, &off, e) < 0) {
			curl_slist_free_all(x.hdrs);
			goto out;
		}
		struct upsrc u = { .fd = fd, .base = off, .size = md.size,
				   .end = md.size, .digest = md.digest };
		(void)br;
		u.md = EVP_MD_CTX_new();
		if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(u.md);
			curl_slist_free_all(x.hdrs);
			ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
			goto out;
		}
		x.up = ukit_oci_reg_up_read;
		x.upctx = &u;
		x.upsize = md.size;
		x.has_body = true;
		x.rewind = ukit_oci_reg_up_rewind;
		x.rwctx = &u;
		snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r.base,
			 dst->repo, dst->digest ? dst->digest : dst->tag);
		rc = ukit_oci_reg_perform(&r, &x, e);
		EVP_MD_CTX_free(u.md);
		curl_slist_free_all(x.hdrs);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	snprintf(what, sizeof what, "PUT manifest %s", md.digest);
	if (r.status != 201) {
		ukit_oci_reg_http_err(&r, e, what);
		goto out;
	}
	if (r.dcd[0] && strcmp(r.dcd, md.digest) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: the registry stored digest %s",
			 dst->text, what, r.dcd);
		goto out;
	}
	if (report != NULL) {
		json_object_set_new(report, "reference", json_string(dst->text));
		json_object_set_new(report, "digest", json_string(md.digest));
	}
	rc = 0;
out:
	ukit_oci_reg_free(&r);
	ukit_oci_manifest_free(&m);
	ukit_oci_desc_free(&md);
	free(raw);
	ukit_oci_local_close(l);
	return rc;
}

/* The image manifest (src) names: an index is resolved to the linux
 * image of this machine's architecture.  (*body) malloc'd, verified. */
static int resolve_image(struct reg *r, const struct ukit_oci_ref *src,
			 char **bodyp, size_t *lenp,
			 char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	char *body = NULL, ctype[256];
	size_t len;
	int kind;

	if (ukit_oci_reg_get_manifest(r, src->digest ? src->digest : src->tag,
				      src->digest, &body, &len, ctype, digest,
				      e) < 0)
		goto fail;
	kind = ukit_oci_doc_kind(ctype, body, len, e);
	if (kind < 0) {
		char tmp[FMT_ERR_MSG];
		snprintf(tmp, sizeof tmp, "%.150s: manifest %s", src->text,
			 digest);
		ukit_oci_err_prefix(e, tmp);
		goto fail;
	}
	if (kind == 2) {
		struct ukit_oci_index ix;
		const struct ukit_oci_desc *pick = NULL;
		char want[OCI_DIGEST_LEN + 1];
		if (ukit_oci_index_parse(body, len, digest, &ix, e) < 0)
			goto fail;
		for (size_t i = 0; i < ix.n && pick == NULL; i++)
			if (strcmp(ix.m[i].platform_arch, host_arch()) == 0 &&
			    (ix.m[i].platform_os[0] == 0 ||
			     strcmp(ix.m[i].platform_os, "linux") == 0))
				pick = &ix.m[i];
		if (pick == NULL && ix.n == 1)
			pick = &ix.m[0];
		if (pick == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: index %s has no image for "
				 "linux/%s", src->text, digest, host_arch());
			ukit_oci_index_free(&ix);
			goto fail;
		}
		snprintf(want, sizeof want, "%s", pick->digest);
		ukit_oci_index_free(&ix);
		free(body);
		body = NULL;
		if (ukit_oci_reg_get_manifest(r, want, want, &body, &len, ctype,
					      digest, e) < 0)
			goto fail;
		if (ukit_oci_doc_kind(ctype, body, len, e) != 1) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: not an image manifest",
				 src->text, want);
			goto fail;
		}
	}
	*bodyp = body;
	*lenp = len;
	return 0;
fail:
	free(body);
	return -1;
}

int ukit_oci_remote_image(const struct ukit_oci_ref *ref,
			  const struct ukit_oci_regopts *o,
			  struct ukit_oci_desc *d, char **raw, size_t *len,
			  char **config, struct fmt_err *e)
{
	struct reg r;
	struct ukit_oci_manifest m;
	int rc = -1;

	memset(&m, 0, sizeof m);
	memset(d, 0, sizeof *d);
	*raw = *config = NULL;
	if (ukit_oci_reg_open(&r, ref, o, "pull", e) < 0 ||
	    resolve_image(&r, ref, raw, len, d->digest, e) < 0 ||
	    ukit_oci_manifest_parse(*raw, *len, d->digest, &m, e) < 0 ||
	    ukit_oci_reg_get_blob_mem(&r, &m.config, OCI_JSON_MAX, config,
				      e) < 0)
		goto out;
	snprintf(d->media_type, sizeof d->media_type, "%s",
		 m.media_type[0] ? m.media_type : OCI_MT_MANIFEST);
	d->size = *len;
	rc = 0;
out:
	if (rc < 0) {
		free(*raw);
		*raw = NULL;
	}
	ukit_oci_manifest_free(&m);
	ukit_oci_reg_free(&r);
	return rc;
}

int ukit_oci_pull(const struct ukit_oci_ref *src, const struct ukit_oci_ref *dst,
		  const struct ukit_oci_regopts *o,
		  char digest_out[OCI_DIGEST_LEN + 1],
		  ukit_oci_precommit_fn check, void *check_arg,
		  struct fmt_err *e)
{
	struct reg r;
	struct ukit_oci_manifest m;
	struct ukit_oci_out *w = NULL;
	struct ukit_oci_desc md;
	char *body = NULL, digest[OCI_DIGEST_LEN + 1],
	     staged[OCI_DIGEST_LEN + 1];
	size_t len;
	int rc = -1;

	memset(&m, 0, sizeof m);
	memset(&md, 0, sizeof md);
	if (ukit_oci_reg_open(&r, src, o, "pull", e) < 0)
		goto out;
	if (resolve_image(&r, src, &body, &len, digest, e) < 0)
		goto out;
	if (ukit_oci_manifest_parse(body, len, digest, &m, e) < 0)
		goto out;
	if (ukit_oci_out_open(dst, 0, &w, e) < 0)
		goto out;
	if (ukit_oci_out_blob_bytes(w, body, len, staged, e) < 0)
		goto out;
	if (ukit_oci_reg_pull_blob(&r, w, &m.config, e) < 0)
		goto out;
	for (size_t i = 0; i < m.nlayers; i++)
		if (ukit_oci_reg_pull_blob(&r, w, &m.layers[i], e) < 0)
			goto out;
	snprintf(md.media_type, sizeof md.media_type, "%s",
		 m.media_type[0] ? m.media_type : OCI_MT_MANIFEST);
	snprintf(md.digest, sizeof md.digest, "%s", digest);
	md.size = len;
	/* everything is staged and its digests matched: last, the caller's
	 * check (the signature), then the commit */
	ukit_oci_reg_free(&r);
	if (check != NULL && check(check_arg, &md, body, len, e) < 0)
		goto out;
	rc = ukit_oci_out_commit(w, &md, dst->tag ? dst->tag : src->tag, e);
	w = NULL;
	if (rc == 0 && digest_out != NULL)
		strcpy(digest_out, digest);
out:
	ukit_oci_out_abort(w);
	ukit_oci_reg_free(&r);
	ukit_oci_manifest_free(&m);
	free(body);
	return rc;
}
