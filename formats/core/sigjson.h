/*
 * sigjson.h: strict JSON reading for signed documents (statements, DSSE
 * envelopes, bundles): exact key sets, typed getters, JSON-path errors
 * ("$.dsseEnvelope.signatures[0].sig: ..."), and strict base64.
 */
#ifndef UKIT_SIGJSON_H
#define UKIT_SIGJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define SIGJSON_PATH_MAX 128     /* bytes of a JSON path in messages */

/*
 * Parse (buf, len) as one JSON object: duplicate keys, trailing data, NUL
 * bytes and non-objects are rejected.  (what) names the document.
 */
json_t *ukit_sigjson_load(const char *buf, size_t len, const char *what,
		     struct fmt_err *e);

/*
 * (obj) at (path) must be an object whose keys are all in (allowed)
 * (NULL-terminated) and which holds every key in (required).
 */
int ukit_sigjson_keys(const json_t *obj, const char *path,
		 const char *const *allowed, const char *const *required,
		 struct fmt_err *e);

/* obj[key] as a non-empty string no longer than (max) (0: no limit). */
int ukit_sigjson_str(const json_t *obj, const char *path, const char *key,
		size_t max, const char **out, struct fmt_err *e);

/* obj[key] as an object / array; (*out) borrowed. */
int ukit_sigjson_obj(const json_t *obj, const char *path, const char *key,
		json_t **out, struct fmt_err *e);
int ukit_sigjson_arr(const json_t *obj, const char *path, const char *key,
		size_t min, size_t max, json_t **out, struct fmt_err *e);

/* obj[key] as an integer in [0, max]. */
int ukit_sigjson_uint(const json_t *obj, const char *path, const char *key,
		 uint64_t max, uint64_t *out, struct fmt_err *e);

/* Base64: the standard or the URL-safe alphabet (one per string),
 * canonical (unused bits zero, padding optional but right if present).
 * (*out) malloc'd, (*len) bytes; limit (max) decoded bytes. */
int ukit_b64_decode(const char *s, size_t max, uint8_t **out, size_t *len,
	       struct fmt_err *e);
/* Standard alphabet with padding; malloc'd NUL-terminated (b64enc.c). */
char *ukit_b64_encode(const uint8_t *buf, size_t len);

#endif
