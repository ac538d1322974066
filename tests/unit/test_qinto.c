/*
 * test_qinto.c: convert into an existing qcow2 image (qinto.h): targets
 * written by ukit's own qcow2 writer with other data in them (plain and
 * compressed clusters), across cluster sizes, compat levels and refcount
 * widths; after the write the consistency check finds nothing, the
 * image reads back as the source, and the header keeps its options.
 * Refusals leave the file unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "convert.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "io.h"
#include "qcow2.h"
#include "qcow2w.h"
#include "qinto.h"

enum old { OLD_NONE, OLD_PLAIN, OLD_COMPRESSED };

static uint8_t pat(uint64_t off, unsigned seed)
{
	/* the seed goes through the multiply: a target's old data differs from
	 * the source's, or in-place writes would go unseen */
	uint64_t x = (off + 1 + (uint64_t)seed * 0x10001) *
		     0x9e3779b97f4a7c15ULL;

	return (uint8_t)(x >> 56 ^ x >> 29);
}

/* A qcow2 target of (vsize) bytes; with old data in every other cluster
 * (every third compressed when (old) says so). */
static FILE *make_target(unsigned bits, int ver, unsigned rbits,
			 uint64_t vsize, enum old old)
{
	struct qcow2w_opts o = { .cluster_bits = bits, .version = ver,
				 .refcount_bits = rbits };
	uint64_t cs = 1ULL << bits, n = (vsize + cs - 1) / cs;
	uint8_t *c = malloc(cs), *z = malloc(cs), **keep = calloc(n, sizeof *keep);
	struct fmt_err e = { .path = "target" };
	struct qcow2w *w;
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_non_null(c);
	assert_non_null(z);
	assert_non_null(keep);
	assert_int_equal(ukit_qcow2w_open(fileno(f), "target", &o, vsize, &w,
					  &e), 0);
	for (uint64_t i = 0; old != OLD_NONE && i < n; i += 2) {
		size_t len;

		keep[i] = malloc(cs);
		assert_non_null(keep[i]);
		/* compressible: a short repeating pattern */
		for (uint64_t k = 0; k < cs; k++)
			keep[i][k] = (old == OLD_COMPRESSED && i % 3 == 0)
				? (uint8_t)(k % 7 + i) : pat(i * cs + k, 7);
		len = old == OLD_COMPRESSED && i % 3 == 0
			? ukit_convert_compress(QCOW2W_ZLIB, -1, keep[i], cs,
						z, cs - 1) : 0;
		if (len > 0) {
			uint8_t *zc = malloc(len);

			assert_non_null(zc);
			memcpy(zc, z, len);
			free(keep[i]);
			keep[i] = zc;
			assert_int_equal(ukit_qcow2w_put_compressed(w, i, zc, len,
								    &e), 0);
		} else {
			assert_int_equal(ukit_qcow2w_put(w, i, keep[i], &e), 0);
		}
	}
	assert_int_equal(ukit_qcow2w_finish(w, &e), 0);
	ukit_qcow2w_free(w);
	for (uint64_t i = 0; i < n; i++)
		free(keep[i]);
	free(keep);
	free(c);
	free(z);
	return f;
}

/* A raw source of (size) bytes: data, zero clusters, a hole. */
static FILE *make_source(uint64_t size, uint64_t cs, uint8_t **bytes)
{
	uint8_t *b = calloc(1, size);
	FILE *f = tmpfile();

	assert_non_null(b);
	assert_non_null(f);
	for (uint64_t off = 0; off < size; off++) {
		uint64_t c = off / cs;

		if (c % 5 != 1 && c % 7 != 3)
			b[off] = pat(off, 1);
	}
	assert_int_equal(ukit_pwrite_full(fileno(f), b, size, 0), 0);
	*bytes = b;
	return f;
}

static void read_file(FILE *f, uint8_t **buf, size_t *len)
{
	struct stat st;

	assert_int_equal(fstat(fileno(f), &st), 0);
	*len = (size_t)st.st_size;
	*buf = malloc(*len + 1);
	assert_non_null(*buf);
	assert_int_equal(ukit_pread_full(fileno(f), *buf, *len, 0),
			 (ssize_t)*len);
}

static void test_into_variants(void **state)
{
	static const struct { unsigned bits; int ver; unsigned rbits;
			      enum old old; } v[] = {
		{ 16, 3, 16, OLD_NONE }, { 16, 3, 16, OLD_PLAIN },
		{ 16, 3, 16, OLD_COMPRESSED }, { 12, 2, 16, OLD_PLAIN },
		{ 12, 2, 16, OLD_COMPRESSED }, { 9, 3, 64, OLD_PLAIN },
		{ 9, 2, 16, OLD_NONE }, { 13, 3, 1, OLD_PLAIN },
		{ 21, 3, 8, OLD_COMPRESSED },
	};
	const uint64_t isize = (3ULL << 20) + 2560;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint64_t cs = 1ULL << v[i].bits;
		struct image_opts io = { .force_share = true };
		struct fmt_err e = { .path = "t" };
		struct ukit_qcow2_header h0, h1;
		struct ukit_qinto_stats st;
		struct qcow2_check r;
		struct image *src, *back;
		uint8_t *want, *got = malloc(isize);
		FILE *tf = make_target(v[i].bits, v[i].ver, v[i].rbits,
				       isize, v[i].old);
		FILE *sf = make_source(isize, cs, &want);
		struct stat sb;
		int fd;

		assert_non_null(got);
		/* read-write, as the tool opens it */
		fd = fileno(tf);
		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(ukit_qcow2_header_read(fd, (uint64_t)sb.st_size,
							&h0, &e), 0);
		assert_int_equal(ukit_image_open(fileno(sf), "s", IMG_RAW, &io,
						 &src, &e), 0);
		if (ukit_convert_into_qcow2(src, "s", fd, "t", NULL, true, &st,
					    &e) != 0)
			fail_msg("variant %zu: %s", i, e.msg);
		ukit_image_close(src);
		if (v[i].old == OLD_PLAIN) {
			assert_true(st.reused > 0);     /* old data clusters */
			assert_true(st.zeroed > 0);     /* old under zeros */
		}
		if (v[i].old == OLD_COMPRESSED)
			assert_true(st.freed > 0);
		/* the check finds nothing, not even a leak */
		assert_int_equal(ukit_qcow2_check_fd(fd, "t", 0, &r, &e), 0);
		if (r.corruptions || r.leaks || r.check_errors)
			fail_msg("variant %zu: %s", i, r.nfindings ?
				 r.findings[0].msg : "counts only");
		ukit_qcow2_check_free(&r);
		/* the options are the target's */
		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(ukit_qcow2_header_read(fd, (uint64_t)sb.st_size,
							&h1, &e), 0);
		assert_int_equal(h1.cluster_bits, h0.cluster_bits);
		assert_int_equal(h1.version, h0.version);
		assert_int_equal(h1.refcount_order, h0.refcount_order);
		assert_true(h1.size == h0.size);
		/* reads back as the source */
		assert_int_equal(ukit_image_open(fd, "t", IMG_QCOW2, &io, &back,
						 &e), 0);
		assert_int_equal(ukit_image_read(back, got, isize, 0, &e), 0);
		ukit_image_close(back);
		if (memcmp(got, want, isize) != 0)
			fail_msg("variant %zu: content differs", i);
		free(want);
		free(got);
		fclose(tf);
		fclose(sf);
	}
}

/*
 * Converting the 1 MiB source (sf) into the target (tf) is refused with
 * (msg) in the message at offset (off) of "t", and the target's bytes are
 * unchanged.  Closes both files.
 */
static void expect_refused(FILE *tf, FILE *sf, const char *msg, uint64_t off)
{
	struct image_opts io = { .force_share = true };
	struct fmt_err e = { .path = "t" };
	struct ukit_qinto_stats st;
	struct image *src;
	uint8_t *a, *b;
	size_t la, lb;

	read_file(tf, &a, &la);
	assert_int_equal(ukit_image_open(fileno(sf), "s", IMG_RAW, &io, &src,
					 &e), 0);
	assert_int_equal(ukit_convert_into_qcow2(src, "s", fileno(tf), "t",
						 NULL, true, &st, &e), -1);
	assert_non_null(strstr(e.msg, msg));
	assert_string_equal(e.path, "t");
	assert_true(e.off == off);
	ukit_image_close(src);
	read_file(tf, &b, &lb);
	assert_true(la == lb && memcmp(a, b, la) == 0);
	free(a);
	free(b);
	fclose(tf);
	fclose(sf);
}

static void test_into_refuses_smaller(void **state)
{
	const uint64_t isize = 1ULL << 20;
	uint8_t *want;
	FILE *tf = make_target(16, 3, 16, isize - 512, OLD_PLAIN);
	FILE *sf = make_source(isize, 65536, &want);

	(void)state;
	/* 24: the size field */
	expect_refused(tf, sf, "output file is smaller than input file", 24);
	free(want);
}

static void test_into_refuses_dirty(void **state)
{
	const uint64_t isize = 1ULL << 20;
	uint8_t *want, one = 1;
	FILE *tf = make_target(16, 3, 16, isize, OLD_PLAIN);
	FILE *sf = make_source(isize, 65536, &want);

	(void)state;
	assert_int_equal(ukit_pwrite_full(fileno(tf), &one, 1, 79), 0);
	expect_refused(tf, sf, "marked dirty", 72);
	free(want);
}

/* A refcount block that counts a cluster past the end of the file (a
 * leak the check lets pass) is refused before the first write, not when
 * the first cluster is appended there. */
static void test_into_refuses_count_past_end(void **state)
{
	const uint64_t isize = 1ULL << 20;
	uint8_t *want, hb[8], two[2] = { 0, 2 };
	uint64_t rt, blk, past;
	FILE *tf = make_target(16, 3, 16, isize, OLD_PLAIN);
	FILE *sf = make_source(isize, 65536, &want);
	struct stat sb;

	(void)state;
	assert_int_equal(fstat(fileno(tf), &sb), 0);
	assert_int_equal(ukit_pread_full(fileno(tf), hb, 8, 48), 8);
	rt = be64_load(hb);
	assert_int_equal(ukit_pread_full(fileno(tf), hb, 8, (off_t)rt), 8);
	blk = be64_load(hb);
	/* two clusters past the end: inside block 0 (16-bit entries) */
	past = ((uint64_t)sb.st_size + 65535) / 65536 + 2;
	assert_true(blk != 0 && past < 32768);
	assert_int_equal(ukit_pwrite_full(fileno(tf), two, 2,
					  (off_t)(blk + past * 2)), 0);
	expect_refused(tf, sf, "past the end of the file has refcount 2", blk);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_into_variants),
		cmocka_unit_test(test_into_refuses_smaller),
		cmocka_unit_test(test_into_refuses_dirty),
		cmocka_unit_test(test_into_refuses_count_past_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
