/*
 * oci.c: ukit-pack oci: build unikernel OCI images and move them through
 * registries (build, push, pull, inspect, extract).  The formats and the
 * registry client live in libukit (formats/oci/); this file parses options
 * and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cert.h"
#include "cli.h"
#include "cli_oci.h"
#include "err.h"
#include "ocibuild.h"
#include "ocijson.h"
#include "ocilayout.h"
#include "ocisig.h"
#include "ociunpack.h"
#include "outfile.h"
#include "pack.h"
#include "registry.h"
#include "sig.h"

static const char oci_usage[] =
	"usage: ukit-pack oci build KERNEL [--disk IMG] [--initrd F] [--cmdline S]\n"
	"                 [--target hvt|spt|virtio|qemu|firecracker|xen]\n"
	"                 [--unikernel-type T] [--arch A] [-c gzip|zstd] [--level N]\n"
	"                 [--annotation K=V]... -o oci:DIR[:TAG]|oci-archive:FILE[:TAG]\n"
	"       ukit-pack oci push [REGOPTS] [--chunk-size N] [--mount-from REPO] [--json]\n"
	"                 [--no-signatures] SRC docker://HOST/REPO[:TAG]\n"
	"       ukit-pack oci pull [REGOPTS] [--verify-pub KEY | --verify-ca ROOT]\n"
	"                 [--no-signatures] SRC DST\n"
	"       ukit-pack oci inspect [REGOPTS] [--json] REF\n"
	"       ukit-pack oci extract [REGOPTS] REF --kernel-out F [--disk-out F] [--initrd-out F]\n"
	"REGOPTS: [--authfile F] [--creds USER:PASS] [--tls-verify=true|false]\n"
	"         [--cert-dir DIR] [--ca-file F]\n";

static int usage_err(void)
{
	fputs(oci_usage, stderr);
	return 2;
}

/* SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
static int epoch_now(int64_t *out)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s == NULL || *s == 0) {
		*out = (int64_t)time(NULL);
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0 || v > 077777777777LL) {
		cli_errx("SOURCE_DATE_EPOCH=%s: not a number of seconds in "
			 "0..8589934591", s);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- build ---------------------------------------------------------- */

/* Whether the user's --annotation sets (key). */
static bool has_ann(const struct ukit_oci_build_opts *o, const char *key)
{
	for (size_t i = 0; i < o->nann; i++)
		if (strcmp(o->ann_key[i], key) == 0)
			return true;
	return false;
}

static int oci_build(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "target", required_argument, NULL, 't' },
		{ "unikernel-type", required_argument, NULL, 'u' },
		{ "arch", required_argument, NULL, 'a' },
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "annotation", required_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ukit_oci_build_opts o;
	struct ukit_oci_build_info bi;
	struct ukit_oci_ref ref;
	struct ukit_oci_out *w = NULL;
	struct ukit_oci_desc man;
	struct fmt_err e = { .off = FMT_NOOFF };
	const char *out = NULL;
	bool json = false;
	int c;

	memset(&o, 0, sizeof o);
	o.level = -1;
	while ((c = getopt_long(argc, argv, "c:o:jh", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.disk = optarg; break;
		case 'i': o.initrd = optarg; break;
		case 'C': o.cmdline = optarg; break;
		case 't': o.target = optarg; break;
		case 'u': o.unikernel_type = optarg; break;
		case 'a': o.arch = optarg; break;
		case 'o': out = optarg; break;
		case 'j': json = true; break;
		case 'c':
			if (strcmp(optarg, "gzip") == 0)
				o.comp = OCI_COMP_GZIP;
			else if (strcmp(optarg, "zstd") == 0)
				o.comp = OCI_COMP_ZSTD;
			else {
				cli_errx("-c %s: use gzip or zstd", optarg);
				return 2;
			}
			break;
		case 'l': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 22) {
				cli_errx("--level %s: not 0..22", optarg);
				return 2;
			}
			o.level = (int)v;
			break;
		}
		case 'A': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				cli_errx("--annotation %s: not KEY=VALUE", optarg);
				return 2;
			}
			if (o.nann >= OCI_ANN_MAX) {
				cli_errx("more than %d annotations", OCI_ANN_MAX);
				return 2;
			}
			*eq = 0;
			o.ann_key[o.nann] = optarg;
			o.ann_val[o.nann++] = eq + 1;
			break;
		}
		case 'h':
			fputs(oci_usage, stdout);
			return 0;
		default:
			return usage_err();
		}
	}
	if (optind + 1 != argc || out == NULL) {
		cli_errx("oci build: need one KERNEL and -o oci:DIR[:TAG] or "
			 "oci-archive:FILE[:TAG]");
		return usage_err();
	}
	o.kernel = argv[optind];
	/* a directory, a missing or an empty KERNEL: the shared words */
	if ((c = cli_open_seekable(o.kernel, true)) < 0)
		return 1;
	close(c);
	if (epoch_now(&o.epoch) < 0)
		return 2;
	if (ukit_oci_ref_parse(out, &ref, &e) < 0) {
		cli_err(&e);
		return 2;
	}
	if (ref.kind == OCI_REF_DOCKER || ref.digest != NULL) {
		cli_errx("%s: build writes oci:DIR[:TAG] or oci-archive:FILE[:TAG]"
			 " (then push it)", out);
		ukit_oci_ref_free(&ref);
		return 2;
	}
	if (ukit_oci_out_open(&ref, o.epoch, &w, &e) < 0 ||
	    ukit_oci_build(w, &o, &man, &bi, &e) < 0) {
		ukit_oci_out_abort(w);
		goto fail;
	}
	if (ukit_oci_out_commit(w, &man, ref.tag, &e) < 0)
		goto fail;
	if (bi.unikernel_type[0] == '\0' &&
	    !has_ann(&o, "com.urunc.unikernel.unikernelType"))
		cli_errx("warning: oci build: %s: no unikernel type (none "
			 "detected): urunc runs an image only with "
			 "com.urunc.unikernel.unikernelType; give --unikernel-type "
			 "(rumprun, mirage, unikraft...)", out);
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}",
			"reference", out, "digest", man.digest,
			"size", (json_int_t)man.size, "hypervisor", bi.hypervisor,
			"architecture", bi.arch, "kernel", bi.kernel_path);
		if (bi.unikernel_type[0])
			json_object_set_new(j, "unikernelType",
					    json_string(bi.unikernel_type));
		print_json(j);
	} else {
		printf("%s %s\n", man.digest, out);
	}
	ukit_oci_ref_free(&ref);
	return 0;
fail:
	cli_err(&e);
	ukit_oci_ref_free(&ref);
	return 1;
}

/* ---- reading an image, local or remote ------------------------------ */

struct image {
	struct ukit_oci_ref ref;
	struct ukit_oci_local *local;
	struct ukit_oci_desc desc;      /* the manifest's */
	char *raw;                      /* manifest bytes */
	struct ukit_oci_manifest m;
	struct ukit_oci_config cfg;
	char *tmpdir;                   /* remote images pulled here */
};

static void oimg_close(struct image *im)
{
	ukit_oci_local_close(im->local);
	ukit_oci_desc_free(&im->desc);
	free(im->raw);
	ukit_oci_manifest_free(&im->m);
	ukit_oci_config_free(&im->cfg);
	ukit_oci_ref_free(&im->ref);
	if (im->tmpdir != NULL) {
		char cmd[4200];
		/* our own mkdtemp directory of blobs */
		snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", im->tmpdir);
		if (system(cmd) != 0) {
			/* nothing else to do: it is under $TMPDIR */
		}
		free(im->tmpdir);
	}
}

/* Open a local layout reference and read its manifest and config. */
static int oimg_open_local(struct image *im, struct fmt_err *e)
{
	char *cfg = NULL;
	int kind;

	if (ukit_oci_local_open(&im->ref, &im->local, e) < 0 ||
	    ukit_oci_local_resolve(im->local, &im->ref, &im->desc, e) < 0 ||
	    ukit_oci_local_read(im->local, &im->desc, &im->raw, e) < 0)
		return -1;
	kind = ukit_oci_doc_kind(im->desc.media_type, im->raw,
				 strlen(im->raw), e);
	if (kind < 0)
		return -1;
	if (kind == 2)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: %s is an image index; "
				"name one of its images by digest",
				im->ref.text, im->desc.digest);
	if (ukit_oci_manifest_parse(im->raw, strlen(im->raw), im->desc.digest,
				    &im->m, e) < 0 ||
	    ukit_oci_local_read(im->local, &im->m.config, &cfg, e) < 0)
		return -1;
	if (ukit_oci_config_parse(cfg, strlen(cfg), im->m.config.digest,
				  &im->cfg, e) < 0) {
		free(cfg);
		return -1;
	}
	free(cfg);
	return 0;
}

/* inspect of a registry image: the manifest and config, no layers */
static int oimg_open_remote_meta(struct image *im,
				 const struct cli_oci_regopts *ro,
				 struct fmt_err *e)
{
	char *cfg = NULL;
	size_t len;
	int rc = -1;

	if (ukit_oci_remote_image(&im->ref, &ro->r, &im->desc, &im->raw, &len,
				  &cfg, e) < 0)
		return -1;
	if (ukit_oci_manifest_parse(im->raw, len, im->desc.digest, &im->m,
				    e) == 0 &&
	    ukit_oci_config_parse(cfg, strlen(cfg), im->m.config.digest,
				  &im->cfg, e) == 0)
		rc = 0;
	free(cfg);
	return rc;
}

static int oimg_open(const char *text, const struct cli_oci_regopts *ro,
		     struct image *im, bool meta_only, struct fmt_err *e)
{
	memset(im, 0, sizeof *im);
	if (ukit_oci_ref_parse(text, &im->ref, e) < 0)
		return -1;
	if (im->ref.kind == OCI_REF_DOCKER && meta_only)
		return oimg_open_remote_meta(im, ro, e);
	if (im->ref.kind == OCI_REF_DOCKER) {
		/* pull into a private layout, then read that */
		struct ukit_oci_ref tmp;
		const char *td = getenv("TMPDIR");
		char path[4096], spec[4200];
		int rc;

		snprintf(path, sizeof path, "%s/ukit-oci.XXXXXX",
			 td && *td ? td : "/tmp");
		if (mkdtemp(path) == NULL)
			return ukit_fmt_errno(e, FMT_NOOFF, "%s: mkdtemp", path);
		im->tmpdir = strdup(path);
		snprintf(spec, sizeof spec, "oci:%s:image", path);
		if (ukit_oci_ref_parse(spec, &tmp, e) < 0)
			return -1;
		rc = ukit_oci_pull(&im->ref, &tmp, &ro->r, NULL, NULL, NULL, e);
		ukit_oci_ref_free(&tmp);
		if (rc < 0)
			return -1;
		ukit_oci_ref_free(&im->ref);
		if (ukit_oci_ref_parse(spec, &im->ref, e) < 0)
			return -1;
		/* keep the user's text in messages */
		free(im->ref.text);
		im->ref.text = strdup(text);
	}
	return oimg_open_local(im, e);
}

/* ---- the option loop of the registry sub-commands ------------------ */

/*
 * Options of a sub-command that takes references (push, pull, inspect,
 * extract): the registry options (cli_oci.h; --mount-from where (flags)
 * say), --help, and the command's own through (own), which answers 0 when
 * it took (c), 2 after a usage message, -1 for an option it does not know.
 * -1 when the command goes on, else its exit status.
 */
typedef int (*own_opt_fn)(void *ctx, int c, const char *arg);

static int regcmd_opts(int argc, char **argv, const char *shortopts,
		       const struct option *lo, unsigned flags,
		       struct cli_oci_regopts *ro, own_opt_fn own, void *ctx)
{
	int c, rc;

	cli_oci_regopts_init(ro, flags);
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (cli_oci_regopt(ro, c, optarg) == 1)
			continue;
		if (c == 'h') {
			fputs(oci_usage, stdout);
			return 0;
		}
		rc = own(ctx, c, optarg);
		if (rc == 2)
			return 2;
		if (rc < 0)
			return usage_err();
	}
	return ro->bad ? 2 : -1;
}

/*
 * SRC and DST of push (to_registry) or pull: exactly one of them is a
 * docker:// reference.  0, or the exit status after saying why.
 */
static int parse_src_dst(char **args, bool to_registry,
			 struct ukit_oci_ref *src, struct ukit_oci_ref *dst)
{
	struct fmt_err e = { .off = FMT_NOOFF };

	if (ukit_oci_ref_parse(args[0], src, &e) < 0) {
		cli_err(&e);
		return 2;
	}
	if (ukit_oci_ref_parse(args[1], dst, &e) < 0) {
		cli_err(&e);
		ukit_oci_ref_free(src);
		return 2;
	}
	if ((src->kind == OCI_REF_DOCKER) == to_registry ||
	    (dst->kind == OCI_REF_DOCKER) != to_registry) {
		if (to_registry)
			cli_errx("oci push: SRC is oci:DIR[:TAG] or oci-archive:"
				 "FILE[:TAG], DST docker://HOST/REPO[:TAG]");
		else
			cli_errx("oci pull: SRC is docker://HOST/REPO[:TAG|"
				 "@DIGEST], DST oci:DIR[:TAG] or oci-archive:"
				 "FILE[:TAG]");
		ukit_oci_ref_free(src);
		ukit_oci_ref_free(dst);
		return 2;
	}
	return 0;
}

/* ---- inspect -------------------------------------------------------- */

static json_t *ann_or_empty(json_t *a)
{
	return a ? json_incref(a) : json_object();
}

/* --json (-j), for inspect and push */
static int json_opt(void *ctx, int c, const char *arg)
{
	(void)arg;
	if (c != 'j')
		return -1;
	*(bool *)ctx = true;
	return 0;
}

static int oci_inspect(int argc, char **argv)
{
	static const struct option lo[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_oci_regopts ro;
	struct image im;
	struct fmt_err e = { .off = FMT_NOOFF };
	bool json = false;
	int rc;

	if ((rc = regcmd_opts(argc, argv, "jh", lo, 0, &ro, json_opt,
			      &json)) >= 0)
		return rc;
	if (optind + 1 != argc)
		return usage_err();
	if (oimg_open(argv[optind], &ro, &im, true, &e) < 0) {
		cli_err(&e);
		oimg_close(&im);
		return 1;
	}
	if (json) {
		json_t *layers = json_array(), *j;
		for (size_t i = 0; i < im.m.nlayers; i++)
			json_array_append_new(layers, json_pack("{s:s,s:s,s:I}",
				"mediaType", im.m.layers[i].media_type,
				"digest", im.m.layers[i].digest,
				"size", (json_int_t)im.m.layers[i].size));
		j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:o}",
			"reference", argv[optind],
			"digest", im.desc.digest,
			"mediaType", im.m.media_type[0] ? im.m.media_type :
				     im.desc.media_type,
			"size", (json_int_t)im.desc.size,
			"architecture", im.cfg.architecture,
			"os", im.cfg.os,
			"kernel", ukit_oci_kernel_path(&im.m, &im.cfg),
			"annotations", ann_or_empty(im.m.annotations),
			"labels", ann_or_empty(im.cfg.labels),
			"layers", layers);
		if (j == NULL || print_json(j) < 0) {
			oimg_close(&im);
			return 1;
		}
	} else {
		const char *k;
		json_t *v;
		printf("reference: %s\ndigest: %s\nmedia type: %s\n"
		       "architecture: %s\nos: %s\nkernel: %s\n", argv[optind],
		       im.desc.digest, im.m.media_type[0] ? im.m.media_type :
		       im.desc.media_type, im.cfg.architecture, im.cfg.os,
		       ukit_oci_kernel_path(&im.m, &im.cfg));
		for (size_t i = 0; i < im.m.nlayers; i++)
			printf("layer %zu: %s %" PRIu64 " %s\n", i,
			       im.m.layers[i].digest, im.m.layers[i].size,
			       im.m.layers[i].media_type);
		if (im.m.annotations)
			json_object_foreach(im.m.annotations, k, v) {
				/* values from the image: escape controls */
				printf("annotation %s=", k);
				for (const char *p = json_string_value(v); *p; p++)
					if ((unsigned char)*p < 0x20 || *p == 0x7f)
						printf("\\x%02x", (unsigned char)*p);
					else
						putchar(*p);
				putchar('\n');
			}
	}
	oimg_close(&im);
	return 0;
}

/* ---- extract -------------------------------------------------------- */

/* --kernel-out, --disk-out, --initrd-out into (ctx)[0..2] */
static int extract_opt(void *ctx, int c, const char *arg)
{
	const char **outs = ctx;
	const char *p = strchr("kdi", c);

	if (c == 0 || p == NULL)
		return -1;
	outs[p - "kdi"] = arg;
	return 0;
}

static int oci_extract(int argc, char **argv)
{
	static const struct option lo[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "kernel-out", required_argument, NULL, 'k' },
		{ "disk-out", required_argument, NULL, 'd' },
		{ "initrd-out", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_oci_regopts ro;
	struct image im;
	struct fmt_err e = { .off = FMT_NOOFF };
	const char *outs[3] = { NULL, NULL, NULL };
	struct outfile of[3];
	struct ukit_oci_extract_item it[3];
	char disk[96], initrd[96];
	size_t n = 0;
	int rc;

	if ((rc = regcmd_opts(argc, argv, "h", lo, 0, &ro, extract_opt,
			      outs)) >= 0)
		return rc;
	rc = 1;
	if (optind + 1 != argc || (outs[0] == NULL && outs[1] == NULL &&
				   outs[2] == NULL)) {
		cli_errx("oci extract: need REF and --kernel-out F (or "
			 "--disk-out, --initrd-out)");
		return usage_err();
	}
	if (oimg_open(argv[optind], &ro, &im, false, &e) < 0) {
		cli_err(&e);
		oimg_close(&im);
		return 1;
	}
	{
		const char *kp = ukit_oci_kernel_path(&im.m, &im.cfg);
		const char *sl = strrchr(kp, '/');
		json_t *v;
		int dl = sl ? (int)(sl - kp) : 0;
		snprintf(disk, sizeof disk, "%.*s/disk", dl, kp);
		snprintf(initrd, sizeof initrd, "%.*s/initrd", dl, kp);
		v = im.m.annotations ? json_object_get(im.m.annotations,
				"com.urunc.unikernel.block") : NULL;
		if (json_is_string(v))
			snprintf(disk, sizeof disk, "%s", json_string_value(v));
		v = im.m.annotations ? json_object_get(im.m.annotations,
				"com.urunc.unikernel.initrd") : NULL;
		if (json_is_string(v))
			snprintf(initrd, sizeof initrd, "%s",
				 json_string_value(v));
		for (int i = 0; i < 3; i++) {
			if (outs[i] == NULL)
				continue;
			memset(&it[n], 0, sizeof it[n]);
			it[n].path = i == 0 ? kp : i == 1 ? disk : initrd;
			if (ukit_outfile_open(&of[n], outs[i], i == 0 ? 0755 : 0644,
					 &e) < 0) {
				cli_err(&e);
				goto out;
			}
			it[n].fd = of[n].fd;
			n++;
		}
	}
	if (ukit_oci_extract(im.local, &im.m, it, n, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!it[i].found) {
			cli_errx("%s: image %s has no file %s", argv[optind],
				 im.desc.digest, it[i].path);
			goto out;
		}
	for (size_t i = 0; i < n; i++) {
		if (ukit_outfile_commit(&of[i], &e) < 0) {
			cli_err(&e);
			for (size_t j = i + 1; j < n; j++)
				ukit_outfile_abort(&of[j]);
			n = 0;
			goto out;
		}
	}
	n = 0;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		ukit_outfile_abort(&of[i]);
	oimg_close(&im);
	return rc;
}

/* ---- push, pull ----------------------------------------------------- */

struct push_opts {
	struct cli_oci_regopts ro;
	bool json;
	bool no_sigs;
};

enum { OPT_NO_SIGS = 0x5301 };

/* warnings about signatures that were not carried */
static void sigset_warn(const struct ukit_oci_sigset *ss, const char *cmd)
{
	for (size_t i = 0; i < json_array_size(ss->skipped); i++)
		cli_errx("warning: %s: signature %s", cmd,
			 json_string_value(json_array_get(ss->skipped, i)));
}

/* The signatures of the image (src) names in its layout (push). */
static int push_sigs_collect(const struct ukit_oci_ref *src,
			     const struct ukit_oci_regopts *o,
			     struct ukit_oci_sigset *ss, struct fmt_err *e)
{
	struct ukit_oci_desc d;
	char *raw = NULL;
	size_t len;
	int rc;

	memset(ss, 0, sizeof *ss);
	if (src->kind != OCI_REF_DIR)
		return 0;       /* oci-archive: files hold no signatures */
	if (ukit_oci_sig_subject(src, o, &d, &raw, &len, e) < 0)
		return -1;
	free(raw);
	rc = ukit_oci_sig_collect(src, o, d.digest, ss, e);
	ukit_oci_desc_free(&d);
	return rc;
}

/* --chunk-size N, --json, --no-signatures */
static int push_opt(void *ctx, int c, const char *arg)
{
	struct push_opts *po = ctx;
	char *end;
	unsigned long long v;

	if (c == 'j')
		return json_opt(&po->json, c, arg);
	if (c == OPT_NO_SIGS) {
		po->no_sigs = true;
		return 0;
	}
	if (c != 'C')
		return -1;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || v > (1ull << 40)) {
		cli_errx("--chunk-size %s: not a byte count", arg);
		return 2;
	}
	po->ro.r.chunk_size = v;
	return 0;
}

static int oci_push(int argc, char **argv)
{
	static const struct option lo[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "chunk-size", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-signatures", no_argument, NULL, OPT_NO_SIGS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct push_opts po = { .json = false };
	struct ukit_oci_ref src, dst;
	struct ukit_oci_sigset ss;
	struct fmt_err e = { .off = FMT_NOOFF };
	json_t *report = NULL;
	bool json;
	int rc;

	if ((rc = regcmd_opts(argc, argv, "jh", lo, CLI_OCI_PUSH, &po.ro,
			      push_opt, &po)) >= 0)
		return rc;
	json = po.json;
	if (optind + 2 != argc)
		return usage_err();
	if ((rc = parse_src_dst(argv + optind, true, &src, &dst)) != 0)
		return rc;
	report = json ? json_object() : NULL;
	memset(&ss, 0, sizeof ss);
	/* the signatures are read and checked before anything is pushed,
	 * then pushed after the image they name */
	rc = po.no_sigs ? 0 : push_sigs_collect(&src, &po.ro.r, &ss, &e);
	if (rc == 0)
		rc = ukit_oci_push(&src, &dst, &po.ro.r, report, &e);
	if (rc == 0)
		rc = ukit_oci_sig_copy(&ss, &dst, &po.ro.r, &e);
	if (rc < 0) {
		cli_err(&e);
	} else {
		sigset_warn(&ss, "oci push");
		if (!po.no_sigs)
			fprintf(stderr, "%s: oci push: %zu signature%s pushed "
				"with %s\n", cli_prog, ss.n,
				ss.n == 1 ? "" : "s", dst.text);
	}
	if (rc == 0 && json) {
		json_t *sa = json_array();
		for (size_t i = 0; i < ss.n; i++)
			json_array_append_new(sa, json_pack("{s:s,s:I}",
				"digest", ss.a[i].manifest_desc.digest,
				"size", (json_int_t)ss.a[i].manifest_desc.size));
		json_object_set_new(report, "signatures", sa);
		print_json(json_incref(report));
	}
	ukit_oci_sigset_free(&ss);
	json_decref(report);
	ukit_oci_ref_free(&src);
	ukit_oci_ref_free(&dst);
	return rc < 0 ? 1 : 0;
}

/* pull --verify-pub / --verify-ca: the signature in the registry must
 * verify before the pull commits anything. */
struct sigcheck {
	const struct ukit_oci_ref *src;
	const struct cli_oci_regopts *ro;
	struct sig_key *pub;
	STACK_OF(X509) *roots;
};

static int sigcheck_load(struct sigcheck *sc)
{
	struct fmt_err e = { .off = FMT_NOOFF };

	if (sc->ro->verify_pub != NULL) {
		e.path = sc->ro->verify_pub;
		if (ukit_sig_key_load_public(sc->ro->verify_pub, &sc->pub, &e) != 0) {
			cli_err(&e);
			return -1;
		}
	} else {
		e.path = sc->ro->verify_ca;
		if (ukit_cert_load_pem(sc->ro->verify_ca, &sc->roots, &e) != 0) {
			cli_err(&e);
			return -1;
		}
	}
	return 0;
}

static void sigcheck_free(struct sigcheck *sc)
{
	ukit_sig_key_free(sc->pub);
	sk_X509_pop_free(sc->roots, X509_free);
}

static int sigcheck_run(void *arg, const struct ukit_oci_desc *m,
			const char *raw, size_t len, struct fmt_err *e)
{
	struct sigcheck *sc = arg;
	struct sig_key *keys[1] = { sc->pub };
	struct verify_policy pol = { .tee_fd = -1 };
	struct verify_result r;
	int v;

	if (sc->pub != NULL) {
		pol.pub = keys;
		pol.npub = 1;
	} else {
		pol.roots = sc->roots;
	}
	v = ukit_oci_sig_verify(sc->src, &sc->ro->r, m, raw, len, &pol, &r, e);
	if (v < 0)
		return -1;
	if (v == 0) {
		const char *why = json_string_value(json_array_get(r.reasons, 0));
		ukit_fmt_errf(e, FMT_NOOFF, "%s: %s: signature check failed, nothing "
			 "written: %s", sc->src->text, m->digest,
			 why ? why : "no reason given");
		ukit_verify_result_free(&r);
		return -1;
	}
	ukit_verify_result_free(&r);
	return 0;
}

/* The pull's last check before it commits: the signature (--verify-*),
 * then the signatures to store with the image, read before anything is
 * written. */
struct pullctx {
	struct sigcheck *sc;            /* or NULL */
	bool sigs;                      /* store the signatures */
	const struct ukit_oci_ref *src;
	const struct ukit_oci_ref *dst;   /* where they go, checked first */
	const struct ukit_oci_regopts *r;
	struct ukit_oci_sigset ss;
};

static int pull_precommit(void *arg, const struct ukit_oci_desc *m,
			  const char *raw, size_t len, struct fmt_err *e)
{
	struct pullctx *pc = arg;

	if (pc->sc != NULL && sigcheck_run(pc->sc, m, raw, len, e) < 0)
		return -1;
	if (pc->sigs &&
	    (ukit_oci_sig_collect(pc->src, pc->r, m->digest, &pc->ss, e) < 0 ||
	     ukit_oci_sig_copy_check(&pc->ss, pc->dst, e) < 0))
		return -1;
	return 0;
}

struct pull_opts {
	struct cli_oci_regopts ro;
	bool no_sigs;
};

/* --verify-pub, --verify-ca, --no-signatures */
static int pull_opt(void *ctx, int c, const char *arg)
{
	struct pull_opts *po = ctx;

	if (c == 'P')
		po->ro.verify_pub = arg;
	else if (c == 'R')
		po->ro.verify_ca = arg;
	else if (c == OPT_NO_SIGS)
		po->no_sigs = true;
	else
		return -1;
	return 0;
}

static int oci_pull(int argc, char **argv)
{
	static const struct option lo[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "verify-pub", required_argument, NULL, 'P' },
		{ "verify-ca", required_argument, NULL, 'R' },
		{ "no-signatures", no_argument, NULL, OPT_NO_SIGS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pull_opts po = { .no_sigs = false };
	struct ukit_oci_ref src, dst;
	struct pullctx pc;
	struct sigcheck sc;
	struct fmt_err e = { .off = FMT_NOOFF };
	char digest[OCI_DIGEST_LEN + 1];
	int rc;

	if ((rc = regcmd_opts(argc, argv, "h", lo, 0, &po.ro, pull_opt,
			      &po)) >= 0)
		return rc;
	if (optind + 2 != argc)
		return usage_err();
	if (po.ro.verify_pub != NULL && po.ro.verify_ca != NULL) {
		cli_errx("oci pull: --verify-pub or --verify-ca, not both");
		return 2;
	}
	if ((rc = parse_src_dst(argv + optind, false, &src, &dst)) != 0)
		return rc;
	memset(&pc, 0, sizeof pc);
	memset(&sc, 0, sizeof sc);
	pc.src = &src;
	pc.dst = &dst;
	pc.r = &po.ro.r;
	/* an oci-archive: file holds no signatures */
	pc.sigs = !po.no_sigs && dst.kind == OCI_REF_DIR;
	if (po.ro.verify_pub != NULL || po.ro.verify_ca != NULL) {
		sc.src = &src;
		sc.ro = &po.ro;
		pc.sc = &sc;
		if (sigcheck_load(&sc) < 0) {
			sigcheck_free(&sc);
			ukit_oci_ref_free(&src);
			ukit_oci_ref_free(&dst);
			return 1;
		}
	}
	rc = ukit_oci_pull(&src, &dst, &po.ro.r, digest, pull_precommit, &pc, &e);
	/* the image is in; its signatures go in beside it */
	if (rc == 0)
		rc = ukit_oci_sig_copy(&pc.ss, &dst, NULL, &e);
	if (rc < 0) {
		cli_err(&e);
	} else if (pc.sigs) {
		sigset_warn(&pc.ss, "oci pull");
		fprintf(stderr, "%s: oci pull: %zu signature%s of %s stored in "
			"%s\n", cli_prog, pc.ss.n, pc.ss.n == 1 ? "" : "s",
			digest, dst.text);
	}
	ukit_oci_sigset_free(&pc.ss);
	sigcheck_free(&sc);
	ukit_oci_ref_free(&src);
	ukit_oci_ref_free(&dst);
	return rc < 0 ? 1 : 0;
}

/* ---- dispatch ------------------------------------------------------- */

int cmd_oci(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} sub[] = {
		{ "build", oci_build }, { "push", oci_push },
		{ "pull", oci_pull }, { "inspect", oci_inspect },
		{ "extract", oci_extract },
	};

	if (argc < 2) {
		cli_errx("oci: missing SUBCOMMAND (build, push, pull, inspect "
			 "or extract)");
		return usage_err();
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(oci_usage, stdout);
		return 0;
	}
	if (argv[1][0] == '-') {    /* options follow the sub-command */
		cli_errx("oci: unrecognized option '%s'", argv[1]);
		return usage_err();
	}
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
		if (strcmp(argv[1], sub[i].name) == 0) {
			optind = 1;
			return sub[i].run(argc - 1, argv + 1);
		}
	cli_errx("oci: unknown subcommand '%s'", argv[1]);
	return usage_err();
}
