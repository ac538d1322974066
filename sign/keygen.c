/*
 * keygen.c: ukit-sign keygen: a new key pair (PKCS#8 private key, 0600,
 * created exclusively; SPKI public key).
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

/* ---- keygen --------------------------------------------------------- */

/* A key file that must not exist yet, written whole or not at all. */
static int write_new_file(const char *path, const char *data, size_t len,
			  mode_t mode)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct outfile o;

	if (ukit_outfile_open_new(&o, path, mode, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	if (ukit_outfile_write(&o, data, len, &e) != 0) {
		ukit_outfile_abort(&o);
		cli_err(&e);
		return -1;
	}
	if (ukit_outfile_commit(&o, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	return 0;
}

/* On a terminal: the passphrase twice, equal and not empty. */
static int ask_twice(char *pass, size_t size)
{
	char again[SIG_PASS_MAX + 2];
	int n, m, rc = -1;

	n = tty_prompt("passphrase for the new key", pass, size, NULL);
	if (n < 0) {
		cli_errx("keygen: empty passphrase (--no-passphrase writes an "
			 "unencrypted key)");
		return -1;
	}
	if ((size_t)n > SIG_PASS_MAX) {
		cli_errx("keygen: passphrase longer than %d bytes", SIG_PASS_MAX);
		goto out;
	}
	m = tty_prompt("same passphrase again", again, sizeof again, NULL);
	if (m != n || CRYPTO_memcmp(pass, again, (size_t)n) != 0)
		cli_errx("keygen: the passphrases differ; nothing written");
	else
		rc = 0;
out:
	OPENSSL_cleanse(again, sizeof again);
	if (rc != 0)
		OPENSSL_cleanse(pass, size);
	return rc;
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV },
		{ "no-passphrase", no_argument, NULL, OPT_NO_PASSPHRASE },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = "ecdsa-p256", *passfile = NULL, *passenv = NULL;
	bool nopass = false, have_pass = false;
	char pass[SIG_PASS_MAX + 2], *priv = NULL, *pub = NULL;
	char *kpath = NULL, *ppath = NULL;
	size_t privlen = 0, publen = 0;
	struct fmt_err e = { 0 };
	struct sig_key *k = NULL;
	enum sig_alg alg;
	unsigned bits = 0;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'P':
			if ((passfile = input_path(optarg,
					"--passphrase-file")) == NULL)
				return 2;
			break;
		case OPT_PASSPHRASE_ENV: passenv = optarg; break;
		case OPT_NO_PASSPHRASE: nopass = true; break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	if (ukit_sig_alg_from_name(type, &alg, &bits) != 0) {
		cli_errx("keygen: unknown key type '%s' (ecdsa-p256, ed25519, "
			 "rsa3072, rsa4096)", type);
		return 2;
	}
	if ((passfile != NULL) + (passenv != NULL) + nopass > 1) {
		cli_errx("keygen: give one of --passphrase-file, "
			 "--passphrase-env, --no-passphrase");
		return 2;
	}
	if (passenv != NULL) {
		struct sig_secret_src src = { 0 };

		if (set_passphrase_env(&src, passenv) != 0 ||
		    env_secret(NULL, pass, sizeof pass, (void *)passenv) < 0)
			return 2;
		have_pass = true;
	} else if (passfile == NULL && !nopass) {
		/* an unencrypted key only when asked for */
		if (!isatty(STDIN_FILENO)) {
			cli_errx("keygen: not on a terminal: give "
				 "--passphrase-file F, --passphrase-env NAME, "
				 "or --no-passphrase for an unencrypted key");
			return 2;
		}
		if (ask_twice(pass, sizeof pass) != 0)
			return 1;
		have_pass = true;
	}
	if (passfile != NULL) {
		have_pass = true;
		e.path = passfile;
		if (ukit_sig_read_secret(passfile, pass, sizeof pass, &e) < 0) {
			cli_err(&e);
			return 1;
		}
		if (pass[0] == '\0') {
			cli_errx("%s: empty passphrase", passfile);
			return 1;
		}
	}
	if (asprintf(&kpath, "%s.key", argv[optind]) < 0 ||
	    asprintf(&ppath, "%s.pub", argv[optind]) < 0) {
		cli_errx("out of memory");
		goto out;
	}
	if (ukit_sig_keygen(alg, bits, &k, &e) != 0 ||
	    ukit_sig_key_private_pem(k, have_pass ? pass : NULL, &priv, &privlen, &e) != 0 ||
	    ukit_sig_key_public_pem(k, &pub, &publen, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (write_new_file(kpath, priv, privlen, 0600) != 0)
		goto out;
	if (write_new_file(ppath, pub, publen, 0644) != 0) {
		unlink(kpath);
		goto out;
	}
	printf("%s\n", k->keyid);
	rc = 0;
out:
	OPENSSL_cleanse(pass, sizeof pass);
	ukit_sig_free_secret(priv, privlen);
	free(pub);
	free(kpath);
	free(ppath);
	ukit_sig_key_free(k);
	return rc;
}
