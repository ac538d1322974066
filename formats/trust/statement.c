/*
 * statement.c: build and strictly parse the signed statement (see
 * statement.h).  A parsed statement comes from verified payload bytes, but
 * it is still checked field by field: signers have bugs too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "sig.h"
#include "sigjson.h"
#include "statement.h"

static const char *const formats[] = { "raw", "qcow2", "elf", "bin", NULL };
static const char *const targets[] = { "hvt", "spt", "virtio", "muen",
				       "genode", "xen", NULL };

int ukit_stmt_time_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	char back[21];
	int n = 0;

	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 20)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	ukit_stmt_time_format(*out, back);
	return strcmp(back, s) == 0 ? 0 : -1;   /* no 2026-02-31 */
}

static int in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

int ukit_stmt_solo5_check(const json_t *solo5, const char *path, struct fmt_err *e)
{
	static const char *const k[] = { "abi", "manifest", NULL };
	static const char *const ka[] = { "target", "version", NULL };
	static const char *const km[] = { "type", "version", "devices", NULL };
	static const char *const kd[] = { "name", "type", NULL };
	char p[SIGJSON_PATH_MAX], pd[SIGJSON_PATH_MAX + 32];
	json_t *abi, *mft, *devs;
	const char *s;
	uint64_t v;

	if (ukit_sigjson_keys(solo5, path, k, k, e) != 0 ||
	    ukit_sigjson_obj(solo5, path, "abi", &abi, e) != 0 ||
	    ukit_sigjson_obj(solo5, path, "manifest", &mft, e) != 0)
		return -1;
	snprintf(p, sizeof p, "%s.abi", path);
	if (ukit_sigjson_keys(abi, p, ka, ka, e) != 0 ||
	    ukit_sigjson_str(abi, p, "target", 16, &s, e) != 0 ||
	    ukit_sigjson_uint(abi, p, "version", UINT32_MAX, &v, e) != 0)
		return -1;
	if (!in_list(s, targets))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.target: unknown target \"%s\"",
				p, s);
	snprintf(p, sizeof p, "%s.manifest", path);
	if (ukit_sigjson_keys(mft, p, km, km, e) != 0 ||
	    ukit_sigjson_str(mft, p, "type", 32, &s, e) != 0 ||
	    ukit_sigjson_uint(mft, p, "version", UINT32_MAX, &v, e) != 0 ||
	    ukit_sigjson_arr(mft, p, "devices", 0, MFT_MAX_DEVICES, &devs, e) != 0)
		return -1;
	if (strcmp(s, "solo5.manifest") != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.type: \"%s\", want \"solo5.manifest\"",
				p, s);
	for (size_t i = 0; i < json_array_size(devs); i++) {
		json_t *d = json_array_get(devs, i);
		snprintf(pd, sizeof pd, "%s.devices[%zu]", p, i);
		if (ukit_sigjson_keys(d, pd, kd, kd, e) != 0 ||
		    ukit_sigjson_str(d, pd, "name", MFT_NAME_MAX, &s, e) != 0 ||
		    ukit_sigjson_str(d, pd, "type", 16, &s, e) != 0)
			return -1;
	}
	return 0;
}

static int parse_hex32(const char *s, uint8_t out[32])
{
	if (strlen(s) != 64)
		return -1;
	for (int i = 0; i < 64; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

int ukit_stmt_parse(const uint8_t *buf, size_t len, struct stmt *out,
	       struct fmt_err *e)
{
	static const char *const kt[] = { "_type", "subject", "predicateType",
					  "predicate", NULL };
	static const char *const ks[] = { "name", "digest", NULL };
	static const char *const kdg[] = { "sha256", NULL };
	static const char *const kp[] = { "format", "size", "rollback",
					  "created", "solo5", "annotations",
					  "verity", NULL };
	static const char *const kpr[] = { "format", "size", "rollback",
					   "created", NULL };
	struct stmt s = { 0 };
	json_t *subj, *su, *dig, *pred;
	const char *str, *key;
	json_t *v;

	s.root = ukit_sigjson_load((const char *)buf, len, "statement", e);
	if (s.root == NULL)
		return -1;
	if (ukit_sigjson_keys(s.root, "$", kt, kt, e) != 0 ||
	    ukit_sigjson_str(s.root, "$", "_type", 64, &str, e) != 0)
		goto fail;
	if (strcmp(str, STMT_TYPE) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "$._type: \"%.64s\", want \"%s\"", str,
			 STMT_TYPE);
		goto fail;
	}
	if (ukit_sigjson_str(s.root, "$", "predicateType", 64, &str, e) != 0)
		goto fail;
	if (strcmp(str, STMT_PREDICATE_TYPE) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.predicateType: \"%.64s\", want \"%s\"",
			 str, STMT_PREDICATE_TYPE);
		goto fail;
	}
	if (ukit_sigjson_arr(s.root, "$", "subject", 1, 1, &subj, e) != 0)
		goto fail;
	su = json_array_get(subj, 0);
	if (ukit_sigjson_keys(su, "$.subject[0]", ks, ks, e) != 0 ||
	    ukit_sigjson_str(su, "$.subject[0]", "name", STMT_NAME_MAX, &s.name, e) != 0 ||
	    ukit_sigjson_obj(su, "$.subject[0]", "digest", &dig, e) != 0 ||
	    ukit_sigjson_keys(dig, "$.subject[0].digest", kdg, kdg, e) != 0 ||
	    ukit_sigjson_str(dig, "$.subject[0].digest", "sha256", 64, &str, e) != 0)
		goto fail;
	if (parse_hex32(str, s.sha256) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.subject[0].digest.sha256: not 64 "
			 "lowercase hex digits");
		goto fail;
	}
	memcpy(s.sha256_hex, str, 65);
	if (ukit_sigjson_obj(s.root, "$", "predicate", &pred, e) != 0 ||
	    ukit_sigjson_keys(pred, "$.predicate", kp, kpr, e) != 0 ||
	    ukit_sigjson_str(pred, "$.predicate", "format", 16, &s.format, e) != 0 ||
	    ukit_sigjson_uint(pred, "$.predicate", "size", (uint64_t)INT64_MAX,
			 &s.size, e) != 0 ||
	    ukit_sigjson_uint(pred, "$.predicate", "rollback", STMT_ROLLBACK_MAX,
			 &s.rollback, e) != 0 ||
	    ukit_sigjson_str(pred, "$.predicate", "created", 20, &s.created, e) != 0)
		goto fail;
	if (!in_list(s.format, formats)) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.format: unknown format \"%s\"",
			 s.format);
		goto fail;
	}
	if (ukit_stmt_time_parse(s.created, &s.created_t) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.created: \"%s\" is not "
			 "RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)", s.created);
		goto fail;
	}
	s.solo5 = json_object_get(pred, "solo5");
	if (s.solo5 != NULL &&
	    ukit_stmt_solo5_check(s.solo5, "$.predicate.solo5", e) != 0)
		goto fail;
	s.verity = json_object_get(pred, "verity");
	if (s.verity != NULL && !json_is_object(s.verity)) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity: not an object");
		goto fail;
	}
	s.annotations = json_object_get(pred, "annotations");
	if (s.annotations != NULL) {
		if (!json_is_object(s.annotations) ||
		    json_object_size(s.annotations) > STMT_ANNOT_MAX) {
			ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.annotations: not an "
				 "object of at most %d strings", STMT_ANNOT_MAX);
			goto fail;
		}
		json_object_foreach(s.annotations, key, v) {
			if (strlen(key) == 0 || strlen(key) > STMT_ANNOT_KEY_MAX ||
			    !json_is_string(v) ||
			    json_string_length(v) > STMT_ANNOT_VAL_MAX ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.annotations"
					 ".%.40s: bad key or value", key);
				goto fail;
			}
		}
	}
	*out = s;
	return 0;
fail:
	json_decref(s.root);
	return -1;
}

void ukit_stmt_free(struct stmt *s)
{
	if (s == NULL)
		return;
	json_decref(s->root);
	memset(s, 0, sizeof *s);
}

void ukit_stmt_time_format(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
