/*
 * ociref.c: image references in skopeo's transport syntax parsed and
 * checked, "oci:DIR[:TAG|@DIGEST]", "oci-archive:FILE[:TAG]" and
 * "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]" (see ocilayout.h).  A
 * reference is untrusted text from the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocilayout.h"

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
