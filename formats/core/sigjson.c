/*
 * sigjson.c: strict JSON and base64 decoding (see sigjson.h).  Everything
 * they look at is untrusted; encoding is b64enc.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "sigjson.h"

json_t *ukit_sigjson_load(const char *buf, size_t len, const char *what,
		     struct fmt_err *e)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		ukit_fmt_errf(e, jerr.position >= 0 ? (uint64_t)jerr.position : FMT_NOOFF,
			 "%s: invalid JSON at line %d column %d: %s", what,
			 jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		ukit_fmt_errf(e, 0, "%s: $: not a JSON object", what);
		return NULL;
	}
	return root;
}

int ukit_sigjson_keys(const json_t *obj, const char *path,
		 const char *const *allowed, const char *const *required,
		 struct fmt_err *e)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not an object", path);
	json_object_foreach((json_t *)obj, key, v) {
		size_t i;
		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: unknown key \"%.40s\"",
					path, key);
	}
	for (size_t i = 0; required != NULL && required[i] != NULL; i++)
		if (json_object_get(obj, required[i]) == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"%s\"", path,
					required[i]);
	return 0;
}

int ukit_sigjson_str(const json_t *obj, const char *path, const char *key,
		size_t max, const char **out, struct fmt_err *e)
{
	json_t *v = json_object_get(obj, key);
	size_t n;

	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"%s\"", path, key);
	if (!json_is_string(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not a string", path, key);
	n = json_string_length(v);
	if (n == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: empty string", path, key);
	if (max != 0 && n > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: longer than %zu bytes",
				path, key, max);
	if (strlen(json_string_value(v)) != n)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: contains a NUL character",
				path, key);
	*out = json_string_value(v);
	return 0;
}

int ukit_sigjson_obj(const json_t *obj, const char *path, const char *key,
		json_t **out, struct fmt_err *e)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"%s\"", path, key);
	if (!json_is_object(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not an object", path, key);
	*out = v;
	return 0;
}

int ukit_sigjson_arr(const json_t *obj, const char *path, const char *key,
		size_t min, size_t max, json_t **out, struct fmt_err *e)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"%s\"", path, key);
	if (!json_is_array(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not an array", path, key);
	if (json_array_size(v) < min || json_array_size(v) > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: %zu elements, want %zu..%zu",
				path, key, json_array_size(v), min, max);
	*out = v;
	return 0;
}

int ukit_sigjson_uint(const json_t *obj, const char *path, const char *key,
		 uint64_t max, uint64_t *out, struct fmt_err *e)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing \"%s\"", path, key);
	if (!json_is_integer(v))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: not an integer", path, key);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: %lld outside 0..%llu", path,
				key, (long long)i, (unsigned long long)max);
	*out = (uint64_t)i;
	return 0;
}

/* ---- base64 ----------------------------------------------------------- */

static int b64_val(char c, int *alpha)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/') {
		if (*alpha == 2)
			return -1;
		*alpha = 1;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_') {
		if (*alpha == 1)
			return -1;
		*alpha = 2;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

int ukit_b64_decode(const char *s, size_t max, uint8_t **out, size_t *len,
	       struct fmt_err *e)
{
	size_t n = strlen(s), pad = 0, data, olen, o = 0;
	uint32_t acc = 0;
	int alpha = 0, bits = 0;
	uint8_t *buf;

	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	data = n - pad;
	if (pad > 0 && n % 4 != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "base64: wrong padding");
	if (data % 4 == 1)
		return ukit_fmt_errf(e, FMT_NOOFF, "base64: truncated (%zu characters)",
				data);
	if (pad > 0 && (data % 4 == 0 || 4 - data % 4 != pad))
		return ukit_fmt_errf(e, FMT_NOOFF, "base64: wrong padding");
	olen = data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0);
	if (olen > max)
		return ukit_fmt_errf(e, FMT_NOOFF, "base64: %zu bytes, more than %zu",
				olen, max);
	buf = malloc(olen + 1);
	if (buf == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	for (size_t i = 0; i < data; i++) {
		int v = b64_val(s[i], &alpha);
		if (v < 0) {
			free(buf);
			return ukit_fmt_errf(e, i, "base64: invalid character at %zu", i);
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {
		free(buf);
		return ukit_fmt_errf(e, FMT_NOOFF, "base64: non-zero unused bits");
	}
	buf[o] = 0;
	*out = buf;
	*len = o;
	return 0;
}
