/*
 * test_deflate.c: ukit's deflate encoder against zlib's inflater, set up
 * as qemu sets it up (raw deflate, windowBits -12: a 4 KiB window).  Each
 * input is compressed, then inflated twice: in one call, as qemu does, and
 * one output byte at a time, so that a match reaching past the 4 KiB
 * window fails even where one-call inflating would forgive it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "deflate.h"

/* Inflate (in, n) with a 4 KiB window, (step) output bytes per call. */
static size_t inflate4k(const uint8_t *in, size_t n, uint8_t *out,
			size_t cap, size_t step)
{
	z_stream z;
	size_t done = 0;
	int rc = Z_OK;

	memset(&z, 0, sizeof z);
	assert_int_equal(inflateInit2(&z, -12), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	while (rc == Z_OK && done < cap) {
		z.next_out = out + done;
		z.avail_out = (uInt)(cap - done < step ? cap - done : step);
		rc = inflate(&z, Z_NO_FLUSH);
		done = z.total_out;
		if (rc == Z_BUF_ERROR && z.avail_out > 0)
			break;
		if (rc == Z_BUF_ERROR)
			rc = Z_OK;
	}
	if (rc == Z_OK && done == cap) {
		/* the stream must end exactly here */
		uint8_t extra;

		z.next_out = &extra;
		z.avail_out = 1;
		rc = inflate(&z, Z_NO_FLUSH);
	}
	inflateEnd(&z);
	if (rc != Z_STREAM_END)
		fail_msg("inflate: %d (%s) after %zu bytes", rc,
			 z.msg ? z.msg : "-", done);
	return done;
}

/* Compress (in, n), check it inflates back both ways; the size. */
static size_t roundtrip(struct deflate *d, const uint8_t *in, size_t n)
{
	size_t cap = n + n / 8 + 1024, c;
	uint8_t *z = malloc(cap), *back = malloc(n + 1);

	assert_non_null(z);
	assert_non_null(back);
	c = ukit_deflate_compress(d, in, n, z, cap);
	assert_true(c > 0);
	assert_int_equal(inflate4k(z, c, back, n, n ? n : 1), n);
	assert_memory_equal(back, in, n);
	if (n <= (256u << 10)) {
		memset(back, 0, n);
		assert_int_equal(inflate4k(z, c, back, n, 1), n);
		assert_memory_equal(back, in, n);
	}
	free(z);
	free(back);
	return c;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Shapes of input that stress different parts of the encoder. */
static void fill(uint8_t *p, size_t n, int kind, uint32_t seed)
{
	static const char words[] = "the quick brown fox jumps over the "
				    "lazy dog; int main(void) { return 0; } ";
	uint32_t s = seed | 1;

	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case 0: p[i] = 0; break;
		case 1: p[i] = (uint8_t)rnd(&s); break;
		case 2: p[i] = (uint8_t)words[(i * 7 + rnd(&s) % 3) %
					      (sizeof words - 1)]; break;
		case 3: p[i] = (uint8_t)(rnd(&s) % 4); break;
		case 4: p[i] = (uint8_t)(i % 251); break;
		/* a random 4 KiB+1 block, repeated: matches exactly at
		 * distance 4097, beyond the window, must not be used */
		case 5: p[i] = i < 4097 ? (uint8_t)rnd(&s) : p[i - 4097]; break;
		case 6: p[i] = i < 4095 ? (uint8_t)rnd(&s) : p[i - 4095]; break;
		case 7: p[i] = i < 4096 ? (uint8_t)rnd(&s) : p[i - 4096]; break;
		default: p[i] = (uint8_t)((rnd(&s) % 16) ? 'a' + i % 3 :
					  rnd(&s)); break;
		}
	}
}

static void test_shapes(void **state)
{
	static const size_t sizes[] = {
		0, 1, 2, 3, 4, 5, 7, 8, 9, 258, 259, 4095, 4096, 4097, 8191,
		65536, 65537, 200000, 2u << 20,
	};
	struct deflate *d = ukit_deflate_new();
	uint8_t *in = malloc(2u << 20);

	(void)state;
	assert_non_null(d);
	assert_non_null(in);
	for (int kind = 0; kind <= 8; kind++)
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			fill(in, sizes[i], kind, (uint32_t)(kind * 977 + i));
			roundtrip(d, in, sizes[i]);
		}
	free(in);
	ukit_deflate_free(d);
}

/* zlib -6 as qemu runs it: raw deflate, 4 KiB window, memLevel 9. */
static size_t zlib6(const uint8_t *in, size_t n)
{
	static uint8_t out[70000];
	z_stream z;
	size_t c;

	memset(&z, 0, sizeof z);
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -12, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = sizeof out;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	c = sizeof out - z.avail_out;
	deflateEnd(&z);
	return c;
}

/*
 * Compressible shapes come out no more than 3% (+16 bytes) larger than
 * zlib -6 makes them; repeats are found up to the window and not beyond.
 */
static void test_ratio(void **state)
{
	static const int kinds[] = { 0, 2, 3, 4, 8 };
	struct deflate *d = ukit_deflate_new();
	uint8_t in[65536];

	(void)state;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t ours, ref;

		fill(in, sizeof in, kinds[i], 1);
		ours = roundtrip(d, in, sizeof in);
		ref = zlib6(in, sizeof in);
		if (ours > ref + ref * 3 / 100 + 16)
			fail_msg("shape %d: %zu bytes, zlib -6 %zu", kinds[i],
				 ours, ref);
	}
	/* repeats at distance 4095 are found, at 4097 they cannot be */
	fill(in, sizeof in, 6, 1);
	assert_true(roundtrip(d, in, sizeof in) < 6000);
	fill(in, sizeof in, 5, 1);
	assert_true(roundtrip(d, in, sizeof in) > 60000);
	ukit_deflate_free(d);
}

/* Too little room: 0, never a partial stream or a write past (cap). */
static void test_cap(void **state)
{
	struct deflate *d = ukit_deflate_new();
	uint8_t in[65536], out[70000];
	size_t full;

	(void)state;
	fill(in, sizeof in, 2, 3);
	full = ukit_deflate_compress(d, in, sizeof in, out, sizeof out);
	assert_true(full > 0);
	for (size_t cap = 0; cap < full; cap += cap < 64 ? 1 : 997) {
		memset(out, 0xa5, sizeof out);
		assert_int_equal(ukit_deflate_compress(d, in, sizeof in, out, cap), 0);
		for (size_t i = cap; i < sizeof out; i++)
			if (out[i] != 0xa5)
				fail_msg("cap %zu: byte %zu written", cap, i);
	}
	assert_int_equal(ukit_deflate_compress(d, in, sizeof in, out, full), full);
	fill(in, sizeof in, 1, 3);
	assert_int_equal(ukit_deflate_compress(d, in, sizeof in, out,
					  sizeof in - 1), 0);
	ukit_deflate_free(d);
}

/* The same input gives the same bytes, whatever came before it. */
static void test_deterministic(void **state)
{
	struct deflate *a = ukit_deflate_new(), *b = ukit_deflate_new();
	uint8_t in[65536], oa[70000], ob[70000], other[65536];
	size_t na, nb;

	(void)state;
	fill(in, sizeof in, 8, 5);
	fill(other, sizeof other, 2, 9);
	na = ukit_deflate_compress(a, in, sizeof in, oa, sizeof oa);
	ukit_deflate_compress(b, other, sizeof other, ob, sizeof ob);
	ukit_deflate_compress(b, other, 1000, ob, sizeof ob);
	nb = ukit_deflate_compress(b, in, sizeof in, ob, sizeof ob);
	assert_int_equal(na, nb);
	assert_memory_equal(oa, ob, na);
	ukit_deflate_free(a);
	ukit_deflate_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_ratio),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
