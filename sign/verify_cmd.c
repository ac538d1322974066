/*
 * verify_cmd.c: ukit-sign verify: keys, roots and options for the verify-only
 * core (formats/trust/verify.c), its report, and --exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "bundle.h"
#include "cms.h"
#include "bytes.h"
#include "cert.h"
#include "cli.h"
#include "dsse.h"
#include "err.h"
#include "image.h"
#include "crl.h"
#include "pkcs11.h"
#include "rollback.h"
#include "sealfd.h"
#include "sig.h"
#include "sigimg.h"
#include "statement.h"
#include "stream.h"
#include "verify.h"
#include "verity.h"
#include "sign.h"

/* ---- verify --------------------------------------------------------- */

struct verify_opts {
	struct sig_key *pub[MAX_PUBS];
	size_t          npub;
	STACK_OF(X509) *roots;
	const char     *bundle;
	const char     *image;
	uint64_t        min_rollback;
	const char     *require_format;
	const char     *require_target;
	bool            check_time;
	bool            json;
	int             progress;
	/* h7-edge */
	bool            verity_only;     /* --verity-only */
	const char     *cms;             /* --cms P7S */
	char          **exec_argv;       /* after --exec: TENDER ARGS... */
	int             tee_fd;          /* sealed copy for --exec, or -1 */
	const char     *rollback_state;  /* --rollback-state FILE */
	const char     *rollback_slot;   /* --rollback-slot NAME */
	STACK_OF(X509_CRL) *crls;        /* --crl FILE... */
	STACK_OF(X509) *tsa_roots;       /* --tsa-ca ROOT... */
};

/* h7-edge: --exec and the options it checks (defined at the end). */
static int edge_verify_split(int *argc, char **argv, struct verify_opts *o);
static int edge_verify_opt(struct verify_opts *o, int c, const char *arg);
static int edge_exec(const struct verify_opts *o);

static int load_verify_keys(struct verify_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'R' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "min-rollback", required_argument, NULL, 'm' },
		{ "require-format", required_argument, NULL, 'F' },
		{ "require-target", required_argument, NULL, 'T' },
		{ "check-time", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verity-only", no_argument, NULL, EDGE_OPT_VERITY_ONLY },
		{ "cms", required_argument, NULL, EDGE_OPT_CMS },
		{ "rollback-state", required_argument, NULL, OPT_ROLLBACK_STATE },
		{ "rollback-slot", required_argument, NULL, OPT_ROLLBACK_SLOT },
		{ "crl", required_argument, NULL, OPT_CRL },
		{ "tsa-ca", required_argument, NULL, OPT_TSA_CA },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { 0 };
	STACK_OF(X509) *sk;
	int c;

	while ((c = getopt_long(argc, argv, "pq", opts, NULL)) != -1) {
		switch (c) {
		case 'K':
			if (o->npub >= MAX_PUBS) {
				cli_errx("verify: at most %d --pub keys", MAX_PUBS);
				return 2;
			}
			e.path = optarg;
			if ((optarg = (char *)input_path(optarg, "--pub")) == NULL)
				return 2;
			if (ukit_sig_key_load_public(optarg, &o->pub[o->npub], &e) != 0) {
				cli_err(&e);
				return 1;
			}
			o->npub++;
			break;
		case 'R':
			e.path = optarg;
			if ((optarg = (char *)input_path(optarg, "--ca")) == NULL)
				return 2;
			if (ukit_cert_load_pem(optarg, &sk, &e) != 0) {
				cli_err(&e);
				return 1;
			}
			if (o->roots == NULL)
				o->roots = sk_X509_new_null();
			while (sk_X509_num(sk) > 0) {
				X509 *x = sk_X509_shift(sk);
				if (o->roots == NULL ||
				    sk_X509_num(o->roots) >= MAX_ROOTS ||
				    !sk_X509_push(o->roots, x)) {
					X509_free(x);
					sk_X509_pop_free(sk, X509_free);
					cli_errx("verify: at most %d roots", MAX_ROOTS);
					return 2;
				}
			}
			sk_X509_free(sk);
			break;
		case 'b': o->bundle = optarg; break;
		case 'm':
			if (!parse_u64(optarg, STMT_ROLLBACK_MAX, &o->min_rollback)) {
				cli_errx("verify: --min-rollback wants an integer");
				return 2;
			}
			break;
		case 'F': o->require_format = optarg; break;
		case 'T': o->require_target = optarg; break;
		case 't': o->check_time = true; break;
		case 'j': o->json = true; break;
		case 'p': o->progress = 1; break;
		case 'q': o->progress = -1; break;
		case OPT_ROLLBACK_STATE: o->rollback_state = optarg; break;
		case OPT_TSA_CA: {
			const char *path = input_path(optarg, "--tsa-ca");
			if (path == NULL)
				return 2;
			e.path = optarg;
			if (ukit_cert_load_pem(path, &sk, &e) != 0) {
				cli_err(&e);
				return 1;
			}
			if (o->tsa_roots == NULL) {
				o->tsa_roots = sk;
				break;
			}
			while (sk_X509_num(sk) > 0)
				if (!sk_X509_push(o->tsa_roots, sk_X509_shift(sk)))
					return 1;
			sk_X509_free(sk);
			break;
		}
		case OPT_CRL: {
			const char *path = input_path(optarg, "--crl");
			if (path == NULL)
				return 2;
			if (ukit_crl_load(path, &o->crls, &e) != 0) {
				e.path = optarg;
				cli_err(&e);
				return 1;
			}
			break;
		}
		case OPT_ROLLBACK_SLOT:
			if (!ukit_rollback_slot_valid(optarg)) {
				cli_errx("verify: --rollback-slot: 1 to %d of "
					 "A-Z a-z 0-9 . _ -",
					 UKIT_ROLLBACK_NAME_MAX);
				return 2;
			}
			o->rollback_slot = optarg;
			break;
		case EDGE_OPT_VERITY_ONLY: case EDGE_OPT_CMS:
			if (edge_verify_opt(o, c, optarg) != 0)
				return 2;
			break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1 || (o->npub == 0) == (o->roots == NULL)) {
		if (argc - optind == 1)
			cli_errx("verify: give either --pub or --ca");
		cli_usage(stderr, 2);
	}
	o->image = argv[optind];
	if (o->crls != NULL && o->roots == NULL) {
		cli_errx("verify: --crl needs --ca (a pinned key has no "
			 "certificates to revoke)");
		return 2;
	}
	if (o->rollback_slot != NULL && o->rollback_state == NULL) {
		cli_errx("verify: --rollback-slot needs --rollback-state");
		return 2;
	}
	if (o->rollback_state != NULL && o->cms != NULL) {
		cli_errx("verify: --rollback-state needs a signed statement "
			 "(a bundle), not --cms");
		return 2;
	}
	return edge_verify_opt(o, 0, NULL);
}

static void print_result(const struct verify_opts *o,
			 const struct verify_result *r)
{
	size_t n = json_array_size(r->reasons);
	/* with --exec the tender owns stdout */
	FILE *out = o->exec_argv != NULL ? stderr : stdout;

	if (o->json) {
		json_t *jo = json_pack("{s:b, s:O, s:s?, s:s?, s:O?}",
			"verified", r->verified, "reasons", r->reasons,
			"keyid", r->keyid[0] ? r->keyid : NULL,
			"signer", r->signer[0] ? r->signer : NULL,
			"statement", r->statement);
		if (jo != NULL && o->cms != NULL)      /* h7-edge */
			json_object_set_new(jo, "cms", json_string(o->cms));
		if (jo != NULL) {
			json_dumpf(jo, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', out);
			json_decref(jo);
		}
	}
	for (size_t i = 0; i < n; i++)
		cli_errx("%s: %s", o->image,
			 json_string_value(json_array_get(r->reasons, i)));
	if (r->verified && !o->json)
		fprintf(out, "verified %s: key %s%s%s\n", o->image, r->keyid,
			r->signer[0] ? ", signer " : "", r->signer);
}

/* The progress bar for verify's pass over the image. */
struct verify_bar {
	struct cli_progress bar;
	int                 mode;     /* -p 1, -q -1, else 0 */
};

static void verify_bar_start(void *arg, uint64_t total)
{
	struct verify_bar *vb = arg;

	cli_progress_start(&vb->bar, vb->mode, total);
}

static void verify_bar_update(void *arg, uint64_t done)
{
	struct verify_bar *vb = arg;

	cli_progress_update(&vb->bar, done);
}

static void verify_bar_end(void *arg)
{
	struct verify_bar *vb = arg;

	cli_progress_end(&vb->bar);
}

/* After a successful verification: the slot's floor becomes the image's
 * rollback index (an atomic, fsynced replace; see rollback.h). */
static int raise_floor(const struct verify_opts *o,
		       const struct verify_result *r)
{
	const char *slot = o->rollback_slot ? o->rollback_slot
					    : UKIT_ROLLBACK_DEFAULT;
	struct fmt_err e = { 0 };
	uint64_t old = 0;

	if (ukit_rollback_raise(o->rollback_state, slot, r->st.rollback, &old,
				&e) != 0) {
		cli_err(&e);
		cli_errx("%s: verified, but the rollback floor could not be "
			 "raised: not booting it", o->image);
		return 1;
	}
	if (old < r->st.rollback && o->progress >= 0)
		cli_errx("%s: rollback floor of slot %s raised from %" PRIu64
			 " to %" PRIu64, o->rollback_state, slot, old,
			 r->st.rollback);
	return 0;
}

/* The checks are formats/trust/verify.c; this parses, prints and runs --exec. */
int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = { 0 };
	struct verify_result r = { 0 };
	struct fmt_err e = { 0 };
	struct verify_bar vb = { 0 };
	struct verify_progress vp = {
		verify_bar_start, verify_bar_update, verify_bar_end, &vb,
	};
	struct verify_policy p;
	int rc;

	rc = edge_verify_split(&argc, argv, &o);
	if (rc == 0)
		rc = load_verify_keys(&o, argc, argv);
	if (rc != 0)
		goto out;
	vb.mode = o.progress;
	p = (struct verify_policy){
		.pub = o.pub, .npub = o.npub, .roots = o.roots,
		.bundle = o.bundle, .min_rollback = o.min_rollback,
		.require_format = o.require_format,
		.require_target = o.require_target,
		.check_time = o.check_time, .verity_only = o.verity_only,
		.cms = o.cms, .tee_fd = o.tee_fd, .progress = &vp,
		.rollback_state = o.rollback_state,
		.rollback_slot = o.rollback_slot,
		.crls = o.crls, .tsa_roots = o.tsa_roots,
	};
	rc = 1;
	/* a directory or a missing IMAGE: the same words as everywhere,
	 * before the bundle beside it is looked for */
	{
		int fd = cli_open_input(o.image);

		if (fd < 0)
			goto out;
		close(fd);
	}
	if (ukit_verify_image(-1, o.image, &p, &r, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	print_result(&o, &r);
	if (o.check_time && !r.have_stamp && r.verified && o.progress >= 0)
		cli_errx("%s: note: --check-time used the statement's created "
			 "time, the signer's own claim (no trusted timestamp: "
			 "sign --tsa URL, verify --tsa-ca ROOT)", o.image);
	rc = r.verified ? 0 : 1;
	if (rc == 0 && o.rollback_state != NULL)
		rc = raise_floor(&o, &r);       /* before the tender runs */
	if (rc == 0 && o.exec_argv != NULL)
		rc = edge_exec(&o);             /* returns only on failure */
out:
	if (o.tee_fd >= 0)
		close(o.tee_fd);
	ukit_verify_result_free(&r);
	for (size_t i = 0; i < o.npub; i++)
		ukit_sig_key_free(o.pub[i]);
	sk_X509_pop_free(o.roots, X509_free);
	sk_X509_CRL_pop_free(o.crls, X509_CRL_free);
	sk_X509_pop_free(o.tsa_roots, X509_free);
	return rc;
}

/* ---- verify --------------------------------------------------------- */

/* Cut "--exec TENDER ARGS..." off argv before getopt sees it. */
static int edge_verify_split(int *argc, char **argv, struct verify_opts *o)
{
	o->tee_fd = -1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--exec") != 0)
			continue;
		if (i + 1 >= *argc) {
			cli_errx("verify: --exec needs a TENDER to run");
			return 2;
		}
		o->exec_argv = &argv[i + 1];    /* argv[argc] is NULL */
		argv[i] = NULL;
		*argc = i;
		break;
	}
	return 0;
}

static int edge_verify_opt(struct verify_opts *o, int c, const char *arg)
{
	struct fmt_err e = { 0 };

	switch (c) {
	case EDGE_OPT_VERITY_ONLY: o->verity_only = true; return 0;
	case EDGE_OPT_CMS: o->cms = arg; return 0;
	}
	/* c == 0: after all options */
	if (o->cms != NULL && (o->roots == NULL || o->bundle != NULL ||
			       o->verity_only || o->check_time ||
			       o->min_rollback != 0 ||
			       o->require_format != NULL ||
			       o->require_target != NULL)) {
		cli_errx("verify: --cms needs --ca and takes no bundle, "
			 "statement or time options (CMS signs bytes only)");
		return 2;
	}
	if (o->verity_only && o->exec_argv != NULL) {
		cli_errx("verify: --exec runs the bytes it hashed; it needs the "
			 "streaming verify, not --verity-only");
		return 2;
	}
	if (o->exec_argv != NULL) {
		o->tee_fd = ukit_sealfd_create("ukit-verified", &e);
		if (o->tee_fd < 0) {
			cli_err(&e);
			return 1;
		}
	}
	return 0;
}

/* Run the tender on the sealed copy; returns only on failure. */
static int edge_exec(const struct verify_opts *o)
{
	struct fmt_err e = { 0 };
	int rc = ukit_sealfd_exec(o->tee_fd, o->exec_argv, &e);

	cli_errx("verify: %s", e.msg);
	return rc;
}
