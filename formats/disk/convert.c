/*
 * convert.c: image -> qcow2 (see convert.h), over the converter's
 * pipeline (convert_pool.c) when compressing or reading qcow2, else by
 * copying (convert_copy.c); image -> sparse raw is convert_raw.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "convert_int.h"

static int qfill(void *ctx, struct slot *s, struct fmt_err *e)
{
	struct qjob *j = ctx;
	unsigned n = 0;

	while (n < j->p->per_slot) {
		uint64_t idx = 0;
		int r = ukit_convert_walk_next(&j->w, &idx, e);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		s->idx[n++] = idx;
	}
	s->n = n;
	return n > 0;
}

static int qdrain(void *ctx, struct slot *s, struct fmt_err *e)
{
	struct qjob *j = ctx;
	uint64_t cs = j->p->cs;

	for (unsigned i = 0; i < s->n; i++) {
		int r = 0;

		if (s->kind[i] == CL_RAW)
			r = ukit_qcow2w_put(j->qw, s->idx[i], s->in + i * cs, e);
		else if (s->kind[i] == CL_COMP)
			r = ukit_qcow2w_put_compressed(j->qw, s->idx[i],
						  s->out + i * (cs - 1),
						  s->len_c[i], e);
		if (r < 0)
			return -1;
	}
	if (j->o->progress != NULL && s->n > 0)
		j->o->progress(j->o->ctx, (s->idx[s->n - 1] + 1) * cs);
	return 0;
}

/* The drained slots' buffers are reused once this returns. */
static int qflush(void *ctx, struct fmt_err *e)
{
	struct qjob *j = ctx;

	if (ukit_qcow2w_flush(j->qw, e) < 0)
		return -1;
	ukit_convert_start_writeback(&j->wb, ukit_qcow2w_host_size(j->qw));
	return 0;
}

int ukit_convert_to_qcow2(struct image *img, const char *ipath, int fd,
		     const char *opath, const struct convert_opts *o,
		     struct fmt_err *e)
{
	struct pool p;
	struct qjob j;
	bool in_fault;
	int rc;

	e->path = opath;
	ukit_convert_pool_setup(&p, img, ipath, o);
	p.cs = 1ULL << o->q.cluster_bits;
	memset(&j, 0, sizeof j);
	j.fd = fd;
	j.p = &p;
	j.o = o;
	j.w.img = img;
	j.w.size = p.size;
	j.w.cs = p.cs;
	if (ukit_qcow2w_open(fd, opath, &o->q, p.size, &j.qw, e) < 0)
		return -1;
	if (p.comp == QCOW2W_NONE && p.fmt != IMG_QCOW2) {
		ukit_convert_wb_start(&j.wb, fd, false);
		j.wb.off = o->no_writeback;
		rc = ukit_convert_copy_inline(&j, ukit_convert_nthreads(o),
					      &in_fault, e);
	} else {
		ukit_convert_wb_start(&j.wb, fd, !o->no_writeback);
		j.wb.off = o->no_writeback;
		rc = ukit_convert_pool_run(&p, ukit_convert_nthreads(o), qfill,
					   qdrain, qflush, &j, &in_fault, e);
	}
	if (rc == 0)
		rc = ukit_qcow2w_finish(j.qw, e);
	if (rc == 0 && j.prealloc > ukit_qcow2w_host_size(j.qw) &&
	    ftruncate(fd, (off_t)ukit_qcow2w_host_size(j.qw)) < 0)
		rc = ukit_fmt_errno(e, FMT_NOOFF, "cannot trim the output");
	ukit_convert_wb_stop(&j.wb);
	ukit_qcow2w_free(j.qw);
	if (rc == 0 && o->progress != NULL)
		o->progress(o->ctx, p.size);
	e->path = rc < 0 && in_fault ? ipath : opath;
	return rc;
}
