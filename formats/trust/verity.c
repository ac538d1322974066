/*
 * verity.c: dm-verity (v1, SHA-256, 4 KiB blocks) hash trees, streamed.
 *
 * Trusts its caller for the data size; the data itself is only hashed.
 * Memory: one 4 KiB block per level plus one partial data block, whatever
 * the image size (the parallel root adds one slice buffer per thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bytes.h"
#include "image.h"
#include "verity.h"

#define PER_BLOCK_BITS 7                 /* log2(VERITY_PER_BLOCK) */
#define SLICE          (4u << 20)        /* bytes per worker per batch */
#define THREADS_MAX    64

_Static_assert(VERITY_BLOCK / VERITY_DIGEST == VERITY_PER_BLOCK,
	       "128 SHA-256 digests per 4 KiB hash block");
_Static_assert(SLICE % VERITY_BLOCK == 0, "slices hold whole blocks");

struct verity {
	EVP_MD        *md;
	EVP_MD_CTX    *ctx;
	uint8_t        salt[VERITY_SALT_MAX];
	size_t         salt_len;
	uint64_t       size;                 /* data bytes */
	uint64_t       fed;                  /* data bytes seen so far */
	uint64_t       data_blocks;
	int            levels;
	uint64_t       level_size[VERITY_MAX_LEVELS];   /* hash blocks */
	uint64_t       level_start[VERITY_MAX_LEVELS];  /* block index in file */
	uint64_t       level_done[VERITY_MAX_LEVELS];   /* blocks completed */
	size_t         level_fill[VERITY_MAX_LEVELS];   /* digests in buf */
	uint8_t       *level_buf;            /* levels * VERITY_BLOCK */
	uint8_t        zd[VERITY_MAX_LEVELS + 1][VERITY_DIGEST];
	uint8_t       *zblock;               /* one level's zero pattern block */
	int            zblock_level;         /* level zblock holds, or -1 */
	uint8_t        partial[VERITY_BLOCK];
	size_t         partial_len;
	int            hash_fd;
	uint8_t        root[VERITY_DIGEST];
	bool           have_root;
};

int ukit_verity_is_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t w[8];

	/* 64 bytes at a time, then compare the rest with the zero prefix. */
	while (len >= sizeof w) {
		memcpy(w, b, sizeof w);
		if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0)
			return 0;
		b += sizeof w;
		len -= sizeof w;
	}
	while (len > 0) {
		if (*b++ != 0)
			return 0;
		len--;
	}
	return 1;
}

static int levels_for(uint64_t data_blocks, uint64_t *sizes, int *levels)
{
	int n = 0;

	while (PER_BLOCK_BITS * n < 64 &&
	       ((data_blocks - 1) >> (PER_BLOCK_BITS * n)) != 0)
		n++;
	if (n > VERITY_MAX_LEVELS)
		return -1;
	for (int i = 0; i < n; i++) {
		unsigned s = PER_BLOCK_BITS * (unsigned)(i + 1);
		if (s > 63)
			return -1;
		sizes[i] = (data_blocks >> s) +
			   ((data_blocks & ((1ULL << s) - 1)) != 0);
	}
	*levels = n;
	return 0;
}

uint64_t ukit_verity_tree_size(uint64_t data_size)
{
	uint64_t sizes[VERITY_MAX_LEVELS], blocks, total = 0;
	int levels;

	if (data_size == 0)
		return 0;
	blocks = data_size / VERITY_BLOCK + (data_size % VERITY_BLOCK != 0);
	if (levels_for(blocks, sizes, &levels) < 0)
		return 0;
	for (int i = 0; i < levels; i++)
		total += sizes[i];
	return total * VERITY_BLOCK;
}

/* SHA-256(salt || data) with a caller-owned context. */
static int hash_salted(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *salt,
		       size_t salt_len, const void *data, size_t len,
		       uint8_t out[VERITY_DIGEST], struct fmt_err *e)
{
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
	    (salt_len > 0 && EVP_DigestUpdate(ctx, salt, salt_len) != 1) ||
	    EVP_DigestUpdate(ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	return 0;
}

static int vhash(struct verity *v, const void *data, uint8_t out[VERITY_DIGEST],
		 struct fmt_err *e)
{
	return hash_salted(v->ctx, v->md, v->salt, v->salt_len, data,
			   VERITY_BLOCK, out, e);
}

int ukit_verity_hash_block(const struct verity *v, const void *block,
		      uint8_t out[VERITY_DIGEST], struct fmt_err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r;

	if (ctx == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "EVP_MD_CTX_new");
	r = hash_salted(ctx, v->md, v->salt, v->salt_len, block, VERITY_BLOCK,
			out, e);
	EVP_MD_CTX_free(ctx);
	return r;
}

int ukit_verity_init(uint64_t data_size, const uint8_t *salt, size_t salt_len,
		int hash_fd, struct verity **out, struct fmt_err *e)
{
	struct verity *v;
	uint64_t pos = 0;
	uint8_t *blk;

	if (data_size == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "dm-verity needs at least one "
				"data block (image is empty)");
	if (salt_len > VERITY_SALT_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "salt of %zu bytes is longer "
				"than %d", salt_len, VERITY_SALT_MAX);
	v = calloc(1, sizeof *v);
	if (v == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "verity");
	v->size = data_size;
	v->data_blocks = data_size / VERITY_BLOCK +
			 (data_size % VERITY_BLOCK != 0);
	v->hash_fd = hash_fd;
	v->zblock_level = -1;
	if (salt_len > 0)
		memcpy(v->salt, salt, salt_len);
	v->salt_len = salt_len;
	if (levels_for(v->data_blocks, v->level_size, &v->levels) < 0) {
		free(v);
		return ukit_fmt_errf(e, FMT_NOOFF, "too many hash levels");
	}
	/* Top level first in the file, level 0 last. */
	for (int i = v->levels - 1; i >= 0; i--) {
		v->level_start[i] = pos;
		pos += v->level_size[i];
	}
	v->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	v->ctx = EVP_MD_CTX_new();
	v->level_buf = calloc((size_t)v->levels + 1, VERITY_BLOCK);
	v->zblock = malloc(VERITY_BLOCK);
	blk = calloc(1, VERITY_BLOCK);
	if (v->md == NULL || v->ctx == NULL || v->level_buf == NULL ||
	    v->zblock == NULL || blk == NULL) {
		free(blk);
		ukit_verity_free(v);
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "verity: out of memory");
	}
	/* Digest of a zero data block, then of a hash block full of them. */
	if (vhash(v, blk, v->zd[0], e) < 0)
		goto fail;
	for (int i = 0; i < v->levels; i++) {
		for (int j = 0; j < VERITY_PER_BLOCK; j++)
			memcpy(blk + j * VERITY_DIGEST, v->zd[i], VERITY_DIGEST);
		if (vhash(v, blk, v->zd[i + 1], e) < 0)
			goto fail;
	}
	free(blk);
	*out = v;
	return 0;
fail:
	free(blk);
	ukit_verity_free(v);
	return -1;
}

void ukit_verity_free(struct verity *v)
{
	if (v == NULL)
		return;
	EVP_MD_CTX_free(v->ctx);
	EVP_MD_free(v->md);
	free(v->level_buf);
	free(v->zblock);
	free(v);
}

static int write_block(struct verity *v, int level, uint64_t idx,
		       const uint8_t *blk, struct fmt_err *e)
{
	uint64_t off;

	if (v->hash_fd < 0)
		return 0;
	off = (v->level_start[level] + idx) * VERITY_BLOCK;
	if (pwrite(v->hash_fd, blk, VERITY_BLOCK, (off_t)off) != VERITY_BLOCK)
		return ukit_fmt_errno(e, off, "writing hash block");
	return 0;
}

static int push_digest(struct verity *v, int level, const uint8_t *d,
		       struct fmt_err *e);

/* The hash block being filled at (level) is complete (or final). */
static int close_block(struct verity *v, int level, struct fmt_err *e)
{
	uint8_t *blk = v->level_buf + (size_t)level * VERITY_BLOCK;
	uint8_t d[VERITY_DIGEST];

	if (v->level_done[level] >= v->level_size[level])
		return ukit_fmt_errf(e, FMT_NOOFF, "hash level %d overflows "
				"(%" PRIu64 " blocks)", level,
				v->level_size[level]);
	if (write_block(v, level, v->level_done[level], blk, e) < 0 ||
	    vhash(v, blk, d, e) < 0)
		return -1;
	v->level_done[level]++;
	memset(blk, 0, VERITY_BLOCK);
	v->level_fill[level] = 0;
	return push_digest(v, level + 1, d, e);
}

static int push_digest(struct verity *v, int level, const uint8_t *d,
		       struct fmt_err *e)
{
	uint8_t *blk;

	if (level == v->levels) {
		if (v->have_root)
			return ukit_fmt_errf(e, FMT_NOOFF, "more data than declared");
		memcpy(v->root, d, VERITY_DIGEST);
		v->have_root = true;
		return 0;
	}
	blk = v->level_buf + (size_t)level * VERITY_BLOCK;
	memcpy(blk + v->level_fill[level] * VERITY_DIGEST, d, VERITY_DIGEST);
	if (++v->level_fill[level] == VERITY_PER_BLOCK)
		return close_block(v, level, e);
	return 0;
}

/* (n) digests at (level) of all-zero subtrees. */
static int push_zero_run(struct verity *v, int level, uint64_t n,
			 struct fmt_err *e)
{
	uint64_t full;

	while (n > 0 && (level == v->levels || v->level_fill[level] != 0)) {
		if (push_digest(v, level, v->zd[level], e) < 0)
			return -1;
		n--;
	}
	if (n == 0)
		return 0;
	full = n / VERITY_PER_BLOCK;
	if (full > 0) {
		if (full > v->level_size[level] - v->level_done[level])
			return ukit_fmt_errf(e, FMT_NOOFF, "more data than declared");
		if (v->hash_fd >= 0) {
			if (v->zblock_level != level) {
				for (int j = 0; j < VERITY_PER_BLOCK; j++)
					memcpy(v->zblock + j * VERITY_DIGEST,
					       v->zd[level], VERITY_DIGEST);
				v->zblock_level = level;
			}
			for (uint64_t i = 0; i < full; i++)
				if (write_block(v, level, v->level_done[level] + i,
						v->zblock, e) < 0)
					return -1;
		}
		v->level_done[level] += full;
		if (push_zero_run(v, level + 1, full, e) < 0)
			return -1;
		n -= full * VERITY_PER_BLOCK;
	}
	while (n > 0) {
		if (push_digest(v, level, v->zd[level], e) < 0)
			return -1;
		n--;
	}
	return 0;
}

static int data_block(struct verity *v, const uint8_t *blk, struct fmt_err *e)
{
	uint8_t d[VERITY_DIGEST];

	if (ukit_verity_is_zero(blk, VERITY_BLOCK))
		return push_digest(v, 0, v->zd[0], e);
	if (vhash(v, blk, d, e) < 0)
		return -1;
	return push_digest(v, 0, d, e);
}

static int check_room(struct verity *v, uint64_t len, struct fmt_err *e)
{
	uint64_t end;

	if (ck_add(v->fed, len, &end) || end > v->size)
		return ukit_fmt_errf(e, v->fed, "more data than the declared %"
				PRIu64 " bytes", v->size);
	return 0;
}

int ukit_verity_update(struct verity *v, const void *buf, size_t len,
		  struct fmt_err *e)
{
	const uint8_t *p = buf;

	if (check_room(v, len, e) < 0)
		return -1;
	v->fed += len;
	if (v->partial_len > 0) {
		size_t n = VERITY_BLOCK - v->partial_len;
		if (n > len)
			n = len;
		memcpy(v->partial + v->partial_len, p, n);
		v->partial_len += n;
		p += n;
		len -= n;
		if (v->partial_len < VERITY_BLOCK)
			return 0;
		v->partial_len = 0;
		if (data_block(v, v->partial, e) < 0)
			return -1;
	}
	while (len >= VERITY_BLOCK) {
		if (data_block(v, p, e) < 0)
			return -1;
		p += VERITY_BLOCK;
		len -= VERITY_BLOCK;
	}
	memcpy(v->partial, p, len);
	v->partial_len = len;
	return 0;
}

int ukit_verity_zeros(struct verity *v, uint64_t len, struct fmt_err *e)
{
	if (check_room(v, len, e) < 0)
		return -1;
	v->fed += len;
	if (v->partial_len > 0) {
		uint64_t n = VERITY_BLOCK - v->partial_len;
		if (n > len)
			n = len;
		memset(v->partial + v->partial_len, 0, (size_t)n);
		v->partial_len += (size_t)n;
		len -= n;
		if (v->partial_len < VERITY_BLOCK)
			return 0;
		v->partial_len = 0;
		if (data_block(v, v->partial, e) < 0)
			return -1;
	}
	if (len >= VERITY_BLOCK &&
	    push_zero_run(v, 0, len / VERITY_BLOCK, e) < 0)
		return -1;
	len %= VERITY_BLOCK;
	memset(v->partial, 0, (size_t)len);
	v->partial_len = (size_t)len;
	return 0;
}

/* Leaves with optional zero flags: runs of zero blocks are folded. */
static int feed_leaves(struct verity *v, const uint8_t *digests,
		       const uint8_t *zero, size_t n, struct fmt_err *e)
{
	uint64_t len;

	if (v->partial_len != 0)
		return ukit_fmt_errf(e, v->fed, "leaves fed off a block boundary");
	if (ck_mul(n, VERITY_BLOCK, &len))
		return ukit_fmt_errf(e, v->fed, "too many leaves");
	if (len > v->size - v->fed &&
	    (len - (v->size - v->fed)) >= VERITY_BLOCK)
		return ukit_fmt_errf(e, v->fed, "more leaves than data blocks");
	for (size_t i = 0; i < n;) {
		if (zero != NULL && zero[i]) {
			size_t j = i;
			while (j < n && zero[j])
				j++;
			if (push_zero_run(v, 0, j - i, e) < 0)
				return -1;
			i = j;
			continue;
		}
		if (push_digest(v, 0, digests + i * VERITY_DIGEST, e) < 0)
			return -1;
		i++;
	}
	v->fed = len > v->size - v->fed ? v->size : v->fed + len;
	return 0;
}

int ukit_verity_leaves(struct verity *v, const uint8_t *digests, size_t n,
		  struct fmt_err *e)
{
	return feed_leaves(v, digests, NULL, n, e);
}

int ukit_verity_final(struct verity *v, uint8_t root[VERITY_DIGEST],
		 struct fmt_err *e)
{
	if (v->fed != v->size)
		return ukit_fmt_errf(e, v->fed, "data ends early (%" PRIu64
				" of %" PRIu64 " bytes)", v->fed, v->size);
	if (v->partial_len > 0) {
		memset(v->partial + v->partial_len, 0,
		       VERITY_BLOCK - v->partial_len);
		v->partial_len = 0;
		if (data_block(v, v->partial, e) < 0)
			return -1;
	}
	for (int i = 0; i < v->levels; i++)
		if (v->level_fill[i] > 0 && close_block(v, i, e) < 0)
			return -1;
	for (int i = 0; i < v->levels; i++)
		if (v->level_done[i] != v->level_size[i])
			return ukit_fmt_errf(e, FMT_NOOFF, "hash level %d has %"
					PRIu64 " of %" PRIu64 " blocks", i,
					v->level_done[i], v->level_size[i]);
	if (!v->have_root)
		return ukit_fmt_errf(e, FMT_NOOFF, "no root digest");
	memcpy(root, v->root, VERITY_DIGEST);
	return 0;
}

/* ---- parallel root ------------------------------------------------- */

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
		    hash_salted(w->mdctx, v->md, v->salt, v->salt_len, b,
				VERITY_BLOCK, w->digests + i * VERITY_DIGEST,
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
		r = feed_leaves(v, w->digests, w->zero,
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

/* ---- the statement's verity object ----------------------------------- */

static void tohex(const uint8_t *b, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[b[i] >> 4];
		out[2 * i + 1] = x[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int ukit_verity_unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];
			int d = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return -1;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

json_t *ukit_verity_json(const uint8_t root[VERITY_DIGEST], const uint8_t *salt,
		    size_t salt_len, struct fmt_err *e)
{
	char hroot[2 * VERITY_DIGEST + 1], hsalt[2 * VERITY_SALT_MAX + 1];
	json_t *o;

	if (salt_len > VERITY_SALT_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "salt too long");
		return NULL;
	}
	tohex(root, VERITY_DIGEST, hroot);
	o = json_pack("{s:i, s:s, s:i, s:i}", "version", 1, "hash", "sha256",
		      "data-block-size", VERITY_BLOCK,
		      "hash-block-size", VERITY_BLOCK);
	if (o != NULL && salt_len > 0) {
		tohex(salt, salt_len, hsalt);
		if (json_object_set_new(o, "salt", json_string(hsalt)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	if (o != NULL &&
	    json_object_set_new(o, "root-hash", json_string(hroot)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL)
		ukit_fmt_errf(e, FMT_NOOFF, "verity: out of memory");
	return o;
}

int ukit_verity_json_parse(const json_t *obj, uint8_t root[VERITY_DIGEST],
		      uint8_t *salt, size_t *salt_len, struct fmt_err *e)
{
	static const char *const keys[] = { "version", "hash",
		"data-block-size", "hash-block-size", "salt", "root-hash" };
	const char *key, *hs;
	json_t *val, *v;
	int n;

	if (!json_is_object(obj))
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity: not an "
				"object");
	json_object_foreach((json_t *)obj, key, val) {
		size_t i = 0;
		while (i < ARRAY_SIZE(keys) && strcmp(keys[i], key) != 0)
			i++;
		if (i == ARRAY_SIZE(keys))
			return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity: "
					"unknown key \"%.64s\"", key);
	}
	v = json_object_get(obj, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.version: "
				"want 1");
	v = json_object_get(obj, "hash");
	if (!json_is_string(v) || strcmp(json_string_value(v), "sha256") != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.hash: want "
				"\"sha256\"");
	v = json_object_get(obj, "data-block-size");
	if (!json_is_integer(v) || json_integer_value(v) != VERITY_BLOCK)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity."
				"data-block-size: want %d", VERITY_BLOCK);
	v = json_object_get(obj, "hash-block-size");
	if (!json_is_integer(v) || json_integer_value(v) != VERITY_BLOCK)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity."
				"hash-block-size: want %d", VERITY_BLOCK);
	v = json_object_get(obj, "root-hash");
	hs = json_is_string(v) ? json_string_value(v) : "";
	if (strlen(hs) != 2 * VERITY_DIGEST ||
	    ukit_verity_unhex(hs, root, VERITY_DIGEST) != VERITY_DIGEST)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.root-hash: "
				"want %d hex digits", 2 * VERITY_DIGEST);
	*salt_len = 0;
	v = json_object_get(obj, "salt");
	if (v != NULL) {
		hs = json_is_string(v) ? json_string_value(v) : "";
		n = hs[0] == '\0' ? -1 :
		    ukit_verity_unhex(hs, salt, VERITY_SALT_MAX);
		if (n <= 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "$.predicate.verity.salt:"
					" want 1..%d bytes of hex",
					VERITY_SALT_MAX);
		*salt_len = (size_t)n;
	}
	return 0;
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

/* ---- over an image.h reader ------------------------------------------ */

#define IMG_CHUNK (1u << 20)    /* bytes per ukit_image_read() */

int ukit_verity_image(struct image *img, const uint8_t *salt, size_t salt_len,
		 int hash_fd, uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	uint64_t size = ukit_image_size(img), off = 0;
	struct verity *v;
	uint8_t *buf;
	int rc = -1;

	if (ukit_verity_init(size, salt, salt_len, hash_fd, &v, e) < 0)
		return -1;
	buf = malloc(IMG_CHUNK);
	if (buf == NULL) {
		ukit_fmt_errno(e, FMT_NOOFF, "verity");
		goto out;
	}
	while (off < size) {
		struct image_extent ext;

		if (ukit_image_map(img, off, &ext, e) < 0)
			goto out;
		if (ext.len == 0 || ext.len > size - off)
			ext.len = size - off;
		if (ext.kind != EXT_DATA) {
			if (ukit_verity_zeros(v, ext.len, e) < 0)
				goto out;
			off += ext.len;
			continue;
		}
		for (uint64_t end = off + ext.len; off < end;) {
			size_t n = end - off < IMG_CHUNK ? (size_t)(end - off) :
				   IMG_CHUNK;
			if (ukit_image_read(img, buf, n, off, e) < 0 ||
			    ukit_verity_update(v, buf, n, e) < 0)
				goto out;
			off += n;
		}
	}
	rc = ukit_verity_final(v, root, e);
out:
	free(buf);
	ukit_verity_free(v);
	return rc;
}

struct img_ctx {
	struct image   *img;
	bool            serial;      /* reads must not overlap (qcow2) */
	pthread_mutex_t lock;
};

static int img_read_cb(void *ctx, void *buf, size_t len, uint64_t off,
		       struct fmt_err *e)
{
	struct img_ctx *c = ctx;
	int r;

	if (c->serial)
		pthread_mutex_lock(&c->lock);
	r = ukit_image_read(c->img, buf, len, off, e);
	if (c->serial)
		pthread_mutex_unlock(&c->lock);
	return r;
}

static int img_map_cb(void *ctx, uint64_t off, uint64_t *len,
		      struct fmt_err *e)
{
	struct img_ctx *c = ctx;
	struct image_extent ext;
	int r;

	if (c->serial)
		pthread_mutex_lock(&c->lock);
	r = ukit_image_map(c->img, off, &ext, e);
	if (c->serial)
		pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return -1;
	*len = ext.len;
	return ext.kind != EXT_DATA;
}

int ukit_verity_image_parallel(struct image *img, int fd, const uint8_t *salt,
			  size_t salt_len, unsigned threads,
			  uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	struct img_ctx c = { .img = img };
	uint64_t size = ukit_image_size(img);
	void *base = MAP_FAILED;
	int rc;

	/* raw, elf, bin: pread and lseek on one fd are safe to share */
	c.serial = ukit_image_format(img) == IMG_QCOW2;
	/* The file's bytes are the content: hash them in place, no copy. */
	if (fd >= 0 && !c.serial && size > 0 && size <= SIZE_MAX)
		base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	pthread_mutex_init(&c.lock, NULL);
	if (base != MAP_FAILED)
		rc = ukit_verity_root_parallel_mem(base, size, salt, salt_len,
					      img_map_cb, &c, threads, root, e);
	else
		rc = ukit_verity_root_parallel(size, salt, salt_len, img_read_cb,
					  img_map_cb, &c, threads, root, e);
	pthread_mutex_destroy(&c.lock);
	if (base != MAP_FAILED)
		munmap(base, (size_t)size);
	return rc;
}
