/*
 * ocilayout.c: references, OCI layout reading (directory, archive) and
 * atomic layout writing (see ocilayout.h).  Layout contents are untrusted.
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
#include "sigjson.h"

#define LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

/* ---- references ----------------------------------------------------- */

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_';
		if (!w && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* distribution's repository grammar: lowercase components joined by
 * '/', each [a-z0-9]+ separated by '.', '_', '__' or '-'s */
static bool repo_valid(const char *r)
{
	size_t n = strlen(r);
	char prev = '/';

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = r[i];
		bool an = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!an) {
			if (c != '/' && c != '.' && c != '_' && c != '-')
				return false;
			if (prev == '/' || (c == '/' && !((prev >= 'a' && prev <= 'z') ||
							  (prev >= '0' && prev <= '9'))))
				return false;
			if (c != '-' && c != '_' && prev != '/' &&
			    !((prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')))
				return false;
		}
		prev = c;
	}
	return (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
}

void ukit_oci_ref_free(struct ukit_oci_ref *r)
{
	if (r == NULL)
		return;
	free(r->text);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->host);
	free(r->repo);
	memset(r, 0, sizeof *r);
}

int ukit_oci_ref_parse(const char *s, struct ukit_oci_ref *r,
		       struct fmt_err *e)
{
	char *rest = NULL, *p;

	memset(r, 0, sizeof *r);
	if (strlen(s) > OCI_REF_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "reference longer than %d bytes",
				OCI_REF_MAX);
	r->text = strdup(s);
	if (r->text == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (strncmp(s, "oci:", 4) == 0 || strncmp(s, "oci-archive:", 12) == 0) {
		r->kind = s[3] == ':' ? OCI_REF_DIR : OCI_REF_ARCHIVE;
		rest = strdup(s + (r->kind == OCI_REF_DIR ? 4 : 12));
		if (rest == NULL)
			goto oom;
		p = strchr(rest, '@');
		if (p != NULL && r->kind == OCI_REF_DIR) {
			*p++ = 0;
			if (!ukit_oci_digest_valid(p)) {
				ukit_fmt_errf(e, FMT_NOOFF, "%s: \"%.80s\" is not a "
					 "sha256 digest", s, p);
				goto fail;
			}
			r->digest = strdup(p);
		}
		p = strchr(rest, ':');
		if (p != NULL) {
			*p++ = 0;
			if (!tag_valid(p)) {
				ukit_fmt_errf(e, FMT_NOOFF, "%s: \"%.80s\" is not a "
					 "valid tag", s, p);
				goto fail;
			}
			r->tag = strdup(p);
		}
		if (rest[0] == 0) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: no path", s);
			goto fail;
		}
		r->path = rest;
		return 0;
	}
	if (strncmp(s, "docker://", 9) == 0) {
		char *slash, *name;

		r->kind = OCI_REF_DOCKER;
		rest = strdup(s + 9);
		if (rest == NULL)
			goto oom;
		slash = strchr(rest, '/');
		if (slash != NULL && (memchr(rest, '.', (size_t)(slash - rest)) ||
				      memchr(rest, ':', (size_t)(slash - rest)) ||
				      strncmp(rest, "localhost/", 10) == 0 ||
				      rest[0] == '[')) {
			*slash = 0;
			r->host = strdup(rest);
			name = slash + 1;
		} else {
			r->host = strdup("docker.io");
			name = rest;
		}
		if (r->host == NULL)
			goto oom;
		p = strchr(name, '@');
		if (p != NULL) {
			*p++ = 0;
			if (!ukit_oci_digest_valid(p)) {
				ukit_fmt_errf(e, FMT_NOOFF, "%s: \"%.80s\" is not a "
					 "sha256 digest", s, p);
				goto fail;
			}
			r->digest = strdup(p);
		}
		p = strrchr(name, ':');
		if (p != NULL && strchr(p, '/') == NULL) {
			*p++ = 0;
			if (!tag_valid(p)) {
				ukit_fmt_errf(e, FMT_NOOFF, "%s: \"%.80s\" is not a "
					 "valid tag", s, p);
				goto fail;
			}
			r->tag = strdup(p);
		}
		if (strcmp(r->host, "docker.io") == 0 && strchr(name, '/') == NULL) {
			size_t n = strlen(name) + 9;
			r->repo = malloc(n);
			if (r->repo != NULL)
				snprintf(r->repo, n, "library/%s", name);
		} else {
			r->repo = strdup(name);
		}
		if (r->repo == NULL)
			goto oom;
		if (!repo_valid(r->repo)) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: \"%.80s\" is not a valid "
				 "repository name (lowercase letters, digits, "
				 "separators)", s, r->repo);
			goto fail;
		}
		if (r->tag == NULL && r->digest == NULL)
			r->tag = strdup("latest");
		free(rest);
		return 0;
	}
	ukit_fmt_errf(e, FMT_NOOFF, "%.100s: unknown transport (use oci:DIR[:TAG], "
		 "oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG])", s);
	goto fail;
oom:
	ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
fail:
	if (rest != r->path)
		free(rest);
	ukit_oci_ref_free(r);
	return -1;
}

/* ---- verified blob reading ----------------------------------------- */

int ukit_oci_blobrd_init(struct ukit_oci_blobrd *b, int fd, uint64_t off,
			 uint64_t size, const char *digest, const char *what,
			 struct fmt_err *e)
{
	memset(b, 0, sizeof *b);
	b->fd = fd;
	b->off = off;
	b->left = b->size = size;
	snprintf(b->want, sizeof b->want, "%s", digest);
	snprintf(b->what, sizeof b->what, "%s", what);
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	}
	return 0;
}

static int blobrd_check(struct ukit_oci_blobrd *b, struct fmt_err *e)
{
	uint8_t md[32];
	char got[OCI_DIGEST_LEN + 1];

	if (b->verified)
		return 0;
	if (!EVP_DigestFinal_ex(b->md, md, NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	ukit_oci_digest_fmt(md, got);
	if (strcmp(got, b->want) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: blob %s has digest %s "
				"(%" PRIu64 " bytes): content does not match",
				b->what, b->want, got, b->size);
	b->verified = true;
	return 0;
}

ssize_t ukit_oci_blobrd_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e)
{
	struct ukit_oci_blobrd *b = ctx;
	ssize_t n;

	if (b->left == 0)
		return blobrd_check(b, e) < 0 ? -1 : 0;
	if (len > b->left)
		len = (size_t)b->left;
	do
		n = pread(b->fd, buf, len, (off_t)b->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ukit_fmt_errno(e, b->off, "%s: read blob %s", b->what, b->want);
	if (n == 0)
		return ukit_fmt_errf(e, b->off, "%s: blob %s is shorter than its "
				"descriptor's size %" PRIu64, b->what, b->want,
				b->size);
	if (!EVP_DigestUpdate(b->md, buf, (size_t)n))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	b->off += (uint64_t)n;
	b->left -= (uint64_t)n;
	return n;
}

int ukit_oci_blobrd_finish(struct ukit_oci_blobrd *b, struct fmt_err *e)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = ukit_oci_blobrd_read(b, buf, sizeof buf, e)) > 0)
		;
	return n < 0 ? -1 : 0;
}

void ukit_oci_blobrd_free(struct ukit_oci_blobrd *b)
{
	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

/* ---- reading a layout ---------------------------------------------- */

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

/* Read a whole small file (≤ max) under (dir). */
static int slurp(const char *path, size_t max, char **out, size_t *len,
		 struct fmt_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot open", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %jd bytes, over the limit of "
				"%zu", path, (intmax_t)st.st_size, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	n = ukit_pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: short read", path);
	}
	buf[n] = 0;
	*out = buf;
	*len = (size_t)n;
	return 0;
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
		if (slurp(what, 4096, &buf, &len, e) < 0 ||
		    check_layout_json(buf, len, what, e) < 0)
			goto fail;
		free(buf);
		buf = NULL;
		snprintf(what, sizeof what, "%s/index.json", r->path);
		if (slurp(what, OCI_JSON_MAX, &buf, &len, e) < 0)
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

/* ---- writing a layout ---------------------------------------------- */

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
				   AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
				return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot "
						 "create", path);
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
	    slurp(path, OCI_JSON_MAX, &old, &oldlen, e) < 0)
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
