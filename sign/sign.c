/*
 * sign.c: ukit-sign, sign images in pipelines and verify them before boot.
 * Statements, envelopes, bundles and keys live in libukit; this file
 * parses options and prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"

static int cmd_keygen(int argc, char **argv);
static int cmd_sign(int argc, char **argv);
static int cmd_verify(int argc, char **argv);
static int cmd_inspect(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "keygen", cmd_keygen,
	  "keygen --type ecdsa-p256|ed25519|rsa3072 [--passphrase-file F] PREFIX" },
	{ "sign", cmd_sign,
	  "sign --key KEY|pkcs11:URI [--cert LEAF [--chain FILE]] [--rollback N]\n"
	  "        [--annotate K=V]... [--verity] [--append] [--format bundle|cms]\n"
	  "        [-o OUT] IMAGE" },
	{ "verify", cmd_verify,
	  "verify (--pub KEY... | --ca ROOT...) [--bundle B] [--min-rollback N]\n"
	  "        [--require-format F] [--require-target T] [--json] IMAGE\n"
	  "        [--exec TENDER [ARGS...]]" },
	{ "inspect", cmd_inspect, "inspect BUNDLE|IMAGE" },
};

/* ---- keygen --------------------------------------------------------- */

static int cmd_keygen(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("keygen: not implemented yet");
	return 1;
}

/* ---- sign ----------------------------------------------------------- */

static int cmd_sign(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("sign: not implemented yet");
	return 1;
}

/* ---- verify --------------------------------------------------------- */

static int cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("verify: not implemented yet");
	return 1;
}

/* ---- inspect -------------------------------------------------------- */

static int cmd_inspect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("inspect: not implemented yet");
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-sign", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
