/*
 * verity_par.c: a dm-verity root computed by threads (see verity.h,
 * verity_int.h): workers read and hash slices of the data in any order,
 * the calling thread feeds their leaf digests to the tree in order.
 * Memory: one slice buffer per slot, two slots per thread.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "verity_int.h"

#define SLICE          (4u << 20)        /* bytes per worker per batch */
#define THREADS_MAX    64

_Static_assert(SLICE % VERITY_BLOCK == 0, "slices hold whole blocks");

struct worker {
	const struct verity *v;
	verity_read_fn  read;
	verity_map_fn   map;
	void           *ctx;
	const uint8_t  *base;                /* whole data mapped, or NULL */
	uint64_t        off, len;            /* slice of the data */
	uint8_t        *buf;                 /* SLICE bytes */
	uint8_t        *digests;             /* SLICE / VERITY_BLOCK digests */
	uint8_t        *zero;                /* one flag per block */
	uint8_t        *known;               /* block inside a zero extent */
	EVP_MD_CTX     *mdctx;
	int             state;               /* SLOT_* (parallel pool) */
	int             rc;
	struct fmt_err  err;
};

/* Mark [a, b) (slice-relative) as zeros: whole blocks by flag only. */
static void slice_zero(struct worker *w, uint64_t a, uint64_t b)
{
	uint64_t fa = (a + VERITY_BLOCK - 1) / VERITY_BLOCK;   /* first whole */
	uint64_t fb = b / VERITY_BLOCK;                        /* past last */

	if (fb == w->len / VERITY_BLOCK && b == w->len)
		fb = (w->len + VERITY_BLOCK - 1) / VERITY_BLOCK; /* padded tail */
	if (w->base != NULL) {          /* the mapping reads zeros there */
		if (fa < fb)
			memset(w->known + fa, 1, (size_t)(fb - fa));
		return;
	}
	if (fa >= fb) {
		memset(w->buf + a, 0, (size_t)(b - a));
		return;
	}
	memset(w->buf + a, 0, (size_t)(fa * VERITY_BLOCK - a));
	memset(w->known + fa, 1, (size_t)(fb - fa));
	if (b > fb * VERITY_BLOCK)
		memset(w->buf + fb * VERITY_BLOCK, 0,
		       (size_t)(b - fb * VERITY_BLOCK));
}

static int slice_read(struct worker *w)
{
	uint64_t pos = 0;

	while (pos < w->len) {
		uint64_t ext = w->len - pos;
		int z = 0;

		if (w->map != NULL) {
			z = w->map(w->ctx, w->off + pos, &ext, &w->err);
			if (z < 0)
				return -1;
			if (ext == 0 || ext > w->len - pos)
				ext = w->len - pos;
		}
		if (z)
			slice_zero(w, pos, pos + ext);
		else if (w->base == NULL &&
			 w->read(w->ctx, w->buf + pos, (size_t)ext,
				 w->off + pos, &w->err) < 0)
			return -1;
		pos += ext;
	}
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const struct verity *v = w->v;
	size_t nblk = (size_t)((w->len + VERITY_BLOCK - 1) / VERITY_BLOCK);

	w->rc = -1;
	memset(w->known, 0, nblk);
	if (slice_read(w) < 0)
		return NULL;
	/* The last block of the image is zero-padded. */
	if (w->base != NULL && w->len % VERITY_BLOCK != 0 &&
	    !w->known[nblk - 1]) {
		size_t tail = (size_t)(w->len % VERITY_BLOCK);
		memcpy(w->buf + (nblk - 1) * VERITY_BLOCK,
		       w->base + w->off + w->len - tail, tail);
	}
	if (!w->known[nblk - 1])
		memset(w->buf + w->len, 0,
		       nblk * VERITY_BLOCK - (size_t)w->len);
	for (size_t i = 0; i < nblk; i++) {
		const uint8_t *b = w->buf + i * VERITY_BLOCK;
		if (w->base != NULL &&
		    (i + 1 < nblk || w->len % VERITY_BLOCK == 0))
			b = w->base + w->off + i * VERITY_BLOCK;
		w->zero[i] = (uint8_t)(w->known[i] ||
				       ukit_verity_is_zero(b, VERITY_BLOCK));
		if (!w->zero[i] &&
		    ukit_verity_hash_salted(w->mdctx, v->md, v->salt,
					    v->salt_len, b, VERITY_BLOCK,
					    w->digests + i * VERITY_DIGEST,
					    &w->err) < 0)
			return NULL;
	}
	/*
	 * The slice is hashed: drop its pages from this process's mapping,
	 * so that the resident set stays a few slices, not the whole image
	 * (the page cache keeps them).  Slices start on a block, and so on
	 * a page, of a mapping that starts on a page.
	 */
	if (w->base != NULL)
		(void)madvise((void *)(uintptr_t)(w->base + w->off),
			      (size_t)w->len, MADV_DONTNEED);
	w->rc = 0;
	return NULL;
}

/*
 * Slices are claimed in order by the workers and handed back in order to
 * this thread, which feeds the tree; a ring of 2 slots per worker lets a
 * worker run ahead instead of waiting for the slowest (the CPUs may be
 * shared).
 */
enum { SLOT_EMPTY, SLOT_BUSY, SLOT_READY };

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	struct worker  *slot;
	unsigned        nslot;
	uint64_t        next, nslices, size;
	bool            stop;
};

struct pool_arg { struct pool *p; };

static void *pool_run(void *arg)
{
	struct pool *p = ((struct pool_arg *)arg)->p;

	pthread_mutex_lock(&p->lock);
	while (!p->stop && p->next < p->nslices) {
		uint64_t i = p->next;
		struct worker *w = &p->slot[i % p->nslot];

		if (w->state != SLOT_EMPTY) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		p->next++;
		w->state = SLOT_BUSY;
		w->off = i * SLICE;
		w->len = p->size - w->off < SLICE ? p->size - w->off : SLICE;
		pthread_mutex_unlock(&p->lock);
		worker_run(w);
		pthread_mutex_lock(&p->lock);
		w->state = SLOT_READY;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int root_parallel(uint64_t size, const uint8_t *salt, size_t salt_len,
			 const uint8_t *base, verity_read_fn read,
			 verity_map_fn map, void *ctx, unsigned threads,
			 uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	struct verity *v = NULL;
	struct pool p = { .size = size };
	struct pool_arg pa = { &p };
	pthread_t *tid = NULL;
	unsigned started = 0;
	int rc = -1;

	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	if (ukit_verity_init(size, salt, salt_len, -1, &v, e) < 0)
		return -1;
	p.nslices = (size + SLICE - 1) / SLICE;
	p.nslot = 2 * threads;
	p.slot = calloc(p.nslot, sizeof *p.slot);
	tid = calloc(threads, sizeof *tid);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	if (p.slot == NULL || tid == NULL) {
		ukit_fmt_errno(e, FMT_NOOFF, "verity");
		goto out;
	}
	for (unsigned t = 0; t < p.nslot; t++) {
		struct worker *w = &p.slot[t];
		w->v = v;
		w->base = base;
		w->read = read;
		w->map = map;
		w->ctx = ctx;
		w->err.path = e ? e->path : NULL;
		w->buf = malloc(SLICE);
		w->digests = malloc(SLICE / VERITY_BLOCK * VERITY_DIGEST);
		w->zero = malloc(SLICE / VERITY_BLOCK);
		w->known = malloc(SLICE / VERITY_BLOCK);
		w->mdctx = EVP_MD_CTX_new();
		if (!w->buf || !w->digests || !w->zero || !w->known ||
		    !w->mdctx) {
			ukit_fmt_errf(e, FMT_NOOFF, "verity: out of memory");
			goto out;
		}
	}
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, pool_run, &pa) != 0)
			break;
	if (started == 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "verity: cannot start a thread");
		goto out;
	}
	for (uint64_t i = 0; i < p.nslices; i++) {
		struct worker *w = &p.slot[i % p.nslot];
		int r;

		pthread_mutex_lock(&p.lock);
		while (w->state != SLOT_READY)
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		if (w->rc < 0) {
			if (e != NULL)
				*e = w->err;
			goto out;
		}
		r = ukit_verity_feed_leaves(v, w->digests, w->zero,
				(size_t)((w->len + VERITY_BLOCK - 1) /
					 VERITY_BLOCK), e);
		pthread_mutex_lock(&p.lock);
		w->state = SLOT_EMPTY;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		if (r < 0)
			goto out;
	}
	rc = ukit_verity_final(v, root, e);
out:
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	if (p.slot != NULL)
		for (unsigned t = 0; t < p.nslot; t++) {
			free(p.slot[t].buf);
			free(p.slot[t].digests);
			free(p.slot[t].zero);
			free(p.slot[t].known);
			EVP_MD_CTX_free(p.slot[t].mdctx);
		}
	free(p.slot);
	free(tid);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	ukit_verity_free(v);
	return rc;
}

int ukit_verity_root_parallel(uint64_t size, const uint8_t *salt, size_t salt_len,
			 verity_read_fn read, verity_map_fn map, void *ctx,
			 unsigned threads, uint8_t root[VERITY_DIGEST],
			 struct fmt_err *e)
{
	return root_parallel(size, salt, salt_len, NULL, read, map, ctx,
			     threads, root, e);
}

int ukit_verity_root_parallel_mem(const uint8_t *base, uint64_t size,
			     const uint8_t *salt, size_t salt_len,
			     verity_map_fn map, void *ctx, unsigned threads,
			     uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	return root_parallel(size, salt, salt_len, base, NULL, map, ctx,
			     threads, root, e);
}
