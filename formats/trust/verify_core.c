/*
 * verify_core.c: the checks every verifier makes (see verify.h): the
 * bundle (given, appended or IMAGE.bundle.json), its signature with a
 * pinned key, the statement against the image bytes (size, SHA-256,
 * Solo5 ABI and manifest) and the policy (rollback, format, target).  The
 * full verifier (verify.c) adds certificate chains, CMS and dm-verity
 * through struct verify_ext; ukit-verify links this file alone.  Each
 * failed check appends one reason to the result; the messages are the ones
 * ukit-sign verify prints after "IMAGE: ".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "bundle.h"
#include "dsse.h"
#include "err.h"
#include "io.h"
#include "rollback.h"
#include "sealfd.h"
#include "sig.h"
#include "solo5.h"
#include "statement.h"
#include "stream.h"
#include "verify.h"
#include "verify_int.h"

void ukit_verify_reason(struct verify_result *r, const char *fmt, ...)
{
	char buf[FMT_ERR_MSG + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (json_array_append_new(r->reasons, json_string(buf)) != 0)
		r->lost = true;        /* fail closed: ukit_verify_image() returns -1 */
}

/* Read the bundle: p->bundle, else the appended one, else IMAGE.bundle.json. */
static int read_bundle(const struct vrun *o, int fd, char **json,
		       size_t *jlen, uint64_t *image_len, struct verify_result *r)
{
	struct fmt_err e = { .path = o->image };
	struct sigfoot f;
	char *path = NULL;
	uint8_t *data;
	size_t len;
	int rc;

	*image_len = STREAM_NO_LIMIT;
	if (o->p->bundle == NULL) {
		rc = ukit_sigfoot_read(fd, &f, &e);
		if (rc < 0) {
			ukit_verify_reason(r, "appended signature: %s", e.msg);
			return -1;
		}
		if (rc > 0) {
			data = malloc((size_t)f.bundle_len + 1);
			if (data == NULL) {
				ukit_verify_reason(r, "out of memory");
				return -1;
			}
			if (ukit_pread_full(fd, data, (size_t)f.bundle_len,
				       (off_t)f.bundle_off) != (ssize_t)f.bundle_len) {
				free(data);
				ukit_verify_reason(r, "appended bundle: cannot read at 0x%" PRIx64,
				       f.bundle_off);
				return -1;
			}
			*json = (char *)data;
			*jlen = (size_t)f.bundle_len;
			*image_len = f.orig_size;
			return 0;
		}
		if (asprintf(&path, "%s.bundle.json", o->image) < 0) {
			ukit_verify_reason(r, "out of memory");
			return -1;
		}
	}
	e.path = path ? path : o->p->bundle;
	rc = ukit_sig_read_small(e.path, BUNDLE_MAX, false, &data, &len, &e);
	if (rc != 0)
		ukit_verify_reason(r, "bundle %s: %s", e.path, e.msg);
	else {
		*json = (char *)data;
		*jlen = len;
	}
	free(path);
	return rc;
}

/* Signature over the envelope with a pinned key or a chained leaf. */
static int check_signature(const struct vrun *o, const struct bundle *b,
			   struct verify_result *r)
{
	if (strcmp(b->env.type, DSSE_INTOTO_TYPE) != 0) {
		ukit_verify_reason(r, "envelope payloadType \"%.64s\" is not \"%s\"",
		       b->env.type, DSSE_INTOTO_TYPE);
		return -1;
	}
	if (o->p->npub == 0 && (o->x == NULL || o->x->chain_signature == NULL)) {
		ukit_verify_reason(r, "no pinned key: this verifier takes "
			      "pinned keys only");
		return -1;
	}
	if (o->p->npub == 0)
		return o->x->chain_signature(o, b, r);
	if (b->ncert > 0) {
		ukit_verify_reason(r, "bundle carries a certificate chain, not a public "
		       "key hint: verify it with --ca");
		return -1;
	}
	for (size_t i = 0; i < o->p->npub; i++) {
		if (ukit_dsse_verify(&b->env, o->p->pub[i], NULL) < 0)
			continue;
		if (strcmp(b->hint, o->p->pub[i]->keyid) != 0) {
			ukit_verify_reason(r, "publicKey hint %.64s does not name the "
			       "verifying key %s", b->hint, o->p->pub[i]->keyid);
			return -1;
		}
		memcpy(r->keyid, o->p->pub[i]->keyid, sizeof r->keyid);
		return 0;
	}
	ukit_verify_reason(r, "signature does not verify with any pinned key");
	return -1;
}

static void check_image(const struct vrun *o, int fd,
			uint64_t image_len, struct verify_result *r)
{
	struct stream_sha256 sha = { 0 };
	struct stream_sink sink = { ukit_stream_sha256_update, &sha };
	struct stream_opts so = { .tee_fd = o->p->tee_fd, .limit = image_len };
	struct fmt_err e = { .path = o->image };
	json_t *solo5 = NULL;
	uint8_t md[32];
	uint64_t total = 0;
	int rc;

	if (ukit_stream_sha256_init(&sha, &e) != 0) {
		ukit_verify_reason(r, "%s", e.msg);
		return;
	}
	if (o->x != NULL && o->x->pass != NULL)
		rc = o->x->pass(o, fd, &so, &sink, &total, r, &e);
	else
		rc = ukit_stream_read(fd, o->image, &so, &sink, 1, &total, &e);
	if (rc == 0)
		rc = ukit_stream_sha256_final(&sha, md, &e);
	ukit_stream_sha256_free(&sha);
	if (rc != 0) {
		ukit_verify_reason(r, "reading image: %s", e.msg);
		return;
	}
	if (total != r->st.size)
		ukit_verify_reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, total, r->st.size);
	if (CRYPTO_memcmp(md, r->st.sha256, 32) != 0) {
		char hex[65];
		ukit_sig_hex(md, 32, hex);
		ukit_verify_reason(r, "image sha256 %s differs from the signed digest %s",
		       hex, r->st.sha256_hex);
	}

	/* Solo5 ABI and manifest: what the image says now vs the statement. */
	if (ukit_solo5_facts(fd, o->image, &solo5, &e) != 0) {
		ukit_verify_reason(r, "reading image notes: %s", e.msg);
		return;
	}
	if (r->st.solo5 == NULL && solo5 != NULL)
		ukit_verify_reason(r, "image carries Solo5 notes that the statement does "
		       "not cover");
	else if (r->st.solo5 != NULL && solo5 == NULL)
		ukit_verify_reason(r, "statement has a Solo5 manifest and ABI but the image "
		       "has none");
	else if (r->st.solo5 != NULL) {
		if (!json_equal(json_object_get(r->st.solo5, "abi"),
				json_object_get(solo5, "abi")))
			ukit_verify_reason(r, "Solo5 ABI in the image differs from the signed one");
		if (!json_equal(json_object_get(r->st.solo5, "manifest"),
				json_object_get(solo5, "manifest")))
			ukit_verify_reason(r, "Solo5 manifest in the image differs from the "
			       "signed one");
	}
	json_decref(solo5);
}

/* The floor of the device's rollback state (rollback.h); fails closed. */
static void check_rollback_state(const struct vrun *o, struct verify_result *r)
{
	const char *slot = o->p->rollback_slot ? o->p->rollback_slot
					       : UKIT_ROLLBACK_DEFAULT;
	struct ukit_rollback_state *s;
	struct fmt_err e = { 0 };
	uint64_t floor;

	if (o->p->rollback_state == NULL)
		return;
	if ((s = malloc(sizeof *s)) == NULL) {
		ukit_verify_reason(r, "rollback state: out of memory");
		return;
	}
	if (ukit_rollback_load(o->p->rollback_state, s, &e) != 0) {
		if (e.off != FMT_NOOFF)
			ukit_verify_reason(r, "rollback state %s:0x%" PRIx64 ": %s",
			       o->p->rollback_state, e.off, e.msg);
		else
			ukit_verify_reason(r, "rollback state %s: %s",
			       o->p->rollback_state, e.msg);
	} else {
		floor = ukit_rollback_floor(s, slot);
		if (r->st.rollback < floor)
			ukit_verify_reason(r, "rollback index %" PRIu64 " is below the floor "
			       "%" PRIu64 " of slot %s in %s", r->st.rollback,
			       floor, slot, o->p->rollback_state);
	}
	free(s);
}

static void check_policy(const struct vrun *o, struct verify_result *r)
{
	check_rollback_state(o, r);
	if (r->st.rollback < o->p->min_rollback)
		ukit_verify_reason(r, "rollback index %" PRIu64 " is below the minimum %" PRIu64,
		       r->st.rollback, o->p->min_rollback);
	if (o->p->require_format != NULL &&
	    strcmp(o->p->require_format, r->st.format) != 0)
		ukit_verify_reason(r, "format is %s, required %s", r->st.format,
		       o->p->require_format);
	if (o->p->require_target != NULL) {
		json_t *abi = r->st.solo5 ? json_object_get(r->st.solo5, "abi") : NULL;
		const char *t = abi ? json_string_value(json_object_get(abi, "target"))
				    : NULL;
		if (t == NULL)
			ukit_verify_reason(r, "no Solo5 target in the statement, required %s",
			       o->p->require_target);
		else if (strcmp(t, o->p->require_target) != 0)
			ukit_verify_reason(r, "Solo5 target is %s, required %s", t,
			       o->p->require_target);
	}
}

void ukit_verify_seal(const struct vrun *o, struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (o->p->tee_fd >= 0 && ukit_sealfd_seal(o->p->tee_fd, &e) != 0)
		ukit_verify_reason(r, "%s", e.msg);
}

int ukit_verify_run(int fd, const char *path, const struct verify_policy *p,
	       const struct verify_ext *x, struct verify_result *r,
	       struct fmt_err *e)
{
	struct vrun run = { .p = p, .image = path, .x = x };
	const struct vrun *o = &run;
	struct bundle b = { 0 };
	struct fmt_err be = { 0 };
	char *json = NULL;
	size_t jlen = 0;
	uint64_t image_len = 0;
	bool own_fd = false;
	struct stat st;

	memset(r, 0, sizeof *r);
	r->reasons = json_array();
	if (r->reasons == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (fd < 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		own_fd = fd >= 0;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			ukit_verify_reason(r, "is a directory");
			goto report;
		}
		if (fd < 0) {
			ukit_verify_reason(r, "cannot open: %s", strerror(errno));
			goto report;
		}
	}
	if (p->cms != NULL) {
		if (x != NULL && x->cms != NULL)
			x->cms(o, fd, r);
		else
			ukit_verify_reason(r, "a CMS signature needs the full verifier");
		goto report;
	}
	if (read_bundle(o, fd, &json, &jlen, &image_len, r) != 0)
		goto report;
	if (ukit_bundle_parse(json, jlen, &b, &be) != 0) {
		ukit_verify_reason(r, "bundle: %s", be.msg);
		goto report;
	}
	if (check_signature(o, &b, r) != 0)
		goto report;
	if (x != NULL && x->timestamp != NULL)
		x->timestamp(o, &b, r);
	else if (p->tsa_roots != NULL)
		ukit_verify_reason(r, "timestamps need the full verifier");
	/* Only the verified payload bytes are parsed. */
	if (ukit_stmt_parse(b.env.payload, b.env.payload_len, &r->st, &be) != 0) {
		ukit_verify_reason(r, "statement: %s", be.msg);
		goto chain;
	}
	r->have_st = true;
	r->statement = r->st.root;
	if (x != NULL && x->verity != NULL && x->verity(o, fd, image_len, r))
		;       /* the dm-verity tree stood for the SHA-256 pass */
	else if (p->verity_only)
		ukit_verify_reason(r, "--verity-only needs the full verifier");
	else
		check_image(o, fd, image_len, r);
	ukit_verify_seal(o, r);
	check_policy(o, r);
chain:
	if (p->roots != NULL && x != NULL && x->chain != NULL)
		x->chain(o, &b, r);
	else if (p->roots != NULL)
		ukit_verify_reason(r, "certificate chains need the full verifier");
report:
	r->verified = json_array_size(r->reasons) == 0 && !r->lost;
	if (own_fd)
		close(fd);
	ukit_bundle_free(&b);         /* zeroed unless parsed */
	free(json);
	if (r->lost)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"out of memory recording a failed check");
	return 0;
}

int ukit_verify_image_pinned(int fd, const char *path,
			const struct verify_policy *p,
			struct verify_result *r, struct fmt_err *e)
{
	return ukit_verify_run(fd, path, p, NULL, r, e);
}

void ukit_verify_result_free(struct verify_result *r)
{
	if (r->have_st)
		ukit_stmt_free(&r->st);
	json_decref(r->reasons);
	r->reasons = NULL;
	r->statement = NULL;
	r->have_st = false;
}
