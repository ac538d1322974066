/*
 * convert.c: image -> qcow2 and image -> sparse raw (see convert.h).
 *
 * The input is walked with ukit_image_map(), so only clusters that hold data
 * are read.  For compressed qcow2 output, a fixed ring of slots (a few
 * clusters each) is filled in guest order by the calling thread, worker
 * threads compress slots in any order (the calling thread too, while the
 * slot it waits for is not done: no more threads than CPUs), and the
 * calling thread hands the results to the qcow2 writer strictly in ring
 * order: the output is the same whatever the number of threads, and
 * memory is the ring's size.  zlib at the default level goes through
 * ukit's deflate (deflate.h), checked cluster by cluster with zlib's
 * inflate.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "io.h"
#include "bytes.h"
#include "convert.h"
#include "deflate.h"
#include "qcow2.h"

/*
 * Guest bytes per compression slot (at least one cluster).  Short jobs: a
 * worker that waits between them gets its share of a loaded machine's
 * CPUs sooner than one that never sleeps.  Copy-only slots are RAW_CHUNK.
 */
#define SLOT_BYTES (64u << 10)
#define RAW_CHUNK (1u << 20)     /* bytes read at a time when not compressing */
#define ZERO_BLOCK 4096u         /* raw output: hole granularity */
#define PIECE (256u << 10)       /* raw output: bytes copied at a time (in L2) */
#define WRITEBACK_STEP (32u << 20) /* bytes between writeback hints... */
#define WRITEBACK_STEP_INLINE (4u << 20) /* ...given inline (copying) */
#define ZLIB_DEFAULT_LEVEL 6     /* Z_DEFAULT_COMPRESSION, as qemu */
#define ZSTD_DEFAULT_LEVEL 3     /* ZSTD_CLEVEL_DEFAULT, as qemu */

/*
 * A buffer for file data, page-aligned: the kernel copies between it and
 * the page cache, and that copy runs at half speed or worse here when the
 * buffer sits a few bytes off a cache line (malloc's 16-byte alignment).
 */
static void *iobuf(size_t n)
{
	return aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t head = n < 16 ? n : 16;

	for (size_t i = 0; i < head; i++)
		if (p[i] != 0)
			return false;
	return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

/* ---- compression ------------------------------------------------------ */

/*
 * Bytes spread uniformly over all 256 values (compressed or encrypted
 * files, random fill) do not shrink under deflate or zstd, and deflate
 * spends most of its time failing on them: skip the attempt, as btrfs's
 * compression heuristic does.  The test is Pearson's chi-square of the
 * byte histogram against uniform: for random bytes it has mean 255 and
 * standard deviation 22.6 whatever the length, while text, code and file
 * system metadata score far higher.  Below mean + 6 s.d. the cluster is
 * stored uncompressed without trying.  Random bytes repeated within the
 * compressor's window would compress yet pass the test; they are stored
 * uncompressed, which costs space but never correctness.
 */
#define UNIFORM_CHI2 391.0

/* Add (n) bytes at (p) to the four interleaved histograms (h). */
static void histo(uint32_t h[4][256], const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		h[0][p[i]]++;
		h[1][p[i + 1]]++;
		h[2][p[i + 2]]++;
		h[3][p[i + 3]]++;
	}
	for (; i < n; i++)
		h[0][p[i]]++;
}

/*
 * Clusters of 16 KiB and more are sampled: every fourth 64-byte block,
 * spread over the whole cluster, so a zero run or a text region anywhere
 * still shows; at least 16 samples per value keep the test's null
 * distribution.  Smaller clusters are counted whole.
 */
#define SAMPLE_MIN (16u << 10)
#define SAMPLE_BLOCK 64u

static bool looks_uniform(const uint8_t *p, size_t n)
{
	uint32_t h[4][256];
	double expect, chi = 0;
	size_t m = 0;

	memset(h, 0, sizeof h);
	if (n >= SAMPLE_MIN) {
		for (size_t i = 0; i + SAMPLE_BLOCK <= n; i += 4 * SAMPLE_BLOCK) {
			histo(h, p + i, SAMPLE_BLOCK);
			m += SAMPLE_BLOCK;
		}
	} else {
		histo(h, p, n);
		m = n;
	}
	expect = (double)m / 256;
	for (int b = 0; b < 256; b++) {
		double d = (double)(h[0][b] + h[1][b] + h[2][b] + h[3][b]) -
			   expect;
		chi += d * d;
	}
	return chi / expect < UNIFORM_CHI2;
}

struct zctx {
	enum qcow2w_comp comp;
	int level;
	bool zinit, iinit;
	z_stream z;              /* zlib deflate: levels other than 6 */
	z_stream iz;             /* zlib inflate: checks ukit's deflate */
	struct deflate *df;      /* ukit's deflate: level 6 */
	uint8_t *check;          /* one cluster, inflated back */
	size_t check_len;
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
		if (c->level == ZLIB_DEFAULT_LEVEL) {
			if (inflateInit2(&c->iz, -12) != Z_OK)
				return -1;
			c->iinit = true;
			if ((c->df = ukit_deflate_new()) == NULL)
				return -1;
		}
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
	if (c->iinit)
		inflateEnd(&c->iz);
	ukit_deflate_free(c->df);
	free(c->check);
	ZSTD_freeCCtx(c->zs);
	c->zinit = c->iinit = false;
	c->df = NULL;
	c->check = NULL;
	c->zs = NULL;
}

/*
 * Does (z, zlen) inflate, with qemu's 4 KiB window, to exactly (in, len)?
 * ukit's deflate is checked on every cluster it compresses.
 */
static bool inflates_to(struct zctx *c, const uint8_t *z, size_t zlen,
			const uint8_t *in, size_t len)
{
	if (c->check_len < len) {
		free(c->check);
		c->check_len = 0;
		if ((c->check = malloc(len)) == NULL)
			return false;
		c->check_len = len;
	}
	if (inflateReset(&c->iz) != Z_OK)
		return false;
	c->iz.next_in = (Bytef *)(uintptr_t)z;
	c->iz.avail_in = (uInt)zlen;
	c->iz.next_out = c->check;
	c->iz.avail_out = (uInt)len;
	return inflate(&c->iz, Z_FINISH) == Z_STREAM_END &&
	       c->iz.avail_out == 0 && c->iz.avail_in == 0 &&
	       memcmp(c->check, in, len) == 0;
}

static size_t zctx_run(struct zctx *c, const void *in, size_t len, void *out,
		       size_t cap)
{
	if (c->comp == QCOW2W_ZLIB && c->df != NULL) {
		size_t n = ukit_deflate_compress(c->df, in, len, out, cap);

		if (n > 0 && inflates_to(c, out, n, in, len))
			return n;
		/* it does not fit, or (a bug) does not read back: zlib's
		 * own deflate decides */
	}
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

size_t ukit_convert_compress(enum qcow2w_comp comp, int level, const void *in,
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
	uint64_t size;           /* ukit_image_size() */
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

/*
 * A slot is one unit of work: a few guest clusters (qcow2 output) or a
 * byte range (raw output).  The calling thread fills slots in guest
 * order with what to read; workers read (each through its own image
 * handle), detect zeros and compress or, for raw output, write; the
 * calling thread takes slots back in ring order.
 */
enum { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };
enum { CL_ZERO, CL_RAW, CL_COMP };

struct slot {
	int state;
	unsigned n;              /* clusters (qcow2) */
	uint64_t *idx;           /* guest cluster indices */
	uint64_t off, len;       /* byte range (raw) */
	uint8_t *in;             /* n clusters, or the range */
	uint8_t *out;            /* n compressed clusters, cs - 1 each */
	uint32_t *len_c;         /* compressed lengths */
	uint8_t *kind;
	int rc;                  /* 0, or -1 with err */
	struct fmt_err err;
};

struct pool;

struct wctx {
	struct image *img;       /* this worker's own handle */
	struct zctx z;
	bool zok;
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
	uint64_t cs;             /* cluster size, or raw chunk size */
	uint64_t size;           /* image size */
	bool raw;                /* raw output mode */
	int ofd;                 /* raw output */
	const struct image *img; /* the input: workers read through dups */
	const char *ipath;
	enum ukit_image_format fmt;
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

		if (all_zero(in, p->cs)) {
			s->kind[i] = CL_ZERO;
			continue;
		}
		n = p->comp != QCOW2W_NONE && !looks_uniform(in, p->cs)
			? zctx_run(&w->z, in, p->cs, out, p->cs - 1) : 0;
		s->kind[i] = n > 0 ? CL_COMP : CL_RAW;
		s->len_c[i] = (uint32_t)n;
	}
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off,
		      struct fmt_err *e)
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

			while (i < n && all_zero(buf + i, n - i < ZERO_BLOCK
							  ? n - i : ZERO_BLOCK))
				i += ZERO_BLOCK;
			if (i >= n)
				break;
			j = i;
			while (j < n && !all_zero(buf + j, n - j < ZERO_BLOCK
							   ? n - j : ZERO_BLOCK))
				j += ZERO_BLOCK;
			if (j > n)
				j = n;
			if (pwrite_all(p->ofd, buf + i, j - i, off + i,
				       &s->err) < 0) {
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
	if (zctx_init(&w->z, p->comp, p->level) < 0) {
		zctx_fini(&w->z);
		ukit_image_close(w->img);
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot set up the compressor");
	}
	return 0;
}

static void wctx_fini(struct wctx *w)
{
	zctx_fini(&w->z);
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
		s->in = iobuf(p->raw ? PIECE : per * p->cs);
		s->out = p->comp != QCOW2W_NONE ? malloc(per * (p->cs - 1))
						: malloc(1);
		s->len_c = calloc(per, sizeof *s->len_c);
		s->kind = calloc(per, 1);
		if (!s->idx || !s->in || !s->out || !s->len_c || !s->kind)
			return -1;
	}
	return 0;
}

/*
 * Run the pipeline: (fill) puts the next work into a slot (returns 1,
 * or 0 at the end, or -1 with (e)), (drain) takes a done slot back in
 * order (0 or -1 with (e)), (flush), if not NULL, runs before drained
 * slots are reused.  Returns 0, or -1 with (e) and *input_fault
 * telling whose file is at fault.
 */
static int pool_run(struct pool *p, unsigned threads,
		    int (*fill)(void *ctx, struct slot *s, struct fmt_err *e),
		    int (*drain)(void *ctx, struct slot *s, struct fmt_err *e),
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

static void pool_setup(struct pool *p, struct image *img,
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

static unsigned nthreads(const struct convert_opts *o)
{
	unsigned t = o->threads;

	return t < 1 ? 1 : t > CONVERT_MAX_THREADS ? CONVERT_MAX_THREADS : t;
}

/*
 * Start writeback of what has been written every so often, so that the
 * fsync before the output is renamed into place finds little left to do
 * and the disk works while we read.  Starting writeback costs CPU time
 * (the file system allocates blocks and builds the I/O).  When the CPUs
 * compress, a helper thread does it every WRITEBACK_STEP bytes while the
 * compressing goes on.  When they only copy, the copying thread does it
 * itself, every WRITEBACK_STEP_INLINE bytes: a third thread would take
 * CPU from the copy, and smaller steps keep the dirty pages few (on this
 * 2-core VM, 1 GiB raw->qcow2 took 0.36-0.40 s with the helper, 0.33
 * inline every 4 MiB).  A hint: errors show up at that fsync.
 */
struct wb {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	int fd;
	bool running, quit;
	uint64_t step;
	uint64_t asked, done;    /* hints given, hints acted on */
	uint64_t mark;           /* bytes written at the last hint */
	bool off;                /* no hints: nothing will be flushed */
};

static void *wb_main(void *arg)
{
	struct wb *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->quit && w->asked == w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		w->done = w->asked;
		pthread_mutex_unlock(&w->mu);
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* (helper): hints from a helper thread, else inline. */
static void wb_start(struct wb *w, int fd, bool helper)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->step = helper ? WRITEBACK_STEP : WRITEBACK_STEP_INLINE;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->running = helper &&
		     pthread_create(&w->tid, NULL, wb_main, w) == 0;
}

/*
 * Is a hint due, now that (written) bytes are?  Called by one thread at
 * a time (it moves the mark); wb_hint() may then be called by any.
 */
static bool wb_due(struct wb *w, uint64_t written)
{
	if (written - w->mark < w->step)
		return false;
	w->mark = written;
	return true;
}

static void wb_hint(struct wb *w)
{
	if (!w->running) {
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->asked++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void start_writeback(struct wb *w, uint64_t written)
{
	if (!w->off && wb_due(w, written))
		wb_hint(w);
}

static void wb_stop(struct wb *w)
{
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->quit = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->tid, NULL);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* ---- qcow2 output ----------------------------------------------------- */

struct qjob {
	int fd;
	uint64_t prealloc;       /* output bytes given space (copying) */
	bool no_prealloc;        /* the file system said no */
	struct wb wb;
	struct pool *p;
	struct walk w;
	struct qcow2w *qw;
	const struct convert_opts *o;
};

static int qfill(void *ctx, struct slot *s, struct fmt_err *e)
{
	struct qjob *j = ctx;
	unsigned n = 0;

	while (n < j->p->per_slot) {
		uint64_t idx = 0;
		int r = walk_next(&j->w, &idx, e);

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
	start_writeback(&j->wb, ukit_qcow2w_host_size(j->qw));
	return 0;
}

/*
 * Uncompressed output from a raw (or ELF, bin) input: nothing to do but
 * copy.  The copy into the output's page cache dominates and the kernel
 * runs it one writer at a time, but a second thread can read the next
 * run from the input meanwhile, so COPY_THREADS threads (at most) take
 * turns: each takes the next run of consecutive data clusters (up to
 * COPY_RUN bytes), reads it with one call and finds its zero clusters,
 * then, in run order, gets host clusters for the non-zero ones, and
 * writes each stretch of them with one call (their host clusters are
 * consecutive) while the other thread reads.  Host clusters are handed
 * out in guest order whatever the number of threads, so the output is
 * the same.  Zero clusters are not written (fresh file space reads as
 * zeros).  Clusters larger than a run go piece by piece, in turn.
 */
#define COPY_RUN (1u << 20)
#define COPY_THREADS 2

struct copier {
	struct qjob *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t issued, turn;   /* runs handed out; the run whose turn it is */
	uint64_t next;           /* the data cluster after the last run */
	bool have_next, end, stop;
	int rc;                  /* 0, or -1 with err */
	bool in_fault;
	struct fmt_err err;
};

/* With c->mu held: record the first error and stop everybody. */
static void copier_fail(struct copier *c, const struct fmt_err *e,
			bool in_fault)
{
	if (c->rc == 0) {
		c->rc = -1;
		c->err = *e;
		c->in_fault = in_fault;
	}
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
}

/*
 * With c->mu held: the next run of consecutive data clusters, at most
 * (per): 1 with (*first, *n, *ticket), 0 at the end (or when stopped),
 * -1 with (e).
 */
static int copier_take(struct copier *c, unsigned per, uint64_t *first,
		       unsigned *n, uint64_t *ticket, struct fmt_err *e)
{
	int r;

	if (c->stop || c->end)
		return 0;
	if (!c->have_next) {
		if ((r = walk_next(&c->j->w, &c->next, e)) <= 0) {
			c->end = true;
			return r;
		}
	}
	c->have_next = false;
	*first = c->next;
	*n = 1;
	while (*n < per) {
		if ((r = walk_next(&c->j->w, &c->next, e)) < 0)
			return -1;
		if (r == 0) {
			c->end = true;
			break;
		}
		if (c->next != *first + *n) {
			c->have_next = true;
			break;
		}
		(*n)++;
	}
	*ticket = c->issued++;
	return 1;
}

/*
 * Copying: give the output file its space ahead of the writes,
 * PREALLOC_STEP bytes at a time, and trim what is left over at the end.
 * A write into space the file system has already allocated skips its
 * per-block delayed-allocation bookkeeping: on this 2-core VM, 1 GiB
 * raw->qcow2 took the same wall time (0.31 s against 0.32, bound by the
 * disk's writeback) and 0.39 s of CPU time instead of 0.55.  In turn
 * (the host size moves).  Where fallocate() is not supported, or fails,
 * the writes go on without.
 */
#define PREALLOC_STEP (64u << 20)

static void copy_prealloc(struct qjob *j)
{
	uint64_t need = ukit_qcow2w_host_size(j->qw);

	while (!j->no_prealloc && need > j->prealloc) {
		if (j->prealloc > INT64_MAX - PREALLOC_STEP ||
		    fallocate(j->fd, 0, (off_t)j->prealloc,
			      PREALLOC_STEP) < 0) {
			j->no_prealloc = true;
			break;
		}
		j->prealloc += PREALLOC_STEP;
	}
}

/* A cluster larger than a run, piece by piece (in turn). */
static int copy_big(struct qjob *j, struct image *img, uint8_t *buf,
		    uint64_t idx, bool *in_fault, struct fmt_err *e)
{
	uint64_t cs = j->p->cs, off = idx * cs, end = off + cs, host = 0;
	bool started = false;

	if (end > j->p->size)
		end = j->p->size;
	for (uint64_t pos = off; pos < end;) {
		size_t n = end - pos < COPY_RUN ? (size_t)(end - pos) : COPY_RUN;

		if (ukit_image_read(img, buf, n, pos, e) < 0) {
			*in_fault = true;
			return -1;
		}
		if (started || !all_zero(buf, n)) {
			if (!started && ukit_qcow2w_alloc(j->qw, idx, &host, e) < 0)
				return -1;
			if (!started)
				copy_prealloc(j);
			started = true;
			if (pwrite_all(j->fd, buf, n, host + (pos - off), e) < 0)
				return -1;
		}
		pos += n;
	}
	return 0;
}

/*
 * Write the non-zero stretches of a run of (n) clusters from (first),
 * held in (buf), to their host clusters (host[i], 0 for a zero cluster).
 * 0 or -1 with (e).
 */
static int copy_write(struct qjob *j, const uint8_t *buf, uint64_t first,
		      unsigned n, const uint64_t *host, struct fmt_err *e)
{
	uint64_t cs = j->p->cs, size = j->p->size;

	for (unsigned i = 0; i < n;) {
		unsigned k = i + 1;
		uint64_t len;

		if (host[i] == 0) {
			i++;
			continue;
		}
		while (k < n && host[k] == host[k - 1] + cs)
			k++;
		len = (k - i) * cs;
		if ((first + i) * cs + len > size)
			len = size - (first + i) * cs;  /* the image's tail */
		if (pwrite_all(j->fd, buf + i * cs, len, host[i], e) < 0)
			return -1;
		i = k;
	}
	return 0;
}

struct copy_thread {
	struct copier *c;
	struct image *img;       /* this thread's own handle */
};

static void *copy_main(void *arg)
{
	struct copy_thread *t = arg;
	struct copier *c = t->c;
	struct qjob *j = c->j;
	uint64_t cs = j->p->cs, size = j->p->size;
	unsigned per = cs >= COPY_RUN ? 1 : (unsigned)(COPY_RUN / cs);
	uint8_t *buf = iobuf(COPY_RUN > cs ? COPY_RUN : cs);
	uint64_t *host = calloc(per, sizeof *host);
	struct fmt_err e = { 0 };
	bool in_fault = false;

	pthread_mutex_lock(&c->mu);
	if (buf == NULL || host == NULL) {
		ukit_fmt_errf(&e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	for (;;) {
		uint64_t first = 0, ticket = 0, len, end;
		unsigned n = 0;
		bool hint;
		int r = copier_take(c, per, &first, &n, &ticket, &e);

		if (r < 0) {
			in_fault = true;
			goto fail;
		}
		if (r == 0)
			break;
		pthread_mutex_unlock(&c->mu);
		if (cs <= COPY_RUN) {
			/* read and look for zeros while the other writes */
			len = n * cs;
			if (first * cs + len > size) {
				memset(buf + (size - first * cs), 0,
				       len - (size - first * cs));
				len = size - first * cs;
			}
			r = ukit_image_read(t->img, buf, len, first * cs, &e);
			for (unsigned i = 0; r == 0 && i < n; i++)
				host[i] = !all_zero(buf + i * cs, cs);
		}
		pthread_mutex_lock(&c->mu);
		if (r < 0) {
			in_fault = true;
			goto fail;
		}
		while (!c->stop && c->turn != ticket)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		end = (first + n) * cs;
		if (cs > COPY_RUN) {
			if (copy_big(j, t->img, buf, first, &in_fault, &e) < 0)
				goto fail;
			n = 0;   /* written */
		}
		for (unsigned i = 0; i < n; i++) {
			if (host[i] != 0 &&
			    ukit_qcow2w_alloc(j->qw, first + i, &host[i], &e) < 0)
				goto fail;
		}
		copy_prealloc(j);
		hint = !j->wb.off &&
		       wb_due(&j->wb, ukit_qcow2w_host_size(j->qw));
		if (j->o->progress != NULL)
			j->o->progress(j->o->ctx, end < size ? end : size);
		c->turn++;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		if (hint)
			wb_hint(&j->wb);
		r = copy_write(j, buf, first, n, host, &e);
		pthread_mutex_lock(&c->mu);
		if (r < 0)
			goto fail;
	}
	goto out;
fail:
	copier_fail(c, &e, in_fault);
out:
	pthread_mutex_unlock(&c->mu);
	free(buf);
	free(host);
	return NULL;
}

static int copy_inline(struct qjob *j, unsigned threads, bool *in_fault,
		       struct fmt_err *e)
{
	struct copier c;
	struct copy_thread t[COPY_THREADS];
	pthread_t tid[COPY_THREADS];
	unsigned nt = 0, started = 0;

	memset(&c, 0, sizeof c);
	c.j = j;
	if (threads > COPY_THREADS)
		threads = COPY_THREADS;
	/*
	 * Each thread reads through its own handle (the walker's is used
	 * under c.mu only); the calling thread is t[0], and fewer threads
	 * do when a handle cannot be opened.
	 */
	for (; nt < threads; nt++) {
		t[nt].c = &c;
		if (ukit_image_dup(j->p->img, &t[nt].img, e) < 0) {
			if (nt == 0) {
				*in_fault = true;
				return -1;
			}
			break;
		}
	}
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	for (unsigned i = 1; i < nt; i++, started++)
		if (pthread_create(&tid[i], NULL, copy_main, &t[i]) != 0)
			break;
	copy_main(&t[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < nt; i++)
		ukit_image_close(t[i].img);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	*in_fault = c.in_fault;
	if (c.rc < 0)
		*e = c.err;
	return c.rc;
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
	pool_setup(&p, img, ipath, o);
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
		wb_start(&j.wb, fd, false);
		j.wb.off = o->no_writeback;
		rc = copy_inline(&j, nthreads(o), &in_fault, e);
	} else {
		wb_start(&j.wb, fd, !o->no_writeback);
		j.wb.off = o->no_writeback;
		rc = pool_run(&p, nthreads(o), qfill, qdrain, qflush, &j,
			      &in_fault, e);
	}
	if (rc == 0)
		rc = ukit_qcow2w_finish(j.qw, e);
	if (rc == 0 && j.prealloc > ukit_qcow2w_host_size(j.qw) &&
	    ftruncate(fd, (off_t)ukit_qcow2w_host_size(j.qw)) < 0)
		rc = ukit_fmt_errno(e, FMT_NOOFF, "cannot trim the output");
	wb_stop(&j.wb);
	ukit_qcow2w_free(j.qw);
	if (rc == 0 && o->progress != NULL)
		o->progress(o->ctx, p.size);
	e->path = rc < 0 && in_fault ? ipath : opath;
	return rc;
}

/* ---- raw output ------------------------------------------------------- */

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
	start_writeback(&j->wb, s->off + s->len);
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
	pool_setup(&p, img, ipath, o);
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
	threads = nthreads(o);
	copy = ukit_image_qcow2(img) == NULL ||
	       !ukit_qcow2_maybe_compressed(ukit_image_qcow2(img));
	if (copy && threads > COPY_THREADS)
		threads = COPY_THREADS;
	wb_start(&j.wb, fd, !copy && !o->no_writeback);
	j.wb.off = o->no_writeback;
	rc = pool_run(&p, threads, rfill, rdrain, NULL, &j, &in_fault, e);
	wb_stop(&j.wb);
	if (rc == 0 && o->progress != NULL)
		o->progress(o->ctx, p.size);
	e->path = rc < 0 && in_fault ? ipath : opath;
	return rc;
}
