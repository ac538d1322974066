/*
 * regmanifest.c: manifests over the registry client (see registry_int.h):
 * GET by tag or digest, bounded, digested and checked against the digest
 * asked for and the Docker-Content-Digest header; PUT with its media type;
 * and ukit_oci_remote_manifest.  Manifest bytes are untrusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "curldl.h"
#include "registry_int.h"

static const char accept_hdr[] = "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX
	", " DOCKER_MT_MANIFEST ", " DOCKER_MT_LIST;

int ukit_oci_reg_get_manifest_opt(struct reg *r, const char *ref, char **body,
				  size_t *len, char ctype[256],
				  char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	struct fmt_err e2 = { .off = FMT_NOOFF };

	*body = NULL;
	if (ukit_oci_reg_get_manifest(r, ref, NULL, body, len, ctype, digest,
				      &e2) == 0)
		return 0;
	if (r->status == 404)
		return 0;
	if (e != NULL)
		*e = e2;
	return -1;
}

int ukit_oci_reg_get_manifest(struct reg *r, const char *ref, const char *want,
			      char **body, size_t *len, char ctype[256],
			      char digest[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	struct xfer x;
	char what[200];

	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.bmax = OCI_JSON_MAX;
	x.hdrs = curl_slist_append(NULL, accept_hdr);
	snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r->base,
		 r->ref->repo, ref);
	snprintf(what, sizeof what, "manifest %s", ref);
	if (ukit_oci_reg_perform(r, &x, e) < 0) {
		curl_slist_free_all(x.hdrs);
		free(x.body);
		return -1;
	}
	curl_slist_free_all(x.hdrs);
	if (r->status != 200) {
		free(x.body);
		return ukit_oci_reg_http_err(r, e, what);
	}
	if (x.body == NULL) {
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: empty response",
				r->ref->text, what);
	}
	if (ukit_oci_digest_buf(x.body, x.blen, digest, e) < 0) {
		free(x.body);
		return -1;
	}
	if (want != NULL && strcmp(want, digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: received a manifest with "
				"digest %s (HTTP %ld)", r->ref->text, what,
				digest, r->status);
	}
	if (r->dcd[0] && strcmp(r->dcd, digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: Docker-Content-Digest %s "
				"but the bytes have digest %s", r->ref->text,
				what, r->dcd, digest);
	}
	snprintf(ctype, 256, "%s", r->ctype);
	*body = x.body;
	*len = x.blen;
	return 0;
}

int ukit_oci_reg_put_manifest(struct reg *r, const char *ref, const char *mt,
			      const char *buf, size_t len, struct fmt_err *e)
{
	struct upsrc u;
	struct xfer x;
	char hdr[320], what[200];
	int fd, rc;

	fd = ukit_oci_reg_mem_fd(buf, len, e);
	if (fd < 0)
		return -1;
	memset(&u, 0, sizeof u);
	memset(&x, 0, sizeof x);
	u.fd = fd;
	u.size = u.end = len;
	u.digest = "manifest";
	u.md = EVP_MD_CTX_new();
	if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(u.md);
		close(fd);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	x.method = "PUT";
	snprintf(hdr, sizeof hdr, "Content-Type: %s", mt);
	x.hdrs = curl_slist_append(NULL, hdr);
	x.up = ukit_oci_reg_up_read;
	x.upctx = &u;
	x.upsize = len;
	x.has_body = true;
	x.rewind = ukit_oci_reg_up_rewind;
	x.rwctx = &u;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/manifests/%s", r->base,
		 r->ref->repo, ref);
	rc = ukit_oci_reg_perform(r, &x, e);
	curl_slist_free_all(x.hdrs);
	EVP_MD_CTX_free(u.md);
	close(fd);
	if (rc < 0)
		return -1;
	if (r->status != 201) {
		snprintf(what, sizeof what, "PUT manifest %s", ref);
		return ukit_oci_reg_http_err(r, e, what);
	}
	return 0;
}

int ukit_oci_remote_manifest(const struct ukit_oci_ref *ref,
			     const struct ukit_oci_regopts *o,
			     struct ukit_oci_desc *d, char **raw, size_t *len,
			     struct fmt_err *e)
{
	struct reg r;
	char ctype[256];
	int rc = -1, kind;

	memset(d, 0, sizeof *d);
	if (ukit_oci_reg_open(&r, ref, o, "pull", e) < 0)
		goto out;
	if (ukit_oci_reg_get_manifest(&r, ref->digest ? ref->digest : ref->tag,
				      ref->digest, raw, len, ctype, d->digest,
				      e) < 0)
		goto out;
	kind = ukit_oci_doc_kind(ctype, *raw, *len, e);
	if (kind < 0) {
		free(*raw);
		*raw = NULL;
		goto out;
	}
	snprintf(d->media_type, sizeof d->media_type, "%s",
		 kind == 2 ? OCI_MT_INDEX : OCI_MT_MANIFEST);
	if (ctype[0] && ukit_oci_media_type_valid(ctype))
		snprintf(d->media_type, sizeof d->media_type, "%s", ctype);
	d->size = *len;
	rc = 0;
out:
	ukit_oci_reg_free(&r);
	return rc;
}
