/*
 * ocijson.h: the JSON documents of OCI images (image-spec v1.1) and their
 * Docker schema 2 counterparts: descriptors, image manifests, image
 * indexes (and Docker manifest lists), image configs.
 *
 * Everything parsed here is untrusted (it comes from files and
 * registries).  Documents are bounded by OCI_JSON_MAX; duplicate keys,
 * trailing data, wrong types, bad digests and media types are errors
 * with a JSON path.  Keys this code does not know are ignored, as the
 * image-spec requires of readers.
 */
#ifndef UKIT_OCIJSON_H
#define UKIT_OCIJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define OCI_JSON_MAX     (4u << 20)   /* bytes of a manifest, index, config */
#define OCI_LAYERS_MAX   256          /* layers of one manifest */
#define OCI_INDEX_MAX    4096         /* manifests of one index */
#define OCI_MEDIATYPE_MAX 255         /* bytes of a media type */
#define OCI_DIGEST_LEN   71           /* "sha256:" + 64 hex */
#define OCI_SIZE_MAX     (1ull << 46) /* bytes of one blob (64 TiB) */

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZS "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_MT_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_EMPTY    "application/vnd.oci.empty.v1+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZ "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define OCI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_ANN_CREATED  "org.opencontainers.image.created"

struct ukit_oci_desc {
	char     media_type[OCI_MEDIATYPE_MAX + 1];
	char     digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	char     artifact_type[OCI_MEDIATYPE_MAX + 1];  /* "" when absent */
	char     platform_os[32], platform_arch[32];     /* "" when absent */
	json_t  *annotations;   /* object of strings, or NULL (owned) */
};

struct ukit_oci_manifest {
	char     media_type[OCI_MEDIATYPE_MAX + 1];  /* "" when absent */
	char     artifact_type[OCI_MEDIATYPE_MAX + 1];
	struct ukit_oci_desc config;
	size_t   nlayers;
	struct ukit_oci_desc *layers;
	bool     has_subject;
	struct ukit_oci_desc subject;
	json_t  *annotations;   /* or NULL (owned) */
};

struct ukit_oci_index {
	char     media_type[OCI_MEDIATYPE_MAX + 1];
	size_t   n;
	struct ukit_oci_desc *m;
	json_t  *annotations;
};

struct ukit_oci_config {
	char     architecture[32], os[32];
	size_t   ndiff;
	char   (*diff_ids)[OCI_DIGEST_LEN + 1];
	json_t  *labels;        /* config.Labels, or NULL (owned) */
};

/* "sha256:" + 64 lowercase hex digits?  1 yes, 0 no. */
bool ukit_oci_digest_valid(const char *s);

/* A media type as RFC 6838 spells them (type "/" subtype, ≤ 255 bytes). */
bool ukit_oci_media_type_valid(const char *s);

/* "sha256:<hex of (md)>" into (out). */
void ukit_oci_digest_fmt(const uint8_t md[32], char out[OCI_DIGEST_LEN + 1]);

/* sha256 of (buf, len) as "sha256:<hex>". */
int ukit_oci_digest_buf(const void *buf, size_t len,
			char out[OCI_DIGEST_LEN + 1], struct fmt_err *e);

/*
 * Decode the descriptor (obj) at JSON path (path).  0 or -1 with (e).
 * Release with ukit_oci_desc_free().
 */
int ukit_oci_desc_parse(const json_t *obj, const char *path,
			struct ukit_oci_desc *d, struct fmt_err *e);
void ukit_oci_desc_free(struct ukit_oci_desc *d);
/* The descriptor as a new JSON object (mediaType, digest, size,
 * artifactType, annotations). */
json_t *ukit_oci_desc_json(const struct ukit_oci_desc *d);

/*
 * Parse (buf, len) (≤ OCI_JSON_MAX) as an image manifest (OCI or Docker
 * schema 2).  (what) names the document in errors (a file, a reference).
 * 0 or -1 with (e).
 */
int ukit_oci_manifest_parse(const char *buf, size_t len, const char *what,
			    struct ukit_oci_manifest *m, struct fmt_err *e);
void ukit_oci_manifest_free(struct ukit_oci_manifest *m);

/*
 * (m) is a signature of the image (subject) (a digest): its subject, no
 * artifactType or (artifact_type), and one layer of (artifact_type) of at
 * most (max) bytes.  A referrer that is
 * not is passed over, so that no artifact a registry or a layout adds
 * beside the signatures (a larger one included) keeps them from being
 * found.
 */
bool ukit_oci_manifest_signs(const struct ukit_oci_manifest *m,
			     const char *subject, const char *artifact_type,
			     uint64_t max);

#define OCI_REFERRER_MAX (64u << 10)  /* bytes of a signature manifest
					* (ukit's and cosign's: about 1 KiB) */

/*
 * The descriptor (d) in a referrers listing may name a signature: an
 * image manifest (or no media type) of at most OCI_REFERRER_MAX bytes,
 * not an index of other artifacts nor a larger manifest, which a walk
 * passes over unread as it passes over artifacts of other types (4096
 * entries of OCI_JSON_MAX would be 16 GiB to read).
 */
bool ukit_oci_desc_may_sign(const struct ukit_oci_desc *d);

/* Parse an image index / Docker manifest list (index.json too). */
int ukit_oci_index_parse(const char *buf, size_t len, const char *what,
			 struct ukit_oci_index *ix, struct fmt_err *e);
void ukit_oci_index_free(struct ukit_oci_index *ix);
/* (ix->m[i])'s digest is listed before (i) in (ix) too: a walk over a
 * listing reads each manifest once, however often it is named. */
bool ukit_oci_index_listed_before(const struct ukit_oci_index *ix, size_t i);

/* Parse an image config. */
int ukit_oci_config_parse(const char *buf, size_t len, const char *what,
			  struct ukit_oci_config *c, struct fmt_err *e);
void ukit_oci_config_free(struct ukit_oci_config *c);

/*
 * What a manifest document is: 1 image manifest, 2 index or list, from
 * its media type (Content-Type, descriptor), else from its "mediaType"
 * field, else from whether it has "manifests".  -1 with (e) when the
 * media type is none of the four.
 */
int ukit_oci_doc_kind(const char *media_type, const char *buf, size_t len,
		      struct fmt_err *e);

/* Put "(prefix): " in front of (e)'s message (truncating its end). */
void ukit_oci_err_prefix(struct fmt_err *e, const char *prefix);

/* (s) as one line of JSON, sorted keys (the bytes a digest is taken
 * of).  malloc'd, NULL if out of memory. */
char *ukit_oci_json_dump(const json_t *j);

#endif
