/*
 * ociunpack.c: layer decompression and file extraction (see ociunpack.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "io.h"
#include "ociunpack.h"
#include "outfile.h"

#define DECOMP_IN (128u << 10)

enum dkind { D_NONE, D_GZIP, D_ZSTD };

struct ukit_oci_decomp {
	enum dkind kind;
	struct ukit_oci_source src;
	z_stream z;
	ZSTD_DCtx *zs;
	uint8_t *in;
	size_t ipos, ilen;
	bool src_eof, stream_end;
	size_t zret;            /* zstd: 0 at a frame end */
	uint64_t produced;
};

int ukit_oci_decomp_open(const char *mt, const struct ukit_oci_source *src,
			 struct ukit_oci_decomp **out, struct fmt_err *e)
{
	struct ukit_oci_decomp *d = calloc(1, sizeof *d);

	if (d == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	d->src = *src;
	if (strcmp(mt, OCI_MT_LAYER_GZ) == 0 ||
	    strcmp(mt, DOCKER_MT_LAYER_GZ) == 0)
		d->kind = D_GZIP;
	else if (strcmp(mt, OCI_MT_LAYER_ZS) == 0)
		d->kind = D_ZSTD;
	else if (strcmp(mt, OCI_MT_LAYER) == 0 ||
		 strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0)
		d->kind = D_NONE;
	else {
		free(d);
		return ukit_fmt_errf(e, FMT_NOOFF, "unknown layer media type "
				"\"%.100s\"", mt);
	}
	d->in = malloc(DECOMP_IN);
	if (d->in == NULL)
		goto oom;
	if (d->kind == D_GZIP && inflateInit2(&d->z, 31) != Z_OK)
		goto oom;
	if (d->kind == D_ZSTD && (d->zs = ZSTD_createDCtx()) == NULL)
		goto oom;
	if (d->kind == D_ZSTD)
		/* bound the window a hostile frame can ask for: 128 MiB */
		(void)ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax, 27);
	*out = d;
	return 0;
oom:
	ukit_oci_decomp_close(d);
	return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
}

void ukit_oci_decomp_close(struct ukit_oci_decomp *d)
{
	if (d == NULL)
		return;
	if (d->kind == D_GZIP)
		inflateEnd(&d->z);
	ZSTD_freeDCtx(d->zs);
	free(d->in);
	free(d);
}

static int fill(struct ukit_oci_decomp *d, struct fmt_err *e)
{
	ssize_t n;

	if (d->ipos < d->ilen || d->src_eof)
		return 0;
	n = d->src.read(d->src.ctx, d->in, DECOMP_IN, e);
	if (n < 0)
		return -1;
	d->ipos = 0;
	d->ilen = (size_t)n;
	if (n == 0)
		d->src_eof = true;
	return 0;
}

ssize_t ukit_oci_decomp_read(void *ctx, void *buf, size_t len,
			     struct fmt_err *e)
{
	struct ukit_oci_decomp *d = ctx;

	if (len == 0)
		return 0;
	for (;;) {
		if (fill(d, e) < 0)
			return -1;
		if (d->kind == D_NONE) {
			size_t k = d->ilen - d->ipos;
			if (k == 0)
				return 0;
			if (k > len)
				k = len;
			memcpy(buf, d->in + d->ipos, k);
			d->ipos += k;
			return (ssize_t)k;
		}
		if (d->kind == D_GZIP) {
			int zr;
			size_t have;
			if (d->stream_end) {
				/* another gzip member may follow */
				if (d->ipos == d->ilen && d->src_eof)
					return 0;
				if (d->ipos == d->ilen)
					continue;
				inflateReset(&d->z);
				d->stream_end = false;
			}
			if (d->ipos == d->ilen && d->src_eof)
				return ukit_fmt_errf(e, FMT_NOOFF, "gzip: layer "
						"truncated (no end of stream "
						"after %" PRIu64 " bytes)",
						d->produced);
			d->z.next_in = d->in + d->ipos;
			d->z.avail_in = (uInt)(d->ilen - d->ipos);
			d->z.next_out = buf;
			d->z.avail_out = (uInt)(len > (1u << 30) ? (1u << 30) : len);
			have = d->z.avail_out;
			zr = inflate(&d->z, Z_NO_FLUSH);
			d->ipos = d->ilen - d->z.avail_in;
			if (zr == Z_STREAM_END)
				d->stream_end = true;
			else if (zr != Z_OK && zr != Z_BUF_ERROR)
				return ukit_fmt_errf(e, FMT_NOOFF, "gzip: corrupt "
						"layer after %" PRIu64 " bytes: "
						"%s", d->produced,
						d->z.msg ? d->z.msg : "error");
			have -= d->z.avail_out;
			if (have) {
				d->produced += have;
				return (ssize_t)have;
			}
			continue;
		}
		{
			ZSTD_inBuffer in = { d->in + d->ipos, d->ilen - d->ipos, 0 };
			ZSTD_outBuffer out = { buf, len, 0 };
			if (d->ipos == d->ilen && d->src_eof) {
				if (d->zret != 0)
					return ukit_fmt_errf(e, FMT_NOOFF, "zstd: layer "
							"truncated after %" PRIu64
							" bytes", d->produced);
				return 0;
			}
			d->zret = ZSTD_decompressStream(d->zs, &out, &in);
			if (ZSTD_isError(d->zret))
				return ukit_fmt_errf(e, FMT_NOOFF, "zstd: corrupt layer "
						"after %" PRIu64 " bytes: %s",
						d->produced,
						ZSTD_getErrorName(d->zret));
			d->ipos += in.pos;
			if (out.pos) {
				d->produced += out.pos;
				return (ssize_t)out.pos;
			}
		}
	}
}

const char *ukit_oci_kernel_path(const struct ukit_oci_manifest *m,
				 const struct ukit_oci_config *c)
{
	static const char *const keys[] = { "com.urunc.unikernel.binary",
					    "org.unikraft.kernel.image" };
	for (size_t k = 0; k < 2; k++) {
		json_t *v = m->annotations ? json_object_get(m->annotations,
							      keys[k]) : NULL;
		if (!json_is_string(v) && c != NULL && c->labels != NULL)
			v = json_object_get(c->labels, keys[k]);
		if (json_is_string(v))
			return json_string_value(v);
	}
	return "/unikernel/kernel";
}

static bool same_path(const char *want, const char *name)
{
	while (*want == '/')
		want++;
	if (strncmp(want, "./", 2) == 0)
		want += 2;
	return strcmp(want, name) == 0;
}

int ukit_oci_extract(struct ukit_oci_local *l, const struct ukit_oci_manifest *m,
		     struct ukit_oci_extract_item *items, size_t n,
		     struct fmt_err *e)
{
	uint8_t *buf = malloc(DECOMP_IN);
	int rc = -1;

	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	for (size_t li = 0; li < m->nlayers; li++) {
		const struct ukit_oci_desc *d = &m->layers[li];
		struct ukit_oci_blobrd br;
		struct ukit_oci_source bs = { ukit_oci_blobrd_read, &br }, ds;
		struct ukit_oci_decomp *dc = NULL;
		struct ukit_ocitar_rd tr;
		struct ukit_ocitar_entry ent;
		uint64_t off;
		int fd, r;
		char what[128];

		snprintf(what, sizeof what, "layer %s", d->digest);
		if (ukit_oci_local_blob(l, d->digest, d->size, &fd, &off, e) < 0)
			goto out;
		if (ukit_oci_blobrd_init(&br, fd, off, d->size, d->digest,
					 "layer", e) < 0)
			goto out;
		if (ukit_oci_decomp_open(d->media_type, &bs, &dc, e) < 0) {
			ukit_oci_blobrd_free(&br);
			goto out;
		}
		ds.read = ukit_oci_decomp_read;
		ds.ctx = dc;
		ukit_ocitar_rd_init(&tr, &ds, what);
		while ((r = ukit_ocitar_next(&tr, &ent, e)) == 1) {
			for (size_t i = 0; i < n; i++) {
				uint64_t w = 0;
				ssize_t k;
				if (ent.type != OCITAR_FILE ||
				    !same_path(items[i].path, ent.name))
					continue;
				if (ftruncate(items[i].fd, 0) < 0) {
					r = ukit_fmt_errno(e, FMT_NOOFF, "truncate");
					break;
				}
				while ((k = ukit_ocitar_read(&tr, buf, DECOMP_IN,
							     e)) > 0) {
					if (ukit_pwrite_full(items[i].fd, buf,
							(size_t)k, w) < 0) {
						k = ukit_fmt_errno(e, w, "write %s",
							      items[i].path);
						break;
					}
					w += (uint64_t)k;
				}
				if (k < 0) {
					r = -1;
					break;
				}
				items[i].found = true;
				items[i].size = w;
				break;
			}
			if (r < 0)
				break;
		}
		/* the rest of the compressed stream, then the digest */
		if (r == 0) {
			ssize_t k;
			while ((k = ukit_oci_decomp_read(dc, buf, DECOMP_IN,
							 e)) > 0)
				;
			if (k < 0)
				r = -1;
		}
		if (r == 0 && ukit_oci_blobrd_finish(&br, e) < 0)
			r = -1;
		ukit_oci_decomp_close(dc);
		ukit_oci_blobrd_free(&br);
		if (r < 0) {
			if (e != NULL && strstr(e->msg, d->digest) == NULL)
				ukit_oci_err_prefix(e, what);
			goto out;
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
