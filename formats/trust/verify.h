/*
 * verify.h: the verify-only core of ukit-sign, the part an edge device
 * links without the CLI.  It decides whether an image holds against a
 * policy: the bundle (given, appended or IMAGE.bundle.json), the DSSE
 * signature with a pinned key or a certificate chain to a root, the
 * statement against the image bytes (size, SHA-256, Solo5 ABI and manifest,
 * dm-verity root), the policy (rollback, format, target, signing time),
 * or a detached CMS signature instead.  It never prints and never exits:
 * every failed check is one reason string in the result.
 *
 * What stays in ukit-sign (sign/sign.c): option parsing, loading --pub
 * keys and --ca roots from files, printing (text and --json), the exit
 * code, creating the sealed memfd for --exec and the fork/exec itself.
 */
#ifndef UKIT_VERIFY_H
#define UKIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "err.h"
#include "sig.h"
#include "statement.h"

/* Progress of the pass over the image bytes; any hook may be NULL. */
struct verify_progress {
	void  (*start)(void *arg, uint64_t total);
	void  (*update)(void *arg, uint64_t done);
	void  (*end)(void *arg);
	void   *arg;
};

struct verify_policy {
	/* Exactly one of: pinned public keys, or CA roots (borrowed). */
	struct sig_key *const *pub;
	size_t          npub;
	STACK_OF(X509) *roots;
	/* Bundle file; NULL: the appended one, else IMAGE.bundle.json. */
	const char     *bundle;
	uint64_t        min_rollback;
	const char     *require_format;  /* NULL: any */
	const char     *require_target;  /* NULL: any Solo5 target, or none */
	bool            check_time;      /* chain checked at the signing time */
	bool            verity_only;     /* the dm-verity tree, not SHA-256 */
	const char     *cms;             /* detached CMS signature (needs roots) */
	int             tee_fd;          /* sealfd copy of the bytes, or -1 */
	/* Device anti-rollback state (rollback.h): the floor of this slot
	 * is a minimum like min_rollback.  NULL: none.  Raising the floor
	 * after success is the caller's (ukit_rollback_raise()). */
	const char     *rollback_state;
	const char     *rollback_slot;   /* NULL: "default" */
	/* Revocation lists (crl.h, borrowed): every certificate of the
	 * chain is checked against its issuer's list.  NULL: none. */
	STACK_OF(X509_CRL) *crls;
	/* RFC 3161 TSA roots (tsa.h, borrowed): the bundle must carry a
	 * timestamp that verifies against them, and the signing certificate
	 * is checked at the stamped time.  NULL: timestamps are ignored. */
	STACK_OF(X509) *tsa_roots;
	const struct verify_progress *progress;   /* may be NULL */
};

struct verify_result {
	bool        verified;      /* every check held: reasons is empty */
	json_t     *reasons;       /* array of strings, one per failed check */
	char        keyid[SIG_KEYID_LEN + 1];     /* "" when unknown */
	char        signer[512];   /* leaf subject, "" with a pinned key */
	json_t     *statement;     /* the statement whose signature verified
				    * (even if later checks failed), or NULL;
				    * borrowed from st */
	struct stmt st;            /* parsed statement (when have_st) */
	bool        have_st;
	bool        lost;          /* a reason could not be recorded */
	bool        have_stamp;    /* a timestamp verified (tsa_roots) */
	time_t      stamped;       /* its genTime */
};

/*
 * Verify the image on (fd) (named (path) in reasons and for the
 * PATH.bundle.json default; with fd < 0, path is opened read-only here and
 * a directory or a failure to open is a reason).  With p->tee_fd >= 0 the bytes read are
 * also copied to it and it is sealed.  Returns 0 when the checks ran (r
 * says whether they held), -1 with (e) on an internal error (out of memory,
 * a failed check that could not be recorded; r->verified is false).  Free
 * (r) with ukit_verify_result_free() either way.
 */
int ukit_verify_image(int fd, const char *path, const struct verify_policy *p,
		 struct verify_result *r, struct fmt_err *e);

/*
 * ukit_verify_image() with pinned keys only, what a device links
 * (verify_core.c, no X.509, CMS or dm-verity code): a policy with roots,
 * a CMS signature or verity_only, and a bundle with a certificate chain,
 * each fail with a reason.  The digest covers every byte either way.
 */
int ukit_verify_image_pinned(int fd, const char *path,
			const struct verify_policy *p,
			struct verify_result *r, struct fmt_err *e);

void ukit_verify_result_free(struct verify_result *r);

#endif
