/*
 * deflate.h: a raw deflate (RFC 1951) encoder for qcow2 clusters.
 *
 * qemu inflates a compressed cluster as a raw deflate stream with a 4 KiB
 * window, so no match may reach further back than that.  Within that
 * window this encoder does what zlib's level 6 does (hash chains over
 * three-byte prefixes, lazy matching, dynamic Huffman blocks) with a
 * cheaper match finder: a quarter of the chain, whole-word compares, and
 * a table of positions that never needs clearing between clusters.  Its
 * output is a valid deflate stream for any inflater; that it compresses
 * about as well as zlib -6 (0.1% larger on a file system image, in 44% of
 * the time) is measured by bench/deflate.sh, not promised here.
 */
#ifndef UKIT_DEFLATE_H
#define UKIT_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#define DEFLATE_MAX_DIST 4095u   /* farthest match: under qemu's window */

struct deflate;

/* A compressor (about 200 KiB); NULL when out of memory. */
struct deflate *ukit_deflate_new(void);
void ukit_deflate_free(struct deflate *d);

/*
 * Compress (n) bytes at (in) into at most (cap) bytes at (out) as one raw
 * deflate stream (final block included).  Returns the compressed length,
 * or 0 when it does not fit in (cap).  Any (n) up to 2^31 works; memory
 * stays the same.
 */
size_t ukit_deflate_compress(struct deflate *d, const uint8_t *in, size_t n,
			uint8_t *out, size_t cap);

#endif
