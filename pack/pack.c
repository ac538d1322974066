/*
 * pack.c: ukit-pack, inspect, check, convert and compare images (raw,
 * qcow2, ELF, flat binary).  The formats live in libukit; this file parses
 * options and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <unistd.h>

#include "binelf.h"
#include "bytes.h"
#include "cli.h"
#include "convert.h"
#include "err.h"
#include "image.h"
#include "outfile.h"

static int cmd_info(int argc, char **argv);
static int cmd_convert(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_compare(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "info", cmd_info, "info [--json] IMAGE" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] IN OUT" },
	{ "check", cmd_check, "check [--json] IMAGE" },
	{ "compare", cmd_compare, "compare A B" },
};

/* ---- info ----------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("info: not implemented yet");
	return 1;
}

/* ---- check ---------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("check: not implemented yet");
	return 1;
}

/* ---- compare -------------------------------------------------------- */

/* Open (path) read-only as an image; prints the error.  0 or -1. */
static int open_image(const char *path, enum image_format fmt,
		      const struct image_opts *o, int *fd, struct image **img)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		fmt_errno(&e, FMT_NOOFF, "open");
		cli_err(&e);
		return -1;
	}
	if (image_open(*fd, path, fmt, o, img, &e) < 0) {
		cli_err(&e);
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
	if (off >= image_size(img)) {
		x->off = off;
		x->len = UINT64_MAX - off;
		x->kind = EXT_HOLE;
		return 0;
	}
	return image_map(img, off, x, e);
}

static int cmp_read(struct image *img, uint8_t *buf, size_t n, uint64_t off,
		    enum extent_kind k, struct fmt_err *e)
{
	if (k != EXT_DATA) {
		memset(buf, 0, n);
		return 0;
	}
	return image_read(img, buf, n, off, e);
}

static int cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "allow-backing", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_opts o = { 0 };
	bool strict = false;
	int c, fda = -1, fdb = -1, rc = 1;
	struct image *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t off = 0, end;
	struct fmt_err e = { .off = FMT_NOOFF };

	while ((c = getopt_long(argc, argv, "s", lo, NULL)) != -1) {
		switch (c) {
		case 's': strict = true; break;
		case 'B': o.allow_backing = true; break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2)
		cli_usage(stderr, 2);
	if (open_image(argv[optind], IMG_PROBE, &o, &fda, &a) < 0 ||
	    open_image(argv[optind + 1], IMG_PROBE, &o, &fdb, &b) < 0)
		goto out;
	if (strict && image_size(a) != image_size(b)) {
		printf("Image size mismatch: %" PRIu64 " != %" PRIu64 "\n",
		       image_size(a), image_size(b));
		goto out;
	}
	ba = malloc(CMP_CHUNK);
	bb = malloc(CMP_CHUNK);
	if (!ba || !bb) {
		cli_errx("out of memory");
		goto out;
	}
	end = image_size(a) > image_size(b) ? image_size(a) : image_size(b);
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
			printf("Content mismatch at offset %" PRIu64 "!\n",
			       off + i);
			goto out;
		}
		off += n;
	}
	printf("Images are identical.\n");
	rc = 0;
	goto out;
err:
	cli_err(&e);
out:
	free(ba);
	free(bb);
	image_close(a);
	image_close(b);
	if (fda >= 0)
		close(fda);
	if (fdb >= 0)
		close(fdb);
	return rc;
}

/* ---- convert -------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v, bool suffix)
{
	char *end;
	unsigned long long n;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		return -1;
	n = strtoull(s, &end, 0);
	if (errno != 0)
		return -1;
	if (suffix && *end != '\0' && end[1] == '\0') {
		unsigned sh = *end == 'k' || *end == 'K' ? 10
			: *end == 'm' || *end == 'M' ? 20 : 0;
		if (sh == 0 || n > (UINT64_MAX >> sh))
			return -1;
		n <<= sh;
		end++;
	}
	if (*end != '\0')
		return -1;
	*v = n;
	return 0;
}

static int parse_fmt(const char *s, enum image_format *f)
{
	static const struct { const char *name; enum image_format f; } t[] = {
		{ "raw", IMG_RAW }, { "qcow2", IMG_QCOW2 },
		{ "elf", IMG_ELF }, { "bin", IMG_BIN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (strcmp(s, t[i].name) == 0) {
			*f = t[i].f;
			return 0;
		}
	return -1;
}

static void progress_cb(void *ctx, uint64_t done)
{
	cli_progress_update(ctx, done);
}

enum {
	OPT_LEVEL = 256, OPT_CLUSTER, OPT_COMPAT, OPT_LOAD, OPT_ENTRY,
	OPT_ARCH,
};

static int cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "cluster-size", required_argument, NULL, OPT_CLUSTER },
		{ "compat", required_argument, NULL, OPT_COMPAT },
		{ "load-addr", required_argument, NULL, OPT_LOAD },
		{ "entry", required_argument, NULL, OPT_ENTRY },
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts co = {
		.q = { .cluster_bits = 16, .version = 3, .comp = QCOW2W_NONE },
		.level = -1,
	};
	struct binelf_opts bo = { .machine = -1 };
	enum image_format in_fmt = IMG_PROBE, out_fmt = IMG_PROBE;
	bool have_out = false, have_load = false, have_entry = false;
	bool have_level = false;
	int prog_mode = 0, c, rc = 1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	const char *in, *out;
	struct fmt_err e = { 0 };
	struct outfile of;
	struct cli_progress pr;
	struct image *img = NULL;
	int fd = -1;

	co.threads = ncpu > 0 ? (unsigned)ncpu : 1;
	while ((c = getopt_long(argc, argv, "f:O:c:j:pq", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_fmt(optarg, &in_fmt) < 0) {
				cli_errx("convert: unknown input format '%s'", optarg);
				return 2;
			}
			break;
		case 'O':
			if (parse_fmt(optarg, &out_fmt) < 0) {
				cli_errx("convert: unknown output format '%s'", optarg);
				return 2;
			}
			have_out = true;
			break;
		case 'c':
			if (strcmp(optarg, "zlib") == 0)
				co.q.comp = QCOW2W_ZLIB;
			else if (strcmp(optarg, "zstd") == 0)
				co.q.comp = QCOW2W_ZSTD;
			else {
				cli_errx("convert: unknown compression '%s' (zlib or zstd)",
					 optarg);
				return 2;
			}
			break;
		case 'j':
			if (parse_u64(optarg, &v, false) < 0 || v < 1 ||
			    v > CONVERT_MAX_THREADS) {
				cli_errx("convert: -j wants 1..%d", CONVERT_MAX_THREADS);
				return 2;
			}
			co.threads = (unsigned)v;
			break;
		case 'p':
			prog_mode = 1;
			break;
		case 'q':
			prog_mode = -1;
			break;
		case OPT_LEVEL:
			if (parse_u64(optarg, &v, false) < 0 || v > 22) {
				cli_errx("convert: --level wants 0..22");
				return 2;
			}
			co.level = (int)v;
			have_level = true;
			break;
		case OPT_CLUSTER:
			if (parse_u64(optarg, &v, true) < 0 || v < 512 ||
			    v > (2u << 20) || (v & (v - 1)) != 0) {
				cli_errx("convert: --cluster-size wants a power of two "
					 "from 512 to 2M");
				return 2;
			}
			co.q.cluster_bits = (unsigned)__builtin_ctzll(v);
			break;
		case OPT_COMPAT:
			if (strcmp(optarg, "0.10") == 0)
				co.q.version = 2;
			else if (strcmp(optarg, "1.1") == 0)
				co.q.version = 3;
			else {
				cli_errx("convert: --compat wants 0.10 or 1.1");
				return 2;
			}
			break;
		case OPT_LOAD:
		case OPT_ENTRY:
			if (parse_u64(optarg, &v, false) < 0) {
				cli_errx("convert: bad address '%s'", optarg);
				return 2;
			}
			if (c == OPT_LOAD) {
				bo.load_addr = v;
				have_load = true;
			} else {
				bo.entry = v;
				have_entry = true;
			}
			break;
		case OPT_ARCH:
			if ((bo.machine = binelf_arch(optarg)) < 0) {
				cli_errx("convert: unknown --arch '%s' "
					 "(x86_64, aarch64 or ppc64le)", optarg);
				return 2;
			}
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2 || !have_out) {
		cli_errx("convert: want -O FMT, IN and OUT");
		cli_usage(stderr, 2);
	}
	in = argv[optind];
	out = argv[optind + 1];
	if (have_level && co.q.comp == QCOW2W_NONE) {
		cli_errx("convert: --level needs -c zlib or -c zstd");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZLIB && have_level && co.level > 9) {
		cli_errx("convert: zlib --level wants 0..9");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZSTD && co.q.version == 2) {
		cli_errx("convert: -c zstd needs --compat 1.1");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZSTD && have_level && co.level < 1) {
		cli_errx("convert: zstd --level wants 1..22");
		return 2;
	}
	if (out_fmt == IMG_ELF) {
		if (!have_load || bo.machine < 0) {
			cli_errx("convert: -O elf needs --load-addr and --arch");
			return 2;
		}
		if (!have_entry)
			bo.entry = bo.load_addr;
	} else if (have_load || have_entry || bo.machine >= 0) {
		cli_errx("convert: --load-addr, --entry and --arch are for -O elf");
		return 2;
	}
	if (out_fmt != IMG_QCOW2 &&
	    (co.q.comp != QCOW2W_NONE || co.q.cluster_bits != 16 ||
	     co.q.version != 3)) {
		cli_errx("convert: -c, --cluster-size and --compat are for -O qcow2");
		return 2;
	}

	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_errx("%s: %s", in, strerror(errno));
		return 1;
	}
	if (out_fmt == IMG_ELF || out_fmt == IMG_BIN) {
		if (outfile_open(&of, out, out_fmt == IMG_ELF ? 0755 : 0644,
				 &e) < 0) {
			e.path = out;
			cli_err(&e);
			close(fd);
			return 1;
		}
		if (out_fmt == IMG_BIN) {
			if (in_fmt != IMG_PROBE && in_fmt != IMG_ELF) {
				cli_errx("convert: -O bin converts an ELF (-f elf)");
				rc = 2;
				goto abort;
			}
			rc = binelf_to_bin(fd, in, of.fd, out, &e);
		} else {
			if (in_fmt != IMG_PROBE && in_fmt != IMG_BIN &&
			    in_fmt != IMG_RAW) {
				cli_errx("convert: -O elf converts a flat binary (-f bin)");
				rc = 2;
				goto abort;
			}
			rc = binelf_to_elf(fd, in, of.fd, out, &bo, &e);
		}
		if (rc < 0) {
			rc = 1;
			cli_err(&e);
			goto abort;
		}
		e.path = out;
		if (outfile_commit(&of, &e) < 0) {
			cli_err(&e);
			close(fd);
			return 1;
		}
		close(fd);
		return 0;
	}
	if (strcmp(out, "-") == 0) {
		cli_errx("convert: cannot write %s to standard output",
			 image_format_name(out_fmt));
		close(fd);
		return 2;
	}
	e.path = in;
	if (image_open(fd, in, in_fmt, NULL, &img, &e) < 0) {
		e.path = in;
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (outfile_open(&of, out, 0644, &e) < 0) {
		e.path = out;
		cli_err(&e);
		goto out;
	}
	cli_progress_start(&pr, prog_mode, image_size(img));
	co.progress = progress_cb;
	co.ctx = &pr;
	if (out_fmt == IMG_QCOW2)
		rc = convert_to_qcow2(img, in, of.fd, out, &co, &e);
	else if (out_fmt == IMG_RAW)
		rc = convert_to_raw(img, in, of.fd, out, &co, &e);
	else
		rc = fmt_errf(&e, FMT_NOOFF, "cannot convert %s to %s",
			      image_format_name(image_format(img)),
			      image_format_name(out_fmt));
	cli_progress_end(&pr);
	if (rc < 0) {
		rc = 1;
		cli_err(&e);
		goto abort;
	}
	e.path = out;
	if (outfile_commit(&of, &e) < 0) {
		cli_err(&e);
		rc = 1;
		goto out;
	}
	rc = 0;
	goto out;
abort:
	outfile_abort(&of);
out:
	image_close(img);
	close(fd);
	return rc;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-pack", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
