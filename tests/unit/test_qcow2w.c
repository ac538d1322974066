/*
 * test_qcow2w.c: the qcow2 writer's layout math (geometry, refcount
 * sizing, compressed descriptors, header bytes) and a written image read
 * back through image.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "bytes.h"
#include "convert.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "qcow2w.h"

static void test_geom_rejects(void **state)
{
	static const struct { unsigned bits; int ver; enum qcow2w_comp c;
			      uint64_t size; const char *msg; } bad[] = {
		{ 8, 3, QCOW2W_NONE, 1 << 20, "outside 512 B..2 MiB" },
		{ 22, 3, QCOW2W_NONE, 1 << 20, "outside 512 B..2 MiB" },
		{ 0, 3, QCOW2W_NONE, 1 << 20, "outside 512 B..2 MiB" },
		{ 16, 4, QCOW2W_NONE, 1 << 20, "not 2 or 3" },
		{ 16, 2, QCOW2W_ZSTD, 1 << 20, "needs compat 1.1" },
		{ 16, 3, QCOW2W_NONE, UINT64_MAX, "too large" },
		/* 512 B clusters: one L1 entry maps 32 KiB; 32 MiB of L1 */
		{ 9, 3, QCOW2W_NONE, (4ULL << 20) * 32768 + 512, "L1 table" },
	};
	struct ukit_qcow2w_geom g;
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct qcow2w_opts o = { .cluster_bits = bad[i].bits,
					 .version = bad[i].ver, .comp = bad[i].c };
		assert_int_equal(ukit_qcow2w_geom(&o, bad[i].size, &g, &e), -1);
		assert_non_null(strstr(e.msg, bad[i].msg));
	}
}

static void test_geom_values(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 16, .version = 3 };
	struct ukit_qcow2w_geom g;
	struct fmt_err e = { 0 };

	(void)state;
	assert_int_equal(ukit_qcow2w_geom(&o, 1000, &g, &e), 0);
	assert_true(g.size == 1024);                 /* rounded to 512 */
	assert_true(g.l1_size == 1 && g.l1_clusters == 1);
	assert_true(g.l2_entries == 8192 && g.rb_entries == 32768);
	assert_int_equal(g.csize_shift, 54);
	assert_int_equal(ukit_qcow2w_geom(&o, 8ULL << 30, &g, &e), 0);
	assert_true(g.l1_size == 16);                /* 512 MiB per L2 */
	assert_int_equal(ukit_qcow2w_geom(&o, 0, &g, &e), 0);
	assert_true(g.l1_size == 0 && g.l1_clusters == 0);
	o.cluster_bits = 9;
	assert_int_equal(ukit_qcow2w_geom(&o, 1ULL << 30, &g, &e), 0);
	assert_true(g.l1_size == 32768 && g.l1_clusters == 512);
	assert_int_equal(g.csize_shift, 61);
	/* the v3 header, its feature table and end marker fill 512 bytes */
	assert_true(g.header_len == 512);
	o.cluster_bits = 21;
	assert_int_equal(ukit_qcow2w_geom(&o, 1ULL << 40, &g, &e), 0);
	assert_int_equal(g.csize_shift, 49);
	o.version = 2;
	assert_int_equal(ukit_qcow2w_geom(&o, 1, &g, &e), 0);
	assert_true(g.header_len == 72);
}

/* The refcount structures count themselves, and nothing smaller would. */
static void test_refcount_fit(void **state)
{
	static const uint64_t cs_list[] = { 512, 4096, 65536, 2 << 20 };

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(cs_list); k++) {
		uint64_t cs = cs_list[k], rb = cs / 2;
		uint64_t probes[] = { 1, 2, rb - 3, rb - 2, rb - 1, rb, rb + 1,
				      3 * rb - 2, 64 * rb - 1, 64 * rb,
				      cs / 8 * rb - 1, cs / 8 * rb + 5 };

		for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
			uint64_t used = probes[i], sealed = (used - 1) / rb;
			uint64_t b, t, n;

			ukit_qcow2w_refcount_fit(used, sealed, rb, cs, &b, &t);
			n = used + b + t;
			assert_true(div_up(n, rb) - sealed == b);
			assert_true(div_up(div_up(n, rb) * 8, cs) == t);
			/* minimal: one block or table cluster less won't do */
			if (b > 1) {
				uint64_t n2 = used + b - 1 + t;
				assert_true(div_up(n2, rb) - sealed > b - 1);
			}
			if (t > 1) {
				uint64_t n2 = used + b + t - 1;
				assert_true(div_up(div_up(n2, rb) * 8, cs) > t - 1);
			}
		}
	}
}

static void test_comp_desc(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 16, .version = 3,
				 .comp = QCOW2W_ZLIB };
	struct ukit_qcow2w_geom g;
	struct fmt_err e = { 0 };
	uint64_t d;

	(void)state;
	assert_int_equal(ukit_qcow2w_geom(&o, 1 << 30, &g, &e), 0);
	/* 1000 bytes from 0x12345: sectors 0x91..0x93, two more than one */
	d = ukit_qcow2w_comp_desc(&g, 0x12345, 1000);
	assert_true(d >> 62 == 1);
	assert_true((d & ((1ULL << 54) - 1)) == 0x12345);
	assert_true(((d >> 54) & 0xff) == 2);
	/* ending exactly on a sector boundary adds no sector */
	d = ukit_qcow2w_comp_desc(&g, 0x10000, 512);
	assert_true(((d >> 54) & 0xff) == 0);
	o.cluster_bits = 9;
	assert_int_equal(ukit_qcow2w_geom(&o, 1 << 20, &g, &e), 0);
	d = ukit_qcow2w_comp_desc(&g, 0x3ff, 2);         /* straddles a sector */
	assert_true((d >> 61 & 1) == 1 && (d & ((1ULL << 61) - 1)) == 0x3ff);
}

static void test_header_bytes(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 9, .version = 3,
				 .comp = QCOW2W_ZSTD };
	struct ukit_qcow2w_geom g;
	struct fmt_err e = { 0 };
	uint8_t buf[512];

	(void)state;
	assert_int_equal(ukit_qcow2w_geom(&o, 1 << 20, &g, &e), 0);
	ukit_qcow2w_header(&o, &g, 0x1000, 1, 0x200, buf);
	assert_int_equal(be32_load(buf), 0x514649fb);
	assert_int_equal(be32_load(buf + 4), 3);
	assert_int_equal(be32_load(buf + 20), 9);
	assert_true(be64_load(buf + 24) == 1 << 20);
	assert_true(be64_load(buf + 40) == 0x200);
	assert_true(be64_load(buf + 48) == 0x1000);
	assert_true(be64_load(buf + 72) == 8);      /* compression type bit */
	assert_int_equal(be32_load(buf + 96), 4);
	assert_int_equal(be32_load(buf + 100), 112);
	assert_int_equal(buf[104], 1);
	assert_int_equal(be32_load(buf + 112), 0x6803f857);
	assert_int_equal(be32_load(buf + 116), 8 * 48);
	assert_memory_equal(buf + 120 + 2, "dirty bit", 10);
	assert_int_equal(be64_load(buf + 504), 0);  /* end of extensions */
	o.version = 2;
	o.comp = QCOW2W_ZLIB;
	ukit_qcow2w_header(&o, &g, 0x1000, 1, 0x200, buf);
	assert_int_equal(be32_load(buf + 4), 2);
	for (size_t i = 72; i < sizeof buf; i++)
		assert_int_equal(buf[i], 0);
}

/* A host cluster packed with 65535 compressed clusters takes no more. */
static void test_refcount_cap(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 21, .version = 3,
				 .comp = QCOW2W_ZSTD };
	struct qcow2w *w;
	struct fmt_err e = { 0 };
	FILE *f = tmpfile();
	uint64_t before;

	(void)state;
	assert_non_null(f);
	assert_int_equal(ukit_qcow2w_open(fileno(f), "tmp", &o, 70000ULL << 21, &w,
				     &e), 0);
	for (uint64_t i = 0; i < 65535; i++)
		assert_int_equal(ukit_qcow2w_put_compressed(w, i, "z", 1, &e), 0);
	before = ukit_qcow2w_host_size(w);
	assert_int_equal(ukit_qcow2w_put_compressed(w, 65535, "z", 1, &e), 0);
	assert_true(ukit_qcow2w_host_size(w) == before + (2 << 20));
	assert_int_equal(ukit_qcow2w_put_compressed(w, 3, "z", 1, &e), -1);
	assert_non_null(strstr(e.msg, "out of order"));
	ukit_qcow2w_free(w);
	fclose(f);
}

/* Clusters of every kind written and read back through image.h. */
static void test_write_read_back(void **state)
{
	static const unsigned bits[] = { 9, 12, 16 };

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(bits); k++) {
		for (int comp = QCOW2W_NONE; comp <= QCOW2W_ZSTD; comp++) {
			struct qcow2w_opts o = { .cluster_bits = bits[k],
						 .version = 3, .comp = comp };
			uint64_t cs = 1ULL << bits[k], n = 40;
			uint64_t size = n * cs - 512;
			uint8_t *want = calloc(1, n * cs), *got = malloc(n * cs);
			uint8_t *cbuf = malloc(cs);
			struct qcow2w *w;
			struct image *img;
			struct fmt_err e = { 0 };
			FILE *f = tmpfile();

			assert_non_null(f);
			srand(7);
			for (uint64_t i = 0; i < n; i++) {
				uint8_t *p = want + i * cs;
				if (i % 5 == 1)
					continue;           /* zeros */
				for (uint64_t j = 0; j < cs; j++)
					p[j] = (uint8_t)(i % 3 == 0 ? (unsigned)rand()
							  : j / 64);
			}
			memset(want + size, 0, n * cs - size);
			assert_int_equal(ukit_qcow2w_open(fileno(f), "t", &o, size, &w,
						     &e), 0);
			for (uint64_t i = 0; i < div_up(size, cs); i++) {
				uint8_t *p = want + i * cs;
				size_t c;
				if (i % 5 == 1)
					continue;
				c = ukit_convert_compress(o.comp, -1, p, cs, cbuf, cs - 1);
				if ((c > 0 ? ukit_qcow2w_put_compressed(w, i, cbuf, c, &e)
					   : ukit_qcow2w_put(w, i, p, &e)) < 0 ||
				    ukit_qcow2w_flush(w, &e) < 0)   /* cbuf is reused */
					fail_msg("put %" PRIu64 ": %s", i, e.msg);
			}
			assert_int_equal(ukit_qcow2w_finish(w, &e), 0);
			ukit_qcow2w_free(w);
			assert_int_equal(ukit_image_open(fileno(f), "t", IMG_QCOW2,
						    NULL, &img, &e), 0);
			assert_true(ukit_image_size(img) == size);
			assert_int_equal(ukit_image_read(img, got, size, 0, &e), 0);
			assert_memory_equal(got, want, size);
			ukit_image_close(img);
			fclose(f);
			free(want);
			free(got);
			free(cbuf);
		}
	}
}

static void test_compress_window(void **state)
{
	/*
	 * Random bytes repeating every 8 KiB: a 32 KiB window would find the
	 * repeats, the 4 KiB window qemu inflates with must not (so nothing
	 * is gained and the cluster stays uncompressed).  Repeating every
	 * 2 KiB compresses and inflates with windowBits -12.
	 */
	static uint8_t in[65536], out[65535], back[65536];
	size_t n;
	z_stream z;

	(void)state;
	srand(3);
	for (size_t i = 0; i < 8192; i++)
		in[i] = (uint8_t)rand();
	for (size_t i = 8192; i < sizeof in; i++)
		in[i] = in[i - 8192];
	assert_int_equal(ukit_convert_compress(QCOW2W_ZLIB, -1, in, sizeof in, out,
					  sizeof out), 0);
	for (size_t i = 2048; i < sizeof in; i++)
		in[i] = in[i - 2048];
	n = ukit_convert_compress(QCOW2W_ZLIB, -1, in, sizeof in, out, sizeof out);
	assert_true(n > 0);
	memset(&z, 0, sizeof z);
	assert_int_equal(inflateInit2(&z, -12), Z_OK);
	z.next_in = out;
	z.avail_in = (uInt)n;
	z.next_out = back;
	z.avail_out = sizeof back;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	assert_memory_equal(in, back, sizeof in);
	/* random data does not fit: stored uncompressed */
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)rand();
	assert_int_equal(ukit_convert_compress(QCOW2W_ZLIB, -1, in, sizeof in, out,
					  sizeof out), 0);
	assert_int_equal(ukit_convert_compress(QCOW2W_ZSTD, -1, in, sizeof in, out,
					  sizeof out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geom_rejects),
		cmocka_unit_test(test_geom_values),
		cmocka_unit_test(test_refcount_fit),
		cmocka_unit_test(test_comp_desc),
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_refcount_cap),
		cmocka_unit_test(test_write_read_back),
		cmocka_unit_test(test_compress_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
