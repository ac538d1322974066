/*
 * regblob.c: blobs over the registry client (see registry_int.h): uploads
 * (monolithic or chunked, or a cross-repository mount) streamed from a
 * local layout and hashed once in order, downloads streamed into a layout
 * being written and digest-checked there, small blobs fetched into memory
 * and checked.  Blob bytes and sizes from the registry are untrusted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "curldl.h"
#include "io.h"
#include "registry_int.h"

ssize_t ukit_oci_reg_up_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e)
{
	struct upsrc *u = ctx;
	ssize_t n;

	if (u->pos >= u->end)
		return 0;
	if (len > u->end - u->pos)
		len = (size_t)(u->end - u->pos);
	n = pread(u->fd, buf, len, (off_t)(u->base + u->pos));
	if (n < 0)
		return ukit_fmt_errno(e, u->pos, "blob %s: read", u->digest);
	if (n == 0)
		return ukit_fmt_errf(e, u->pos, "blob %s: shorter than its "
				"descriptor", u->digest);
	if (u->pos + (uint64_t)n > u->hashed) {
		uint64_t skip = u->hashed - u->pos;
		if (!EVP_DigestUpdate(u->md, (uint8_t *)buf + skip,
				      (size_t)((uint64_t)n - skip)))
			return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
		u->hashed = u->pos + (uint64_t)n;
	}
	u->pos += (uint64_t)n;
	return n;
}

int ukit_oci_reg_up_rewind(void *ctx, struct fmt_err *e)
{
	struct upsrc *u = ctx;

	(void)e;
	u->pos = u->start;
	return 0;
}

int ukit_oci_reg_up_check(struct upsrc *u, const char *what, struct fmt_err *e)
{
	uint8_t md[32];
	char got[OCI_DIGEST_LEN + 1];

	if (u->hashed != u->size)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: sent %" PRIu64 " of "
				"%" PRIu64 " bytes", what, u->digest, u->hashed,
				u->size);
	if (!EVP_DigestFinal_ex(u->md, md, NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	ukit_oci_digest_fmt(md, got);
	if (strcmp(got, u->digest) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: local blob %s has digest %s: "
				"the layout is corrupt", what, u->digest, got);
	return 0;
}

/* Resolve a Location against the registry base URL. */
static int location_url(struct reg *r, char *out, size_t cap,
			struct fmt_err *e)
{
	if (r->location[0] == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: HTTP %ld without a "
				"Location", r->ref->text, r->status);
	if (strncmp(r->location, "http://", 7) == 0 ||
	    strncmp(r->location, "https://", 8) == 0)
		snprintf(out, cap, "%s", r->location);
	else if (r->location[0] == '/') {
		if ((size_t)snprintf(out, cap, "%s%s", r->base, r->location) >= cap)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: Location too "
					"long", r->ref->text);
	}
	else
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: unusable Location "
				"\"%.100s\"", r->ref->text, r->location);
	return 0;
}

static int blob_exists(struct reg *r, const struct ukit_oci_desc *d,
		       struct fmt_err *e)
{
	struct xfer x;
	char what[120];

	memset(&x, 0, sizeof x);
	x.method = "HEAD";
	x.follow = true;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	if (ukit_oci_reg_perform(r, &x, e) < 0)
		return -1;
	if (r->status == 200)
		return 1;
	if (r->status == 404)
		return 0;
	snprintf(what, sizeof what, "HEAD blob %s", d->digest);
	return ukit_oci_reg_http_err(r, e, what);
}

static int push_blob_fd(struct reg *r, int fd, uint64_t off,
			const struct ukit_oci_desc *d, const char **action,
			struct fmt_err *e);

int ukit_oci_reg_push_blob(struct reg *r, struct ukit_oci_local *l,
			   const struct ukit_oci_desc *d, const char **action,
			   struct fmt_err *e)
{
	int fd, rc;
	uint64_t off;

	rc = blob_exists(r, d, e);
	if (rc != 0) {
		*action = "exists";
		return rc < 0 ? -1 : 0;
	}
	if (ukit_oci_local_blob(l, d->digest, d->size, &fd, &off, e) < 0)
		return -1;
	return push_blob_fd(r, fd, off, d, action, e);
}

static int push_blob_fd(struct reg *r, int fd, uint64_t off,
			const struct ukit_oci_desc *d, const char **action,
			struct fmt_err *e)
{
	struct upsrc u;
	struct xfer x;
	char loc[4096], what[120];
	int rc = -1;
	snprintf(what, sizeof what, "blob %s", d->digest);
	memset(&x, 0, sizeof x);
	x.method = "POST";
	if (r->o->mount_from != NULL)
		snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/uploads/?mount=%s"
			 "&from=%s", r->base, r->ref->repo, d->digest,
			 r->o->mount_from);
	else
		snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/uploads/",
			 r->base, r->ref->repo);
	if (ukit_oci_reg_perform(r, &x, e) < 0)
		return -1;
	if (r->status == 201 && r->o->mount_from != NULL) {
		*action = "mounted";
		return 0;
	}
	if (r->status != 202)
		return ukit_oci_reg_http_err(r, e, what);
	if (location_url(r, loc, sizeof loc, e) < 0)
		return -1;

	memset(&u, 0, sizeof u);
	u.fd = fd;
	u.base = off;
	u.size = d->size;
	u.digest = d->digest;
	u.md = EVP_MD_CTX_new();
	if (u.md == NULL || !EVP_DigestInit_ex(u.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(u.md);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	rc = -1;
	if (r->o->chunk_size > 0) {
		while (u.pos < u.size) {
			char range[80];
			u.start = u.pos;
			u.end = u.size - u.pos < r->o->chunk_size ? u.size :
				u.pos + r->o->chunk_size;
			memset(&x, 0, sizeof x);
			x.method = "PATCH";
			snprintf(x.url, sizeof x.url, "%s", loc);
			snprintf(range, sizeof range, "Content-Range: %" PRIu64
				 "-%" PRIu64, u.start, u.end - 1);
			x.hdrs = curl_slist_append(NULL, range);
			x.hdrs = curl_slist_append(x.hdrs, "Content-Type: "
						   "application/octet-stream");
			x.up = ukit_oci_reg_up_read;
			x.upctx = &u;
			x.upsize = u.end - u.start;
			x.has_body = true;
			x.rewind = ukit_oci_reg_up_rewind;
			x.rwctx = &u;
			if (ukit_oci_reg_perform(r, &x, e) < 0) {
				curl_slist_free_all(x.hdrs);
				goto out;
			}
			curl_slist_free_all(x.hdrs);
			if (r->status != 202) {
				ukit_oci_reg_http_err(r, e, what);
				goto out;
			}
			if (location_url(r, loc, sizeof loc, e) < 0)
				goto out;
		}
		if (ukit_oci_reg_up_check(&u, r->ref->text, e) < 0)
			goto out;
		memset(&x, 0, sizeof x);
		x.method = "PUT";
	} else {
		u.start = 0;
		u.end = u.size;
		memset(&x, 0, sizeof x);
		x.method = "PUT";
		x.up = ukit_oci_reg_up_read;
		x.upctx = &u;
		x.upsize = u.size;
		x.has_body = true;
		x.rewind = ukit_oci_reg_up_rewind;
		x.rwctx = &u;
		x.hdrs = curl_slist_append(NULL, "Content-Type: "
					   "application/octet-stream");
	}
	if ((size_t)snprintf(x.url, sizeof x.url, "%s%sdigest=%s", loc,
			     strchr(loc, '?') ? "&" : "?", d->digest) >=
	    sizeof x.url) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: upload: Location too long",
			 r->ref->text);
		curl_slist_free_all(x.hdrs);
		goto out;
	}
	if (ukit_oci_reg_perform(r, &x, e) < 0) {
		curl_slist_free_all(x.hdrs);
		goto out;
	}
	curl_slist_free_all(x.hdrs);
	if (r->o->chunk_size == 0 && ukit_oci_reg_up_check(&u, r->ref->text,
							   e) < 0)
		goto out;
	if (r->status != 201) {
		ukit_oci_reg_http_err(r, e, what);
		goto out;
	}
	if (r->dcd[0] && strcmp(r->dcd, d->digest) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: the registry stored digest %s",
			 r->ref->text, what, r->dcd);
		goto out;
	}
	*action = "uploaded";
	rc = 0;
out:
	EVP_MD_CTX_free(u.md);
	return rc;
}

struct downsink {
	struct ukit_oci_out *w;
	struct ukit_oci_blobw *b;
};

static int down_write(void *ctx, const void *buf, size_t len,
		      struct fmt_err *e)
{
	struct downsink *s = ctx;

	return ukit_oci_blobw_write(s->b, buf, len, e);
}

static int down_rewind(void *ctx, struct fmt_err *e)
{
	struct downsink *s = ctx;

	ukit_oci_out_blob_drop(s->b);
	s->b = NULL;
	return ukit_oci_out_blob_begin(s->w, &s->b, e);
}

int ukit_oci_reg_pull_blob(struct reg *r, struct ukit_oci_out *w,
			   const struct ukit_oci_desc *d, struct fmt_err *e)
{
	struct downsink s = { w, NULL };
	struct xfer x;
	char what[120];

	if (ukit_oci_out_blob_begin(w, &s.b, e) < 0)
		return -1;
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.follow = true;
	x.down = down_write;
	x.downctx = &s;
	x.downmax = d->size;
	x.exact = true;
	x.rewind = down_rewind;
	x.rwctx = &s;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	snprintf(what, sizeof what, "blob %s", d->digest);
	if (ukit_oci_reg_perform(r, &x, e) < 0) {
		ukit_oci_out_blob_drop(s.b);
		return -1;
	}
	if (r->status != 200) {
		ukit_oci_out_blob_drop(s.b);
		return ukit_oci_reg_http_err(r, e, what);
	}
	if (ukit_oci_out_blob_end(w, s.b, d->digest, d->size, NULL, NULL, e) < 0) {
		ukit_oci_err_prefix(e, r->ref->text);
		return -1;
	}
	return 0;
}

int ukit_oci_reg_mem_fd(const void *buf, size_t len, struct fmt_err *e)
{
	int fd = memfd_create("ukit-oci", MFD_CLOEXEC);

	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd_create");
	if (ukit_write_full(fd, buf, len) < 0) {
		close(fd);
		return ukit_fmt_errno(e, FMT_NOOFF, "memfd write");
	}
	return fd;
}

/* Push (buf, len) as blob (d) unless the registry has it. */
int ukit_oci_reg_push_mem(struct reg *r, const void *buf, size_t len,
			  const struct ukit_oci_desc *d, struct fmt_err *e)
{
	const char *action;
	int fd, rc = blob_exists(r, d, e);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	fd = ukit_oci_reg_mem_fd(buf, len, e);
	if (fd < 0)
		return -1;
	rc = push_blob_fd(r, fd, 0, d, &action, e);
	close(fd);
	return rc;
}

/* GET blob (d) (≤ max bytes) into memory, digest checked. */
int ukit_oci_reg_get_blob_mem(struct reg *r, const struct ukit_oci_desc *d,
			      size_t max, char **out, struct fmt_err *e)
{
	struct xfer x;
	char got[OCI_DIGEST_LEN + 1], what[120];

	if (d->size > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: %" PRIu64 " bytes, "
				"over the limit of %zu", r->ref->text, d->digest,
				d->size, max);
	memset(&x, 0, sizeof x);
	x.method = "GET";
	x.follow = true;
	x.bmax = (size_t)d->size;
	x.exact = true;
	snprintf(x.url, sizeof x.url, "%s/v2/%s/blobs/%s", r->base,
		 r->ref->repo, d->digest);
	snprintf(what, sizeof what, "blob %s", d->digest);
	if (ukit_oci_reg_perform(r, &x, e) < 0) {
		free(x.body);
		return -1;
	}
	if (r->status != 200) {
		free(x.body);
		return ukit_oci_reg_http_err(r, e, what);
	}
	if (x.body == NULL) {
		x.body = malloc(1);
		if (x.body == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		x.body[0] = 0;
	}
	if (ukit_oci_digest_buf(x.body, x.blen, got, e) < 0 ||
	    x.blen != d->size || strcmp(got, d->digest) != 0) {
		free(x.body);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s: the %zu bytes "
				"received have digest %s", r->ref->text,
				d->digest, x.blen, got);
	}
	*out = x.body;
	return 0;
}
