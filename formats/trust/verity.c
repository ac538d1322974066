/*
 * verity.c: dm-verity (v1, SHA-256, 4 KiB blocks) hash trees, streamed.
 *
 * Trusts its caller for the data size; the data itself is only hashed.
 * Memory: one 4 KiB block per level plus one partial data block, whatever
 * the image size (the parallel root, verity_par.c, adds one slice buffer
 * per thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bytes.h"
#include "verity_int.h"

#define PER_BLOCK_BITS 7                 /* log2(VERITY_PER_BLOCK) */

_Static_assert(VERITY_BLOCK / VERITY_DIGEST == VERITY_PER_BLOCK,
	       "128 SHA-256 digests per 4 KiB hash block");

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
int ukit_verity_hash_salted(EVP_MD_CTX *ctx, const EVP_MD *md,
			    const uint8_t *salt, size_t salt_len,
			    const void *data, size_t len,
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
	return ukit_verity_hash_salted(v->ctx, v->md, v->salt, v->salt_len,
				       data, VERITY_BLOCK, out, e);
}

int ukit_verity_hash_block(const struct verity *v, const void *block,
		      uint8_t out[VERITY_DIGEST], struct fmt_err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r;

	if (ctx == NULL)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "EVP_MD_CTX_new");
	r = ukit_verity_hash_salted(ctx, v->md, v->salt, v->salt_len, block,
				    VERITY_BLOCK, out, e);
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
int ukit_verity_feed_leaves(struct verity *v, const uint8_t *digests,
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
	return ukit_verity_feed_leaves(v, digests, NULL, n, e);
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
