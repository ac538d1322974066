/*
 * cli_oci.h: the registry options every command that takes an image
 * reference accepts, in both ukit-pack and ukit-sign, spelled as skopeo
 * spells them: --authfile F, --creds USER:PASS, --tls-verify[=BOOL],
 * --cert-dir DIR, --ca-file F; --mount-from REPO only where an image is
 * pushed (CLI_OCI_PUSH): the other commands name the place it is for.
 */
#ifndef UKIT_CLI_OCI_H
#define UKIT_CLI_OCI_H

#include <getopt.h>
#include <stdbool.h>

#include "registry.h"

enum {
	CLI_OCI_OPT_AUTHFILE = 0x4f01,
	CLI_OCI_OPT_CREDS,
	CLI_OCI_OPT_TLS_VERIFY,
	CLI_OCI_OPT_CERT_DIR,
	CLI_OCI_OPT_CA_FILE,
	CLI_OCI_OPT_MOUNT_FROM,
};

/* Entries for a getopt_long option table. */
#define CLI_OCI_REGOPTS_LONG \
	{ "authfile", required_argument, NULL, CLI_OCI_OPT_AUTHFILE }, \
	{ "creds", required_argument, NULL, CLI_OCI_OPT_CREDS }, \
	{ "tls-verify", optional_argument, NULL, CLI_OCI_OPT_TLS_VERIFY }, \
	{ "cert-dir", required_argument, NULL, CLI_OCI_OPT_CERT_DIR }, \
	{ "ca-file", required_argument, NULL, CLI_OCI_OPT_CA_FILE }, \
	{ "mount-from", required_argument, NULL, CLI_OCI_OPT_MOUNT_FROM }

/* Their lines for a struct cli_cmd help text. */
#define CLI_OCI_REGOPTS_HELP \
	"--authfile F\tregistry credentials (containers-auth.json format)\n" \
	"--creds USER:PASS\tregistry user name and password\n" \
	"--tls-verify=BOOL\tcheck the registry's TLS certificate (default: true)\n" \
	"--cert-dir DIR\tCA certificates (*.crt) for the registry\n" \
	"--ca-file F\tCA certificate bundle for the registry\n"
#define CLI_OCI_MOUNT_FROM_HELP \
	"--mount-from REPO\tpush: mount blobs from REPO of the same registry\n"

/* --mount-from makes sense where blobs of an existing image are pushed:
 * ukit-pack oci push only (a signature's blobs are new). */
#define CLI_OCI_MOUNT_FROM_WHERE "ukit-pack oci push"

enum { CLI_OCI_PUSH = 1 };          /* flags: the command accepts --mount-from */

struct cli_oci_regopts {
	struct ukit_oci_regopts r;
	bool bad;                   /* a usage error was printed */
	unsigned flags;             /* CLI_OCI_PUSH */
	const char *verify_pub, *verify_ca;
};

void cli_oci_regopts_init(struct cli_oci_regopts *o, unsigned flags);

/*
 * Handle getopt result (c) with (arg) if it is a registry option: 1 when
 * it was one (o->bad set, message printed, when its value is wrong or the
 * command does not take it), 0
 * when it is not a registry option.
 */
int cli_oci_regopt(struct cli_oci_regopts *o, int c, const char *arg);

#endif
