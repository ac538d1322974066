/*
 * ocibuild.c: unikernel OCI images (see ocibuild.h).  Inputs are the
 * user's files; the kernel is read through elfimg (untrusted ELF).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "io.h"
#include "elfimg.h"
#include "outfile.h"
#include "ocibuild.h"
#include "ocitar.h"
#include "sigjson.h"

#define COMP_BUF (256u << 10)

void ukit_oci_rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the compressing, hashing layer sink --------------------------- */

struct layer_sink {
	enum ukit_oci_comp comp;
	z_stream z;
	ZSTD_CCtx *zs;
	EVP_MD_CTX *diff;           /* sha256 of the uncompressed tar */
	struct ukit_oci_blobw *blob;
	uint8_t *out;
};

static int emit(struct layer_sink *l, size_t n, struct fmt_err *e)
{
	return n ? ukit_oci_blobw_write(l->blob, l->out, n, e) : 0;
}

static int layer_write_mode(struct layer_sink *l, const void *buf, size_t len,
			    bool end, struct fmt_err *e)
{
	if (len && !EVP_DigestUpdate(l->diff, buf, len))
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	if (l->comp == OCI_COMP_GZIP) {
		int zr;
		l->z.next_in = (Bytef *)(uintptr_t)buf;
		l->z.avail_in = (uInt)len;
		do {
			l->z.next_out = l->out;
			l->z.avail_out = COMP_BUF;
			zr = deflate(&l->z, end ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR)
				return ukit_fmt_errf(e, FMT_NOOFF, "gzip: deflate "
						"failed");
			if (emit(l, COMP_BUF - l->z.avail_out, e) < 0)
				return -1;
		} while (l->z.avail_out == 0 || (end && zr != Z_STREAM_END));
		return 0;
	}
	{
		ZSTD_inBuffer in = { buf, len, 0 };
		size_t rem;
		do {
			ZSTD_outBuffer out = { l->out, COMP_BUF, 0 };
			rem = ZSTD_compressStream2(l->zs, &out, &in,
						   end ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(rem))
				return ukit_fmt_errf(e, FMT_NOOFF, "zstd: %s",
						ZSTD_getErrorName(rem));
			if (emit(l, out.pos, e) < 0)
				return -1;
		} while (in.pos < in.size || (end && rem != 0));
	}
	return 0;
}

static int layer_write(void *ctx, const void *buf, size_t len,
		       struct fmt_err *e)
{
	/* feed at most 1 MiB at a time: zlib counts in uInt */
	const uint8_t *p = buf;

	while (len > 0) {
		size_t k = len < (1u << 20) ? len : (1u << 20);
		if (layer_write_mode(ctx, p, k, false, e) < 0)
			return -1;
		p += k;
		len -= k;
	}
	return 0;
}

/* ---- inputs -------------------------------------------------------- */

struct input {
	const char *src;            /* file on disk, or NULL for (data) */
	const char *data;
	char        name[64];       /* inside the layer, no leading '/' */
	uint32_t    mode;
	uint64_t    size;
	int         fd;
};

static int add_file(const struct ukit_oci_sink *s, struct input *in,
		    int64_t mtime, struct fmt_err *e)
{
	uint8_t *buf;
	uint64_t done = 0;

	if (ukit_ocitar_header(s, in->name, false, in->mode, in->size, mtime,
			       e) < 0)
		return -1;
	if (in->src == NULL) {
		if (s->write(s->ctx, in->data, (size_t)in->size, e) < 0)
			return -1;
		return ukit_ocitar_pad(s, in->size, e);
	}
	buf = malloc(COMP_BUF);
	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	while (done < in->size) {
		size_t k = in->size - done < COMP_BUF ?
			   (size_t)(in->size - done) : COMP_BUF;
		ssize_t n = ukit_pread_full(in->fd, buf, k, (off_t)done);
		if (n < 0) {
			free(buf);
			return ukit_fmt_errno(e, done, "%s: read", in->src);
		}
		if ((size_t)n != k) {
			free(buf);
			return ukit_fmt_errf(e, done + (uint64_t)n, "%s: file shrank "
					"while it was read", in->src);
		}
		if (s->write(s->ctx, buf, k, e) < 0) {
			free(buf);
			return -1;
		}
		done += k;
	}
	free(buf);
	return ukit_ocitar_pad(s, in->size, e);
}

static int open_input(struct input *in, struct fmt_err *e)
{
	struct stat st;

	in->fd = open(in->src, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot open", in->src);
	if (fstat(in->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file", in->src);
	in->size = (uint64_t)st.st_size;
	return 0;
}

/* ---- what the kernel is -------------------------------------------- */

static const char *oci_arch(const struct ukit_elfimg_info *in)
{
	switch (in->machine) {
	case 62: return "amd64";
	case 183: return "arm64";
	case 243: return "riscv64";
	case 21: return in->big ? "ppc64" : "ppc64le";
	case 22: return "s390x";
	case 3: return "386";
	case 40: return "arm";
	default: return NULL;
	}
}

static int probe_kernel(const struct ukit_oci_build_opts *o, int fd,
			struct ukit_oci_build_info *bi, struct manifest *mft,
			bool *have_mft, struct fmt_err *e)
{
	struct elfimg *img;
	struct solo5_abi abi;
	bool have_abi = false, unikraft = false;
	const char *arch;

	if (ukit_elfimg_open(fd, o->kernel, &img, e) < 0)
		return -1;
	arch = o->arch ? o->arch : oci_arch(ukit_elfimg_info(img));
	if (arch == NULL) {
		ukit_elfimg_close(img);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: unknown architecture "
				"(e_machine %u): give --arch", o->kernel,
				ukit_elfimg_info(img)->machine);
	}
	snprintf(bi->arch, sizeof bi->arch, "%s", arch);
	*have_mft = false;
	if (ukit_elfimg_info(img)->elfclass == 2 && ukit_elfimg_info(img)->type == 2 &&
	    ukit_elfimg_solo5(img, mft, have_mft, &abi, &have_abi, e) < 0) {
		ukit_elfimg_close(img);
		return -1;
	}
	for (size_t i = 0; i < ukit_elfimg_info(img)->shnum && !unikraft; i++) {
		struct ukit_elfimg_shdr sh;
		struct fmt_err ign;
		if (ukit_elfimg_shdr(img, i, &sh, &ign) == 0 &&
		    strncmp(sh.name, ".uk_", 4) == 0)
			unikraft = true;
	}
	/*
	 * Unikraft builds x86_64 only; its Multiboot kernel for QEMU is that
	 * ELF64 rewritten as ELF32 i386 (support/scripts/multiboot.py) so
	 * that Multiboot loaders take it: its code is x86_64 all the same.
	 */
	if (unikraft && o->arch == NULL &&
	    ukit_elfimg_info(img)->machine == 3)
		snprintf(bi->arch, sizeof bi->arch, "amd64");
	ukit_elfimg_close(img);

	if (o->target != NULL) {
		static const char *const ok[] = { "hvt", "spt", "virtio",
			"qemu", "firecracker", "xen", NULL };
		size_t i;
		for (i = 0; ok[i] && strcmp(ok[i], o->target) != 0; i++)
			;
		if (ok[i] == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "unknown target \"%.40s\" "
					"(hvt, spt, virtio, qemu, firecracker, "
					"xen)", o->target);
		if (have_abi) {
			const char *t = ukit_elfimg_abi_target_name(abi.target);
			bool match = strcmp(t, o->target) == 0 ||
				(strcmp(t, "virtio") == 0 &&
				 strcmp(o->target, "qemu") == 0);
			if (!match)
				return ukit_fmt_errf(e, FMT_NOOFF, "%s: the Solo5 ABI "
						"note says target %s, --target "
						"says %s", o->kernel, t,
						o->target);
		}
		snprintf(bi->hypervisor, sizeof bi->hypervisor, "%s",
			 strcmp(o->target, "virtio") == 0 ? "qemu" : o->target);
	} else if (have_abi) {
		const char *t = ukit_elfimg_abi_target_name(abi.target);
		if (abi.target == ABI_HVT || abi.target == ABI_SPT ||
		    abi.target == ABI_XEN)
			snprintf(bi->hypervisor, sizeof bi->hypervisor, "%s", t);
		else if (abi.target == ABI_VIRTIO)
			snprintf(bi->hypervisor, sizeof bi->hypervisor, "qemu");
		else
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: Solo5 target %s has "
					"no OCI runtime; give --target",
					o->kernel, t);
	} else {
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: no Solo5 ABI note to take the "
				"target from: give --target", o->kernel);
	}
	if (o->unikernel_type != NULL)
		snprintf(bi->unikernel_type, sizeof bi->unikernel_type, "%s",
			 o->unikernel_type);
	else if (unikraft)
		snprintf(bi->unikernel_type, sizeof bi->unikernel_type,
			 "unikraft");
	return 0;
}

/* ---- JSON ---------------------------------------------------------- */

static void set_ann(json_t *a, const char *k, const char *v)
{
	json_object_set_new(a, k, json_string(v));
}

static int stage_json(struct ukit_oci_out *w, json_t *j, const char *mt,
		      struct ukit_oci_desc *d, struct fmt_err *e)
{
	char *s = ukit_oci_json_dump(j);
	int rc;

	if (s == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	memset(d, 0, sizeof *d);
	snprintf(d->media_type, sizeof d->media_type, "%s", mt);
	d->size = strlen(s);
	rc = ukit_oci_out_blob_bytes(w, s, strlen(s), d->digest, e);
	free(s);
	return rc;
}

int ukit_oci_build(struct ukit_oci_out *w, const struct ukit_oci_build_opts *o,
		   struct ukit_oci_desc *manifest, struct ukit_oci_build_info *bi,
		   struct fmt_err *e)
{
	struct input in[4];
	size_t nin = 0;
	struct manifest *mft = calloc(1, sizeof *mft);
	bool have_mft = false, ukraft;
	const char *root;
	char path[96], created[32], diff_id[OCI_DIGEST_LEN + 1];
	json_t *ann = json_object(), *urunc = json_object(), *cfg = NULL,
	       *man = NULL, *tmp;
	struct layer_sink ls;
	struct ukit_oci_sink sink = { layer_write, &ls };
	struct ukit_oci_desc layer, config;
	char *urunc_json = NULL;
	uint8_t md[32];
	int rc = -1, level;
	const char *k;
	json_t *v;

	memset(&ls, 0, sizeof ls);
	memset(in, 0, sizeof in);
	memset(bi, 0, sizeof *bi);
	for (size_t i = 0; i < 4; i++)
		in[i].fd = -1;
	if (mft == NULL || ann == NULL || urunc == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	in[0].src = o->kernel;
	if (open_input(&in[0], e) < 0 ||
	    probe_kernel(o, in[0].fd, bi, mft, &have_mft, e) < 0)
		goto out;
	ukraft = strcmp(bi->unikernel_type, "unikraft") == 0;
	root = ukraft ? "unikraft/bin" : "unikernel";
	snprintf(bi->kernel_path, sizeof bi->kernel_path, "/%s/kernel", root);

	/* the urunc annotations, then kraftkit's, then the user's */
	set_ann(ann, "com.urunc.unikernel.binary", bi->kernel_path);
	set_ann(ann, "com.urunc.unikernel.hypervisor", bi->hypervisor);
	if (bi->unikernel_type[0])
		set_ann(ann, "com.urunc.unikernel.unikernelType",
			bi->unikernel_type);
	/* one of the four urunc requires (bima refuses an image without
	 * it), so present even when empty */
	set_ann(ann, "com.urunc.unikernel.cmdline",
		o->cmdline != NULL ? o->cmdline : "");
	set_ann(ann, "com.urunc.unikernel.mountRootfs", "false");
	if (o->initrd != NULL) {
		snprintf(path, sizeof path, "/%s/initrd", root);
		set_ann(ann, "com.urunc.unikernel.initrd", path);
	}
	if (o->disk != NULL) {
		snprintf(path, sizeof path, "/%s/disk", root);
		set_ann(ann, "com.urunc.unikernel.block", path);
	}
	if (have_mft) {
		for (size_t i = 0; i < mft->n; i++) {
			const char *key = mft->dev[i].type == MFT_BLOCK_BASIC ?
				"com.urunc.unikernel.solo5BlkDev" :
				mft->dev[i].type == MFT_NET_BASIC ?
				"com.urunc.unikernel.solo5NetDev" : NULL;
			if (key && json_object_get(ann, key) == NULL)
				set_ann(ann, key, mft->dev[i].name);
		}
	}
	if (ukraft) {
		static const char *const plat[][2] = { { "qemu", "qemu" },
			{ "firecracker", "fc" }, { "xen", "xen" } };
		const char *arch = strcmp(bi->arch, "amd64") == 0 ? "x86_64" :
				   bi->arch;
		set_ann(ann, "org.unikraft.kernel.image", bi->kernel_path);
		set_ann(ann, "org.unikraft.kernel.arch", arch);
		for (size_t i = 0; i < 3; i++)
			if (strcmp(bi->hypervisor, plat[i][0]) == 0)
				set_ann(ann, "org.unikraft.kernel.plat",
					plat[i][1]);
		if (o->initrd != NULL)
			set_ann(ann, "org.unikraft.kernel.initrd",
				"/unikraft/bin/initrd");
	}
	for (size_t i = 0; i < o->nann; i++)
		set_ann(ann, o->ann_key[i], o->ann_val[i]);

	/* /urunc.json: the com.urunc.* annotations, values in base64, for
	 * runtimes that do not pass annotations on */
	json_object_foreach(ann, k, v) {
		char *b;
		if (strncmp(k, "com.urunc.", 10) != 0)
			continue;
		b = ukit_b64_encode((const uint8_t *)json_string_value(v),
			       json_string_length(v));
		if (b == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			goto out;
		}
		json_object_set_new(urunc, k, json_string(b));
		free(b);
	}
	urunc_json = ukit_oci_json_dump(urunc);
	if (urunc_json == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}

	/* files, in tar order: disk, initrd, kernel (sorted), urunc.json */
	nin = 1;
	if (o->disk != NULL) {
		in[nin].src = o->disk;
		snprintf(in[nin].name, sizeof in[nin].name, "%s/disk", root);
		in[nin].mode = 0644;
		if (open_input(&in[nin++], e) < 0)
			goto out;
	}
	if (o->initrd != NULL) {
		in[nin].src = o->initrd;
		snprintf(in[nin].name, sizeof in[nin].name, "%s/initrd", root);
		in[nin].mode = 0644;
		if (open_input(&in[nin++], e) < 0)
			goto out;
	}
	in[nin] = in[0];
	snprintf(in[nin].name, sizeof in[nin].name, "%s/kernel", root);
	in[nin].mode = 0755;
	memset(&in[0], 0, sizeof in[0]);
	in[0].fd = -1;

	/* the layer */
	ls.comp = o->comp;
	ls.out = malloc(COMP_BUF);
	ls.diff = EVP_MD_CTX_new();
	if (ls.out == NULL || ls.diff == NULL ||
	    !EVP_DigestInit_ex(ls.diff, EVP_sha256(), NULL)) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	if (o->comp == OCI_COMP_GZIP) {
		level = o->level < 0 ? 6 : o->level;
		if (level > 9 || deflateInit2(&ls.z, level, Z_DEFLATED, 31, 8,
					      Z_DEFAULT_STRATEGY) != Z_OK) {
			ukit_fmt_errf(e, FMT_NOOFF, "gzip: level %d: cannot start",
				 level);
			goto out;
		}
	} else {
		level = o->level < 0 ? 3 : o->level;
		ls.zs = ZSTD_createCCtx();
		if (ls.zs == NULL || level > ZSTD_maxCLevel() ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(ls.zs,
				 ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(ls.zs,
				 ZSTD_c_checksumFlag, 1))) {
			ukit_fmt_errf(e, FMT_NOOFF, "zstd: level %d: cannot start",
				 level);
			goto out;
		}
	}
	if (ukit_oci_out_blob_begin(w, &ls.blob, e) < 0)
		goto out;
	if (ukraft) {
		if (ukit_ocitar_header(&sink, "unikraft", true, 0755, 0,
				       o->epoch, e) < 0)
			goto out;
	}
	if (ukit_ocitar_header(&sink, root, true, 0755, 0, o->epoch, e) < 0)
		goto out;
	for (size_t i = 1; i <= nin; i++)
		if (add_file(&sink, &in[i], o->epoch, e) < 0)
			goto out;
	{
		struct input u = { .data = urunc_json, .mode = 0644,
				   .size = strlen(urunc_json), .fd = -1 };
		snprintf(u.name, sizeof u.name, "urunc.json");
		if (add_file(&sink, &u, o->epoch, e) < 0)
			goto out;
	}
	if (ukit_ocitar_end(&sink, e) < 0 ||
	    layer_write_mode(&ls, NULL, 0, true, e) < 0)
		goto out;
	memset(&layer, 0, sizeof layer);
	snprintf(layer.media_type, sizeof layer.media_type, "%s",
		 o->comp == OCI_COMP_GZIP ? OCI_MT_LAYER_GZ : OCI_MT_LAYER_ZS);
	{
		struct ukit_oci_blobw *b = ls.blob;
		ls.blob = NULL;
		if (ukit_oci_out_blob_end(w, b, NULL, 0, layer.digest,
					  &layer.size, e) < 0)
			goto out;
	}
	if (!EVP_DigestFinal_ex(ls.diff, md, NULL)) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
		goto out;
	}
	ukit_oci_digest_fmt(md, diff_id);

	/* the config */
	ukit_oci_rfc3339(o->epoch, created);
	cfg = json_object();
	json_object_set_new(cfg, "architecture", json_string(bi->arch));
	json_object_set_new(cfg, "os", json_string("linux"));
	json_object_set_new(cfg, "created", json_string(created));
	tmp = json_object();
	json_object_set(tmp, "Labels", ann);
	json_object_set_new(cfg, "config", tmp);
	tmp = json_object();
	json_object_set_new(tmp, "type", json_string("layers"));
	json_object_set_new(tmp, "diff_ids", json_pack("[s]", diff_id));
	json_object_set_new(cfg, "rootfs", tmp);
	json_object_set_new(cfg, "history", json_pack("[{s:s,s:s}]",
			    "created", created, "created_by",
			    "ukit-pack oci build"));
	if (stage_json(w, cfg, OCI_MT_CONFIG, &config, e) < 0)
		goto out;

	/* the manifest */
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(OCI_MT_MANIFEST));
	json_object_set_new(man, "config", ukit_oci_desc_json(&config));
	json_object_set_new(man, "layers", json_pack("[o]",
			    ukit_oci_desc_json(&layer)));
	set_ann(ann, OCI_ANN_CREATED, created);
	json_object_set(man, "annotations", ann);
	if (stage_json(w, man, OCI_MT_MANIFEST, manifest, e) < 0)
		goto out;
	rc = 0;
out:
	if (o->comp == OCI_COMP_GZIP && ls.out != NULL)
		deflateEnd(&ls.z);
	ZSTD_freeCCtx(ls.zs);
	EVP_MD_CTX_free(ls.diff);
	free(ls.out);
	if (ls.blob != NULL) {
		ukit_oci_out_blob_drop(ls.blob);
	}
	for (size_t i = 0; i < 4; i++)
		if (in[i].fd >= 0)
			close(in[i].fd);
	free(urunc_json);
	free(mft);
	json_decref(ann);
	json_decref(urunc);
	json_decref(cfg);
	json_decref(man);
	return rc;
}
