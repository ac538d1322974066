/*
 * verify.c: the full verifier (see verify.h): the core checks
 * (verify_core.c) plus signatures by certificate chains to a root, their
 * usages and validity, detached CMS signatures, and dm-verity roots, built
 * in the same pass as the SHA-256 or on every core (--verity-only).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "bundle.h"
#include "cert.h"
#include "cms.h"
#include "dsse.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "sig.h"
#include "statement.h"
#include "tsa.h"
#include "stream.h"
#include "verify.h"
#include "verify_int.h"
#include "verity.h"

/* The signature by the leaf of a certificate chain (checked later). */
static int chain_signature(const struct vrun *o, const struct bundle *b,
			   struct verify_result *r)
{
	struct fmt_err e = { 0 };
	X509 *leaf = NULL;
	struct sig_key *k = NULL;
	int rc = -1;

	(void)o;
	if (b->ncert == 0) {
		ukit_verify_reason(r, "bundle carries a public key hint, no certificate "
		       "chain: verify it with --pub");
		return -1;
	}
	if (ukit_cert_parse_der(b->cert[0], b->cert_len[0], &leaf, &e) != 0) {
		ukit_verify_reason(r, "leaf certificate: %s", e.msg);
		return -1;
	}
	ukit_cert_subject(leaf, r->signer, sizeof r->signer);
	if (ukit_sig_key_from_pkey(X509_get0_pubkey(leaf), &k, &e) != 0)
		ukit_verify_reason(r, "leaf certificate key: %s", e.msg);
	else if (ukit_dsse_verify(&b->env, k, &e) < 0)
		ukit_verify_reason(r, "signature does not verify with the leaf "
		       "certificate's key");
	else {
		memcpy(r->keyid, k->keyid, sizeof r->keyid);
		rc = 0;
	}
	ukit_sig_key_free(k);
	X509_free(leaf);
	return rc;
}

/* The RFC 3161 timestamp over the signature, against the TSA roots. */
static void check_timestamp(const struct vrun *o, const struct bundle *b,
			    struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (o->p->tsa_roots == NULL)
		return;
	if (b->tsr == NULL) {
		ukit_verify_reason(r, "no RFC 3161 timestamp in the bundle (--tsa-ca wants "
		       "one)");
		return;
	}
	if (ukit_tsa_verify(b->tsr, b->tsr_len, b->env.sig[0].sig,
			    b->env.sig[0].siglen, o->p->tsa_roots, &r->stamped,
			    &e) != 0) {
		ukit_verify_reason(r, "timestamp: %s", e.msg);
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

	if (untrusted == NULL || ukit_cert_parse_der(b->cert[0], b->cert_len[0],
						&leaf, &e) != 0) {
		ukit_verify_reason(r, "leaf certificate: %s", e.msg);
		goto out;
	}
	for (size_t i = 1; i < b->ncert; i++) {
		X509 *x;
		if (ukit_cert_parse_der(b->cert[i], b->cert_len[i], &x, &e) != 0) {
			ukit_verify_reason(r, "certificate %zu: %s", i, e.msg);
			goto out;
		}
		if (ukit_cert_self_issued(x)) {
			X509_free(x);
			ukit_verify_reason(r, "certificate %zu is self-issued: a bundle must not "
			       "ship the root", i);
			goto out;
		}
		if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			ukit_verify_reason(r, "out of memory");
			goto out;
		}
	}
	if (o->p->check_time && !r->have_st && !r->have_stamp) {
		ukit_verify_reason(r, "--check-time: no trusted statement time");
		goto out;
	}
	/* a verified timestamp is the time; else the statement's claim */
	at = r->have_stamp ? r->stamped : r->have_st ? r->st.created_t : 0;
	if (ukit_cert_check_signer_crl(leaf, untrusted, o->p->roots,
				       o->p->crls,
				       o->p->check_time || r->have_stamp ?
				       &at : NULL, &e) != 0)
		ukit_verify_reason(r, "%s%s", e.msg, r->have_stamp ?
		       " (at the stamped time)" : "");
out:
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
}

/* ---- CMS and dm-verity ---------------------------------------------- */

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

	if (ukit_sig_read_file(o->p->cms, CMS_DER_MAX, &data, &len, &e) != 0) {
		ukit_verify_reason(r, "CMS signature %s: %s", o->p->cms, e.msg);
		return;
	}
	if (ukit_cms_parse(data, len, &cms, &e) != 0) {
		ukit_verify_reason(r, "CMS signature %s:0x%" PRIx64 ": %s", o->p->cms, e.off,
		       e.msg);
		goto out;
	}
	e.path = o->image;
	if (o->p->tee_fd >= 0) {
		/* Verify the sealed copy itself: it is what will run. */
		struct stream_opts so = { .tee_fd = o->p->tee_fd,
					  .limit = STREAM_NO_LIMIT };
		uint64_t total;
		if (ukit_stream_fd(fd, o->image, &so, NULL, 0, &total, &e) != 0) {
			ukit_verify_reason(r, "reading image: %s", e.msg);
			goto out;
		}
		ukit_verify_seal(o, r);
		vfd = o->p->tee_fd;
	}
	if (ukit_cms_verify_fd(cms, vfd, &signer, &certs, &e) != 0) {
		ukit_verify_reason(r, "%s", e.msg);
		goto out;
	}
	ukit_cert_subject(signer, r->signer, sizeof r->signer);
	if (ukit_sig_key_from_pkey(X509_get0_pubkey(signer), &k, &e) == 0)
		memcpy(r->keyid, k->keyid, sizeof r->keyid);
	else
		ukit_verify_reason(r, "signer key: %s", e.msg);
	if (ukit_cert_check_signer_crl(signer, certs, o->p->roots, o->p->crls,
				       NULL, &e) != 0)
		ukit_verify_reason(r, "%s", e.msg);
out:
	ukit_sig_key_free(k);
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

	if (ukit_verity_json_parse(r->st.verity, root, salt, salt_len, &e) != 0) {
		ukit_verify_reason(r, "statement: %s", e.msg);
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
	ukit_sig_hex(got, VERITY_DIGEST, a);
	ukit_sig_hex(want, VERITY_DIGEST, b);
	ukit_verify_reason(r, "dm-verity root %s differs from the signed root %s", a, b);
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
		ukit_verify_reason(r, "--verity-only: the statement has no dm-verity root "
		       "(sign with --verity, or verify without --verity-only)");
		return;
	}
	if (edge_signed_verity(r, want, salt, &salt_len) != 0)
		return;
	if (r->st.solo5 != NULL) {
		ukit_verify_reason(r, "--verity-only checks disk images; this statement "
		       "covers a Solo5 ELF (verify it without --verity-only)");
		return;
	}
	if (image_len != STREAM_NO_LIMIT && !qcow2) {
		ukit_verify_reason(r, "--verity-only does not read appended signatures");
		return;
	}
	if (ukit_image_open(fd, o->image, qcow2 ? IMG_QCOW2 : IMG_RAW, NULL, &img,
		       &e) != 0) {
		ukit_verify_reason(r, "reading image: %s", e.msg);
		return;
	}
	/* raw: the file is the disk, so its size is the signed size; qcow2:
	 * the root itself fixes the number of blocks of the guest view */
	if (!qcow2 && ukit_image_size(img) != r->st.size)
		ukit_verify_reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, ukit_image_size(img), r->st.size);
	else if (ukit_verity_image_parallel(img, fd, salt, salt_len, 0, got, &e) != 0)
		ukit_verify_reason(r, "dm-verity root: %s", e.msg);
	else
		edge_compare_root(r, got, want);
	ukit_image_close(img);
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
	if (!vs->failed && ukit_verity_update(vs->v, buf, len, &vs->err) != 0)
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
		ukit_verify_reason(r, "dm-verity: out of memory");
		return NULL;
	}
	vs->err.path = o->image;
	if (edge_signed_verity(r, vs->want, vs->salt, &vs->salt_len) != 0) {
		free(vs);
		return NULL;
	}
	if (strcmp(r->st.format, "qcow2") != 0 &&
	    ukit_verity_init(r->st.size, vs->salt, vs->salt_len, -1, &vs->v,
			&vs->err) != 0)
		vs->failed = true;
	return vs;
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
		if (ukit_image_open(fd, o->image, IMG_QCOW2, NULL, &img,
			       &vs->err) != 0) {
			vs->failed = true;
		} else {
			if (ukit_verity_image(img, vs->salt, vs->salt_len, -1, got,
					 &vs->err) != 0)
				vs->failed = true;
			ukit_image_close(img);
		}
	} else if (!vs->failed && ukit_verity_final(vs->v, got, &vs->err) != 0) {
		vs->failed = true;
	}
	if (vs->failed)
		ukit_verify_reason(r, "dm-verity root: %s", vs->err.msg);
	else
		edge_compare_root(r, got, vs->want);
	ukit_verity_free(vs->v);
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

/* The dm-verity tree instead of the SHA-256 pass, when it applies. */
static bool verity(const struct vrun *o, int fd, uint64_t image_len,
		   struct verify_result *r)
{
	if (!o->p->verity_only && !verity_fast(o, image_len, r))
		return false;
	edge_check_verity_only(o, fd, image_len, r);
	return true;
}

/* The pass over the image: overlapped reads, progress, the verity sink. */
static int pass(const struct vrun *o, int fd, const struct stream_opts *so,
		const struct stream_sink *sink, uint64_t *total,
		struct verify_result *r, struct fmt_err *e)
{
	const struct verify_progress *pg = o->p->progress;
	struct edge_vsink *vs = edge_vsink_begin(o, r);
	struct stream_sink sinks[2] = { *sink };
	struct stream_opts opts = *so;
	size_t nsinks = 1;
	struct stat st;
	int rc;

	if (vs != NULL && vs->v != NULL)
		sinks[nsinks++] = (struct stream_sink){ edge_vsink_update, vs };
	if (pg != NULL) {
		opts.progress = pg->update;
		opts.progress_arg = pg->arg;
	}
	if (pg != NULL && pg->start != NULL)
		pg->start(pg->arg, so->limit != STREAM_NO_LIMIT ? so->limit :
			  fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0);
	rc = ukit_stream_fd(fd, o->image, &opts, sinks, nsinks, total, e);
	if (pg != NULL && pg->end != NULL)
		pg->end(pg->arg);
	edge_vsink_end(vs, fd, o, r);
	return rc;
}

static const struct verify_ext full_ext = {
	.pass = pass,
	.chain_signature = chain_signature,
	.timestamp = check_timestamp,
	.chain = check_chain,
	.cms = edge_verify_cms,
	.verity = verity,
};

int ukit_verify_image(int fd, const char *path, const struct verify_policy *p,
		 struct verify_result *r, struct fmt_err *e)
{
	return ukit_verify_run(fd, path, p, &full_ext, r, e);
}
