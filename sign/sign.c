/*
 * sign.c: ukit-sign, sign images in pipelines and verify them before boot.
 * Statements, envelopes, bundles and keys live in libukit, and so does the
 * verify-only core (formats/trust/verify.c: every check of verify, the reasons
 * it gives, the sealed copy for --exec) that an edge device links without
 * this tool.  The tool parses options, loads keys and roots from files,
 * prompts, prints (text and --json), runs --exec and decides exit codes:
 * one file per command (keygen.c, sign_cmd.c, verify_cmd.c, inspect.c,
 * verity_cmd.c), the dispatch table and shared helpers here.
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


static const struct cli_cmd cmds[] = {
	{ "keygen", cmd_keygen,
	  "keygen [--type ecdsa-p256|ed25519|rsa3072|rsa4096] [--passphrase-file F]\n"
	  "        PREFIX",
	  "Make a key pair: PREFIX.key (private, PEM) and PREFIX.pub.\n"
	  "--type TYPE\tecdsa-p256 (default), ed25519, rsa3072 or rsa4096\n"
	  "--passphrase-file F\tencrypt the private key with the first line of F\n" },
	{ "sign", cmd_sign,
	  "sign --key KEY|pkcs11:URI [--passphrase-file F] [--cert LEAF [--chain FILE]]\n"
	  "        [--pin-file F] [--pkcs11-module SO] [--rollback N] [--annotate K=V]...\n"
	  "        [--verity [--salt HEX] [--hash-file F]] [--append]\n"
	  "        [--format bundle|cms] [-o OUT] [-p|-q] IMAGE",
	  "Sign IMAGE: write IMAGE.bundle.json (or -o OUT).\n"
	  "--key KEY\tthe private key: a PEM file, a pipe or a pkcs11: URI\n"
	  "--passphrase-file F\tthe key's passphrase, from the first line of F\n"
	  "--cert LEAF\tsign as the holder of this X.509 certificate\n"
	  "--chain FILE\tintermediate certificates (PEM) for --cert\n"
	  "--pin-file F\tthe PIN of a pkcs11: key, from the first line of F\n"
	  "--pkcs11-module SO\tthe PKCS#11 module to load\n"
	  "--rollback N\tthe rollback index (default 0)\n"
	  "--annotate K=V\tadd an annotation (repeatable, up to 64)\n"
	  "--verity\tadd a dm-verity root hash to the statement\n"
	  "--salt HEX\tsalt of the dm-verity tree ('-': none)\n"
	  "--hash-file F\talso write the dm-verity hash tree to F\n"
	  "--append\tappend the bundle and a footer to the image\n"
	  "--format bundle|cms\ta bundle (default) or a detached CMS signature\n"
	  "-o, --output OUT\twrite the signature to OUT\n"
	  "-p, --progress\tdraw a progress bar on standard error\n"
	  "-q, --quiet\tno progress bar\n" },
	{ "verify", cmd_verify,
	  "verify (--pub KEY... | --ca ROOT...) [--bundle B] [--min-rollback N]\n"
	  "        [--require-format F] [--require-target T] [--check-time] [--json]\n"
	  "        [--verity-only] [-p|-q] IMAGE [--exec TENDER [ARGS...]]\n"
	  "    ukit-sign verify --ca ROOT... --cms IMAGE.p7s [--json] IMAGE\n"
	  "        [--exec TENDER [ARGS...]]",
	  "Verify IMAGE against its signature; exit 0 only if every check holds.\n"
	  "--pub KEY\ta trusted public key (repeatable)\n"
	  "--ca ROOT\ta trusted root certificate (repeatable)\n"
	  "--bundle B\tthe bundle (default IMAGE.bundle.json or appended)\n"
	  "--min-rollback N\trefuse a rollback index below N\n"
	  "--require-format F\trequire this image format in the statement\n"
	  "--require-target T\trequire this Solo5 target in the statement\n"
	  "--check-time\tcheck certificate validity periods (at the signing time)\n"
	  "--json\tprint the result as JSON (schema ukit-sign-verify.schema.json)\n"
	  "--verity-only\tcheck the image by its signed dm-verity root alone\n"
	  "--cms IMAGE.p7s\tverify a detached CMS signature\n"
	  "-p, --progress\tdraw a progress bar on standard error\n"
	  "-q, --quiet\tno progress bar\n"
	  "--exec TENDER [ARGS...]\tif verified, run TENDER on a sealed copy of IMAGE\n" },
	{ "inspect", cmd_inspect, "inspect [--json] BUNDLE|IMAGE",
	  "Print what a bundle (or an image's signature) says, without verifying.\n"
	  "--json\tprint JSON (schema ukit-sign-inspect.schema.json)\n" },
	{ "verity", cmd_verity,
	  "verity [--salt HEX] [--hash-file F] [-j THREADS] [--json] IMAGE",
	  "Compute the dm-verity root hash of IMAGE, as veritysetup format does.\n"
	  "--salt HEX\tsalt of the tree ('-': none)\n"
	  "--hash-file F\talso write the hash tree to F\n"
	  "-j, --threads THREADS\tthreads to hash with (default: online CPUs)\n"
	  "--json\tprint JSON (the statement's verity object)\n" },
};


/* ---- shared helpers ------------------------------------------------- */

/* Read a secret from the controlling terminal without echo. */
int tty_prompt(const char *what, char *buf, size_t size, void *arg)
{
	struct termios old, quiet;
	FILE *tty;
	size_t n;
	int ok;

	(void)arg;
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return -1;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	ok = tcgetattr(fileno(tty), &old) == 0;
	if (ok) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	if (fgets(buf, (int)size, tty) == NULL)
		buf[0] = '\0';
	if (ok)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? (int)n : -1;
}

bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

void progress_cb(void *arg, uint64_t done)
{
	cli_progress_update(arg, done);
}

/* "created": SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
time_t created_time(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;

	if (s != NULL && parse_u64(s, (uint64_t)INT32_MAX * 4, &v))
		return (time_t)v;
	return time(NULL);
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-sign", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}