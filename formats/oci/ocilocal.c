/*
 * ocilocal.c: reading an OCI image layout, a directory or a tar archive
 * of one (see ocilayout.h): oci-layout and index.json checked, a tag or
 * digest resolved, blobs found and read through the verifying reader.
 * Layout contents are untrusted.
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

#include "io.h"
#include "ocilayout.h"
#include "sigjson.h"

struct arc_entry {
	char     name[80];      /* "index.json", "blobs/sha256/<hex>" */
	uint64_t off, size;
};

struct ukit_oci_local {
	enum ukit_oci_ref_kind kind;
	char *path;
	int   fd;               /* archive, or the last blob opened (dir) */
	struct arc_entry *ents;
	size_t nents;
	struct ukit_oci_index ix;
};

static ssize_t fd_read(void *ctx, void *buf, size_t len, struct fmt_err *e)
{
	int fd = *(int *)ctx;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "read");
	return n;
}

static int check_layout_json(const char *buf, size_t len, const char *what,
			     struct fmt_err *e)
{
	json_t *j = ukit_sigjson_load(buf, len, what, e);
	const char *v;
	int rc;

	if (j == NULL)
		return -1;
	rc = ukit_sigjson_str(j, "$", "imageLayoutVersion", 32, &v, e);
	if (rc == 0 && strcmp(v, "1.0.0") != 0)
		rc = ukit_fmt_errf(e, FMT_NOOFF, "$.imageLayoutVersion: \"%s\", "
			      "not 1.0.0", v);
	if (rc < 0)
		ukit_oci_err_prefix(e, what);
	json_decref(j);
	return rc;
}

static const struct arc_entry *arc_find(const struct ukit_oci_local *l,
					const char *name)
{
	for (size_t i = 0; i < l->nents; i++)
		if (strcmp(l->ents[i].name, name) == 0)
			return &l->ents[i];
	return NULL;
}

static int arc_small(struct ukit_oci_local *l, const char *name, size_t max,
		     char **out, size_t *len, struct fmt_err *e)
{
	const struct arc_entry *a = arc_find(l, name);
	char *buf;

	if (a == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: archive has no %s", l->path,
				name);
	if (a->size > max)
		return ukit_fmt_errf(e, a->off, "%s: %s is %" PRIu64 " bytes, over "
				"the limit of %zu", l->path, name, a->size, max);
	buf = malloc((size_t)a->size + 1);
	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (ukit_pread_full(l->fd, buf, (size_t)a->size, (off_t)a->off) !=
	    (ssize_t)a->size) {
		free(buf);
		return ukit_fmt_errf(e, a->off, "%s: short read of %s", l->path, name);
	}
	buf[a->size] = 0;
	*out = buf;
	*len = (size_t)a->size;
	return 0;
}

static int scan_archive(struct ukit_oci_local *l, struct fmt_err *e)
{
	struct ukit_oci_source src = { fd_read, &l->fd };
	struct ukit_ocitar_rd rd;
	struct ukit_ocitar_entry ent;
	size_t cap = 0;
	int rc;

	ukit_ocitar_rd_init(&rd, &src, l->path);
	while ((rc = ukit_ocitar_next(&rd, &ent, e)) == 1) {
		if (ent.type != OCITAR_FILE)
			continue;
		if (strlen(ent.name) >= sizeof l->ents[0].name)
			continue;       /* not a name a layout uses */
		if (l->nents >= OCI_ARCHIVE_ENTRIES_MAX)
			return ukit_fmt_errf(e, ent.data_off, "%s: more than %d "
					"entries", l->path,
					OCI_ARCHIVE_ENTRIES_MAX);
		if (l->nents == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct arc_entry *n = realloc(l->ents, nc * sizeof *n);
			if (n == NULL)
				return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			l->ents = n;
			cap = nc;
		}
		if (arc_find(l, ent.name) != NULL)
			return ukit_fmt_errf(e, ent.data_off, "%s: \"%s\" appears "
					"twice in the archive", l->path,
					ent.name);
		snprintf(l->ents[l->nents].name, sizeof l->ents[0].name, "%s",
			 ent.name);
		l->ents[l->nents].off = ent.data_off;
		l->ents[l->nents].size = ent.size;
		l->nents++;
	}
	return rc;
}

int ukit_oci_local_open(const struct ukit_oci_ref *r,
			struct ukit_oci_local **out, struct fmt_err *e)
{
	struct ukit_oci_local *l;
	char *buf = NULL, what[PATH_MAX + 32];
	size_t len;

	if (r->kind != OCI_REF_DIR && r->kind != OCI_REF_ARCHIVE)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an oci: or oci-archive: "
				"reference", r->text);
	l = calloc(1, sizeof *l);
	if (l == NULL || (l->path = strdup(r->path)) == NULL) {
		free(l);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	l->kind = r->kind;
	l->fd = -1;
	if (r->kind == OCI_REF_DIR) {
		snprintf(what, sizeof what, "%s/oci-layout", r->path);
		if (ukit_read_small(what, 4096, &buf, &len, e) < 0 ||
		    check_layout_json(buf, len, what, e) < 0)
			goto fail;
		free(buf);
		buf = NULL;
		snprintf(what, sizeof what, "%s/index.json", r->path);
		if (ukit_read_small(what, OCI_JSON_MAX, &buf, &len, e) < 0)
			goto fail;
	} else {
		struct stat st;
		l->fd = open(r->path, O_RDONLY | O_CLOEXEC);
		if (l->fd < 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot open", r->path);
			goto fail;
		}
		if (fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file", r->path);
			goto fail;
		}
		if (scan_archive(l, e) < 0)
			goto fail;
		snprintf(what, sizeof what, "%s:oci-layout", r->path);
		if (arc_small(l, "oci-layout", 4096, &buf, &len, e) < 0 ||
		    check_layout_json(buf, len, what, e) < 0)
			goto fail;
		free(buf);
		buf = NULL;
		snprintf(what, sizeof what, "%s:index.json", r->path);
		if (arc_small(l, "index.json", OCI_JSON_MAX, &buf, &len, e) < 0)
			goto fail;
	}
	if (ukit_oci_index_parse(buf, len, what, &l->ix, e) < 0)
		goto fail;
	free(buf);
	*out = l;
	return 0;
fail:
	free(buf);
	ukit_oci_local_close(l);
	return -1;
}

void ukit_oci_local_close(struct ukit_oci_local *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	ukit_oci_index_free(&l->ix);
	free(l->ents);
	free(l->path);
	free(l);
}

const struct ukit_oci_index *ukit_oci_local_index(const struct ukit_oci_local *l)
{
	return &l->ix;
}

static const char *ref_name(const struct ukit_oci_desc *d)
{
	json_t *v = d->annotations ? json_object_get(d->annotations,
						     OCI_ANN_REF_NAME) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int ukit_oci_local_resolve(const struct ukit_oci_local *l,
			   const struct ukit_oci_ref *r,
			   struct ukit_oci_desc *d, struct fmt_err *e)
{
	const struct ukit_oci_desc *hit = NULL;

	for (size_t i = 0; i < l->ix.n; i++) {
		const struct ukit_oci_desc *m = &l->ix.m[i];
		const char *n = ref_name(m);
		if (r->digest != NULL ? strcmp(m->digest, r->digest) == 0 :
		    r->tag != NULL ? (n != NULL && strcmp(n, r->tag) == 0) :
		    l->ix.n == 1) {
			hit = m;
			break;
		}
	}
	if (hit == NULL) {
		if (r->digest == NULL && r->tag == NULL && l->ix.n > 1)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: the index holds %zu "
					"images; name one with :TAG", r->text,
					l->ix.n);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: no image %s%s in index.json",
				r->text, r->digest ? r->digest : "tagged ",
				r->digest ? "" : r->tag ? r->tag : "(none)");
	}
	*d = *hit;
	if (d->annotations)
		json_incref(d->annotations);
	return 0;
}

int ukit_oci_local_blob(struct ukit_oci_local *l, const char *digest,
			uint64_t size, int *fd, uint64_t *off,
			struct fmt_err *e)
{
	char name[PATH_MAX];
	struct stat st;

	if (!ukit_oci_digest_valid(digest))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: bad digest \"%.80s\"",
				l->path, digest);
	if (l->kind == OCI_REF_ARCHIVE) {
		const struct arc_entry *a;
		snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
		a = arc_find(l, name);
		if (a == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: archive has no blob %s",
					l->path, digest);
		if (a->size != size)
			return ukit_fmt_errf(e, a->off, "%s: blob %s is %" PRIu64
					" bytes, its descriptor says %" PRIu64,
					l->path, digest, a->size, size);
		*fd = l->fd;
		*off = a->off;
		return 0;
	}
	snprintf(name, sizeof name, "%s/blobs/sha256/%s", l->path, digest + 7);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = open(name, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "%s: blob %s", l->path, digest);
	if (fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file", name);
	if ((uint64_t)st.st_size != size)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s is %jd bytes, its "
				"descriptor says %" PRIu64, l->path, digest,
				(intmax_t)st.st_size, size);
	*fd = l->fd;
	*off = 0;
	return 0;
}

int ukit_oci_local_has(struct ukit_oci_local *l, const char *digest,
		       struct fmt_err *e)
{
	char name[PATH_MAX];

	if (!ukit_oci_digest_valid(digest))
		return ukit_fmt_errf(e, FMT_NOOFF, "bad digest \"%.80s\"", digest);
	if (l->kind == OCI_REF_ARCHIVE) {
		snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
		return arc_find(l, name) != NULL;
	}
	snprintf(name, sizeof name, "%s/blobs/sha256/%s", l->path, digest + 7);
	return access(name, F_OK) == 0;
}

int ukit_oci_local_read(struct ukit_oci_local *l, const struct ukit_oci_desc *d,
			char **out, struct fmt_err *e)
{
	struct ukit_oci_blobrd b;
	char *buf;
	uint64_t off;
	size_t got = 0;
	int fd;

	if (d->size > OCI_JSON_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s is %" PRIu64 " bytes, over "
				"the limit of %u", l->path, d->digest, d->size,
				OCI_JSON_MAX);
	if (ukit_oci_local_blob(l, d->digest, d->size, &fd, &off, e) < 0)
		return -1;
	buf = malloc((size_t)d->size + 1);
	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (ukit_oci_blobrd_init(&b, fd, off, d->size, d->digest, l->path, e) < 0) {
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t n = ukit_oci_blobrd_read(&b, buf + got,
						 (size_t)d->size - got, e);
		if (n < 0) {
			ukit_oci_blobrd_free(&b);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	ukit_oci_blobrd_free(&b);
	buf[got] = 0;
	*out = buf;
	return 0;
}
