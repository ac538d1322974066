/*
 * compare.c: ukit-pack compare: same virtual content, across formats.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <unistd.h>
#include "binelf.h"
#include "bytes.h"
#include "cli.h"
#include "convert.h"
#include "elfimg.h"
#include "manifest.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "qcow2.h"
#include <jansson.h>
#include <sys/stat.h>
#include "pack.h"

/* ---- compare -------------------------------------------------------- */

/* Open (path) read-only as an image; prints the error.  0 or -1. */
static int open_image(const char *path, enum ukit_image_format fmt,
		      const struct image_opts *o, int *fd, struct image **img)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };

	if ((*fd = cli_open_seekable(path, false)) < 0)
		return -1;
	if (ukit_image_open(*fd, path, fmt, o, img, &e) < 0) {
		open_err(&e);
		close(*fd);
		return -1;
	}
	return 0;
}

#define CMP_CHUNK (1u << 20)   /* bytes compared per read */

/* Index of the first non-zero byte of (p, n), or n. */
static size_t first_nonzero(const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w)
			break;
	}
	for (; i < n; i++)
		if (p[i])
			return i;
	return n;
}

/* The extent of (img) at (off); past its end, a hole without end. */
static int cmp_map(struct image *img, uint64_t off, struct image_extent *x,
		   struct fmt_err *e)
{
	if (off >= ukit_image_size(img)) {
		x->off = off;
		x->len = UINT64_MAX - off;
		x->kind = EXT_HOLE;
		return 0;
	}
	return ukit_image_map(img, off, x, e);
}

static int cmp_read(struct image *img, uint8_t *buf, size_t n, uint64_t off,
		    enum extent_kind k, struct fmt_err *e)
{
	if (k != EXT_DATA) {
		memset(buf, 0, n);
		return 0;
	}
	return ukit_image_read(img, buf, n, off, e);
}

/* --json: the verdict, the two sizes and where the content first
 * differs (schemas/pack-compare.schema.json).  0 or -1. */
static int compare_json(bool identical, bool strict, uint64_t sa,
			uint64_t sb, bool mismatch, uint64_t at)
{
	json_t *j = json_pack("{s:b,s:b,s:[I,I],s:b,s:o}", "identical",
			      identical, "strict", strict, "sizes",
			      (json_int_t)sa, (json_int_t)sb, "size_mismatch",
			      sa != sb, "first_mismatch",
			      mismatch ? json_integer((json_int_t)at)
				       : json_null());

	if (j == NULL) {
		cli_errx("out of memory");
		return -1;
	}
	return print_json(j);
}

int cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "allow-backing", no_argument, NULL, 'B' },
		{ "no-check", no_argument, NULL, 'N' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_opts o = { .check = true };
	bool strict = false, json = false;
	int c, fda = -1, fdb = -1, rc = 1;
	struct image *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t off = 0, end;
	struct fmt_err e = { .off = FMT_NOOFF };

	while ((c = getopt_long(argc, argv, "sU", lo, NULL)) != -1) {
		switch (c) {
		case 's': strict = true; break;
		case 'U': o.force_share = true; break;
		case 'B': o.allow_backing = true; break;
		case 'N': o.check = false; break;
		case 'J': json = true; break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2)
		cli_usage(stderr, 2);
	if (open_image(argv[optind], IMG_PROBE, &o, &fda, &a) < 0 ||
	    open_image(argv[optind + 1], IMG_PROBE, &o, &fdb, &b) < 0)
		goto out;
	/* qemu-img compare's words, and the two sizes */
	if (strict && ukit_image_size(a) != ukit_image_size(b)) {
		if (json)
			compare_json(false, strict, ukit_image_size(a),
				     ukit_image_size(b), false, 0);
		else
			printf("Strict mode: Image size mismatch! (%" PRIu64
			       " != %" PRIu64 ")\n", ukit_image_size(a),
			       ukit_image_size(b));
		goto out;
	}
	if (ukit_image_size(a) != ukit_image_size(b) && !json)
		printf("Warning: Image size mismatch!\n");
	ba = malloc(CMP_CHUNK);
	bb = malloc(CMP_CHUNK);
	if (!ba || !bb) {
		cli_errx("out of memory");
		goto out;
	}
	end = ukit_image_size(a) > ukit_image_size(b) ? ukit_image_size(a) : ukit_image_size(b);
	while (off < end) {
		struct image_extent xa, xb;
		uint64_t len;
		size_t n, i;

		e.path = argv[optind];
		if (cmp_map(a, off, &xa, &e) < 0)
			goto err;
		e.path = argv[optind + 1];
		if (cmp_map(b, off, &xb, &e) < 0)
			goto err;
		len = xa.off + xa.len - off;
		if (xb.off + xb.len - off < len)
			len = xb.off + xb.len - off;
		if (end - off < len)
			len = end - off;
		if (xa.kind != EXT_DATA && xb.kind != EXT_DATA) {
			off += len;
			continue;
		}
		n = len < CMP_CHUNK ? (size_t)len : CMP_CHUNK;
		e.path = argv[optind];
		if (cmp_read(a, ba, n, off, xa.kind, &e) < 0)
			goto err;
		e.path = argv[optind + 1];
		if (cmp_read(b, bb, n, off, xb.kind, &e) < 0)
			goto err;
		if (xa.kind != EXT_DATA)
			i = first_nonzero(bb, n);
		else if (xb.kind != EXT_DATA)
			i = first_nonzero(ba, n);
		else if (memcmp(ba, bb, n) == 0)
			i = n;
		else
			for (i = 0; ba[i] == bb[i]; i++)
				;
		if (i < n) {
			if (json)
				compare_json(false, strict, ukit_image_size(a),
					     ukit_image_size(b), true, off + i);
			else
				printf("Content mismatch at offset %" PRIu64
				       "!\n", off + i);
			goto out;
		}
		off += n;
	}
	if (json)
		rc = compare_json(true, strict, ukit_image_size(a), ukit_image_size(b),
				  false, 0) < 0 ? 1 : 0;
	else {
		printf("Images are identical.\n");
		rc = 0;
	}
	goto out;
err:
	cli_err(&e);
out:
	free(ba);
	free(bb);
	ukit_image_close(a);
	ukit_image_close(b);
	if (fda >= 0)
		close(fda);
	if (fdb >= 0)
		close(fdb);
	return rc;
}
