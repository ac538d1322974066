/*
 * ociout.c: writing an OCI image layout atomically (see ocilayout.h):
 * every blob staged in an unnamed (or hidden) temporary file while it is
 * hashed, made visible only at commit after every digest matched; then
 * index.json (or the whole archive) replaced, last.  A failure or a kill
 * leaves the old layout as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io.h"
#include "ocilayout.h"
#include "outfile.h"
#include "replace.h"
#include "sigjson.h"

#define LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

struct ukit_oci_blobw {
	int       fd;
	char     *tmp;          /* named temporary, or NULL (O_TMPFILE) */
	EVP_MD_CTX *md;
	uint64_t  size;
	uint64_t  queued;       /* bytes handed to writeback */
	char      digest[OCI_DIGEST_LEN + 1];
	struct ukit_oci_blobw *next;    /* staged list */
};

struct ukit_oci_out {
	enum ukit_oci_ref_kind kind;
	char    *path;
	char    *blobdir;       /* where temporaries live */
	int64_t  mtime;
	struct ukit_oci_blobw *staged;
};

static int mkdir_p(const char *path, struct fmt_err *e)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: bad path", path);
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot create", buf);
		buf[i] = i < n ? '/' : 0;
	}
	return 0;
}

int ukit_oci_out_open(const struct ukit_oci_ref *r, int64_t mtime,
		      struct ukit_oci_out **out, struct fmt_err *e)
{
	struct ukit_oci_out *w;
	size_t n;

	if (r->kind != OCI_REF_DIR && r->kind != OCI_REF_ARCHIVE)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an oci: or oci-archive: "
				"reference", r->text);
	w = calloc(1, sizeof *w);
	if (w == NULL || (w->path = strdup(r->path)) == NULL)
		goto oom;
	w->kind = r->kind;
	w->mtime = mtime;
	n = strlen(r->path) + 16;
	w->blobdir = malloc(n);
	if (w->blobdir == NULL)
		goto oom;
	if (r->kind == OCI_REF_DIR) {
		snprintf(w->blobdir, n, "%s/blobs/sha256", r->path);
		if (mkdir_p(w->blobdir, e) < 0) {
			ukit_oci_out_abort(w);
			return -1;
		}
	} else {
		const char *sl = strrchr(r->path, '/');
		if (sl == NULL)
			snprintf(w->blobdir, n, ".");
		else if (sl == r->path)
			snprintf(w->blobdir, n, "/");
		else
			snprintf(w->blobdir, n, "%.*s", (int)(sl - r->path),
				 r->path);
	}
	*out = w;
	return 0;
oom:
	ukit_oci_out_abort(w);
	return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
}

static void blobw_free(struct ukit_oci_blobw *b)
{
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	if (b->tmp != NULL)
		unlink(b->tmp);
	free(b->tmp);
	EVP_MD_CTX_free(b->md);
	free(b);
}

int ukit_oci_out_blob_begin(struct ukit_oci_out *w, struct ukit_oci_blobw **out,
			    struct fmt_err *e)
{
	struct ukit_oci_blobw *b = calloc(1, sizeof *b);

	if (b == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	b->fd = open(w->blobdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (b->fd < 0) {
		size_t n = strlen(w->blobdir) + 32;
		b->tmp = malloc(n);
		if (b->tmp == NULL) {
			free(b);
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		}
		snprintf(b->tmp, n, "%s/.ukit-blob-XXXXXX", w->blobdir);
		b->fd = mkostemp(b->tmp, O_CLOEXEC);
		if (b->fd < 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot create a temporary "
				  "file", w->blobdir);
			free(b->tmp);
			free(b);
			return -1;
		}
		(void)fchmod(b->fd, 0644);
		if (w->kind == OCI_REF_ARCHIVE) {
			/* only the descriptor is needed */
			unlink(b->tmp);
			free(b->tmp);
			b->tmp = NULL;
		}
	}
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL)) {
		blobw_free(b);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	*out = b;
	return 0;
}

int ukit_oci_blobw_write(void *ctx, const void *buf, size_t len,
			 struct fmt_err *e)
{
	struct ukit_oci_blobw *b = ctx;

	if (!EVP_DigestUpdate(b->md, buf, len))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	if (ukit_write_full(b->fd, buf, len) < 0)
		return ukit_fmt_errno(e, b->size, "write blob");
	b->size += len;
	/* start writeback as data arrives, so that the fsync at commit
	 * does not write the whole blob at once */
	if (b->size - b->queued >= OCI_WRITEBACK) {
		(void)sync_file_range(b->fd, (off_t)b->queued,
				      (off_t)(b->size - b->queued),
				      SYNC_FILE_RANGE_WRITE);
		b->queued = b->size;
	}
	return 0;
}

int ukit_oci_out_blob_end(struct ukit_oci_out *w, struct ukit_oci_blobw *b,
			  const char *want, uint64_t want_size,
			  char digest_out[OCI_DIGEST_LEN + 1],
			  uint64_t *size_out, struct fmt_err *e)
{
	uint8_t md[32];

	if (!EVP_DigestFinal_ex(b->md, md, NULL)) {
		blobw_free(b);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	ukit_oci_digest_fmt(md, b->digest);
	if (want != NULL && (strcmp(want, b->digest) != 0 ||
			     b->size != want_size)) {
		ukit_fmt_errf(e, FMT_NOOFF, "blob %s: the %" PRIu64 " bytes "
			 "received have digest %s (want %" PRIu64 " bytes "
			 "with the blob's digest)", want, b->size, b->digest,
			 want_size);
		blobw_free(b);
		return -1;
	}
	if (digest_out != NULL)
		strcpy(digest_out, b->digest);
	if (size_out != NULL)
		*size_out = b->size;
	for (struct ukit_oci_blobw *s = w->staged; s; s = s->next)
		if (strcmp(s->digest, b->digest) == 0) {
			blobw_free(b);  /* already staged */
			return 0;
		}
	b->next = w->staged;
	w->staged = b;
	return 0;
}

void ukit_oci_out_blob_drop(struct ukit_oci_blobw *b)
{
	blobw_free(b);
}

int ukit_oci_out_blob_bytes(struct ukit_oci_out *w, const void *buf,
			    size_t len, char digest_out[OCI_DIGEST_LEN + 1],
			    struct fmt_err *e)
{
	struct ukit_oci_blobw *b;

	if (ukit_oci_out_blob_begin(w, &b, e) < 0)
		return -1;
	if (ukit_oci_blobw_write(b, buf, len, e) < 0) {
		blobw_free(b);
		return -1;
	}
	return ukit_oci_out_blob_end(w, b, NULL, 0, digest_out, NULL, e);
}

void ukit_oci_out_abort(struct ukit_oci_out *w)
{
	if (w == NULL)
		return;
	while (w->staged) {
		struct ukit_oci_blobw *n = w->staged->next;
		blobw_free(w->staged);
		w->staged = n;
	}
	free(w->blobdir);
	free(w->path);
	free(w);
}

/* The new index.json: the old one's entries minus those tagged (tag)
 * (or, untagged, with the same digest), plus (m). */
static char *index_json(const char *old, size_t oldlen,
			const struct ukit_oci_desc *m, const char *tag,
			struct fmt_err *e)
{
	json_t *root = NULL, *ms, *d, *keep;
	struct ukit_oci_desc nd;
	char *s;
	size_t i;

	if (old != NULL) {
		struct ukit_oci_index ix;
		/* validate first: never build on an index we cannot read */
		if (ukit_oci_index_parse(old, oldlen, "index.json", &ix, e) < 0)
			return NULL;
		ukit_oci_index_free(&ix);
		root = ukit_sigjson_load(old, oldlen, "index.json", e);
		if (root == NULL)
			return NULL;
	} else {
		root = json_object();
		json_object_set_new(root, "schemaVersion", json_integer(2));
		json_object_set_new(root, "manifests", json_array());
	}
	json_object_set_new(root, "mediaType", json_string(OCI_MT_INDEX));
	ms = json_object_get(root, "manifests");
	keep = json_array();
	json_array_foreach(ms, i, d) {
		json_t *a = json_object_get(d, "annotations");
		json_t *n = a ? json_object_get(a, OCI_ANN_REF_NAME) : NULL;
		json_t *dg = json_object_get(d, "digest");
		bool drop = tag != NULL ?
			(json_is_string(n) && strcmp(json_string_value(n), tag) == 0) :
			(n == NULL && json_is_string(dg) &&
			 strcmp(json_string_value(dg), m->digest) == 0);
		if (!drop)
			json_array_append(keep, d);
	}
	nd = *m;
	nd.annotations = NULL;
	d = ukit_oci_desc_json(&nd);
	if (tag != NULL) {
		json_t *a = json_object();
		json_object_set_new(a, OCI_ANN_REF_NAME, json_string(tag));
		json_object_set_new(d, "annotations", a);
	}
	json_array_append_new(keep, d);
	json_object_set_new(root, "manifests", keep);
	s = ukit_oci_json_dump(root);
	json_decref(root);
	if (s == NULL)
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	return s;
}

static int write_small(const char *path, const char *data, struct fmt_err *e)
{
	struct outfile o;

	if (ukit_outfile_open(&o, path, 0644, e) < 0)
		return -1;
	if (ukit_outfile_write(&o, data, strlen(data), e) < 0) {
		ukit_outfile_abort(&o);
		return -1;
	}
	return ukit_outfile_commit(&o, e);
}

static int commit_dir(struct ukit_oci_out *w, const struct ukit_oci_desc *m,
		      const char *tag, struct fmt_err *e)
{
	char path[PATH_MAX], *old = NULL, *idx;
	size_t oldlen = 0;
	int dfd, rc;

	for (struct ukit_oci_blobw *b = w->staged; b; b = b->next) {
		snprintf(path, sizeof path, "%s/%s", w->blobdir, b->digest + 7);
		if (fsync(b->fd) < 0)
			return ukit_fmt_errno(e, FMT_NOOFF, "%s: fsync", path);
		if (b->tmp == NULL) {
			char proc[64];
			snprintf(proc, sizeof proc, "/proc/self/fd/%d", b->fd);
			if (linkat(AT_FDCWD, proc, AT_FDCWD, path,
				   AT_SYMLINK_FOLLOW) < 0) {
				char *tmp = NULL;

				if (errno != EEXIST)
					return ukit_fmt_errno(e, FMT_NOOFF, "%s: "
							 "cannot create", path);
				/* something is there by that name: a symlink
				 * (to anywhere), a truncated or changed file;
				 * the bytes staged are the ones the digest
				 * names, so they replace it (rename replaces
				 * a link, never what it points to) */
				if (ukit_replace_link(b->fd, path, &tmp) != 0 ||
				    rename(tmp, path) < 0) {
					ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot "
						  "replace", path);
					if (tmp != NULL)
						unlink(tmp);
					free(tmp);
					return -1;
				}
				free(tmp);
			}
		} else {
			if (rename(b->tmp, path) < 0)
				return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot "
						 "create", path);
			free(b->tmp);
			b->tmp = NULL;
		}
	}
	dfd = open(w->blobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	snprintf(path, sizeof path, "%s/oci-layout", w->path);
	if (access(path, F_OK) != 0 && write_small(path, LAYOUT_JSON, e) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/index.json", w->path);
	if (access(path, F_OK) == 0 &&
	    ukit_read_small(path, OCI_JSON_MAX, &old, &oldlen, e) < 0)
		return -1;
	idx = index_json(old, oldlen, m, tag, e);
	free(old);
	if (idx == NULL)
		return -1;
	rc = write_small(path, idx, e);
	free(idx);
	return rc;
}

static int outfile_sink(void *ctx, const void *buf, size_t len,
			struct fmt_err *e)
{
	return ukit_outfile_write(ctx, buf, len, e);
}

static int cmp_blob(const void *a, const void *b)
{
	return strcmp((*(struct ukit_oci_blobw *const *)a)->digest,
		      (*(struct ukit_oci_blobw *const *)b)->digest);
}

static int commit_archive(struct ukit_oci_out *w, const struct ukit_oci_desc *m,
			  const char *tag, struct fmt_err *e)
{
	struct outfile o;
	struct ukit_oci_sink s = { outfile_sink, &o };
	struct ukit_oci_blobw **v;
	size_t n = 0, i;
	char *idx, name[96];
	uint8_t buf[65536];
	int rc = -1;

	for (struct ukit_oci_blobw *b = w->staged; b; b = b->next)
		n++;
	v = calloc(n + 1, sizeof *v);
	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	i = 0;
	for (struct ukit_oci_blobw *b = w->staged; b; b = b->next)
		v[i++] = b;
	qsort(v, n, sizeof *v, cmp_blob);
	idx = index_json(NULL, 0, m, tag, e);
	if (idx == NULL) {
		free(v);
		return -1;
	}
	if (ukit_outfile_open(&o, w->path, 0644, e) < 0)
		goto out;
	if (ukit_ocitar_header(&s, "blobs", true, 0755, 0, w->mtime, e) < 0 ||
	    ukit_ocitar_header(&s, "blobs/sha256", true, 0755, 0, w->mtime, e) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		uint64_t off = 0;
		snprintf(name, sizeof name, "blobs/sha256/%s", v[i]->digest + 7);
		if (ukit_ocitar_header(&s, name, false, 0644, v[i]->size,
				       w->mtime, e) < 0)
			goto fail;
		while (off < v[i]->size) {
			size_t k = v[i]->size - off < sizeof buf ?
				   (size_t)(v[i]->size - off) : sizeof buf;
			ssize_t got = ukit_pread_full(v[i]->fd, buf, k, (off_t)off);
			if (got != (ssize_t)k) {
				ukit_fmt_errno(e, off, "blob %s: read back",
					  v[i]->digest);
				goto fail;
			}
			if (ukit_outfile_write(&o, buf, k, e) < 0)
				goto fail;
			off += k;
		}
		if (ukit_ocitar_pad(&s, v[i]->size, e) < 0)
			goto fail;
	}
	if (ukit_ocitar_header(&s, "index.json", false, 0644, strlen(idx),
			       w->mtime, e) < 0 ||
	    ukit_outfile_write(&o, idx, strlen(idx), e) < 0 ||
	    ukit_ocitar_pad(&s, strlen(idx), e) < 0 ||
	    ukit_ocitar_header(&s, "oci-layout", false, 0644,
			       strlen(LAYOUT_JSON), w->mtime, e) < 0 ||
	    ukit_outfile_write(&o, LAYOUT_JSON, strlen(LAYOUT_JSON), e) < 0 ||
	    ukit_ocitar_pad(&s, strlen(LAYOUT_JSON), e) < 0 ||
	    ukit_ocitar_end(&s, e) < 0)
		goto fail;
	rc = ukit_outfile_commit(&o, e);
	goto out;
fail:
	ukit_outfile_abort(&o);
out:
	free(idx);
	free(v);
	return rc;
}

int ukit_oci_out_commit(struct ukit_oci_out *w,
			const struct ukit_oci_desc *manifest, const char *tag,
			struct fmt_err *e)
{
	int rc = w->kind == OCI_REF_DIR ? commit_dir(w, manifest, tag, e) :
		 commit_archive(w, manifest, tag, e);

	ukit_oci_out_abort(w);
	return rc;
}
