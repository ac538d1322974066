/*
 * convert_comp.c: the converter's compression context (see convert_int.h):
 * one per thread, zlib, ukit's deflate checked by zlib's inflate, or zstd,
 * and the test that skips bytes that would not shrink.
 *
 * zlib at the default level goes through ukit's deflate (deflate.h),
 * checked cluster by cluster with zlib's inflate.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "convert_int.h"
#include "deflate.h"

#define ZLIB_DEFAULT_LEVEL 6     /* Z_DEFAULT_COMPRESSION, as qemu */
#define ZSTD_DEFAULT_LEVEL 3     /* ZSTD_CLEVEL_DEFAULT, as qemu */

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

bool ukit_convert_looks_uniform(const uint8_t *p, size_t n)
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

int ukit_convert_zctx_init(struct zctx *c, enum qcow2w_comp comp, int level)
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

void ukit_convert_zctx_fini(struct zctx *c)
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

size_t ukit_convert_zctx_run(struct zctx *c, const void *in, size_t len,
			     void *out, size_t cap)
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

	if (ukit_convert_zctx_init(&c, comp, level) < 0) {
		ukit_convert_zctx_fini(&c);
		return 0;
	}
	n = ukit_convert_zctx_run(&c, in, len, out, cap);
	ukit_convert_zctx_fini(&c);
	return n;
}
