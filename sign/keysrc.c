/*
 * keysrc.c: where ukit-sign's keys and secrets come from in a pipeline:
 * "-" (standard input, once per command), "env:NAME" for a private key,
 * --passphrase-env NAME, and the warning for a PIN inside a pkcs11 URI.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "err.h"
#include "keysrc.h"
#include "sig.h"
#include "sign.h"

static bool stdin_taken;

const char *input_path(const char *arg, const char *opt)
{
	if (strcmp(arg, "-") != 0)
		return arg;
	if (stdin_taken) {
		cli_errx("%s -: standard input is already read by another "
			 "option", opt);
		return NULL;
	}
	stdin_taken = true;
	return "/dev/stdin";
}

/* A sig_secret_src prompt that answers with an environment variable. */
int env_secret(const char *what, char *buf, size_t size, void *arg)
{
	const char *v = getenv(arg);
	size_t n;

	(void)what;
	if (v == NULL || v[0] == '\0')
		return -1;
	n = strcspn(v, "\r\n");
	if (n + 1 > size)
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return (int)n;
}

int set_passphrase_env(struct sig_secret_src *src, const char *name)
{
	const char *v = getenv(name);

	if (v == NULL) {
		cli_errx("--passphrase-env: %s is not set", name);
		return -1;
	}
	if (v[0] == '\0' || strcspn(v, "\r\n") == 0) {
		cli_errx("--passphrase-env: %s is empty", name);
		return -1;
	}
	if (strlen(v) > SIG_PASS_MAX) {
		cli_errx("--passphrase-env: %s is longer than %d bytes", name,
			 SIG_PASS_MAX);
		return -1;
	}
	src->pass_file = NULL;
	src->prompt = env_secret;
	src->prompt_arg = (void *)name;
	return 0;
}

int load_private_key(const char *spec, const struct sig_secret_src *src,
		     struct sig_key **k)
{
	struct fmt_err e = { .path = spec, .off = FMT_NOOFF };
	const char *path;

	if (strncmp(spec, "pkcs11:", 7) == 0 &&
	    (strstr(spec, "pin-value=") != NULL))
		cli_errx("warning: the PIN inside the pkcs11 URI shows in the "
			 "process list (ps, /proc/PID/cmdline); use --pin-file");
	if (strncmp(spec, "env:", 4) == 0) {
		const char *name = spec + 4, *v = getenv(name);

		if (name[0] == '\0') {
			cli_errx("--key env:NAME: no variable name");
			return 2;
		}
		if (v == NULL) {
			cli_errx("--key %s: %s is not set", spec, name);
			return 1;
		}
		e.path = spec;
		if (ukit_sig_key_parse_private((const uint8_t *)v, strlen(v),
					       spec, src, k, &e) != 0) {
			cli_err(&e);
			return 1;
		}
		return 0;
	}
	if ((path = input_path(spec, "--key")) == NULL)
		return 2;
	e.path = strcmp(spec, "-") == 0 ? "<stdin>" : spec;
	if (ukit_sig_key_load_private(path, src, k, &e) != 0) {
		cli_err(&e);
		return 1;
	}
	return 0;
}
