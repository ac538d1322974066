/*
 * verity_cmd.c: ukit-sign verity: the dm-verity root hash and tree of an image.
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
#include "imgopen.h"
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

/* ---- verity (h7-edge) ------------------------------------------------ */

/* "--salt HEX" into (salt); "-" or "" means none (veritysetup's --salt=-). */
int parse_salt(const char *hex, uint8_t *salt, size_t *len)
{
	int n;

	*len = 0;
	if (hex == NULL || strcmp(hex, "-") == 0 || hex[0] == '\0')
		return 0;
	n = ukit_verity_unhex(hex, salt, VERITY_SALT_MAX);
	if (n <= 0) {
		cli_errx("--salt: want up to %d bytes of hex, or -",
			 VERITY_SALT_MAX);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/*
 * The dm-verity root of IMAGE's content (a qcow2 disk's guest view), with
 * the tree in veritysetup's --no-superblock layout when --hash-file is
 * given; otherwise hashed on all cores, holes skipped.
 */
int cmd_verity(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "salt", required_argument, NULL, 's' },
		{ "hash-file", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hash_file = NULL, *salt_hex = NULL;
	uint8_t salt[VERITY_SALT_MAX], root[VERITY_DIGEST];
	size_t salt_len;
	unsigned threads = 0;
	bool json = false;
	struct fmt_err e = { 0 };
	struct outfile out;
	struct image *img = NULL;
	char hex[2 * VERITY_DIGEST + 1];
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 's': salt_hex = optarg; break;
		case 'H': hash_file = optarg; break;
		case 'J': json = true; break;
		case 'j': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end != '\0' || n == 0 || n > 64) {
				cli_errx("-j: want 1..64 threads");
				return 2;
			}
			threads = (unsigned)n;
			break;
		}
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	if (parse_salt(salt_hex, salt, &salt_len) < 0)
		return 2;
	e.path = argv[optind];
	if ((fd = cli_open_nonempty(argv[optind])) < 0)
		return 1;
	if (ukit_image_open(fd, argv[optind], IMG_PROBE, NULL, &img, &e) < 0)
		goto out;
	if (hash_file != NULL) {
		if (ukit_outfile_open(&out, hash_file, 0644, &e) < 0)
			goto out;
		if (ukit_verity_image(img, salt, salt_len, out.fd, root, &e) < 0) {
			ukit_outfile_abort(&out);
			goto out;
		}
		if (ukit_outfile_commit(&out, &e) < 0)
			goto out;
	} else if (ukit_verity_image_parallel(img, fd, salt, salt_len, threads, root,
					 &e) < 0) {
		goto out;
	}
	if (json) {
		json_t *o = ukit_verity_json(root, salt, salt_len, &e);
		if (o == NULL || json_dumpf(o, stdout, JSON_INDENT(2) |
					    JSON_PRESERVE_ORDER) != 0) {
			json_decref(o);
			goto out;
		}
		json_decref(o);
		putchar('\n');
	} else {
		for (int i = 0; i < VERITY_DIGEST; i++)
			snprintf(hex + 2 * i, 3, "%02x", root[i]);
		printf("%s\n", hex);
	}
	rc = 0;
out:
	if (rc != 0 && e.msg[0] != '\0')
		cli_err(&e);
	ukit_image_close(img);
	close(fd);
	return rc;
}
