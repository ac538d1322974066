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
#include "outfile.h"
#include "pkcs11.h"
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
			if (sig_key_load_public(optarg, &o->pub[o->npub], &e) != 0) {
				cli_err(&e);
				return 1;
			}
			o->npub++;
			break;
		case 'R':
			e.path = optarg;
			if (cert_load_pem(optarg, &sk, &e) != 0) {
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
	return edge_verify_opt(o, 0, NULL);
}

static void print_result(const struct verify_opts *o,
			 const struct verify_result *r)
{
	size_t n = json_array_size(r->reasons);

	if (o->json) {
		json_t *out = json_pack("{s:b, s:O, s:s?, s:s?, s:O?}",
			"verified", r->verified, "reasons", r->reasons,
			"keyid", r->keyid[0] ? r->keyid : NULL,
			"signer", r->signer[0] ? r->signer : NULL,
			"statement", r->statement);
		if (out != NULL && o->cms != NULL)      /* h7-edge */
			json_object_set_new(out, "cms", json_string(o->cms));
		if (out != NULL) {
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
			json_decref(out);
		}
	}
	for (size_t i = 0; i < n; i++)
		cli_errx("%s: %s", o->image,
			 json_string_value(json_array_get(r->reasons, i)));
	if (r->verified && !o->json)
		printf("verified %s: key %s%s%s\n", o->image, r->keyid,
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
	if (verify_image(-1, o.image, &p, &r, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	print_result(&o, &r);
	rc = r.verified ? 0 : 1;
	if (rc == 0 && o.exec_argv != NULL)
		rc = edge_exec(&o);             /* returns only on failure */
out:
	if (o.tee_fd >= 0)
		close(o.tee_fd);
	verify_result_free(&r);
	for (size_t i = 0; i < o.npub; i++)
		sig_key_free(o.pub[i]);
	sk_X509_pop_free(o.roots, X509_free);
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
		o->tee_fd = sealfd_create("ukit-verified", &e);
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
	char path[64], **argv;
	size_t n = 0;

	if (sealfd_exec_fd(o->tee_fd, path, sizeof path, &e) != 0) {
		cli_err(&e);
		return 1;
	}
	while (o->exec_argv[n] != NULL)
		n++;
	argv = calloc(n + 1, sizeof *argv);
	if (argv == NULL)
		return 1;
	for (size_t i = 0; i < n; i++) {
		const char *a = o->exec_argv[i], *p;
		size_t count = 0, len = strlen(a), pl = strlen(path);
		char *out, *w;

		for (p = a; (p = strstr(p, "{}")) != NULL; p += 2)
			count++;
		out = malloc(len + count * pl + 1);
		if (out == NULL)
			return 1;
		for (w = out, p = a; *p != '\0';) {
			if (p[0] == '{' && p[1] == '}') {
				memcpy(w, path, pl);
				w += pl;
				p += 2;
			} else {
				*w++ = *p++;
			}
		}
		*w = '\0';
		argv[i] = out;
	}
	fflush(stdout);
	fflush(stderr);
	execvp(argv[0], argv);
	cli_errx("verify: cannot run %s: %s", argv[0], strerror(errno));
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return 1;
}
