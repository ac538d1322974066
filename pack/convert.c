/*
 * convert.c: ukit-pack convert: raw, qcow2, ELF and flat binary into each other.
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
#include "outfile.h"
#include "qcow2.h"
#include "qinto.h"
#include "target.h"
#include <jansson.h>
#include <sys/stat.h>
#include "pack.h"

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

static int parse_fmt(const char *s, enum ukit_image_format *f)
{
	static const struct { const char *name; enum ukit_image_format f; } t[] = {
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

/*
 * Refuse to replace a disk image (out) that a QEMU process has open, as
 * qemu-img convert refuses to write it: that process would go on with
 * the old file.  Converting a file onto itself is fine (its input locks
 * are ukit's own).  (out) is no symbolic link (the caller followed it).
 * 0, or -1 after printing why.
 */
static int output_in_use(const char *out, int in_fd)
{
	struct fmt_err e = { .path = out, .off = FMT_NOOFF };
	struct stat so, si;
	uint64_t byte = 0;
	int ofd, r = 0;

	ofd = open(out, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return 0;     /* no file, a link, or not ours to read */
	if (fstat(ofd, &so) == 0 && S_ISREG(so.st_mode) &&
	    !(fstat(in_fd, &si) == 0 && si.st_dev == so.st_dev &&
	      si.st_ino == so.st_ino)) {
		r = ukit_image_in_use(ofd, &byte, &e);
		if (r == 1)
			ukit_fmt_errf(&e, FMT_NOOFF, IMAGE_IN_USE "another process "
				 "has it open (QEMU's image lock, byte %" PRIu64
				 "); replacing it would leave that process "
				 "on the old file; stop it first", byte);
		if (r != 0) {
			open_err(&e);
			r = -1;
		}
	}
	close(ofd);
	return r;
}

enum {
	OPT_LEVEL = 256, OPT_CLUSTER, OPT_COMPAT, OPT_LOAD, OPT_ENTRY,
	OPT_ARCH, OPT_NO_CHECK, OPT_ALLOW_BACKING, OPT_COMPRESS,
};

/*
 * ukit's older spelling "-c zlib" / "-c zstd" (-c took the type) is read
 * as --compress=TYPE, so scripts that use it keep working; a bare -c is
 * qemu-img's: compress, with the type from -o compression_type= or zlib.
 */
static void old_c_spelling(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-c") == 0 &&
		    (strcmp(argv[i + 1], "zlib") == 0 ||
		     strcmp(argv[i + 1], "zstd") == 0))
			argv[i] = (char *)"--compress";
	}
}

/* Bytes of data (not zeros, not holes) in (img), for the report. */
static uint64_t data_bytes(struct image *img)
{
	struct fmt_err e = { .off = FMT_NOOFF };
	struct image_extent x;
	uint64_t n = 0;

	for (uint64_t off = 0; off < ukit_image_size(img); off += x.len) {
		if (ukit_image_map(img, off, &x, &e) < 0 || x.len == 0)
			return n;
		if (x.kind == EXT_DATA)
			n += x.len;
	}
	return n;
}

/*
 * convert -n: write (img) as raw into the existing (out) (a block device
 * or a file): zero it over the image, write the data, sync (unless
 * unsafe) and say what was written.  Exit status.
 */
static int convert_in_place(struct image *img, int in_fd, const char *in,
			    const char *out, struct convert_opts *co,
			    bool unsafe, int prog_mode)
{
	struct fmt_err e = { .path = out, .off = FMT_NOOFF };
	struct ukit_target t;
	struct cli_progress pr;
	struct stat si, so;
	uint64_t size = ukit_image_size(img);
	int rc = 1;

	if (ukit_target_open(out, &t, &e) < 0) {
		cli_err(&e);
		return 1;
	}
	/* the target is zeroed first: never the input itself */
	if (fstat(in_fd, &si) == 0 && fstat(t.fd, &so) == 0 &&
	    ((si.st_dev == so.st_dev && si.st_ino == so.st_ino) ||
	     (S_ISBLK(si.st_mode) && S_ISBLK(so.st_mode) &&
	      si.st_rdev == so.st_rdev))) {
		cli_errx("%s: is the input %s; -n would overwrite what it "
			 "reads", out, in);
		goto out;
	}
	if (ukit_target_zero(&t, size, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	co->keep_size = true;
	cli_progress_start(&pr, prog_mode, size);
	co->progress = progress_cb;
	co->ctx = &pr;
	rc = ukit_convert_to_raw(img, in, t.fd, out, co, &e);
	cli_progress_end(&pr);
	if (rc < 0) {
		cli_err(&e);
		rc = 1;
		goto out;
	}
	e.path = out;
	if (!unsafe && ukit_target_sync(&t, &e) < 0) {
		cli_err(&e);
		rc = 1;
		goto out;
	}
	rc = 0;
	if (prog_mode >= 0)
		printf("wrote %" PRIu64 " bytes (%" PRIu64 " of data, the rest "
		       "zeroed) into %s %s%s\n", size, data_bytes(img),
		       t.is_blk ? "block device" : "file", out,
		       unsafe ? " (-t unsafe: not synced)" : ", synced");
out:
	close(t.fd);
	return rc;
}

/*
 * convert -n -O qcow2: write (img) into the existing qcow2 image (out),
 * which keeps its own options (qinto.h), and say what was done.  Exit
 * status.
 */
static int convert_into_qcow2(struct image *img, int in_fd, const char *in,
			      const char *out, struct convert_opts *co,
			      bool unsafe, bool force_share, int prog_mode)
{
	struct fmt_err e = { .path = out, .off = FMT_NOOFF };
	struct ukit_qinto_stats st;
	struct cli_progress pr;
	struct stat si, so;
	uint64_t byte = 0;
	int ofd, r, rc = 1;

	if (stat(out, &so) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot write in place");
		cli_err(&e);
		return 1;
	}
	if (!S_ISREG(so.st_mode)) {
		cli_errx("%s: is %s: -n -O qcow2 writes into an existing qcow2 "
			 "image file", out, ukit_file_kind(so.st_mode));
		return 1;
	}
	ofd = open(out, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (ofd < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot open for writing");
		cli_err(&e);
		return 1;
	}
	/* the target changes as it is written: never the input itself */
	if (fstat(in_fd, &si) == 0 && fstat(ofd, &so) == 0 &&
	    si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
		cli_errx("%s: is the input %s; -n would overwrite what it "
			 "reads", out, in);
		goto out;
	}
	if (!force_share) {
		r = ukit_image_in_use(ofd, &byte, &e);
		if (r == 1)
			ukit_fmt_errf(&e, FMT_NOOFF, IMAGE_IN_USE "another process "
				      "has it open (QEMU's image lock, byte %"
				      PRIu64 "); writing into it under that "
				      "process would corrupt it; stop it "
				      "first", byte);
		if (r != 0) {
			cli_err(&e);
			goto out;
		}
	}
	cli_progress_start(&pr, prog_mode, ukit_image_size(img));
	co->progress = progress_cb;
	co->ctx = &pr;
	r = ukit_convert_into_qcow2(img, in, ofd, out, co, unsafe, &st, &e);
	cli_progress_end(&pr);
	if (r < 0) {
		cli_err(&e);
		goto out;
	}
	rc = 0;
	if (prog_mode >= 0)
		printf("wrote %" PRIu64 " bytes (%" PRIu64 " of data) into qcow2 "
		       "image %s: %" PRIu64 " clusters written in place, %"
		       PRIu64 " appended, %" PRIu64 " made zero, %" PRIu64
		       " freed; file %" PRIu64 " -> %" PRIu64 " bytes%s\n",
		       ukit_image_size(img), data_bytes(img), out, st.reused,
		       st.allocated, st.zeroed, st.freed, st.file_before,
		       st.file_after, unsafe ? " (-t unsafe: not synced)" :
		       ", synced");
out:
	close(ofd);
	return rc;
}

int cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "cluster-size", required_argument, NULL, OPT_CLUSTER },
		{ "compat", required_argument, NULL, OPT_COMPAT },
		{ "load-addr", required_argument, NULL, OPT_LOAD },
		{ "entry", required_argument, NULL, OPT_ENTRY },
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "no-check", no_argument, NULL, OPT_NO_CHECK },
		{ "allow-backing", no_argument, NULL, OPT_ALLOW_BACKING },
		{ "force-share", no_argument, NULL, 'U' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "options", required_argument, NULL, 'o' },
		{ "cache", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts co = { .level = -1 };
	struct pack_qopts pq;
	bool compress = false, in_place = false, unsafe = false;
	const char *backing = NULL, *backing_fmt = NULL;
	char *out_real = NULL;
	struct stat ost;
	struct binelf_opts bo = { .machine = -1 };
	struct image_opts io = { .check = true };
	enum ukit_image_format in_fmt = IMG_PROBE, out_fmt = IMG_PROBE;
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
	pack_qopts_init(&pq);
	old_c_spelling(argc, argv);
	while ((c = getopt_long(argc, argv, "f:O:cj:pqUo:nt:T:Wm:B:F:", lo,
				NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_fmt(optarg, &in_fmt) < 0) {
				cli_errx("convert: unknown input format '%s' "
					 "(raw, qcow2, elf or bin)", optarg);
				return 2;
			}
			break;
		case 'O':
			if (parse_fmt(optarg, &out_fmt) < 0) {
				cli_errx("convert: unknown output format '%s' "
					 "(raw, qcow2, bin or elf)", optarg);
				return 2;
			}
			have_out = true;
			break;
		case 'c':
			compress = true;
			break;
		case OPT_COMPRESS:
			if (strcmp(optarg, "zlib") == 0)
				pq.ctype = QCOW2W_ZLIB;
			else if (strcmp(optarg, "zstd") == 0)
				pq.ctype = QCOW2W_ZSTD;
			else {
				cli_errx("convert: unknown compression '%s' (zlib or zstd)",
					 optarg);
				return 2;
			}
			pq.have_ctype = true;
			compress = true;
			break;
		case 'o':
			if (pack_parse_o("convert", optarg, &pq) < 0)
				return 2;
			break;
		case 'n':
			in_place = true;
			break;
		case 't':
			if (pack_parse_cache("convert", optarg, &unsafe) < 0)
				return 2;
			break;
		case 'T':
			/* the source cache mode: reading is the same */
			if (pack_parse_cache("convert", optarg, &(bool){0}) < 0)
				return 2;
			break;
		case 'W':
			/* out-of-order writes: ukit's workers always write
			 * in parallel; the output bytes do not change */
			break;
		case 'B':
			backing = optarg;
			break;
		case 'F':
			backing_fmt = optarg;
			break;
		case 'm':
		case 'j':
			if (parse_u64(optarg, &v, false) < 0 || v < 1 ||
			    v > CONVERT_MAX_THREADS) {
				cli_errx("convert: -%c wants 1..%d", c,
					 CONVERT_MAX_THREADS);
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
			pq.q.cluster_bits = (unsigned)__builtin_ctzll(v);
			pq.any = true;
			break;
		case OPT_COMPAT:
			if (strcmp(optarg, "0.10") == 0)
				pq.q.version = 2;
			else if (strcmp(optarg, "1.1") == 0)
				pq.q.version = 3;
			else {
				cli_errx("convert: --compat wants 0.10 or 1.1");
				return 2;
			}
			pq.have_compat = pq.any = true;
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
		case OPT_NO_CHECK:
			io.check = false;
			break;
		case OPT_ALLOW_BACKING:
			io.allow_backing = true;
			break;
		case 'U':
			io.force_share = true;
			break;
		case OPT_ARCH:
			if ((bo.machine = ukit_binelf_arch(optarg)) < 0) {
				cli_errx("convert: unknown --arch '%s' "
					 "(x86_64, aarch64 or ppc64le)", optarg);
				return 2;
			}
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2 || !have_out)
		cli_usage(stderr, 2);   /* says which of -O, IN, OUT is missing */
	in = argv[optind];
	out = argv[optind + 1];
	if (backing != NULL &&
	    pack_qopts_backing("convert", &pq, backing, pq.q.backing_fmt) < 0)
		return 2;
	if (backing_fmt != NULL) {
		if (backing == NULL) {
			cli_errx("convert: -F names the format of the -B backing "
				 "file");
			return 2;
		}
		if (ukit_image_format_parse(backing_fmt) != IMG_RAW &&
		    ukit_image_format_parse(backing_fmt) != IMG_QCOW2) {
			cli_errx("convert: -F %s: want raw or qcow2",
				 backing_fmt);
			return 2;
		}
		if (pack_qopts_backing("convert", &pq, backing,
				       backing_fmt) < 0)
			return 2;
	}
	if (pq.q.backing_file != NULL) {
		if (in_place) {
			cli_errx("convert: -B makes a new image; -n writes into "
				 "an existing one");
			return 2;
		}
		/* without a backing file the unwritten clusters are zeros
		 * already; with one they must say so */
		pq.q.zero_unwritten = true;
	}
	if (compress && pq.ctype == QCOW2W_ZSTD && pq.q.version == 2) {
		cli_errx("convert: -c zstd needs --compat 1.1 (-o compat=1.1)");
		return 2;
	}
	if (pack_qopts_finish("convert", &pq, compress) < 0)
		return 2;
	co.q = pq.q;
	co.no_writeback = unsafe;
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
	if (out_fmt != IMG_QCOW2 && (compress || pq.any)) {
		cli_errx("convert: -c, -o, -B, --cluster-size and --compat are "
			 "for -O qcow2");
		return 2;
	}
	if (in_place && out_fmt != IMG_RAW && out_fmt != IMG_QCOW2) {
		cli_errx("convert: -n writes into an existing target: a raw "
			 "one (a block device or a file, -O raw) or a qcow2 "
			 "image (-O qcow2), not -O %s",
			 ukit_image_format_name(out_fmt));
		return 2;
	}
	if (in_place && out_fmt == IMG_QCOW2 && pq.any) {
		cli_errx("convert: -o has no effect when skipping image "
			 "creation (as qemu-img says): -n keeps the target's "
			 "own options (-o, --cluster-size, --compat)");
		return 2;
	}
	if (in_place && out_fmt == IMG_QCOW2 && compress) {
		cli_errx("convert: -c with -n: compressed writes into an "
			 "existing qcow2 image are not supported; convert "
			 "without -n to compress");
		return 2;
	}

	if ((fd = cli_open_seekable(in, false)) < 0)
		return 1;
	if (out_fmt != IMG_BIN && in_fmt != IMG_RAW && in_fmt != IMG_BIN) {
		enum ukit_image_format pf = in_fmt;

		e.path = in;
		if (pf == IMG_PROBE && ukit_image_probe(fd, &pf, &e) < 0) {
			cli_err(&e);
			close(fd);
			return 1;
		}
		if (pf == IMG_ELF) {
			cli_errx("convert: %s is an ELF file: converting it to "
				 "%s would %s; `ukit-pack disk %s -O %s OUT` "
				 "makes a disk that boots it (%s takes the "
				 "file's bytes as they are)", in,
				 ukit_image_format_name(out_fmt),
				 out_fmt == IMG_ELF ? "wrap an ELF in an ELF"
				 : "give a disk that nothing boots", in,
				 out_fmt == IMG_QCOW2 ? "qcow2" : "raw",
				 out_fmt == IMG_ELF ? "-f bin" : "-f raw");
			close(fd);
			return 2;
		}
	}
	if (out_fmt == IMG_ELF || out_fmt == IMG_BIN) {
		if (ukit_outfile_open(&of, out, out_fmt == IMG_ELF ? 0755 : 0644,
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
			rc = ukit_binelf_to_bin(fd, in, of.fd, out, &e);
		} else {
			if (in_fmt != IMG_PROBE && in_fmt != IMG_BIN &&
			    in_fmt != IMG_RAW) {
				cli_errx("convert: -O elf converts a flat binary (-f bin)");
				rc = 2;
				goto abort;
			}
			rc = ukit_binelf_to_elf(fd, in, of.fd, out, &bo, &e);
		}
		if (rc < 0) {
			rc = 1;
			cli_err(&e);
			goto abort;
		}
		e.path = out;
		if (ukit_outfile_commit(&of, &e) < 0) {
			cli_err(&e);
			close(fd);
			return 1;
		}
		close(fd);
		return 0;
	}
	if (strcmp(out, "-") == 0) {
		cli_errx("convert: cannot write %s to standard output",
			 ukit_image_format_name(out_fmt));
		close(fd);
		return 2;
	}
	e.path = in;
	if (ukit_image_open(fd, in, in_fmt, &io, &img, &e) < 0) {
		e.path = in;
		open_err(&e);
		close(fd);
		return 1;
	}
	if (in_place && out_fmt == IMG_QCOW2) {
		rc = convert_into_qcow2(img, fd, in, out, &co, unsafe,
					io.force_share, prog_mode);
		goto out;
	}
	if (in_place) {
		rc = convert_in_place(img, fd, in, out, &co, unsafe,
				      prog_mode);
		goto out;
	}
	/* a symbolic link is followed: the file it names is replaced */
	if ((out_real = pack_follow_link(out)) == NULL) {
		cli_errx("%s: cannot follow the link: %s", out,
			 strerror(errno));
		goto out;
	}
	out = out_real;
	/* never replace a device, a FIFO or a socket with a file */
	if (lstat(out, &ost) == 0 && !S_ISREG(ost.st_mode) &&
	    !S_ISDIR(ost.st_mode)) {
		cli_errx("%s: is %s; convert -n writes into a block device, "
			 "convert never replaces one with a file", out,
			 ukit_file_kind(ost.st_mode));
		goto out;
	}
	if (!io.force_share && output_in_use(out, fd) < 0)
		goto out;
	if (ukit_outfile_open(&of, out, 0644, &e) < 0) {
		e.path = out;
		cli_err(&e);
		goto out;
	}
	of.nosync = unsafe;
	cli_progress_start(&pr, prog_mode, ukit_image_size(img));
	co.progress = progress_cb;
	co.ctx = &pr;
	if (out_fmt == IMG_QCOW2)
		rc = ukit_convert_to_qcow2(img, in, of.fd, out, &co, &e);
	else if (out_fmt == IMG_RAW)
		rc = ukit_convert_to_raw(img, in, of.fd, out, &co, &e);
	else
		rc = ukit_fmt_errf(&e, FMT_NOOFF, "cannot convert %s to %s",
			      ukit_image_format_name(ukit_image_format(img)),
			      ukit_image_format_name(out_fmt));
	cli_progress_end(&pr);
	if (rc < 0) {
		rc = 1;
		cli_err(&e);
		goto abort;
	}
	e.path = out;
	if (ukit_outfile_commit(&of, &e) < 0) {
		cli_err(&e);
		rc = 1;
		goto out;
	}
	rc = 0;
	goto out;
abort:
	ukit_outfile_abort(&of);
out:
	ukit_image_close(img);
	close(fd);
	free(out_real);
	pack_qopts_free(&pq);
	return rc;
}
