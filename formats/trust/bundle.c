/*
 * bundle.c: Sigstore bundle JSON and the appended footer (see bundle.h).
 * Both come from outside: sizes are bounded, keys exact, offsets checked
 * against the file size with checked arithmetic.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"
#include "bundle.h"
#include "bytes.h"
#include "sigjson.h"

void ukit_bundle_free(struct bundle *b)
{
	if (b == NULL)
		return;
	free(b->hint);
	free(b->tsr);
	for (size_t i = 0; i < b->ncert; i++)
		free(b->cert[i]);
	ukit_dsse_free(&b->env);
	memset(b, 0, sizeof *b);
}

/* obj.(key): non-empty base64 of at most (max) bytes, decoded. */
static int b64_field(const json_t *obj, const char *path, const char *key,
		     size_t max, uint8_t **out, size_t *len, struct fmt_err *e)
{
	const char *const keys[] = { key, NULL };
	struct fmt_err le = { 0 };
	const char *s;

	if (ukit_sigjson_keys(obj, path, keys, keys, e) != 0 ||
	    ukit_sigjson_str(obj, path, key, 0, &s, e) != 0)
		return -1;
	if (ukit_b64_decode(s, max, out, len, &le) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: %s", path, key, le.msg);
	if (*len == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.%s: empty", path, key);
	return 0;
}

int ukit_bundle_parse(const char *buf, size_t len, struct bundle *out,
		 struct fmt_err *e)
{
	static const char *const kb[] = { "mediaType", "verificationMaterial",
					  "dsseEnvelope", NULL };
	static const char *const kv[] = { "publicKey", "x509CertificateChain",
					  "certificate", "tlogEntries",
					  "timestampVerificationData", NULL };
	static const char *const ktv[] = { "rfc3161Timestamps", NULL };
	static const char *const kpk[] = { "hint", NULL };
	static const char *const kc[] = { "certificates", NULL };
	struct bundle b = { 0 };
	json_t *root, *vm, *pk, *ch, *lc, *certs, *env, *tl;
	const char *s;
	char p[SIGJSON_PATH_MAX];
	bool v03;

	if (len > BUNDLE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "bundle too large (%zu > %d bytes)",
				len, BUNDLE_MAX);
	root = ukit_sigjson_load(buf, len, "bundle", e);
	if (root == NULL)
		return -1;
	if (ukit_sigjson_keys(root, "$", kb, kb, e) != 0 ||
	    ukit_sigjson_str(root, "$", "mediaType", 128, &s, e) != 0)
		goto fail;
	v03 = strcmp(s, BUNDLE_MEDIA_TYPE) == 0 ||
	      strcmp(s, BUNDLE_MEDIA_TYPE_V03_LEGACY) == 0;
	if (!v03 && strcmp(s, BUNDLE_MEDIA_TYPE_V02) != 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.mediaType: \"%.64s\", want \"%s\" "
			 "(or the v0.2 form)", s, BUNDLE_MEDIA_TYPE);
		goto fail;
	}
	if (ukit_sigjson_obj(root, "$", "verificationMaterial", &vm, e) != 0 ||
	    ukit_sigjson_keys(vm, "$.verificationMaterial", kv, NULL, e) != 0)
		goto fail;
	tl = json_object_get(vm, "tlogEntries");
	if (tl != NULL && (!json_is_array(tl) || json_array_size(tl) != 0)) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.verificationMaterial.tlogEntries: "
			 "transparency log entries are not supported (want [])");
		goto fail;
	}
	tl = json_object_get(vm, "timestampVerificationData");
	if (tl != NULL) {
		const char *tp = "$.verificationMaterial.timestampVerificationData";
		json_t *arr;

		if (ukit_sigjson_keys(tl, tp, ktv, ktv, e) != 0 ||
		    ukit_sigjson_arr(tl, tp, "rfc3161Timestamps", 1, 1, &arr, e) != 0)
			goto fail;
		snprintf(p, sizeof p, "%s.rfc3161Timestamps[0]", tp);
		if (b64_field(json_array_get(arr, 0), p, "signedTimestamp",
			      64 * 1024, &b.tsr, &b.tsr_len, e) != 0)
			goto fail;
	}
	pk = json_object_get(vm, "publicKey");
	ch = json_object_get(vm, "x509CertificateChain");
	lc = json_object_get(vm, "certificate");
	if ((pk != NULL) + (ch != NULL) + (lc != NULL) != 1) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.verificationMaterial: want exactly one "
			 "of \"publicKey\", \"certificate\" and "
			 "\"x509CertificateChain\"");
		goto fail;
	}
	if (lc != NULL && !v03) {
		ukit_fmt_errf(e, FMT_NOOFF, "$.verificationMaterial.certificate: only "
			 "in a v0.3 bundle");
		goto fail;
	}
	if (pk != NULL) {
		if (ukit_sigjson_keys(pk, "$.verificationMaterial.publicKey", kpk, kpk,
				 e) != 0 ||
		    ukit_sigjson_str(pk, "$.verificationMaterial.publicKey", "hint",
				DSSE_MAX_KEYID, &s, e) != 0)
			goto fail;
		b.hint = strdup(s);
		if (b.hint == NULL) {
			ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
			goto fail;
		}
	} else if (lc != NULL) {
		b.ncert = 1;
		if (b64_field(lc, "$.verificationMaterial.certificate", "rawBytes",
			      BUNDLE_CERT_MAX, &b.cert[0], &b.cert_len[0], e) != 0)
			goto fail;
	} else {
		if (ukit_sigjson_keys(ch, "$.verificationMaterial.x509CertificateChain",
				 kc, kc, e) != 0 ||
		    ukit_sigjson_arr(ch, "$.verificationMaterial.x509CertificateChain",
				"certificates", 1, BUNDLE_MAX_CERTS, &certs, e) != 0)
			goto fail;
		for (size_t i = 0; i < json_array_size(certs); i++) {
			snprintf(p, sizeof p, "$.verificationMaterial."
				 "x509CertificateChain.certificates[%zu]", i);
			b.ncert = i + 1;
			if (b64_field(json_array_get(certs, i), p, "rawBytes",
				      BUNDLE_CERT_MAX, &b.cert[i], &b.cert_len[i],
				      e) != 0)
				goto fail;
		}
	}
	if (ukit_sigjson_obj(root, "$", "dsseEnvelope", &env, e) != 0 ||
	    ukit_dsse_from_json(env, "$.dsseEnvelope", &b.env, e) != 0)
		goto fail;
	json_decref(root);
	*out = b;
	return 0;
fail:
	json_decref(root);
	ukit_bundle_free(&b);
	return -1;
}

/* ---- footer ------------------------------------------------------------ */

int ukit_sigfoot_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  struct sigfoot *out, struct fmt_err *e)
{
	uint64_t foot_off, end, v;
	struct sigfoot f;

	if (len != SIGFOOT_SIZE || file_size < SIGFOOT_SIZE)
		return 0;
	foot_off = file_size - SIGFOOT_SIZE;
	if (memcmp(buf, SIGFOOT_MAGIC, 8) != 0)
		return 0;
	v = le32_load(buf + 8);
	if (v != SIGFOOT_VERSION)
		return ukit_fmt_errf(e, foot_off + 8, "signature footer version %llu "
				"not supported (want %d)", (unsigned long long)v,
				SIGFOOT_VERSION);
	if (le32_load(buf + 12) != 0)
		return ukit_fmt_errf(e, foot_off + 12, "signature footer reserved "
				"field not zero");
	for (size_t i = 40; i < SIGFOOT_SIZE; i++)
		if (buf[i] != 0)
			return ukit_fmt_errf(e, foot_off + i, "signature footer "
					"reserved byte not zero");
	f.orig_size = le64_load(buf + 16);
	f.bundle_off = le64_load(buf + 24);
	f.bundle_len = le64_load(buf + 32);
	if (f.bundle_off != f.orig_size)
		return ukit_fmt_errf(e, foot_off + 24, "bundle offset 0x%llx is not "
				"the end of the image (0x%llx)",
				(unsigned long long)f.bundle_off,
				(unsigned long long)f.orig_size);
	if (f.bundle_len == 0 || f.bundle_len > BUNDLE_MAX)
		return ukit_fmt_errf(e, foot_off + 32, "bundle length %llu outside "
				"1..%d", (unsigned long long)f.bundle_len,
				BUNDLE_MAX);
	if (ck_add(f.bundle_off, f.bundle_len, &end) || end != foot_off)
		return ukit_fmt_errf(e, foot_off + 24, "bundle [0x%llx, +0x%llx) does "
				"not end at the footer (0x%llx)",
				(unsigned long long)f.bundle_off,
				(unsigned long long)f.bundle_len,
				(unsigned long long)foot_off);
	*out = f;
	return 1;
}

int ukit_sigfoot_read(int fd, struct sigfoot *out, struct fmt_err *e)
{
	uint8_t buf[SIGFOOT_SIZE];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) != 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "stat");
	if (!S_ISREG(st.st_mode) || st.st_size < SIGFOOT_SIZE)
		return 0;
	n = ukit_pread_full(fd, buf, sizeof buf, st.st_size - SIGFOOT_SIZE);
	if (n < 0)
		return ukit_fmt_errno(e, (uint64_t)st.st_size - SIGFOOT_SIZE, "read");
	if (n != SIGFOOT_SIZE)
		return ukit_fmt_errf(e, FMT_NOOFF, "file shrank while reading");
	return ukit_sigfoot_parse(buf, sizeof buf, (uint64_t)st.st_size, out, e);
}
