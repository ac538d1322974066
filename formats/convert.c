/*
 * convert.c: image -> qcow2 and image -> sparse raw (see convert.h).
 *
 * The input is walked with image_map(), so only clusters that hold data
 * are read.  For compressed qcow2 output, a fixed ring of slots (a few
 * clusters each) is filled in guest order by the calling thread, worker
 * threads compress slots in any order, and the calling thread hands the
 * results to the qcow2 writer strictly in ring order: the output is the
 * same whatever the number of threads, and memory is the ring's size.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "bytes.h"
#include "convert.h"
#include "outfile.h"

#define SLOT_BYTES (1u << 20)    /* guest bytes per slot (at least 1 cluster) */
#define RAW_CHUNK (1u << 20)     /* raw output: bytes read at a time */
#define ZERO_BLOCK 4096u         /* raw output: hole granularity */
#define ZLIB_DEFAULT_LEVEL 6     /* Z_DEFAULT_COMPRESSION, as qemu */
#define ZSTD_DEFAULT_LEVEL 3     /* ZSTD_CLEVEL_DEFAULT, as qemu */

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t head = n < 16 ? n : 16;

	for (size_t i = 0; i < head; i++)
		if (p[i] != 0)
			return false;
	return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

/* ---- compression ------------------------------------------------------ */

struct zctx {
	enum qcow2w_comp comp;
	int level;
	bool zinit;
	z_stream z;
	ZSTD_CCtx *zs;
};

static int zctx_init(struct zctx *c, enum qcow2w_comp comp, int level)
{
	memset(c, 0, sizeof *c);
	c->comp = comp;
	c->level = level;
	if (comp == QCOW2W_ZLIB) {
		if (level < 0)
			c->level = ZLIB_DEFAULT_LEVEL;
		/* raw deflate (no zlib header), 4 KiB window: qemu inflates
		 * with windowBits -12, so a larger window would not read back */
		if (deflateInit2(&c->z, c->level, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		c->zinit = true;
	} else if (comp == QCOW2W_ZSTD) {
		if (level < 0)
			c->level = ZSTD_DEFAULT_LEVEL;
		if ((c->zs = ZSTD_createCCtx()) == NULL)
			return -1;
	}
	return 0;
}

static void zctx_fini(struct zctx *c)
{
	if (c->zinit)
		deflateEnd(&c->z);
	ZSTD_freeCCtx(c->zs);
	c->zinit = false;
	c->zs = NULL;
}

static size_t zctx_run(struct zctx *c, const void *in, size_t len, void *out,
		       size_t cap)
{
	if (c->comp == QCOW2W_ZLIB) {
		if (deflateReset(&c->z) != Z_OK)
			return 0;
		c->z.next_in = (Bytef *)(uintptr_t)in;
		c->z.avail_in = (uInt)len;
		c->z.next_out = out;
		c->z.avail_out = (uInt)cap;
		if (deflate(&c->z, Z_FINISH) != Z_STREAM_END)
			return 0;
		return cap - c->z.avail_out;
	}
	if (c->comp == QCOW2W_ZSTD) {
		size_t n = ZSTD_compressCCtx(c->zs, out, cap, in, len, c->level);
		return ZSTD_isError(n) ? 0 : n;
	}
	return 0;
}

size_t convert_compress(enum qcow2w_comp comp, int level, const void *in,
			size_t len, void *out, size_t cap)
{
	struct zctx c;
	size_t n;

	if (zctx_init(&c, comp, level) < 0) {
		zctx_fini(&c);
		return 0;
	}
	n = zctx_run(&c, in, len, out, cap);
	zctx_fini(&c);
	return n;
}

/* ---- walking the input ------------------------------------------------ */

struct walk {
	struct image *img;
	uint64_t size;           /* image_size() */
	uint64_t cs;
	uint64_t pos;            /* virtual offset scanned up to */
	struct image_extent ext;
	bool have_ext;
};

/*
 * The next cluster (from walk->pos on) that overlaps data.  1 and (*idx),
 * 0 at the end, -1 with (e).
 */
static int walk_next(struct walk *w, uint64_t *idx, struct fmt_err *e)
{
	while (w->pos < w->size) {
		if (!w->have_ext || w->pos < w->ext.off ||
		    w->pos - w->ext.off >= w->ext.len) {
			if (image_map(w->img, w->pos, &w->ext, e) < 0)
				return -1;
			if (w->ext.len == 0 || w->ext.off > w->pos ||
			    w->pos - w->ext.off >= w->ext.len)
				return fmt_errf(e, w->pos,
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

/* Read guest clusters [idx, idx + n) into (buf), zero past the end. */
static int read_clusters(struct walk *w, uint64_t idx, uint64_t n,
			 uint8_t *buf, struct fmt_err *e)
{
	uint64_t off = idx * w->cs, len = n * w->cs;

	if (off + len > w->size) {
		memset(buf + (w->size - off), 0, len - (w->size - off));
		len = w->size - off;
	}
	return image_read(w->img, buf, len, off, e);
}

/* ---- qcow2 output ----------------------------------------------------- */

enum { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };
enum { CL_ZERO, CL_RAW, CL_COMP };

struct slot {
	int state;
	unsigned n;              /* clusters */
	uint64_t *idx;           /* guest cluster indices */
	uint8_t *in;             /* n clusters */
	uint8_t *out;            /* n compressed clusters, cs - 1 each */
	uint32_t *len;           /* compressed lengths; kind in kind[] */
	uint8_t *kind;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* state changes */
	struct slot *slots;
	unsigned nslots, per_slot;
	uint64_t filled;         /* slots published */
	uint64_t taken;          /* slots taken by workers */
	bool quit;
	enum qcow2w_comp comp;
	int level;
	uint64_t cs;
	bool worker_failed;
};

static void compress_slot(struct pool *p, struct zctx *z, struct slot *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		const uint8_t *in = s->in + i * p->cs;
		uint8_t *out = s->out + i * (p->cs - 1);
		size_t n;

		if (all_zero(in, p->cs)) {
			s->kind[i] = CL_ZERO;
			continue;
		}
		n = z != NULL ? zctx_run(z, in, p->cs, out, p->cs - 1) : 0;
		s->kind[i] = n > 0 ? CL_COMP : CL_RAW;
		s->len[i] = (uint32_t)n;
	}
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct zctx z;
	bool ok = zctx_init(&z, p->comp, p->level) == 0;

	pthread_mutex_lock(&p->mu);
	if (!ok)
		p->worker_failed = true;
	for (;;) {
		struct slot *s;

		while (!p->quit && p->taken == p->filled)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->quit)
			break;
		s = &p->slots[p->taken++ % p->nslots];
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&p->mu);
		compress_slot(p, ok ? &z : NULL, s);
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	zctx_fini(&z);
	return NULL;
}

static void pool_free(struct pool *p)
{
	for (unsigned i = 0; p->slots != NULL && i < p->nslots; i++) {
		free(p->slots[i].idx);
		free(p->slots[i].in);
		free(p->slots[i].out);
		free(p->slots[i].len);
		free(p->slots[i].kind);
	}
	free(p->slots);
}

static int pool_alloc(struct pool *p, unsigned threads)
{
	uint64_t per = SLOT_BYTES / p->cs, slot_mem;
	unsigned n;

	if (per == 0)
		per = 1;
	slot_mem = 2 * per * p->cs;
	n = 2 * threads + 2;
	if ((uint64_t)n * slot_mem > CONVERT_WINDOW_BYTES) {
		n = (unsigned)(CONVERT_WINDOW_BYTES / slot_mem);
		if (n < threads + 1)
			n = threads + 1;
	}
	p->per_slot = (unsigned)per;
	p->nslots = n;
	p->slots = calloc(n, sizeof *p->slots);
	if (p->slots == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct slot *s = &p->slots[i];
		s->idx = calloc(per, sizeof *s->idx);
		s->in = malloc(per * p->cs);
		s->out = p->comp != QCOW2W_NONE ? malloc(per * (p->cs - 1))
						: malloc(1);
		s->len = calloc(per, sizeof *s->len);
		s->kind = calloc(per, 1);
		if (!s->idx || !s->in || !s->out || !s->len || !s->kind)
			return -1;
	}
	return 0;
}

/* Fill (s) with the next data clusters.  Returns clusters put in, or -1. */
static int fill_slot(struct walk *w, struct pool *p, struct slot *s,
		     bool *end, struct fmt_err *e)
{
	unsigned n = 0;

	while (n < p->per_slot) {
		uint64_t idx = 0;
		int r = walk_next(w, &idx, e);

		if (r < 0)
			return -1;
		if (r == 0) {
			*end = true;
			break;
		}
		s->idx[n++] = idx;
	}
	/* read runs of consecutive clusters with one call each */
	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;

		while (j < n && s->idx[j] == s->idx[j - 1] + 1)
			j++;
		if (read_clusters(w, s->idx[i], j - i, s->in + i * p->cs,
				  e) < 0)
			return -1;
		i = j;
	}
	s->n = n;
	return (int)n;
}

static int drain_slot(struct qcow2w *qw, struct pool *p, struct slot *s,
		      struct fmt_err *e)
{
	for (unsigned i = 0; i < s->n; i++) {
		int r = 0;

		if (s->kind[i] == CL_RAW)
			r = qcow2w_put(qw, s->idx[i], s->in + i * p->cs, e);
		else if (s->kind[i] == CL_COMP)
			r = qcow2w_put_compressed(qw, s->idx[i],
						  s->out + i * (p->cs - 1),
						  s->len[i], e);
		if (r < 0)
			return -1;
	}
	return 0;
}

int convert_to_qcow2(struct image *img, const char *ipath, int fd,
		     const char *opath, const struct convert_opts *o,
		     struct fmt_err *e)
{
	struct qcow2w *qw = NULL;
	struct pool p;
	struct walk w;
	pthread_t tid[CONVERT_MAX_THREADS];
	unsigned nthr = 0, threads = o->threads;
	uint64_t wrote = 0;
	bool end = false, in_err = false;
	int rc = -1;

	memset(&p, 0, sizeof p);
	memset(&w, 0, sizeof w);
	if (threads < 1)
		threads = 1;
	if (threads > CONVERT_MAX_THREADS)
		threads = CONVERT_MAX_THREADS;
	e->path = opath;
	if (qcow2w_open(fd, opath, &o->q, image_size(img), &qw, e) < 0)
		return -1;
	w.img = img;
	w.size = image_size(img);
	w.cs = 1ULL << o->q.cluster_bits;
	p.cs = w.cs;
	p.comp = o->q.comp;
	p.level = o->level;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pool_alloc(&p, threads) < 0) {
		fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	if (p.comp != QCOW2W_NONE) {
		for (; nthr < threads; nthr++)
			if (pthread_create(&tid[nthr], NULL, worker, &p) != 0)
				break;
		if (nthr == 0) {
			fmt_errf(e, FMT_NOOFF, "cannot start threads");
			goto out;
		}
	}
	for (;;) {
		/* fill every free slot, in ring order */
		while (!end && p.filled - wrote < p.nslots) {
			struct slot *s = &p.slots[p.filled % p.nslots];
			int n = fill_slot(&w, &p, s, &end, e);

			if (n < 0) {
				in_err = true;
				goto out;
			}
			if (n == 0)
				break;
			if (nthr == 0) {
				compress_slot(&p, NULL, s);
				s->state = SLOT_DONE;
				p.filled++;
			} else {
				pthread_mutex_lock(&p.mu);
				s->state = SLOT_FILLED;
				p.filled++;
				pthread_cond_broadcast(&p.cv);
				pthread_mutex_unlock(&p.mu);
			}
		}
		if (wrote == p.filled)
			break;
		/* hand the oldest slot to the writer once compressed */
		{
			struct slot *s = &p.slots[wrote % p.nslots];

			if (nthr > 0) {
				pthread_mutex_lock(&p.mu);
				while (s->state != SLOT_DONE)
					pthread_cond_wait(&p.cv, &p.mu);
				pthread_mutex_unlock(&p.mu);
			}
			if (p.worker_failed) {
				fmt_errf(e, FMT_NOOFF,
					 "cannot set up the compressor");
				goto out;
			}
			if (drain_slot(qw, &p, s, e) < 0)
				goto out;
			s->state = SLOT_FREE;
			wrote++;
			if (o->progress != NULL && s->n > 0)
				o->progress(o->ctx,
					    (s->idx[s->n - 1] + 1) * w.cs);
		}
	}
	if (qcow2w_finish(qw, e) < 0)
		goto out;
	if (o->progress != NULL)
		o->progress(o->ctx, w.size);
	rc = 0;
out:
	if (nthr > 0) {
		pthread_mutex_lock(&p.mu);
		p.quit = true;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		for (unsigned i = 0; i < nthr; i++)
			pthread_join(tid[i], NULL);
	}
	pool_free(&p);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	qcow2w_free(qw);
	if (in_err)
		e->path = ipath;
	return rc;
}

/* ---- raw output ------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off,
		      struct fmt_err *e)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fmt_errno(e, off, "write failed");
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int convert_to_raw(struct image *img, const char *ipath, int fd,
		   const char *opath, const struct convert_opts *o,
		   struct fmt_err *e)
{
	uint64_t size = image_size(img), pos = 0;
	uint8_t *buf;
	int rc = -1;

	e->path = opath;
	if (size > INT64_MAX)
		return fmt_errf(e, FMT_NOOFF, "image too large");
	if (ftruncate(fd, (off_t)size) < 0)
		return fmt_errno(e, FMT_NOOFF, "cannot size output");
	buf = malloc(RAW_CHUNK);
	if (buf == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	while (pos < size) {
		struct image_extent ext;
		uint64_t end;

		if (image_map(img, pos, &ext, e) < 0) {
			e->path = ipath;
			goto out;
		}
		if (ext.len == 0 || ext.off != pos || ext.len > size - pos) {
			e->path = ipath;
			fmt_errf(e, pos, "reader returned no extent");
			goto out;
		}
		end = pos + ext.len;
		if (ext.kind != EXT_DATA) {
			pos = end;
			continue;
		}
		while (pos < end) {
			size_t n = end - pos < RAW_CHUNK ? end - pos : RAW_CHUNK;

			if (image_read(img, buf, n, pos, e) < 0) {
				e->path = ipath;
				goto out;
			}
			/* write the non-zero runs of 4 KiB blocks */
			for (size_t i = 0; i < n;) {
				size_t j;

				while (i < n && all_zero(buf + i,
					n - i < ZERO_BLOCK ? n - i : ZERO_BLOCK))
					i += ZERO_BLOCK;
				if (i >= n)
					break;
				j = i;
				while (j < n && !all_zero(buf + j,
					n - j < ZERO_BLOCK ? n - j : ZERO_BLOCK))
					j += ZERO_BLOCK;
				if (j > n)
					j = n;
				if (pwrite_all(fd, buf + i, j - i, pos + i, e) < 0)
					goto out;
				i = j;
			}
			pos += n;
			if (o != NULL && o->progress != NULL)
				o->progress(o->ctx, pos);
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
