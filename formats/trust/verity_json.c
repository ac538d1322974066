/*
 * verity_json.c: the statement's dm-verity object (see verity.h): the
 * root, salt and parameters as JSON, and back, strictly.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "bytes.h"
#include "verity.h"

static void tohex(const uint8_t *b, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[b[i] >> 4];
		out[2 * i + 1] = x[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int ukit_verity_unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];
			int d = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return -1;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

json_t *ukit_verity_json(const uint8_t root[VERITY_DIGEST], const uint8_t *salt,
		    size_t salt_len, struct fmt_err *e)
{
	char hroot[2 * VERITY_DIGEST + 1], hsalt[2 * VERITY_SALT_MAX + 1];
	json_t *o;

	if (salt_len > VERITY_SALT_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "salt too long");
		return NULL;
	}
	tohex(root, VERITY_DIGEST, hroot);
	o = json_pack("{s:i, s:s, s:i, s:i}", "version", 1, "hash", "sha256",
		      "data-block-size", VERITY_BLOCK,
		      "hash-block-size", VERITY_BLOCK);
	if (o != NULL && salt_len > 0) {
		tohex(salt, salt_len, hsalt);
		if (json_object_set_new(o, "salt", json_string(hsalt)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	if (o != NULL &&
	    json_object_set_new(o, "root-hash", json_string(hroot)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL)
		ukit_fmt_errf(e, FMT_NOOFF, "verity: out of memory");
	return o;
}

int ukit_verity_json_parse(const json_t *obj, uint8_t root[VERITY_DIGEST],
		      uint8_t *salt, size_t *salt_len, struct fmt_err *e)
{
	static const char *const keys[] = { "version", "hash",
		"data-block-size", "hash-block-size", "salt", "root-hash" };
	const char *key, *hs;
	json_t *val, *v;
	int n;

	if (!json_is_object(obj))
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity: not an "
				"object");
	json_object_foreach((json_t *)obj, key, val) {
		size_t i = 0;
		while (i < ARRAY_SIZE(keys) && strcmp(keys[i], key) != 0)
			i++;
		if (i == ARRAY_SIZE(keys))
			return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity: "
					"unknown key \"%.64s\"", key);
	}
	v = json_object_get(obj, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.version: "
				"want 1");
	v = json_object_get(obj, "hash");
	if (!json_is_string(v) || strcmp(json_string_value(v), "sha256") != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.hash: want "
				"\"sha256\"");
	v = json_object_get(obj, "data-block-size");
	if (!json_is_integer(v) || json_integer_value(v) != VERITY_BLOCK)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity."
				"data-block-size: want %d", VERITY_BLOCK);
	v = json_object_get(obj, "hash-block-size");
	if (!json_is_integer(v) || json_integer_value(v) != VERITY_BLOCK)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity."
				"hash-block-size: want %d", VERITY_BLOCK);
	v = json_object_get(obj, "root-hash");
	hs = json_is_string(v) ? json_string_value(v) : "";
	if (strlen(hs) != 2 * VERITY_DIGEST ||
	    ukit_verity_unhex(hs, root, VERITY_DIGEST) != VERITY_DIGEST)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.root-hash: "
				"want %d hex digits", 2 * VERITY_DIGEST);
	*salt_len = 0;
	v = json_object_get(obj, "salt");
	if (v != NULL) {
		hs = json_is_string(v) ? json_string_value(v) : "";
		n = hs[0] == '\0' ? -1 :
		    ukit_verity_unhex(hs, salt, VERITY_SALT_MAX);
		if (n <= 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.salt:"
					" want 1..%d bytes of hex",
					VERITY_SALT_MAX);
		*salt_len = (size_t)n;
	}
	return 0;
}
