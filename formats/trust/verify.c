/*
 * verify.c: the verify-only core of ukit-sign (see verify.h): bundle,
 * signature, chain, image digest, Solo5 notes, dm-verity root, policy and
 * CMS checks.  Each failed check appends one reason to the result; the
 * messages are the ones ukit-sign verify prints after "IMAGE: ".
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
#include <openssl/x509.h>

#include "bundle.h"
#include "bytes.h"
#include "cert.h"
#include "cms.h"
#include "dsse.h"
#include "err.h"
#include "image.h"
#include "outfile.h"
#include "rollback.h"
#include "tsa.h"
#include "sealfd.h"
#include "sig.h"
#include "sigimg.h"
#include "statement.h"
#include "stream.h"
#include "verify.h"
#include "verity.h"

/* One run: the policy and the image it is checked on. */
struct vrun {
	const struct verify_policy *p;
	const char                 *image;
};

static void reason(struct verify_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* dm-verity, CMS and the sealed copy (h7-edge; defined at the end). */
struct edge_vsink;
static void edge_verify_cms(const struct vrun *o, int fd,
			    struct verify_result *r);
static void edge_check_verity_only(const struct vrun *o, int fd,
				   uint64_t image_len, struct verify_result *r);
static struct edge_vsink *edge_vsink_begin(const struct vrun *o,
					   struct verify_result *r);
static struct stream_sink edge_vsink_sink(struct edge_vsink *vs);
static void edge_vsink_end(struct edge_vsink *vs, int fd,
			   const struct vrun *o, struct verify_result *r);
static void edge_seal(const struct vrun *o, struct verify_result *r);

static void reason(struct verify_result *r, const char *fmt, ...)
{
	char buf[FMT_ERR_MSG + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (json_array_append_new(r->reasons, json_string(buf)) != 0)
		r->lost = true;        /* fail closed: verify_image() returns -1 */
}

/* Read the bundle: p->bundle, else the appended one, else IMAGE.bundle.json. */
static int read_bundle(const struct vrun *o, int fd, char **json,
		       size_t *jlen, uint64_t *image_len, bool *appended,
		       struct verify_result *r)
{
	struct fmt_err e = { .path = o->image };
	struct sigfoot f;
	char *path = NULL;
	uint8_t *data;
	size_t len;
	int rc;

	*appended = false;
	*image_len = STREAM_NO_LIMIT;
	if (o->p->bundle == NULL) {
		rc = sigfoot_read(fd, &f, &e);
		if (rc < 0) {
			reason(r, "appended signature: %s", e.msg);
			return -1;
		}
		if (rc > 0) {
			data = malloc((size_t)f.bundle_len + 1);
			if (data == NULL) {
				reason(r, "out of memory");
				return -1;
			}
			if (pread_full(fd, data, (size_t)f.bundle_len,
				       (off_t)f.bundle_off) != (ssize_t)f.bundle_len) {
				free(data);
				reason(r, "appended bundle: cannot read at 0x%" PRIx64,
				       f.bundle_off);
				return -1;
			}
			*json = (char *)data;
			*jlen = (size_t)f.bundle_len;
			*image_len = f.orig_size;
			*appended = true;
			return 0;
		}
		if (asprintf(&path, "%s.bundle.json", o->image) < 0) {
			reason(r, "out of memory");
			return -1;
		}
	}
	e.path = path ? path : o->p->bundle;
	rc = sig_read_file(e.path, BUNDLE_MAX, &data, &len, &e);
	if (rc != 0)
		reason(r, "bundle %s: %s", e.path, e.msg);
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
	struct fmt_err e = { 0 };

	if (strcmp(b->env.type, DSSE_INTOTO_TYPE) != 0) {
		reason(r, "envelope payloadType \"%.64s\" is not \"%s\"",
		       b->env.type, DSSE_INTOTO_TYPE);
		return -1;
	}
	if (o->p->npub > 0) {
		if (b->ncert > 0) {
			reason(r, "bundle carries a certificate chain, not a public "
			       "key hint: verify it with --ca");
			return -1;
		}
		for (size_t i = 0; i < o->p->npub; i++) {
			if (dsse_verify(&b->env, o->p->pub[i], NULL) < 0)
				continue;
			if (strcmp(b->hint, o->p->pub[i]->keyid) != 0) {
				reason(r, "publicKey hint %.64s does not name the "
				       "verifying key %s", b->hint, o->p->pub[i]->keyid);
				return -1;
			}
			memcpy(r->keyid, o->p->pub[i]->keyid, sizeof r->keyid);
			return 0;
		}
		reason(r, "signature does not verify with any pinned key");
		return -1;
	}
	if (b->ncert == 0) {
		reason(r, "bundle carries a public key hint, no certificate "
		       "chain: verify it with --pub");
		return -1;
	}
	{
		X509 *leaf = NULL;
		struct sig_key *k = NULL;
		int rc = -1;

		if (cert_parse_der(b->cert[0], b->cert_len[0], &leaf, &e) != 0) {
			reason(r, "leaf certificate: %s", e.msg);
			return -1;
		}
		cert_subject(leaf, r->signer, sizeof r->signer);
		if (sig_key_from_pkey(X509_get0_pubkey(leaf), &k, &e) != 0)
			reason(r, "leaf certificate key: %s", e.msg);
		else if (dsse_verify(&b->env, k, &e) < 0)
			reason(r, "signature does not verify with the leaf "
			       "certificate's key");
		else {
			memcpy(r->keyid, k->keyid, sizeof r->keyid);
			rc = 0;
		}
		sig_key_free(k);
		X509_free(leaf);
		return rc;
	}
}

/* The RFC 3161 timestamp over the signature, against the TSA roots. */
static void check_timestamp(const struct vrun *o, const struct bundle *b,
			    struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (o->p->tsa_roots == NULL)
		return;
	if (b->tsr == NULL) {
		reason(r, "no RFC 3161 timestamp in the bundle (--tsa-ca wants "
		       "one)");
		return;
	}
	if (ukit_tsa_verify(b->tsr, b->tsr_len, b->env.sig[0].sig,
			    b->env.sig[0].siglen, o->p->tsa_roots, &r->stamped,
			    &e) != 0) {
		reason(r, "timestamp: %s", e.msg);
		return;
	}
	r->have_stamp = true;
}

/* Chain and usages; after the statement is known (for --check-time). */
static void check_chain(const struct vrun *o, const struct bundle *b,
			struct verify_result *r)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct fmt_err e = { 0 };
	X509 *leaf = NULL;
	time_t at;

	if (untrusted == NULL || cert_parse_der(b->cert[0], b->cert_len[0],
						&leaf, &e) != 0) {
		reason(r, "leaf certificate: %s", e.msg);
		goto out;
	}
	for (size_t i = 1; i < b->ncert; i++) {
		X509 *x;
		if (cert_parse_der(b->cert[i], b->cert_len[i], &x, &e) != 0) {
			reason(r, "certificate %zu: %s", i, e.msg);
			goto out;
		}
		if (cert_self_issued(x)) {
			X509_free(x);
			reason(r, "certificate %zu is self-issued: a bundle must not "
			       "ship the root", i);
			goto out;
		}
		if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			reason(r, "out of memory");
			goto out;
		}
	}
	if (o->p->check_time && !r->have_st && !r->have_stamp) {
		reason(r, "--check-time: no trusted statement time");
		goto out;
	}
	/* a verified timestamp is the time; else the statement's claim */
	at = r->have_stamp ? r->stamped : r->have_st ? r->st.created_t : 0;
	if (ukit_cert_check_signer_crl(leaf, untrusted, o->p->roots,
				       o->p->crls,
				       o->p->check_time || r->have_stamp ?
				       &at : NULL, &e) != 0)
		reason(r, "%s%s", e.msg, r->have_stamp ?
		       " (at the stamped time)" : "");
out:
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
}

static void check_image(const struct vrun *o, int fd,
			uint64_t image_len, struct verify_result *r)
{
	struct stream_sha256 sha = { 0 };
	struct fmt_err e = { .path = o->image };
	struct sigimg img = { 0 };
	struct edge_vsink *vs = NULL;
	const struct verify_progress *pg = o->p->progress;
	uint8_t md[32];
	uint64_t total = 0;
	struct stat st;
	int rc;

	if (stream_sha256_init(&sha, &e) != 0) {
		reason(r, "%s", e.msg);
		return;
	}
	{
		struct stream_sink sinks[2] = {
			{ stream_sha256_update, &sha },
		};
		size_t nsinks = 1;
		struct stream_opts so = {
			.tee_fd = o->p->tee_fd,         /* sealed copy for --exec */
			.limit = image_len,
			.progress = pg ? pg->update : NULL,
			.progress_arg = pg ? pg->arg : NULL,
		};

		vs = edge_vsink_begin(o, r);
		if (vs != NULL && edge_vsink_sink(vs).update != NULL)
			sinks[nsinks++] = edge_vsink_sink(vs);
		fstat(fd, &st);
		if (pg != NULL && pg->start != NULL)
			pg->start(pg->arg, image_len != STREAM_NO_LIMIT ?
				  image_len : (uint64_t)st.st_size);
		rc = stream_fd(fd, o->image, &so, sinks, nsinks, &total, &e);
		if (pg != NULL && pg->end != NULL)
			pg->end(pg->arg);
	}
	edge_vsink_end(vs, fd, o, r);
	if (rc != 0 || stream_sha256_final(&sha, md, &e) != 0) {
		reason(r, "reading image: %s", e.msg);
		stream_sha256_free(&sha);
		return;
	}
	stream_sha256_free(&sha);
	if (total != r->st.size)
		reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, total, r->st.size);
	if (CRYPTO_memcmp(md, r->st.sha256, 32) != 0) {
		char hex[65];
		sig_hex(md, 32, hex);
		reason(r, "image sha256 %s differs from the signed digest %s",
		       hex, r->st.sha256_hex);
	}

	/* Solo5 ABI and manifest: what the image says now vs the statement. */
	if (sigimg_probe(fd, o->image, &img, &e) != 0) {
		reason(r, "reading image notes: %s", e.msg);
		return;
	}
	if (r->st.solo5 == NULL && img.solo5 != NULL)
		reason(r, "image carries Solo5 notes that the statement does "
		       "not cover");
	else if (r->st.solo5 != NULL && img.solo5 == NULL)
		reason(r, "statement has a Solo5 manifest and ABI but the image "
		       "has none");
	else if (r->st.solo5 != NULL) {
		if (!json_equal(json_object_get(r->st.solo5, "abi"),
				json_object_get(img.solo5, "abi")))
			reason(r, "Solo5 ABI in the image differs from the signed one");
		if (!json_equal(json_object_get(r->st.solo5, "manifest"),
				json_object_get(img.solo5, "manifest")))
			reason(r, "Solo5 manifest in the image differs from the "
			       "signed one");
	}
	sigimg_free(&img);
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
		reason(r, "rollback state: out of memory");
		return;
	}
	if (ukit_rollback_load(o->p->rollback_state, s, NULL, &e) != 0) {
		if (e.off != FMT_NOOFF)
			reason(r, "rollback state %s:0x%" PRIx64 ": %s",
			       o->p->rollback_state, e.off, e.msg);
		else
			reason(r, "rollback state %s: %s",
			       o->p->rollback_state, e.msg);
	} else {
		floor = ukit_rollback_floor(s, slot);
		if (r->st.rollback < floor)
			reason(r, "rollback index %" PRIu64 " is below the floor "
			       "%" PRIu64 " of slot %s in %s", r->st.rollback,
			       floor, slot, o->p->rollback_state);
	}
	free(s);
}

static void check_policy(const struct vrun *o, struct verify_result *r)
{
	check_rollback_state(o, r);
	if (r->st.rollback < o->p->min_rollback)
		reason(r, "rollback index %" PRIu64 " is below the minimum %" PRIu64,
		       r->st.rollback, o->p->min_rollback);
	if (o->p->require_format != NULL &&
	    strcmp(o->p->require_format, r->st.format) != 0)
		reason(r, "format is %s, required %s", r->st.format,
		       o->p->require_format);
	if (o->p->require_target != NULL) {
		json_t *abi = r->st.solo5 ? json_object_get(r->st.solo5, "abi") : NULL;
		const char *t = abi ? json_string_value(json_object_get(abi, "target"))
				    : NULL;
		if (t == NULL)
			reason(r, "no Solo5 target in the statement, required %s",
			       o->p->require_target);
		else if (strcmp(t, o->p->require_target) != 0)
			reason(r, "Solo5 target is %s, required %s", t,
			       o->p->require_target);
	}
}

/* ---- dm-verity and CMS (h7-edge) ------------------------------------ */

static void edge_seal(const struct vrun *o, struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (o->p->tee_fd >= 0 && sealfd_seal(o->p->tee_fd, &e) != 0)
		reason(r, "%s", e.msg);
}

static void edge_verify_cms(const struct vrun *o, int fd,
			    struct verify_result *r)
{
	struct fmt_err e = { .path = o->p->cms };
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *certs = NULL;
	struct sig_key *k = NULL;
	X509 *signer = NULL;
	uint8_t *data = NULL;
	size_t len;
	int vfd = fd;

	if (sig_read_file(o->p->cms, CMS_DER_MAX, &data, &len, &e) != 0) {
		reason(r, "CMS signature %s: %s", o->p->cms, e.msg);
		return;
	}
	if (cms_parse(data, len, &cms, &e) != 0) {
		reason(r, "CMS signature %s:0x%" PRIx64 ": %s", o->p->cms, e.off,
		       e.msg);
		goto out;
	}
	e.path = o->image;
	if (o->p->tee_fd >= 0) {
		/* Verify the sealed copy itself: it is what will run. */
		struct stream_opts so = { .tee_fd = o->p->tee_fd,
					  .limit = STREAM_NO_LIMIT };
		uint64_t total;
		if (stream_fd(fd, o->image, &so, NULL, 0, &total, &e) != 0) {
			reason(r, "reading image: %s", e.msg);
			goto out;
		}
		edge_seal(o, r);
		vfd = o->p->tee_fd;
	}
	if (cms_verify_fd(cms, vfd, &signer, &certs, &e) != 0) {
		reason(r, "%s", e.msg);
		goto out;
	}
	cert_subject(signer, r->signer, sizeof r->signer);
	if (sig_key_from_pkey(X509_get0_pubkey(signer), &k, &e) == 0)
		memcpy(r->keyid, k->keyid, sizeof r->keyid);
	else
		reason(r, "signer key: %s", e.msg);
	if (ukit_cert_check_signer_crl(signer, certs, o->p->roots, o->p->crls,
				       NULL, &e) != 0)
		reason(r, "%s", e.msg);
out:
	sig_key_free(k);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(data);
}

/* The signed verity parameters, or -1 with a reason. */
static int edge_signed_verity(struct verify_result *r, uint8_t *root,
			      uint8_t *salt, size_t *salt_len)
{
	struct fmt_err e = { 0 };

	if (verity_json_parse(r->st.verity, root, salt, salt_len, &e) != 0) {
		reason(r, "statement: %s", e.msg);
		return -1;
	}
	return 0;
}

static void edge_compare_root(struct verify_result *r, const uint8_t *got,
			      const uint8_t *want)
{
	char a[2 * VERITY_DIGEST + 1], b[2 * VERITY_DIGEST + 1];

	if (CRYPTO_memcmp(got, want, VERITY_DIGEST) == 0)
		return;
	sig_hex(got, VERITY_DIGEST, a);
	sig_hex(want, VERITY_DIGEST, b);
	reason(r, "dm-verity root %s differs from the signed root %s", a, b);
}

/* verify --verity-only: the tree alone, hashed on every core. */
static void edge_check_verity_only(const struct vrun *o, int fd,
				   uint64_t image_len, struct verify_result *r)
{
	uint8_t want[VERITY_DIGEST], got[VERITY_DIGEST];
	uint8_t salt[VERITY_SALT_MAX];
	size_t salt_len;
	struct fmt_err e = { .path = o->image };
	struct image *img = NULL;
	bool qcow2 = strcmp(r->st.format, "qcow2") == 0;

	if (r->st.verity == NULL) {
		reason(r, "--verity-only: the statement has no dm-verity root "
		       "(sign with --verity, or verify without --verity-only)");
		return;
	}
	if (edge_signed_verity(r, want, salt, &salt_len) != 0)
		return;
	if (r->st.solo5 != NULL) {
		reason(r, "--verity-only checks disk images; this statement "
		       "covers a Solo5 ELF (verify it without --verity-only)");
		return;
	}
	if (image_len != STREAM_NO_LIMIT && !qcow2) {
		reason(r, "--verity-only does not read appended signatures");
		return;
	}
	if (image_open(fd, o->image, qcow2 ? IMG_QCOW2 : IMG_RAW, NULL, &img,
		       &e) != 0) {
		reason(r, "reading image: %s", e.msg);
		return;
	}
	/* raw: the file is the disk, so its size is the signed size; qcow2:
	 * the root itself fixes the number of blocks of the guest view */
	if (!qcow2 && image_size(img) != r->st.size)
		reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, image_size(img), r->st.size);
	else if (verity_image_parallel(img, fd, salt, salt_len, 0, got, &e) != 0)
		reason(r, "dm-verity root: %s", e.msg);
	else
		edge_compare_root(r, got, want);
	image_close(img);
}

/* verify's tree, built in the same pass as the SHA-256. */
struct edge_vsink {
	struct verity  *v;               /* NULL for qcow2 (guest view) */
	bool            failed;
	struct fmt_err  err;
	uint8_t         want[VERITY_DIGEST];
	uint8_t         salt[VERITY_SALT_MAX];
	size_t          salt_len;
};

/* Never stops the pass: a tree error is one more reason at the end. */
static int edge_vsink_update(void *ctx, const uint8_t *buf, size_t len,
			     uint64_t off, struct fmt_err *e)
{
	struct edge_vsink *vs = ctx;

	(void)off;
	(void)e;
	if (!vs->failed && verity_update(vs->v, buf, len, &vs->err) != 0)
		vs->failed = true;
	return 0;
}

static struct edge_vsink *edge_vsink_begin(const struct vrun *o,
					   struct verify_result *r)
{
	struct edge_vsink *vs;

	if (r->st.verity == NULL)
		return NULL;
	vs = calloc(1, sizeof *vs);
	if (vs == NULL) {
		reason(r, "dm-verity: out of memory");
		return NULL;
	}
	vs->err.path = o->image;
	if (edge_signed_verity(r, vs->want, vs->salt, &vs->salt_len) != 0) {
		free(vs);
		return NULL;
	}
	if (strcmp(r->st.format, "qcow2") != 0 &&
	    verity_init(r->st.size, vs->salt, vs->salt_len, -1, &vs->v,
			&vs->err) != 0)
		vs->failed = true;
	return vs;
}

static struct stream_sink edge_vsink_sink(struct edge_vsink *vs)
{
	struct stream_sink s = { NULL, NULL };

	if (vs->v != NULL) {
		s.update = edge_vsink_update;
		s.ctx = vs;
	}
	return s;
}

static void edge_vsink_end(struct edge_vsink *vs, int fd,
			   const struct vrun *o, struct verify_result *r)
{
	uint8_t got[VERITY_DIGEST];
	struct image *img;

	if (vs == NULL)
		return;
	if (!vs->failed && vs->v == NULL) {
		/* qcow2: the tree covers the guest view, a second pass */
		if (image_open(fd, o->image, IMG_QCOW2, NULL, &img,
			       &vs->err) != 0) {
			vs->failed = true;
		} else {
			if (verity_image(img, vs->salt, vs->salt_len, -1, got,
					 &vs->err) != 0)
				vs->failed = true;
			image_close(img);
		}
	} else if (!vs->failed && verity_final(vs->v, got, &vs->err) != 0) {
		vs->failed = true;
	}
	if (vs->failed)
		reason(r, "dm-verity root: %s", vs->err.msg);
	else
		edge_compare_root(r, got, vs->want);
	verity_free(vs->v);
	free(vs);
}


/*
 * A signed dm-verity root binds every byte of a raw or qcow2 disk as
 * strongly as the SHA-256 (with the size), and its tree hashes on every
 * core: verify checks that instead of one SHA-256 stream, unless the
 * bytes must be streamed anyway (--exec's sealed copy, an appended
 * signature) or the statement covers a Solo5 ELF (whose notes are read).
 */
static bool verity_fast(const struct vrun *o, uint64_t image_len,
			const struct verify_result *r)
{
	return r->st.verity != NULL && r->st.solo5 == NULL &&
	       o->p->tee_fd < 0 && image_len == STREAM_NO_LIMIT &&
	       (strcmp(r->st.format, "raw") == 0 ||
		strcmp(r->st.format, "qcow2") == 0);
}

/* ---- entry point ---------------------------------------------------- */

int verify_image(int fd, const char *path, const struct verify_policy *p,
		 struct verify_result *r, struct fmt_err *e)
{
	struct vrun run = { .p = p, .image = path };
	const struct vrun *o = &run;
	struct bundle b = { 0 };
	struct fmt_err be = { 0 };
	char *json = NULL;
	size_t jlen = 0;
	uint64_t image_len = 0;
	bool appended, have_b = false, own_fd = false;

	memset(r, 0, sizeof *r);
	r->reasons = json_array();
	if (r->reasons == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	if (fd < 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			reason(r, "cannot open: %s", strerror(errno));
			goto report;
		}
		own_fd = true;
	}
	if (p->cms != NULL) {
		edge_verify_cms(o, fd, r);
		goto report;
	}
	if (read_bundle(o, fd, &json, &jlen, &image_len, &appended, r) != 0)
		goto report;
	if (bundle_parse(json, jlen, &b, &be) != 0) {
		reason(r, "bundle: %s", be.msg);
		goto report;
	}
	have_b = true;
	if (check_signature(o, &b, r) != 0)
		goto report;
	check_timestamp(o, &b, r);
	/* Only the verified payload bytes are parsed. */
	if (stmt_parse(b.env.payload, b.env.payload_len, &r->st, &be) != 0) {
		reason(r, "statement: %s", be.msg);
		goto chain;
	}
	r->have_st = true;
	r->statement = r->st.root;
	if (p->verity_only || verity_fast(o, image_len, r))
		edge_check_verity_only(o, fd, image_len, r);
	else
		check_image(o, fd, image_len, r);
	edge_seal(o, r);
	check_policy(o, r);
chain:
	if (p->roots != NULL)
		check_chain(o, &b, r);
report:
	r->verified = json_array_size(r->reasons) == 0 && !r->lost;
	if (own_fd)
		close(fd);
	if (have_b)
		bundle_free(&b);
	free(json);
	if (r->lost)
		return fmt_errf(e, FMT_NOOFF,
				"out of memory recording a failed check");
	return 0;
}

void verify_result_free(struct verify_result *r)
{
	if (r->have_st)
		stmt_free(&r->st);
	json_decref(r->reasons);
	r->reasons = NULL;
	r->statement = NULL;
	r->have_st = false;
}
