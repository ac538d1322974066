/*
 * verity_int.h: what the parts of the dm-verity code (verity.h) share.
 * Internal to libukit's trust layer.
 *
 *   verity.c        the streaming hash tree
 *   verity_par.c    the root computed by threads, slice by slice
 *   verity_json.c   the statement's verity object
 *   verity_img.c    the root of an image.h reader's content
 */
#ifndef UKIT_VERITY_INT_H
#define UKIT_VERITY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"
#include "verity.h"

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

/* SHA-256(salt || data) with a caller-owned context.  0, or -1 with (e). */
int ukit_verity_hash_salted(EVP_MD_CTX *ctx, const EVP_MD *md,
			    const uint8_t *salt, size_t salt_len,
			    const void *data, size_t len,
			    uint8_t out[VERITY_DIGEST], struct fmt_err *e);
/*
 * Feed (n) leaf digests at (digests) to (v), with optional zero flags
 * (zero[i]: block i is all zeros, its digest is not read): runs of zero
 * blocks are folded.  0, or -1 with (e).
 */
int ukit_verity_feed_leaves(struct verity *v, const uint8_t *digests,
			    const uint8_t *zero, size_t n, struct fmt_err *e);

#endif
