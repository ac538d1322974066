/*
 * snapshot.c: ukit-pack snapshot -l: the internal snapshots of a qcow2
 * image, as qemu-img snapshot -l lists them (--output=json: the list
 * qemu-img info --output=json gives under "snapshots").
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "pack.h"
#include "qcow2.h"

int cmd_snapshot(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'J' },
		{ "json", no_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'l' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { .off = FMT_NOOFF };
	struct ukit_qcow2_header h;
	struct stat st;
	bool json = false, list = false, force = false;
	const char *path;
	json_t *sl;
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "lf:Uqc:d:a:", lo, NULL)) != -1) {
		switch (c) {
		case 'J':
			if (pack_parse_output("snapshot", optarg, &json) < 0)
				return 2;
			break;
		case 'j':
			json = true;
			break;
		case 'l':
			list = true;
			break;
		case 'U':
			force = true;
			break;
		case 'q':
			break;
		case 'f':
			if (strcmp(optarg, "qcow2") != 0) {
				cli_errx("snapshot: -f %s: snapshots live in "
					 "qcow2 images", optarg);
				return 2;
			}
			break;
		case 'c': case 'd': case 'a':
			cli_errx("snapshot: -%c: ukit-pack reads images and "
				 "lists snapshots (-l); it does not change "
				 "them", c);
			return 2;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (!list || argc - optind != 1)
		cli_usage(stderr, 2);   /* says -l or IMAGE is missing */
	path = e.path = argv[optind];
	/* an empty file has no snapshots to list, and no qcow2 header */
	if ((fd = cli_open_seekable(path, true)) < 0)
		return 1;
	if (!force && ukit_image_lock(fd, &e) < 0) {
		open_err(&e);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "fstat");
		cli_err(&e);
		goto out;
	}
	if (ukit_qcow2_header_read(fd, (uint64_t)st.st_size, &h, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	sl = qcow2_snapshots_json(fd, path, &h);
	if (sl == NULL && h.nb_snapshots > 0)
		goto out;                /* said why */
	if (json) {
		if (print_json(sl != NULL ? sl : json_array()) < 0)
			goto out;
	} else if (sl != NULL) {
		print_snapshots(sl);
		json_decref(sl);
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
