/*
 * convert_raw.c: image -> sparse raw, over the converter's pipeline (see
 * convert.h, convert_int.h): the calling thread walks the input's data
 * extents a chunk at a time, workers read each chunk and write its
 * non-zero blocks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "convert_int.h"
#include "qcow2.h"

struct rjob {
	struct wb wb;
	struct pool *p;
	struct image *img;
	uint64_t pos;            /* next offset to look at */
	struct image_extent ext;
	bool have_ext;
	const struct convert_opts *o;
};

static int rfill(void *ctx, struct slot *s, struct fmt_err *e)
{
	struct rjob *j = ctx;
	uint64_t size = j->p->size;

	while (j->pos < size) {
		uint64_t end;

		if (!j->have_ext || j->pos - j->ext.off >= j->ext.len) {
			if (ukit_image_map(j->img, j->pos, &j->ext, e) < 0)
				return -1;
			if (j->ext.len == 0 || j->ext.off != j->pos ||
			    j->ext.len > size - j->pos)
				return ukit_fmt_errf(e, j->pos,
						"reader returned no extent");
			j->have_ext = true;
		}
		end = j->ext.off + j->ext.len;
		if (j->ext.kind != EXT_DATA) {
			j->pos = end;
			continue;
		}
		s->off = j->pos;
		s->len = end - j->pos < RAW_CHUNK ? end - j->pos : RAW_CHUNK;
		j->pos += s->len;
		return 1;
	}
	return 0;
}

static int rdrain(void *ctx, struct slot *s, struct fmt_err *e)
{
	struct rjob *j = ctx;

	(void)e;
	ukit_convert_start_writeback(&j->wb, s->off + s->len);
	if (j->o != NULL && j->o->progress != NULL)
		j->o->progress(j->o->ctx, s->off + s->len);
	return 0;
}

int ukit_convert_to_raw(struct image *img, const char *ipath, int fd,
		   const char *opath, const struct convert_opts *o,
		   struct fmt_err *e)
{
	struct convert_opts dflt = { .threads = 1, .level = -1 };
	struct pool p;
	struct rjob j;
	unsigned threads;
	bool in_fault, copy;
	int rc;

	if (o == NULL)
		o = &dflt;
	e->path = opath;
	if (ukit_image_size(img) > INT64_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "image too large");
	if (!o->keep_size && ftruncate(fd, (off_t)ukit_image_size(img)) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot size output");
	ukit_convert_pool_setup(&p, img, ipath, o);
	p.comp = QCOW2W_NONE;
	p.raw = true;
	p.cs = RAW_CHUNK;
	p.ofd = fd;
	memset(&j, 0, sizeof j);
	j.p = &p;
	j.img = img;
	j.o = o;
	/*
	 * Without clusters to inflate there is nothing to share out but the
	 * copy into the output's page cache, which the kernel does one
	 * writer at a time: a second thread reads while the first writes,
	 * more would only spin on the file's lock.
	 */
	threads = ukit_convert_nthreads(o);
	copy = ukit_image_qcow2(img) == NULL ||
	       !ukit_qcow2_maybe_compressed(ukit_image_qcow2(img));
	if (copy && threads > COPY_THREADS)
		threads = COPY_THREADS;
	ukit_convert_wb_start(&j.wb, fd, !copy && !o->no_writeback);
	j.wb.off = o->no_writeback;
	rc = ukit_convert_pool_run(&p, threads, rfill, rdrain, NULL, &j,
				   &in_fault, e);
	ukit_convert_wb_stop(&j.wb);
	if (rc == 0 && o->progress != NULL)
		o->progress(o->ctx, p.size);
	e->path = rc < 0 && in_fault ? ipath : opath;
	return rc;
}
