/*
 * ukit-verify: the device's verifier.  Checks an image against pinned
 * ECDSA P-256 / Ed25519 public keys and its bundle (detached or
 * appended) with the core of ukit-sign verify (verify_core.c: the same
 * code, linked alone), then optionally runs the tender on a sealed copy of
 * exactly the verified bytes.  Links libcrypto and jansson only.
 *
 * Exit: 0 verified (or the tender's status with --exec), 1 not verified
 * (every reason on stderr), 2 usage, 126/127 the tender cannot be run.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "err.h"
#include "rollback.h"
#include "sealfd.h"
#include "sig.h"
#include "verify.h"

#define MAX_PUBS 16

static const char usage[] =
	"usage: ukit-verify --pub KEY... [--bundle B] [--min-rollback N]\n"
	"           [--require-format F] [--require-target T]\n"
	"           [--rollback-state FILE [--rollback-slot NAME]] [-q] IMAGE\n"
	"           [--exec TENDER [ARGS...]]\n";

/* --help: the layout of ukit-pack/ukit-sign CMD --help (cli.c) */
static const char help[] =
	"\nVerify IMAGE and its bundle against pinned public keys; with --exec,\n"
	"run TENDER on a sealed copy of exactly the verified bytes.\n"
	"\noptions:\n"
	"      --pub KEY              trust the public key KEY (repeatable)\n"
	"      --bundle B             the bundle (default: beside or appended to IMAGE)\n"
	"      --min-rollback N       refuse a rollback index below N\n"
	"      --require-format F     the statement must name format F\n"
	"      --require-target T     the statement must name target T\n"
	"      --rollback-state FILE  refuse an index below FILE's, then raise it\n"
	"      --rollback-slot NAME   the slot of --rollback-state to use\n"
	"  -q, --quiet                say nothing when IMAGE verifies\n"
	"      --exec TENDER [ARGS...]  run TENDER ARGS... on the verified copy\n"
	"  -h, --help                 print this help and exit\n"
	"      --version              print the version and exit\n";

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pub", required_argument, NULL, 'k' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "min-rollback", required_argument, NULL, 'r' },
		{ "require-format", required_argument, NULL, 'f' },
		{ "require-target", required_argument, NULL, 't' },
		{ "rollback-state", required_argument, NULL, 's' },
		{ "rollback-slot", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* static: reachable until exit on every early return */
	static struct sig_key *pub[MAX_PUBS];
	struct verify_policy p = { .pub = pub, .tee_fd = -1 };
	struct verify_result r = { 0 };
	struct fmt_err e = { .off = FMT_NOOFF };
	char **exec_argv = NULL;
	int c, quiet = 0, rc;

	/* The system's openssl.cnf has no say in what a device accepts, and
	 * not reading it shortens every boot (bench/verify-latency.sh). */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--exec") == 0) {
			if (i + 1 >= argc) {
				fputs("ukit-verify: --exec needs a TENDER\n", stderr);
				return 2;
			}
			exec_argv = &argv[i + 1];
			argc = i;
			break;
		}
	argv[0] = (char *)"ukit-verify";    /* getopt's messages */
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			e.path = optarg;
			if (p.npub == MAX_PUBS) {
				fprintf(stderr, "ukit-verify: at most %d --pub "
					"keys\n", MAX_PUBS);
				return 2;
			}
			if (ukit_sig_key_load_pinned(optarg, &pub[p.npub], &e) != 0) {
				ukit_fmt_err_print(stderr, "ukit-verify", &e);
				return 1;
			}
			p.npub++;
			break;
		case 'b': p.bundle = optarg; break;
		case 'f': p.require_format = optarg; break;
		case 't': p.require_target = optarg; break;
		case 's': p.rollback_state = optarg; break;
		case 'S': p.rollback_slot = optarg; break;
		case 'q': quiet = 1; break;
		case 'r':
			if (parse_u64(optarg, &p.min_rollback) == 0)
				break;
			fprintf(stderr, "ukit-verify: --min-rollback: not a "
				"number: %s\n", optarg);
			return 2;
		case 'h': printf("%s%s", usage, help); return 0;
		case 'V': puts("ukit-verify " UKIT_VERSION); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind + 1 != argc || p.npub == 0) {
		if (optind + 1 < argc)
			fprintf(stderr, "ukit-verify: unexpected operand '%s' "
				"(ukit-verify takes one IMAGE)\n", argv[optind + 1]);
		else
			fprintf(stderr, "ukit-verify: missing %s%s%s\n",
				p.npub == 0 ? "--pub KEY" : "",
				p.npub == 0 && optind == argc ? ", " : "",
				optind == argc ? "IMAGE" : "");
		fprintf(stderr, "%s'ukit-verify --help' describes every option\n",
			usage);
		return 2;
	}
	e.path = argv[optind];
	if (exec_argv != NULL &&
	    (p.tee_fd = ukit_sealfd_create("ukit-verify", &e)) < 0) {
		ukit_fmt_err_print(stderr, "ukit-verify", &e);
		return 1;
	}
	/* fd -1: the core opens IMAGE; cannot open is a reason, exit 1 */
	if (ukit_verify_image_pinned(-1, argv[optind], &p, &r, &e) != 0) {
		ukit_fmt_err_print(stderr, "ukit-verify", &e);
		return 1;
	}
	for (size_t i = 0; i < json_array_size(r.reasons); i++)
		fprintf(stderr, "ukit-verify: %s: %s\n", argv[optind],
			json_string_value(json_array_get(r.reasons, i)));
	if (r.verified && !quiet)
		fprintf(stderr, "ukit-verify: %s: verified (key %s, rollback "
			"%llu)\n", argv[optind], r.keyid,
			(unsigned long long)r.st.rollback);
	rc = r.verified ? 0 : 1;
	/* the floor rises before anything boots: a crash after this leaves
	 * the device refusing older images, never accepting them */
	if (rc == 0 && p.rollback_state != NULL) {
		uint64_t old = 0;

		e.path = p.rollback_state;
		if (ukit_rollback_raise(p.rollback_state, p.rollback_slot ?
					p.rollback_slot : UKIT_ROLLBACK_DEFAULT,
					r.st.rollback, &old, &e) != 0) {
			ukit_fmt_err_print(stderr, "ukit-verify", &e);
			rc = 1;
		}
	}
	ukit_verify_result_free(&r);
	for (size_t i = 0; i < p.npub; i++)
		ukit_sig_key_free(pub[i]);
	if (rc == 0 && exec_argv != NULL) {
		rc = ukit_sealfd_exec(p.tee_fd, exec_argv, &e);
		fprintf(stderr, "ukit-verify: %s\n", e.msg);
	}
	return rc;
}
