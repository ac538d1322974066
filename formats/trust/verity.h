/*
 * verity.h: dm-verity hash trees (format version 1), streamed.
 *
 * Format facts (the kernel's device-mapper/verity.rst and cryptsetup's
 * lib/verity/verity_hash.c): SHA-256, 4096-byte data and hash blocks.  Each
 * data block's digest is SHA-256(salt || block) (version 1 puts the salt
 * first).  Digests are packed 128 to a hash block, the last block of a level
 * zero-filled; the hash blocks of level i are hashed the same way into level
 * i+1 until a level fits in one block; the root is SHA-256(salt || that
 * block).  The number of levels is the smallest L with 128^L >= data blocks,
 * so a one-block image has no hash blocks and its root is the data block's
 * digest.  Without a superblock the hash device holds the top level first,
 * then each level below it, level 0 (the data digests) last.
 *
 * The image is zero-padded to a multiple of 4096 bytes.  Streaming keeps one
 * 4 KiB block per level; runs of zero data blocks (holes) are folded with
 * precomputed per-level digests, so cost follows the allocated data.
 */
#ifndef UKIT_VERITY_H
#define UKIT_VERITY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define VERITY_BLOCK       4096   /* bytes, data and hash blocks */
#define VERITY_DIGEST      32     /* bytes, SHA-256 */
#define VERITY_PER_BLOCK   128    /* digests per hash block */
#define VERITY_SALT_MAX    256    /* bytes, as veritysetup */
#define VERITY_MAX_LEVELS  63     /* as cryptsetup */

struct verity;

/*
 * Start a tree over (data_size) > 0 bytes of data (zero-padded to a block
 * multiple).  (salt, salt_len) may be (NULL, 0).  When (hash_fd) >= 0 the
 * hash blocks are written there (pwrite, veritysetup's --no-superblock
 * layout; the caller owns the fd).  Returns 0 and (*out), or -1 with (e).
 */
int ukit_verity_init(uint64_t data_size, const uint8_t *salt, size_t salt_len,
		int hash_fd, struct verity **out, struct fmt_err *e);

/* Feed the next (len) data bytes, in order.  0 or -1 with (e). */
int ukit_verity_update(struct verity *v, const void *buf, size_t len,
		  struct fmt_err *e);

/* Feed the next (len) bytes as zeros (a hole), cheaply.  0 or -1 with (e). */
int ukit_verity_zeros(struct verity *v, uint64_t len, struct fmt_err *e);

/*
 * Feed the digests of the next (n) whole data blocks, already computed with
 * ukit_verity_hash_block() (for parallel hashing).  Only at a block boundary.
 */
int ukit_verity_leaves(struct verity *v, const uint8_t *digests, size_t n,
		  struct fmt_err *e);

/*
 * After exactly data_size bytes: pad, close every level, write the root
 * digest to (root).  0 or -1 with (e) (short or excess input, write error).
 */
int ukit_verity_final(struct verity *v, uint8_t root[VERITY_DIGEST],
		 struct fmt_err *e);

/* NULL is fine. */
void ukit_verity_free(struct verity *v);

/* Size in bytes of the hash tree (the --hash-file) for (data_size). */
uint64_t ukit_verity_tree_size(uint64_t data_size);

/*
 * SHA-256(salt || block) of one 4096-byte block, with the tree's salt; safe
 * to call from several threads at once.  0 or -1 with (e).
 */
int ukit_verity_hash_block(const struct verity *v, const void *block,
		      uint8_t out[VERITY_DIGEST], struct fmt_err *e);

/* True if (len) bytes at (p) are all zero. */
int ukit_verity_is_zero(const void *p, size_t len);

/*
 * Parallel root of (size) bytes read through (read) (which must be safe to
 * call from several threads), with (threads) workers (0: all online CPUs).
 * (map), when not NULL, returns through (*len) the length of the extent at
 * (off) and 1 if it reads as zeros (0 if data), or -1 on error; zero extents
 * are not read.  Writes the root; 0 or -1 with (e).
 * ukit_verity_root_parallel_mem() hashes (size) bytes mapped at (base) in place.
 */
typedef int (*verity_read_fn)(void *ctx, void *buf, size_t len, uint64_t off,
			      struct fmt_err *e);
typedef int (*verity_map_fn)(void *ctx, uint64_t off, uint64_t *len,
			     struct fmt_err *e);
int ukit_verity_root_parallel_mem(const uint8_t *base, uint64_t size,
			     const uint8_t *salt, size_t salt_len,
			     verity_map_fn map, void *ctx, unsigned threads,
			     uint8_t root[VERITY_DIGEST], struct fmt_err *e);
int ukit_verity_root_parallel(uint64_t size, const uint8_t *salt, size_t salt_len,
			 verity_read_fn read, verity_map_fn map, void *ctx,
			 unsigned threads, uint8_t root[VERITY_DIGEST],
			 struct fmt_err *e);

struct image;

/*
 * The root (and with (hash_fd) >= 0 the tree) of an image's virtual content
 * (image.h: a raw file's bytes, a qcow2 disk's guest view), read once in
 * order; holes and zero extents are not read.  0 or -1 with (e).
 */
int ukit_verity_image(struct image *img, const uint8_t *salt, size_t salt_len,
		 int hash_fd, uint8_t root[VERITY_DIGEST], struct fmt_err *e);

/*
 * The same root with (threads) workers (0: every online CPU); qcow2 reads
 * are serialised, hashing is not.  For raw, ELF and bin images, (fd) >= 0
 * (the image's file) is mapped and hashed in place, without copies (a file
 * truncated meanwhile raises SIGBUS, as any reader of a mapping would).
 * 0 or -1 with (e).
 */
int ukit_verity_image_parallel(struct image *img, int fd, const uint8_t *salt,
			  size_t salt_len, unsigned threads,
			  uint8_t root[VERITY_DIGEST], struct fmt_err *e);

/*
 * The statement's "verity" object: {"version": 1, "hash": "sha256",
 * "data-block-size": 4096, "hash-block-size": 4096, "salt": HEX (only when
 * there is a salt), "root-hash": HEX}.  New reference, or NULL with (e).
 */
json_t *ukit_verity_json(const uint8_t root[VERITY_DIGEST], const uint8_t *salt,
		    size_t salt_len, struct fmt_err *e);

/*
 * Check a "verity" object strictly (exact keys, the one supported
 * parameter set, lowercase hex) and decode it: (salt) gets up to
 * VERITY_SALT_MAX bytes, (*salt_len) their number.  0 or -1 with (e)
 * naming the key.
 */
int ukit_verity_json_parse(const json_t *obj, uint8_t root[VERITY_DIGEST],
		      uint8_t *salt, size_t *salt_len, struct fmt_err *e);

/* Decode lowercase or uppercase hex (even length) into at most (max)
 * bytes.  Returns the byte count, or -1. */
int ukit_verity_unhex(const char *hex, uint8_t *out, size_t max);

#endif
