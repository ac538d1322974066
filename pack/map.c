/*
 * map.c: ukit-pack map: where an image's data is, as qemu-img map prints
 * it (--output=json: the same bytes).
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

static void print_entry(const struct ukit_map_entry *m, bool first)
{
	printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
	       ", \"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
	       first ? "[" : ",\n", m->start, m->length, m->depth,
	       m->present ? "true" : "false", m->zero ? "true" : "false",
	       m->data ? "true" : "false");
	if (m->has_offset)
		printf(", \"offset\": %" PRIu64, m->offset);
	putchar('}');
}

/* Human: the data entries, as qemu-img map prints them, each with the
 * name of the layer that holds it.  0, or -1 when data has no host
 * offset (compressed), as qemu-img refuses it. */
static int print_human(const struct ukit_map_entry *m, const char *path)
{
	if (m->data && !m->has_offset) {
		cli_errx("map: %s: File contains external, encrypted or "
			 "compressed clusters.", path);
		return -1;
	}
	if (m->data && !m->zero)
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
		       m->start, m->length, m->offset, m->file);
	return 0;
}

int cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'J' },
		{ "json", no_argument, NULL, 'j' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	/* as qemu-img: an overlay is mapped with its backing chain */
	struct image_opts io = { .check = false, .allow_backing = true };
	enum ukit_image_format fmt = IMG_PROBE;
	struct fmt_err e = { .off = FMT_NOOFF };
	struct ukit_map_entry cur, nx;
	struct image *img = NULL;
	struct ukit_map_chain chain;
	bool json = false, have = false;
	const char *path;
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "f:U", lo, NULL)) != -1) {
		switch (c) {
		case 'J':
			if (pack_parse_output("map", optarg, &json) < 0)
				return 2;
			break;
		case 'j':
			json = true;
			break;
		case 'U':
			io.force_share = true;
			break;
		case 'f':
			fmt = ukit_image_format_parse(optarg);
			if (fmt != IMG_RAW && fmt != IMG_QCOW2) {
				cli_errx("map: -f %s: want raw or qcow2", optarg);
				return 2;
			}
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);   /* "missing IMAGE" or the extra one */
	path = e.path = argv[optind];
	if ((fd = cli_open_seekable(path, false)) < 0)
		return 1;
	if (ukit_image_open(fd, path, fmt, &io, &img, &e) < 0) {
		e.path = path;
		open_err(&e);
		close(fd);
		return 1;
	}
	if (ukit_map_chain_init(img, path, &chain, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");
	if (chain.l[0].size == 0 && json) {
		/* qemu-img prints one empty entry */
		memset(&cur, 0, sizeof cur);
		print_entry(&cur, true);
		printf("]\n");
		rc = 0;
		goto out;
	}
	for (uint64_t off = 0; off < chain.l[0].size; off += nx.length) {
		if (ukit_map_entry(&chain, off, &nx, &e) < 0) {
			cli_err(&e);
			goto out;
		}
		if (have && ukit_map_mergeable(&cur, &nx)) {
			cur.length += nx.length;
			continue;
		}
		if (have) {
			if (json)
				print_entry(&cur, cur.start == 0);
			else if (print_human(&cur, path) < 0)
				goto out;
		}
		cur = nx;
		have = true;
	}
	if (have) {
		if (json) {
			print_entry(&cur, cur.start == 0);
			printf("]\n");
		} else if (print_human(&cur, path) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	ukit_image_close(img);
	close(fd);
	return rc;
}
