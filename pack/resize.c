/*
 * resize.c: ukit-pack resize: grow a raw or qcow2 image, or shrink it
 * with --shrink, in place, as qemu-img resize does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"
#include "image.h"
#include "pack.h"
#include "qcow2.h"
#include "qresize.h"
#include "target.h"

enum { OPT_SHRINK = 256 };

int cmd_resize(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { .off = FMT_NOOFF };
	enum ukit_image_format fmt = IMG_PROBE;
	bool shrink = false, quiet = false;
	const char *path, *arg, *sizearg;
	uint64_t size, cur, delta, byte;
	struct stat st;
	uint8_t m[4] = { 0 };
	int c, fd, sign = 0, rc = 1;

	/* the size is the last argument, taken before the options so that
	 * -1M is a size, not an option (as qemu-img resize reads it) */
	if (argc < 3 || argv[argc - 1][0] == '\0')
		cli_usage(stderr, 2);   /* says FILE and SIZE are missing */
	arg = argv[--argc];
	argv[argc] = NULL;
	while ((c = getopt_long(argc, argv, "f:q", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = ukit_image_format_parse(optarg);
			if (fmt != IMG_RAW && fmt != IMG_QCOW2) {
				cli_errx("resize: -f %s: want raw or qcow2",
					 optarg);
				return 2;
			}
			break;
		case OPT_SHRINK:
			shrink = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1) {
		/* the size was taken off already: put it back for the
		 * message */
		argv[argc] = (char *)arg;
		cli_usage(stderr, 2);
	}
	path = e.path = argv[optind];
	sizearg = arg;
	if (arg[0] == '+' || arg[0] == '-')
		sign = *arg++ == '+' ? 1 : -1;
	if (pack_parse_size(arg, &delta) < 0) {
		cli_errx("resize: %s: not a size (bytes, or with a k, M, G, T "
			 "suffix)", sizearg);
		return 2;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EISDIR)
			cli_errx("%s: %s", path, CLI_IS_DIR);
		else
			cli_errx("%s: cannot open: %s", path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cli_errx("%s: is %s; resize works on image files", path,
			 ukit_file_kind(st.st_mode));
		goto out;
	}
	/* a QEMU with the image open would not see the change */
	switch (ukit_image_in_use(fd, &byte, &e)) {
	case 0:
		break;
	case 1:
		ukit_fmt_errf(&e, FMT_NOOFF, IMAGE_IN_USE "another process has it "
			 "open (QEMU's image lock, byte %" PRIu64 ")", byte);
		/* fall through */
	default:
		open_err(&e);
		goto out;
	}
	if (fmt == IMG_PROBE)
		fmt = pread(fd, m, 4, 0) == 4 && be32_load(m) == QCOW2_MAGIC
			? IMG_QCOW2 : IMG_RAW;
	if (fmt == IMG_QCOW2) {
		struct ukit_qcow2_header h;

		if (ukit_qcow2_header_read(fd, (uint64_t)st.st_size, &h, &e) != 0) {
			cli_err(&e);
			goto out;
		}
		cur = h.size;
	} else {
		cur = (uint64_t)st.st_size;
	}
	if (sign > 0) {
		if (ck_add(cur, delta, &size)) {
			cli_errx("resize: %s: size overflows", path);
			goto out;
		}
	} else if (sign < 0) {
		if (delta > cur) {
			cli_errx("resize: %s: cannot shrink %" PRIu64 " bytes "
				 "by %" PRIu64, path, cur, delta);
			goto out;
		}
		size = cur - delta;
	} else {
		size = delta;
	}
	if (size == 0) {
		/* qemu-img resize: "New image size must be positive" */
		cli_errx("resize: %s: the new size must be positive", path);
		goto out;
	}
	if (size < cur && !shrink) {
		cli_errx("resize: %s: shrinking from %" PRIu64 " to %" PRIu64
			 " bytes loses data at the end; --shrink says you "
			 "mean it", path, cur, size);
		rc = 1;
		goto out;
	}
	if (fmt == IMG_QCOW2) {
		if (ukit_qcow2_resize(fd, size, shrink, false, &e) < 0) {
			cli_err(&e);
			goto out;
		}
	} else if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		cli_errx("%s: cannot resize: %s", path, strerror(errno));
		goto out;
	}
	if (!quiet)
		printf("Image resized.\n");
	rc = 0;
out:
	close(fd);
	return rc;
}
