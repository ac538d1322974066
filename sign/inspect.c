/*
 * inspect.c: ukit-sign inspect: the signed statement of a bundle or image as JSON.
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
#include "io.h"
#include "bundle.h"
#include "cms.h"
#include "bytes.h"
#include "cert.h"
#include "cli.h"
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

/* ---- inspect -------------------------------------------------------- */

int cmd_inspect(int argc, char **argv)
{
	struct fmt_err e = { 0 };
	struct bundle b = { 0 };
	struct stmt st = { 0 };
	struct sigfoot f;
	json_t *out = NULL;
	char signer[512] = "";
	char *json = NULL;
	const char *path, *source = "bundle";
	size_t jlen = 0;
	int c, fd, r, rc = 1;

	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },   /* the only output */
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (c != 'J')
			cli_usage(stderr, 2);
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = argv[optind];
	e.path = path;
	if ((fd = cli_open_nonempty(path)) < 0)
		return 1;
	r = ukit_sigfoot_read(fd, &f, &e);
	if (r < 0) {
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (r > 0) {
		json = malloc((size_t)f.bundle_len + 1);
		if (json == NULL || ukit_pread_full(fd, json, (size_t)f.bundle_len,
			(off_t)f.bundle_off) != (ssize_t)f.bundle_len) {
			cli_errx("%s: cannot read the appended bundle", path);
			goto out;
		}
		jlen = (size_t)f.bundle_len;
	} else {
		uint8_t *d, m = 0;
		char *side = NULL;
		struct fmt_err se = { 0 };

		/* An image (not JSON) without a footer: its detached bundle. */
		if (ukit_pread_full(fd, &m, 1, 0) == 1 && m != '{' &&
		    asprintf(&side, "%s.bundle.json", path) >= 0 &&
		    ukit_sig_read_file(side, BUNDLE_MAX, &d, &jlen, &se) == 0) {
			source = "detached";
		} else if (ukit_sig_read_file(path, BUNDLE_MAX, &d, &jlen, &e) != 0) {
			cli_errx("%s: neither a bundle nor an image with an "
				 "appended signature or a %s.bundle.json (%s)",
				 path, path, e.msg);
			free(side);
			goto out;
		}
		free(side);
		json = (char *)d;
	}
	if (ukit_bundle_parse(json, jlen, &b, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (ukit_stmt_parse(b.env.payload, b.env.payload_len, &st, &e) != 0) {
		cli_err(&e);
		ukit_bundle_free(&b);
		goto out;
	}
	if (b.ncert > 0) {
		X509 *x;
		if (ukit_cert_parse_der(b.cert[0], b.cert_len[0], &x, &e) == 0) {
			ukit_cert_subject(x, signer, sizeof signer);
			X509_free(x);
		}
	}
	out = json_pack("{s:s, s:b, s:s, s:s?, s:s?, s:i, s:O}",
		"source", r > 0 ? "appended" : source,
		"verified", 0,
		"payloadType", b.env.type,
		"keyid", b.hint ? b.hint : b.env.sig[0].keyid,
		"signer", signer[0] ? signer : NULL,
		"certificates", (int)b.ncert,
		"statement", st.root);
	if (out != NULL) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(out);
		rc = 0;
	}
	ukit_stmt_free(&st);
	ukit_bundle_free(&b);
out:
	free(json);
	close(fd);
	return rc;
}
