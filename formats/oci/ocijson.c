/*
 * ocijson.c: OCI manifests, indexes, configs and descriptors (see
 * ocijson.h).  The bytes are untrusted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ocijson.h"
#include "sigjson.h"

bool ukit_oci_digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != OCI_DIGEST_LEN)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static bool mt_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$&^_.+-", c) != NULL;
}

bool ukit_oci_media_type_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = strlen(s);

	if (n == 0 || n > OCI_MEDIATYPE_MAX || slash == NULL || slash == s ||
	    slash[1] == 0)
		return false;
	for (const char *p = s; *p; p++)
		if (p != slash && !mt_char(*p))
			return false;
	return true;
}

void ukit_oci_digest_fmt(const uint8_t md[32], char out[OCI_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[OCI_DIGEST_LEN] = 0;
}

int ukit_oci_digest_buf(const void *buf, size_t len,
			char out[OCI_DIGEST_LEN + 1], struct fmt_err *e)
{
	uint8_t md[32];
	unsigned mdlen = 0;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	ukit_oci_digest_fmt(md, out);
	return 0;
}

void ukit_oci_err_prefix(struct fmt_err *e, const char *prefix)
{
	size_t pl, ml;

	if (e == NULL)
		return;
	pl = strlen(prefix);
	if (pl > FMT_ERR_MSG / 2)
		pl = FMT_ERR_MSG / 2;
	ml = strnlen(e->msg, FMT_ERR_MSG - 1);
	if (pl + 2 + ml > FMT_ERR_MSG - 1)
		ml = FMT_ERR_MSG - 1 - pl - 2;
	memmove(e->msg + pl + 2, e->msg, ml);
	memcpy(e->msg, prefix, pl);
	e->msg[pl] = ':';
	e->msg[pl + 1] = ' ';
	e->msg[pl + 2 + ml] = 0;
}

char *ukit_oci_json_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* An optional string member: absent is fine, else a string of ≤ max. */
static int opt_str(const json_t *obj, const char *path, const char *key,
		   char *out, size_t cap, struct fmt_err *e)
{
	json_t *v = json_object_get(obj, key);

	out[0] = 0;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not a string", path, key);
	if (json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: longer than %zu bytes "
				"or contains NUL", path, key, cap - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* "annotations": an object of strings, or absent.  (*out) new ref. */
static int annotations(const json_t *obj, const char *path, const char *key,
		       json_t **out, struct fmt_err *e)
{
	json_t *a = json_object_get(obj, key), *v;
	const char *k;

	*out = NULL;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_object(a))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not an object", path, key);
	json_object_foreach(a, k, v) {
		if (!json_is_string(v))
			return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s[\"%.60s\"]: not a "
					"string", path, key, k);
	}
	*out = json_incref(a);
	return 0;
}

int ukit_oci_desc_parse(const json_t *obj, const char *path,
			struct ukit_oci_desc *d, struct fmt_err *e)
{
	const char *s;
	json_t *v, *p;

	memset(d, 0, sizeof *d);
	if (!json_is_object(obj))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an object", path);
	if (ukit_sigjson_str(obj, path, "mediaType", OCI_MEDIATYPE_MAX, &s, e) < 0)
		return -1;
	if (!ukit_oci_media_type_valid(s))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.mediaType: \"%.80s\" is not a "
				"media type", path, s);
	strcpy(d->media_type, s);
	if (ukit_sigjson_str(obj, path, "digest", 0, &s, e) < 0)
		return -1;
	if (strncmp(s, "sha256:", 7) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.digest: unsupported digest "
				"algorithm in \"%.80s\" (only sha256)", path, s);
	if (!ukit_oci_digest_valid(s))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.digest: \"%.80s\" is not "
				"sha256: and 64 lowercase hex digits", path, s);
	strcpy(d->digest, s);
	v = json_object_get(obj, "size");
	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"size\"", path);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > OCI_SIZE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.size: not an integer in "
				"0..%llu", path, OCI_SIZE_MAX);
	d->size = (uint64_t)json_integer_value(v);
	if (opt_str(obj, path, "artifactType", d->artifact_type,
		    sizeof d->artifact_type, e) < 0)
		return -1;
	p = json_object_get(obj, "platform");
	if (p != NULL) {
		char pp[SIGJSON_PATH_MAX];
		snprintf(pp, sizeof pp, "%s.platform", path);
		if (!json_is_object(p))
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an object", pp);
		if (opt_str(p, pp, "os", d->platform_os,
			    sizeof d->platform_os, e) < 0 ||
		    opt_str(p, pp, "architecture", d->platform_arch,
			    sizeof d->platform_arch, e) < 0)
			return -1;
	}
	return annotations(obj, path, "annotations", &d->annotations, e);
}

void ukit_oci_desc_free(struct ukit_oci_desc *d)
{
	if (d == NULL)
		return;
	json_decref(d->annotations);
	d->annotations = NULL;
}

json_t *ukit_oci_desc_json(const struct ukit_oci_desc *d)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer((json_int_t)d->size));
	if (d->artifact_type[0])
		json_object_set_new(o, "artifactType",
				    json_string(d->artifact_type));
	if (d->annotations != NULL && json_object_size(d->annotations) > 0)
		json_object_set(o, "annotations", d->annotations);
	return o;
}

static int schema_version(const json_t *root, const char *what,
			  struct fmt_err *e)
{
	json_t *v = json_object_get(root, "schemaVersion");

	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: $: missing \"schemaVersion\"",
				what);
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: $.schemaVersion: not 2",
				what);
	return 0;
}

static json_t *load(const char *buf, size_t len, const char *what,
		    struct fmt_err *e)
{
	if (len > OCI_JSON_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %zu bytes, over the limit of %u "
			 "for a manifest, index or config", what, len,
			 OCI_JSON_MAX);
		return NULL;
	}
	if (memchr(buf, 0, len) != NULL) {
		ukit_fmt_errf(e, (uint64_t)((const char *)memchr(buf, 0, len) - buf),
			 "%s: NUL byte in JSON", what);
		return NULL;
	}
	return ukit_sigjson_load(buf, len, what, e);
}

/*
 * The array of descriptors $.(key) of (root) (at most (max), each counted
 * as (noun) in the message) into (*out) (calloc'd, one spare entry) and
 * (*n): descriptors are counted as they parse, so the caller's free
 * releases exactly those.  0; 1 with (e) naming (what) already; -1 with
 * (e) from a descriptor, for the caller to prefix with (what).
 */
static int desc_array(const json_t *root, const char *key, const char *noun,
		      size_t max, struct ukit_oci_desc **out, size_t *n,
		      const char *what, struct fmt_err *e)
{
	const json_t *a = json_object_get(root, key), *d;
	char path[SIGJSON_PATH_MAX];
	size_t i;

	if (a == NULL || !json_is_array(a)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.%s: missing or not an array",
			      what, key);
		return 1;
	}
	if (json_array_size(a) > max) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.%s: %zu %s, over the limit of "
			      "%zu", what, key, json_array_size(a), noun, max);
		return 1;
	}
	*out = calloc(json_array_size(a) + 1, sizeof **out);
	if (*out == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		return 1;
	}
	json_array_foreach(a, i, d) {
		snprintf(path, sizeof path, "$.%s[%zu]", key, i);
		if (ukit_oci_desc_parse(d, path, &(*out)[i], e) < 0)
			return -1;
		*n = i + 1;
	}
	return 0;
}

int ukit_oci_manifest_parse(const char *buf, size_t len, const char *what,
			    struct ukit_oci_manifest *m, struct fmt_err *e)
{
	json_t *root, *cfg, *subj;
	int rc;

	memset(m, 0, sizeof *m);
	root = load(buf, len, what, e);
	if (root == NULL)
		return -1;
	if (schema_version(root, what, e) < 0)
		goto fail;
	if (opt_str(root, "$", "mediaType", m->media_type,
		    sizeof m->media_type, e) < 0)
		goto fail_what;
	if (m->media_type[0] && strcmp(m->media_type, OCI_MT_MANIFEST) != 0 &&
	    strcmp(m->media_type, DOCKER_MT_MANIFEST) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.mediaType: \"%.80s\" is not an "
			 "image manifest media type", what, m->media_type);
		goto fail;
	}
	if (opt_str(root, "$", "artifactType", m->artifact_type,
		    sizeof m->artifact_type, e) < 0)
		goto fail_what;
	cfg = json_object_get(root, "config");
	if (cfg == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $: missing \"config\"", what);
		goto fail;
	}
	if (ukit_oci_desc_parse(cfg, "$.config", &m->config, e) < 0)
		goto fail_what;
	rc = desc_array(root, "layers", "layers", OCI_LAYERS_MAX, &m->layers,
			&m->nlayers, what, e);
	if (rc > 0)
		goto fail;
	if (rc < 0)
		goto fail_what;
	subj = json_object_get(root, "subject");
	if (subj != NULL) {
		if (ukit_oci_desc_parse(subj, "$.subject", &m->subject, e) < 0)
			goto fail_what;
		m->has_subject = true;
	}
	if (annotations(root, "$", "annotations", &m->annotations, e) < 0)
		goto fail_what;
	json_decref(root);
	return 0;
fail_what:
	ukit_oci_err_prefix(e, what);
fail:
	json_decref(root);
	ukit_oci_manifest_free(m);
	return -1;
}

bool ukit_oci_manifest_signs(const struct ukit_oci_manifest *m,
			     const char *subject, const char *artifact_type,
			     uint64_t max)
{
	/* an artifactType other than the layer's says the manifest is some
	 * other kind of artifact; carried on as one, a walk at the other
	 * end would pass it over by its listed type */
	return m->has_subject && strcmp(m->subject.digest, subject) == 0 &&
	       (m->artifact_type[0] == 0 ||
		strcmp(m->artifact_type, artifact_type) == 0) &&
	       m->nlayers == 1 &&
	       strcmp(m->layers[0].media_type, artifact_type) == 0 &&
	       m->layers[0].size <= max;
}

bool ukit_oci_desc_may_sign(const struct ukit_oci_desc *d)
{
	return strcmp(d->media_type, OCI_MT_INDEX) != 0 &&
	       strcmp(d->media_type, DOCKER_MT_LIST) != 0 &&
	       d->size <= OCI_REFERRER_MAX;
}

void ukit_oci_manifest_free(struct ukit_oci_manifest *m)
{
	if (m == NULL)
		return;
	ukit_oci_desc_free(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		ukit_oci_desc_free(&m->layers[i]);
	free(m->layers);
	ukit_oci_desc_free(&m->subject);
	json_decref(m->annotations);
	memset(m, 0, sizeof *m);
}

int ukit_oci_index_parse(const char *buf, size_t len, const char *what,
			 struct ukit_oci_index *ix, struct fmt_err *e)
{
	json_t *root;
	int rc;

	memset(ix, 0, sizeof *ix);
	root = load(buf, len, what, e);
	if (root == NULL)
		return -1;
	if (schema_version(root, what, e) < 0)
		goto fail;
	if (opt_str(root, "$", "mediaType", ix->media_type,
		    sizeof ix->media_type, e) < 0)
		goto fail_what;
	if (ix->media_type[0] && strcmp(ix->media_type, OCI_MT_INDEX) != 0 &&
	    strcmp(ix->media_type, DOCKER_MT_LIST) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.mediaType: \"%.80s\" is not an "
			 "image index media type", what, ix->media_type);
		goto fail;
	}
	rc = desc_array(root, "manifests", "entries", OCI_INDEX_MAX, &ix->m,
			&ix->n, what, e);
	if (rc > 0)
		goto fail;
	if (rc < 0)
		goto fail_what;
	if (annotations(root, "$", "annotations", &ix->annotations, e) < 0)
		goto fail_what;
	json_decref(root);
	return 0;
fail_what:
	ukit_oci_err_prefix(e, what);
fail:
	json_decref(root);
	ukit_oci_index_free(ix);
	return -1;
}

void ukit_oci_index_free(struct ukit_oci_index *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->n; i++)
		ukit_oci_desc_free(&ix->m[i]);
	free(ix->m);
	json_decref(ix->annotations);
	memset(ix, 0, sizeof *ix);
}

bool ukit_oci_index_listed_before(const struct ukit_oci_index *ix, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(ix->m[j].digest, ix->m[i].digest) == 0)
			return true;
	return false;
}

int ukit_oci_config_parse(const char *buf, size_t len, const char *what,
			  struct ukit_oci_config *c, struct fmt_err *e)
{
	json_t *root, *rootfs, *ids, *cfg, *v;
	size_t i;

	memset(c, 0, sizeof *c);
	root = load(buf, len, what, e);
	if (root == NULL)
		return -1;
	if (opt_str(root, "$", "architecture", c->architecture,
		    sizeof c->architecture, e) < 0 ||
	    opt_str(root, "$", "os", c->os, sizeof c->os, e) < 0)
		goto fail_what;
	rootfs = json_object_get(root, "rootfs");
	if (rootfs != NULL) {
		if (!json_is_object(rootfs)) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: $.rootfs: not an object",
				 what);
			goto fail;
		}
		ids = json_object_get(rootfs, "diff_ids");
		if (ids != NULL && !json_is_array(ids)) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: $.rootfs.diff_ids: not an "
				 "array", what);
			goto fail;
		}
		if (ids != NULL && json_array_size(ids) > OCI_LAYERS_MAX) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: $.rootfs.diff_ids: over %d "
				 "entries", what, OCI_LAYERS_MAX);
			goto fail;
		}
		if (ids != NULL) {
			c->diff_ids = calloc(json_array_size(ids) + 1,
					     sizeof *c->diff_ids);
			if (c->diff_ids == NULL) {
				ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
				goto fail;
			}
			json_array_foreach(ids, i, v) {
				if (!json_is_string(v) ||
				    !ukit_oci_digest_valid(json_string_value(v))) {
					ukit_fmt_errf(e, FMT_NOOFF, "%s: $.rootfs."
						 "diff_ids[%zu]: not a sha256 "
						 "digest", what, i);
					goto fail;
				}
				strcpy(c->diff_ids[i], json_string_value(v));
				c->ndiff = i + 1;
			}
		}
	}
	cfg = json_object_get(root, "config");
	if (cfg != NULL && !json_is_null(cfg)) {
		if (!json_is_object(cfg)) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s: $.config: not an object",
				 what);
			goto fail;
		}
		if (annotations(cfg, "$.config", "Labels", &c->labels, e) < 0)
			goto fail_what;
	}
	json_decref(root);
	return 0;
fail_what:
	ukit_oci_err_prefix(e, what);
fail:
	json_decref(root);
	ukit_oci_config_free(c);
	return -1;
}

void ukit_oci_config_free(struct ukit_oci_config *c)
{
	if (c == NULL)
		return;
	free(c->diff_ids);
	json_decref(c->labels);
	memset(c, 0, sizeof *c);
}

/* 1 manifest, 2 index, 0 says nothing (generic JSON), -1 unknown */
static int kind_of(const char *mt)
{
	if (strcmp(mt, OCI_MT_MANIFEST) == 0 ||
	    strcmp(mt, DOCKER_MT_MANIFEST) == 0)
		return 1;
	if (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0)
		return 2;
	if (mt[0] == 0 || strcmp(mt, "application/json") == 0 ||
	    strcmp(mt, "text/plain") == 0 ||
	    strcmp(mt, "application/octet-stream") == 0)
		return 0;
	return -1;
}

int ukit_oci_doc_kind(const char *media_type, const char *buf, size_t len,
		      struct fmt_err *e)
{
	json_t *root, *v;
	int kind;

	if (media_type != NULL) {
		kind = kind_of(media_type);
		if (kind < 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "unknown manifest media "
					"type \"%.100s\"", media_type);
		if (kind > 0)
			return kind;
	}
	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "manifest: no bytes to look at");
	root = load(buf, len, "manifest", e);
	if (root == NULL)
		return -1;
	v = json_object_get(root, "mediaType");
	kind = json_is_string(v) ? kind_of(json_string_value(v)) : 0;
	if (kind < 0)
		ukit_fmt_errf(e, FMT_NOOFF, "manifest: $.mediaType: unknown manifest "
			 "media type \"%.100s\"", json_string_value(v));
	else if (kind == 0)
		kind = json_object_get(root, "manifests") ? 2 : 1;
	json_decref(root);
	return kind;
}
