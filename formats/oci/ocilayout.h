/*
 * ocilayout.h: image references in skopeo's transport syntax, reading
 * OCI image layouts (a directory, or a tar archive of one), and writing
 * them atomically.
 *
 * References: "oci:DIR[:TAG|@DIGEST]", "oci-archive:FILE[:TAG]",
 * "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]".
 *
 * Reading trusts nothing: index.json is parsed by ocijson, blobs are read
 * through a verifying reader that fails at the end when the bytes do not
 * have the descriptor's digest and size.  Writing stages every blob in an
 * unnamed (or hidden) temporary file and makes it visible only at commit,
 * after every digest matched; index.json (or the archive) is replaced
 * atomically last, so a failure or a kill leaves the old layout intact.
 *
 * Implemented in ociref.c, ociblobrd.c, ocilocal.c and ociout.c (what
 * they share: io.h (ukit_read_small)).
 */
#ifndef UKIT_OCILAYOUT_H
#define UKIT_OCILAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "ocijson.h"
#include "ocitar.h"

#define OCI_ARCHIVE_ENTRIES_MAX 65536   /* entries of an oci-archive */
#define OCI_REF_MAX 2048                /* bytes of a reference */
#define OCI_WRITEBACK (8u << 20)        /* bytes between writeback starts */

enum ukit_oci_ref_kind {
	OCI_REF_DIR = 1,        /* oci: */
	OCI_REF_ARCHIVE,        /* oci-archive: */
	OCI_REF_DOCKER,         /* docker:// */
};

struct ukit_oci_ref {
	enum ukit_oci_ref_kind kind;
	char *text;             /* as given */
	char *path;             /* DIR, ARCHIVE */
	char *tag;              /* or NULL */
	char *digest;           /* "sha256:..." or NULL */
	char *host;             /* DOCKER: "host[:port]" */
	char *repo;             /* DOCKER: "a/b" */
};

/* Parse (s).  0 or -1 with (e).  Release with ukit_oci_ref_free(). */
int ukit_oci_ref_parse(const char *s, struct ukit_oci_ref *r,
		       struct fmt_err *e);
void ukit_oci_ref_free(struct ukit_oci_ref *r);

/* ---- verified blob reading ----------------------------------------- */

struct ukit_oci_blobrd {
	int      fd;            /* borrowed */
	uint64_t off, left, size;
	void    *md;            /* EVP_MD_CTX */
	char     want[OCI_DIGEST_LEN + 1];
	char     what[160];
	bool     verified;
};

/* Read (size) bytes at (off) of (fd) that must hash to (digest). */
int ukit_oci_blobrd_init(struct ukit_oci_blobrd *b, int fd, uint64_t off,
			 uint64_t size, const char *digest, const char *what,
			 struct fmt_err *e);
/* A ukit_oci_source: bytes, 0 at the end once the digest matched, -1
 * when it did not (or the file is short). */
ssize_t ukit_oci_blobrd_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e);
/* Read what is left and check the digest.  0 or -1 with (e). */
int ukit_oci_blobrd_finish(struct ukit_oci_blobrd *b, struct fmt_err *e);
void ukit_oci_blobrd_free(struct ukit_oci_blobrd *b);

/* ---- reading a layout ---------------------------------------------- */

struct ukit_oci_local;

/* Open the layout (directory or archive) of (r) and parse index.json. */
int ukit_oci_local_open(const struct ukit_oci_ref *r,
			struct ukit_oci_local **out, struct fmt_err *e);
void ukit_oci_local_close(struct ukit_oci_local *l);

/* The parsed index.json; valid until close. */
const struct ukit_oci_index *ukit_oci_local_index(const struct ukit_oci_local *l);

/*
 * The manifest descriptor of the reference: by digest when (r) has one,
 * else the entry whose ref.name annotation is (r)'s tag, else the only
 * entry when there is exactly one.  (*d) is a copy (annotations
 * referenced).  0 or -1 with (e).
 */
int ukit_oci_local_resolve(const struct ukit_oci_local *l,
			   const struct ukit_oci_ref *r,
			   struct ukit_oci_desc *d, struct fmt_err *e);

/* A descriptor for blob (digest) of (size): its fd (borrowed until close
 * or a new call), offset, and checks that it exists with that size. */
int ukit_oci_local_blob(struct ukit_oci_local *l, const char *digest,
			uint64_t size, int *fd, uint64_t *off,
			struct fmt_err *e);

/* Does the layout hold blob (digest)?  1, 0, -1 with (e). */
int ukit_oci_local_has(struct ukit_oci_local *l, const char *digest,
		       struct fmt_err *e);

/* Read a small blob (≤ OCI_JSON_MAX) whole and verify it.  (*buf) malloc'd
 * and NUL-terminated. */
int ukit_oci_local_read(struct ukit_oci_local *l, const struct ukit_oci_desc *d,
			char **buf, struct fmt_err *e);

/* ---- writing a layout ---------------------------------------------- */

struct ukit_oci_out;
struct ukit_oci_blobw;

/* Start writing the layout of (r) (DIR or ARCHIVE).  (mtime): the mtime
 * of archive entries. */
int ukit_oci_out_open(const struct ukit_oci_ref *r, int64_t mtime,
		      struct ukit_oci_out **out, struct fmt_err *e);

/* Stage a new blob; write it through ukit_oci_blobw_write(). */
int ukit_oci_out_blob_begin(struct ukit_oci_out *w, struct ukit_oci_blobw **b,
			    struct fmt_err *e);
/* A ukit_oci_sink write function; (ctx) is the blobw. */
int ukit_oci_blobw_write(void *ctx, const void *buf, size_t len,
			 struct fmt_err *e);
/*
 * Finish the blob: (digest_out) and (*size_out) get what was written.
 * When (want) is not NULL the digest must equal it and the size
 * (want_size), else -1 with (e) naming both.  The blob is released from
 * (*b) either way.
 */
int ukit_oci_out_blob_end(struct ukit_oci_out *w, struct ukit_oci_blobw *b,
			  const char *want, uint64_t want_size,
			  char digest_out[OCI_DIGEST_LEN + 1],
			  uint64_t *size_out, struct fmt_err *e);
/* Abandon a blob being written (a retried download). */
void ukit_oci_out_blob_drop(struct ukit_oci_blobw *b);
/* Stage (buf, len) as a blob. */
int ukit_oci_out_blob_bytes(struct ukit_oci_out *w, const void *buf,
			    size_t len, char digest_out[OCI_DIGEST_LEN + 1],
			    struct fmt_err *e);

/*
 * Make every staged blob visible, then point index.json at (manifest)
 * under (tag) (NULL: no ref.name) replacing an entry with the same tag,
 * atomically; an archive is written whole.  Frees (w) either way.
 */
int ukit_oci_out_commit(struct ukit_oci_out *w,
			const struct ukit_oci_desc *manifest, const char *tag,
			struct fmt_err *e);
/* Drop everything staged; the destination is untouched.  NULL is fine. */
void ukit_oci_out_abort(struct ukit_oci_out *w);

#endif
