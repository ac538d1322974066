/*
 * convert_pool.c: the converter's input walk and worker pool pipeline
 * (see convert_int.h).
 *
 * The input is walked with ukit_image_map(), so only clusters that hold data
 * are read.  For compressed qcow2 output, a fixed ring of slots (a few
 * clusters each) is filled in guest order by the calling thread, worker
 * threads compress slots in any order (the calling thread too, while the
 * slot it waits for is not done: no more threads than CPUs), and the
 * calling thread hands the results to the qcow2 writer strictly in ring
 * order: the output is the same whatever the number of threads, and
 * memory is the ring's size.  Raw output runs through the same ring,
 * the workers writing their ranges themselves.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "convert_int.h"

/*
 * Guest bytes per compression slot (at least one cluster).  Short jobs: a
 * worker that waits between them gets its share of a loaded machine's
 * CPUs sooner than one that never sleeps.  Copy-only slots are RAW_CHUNK.
 */
#define SLOT_BYTES (64u << 10)
#define ZERO_BLOCK 4096u         /* raw output: hole granularity */
#define PIECE (256u << 10)       /* raw output: bytes copied at a time (in L2) */

/*
 * A buffer for file data, page-aligned: the kernel copies between it and
 * the page cache, and that copy runs at half speed or worse here when the
 * buffer sits a few bytes off a cache line (malloc's 16-byte alignment).
 */
void *ukit_convert_iobuf(size_t n)
{
	return aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
}

bool ukit_convert_all_zero(const uint8_t *p, size_t n)
{
	size_t head = n < 16 ? n : 16;

	for (size_t i = 0; i < head; i++)
		if (p[i] != 0)
			return false;
	return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

/* ---- walking the input ------------------------------------------------ */

int ukit_convert_walk_next(struct walk *w, uint64_t *idx, struct fmt_err *e)
{
	while (w->pos < w->size) {
		if (!w->have_ext || w->pos < w->ext.off ||
		    w->pos - w->ext.off >= w->ext.len) {
			if (ukit_image_map(w->img, w->pos, &w->ext, e) < 0)
				return -1;
			if (w->ext.len == 0 || w->ext.off > w->pos ||
			    w->pos - w->ext.off >= w->ext.len)
				return ukit_fmt_errf(e, w->pos,
						"reader returned no extent");
			w->have_ext = true;
		}
		if (w->ext.kind != EXT_DATA) {
			w->pos = w->ext.off + w->ext.len;
			continue;
		}
		*idx = w->pos / w->cs;
		w->pos = (*idx + 1) * w->cs;
		return 1;
	}
	return 0;
}

/* ---- the pipeline ----------------------------------------------------- */

struct wctx {
	struct image *img;       /* this worker's own handle */
	struct zctx z;
	bool zok;
};

static void work_qcow2(struct pool *p, struct wctx *w, struct slot *s)
{
	/* read runs of consecutive clusters with one call each */
	for (unsigned i = 0; i < s->n;) {
		unsigned j = i + 1;
		uint64_t off, len;

		while (j < s->n && s->idx[j] == s->idx[j - 1] + 1)
			j++;
		off = s->idx[i] * p->cs;
		len = (j - i) * p->cs;
		if (off + len > p->size) {
			memset(s->in + i * p->cs + (p->size - off), 0,
			       len - (p->size - off));
			len = p->size - off;
		}
		if (ukit_image_read(w->img, s->in + i * p->cs, len, off,
			       &s->err) < 0) {
			s->rc = -1;
			return;
		}
		i = j;
	}
	for (unsigned i = 0; i < s->n; i++) {
		const uint8_t *in = s->in + i * p->cs;
		uint8_t *out = s->out + i * (p->cs - 1);
		size_t n;

		if (ukit_convert_all_zero(in, p->cs)) {
			s->kind[i] = CL_ZERO;
			continue;
		}
		n = p->comp != QCOW2W_NONE &&
		    !ukit_convert_looks_uniform(in, p->cs)
			? ukit_convert_zctx_run(&w->z, in, p->cs, out,
						p->cs - 1)
			: 0;
		s->kind[i] = n > 0 ? CL_COMP : CL_RAW;
		s->len_c[i] = (uint32_t)n;
	}
}

int ukit_convert_pwrite_all(int fd, const uint8_t *p, size_t len,
			    uint64_t off, struct fmt_err *e)
{
	if (ukit_pwrite_full(fd, p, len, off) < 0)
		return ukit_fmt_errno(e, off, "write failed");
	return 0;
}

/*
 * Raw output: read the range a piece at a time and write each piece's
 * non-zero runs of 4 KiB blocks while the piece is still in the cache.
 */
static void work_raw(struct pool *p, struct wctx *w, struct slot *s)
{
	for (uint64_t done = 0; done < s->len;) {
		size_t n = s->len - done < PIECE ? (size_t)(s->len - done) : PIECE;
		uint64_t off = s->off + done;
		uint8_t *buf = s->in;

		if (ukit_image_read(w->img, buf, n, off, &s->err) < 0) {
			s->rc = -1;
			return;
		}
		for (size_t i = 0; i < n;) {
			size_t j;

			while (i < n &&
			       ukit_convert_all_zero(buf + i, n - i < ZERO_BLOCK
							      ? n - i
							      : ZERO_BLOCK))
				i += ZERO_BLOCK;
			if (i >= n)
				break;
			j = i;
			while (j < n &&
			       !ukit_convert_all_zero(buf + j, n - j < ZERO_BLOCK
							       ? n - j
							       : ZERO_BLOCK))
				j += ZERO_BLOCK;
			if (j > n)
				j = n;
			if (ukit_convert_pwrite_all(p->ofd, buf + i, j - i,
						    off + i, &s->err) < 0) {
				s->rc = -2;      /* the output's fault */
				return;
			}
			i = j;
		}
		done += n;
	}
}

static void work(struct pool *p, struct wctx *w, struct slot *s)
{
	s->rc = 0;
	if (p->raw)
		work_raw(p, w, s);
	else
		work_qcow2(p, w, s);
}

static int wctx_init(struct pool *p, struct wctx *w, struct fmt_err *e)
{
	memset(w, 0, sizeof *w);
	if (ukit_image_dup(p->img, &w->img, e) < 0)
		return -1;
	if (ukit_convert_zctx_init(&w->z, p->comp, p->level) < 0) {
		ukit_convert_zctx_fini(&w->z);
		ukit_image_close(w->img);
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot set up the compressor");
	}
	return 0;
}

static void wctx_fini(struct wctx *w)
{
	ukit_convert_zctx_fini(&w->z);
	ukit_image_close(w->img);
}

/*
 * With p->mu held and a filled slot nobody has taken: take it, do its
 * work without the lock, mark it done.  p->mu is held again on return.
 */
static void work_next(struct pool *p, struct wctx *w)
{
	struct slot *s = &p->slots[p->taken++ % p->nslots];

	s->state = SLOT_BUSY;
	pthread_mutex_unlock(&p->mu);
	work(p, w, s);
	pthread_mutex_lock(&p->mu);
	s->state = SLOT_DONE;
	pthread_cond_broadcast(&p->cv);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct wctx w;
	struct fmt_err e = { 0 };
	bool ok = wctx_init(p, &w, &e) == 0;

	pthread_mutex_lock(&p->mu);
	if (!ok) {
		/* the others, the calling thread at least, do its share */
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	for (;;) {
		while (!p->quit && p->taken == p->filled)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->quit)
			break;
		work_next(p, &w);
	}
	pthread_mutex_unlock(&p->mu);
	wctx_fini(&w);
	return NULL;
}

static void pool_free(struct pool *p)
{
	for (unsigned i = 0; p->slots != NULL && i < p->nslots; i++) {
		free(p->slots[i].idx);
		free(p->slots[i].in);
		free(p->slots[i].out);
		free(p->slots[i].len_c);
		free(p->slots[i].kind);
	}
	free(p->slots);
}

/*
 * Slots for (*threads) workers within CONVERT_WINDOW_BYTES; fewer
 * workers when the window cannot keep them all busy (large clusters,
 * many threads): memory stays bounded, the output is the same.
 */
static int pool_alloc(struct pool *p, unsigned *threads)
{
	uint64_t per = p->raw ? 1
		: (p->comp != QCOW2W_NONE ? SLOT_BYTES : RAW_CHUNK) / p->cs;
	uint64_t slot_mem;
	unsigned n;

	if (per == 0)
		per = 1;
	slot_mem = (p->comp != QCOW2W_NONE ? 2 : 1) * per * p->cs;
	/* a deep ring smooths out uneven jobs and gathers more writes */
	n = (unsigned)(CONVERT_WINDOW_BYTES / 2 / slot_mem);
	if (n > 64)
		n = 64;
	if (n < 2 * *threads + 2)
		n = 2 * *threads + 2;
	if ((uint64_t)n * slot_mem > CONVERT_WINDOW_BYTES) {
		n = (unsigned)(CONVERT_WINDOW_BYTES / slot_mem);
		if (n < 2)
			n = 2;
		if (*threads > n - 1)
			*threads = n - 1;
	}
	p->per_slot = (unsigned)per;
	p->nslots = n;
	p->slots = calloc(n, sizeof *p->slots);
	if (p->slots == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct slot *s = &p->slots[i];
		s->idx = calloc(per, sizeof *s->idx);
		s->in = ukit_convert_iobuf(p->raw ? PIECE : per * p->cs);
		s->out = p->comp != QCOW2W_NONE ? malloc(per * (p->cs - 1))
						: malloc(1);
		s->len_c = calloc(per, sizeof *s->len_c);
		s->kind = calloc(per, 1);
		if (!s->idx || !s->in || !s->out || !s->len_c || !s->kind)
			return -1;
	}
	return 0;
}

int ukit_convert_pool_run(struct pool *p, unsigned threads,
			  int (*fill)(void *ctx, struct slot *s,
				      struct fmt_err *e),
			  int (*drain)(void *ctx, struct slot *s,
				       struct fmt_err *e),
			  int (*flush)(void *ctx, struct fmt_err *e),
			  void *ctx, bool *input_fault, struct fmt_err *e)
{
	pthread_t tid[CONVERT_MAX_THREADS];
	struct wctx mw;          /* the calling thread works too */
	bool mw_ok = false;
	unsigned nthr = 0;
	uint64_t wrote = 0, n;
	bool end = false, done;
	int rc = -1;

	*input_fault = false;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pool_alloc(p, &threads) < 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	if (wctx_init(p, &mw, e) < 0) {
		*input_fault = true;
		goto out;
	}
	mw_ok = true;
	/* (threads) in all: the calling thread and threads - 1 workers */
	for (; nthr + 1 < threads; nthr++)
		if (pthread_create(&tid[nthr], NULL, worker, p) != 0)
			break;
	for (;;) {
		struct slot *s;

		while (!end && p->filled - wrote < p->nslots) {
			int r;

			s = &p->slots[p->filled % p->nslots];
			r = fill(ctx, s, e);
			if (r < 0) {
				*input_fault = true;
				goto out;
			}
			if (r == 0) {
				end = true;
				break;
			}
			pthread_mutex_lock(&p->mu);
			s->state = SLOT_FILLED;
			p->filled++;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
		}
		if (wrote == p->filled)
			break;
		s = &p->slots[wrote % p->nslots];
		pthread_mutex_lock(&p->mu);
		while (s->state != SLOT_DONE) {
			if (p->taken == p->filled)
				pthread_cond_wait(&p->cv, &p->mu);
			else    /* a slot no worker has taken yet: do it here */
				work_next(p, &mw);
		}
		pthread_mutex_unlock(&p->mu);
		/*
		 * Drain the oldest slot and every done one after it, then
		 * flush once: their buffers stay valid until then, so writes
		 * to consecutive host offsets go out together.
		 */
		for (n = 0;;) {
			if (s->rc < 0) {
				*e = s->err;
				*input_fault = s->rc == -1;
				goto out;
			}
			if (drain(ctx, s, e) < 0)
				goto out;
			n++;
			if (wrote + n == p->filled)
				break;
			s = &p->slots[(wrote + n) % p->nslots];
			pthread_mutex_lock(&p->mu);
			done = s->state == SLOT_DONE;
			pthread_mutex_unlock(&p->mu);
			if (!done)
				break;
		}
		if (flush != NULL && flush(ctx, e) < 0)
			goto out;
		for (uint64_t i = 0; i < n; i++)
			p->slots[(wrote + i) % p->nslots].state = SLOT_FREE;
		wrote += n;
	}
	rc = 0;
out:
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < nthr; i++)
		pthread_join(tid[i], NULL);
	if (mw_ok)
		wctx_fini(&mw);
	pool_free(p);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	return rc;
}

void ukit_convert_pool_setup(struct pool *p, struct image *img,
			     const char *ipath, const struct convert_opts *o)
{
	memset(p, 0, sizeof *p);
	p->comp = o->q.comp;
	p->level = o->level;
	p->size = ukit_image_size(img);
	p->img = img;
	p->ipath = ipath;
	p->fmt = ukit_image_format(img);
}

unsigned ukit_convert_nthreads(const struct convert_opts *o)
{
	unsigned t = o->threads;

	return t < 1 ? 1 : t > CONVERT_MAX_THREADS ? CONVERT_MAX_THREADS : t;
}
