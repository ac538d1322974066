/*
 * create.c: ukit-pack create: a new empty raw or qcow2 image, as
 * qemu-img create makes it (-o options, -b/-F for an overlay on a
 * backing file).  Written atomically: a temporary, fsync, rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgopen.h"
#include "cli.h"
#include "image.h"
#include "outfile.h"
#include "pack.h"
#include "qcow2w.h"

/* The virtual size and format of the backing file (name) of the image
 * (path): a relative name is relative to the image's directory, as qemu
 * reads it.  0, or -1 after printing why. */
static int backing_info(const char *path, const char *name, bool force,
			uint64_t *size, enum ukit_image_format *fmt)
{
	struct image_opts io = { .force_share = force, .allow_backing = true };
	struct fmt_err e = { .off = FMT_NOOFF };
	const char *slash = strrchr(path, '/');
	struct image *img = NULL;
	char *full = NULL;
	int fd, rc = -1;

	if (name[0] != '/' && slash != NULL) {
		if (asprintf(&full, "%.*s/%s", (int)(slash - path), path,
			     name) < 0)
			full = NULL;
	} else {
		full = strdup(name);
	}
	if (full == NULL) {
		cli_errx("create: out of memory");
		return -1;
	}
	if ((fd = cli_open_seekable(full, false)) < 0)
		goto out;
	e.path = full;
	if (ukit_image_open(fd, full, *fmt, &io, &img, &e) < 0) {
		open_err(&e);
		close(fd);
		goto out;
	}
	*size = ukit_image_size(img);
	*fmt = ukit_image_format(img);
	ukit_image_close(img);
	close(fd);
	rc = 0;
out:
	free(full);
	return rc;
}

int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "options", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct pack_qopts pq;
	struct fmt_err e = { .off = FMT_NOOFF };
	enum ukit_image_format fmt = IMG_RAW, bfmt = IMG_PROBE;
	const char *path, *backing = NULL, *bfmt_name = NULL;
	bool quiet = false, force = false, no_check = false;
	uint64_t size = 0, bsize = 0;
	bool have_size = false;
	struct outfile of;
	struct qcow2w *w = NULL;
	int c, rc = 2;

	pack_qopts_init(&pq);
	while ((c = getopt_long(argc, argv, "f:o:b:F:uUq", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = ukit_image_format_parse(optarg);
			if (fmt != IMG_RAW && fmt != IMG_QCOW2) {
				cli_errx("create: -f %s: want raw or qcow2",
					 optarg);
				goto out;
			}
			break;
		case 'o':
			if (pack_parse_o("create", optarg, &pq) < 0)
				goto out;
			break;
		case 'b':
			backing = optarg;
			break;
		case 'F':
			bfmt_name = optarg;
			bfmt = ukit_image_format_parse(optarg);
			if (bfmt != IMG_RAW && bfmt != IMG_QCOW2) {
				cli_errx("create: -F %s: want raw or qcow2",
					 optarg);
				goto out;
			}
			break;
		case 'u':
			no_check = true;    /* do not open the backing file */
			break;
		case 'U':
			force = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			pack_qopts_free(&pq);
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		pack_qopts_free(&pq);
		cli_usage(stderr, 2);   /* says FILE is missing, or what is extra */
	}
	path = argv[optind];
	if (argc - optind == 2) {
		if (pack_parse_size(argv[optind + 1], &size) < 0) {
			cli_errx("create: %s: not a size (bytes, or with a "
				 "k, M, G, T suffix)", argv[optind + 1]);
			goto out;
		}
		have_size = true;
	} else if (pq.have_size) {
		size = pq.size;
		have_size = true;
	}
	if (pq.q.backing_file != NULL && backing == NULL)
		backing = pq.backing_file;
	if (pq.q.backing_fmt != NULL && bfmt_name == NULL) {
		bfmt_name = pq.backing_fmt;
		bfmt = ukit_image_format_parse(bfmt_name);
	}
	if (backing != NULL && fmt != IMG_QCOW2) {
		cli_errx("create: -b makes a qcow2 overlay: use -f qcow2");
		goto out;
	}
	/* raw takes size and preallocation=off|falloc|full */
	if (fmt == IMG_RAW &&
	    (pq.q.prealloc == QCOW2W_PREALLOC_METADATA || pq.have_compat ||
	     pq.have_ctype || pq.q.cluster_bits != 16 || pq.q.refcount_bits ||
	     pq.q.lazy_refcounts || pq.q.extended_l2)) {
		cli_errx("create: -f raw takes -o size= and "
			 "preallocation=off|falloc|full only");
		goto out;
	}
	if (backing != NULL) {
		if (bfmt_name == NULL) {
			enum ukit_image_format probed = IMG_PROBE;

			if (!no_check && backing_info(path, backing, force,
						       &bsize, &probed) == 0)
				cli_errx("create: %s: -F names the backing "
					 "file's format (it looks like %s)",
					 backing, ukit_image_format_name(probed));
			else
				cli_errx("create: %s: -F names the backing "
					 "file's format", backing);
			goto out;
		}
		if (!no_check) {
			if (backing_info(path, backing, force, &bsize,
					 &bfmt) < 0) {
				rc = 1;
				goto out;
			}
			if (strcmp(ukit_image_format_name(bfmt), bfmt_name) != 0) {
				cli_errx("create: %s: -F %s, but it is %s",
					 backing, bfmt_name,
					 ukit_image_format_name(bfmt));
				rc = 1;
				goto out;
			}
			if (!have_size) {
				size = bsize;
				have_size = true;
			}
		}
		if (pack_qopts_backing("create", &pq, backing,
				       bfmt_name) < 0) {
			rc = 2;
			goto out;
		}
	}
	if (!have_size) {
		cli_errx("create: missing SIZE (or -b BACKING to take its size)");
		goto out;
	}
	if (fmt == IMG_QCOW2 && pack_qopts_finish("create", &pq, false) < 0)
		goto out;
	rc = 1;
	e.path = path;
	if (ukit_outfile_open(&of, path, 0644, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	if (fmt == IMG_RAW) {
		if (ftruncate(of.fd, (off_t)size) < 0) {
			ukit_fmt_errno(&e, FMT_NOOFF, "cannot size the image");
			goto fail;
		}
		if (pq.q.prealloc >= QCOW2W_PREALLOC_FALLOC && size > 0 &&
		    (errno = posix_fallocate(of.fd, 0, (off_t)size)) != 0) {
			ukit_fmt_errno(&e, FMT_NOOFF, "cannot preallocate");
			goto fail;
		}
	} else if (ukit_qcow2w_open(of.fd, path, &pq.q, size, &w, &e) < 0 ||
		   ukit_qcow2w_finish(w, &e) < 0) {
		goto fail;
	}
	if (ukit_outfile_commit(&of, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	if (!quiet) {
		printf("Formatting '%s', fmt=%s", path, ukit_image_format_name(fmt));
		if (fmt == IMG_QCOW2)
			printf(" cluster_size=%llu extended_l2=%s "
			       "compression_type=%s",
			       1ULL << pq.q.cluster_bits,
			       pq.q.extended_l2 ? "on" : "off",
			       pq.q.zstd_header ? "zstd" : "zlib");
		printf(" size=%" PRIu64, size);
		if (backing != NULL)
			printf(" backing_file=%s backing_fmt=%s", backing,
			       bfmt_name);
		if (fmt == IMG_QCOW2)
			printf(" lazy_refcounts=%s refcount_bits=%u",
			       pq.q.lazy_refcounts ? "on" : "off",
			       pq.q.refcount_bits ? pq.q.refcount_bits : 16);
		putchar('\n');
	}
	rc = 0;
	goto out;
fail:
	cli_err(&e);
	ukit_outfile_abort(&of);
out:
	ukit_qcow2w_free(w);
	pack_qopts_free(&pq);
	return rc;
}
