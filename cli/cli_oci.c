/*
 * cli_oci.c: the shared registry options (see cli_oci.h).
 */
#include <string.h>

#include "cli.h"
#include "cli_oci.h"

void cli_oci_regopts_init(struct cli_oci_regopts *o, unsigned flags)
{
	memset(o, 0, sizeof *o);
	o->r.tls_verify = -1;
	o->flags = flags;
}

int cli_oci_regopt(struct cli_oci_regopts *o, int c, const char *arg)
{
	switch (c) {
	case CLI_OCI_OPT_AUTHFILE:
		o->r.authfile = arg;
		return 1;
	case CLI_OCI_OPT_CREDS:
		if (strchr(arg, ':') == NULL || arg[0] == ':') {
			cli_errx("--creds: not USER:PASSWORD");
			o->bad = true;
		}
		o->r.creds = arg;
		return 1;
	case CLI_OCI_OPT_TLS_VERIFY:
		if (arg == NULL || strcmp(arg, "true") == 0)
			o->r.tls_verify = 1;
		else if (strcmp(arg, "false") == 0)
			o->r.tls_verify = 0;
		else {
			cli_errx("--tls-verify=%s: use true or false", arg);
			o->bad = true;
		}
		return 1;
	case CLI_OCI_OPT_CERT_DIR:
		o->r.cert_dir = arg;
		return 1;
	case CLI_OCI_OPT_CA_FILE:
		o->r.ca_file = arg;
		return 1;
	case CLI_OCI_OPT_MOUNT_FROM:
		if (!(o->flags & CLI_OCI_PUSH)) {
			cli_errx("--mount-from: only for " CLI_OCI_MOUNT_FROM_WHERE
				 ", which pushes an image's blobs");
			o->bad = true;
		}
		o->r.mount_from = arg;
		return 1;
	default:
		return 0;
	}
}
