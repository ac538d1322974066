/*
 * measure.c: ukit-pack measure: the file size a conversion needs, as
 * qemu-img measure computes it (--output=json: the same bytes).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imgopen.h"
#include "cli.h"
#include "image.h"
#include "pack.h"
#include "qcow2.h"
#include "qmap.h"

enum { OPT_SIZE = 256 };

int cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'J' },
		{ "json", no_argument, NULL, 'j' },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "force-share", no_argument, NULL, 'U' },
		{ "options", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	/* as qemu-img: an overlay is measured with its backing chain */
	struct image_opts io = { .check = false, .allow_backing = true };
	enum ukit_image_format fmt = IMG_PROBE, out_fmt = IMG_RAW;
	struct fmt_err e = { .off = FMT_NOOFF };
	struct pack_qopts pq;
	struct ukit_measure m = { 0 };
	struct image *img = NULL;
	bool json = false, have_size = false, compress = false;
	uint64_t size = 0;
	const char *path = NULL;
	int c, fd = -1, rc = 1;

	pack_qopts_init(&pq);
	while ((c = getopt_long(argc, argv, "f:O:o:cU", lo, NULL)) != -1) {
		switch (c) {
		case 'J':
			if (pack_parse_output("measure", optarg, &json) < 0)
				goto usage;
			break;
		case 'j':
			json = true;
			break;
		case 'U':
			io.force_share = true;
			break;
		case 'c':
			compress = true;
			break;
		case 'f':
			fmt = ukit_image_format_parse(optarg);
			if (fmt != IMG_RAW && fmt != IMG_QCOW2) {
				cli_errx("measure: -f %s: want raw or qcow2",
					 optarg);
				goto usage;
			}
			break;
		case 'O':
			out_fmt = ukit_image_format_parse(optarg);
			if (out_fmt != IMG_RAW && out_fmt != IMG_QCOW2) {
				cli_errx("measure: -O %s: want raw or qcow2",
					 optarg);
				goto usage;
			}
			break;
		case 'o':
			if (pack_parse_o("measure", optarg, &pq) < 0)
				goto usage;
			break;
		case OPT_SIZE:
			if (pack_parse_size(optarg, &size) < 0) {
				cli_errx("measure: --size %s: not a size", optarg);
				goto usage;
			}
			have_size = true;
			break;
		default:
			pack_qopts_free(&pq);
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind > 1 || (argc - optind == 1) == have_size) {
		if (argc - optind == 0) {
			pack_qopts_free(&pq);
			cli_usage(stderr, 2);   /* "missing --size or IMAGE" */
		}
		cli_errx("measure: give --size SIZE or one IMAGE, not both");
		goto usage;
	}
	if (out_fmt == IMG_RAW && pq.any) {
		cli_errx("measure: -o is for -O qcow2");
		goto usage;
	}
	if (pack_qopts_finish("measure", &pq, compress) < 0)
		goto usage;
	if (!have_size) {
		path = e.path = argv[optind];
		if ((fd = cli_open_seekable(path, false)) < 0)
			goto out;
		if (ukit_image_open(fd, path, fmt, &io, &img, &e) < 0) {
			e.path = path;
			open_err(&e);
			goto out;
		}
	}
	if (out_fmt == IMG_QCOW2) {
		struct ukit_qcow2w_geom g;

		/* the L1 table limit, as qemu-img measure refuses it */
		if (ukit_qcow2w_geom(&pq.q, img != NULL ? ukit_image_size(img) : size,
				&g, &e) < 0) {
			cli_err(&e);
			goto out;
		}
	}
	if (out_fmt == IMG_RAW) {
		/* a raw file holds every byte of the virtual size, which
		 * qemu counts in whole sectors for a raw input too */
		if (img == NULL || ukit_image_qcow2(img) == NULL)
			size = ((img != NULL ? ukit_image_size(img) : size) +
				511) / 512 * 512;
		else
			size = ukit_image_size(img);
		m.required = m.fully_allocated = size;
	} else {
		struct ukit_map_chain chain;

		if (img != NULL &&
		    ukit_map_chain_init(img, path, &chain, &e) < 0) {
			cli_err(&e);
			goto out;
		}
		if (ukit_measure_qcow2(img != NULL ? &chain : NULL, size,
				       &pq.q, &m, &e) < 0) {
			cli_err(&e);
			goto out;
		}
		/* qemu says what bitmaps add when the input can have them
		 * (qcow2) and the output can keep them (v3) */
		if (img != NULL && ukit_image_qcow2(img) != NULL &&
		    pq.q.version >= 3) {
			struct qcow2 *q = ukit_image_qcow2(img);

			m.has_bitmaps = true;
			if (ukit_qcow2_bitmaps_size(fd, ukit_qcow2_header(q),
						    ukit_qcow2_file_size(q),
						    1ULL << pq.q.cluster_bits,
						    &m.bitmaps, &e) < 0) {
				cli_err(&e);
				goto out;
			}
		}
	}
	if (json) {
		printf("{\n");
		if (m.has_bitmaps)
			printf("    \"bitmaps\": %" PRIu64 ",\n", m.bitmaps);
		printf("    \"required\": %" PRIu64 ",\n"
		       "    \"fully-allocated\": %" PRIu64 "\n}\n",
		       m.required, m.fully_allocated);
	} else {
		printf("required size: %" PRIu64 "\n"
		       "fully allocated size: %" PRIu64 "\n",
		       m.required, m.fully_allocated);
		if (m.has_bitmaps)
			printf("bitmaps size: %" PRIu64 "\n", m.bitmaps);
	}
	rc = 0;
out:
	ukit_image_close(img);
	if (fd >= 0)
		close(fd);
	pack_qopts_free(&pq);
	return rc;
usage:
	pack_qopts_free(&pq);
	return 2;
}
