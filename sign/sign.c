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
#include "cli_oci.h"
#include "dsse.h"
#include "err.h"
#include "image.h"
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
	  "keygen [--type ecdsa-p256|ed25519|rsa3072|rsa4096]\n"
	  "        [--passphrase-file F|- | --passphrase-env NAME | --no-passphrase] PREFIX",
	  "Make a key pair: PREFIX.key (private, PKCS#8 PEM) and PREFIX.pub.\n"
	  "--type TYPE\tecdsa-p256 (default), ed25519, rsa3072 or rsa4096\n"
	  "--passphrase-file F\tencrypt the key with the passphrase in F ('-': stdin)\n"
	  "--passphrase-env NAME\tencrypt the key with the passphrase in variable NAME\n"
	  "--no-passphrase\twrite the private key unencrypted\n" },
	{ "sign", cmd_sign_any,
	  "sign --key KEY|-|env:NAME|pkcs11:URI [--passphrase-file F|- | --passphrase-env NAME]\n"
	  "        [--cert LEAF [--chain FILE] [--ca TRUST]] [--json] [--pad] [--rsa-pss]\n"
	  "        [--tsa URL]\n"
	  "        [--pin-file F] [--pkcs11-module SO] [--rollback N] [--annotate K=V]...\n"
	  "        [--verity [--salt HEX] [--hash-file F]] [--append]\n"
	  "        [--format bundle|cms] [-o OUT] [-p|-q] IMAGE\n"
	  "    ukit-sign sign --key KEY|env:NAME|pkcs11:URI [--passphrase-file F | --passphrase-env NAME]\n"
	  "        [--cert LEAF [--chain FILE] [--ca TRUST]] [--pin-file F] [--pkcs11-module SO]\n"
	  "        [REGOPTS] [--rollback N] [--annotate K=V]... [--json]\n"
	  "        oci:DIR[:TAG]|docker://HOST/REPO[:TAG]",
	  "Sign IMAGE (or an OCI image by reference): write a Sigstore bundle IMAGE.bundle.\n"
	  "REGOPTS are the options --authfile to --ca-file below.\n"
	  "--key KEY\tprivate key: a file, '-' (stdin), env:NAME or pkcs11:URI\n"
	  "--passphrase-file F\tthe key's passphrase is in F ('-': stdin)\n"
	  "--passphrase-env NAME\tthe key's passphrase is in variable NAME\n"
	  "--cert LEAF\tsign with the certificate LEAF of the key (X.509 PEM)\n"
	  "--chain FILE\tintermediate certificates to put in the bundle\n"
	  "--ca TRUST\tcheck the chain up to TRUST before signing\n"
	  "--json\tprint what was signed as JSON\n"
	  "--pad\tpad the signature to the key's maximum size\n"
	  "--rsa-pss\tsign with RSA-PSS instead of PKCS#1 v1.5\n"
	  "--tsa URL\tget an RFC 3161 timestamp of the signature from URL\n"
	  "--pin-file F\tthe PKCS#11 token's PIN is in F\n"
	  "--pkcs11-module SO\tthe PKCS#11 module to load\n"
	  "--rollback N\trollback index of the image\n"
	  "--annotate K=V\tadd an annotation to the statement (repeatable)\n"
	  "--verity\tput the dm-verity root hash of IMAGE in the statement\n"
	  "--salt HEX\tthe verity salt ('-': none)\n"
	  "--hash-file F\talso write the verity hash tree to F\n"
	  "--append\tappend the signature to IMAGE instead of a bundle file\n"
	  "--format FMT\twrite a bundle (default) or a CMS (cms) signature\n"
	  "-o, --output OUT\twrite the signature to OUT ('-': stdout)\n"
	  "-p, --progress\tshow a progress bar\n"
	  "-q, --quiet\tno progress bar\n"
	  CLI_OCI_REGOPTS_HELP },
	{ "verify", cmd_verify_any,
	  "verify (--pub KEY... | --ca ROOT...) [--bundle B] [--min-rollback N]\n"
	  "        [--rollback-state FILE [--rollback-slot NAME]] [--crl FILE]... [--tsa-ca ROOT]...\n"
	  "        [--require-format F] [--require-target T] [--check-time] [--json]\n"
	  "        [--verity-only] [-p|-q] IMAGE [--exec TENDER [ARGS...]]\n"
	  "    ukit-sign verify --ca ROOT... --cms IMAGE.p7s [--json] IMAGE\n"
	  "        [--exec TENDER [ARGS...]]\n"
	  "    ukit-sign verify (--pub KEY... | --ca ROOT...) [REGOPTS] [--min-rollback N]\n"
	  "        [--check-time] [--json] oci:DIR[:TAG]|docker://HOST/REPO[:TAG]\n"
	  "    REGOPTS: [--authfile F] [--creds USER:PASS] [--tls-verify=BOOL]\n"
	  "        [--cert-dir DIR] [--ca-file F]",
	  "Verify the signature of IMAGE (or of an OCI image by reference); with --exec,\n"
	  "run TENDER on the verified bytes.\n"
	  "--pub KEY\ttrust the public key KEY (repeatable)\n"
	  "--ca ROOT\ttrust certificates that chain to ROOT (repeatable)\n"
	  "--bundle B\tthe bundle (default: IMAGE.bundle)\n"
	  "--cms SIG\ta CMS signature (IMAGE.p7s) instead of a bundle\n"
	  "--min-rollback N\trefuse a rollback index below N\n"
	  "--rollback-state FILE\trefuse a rollback index below the one kept in FILE, then raise it\n"
	  "--rollback-slot NAME\tthe slot of --rollback-state to use\n"
	  "--crl FILE\tcertificate revocation list (repeatable)\n"
	  "--tsa-ca ROOT\ttrust timestamps that chain to ROOT (repeatable)\n"
	  "--require-format F\tthe statement must name format F\n"
	  "--require-target T\tthe statement must name target T\n"
	  "--check-time\tcheck certificate validity at the signing time\n"
	  "--json\tprint the result as JSON\n"
	  "--verity-only\tcheck the dm-verity root hash only, not every byte\n"
	  "-p, --progress\tshow a progress bar\n"
	  "-q, --quiet\tno progress bar\n"
	  "--exec TENDER [ARGS...]\trun TENDER ARGS... on a sealed copy of the verified IMAGE\n"
	  CLI_OCI_REGOPTS_HELP },
	{ "inspect", cmd_inspect, "inspect [--json] BUNDLE|IMAGE",
	  "Print what a bundle (or the signature appended to IMAGE) says, as JSON.\n"
	  "--json\tprint JSON (the only output; accepted for symmetry)\n" },
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