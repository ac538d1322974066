/*
 * test_qcow2.c: the qcow2 header parser on hostile header tables (message
 * and offset), compressed descriptors, decompression limits, and the
 * reader on small images built in memory (memfd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "bytes.h"
#include "image.h"
#include "imgopen.h"
#include "qcow2.h"

#define CS 65536

/* A valid v3 header: 64 KiB clusters, 1 MiB, refcount table at cluster 1,
 * refcount block at 2, L1 at 3. */
static void gen_header(uint8_t *h, size_t len)
{
	memset(h, 0, len);
	be32_store(h, QCOW2_MAGIC);
	be32_store(h + 4, 3);
	be32_store(h + 20, 16);
	be64_store(h + 24, 1 << 20);
	be32_store(h + 36, 1);
	be64_store(h + 40, 3 * CS);
	be64_store(h + 48, CS);
	be32_store(h + 56, 1);
	be32_store(h + 96, 4);
	be32_store(h + 100, 112);
}

struct bad {
	size_t off;      /* field */
	int width;       /* 1, 4, 8 */
	uint64_t val;
	uint64_t err_off;
	const char *msg;
};

static const struct bad bad_headers[] = {
	{ 0, 4, 0x514649fa, 0, "bad magic" },
	{ 4, 4, 1, 4, "unsupported qcow2 version 1" },
	{ 4, 4, 0xffffffff, 4, "unsupported qcow2 version" },
	{ 20, 4, 0, 20, "cluster_bits 0 outside 9..21" },
	{ 20, 4, 8, 20, "cluster_bits 8 outside 9..21" },
	{ 20, 4, 22, 20, "cluster_bits 22 outside 9..21" },
	{ 20, 4, 63, 20, "cluster_bits 63 outside" },
	{ 20, 4, 64, 20, "cluster_bits 64 outside" },
	{ 20, 4, UINT32_MAX, 20, "outside 9..21" },
	{ 24, 8, UINT64_MAX, 24, "too large" },
	{ 24, 8, 1ULL << 62, 24, "L1 entries (limit" },
	{ 24, 8, 1ULL << 30, 36, "L1 table too small for the virtual size" },
	{ 32, 4, 1, 32, "encrypted images are not supported" },
	{ 32, 4, 2, 32, "crypt_method 2" },
	{ 36, 4, UINT32_MAX, 36, "l1_size 4294967295 too large" },
	{ 40, 8, 3 * CS + 8, 40, "L1 table offset 0x30008 not aligned" },
	{ 40, 8, 0, 40, "overlaps the header" },
	{ 48, 8, CS + 512, 48, "refcount table offset 0x10200 not aligned" },
	{ 48, 8, 0, 48, "overlaps the header" },
	{ 56, 4, 0, 56, "refcount table has no clusters" },
	{ 56, 4, 129, 56, "refcount table too large" },
	{ 60, 4, 65537, 60, "too many snapshots" },
	{ 72, 8, 0x20, 72, "unknown incompatible feature bits 0x20" },
	{ 72, 8, 1ULL << 63, 72, "unknown incompatible feature bits" },
	{ 72, 8, 0x4, 72, "external data files are not supported" },
	{ 72, 8, 0x10, FMT_NOOFF, NULL },   /* extended L2 entries: read */
	{ 72, 8, 0x8, 72, "compression type feature bit set with zlib" },
	{ 96, 4, 7, 96, "refcount_order 7 outside 0..6" },
	{ 100, 4, 103, 100, "header_length 103 too small" },
	{ 100, 4, CS + 8, 100, "exceeds the cluster size" },
	{ 100, 4, 4096, 100, "extends past end of file" },
	{ 104, 1, 1, 72, "without the compression type feature bit" },
	{ 104, 1, 2, 104, "unknown compression type 2" },
	{ 16, 4, 10, FMT_NOOFF, NULL },   /* size without offset: ignored */
};

static void store(uint8_t *h, const struct bad *b)
{
	if (b->width == 1)
		h[b->off] = (uint8_t)b->val;
	else if (b->width == 4)
		be32_store(h + b->off, (uint32_t)b->val);
	else
		be64_store(h + b->off, b->val);
}

static void test_header_valid(void **state)
{
	uint8_t h[1024];
	struct ukit_qcow2_header q;
	struct fmt_err e = { .path = "mem" };

	(void)state;
	gen_header(h, sizeof h);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), 0);
	assert_int_equal(q.cluster_size, CS);
	assert_int_equal(q.l1_needed, 1);
	assert_int_equal(q.refcount_order, 4);
	assert_int_equal(q.ext_end, 120);
	/* v2: 72-byte header is enough, refcount order fixed */
	be32_store(h + 4, 2);
	memset(h + 72, 0, 48);
	assert_int_equal(ukit_qcow2_header_parse(h, 72, &q, &e), 0);
	assert_int_equal(q.header_length, 72);
	assert_int_equal(q.refcount_order, 4);
}

static void test_header_hostile(void **state)
{
	uint8_t h[1024];
	struct ukit_qcow2_header q;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_headers); i++) {
		const struct bad *b = &bad_headers[i];
		struct fmt_err e = { .path = "mem", .off = 12345 };
		size_t len = b->off == 100 && b->val == 4096 ? 512 : sizeof h;
		int rc;

		gen_header(h, sizeof h);
		store(h, b);
		rc = ukit_qcow2_header_parse(h, len, &q, &e);
		if (b->msg == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc != -1 || e.off != b->err_off ||
		    strstr(e.msg, b->msg) == NULL)
			fail_msg("case %zu (field %zu = 0x%llx): rc %d off %llu "
				 "msg '%s', want off %llu '%s'", i, b->off,
				 (unsigned long long)b->val, rc,
				 (unsigned long long)e.off, e.msg,
				 (unsigned long long)b->err_off, b->msg);
	}
}

static void test_header_short(void **state)
{
	uint8_t h[1024];
	struct ukit_qcow2_header q;
	struct fmt_err e = { .path = "mem" };

	(void)state;
	gen_header(h, sizeof h);
	for (size_t len = 0; len < 104; len++) {
		assert_int_equal(ukit_qcow2_header_parse(h, len, &q, &e), -1);
		assert_non_null(strstr(e.msg, "too short"));
	}
}

static void test_header_extensions(void **state)
{
	uint8_t h[1024];
	struct ukit_qcow2_header q;
	struct fmt_err e = { .path = "mem" };

	(void)state;
	/* backing format extension, then end */
	gen_header(h, sizeof h);
	be32_store(h + 112, QCOW2_EXT_BACKING_FMT);
	be32_store(h + 116, 5);
	memcpy(h + 120, "qcow2", 5);
	be64_store(h + 8, 200);
	be32_store(h + 16, 4);
	memcpy(h + 200, "base", 4);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), 0);
	assert_string_equal(q.backing_fmt, "qcow2");
	assert_string_equal(q.backing_file, "base");
	assert_true(q.has_backing);
	/* an extension whose length runs past the buffer */
	gen_header(h, sizeof h);
	be32_store(h + 112, 0x12345678);
	be32_store(h + 116, 0xfffffff0);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), -1);
	assert_int_equal(e.off, 112);
	assert_non_null(strstr(e.msg, "extends past the first cluster"));
	/* truncated extension header */
	gen_header(h, sizeof h);
	memset(h + 112, 0xaa, 8);
	assert_int_equal(ukit_qcow2_header_parse(h, 116, &q, &e), -1);
	assert_int_equal(e.off, 112);
	assert_non_null(strstr(e.msg, "header extension truncated"));
	/* the encryption header extension */
	gen_header(h, sizeof h);
	be32_store(h + 112, QCOW2_EXT_CRYPTO);
	be32_store(h + 116, 16);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), -1);
	assert_non_null(strstr(e.msg, "encrypted images are not supported"));
	/* backing name with a NUL, and one outside the buffer */
	gen_header(h, sizeof h);
	be64_store(h + 8, 200);
	be32_store(h + 16, 4);
	memcpy(h + 200, "a\0b", 4);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), -1);
	assert_non_null(strstr(e.msg, "NUL"));
	be64_store(h + 8, UINT64_MAX - 1);
	assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), -1);
	assert_int_equal(e.off, 8);
}

static void test_compressed_desc(void **state)
{
	uint64_t host, ns;

	(void)state;
	/* 64 KiB clusters: x = 62 - 8 = 54 offset bits, 8 sector bits */
	ukit_qcow2_compressed_desc(16, (1ULL << 62) | (3ULL << 54) | 0x123456, &host,
			      &ns);
	assert_true(host == 0x123456);
	assert_true(ns == 4);
	/* 512 B clusters: 61 offset bits, 1 sector bit */
	ukit_qcow2_compressed_desc(9, (1ULL << 61) | 0x200, &host, &ns);
	assert_true(host == 0x200);
	assert_true(ns == 2);
	/* 2 MiB clusters: 49 offset bits, 13 sector bits, all ones */
	ukit_qcow2_compressed_desc(21, (1ULL << 62) - 1, &host, &ns);
	assert_true(host == (1ULL << 49) - 1);
	assert_true(ns == (1ULL << 13));
}

static void test_decompress(void **state)
{
	static uint8_t in[4096], z[8192], out[4096];
	struct fmt_err e = { .path = "mem" };
	z_stream s;
	size_t zl;

	(void)state;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i / 7);
	memset(&s, 0, sizeof s);
	assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, -12, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	s.next_in = in;
	s.avail_in = sizeof in;
	s.next_out = z;
	s.avail_out = sizeof z;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	zl = sizeof z - s.avail_out;
	deflateEnd(&s);
	/* trailing sector padding after the stream is fine */
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZLIB, z, zl + 100, out,
					  sizeof out, 0x5000, &e), 0);
	assert_memory_equal(in, out, sizeof in);
	/* too short an output: cluster must be filled exactly */
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZLIB, z, zl, out,
					  2048, 0x5000, &e), 0);
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZLIB, z, zl / 2, out,
					  sizeof out, 0x5000, &e), -1);
	assert_int_equal(e.off, 0x5000);
	memset(z, 0xff, 64);
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZLIB, z, 64, out,
					  sizeof out, 0x6000, &e), -1);
	assert_non_null(strstr(e.msg, "zlib"));
	/* zstd: a frame of half a cluster does not fill it */
	zl = ZSTD_compress(z, sizeof z, in, 2048, 3);
	assert_false(ZSTD_isError(zl));
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZSTD, z, zl, out,
					  sizeof out, 0x7000, &e), -1);
	assert_int_equal(e.off, 0x7000);
	zl = ZSTD_compress(z, sizeof z, in, sizeof in, 3);
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZSTD, z, zl, out,
					  sizeof out, 0x7000, &e), 0);
	assert_memory_equal(in, out, sizeof in);
	assert_int_equal(ukit_qcow2_decompress(QCOW2_COMPRESS_ZSTD, z, 3, out,
					  sizeof out, 0x7000, &e), -1);
}

/* An image in a memfd: header, refcount table + block, L1, one L2, data. */
static int mkimage(uint64_t l1e, uint64_t l2e0, size_t len)
{
	uint8_t *b = calloc(1, 6 * CS);
	int fd = memfd_create("q", 0);

	gen_header(b, 1024);
	be64_store(b + CS, 2 * CS);                  /* refcount block */
	for (int i = 0; i < 6; i++)
		be16_store(b + 2 * CS + 2 * i, 1);
	be64_store(b + 3 * CS, l1e);                 /* L1[0] */
	be64_store(b + 4 * CS, l2e0);                /* L2[0] */
	memset(b + 5 * CS, 0xab, CS);                /* data */
	assert_true(write(fd, b, len) == (ssize_t)len);
	free(b);
	return fd;
}

static void test_reader(void **state)
{
	static const struct {
		uint64_t l1e, l2e;
		size_t len;
		uint64_t err_off;   /* FMT_NOOFF: read succeeds */
		const char *msg;
	} t[] = {
		{ 4 * CS | QCOW2_OFLAG_COPIED, 5 * CS | QCOW2_OFLAG_COPIED,
		  6 * CS, FMT_NOOFF, NULL },
		{ 4 * CS + 512, 0, 6 * CS, 3 * CS, "not aligned" },
		{ 40ULL * CS, 0, 6 * CS, 3 * CS, "extends past end of file" },
		{ 4 * CS, 5 * CS + 4096, 6 * CS, 4 * CS, "not aligned" },
		{ 4 * CS, 9 * CS, 6 * CS, 4 * CS, "past end of file" },
		{ 4 * CS, 5 * CS, 4 * CS + 100, 3 * CS,
		  "extends past end of file" },
		{ 4 * CS, 5 * CS, 3 * CS + 4, 40, "L1 table extends past" },
		{ 4 * CS, QCOW2_OFLAG_COMPRESSED | (100ULL * CS), 6 * CS,
		  4 * CS, "compressed data at 0x640000 past end of file" },
		{ 4 * CS, QCOW2_OFLAG_COMPRESSED | (5ULL * CS), 6 * CS,
		  5 * CS, "compressed cluster" },
		{ 4 * CS, QCOW2_OFLAG_ZERO | 5 * CS, 6 * CS, FMT_NOOFF, NULL },
	};
	static uint8_t buf[2 * CS];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int fd = mkimage(t[i].l1e, t[i].l2e, t[i].len);
		struct fmt_err e = { .path = "mem", .off = FMT_NOOFF };
		struct image *img = NULL;
		int rc = ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e);

		if (rc == 0)
			rc = ukit_image_read(img, buf, sizeof buf, 0, &e);
		if (t[i].msg == NULL) {
			assert_int_equal(rc, 0);
			assert_int_equal(ukit_image_format(img), IMG_QCOW2);
		} else if (rc != -1 || e.off != t[i].err_off ||
			   strstr(e.msg, t[i].msg) == NULL) {
			fail_msg("case %zu: rc %d off 0x%llx '%s'", i, rc,
				 (unsigned long long)e.off, e.msg);
		}
		ukit_image_close(img);
		close(fd);
	}
}

static void test_reader_content(void **state)
{
	static uint8_t buf[2 * CS];
	struct fmt_err e = { .path = "mem" };
	struct image *img;
	struct image_extent x;
	int fd;

	(void)state;
	fd = mkimage(4 * CS, 5 * CS, 6 * CS);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), 0);
	assert_true(ukit_image_size(img) == 1 << 20);
	assert_int_equal(ukit_image_read(img, buf, sizeof buf, 0, &e), 0);
	assert_int_equal(buf[0], 0xab);
	assert_int_equal(buf[CS - 1], 0xab);
	assert_int_equal(buf[CS], 0);
	assert_int_equal(ukit_image_map(img, 0, &x, &e), 0);
	assert_int_equal(x.kind, EXT_DATA);
	assert_true(x.len == CS);
	assert_int_equal(ukit_image_map(img, CS, &x, &e), 0);
	assert_int_equal(x.kind, EXT_HOLE);
	assert_true(x.off + x.len == 1 << 20);
	assert_int_equal(ukit_image_read(img, buf, 1, (1 << 20) - 1, &e), 0);
	assert_int_equal(ukit_image_read(img, buf, 2, (1 << 20) - 1, &e), -1);
	ukit_image_close(img);
	close(fd);
	/* zero flag on an allocated cluster reads zeros and maps as zero */
	fd = mkimage(4 * CS, 5 * CS | QCOW2_OFLAG_ZERO, 6 * CS);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), 0);
	assert_int_equal(ukit_image_read(img, buf, CS, 0, &e), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(ukit_image_map(img, 0, &x, &e), 0);
	assert_int_equal(x.kind, EXT_ZERO);
	ukit_image_close(img);
	close(fd);
}

/*
 * Extended L2 entries: guest cluster 0's subcluster bitmap (alloc in the
 * low 32 bits, zero in the high ones) decides what each 2 KiB subcluster
 * reads, through the handle and through an ukit_image_dup() of it.
 */
static void test_subclusters(void **state)
{
	static const struct {
		uint64_t l2e, bitmap;
		uint64_t err_off;   /* FMT_NOOFF: read succeeds */
		const char *msg;
	} t[] = {
		{ 5 * CS | QCOW2_OFLAG_COPIED, 0xffffffffULL, FMT_NOOFF, NULL },
		{ 5 * CS | QCOW2_OFLAG_COPIED, 0x000000f00000a005ULL, FMT_NOOFF,
		  NULL },
		{ 0, 0xffffffff00000000ULL, FMT_NOOFF, NULL },
		{ 0, 0, FMT_NOOFF, NULL },
		{ 5 * CS, 0x0000000100000001ULL, 4 * CS + 8,
		  "both allocated and zero" },
		{ 0, 0x10, 4 * CS + 8, "allocated in an unallocated cluster" },
		{ QCOW2_OFLAG_COMPRESSED | 5 * CS, 1, 4 * CS + 8,
		  "compressed cluster with subcluster bitmap" },
		{ 5 * CS + 4096, 1, 4 * CS, "not aligned" },
	};
	static uint8_t buf[CS];
	const uint64_t scs = CS / QCOW2_SUBCLUSTERS;
	uint8_t v[8];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int fd = mkimage(4 * CS | QCOW2_OFLAG_COPIED, t[i].l2e, 6 * CS);
		struct fmt_err e = { .path = "mem", .off = FMT_NOOFF };
		struct image *img = NULL, *dup = NULL;
		int rc;

		be64_store(v, QCOW2_INCOMPAT_EXTL2);
		assert_int_equal(pwrite(fd, v, 8, 72), 8);
		be64_store(v, t[i].bitmap);
		assert_int_equal(pwrite(fd, v, 8, 4 * CS + 8), 8);
		rc = ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e);
		if (rc == 0)
			rc = ukit_image_dup(img, &dup, &e);
		for (int k = 0; rc == 0 && k < 2; k++) {
			memset(buf, 0x55, sizeof buf);
			rc = ukit_image_read(k ? dup : img, buf, CS, 0, &e);
			for (unsigned sc = 0; rc == 0 && sc < 32; sc++) {
				uint8_t want = (t[i].bitmap >> sc) & 1 ? 0xab : 0;

				if (buf[sc * scs] != want ||
				    buf[sc * scs + scs - 1] != want)
					fail_msg("case %zu: subcluster %u reads "
						 "0x%02x, want 0x%02x", i, sc,
						 buf[sc * scs], want);
			}
		}
		if (t[i].msg == NULL)
			assert_int_equal(rc, 0);
		else if (rc != -1 || e.off != t[i].err_off ||
			 strstr(e.msg, t[i].msg) == NULL)
			fail_msg("case %zu: rc %d off 0x%llx '%s'", i, rc,
				 (unsigned long long)e.off, e.msg);
		ukit_image_close(dup);
		ukit_image_close(img);
		close(fd);
	}
	/* 8 KiB clusters would make 256-byte subclusters */
	{
		uint8_t h[1024];
		struct ukit_qcow2_header q;
		struct fmt_err e = { .path = "mem" };

		gen_header(h, sizeof h);
		be32_store(h + 20, 13);
		be64_store(h + 72, QCOW2_INCOMPAT_EXTL2);
		assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), -1);
		assert_int_equal(e.off, 20);
		assert_non_null(strstr(e.msg, "smaller than 512 bytes"));
		/* 16 KiB: 128-bit entries, 1024 per L2 table */
		be32_store(h + 20, 14);
		assert_int_equal(ukit_qcow2_header_parse(h, sizeof h, &q, &e), 0);
		assert_true(q.extended_l2);
		assert_int_equal(q.l2_entries, 1024);
	}
}

/* Snapshot table entries: the fields, and malformed ones refused where. */
static void test_snapshot_entry(void **state)
{
	static const struct {
		size_t len;         /* of the table */
		uint32_t extra;
		uint16_t id_len, name_len;
		uint64_t err_off;   /* FMT_NOOFF: parses */
		const char *msg;
	} t[] = {
		{ 80, 24, 1, 2, FMT_NOOFF, NULL },
		{ 48, 0, 1, 2, FMT_NOOFF, NULL },
		{ 39, 0, 0, 0, 0x1000, "past the end of the table" },
		{ 80, 1025, 1, 2, 0x1000 + 36, "extra data of 1025 bytes" },
		{ 64, 24, 1, 2, 0x1000, "(id 1, name 2, extra data 24 bytes) "
		  "past the end" },
		{ 80, 24, 0xffff, 0xffff, 0x1000, "past the end of the table" },
	};
	uint8_t tab[96];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct qcow2_snapshot sn;
		struct fmt_err e = { .path = "mem", .off = FMT_NOOFF };
		size_t pos = 0;
		int rc;

		memset(tab, 0, sizeof tab);
		be64_store(tab, 5 * CS);
		be32_store(tab + 8, 1);
		be16_store(tab + 12, t[i].id_len);
		be16_store(tab + 14, t[i].name_len);
		be32_store(tab + 16, 1700000000);
		be32_store(tab + 20, 42);
		be64_store(tab + 24, 3723004000000ULL);   /* 1:02:03.004 */
		be32_store(tab + 32, 7);
		be32_store(tab + 36, t[i].extra);
		if (t[i].extra == 24) {
			be64_store(tab + 40, 1ULL << 33);  /* large VM state */
			be64_store(tab + 56, 99);          /* icount */
		}
		memcpy(tab + 40 + (t[i].extra == 24 ? 24 : 0), "1s1", 3);
		rc = ukit_qcow2_snapshot_entry(tab, t[i].len, &pos, 0x1000, &sn, &e);
		if (t[i].msg != NULL) {
			if (rc != -1 || e.off != t[i].err_off ||
			    strstr(e.msg, t[i].msg) == NULL)
				fail_msg("case %zu: rc %d off 0x%llx '%s'", i,
					 rc, (unsigned long long)e.off, e.msg);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(sn.l1_table_offset == 5 * CS);
		assert_int_equal(sn.date_sec, 1700000000);
		assert_int_equal(sn.date_nsec, 42);
		assert_true(sn.vm_clock_nsec == 3723004000000ULL);
		assert_int_equal(sn.id_len, 1);
		assert_memory_equal(sn.id, "1", 1);
		assert_int_equal(sn.name_len, 2);
		assert_memory_equal(sn.name, "s1", 2);
		if (t[i].extra == 24) {
			assert_true(sn.vm_state_size == 1ULL << 33);
			assert_true(sn.icount == 99);
			assert_int_equal(pos, 72);      /* 67, padded to 8 */
		} else {
			assert_true(sn.vm_state_size == 7);
			assert_true(sn.icount == UINT64_MAX);
			assert_int_equal(pos, 48);      /* 43, padded to 8 */
		}
	}
}

/*
 * Runs of clusters of one kind in one L2 table (ukit_qcow2_run()): how
 * far each goes with and without QCOW2_RUN_CONTIG, zero clusters with
 * and without host clusters, a hole with a flag bit, the (max) bound,
 * a whole unallocated table at once, and a bad entry met by a run.
 */
static void test_runs(void **state)
{
	static const uint64_t l2[16] = {
		6 * CS, 7 * CS, 9 * CS, 0, 0,
		QCOW2_OFLAG_ZERO | 10 * CS, QCOW2_OFLAG_ZERO | 11 * CS,
		QCOW2_OFLAG_ZERO, QCOW2_OFLAG_ZERO,
		QCOW2_OFLAG_COMPRESSED | 12 * CS,
		QCOW2_OFLAG_COMPRESSED | 12 * CS + 512,
		QCOW2_OFLAG_COPIED, 0, 13 * CS, 14 * CS, 15 * CS,
	};
	static const struct {
		uint64_t vc, max;
		unsigned flags;
		enum qcow2_ctype type;
		uint64_t n, host;
	} t[] = {
		{ 0, 16, 0, QCOW2_C_NORMAL, 3, 6 * CS },
		{ 0, 16, QCOW2_RUN_CONTIG, QCOW2_C_NORMAL, 2, 6 * CS },
		{ 0, 1, 0, QCOW2_C_NORMAL, 1, 6 * CS },
		{ 0, 0, 0, QCOW2_C_NORMAL, 1, 6 * CS },
		{ 2, 16, QCOW2_RUN_CONTIG, QCOW2_C_NORMAL, 1, 9 * CS },
		{ 3, 16, 0, QCOW2_C_HOLE, 2, 0 },
		{ 5, 16, 0, QCOW2_C_ZERO, 4, 10 * CS },
		{ 5, 16, QCOW2_RUN_CONTIG, QCOW2_C_ZERO, 2, 10 * CS },
		{ 6, 16, QCOW2_RUN_CONTIG, QCOW2_C_ZERO, 1, 11 * CS },
		{ 7, 16, QCOW2_RUN_CONTIG, QCOW2_C_ZERO, 2, 0 },
		{ 9, 16, QCOW2_RUN_CONTIG, QCOW2_C_COMPRESSED, 2, 12 * CS },
		{ 11, 12, 0, QCOW2_C_HOLE, 1, 0 },
		{ 13, 100, QCOW2_RUN_CONTIG, QCOW2_C_NORMAL, 3, 13 * CS },
	};
	struct fmt_err e = { .path = "mem" };
	struct ukit_qcow2_run r;
	struct image *img = NULL;
	struct qcow2 *q;
	uint8_t v[8];
	int fd;

	(void)state;
	fd = mkimage(4 * CS, 0, 6 * CS);
	assert_int_equal(ftruncate(fd, 32 * CS), 0);
	for (size_t i = 0; i < ARRAY_SIZE(l2); i++) {
		be64_store(v, l2[i]);
		assert_int_equal(pwrite(fd, v, 8, 4 * CS + 8 * i), 8);
	}
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), 0);
	q = ukit_image_qcow2(img);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (ukit_qcow2_run(q, t[i].vc, t[i].max, t[i].flags, &r, &e) != 0 ||
		    r.c.type != t[i].type || r.n != t[i].n ||
		    r.c.host != t[i].host)
			fail_msg("case %zu: type %d n %llu host 0x%llx (%s)", i,
				 r.c.type, (unsigned long long)r.n,
				 (unsigned long long)r.c.host, e.msg);
	}
	assert_int_equal(ukit_qcow2_run(q, 16, 17, 0, &r, &e), -1);
	assert_non_null(strstr(e.msg, "past the virtual size"));
	ukit_image_close(img);
	/* a run that meets a bad entry: refused, naming the entry */
	be64_store(v, 13 * CS + 512);
	assert_int_equal(pwrite(fd, v, 8, 4 * CS + 8 * 13), 8);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), 0);
	q = ukit_image_qcow2(img);
	assert_int_equal(ukit_qcow2_run(q, 11, 16, 0, &r, &e), -1);
	assert_int_equal(e.off, 4 * CS + 8 * 13);
	assert_non_null(strstr(e.msg, "not aligned"));
	ukit_image_close(img);
	close(fd);
	/* an unallocated L2 table: its whole span, one hole */
	fd = mkimage(0, 0, 6 * CS);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), 0);
	q = ukit_image_qcow2(img);
	assert_int_equal(ukit_qcow2_run(q, 3, 100, 0, &r, &e), 0);
	assert_int_equal(r.c.type, QCOW2_C_HOLE);
	assert_int_equal(r.n, 13);
	ukit_image_close(img);
	close(fd);
}

static void test_l2_shared(void **state)
{
	struct fmt_err e = { .path = "mem" };
	struct image *img = NULL;
	uint8_t v[8];
	int fd;

	(void)state;
	/* 1 GiB needs two L1 entries; both name the same L2 table */
	fd = mkimage(4 * CS, 5 * CS, 6 * CS);
	be64_store(v, 1ULL << 30);
	assert_int_equal(pwrite(fd, v, 8, 24), 8);
	be32_store(v, 2);
	assert_int_equal(pwrite(fd, v, 4, 36), 4);
	be64_store(v, 4 * CS);
	assert_int_equal(pwrite(fd, v, 8, 3 * CS + 8), 8);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), -1);
	assert_int_equal(e.off, 3 * CS);
	assert_non_null(strstr(e.msg, "used by another L1 entry"));
	close(fd);
	/* an L2 table on the L1 table, or on the refcount table */
	for (int i = 0; i < 2; i++) {
		fd = mkimage(i ? 1 * CS : 3 * CS, 0, 6 * CS);
		assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img,
					    &e), -1);
		assert_int_equal(e.off, 3 * CS);
		assert_non_null(strstr(e.msg, "overlaps the L1 or refcount"));
		close(fd);
	}
}

static void test_corrupt_bit(void **state)
{
	struct fmt_err e = { .path = "mem" };
	struct image_opts o = { .allow_corrupt = true };
	struct image *img = NULL;
	uint8_t v[8];
	int fd = mkimage(4 * CS, 5 * CS, 6 * CS);

	(void)state;
	be64_store(v, QCOW2_INCOMPAT_CORRUPT);
	assert_int_equal(pwrite(fd, v, 8, 72), 8);
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, NULL, &img, &e), -1);
	assert_int_equal(e.off, 72);
	assert_non_null(strstr(e.msg, "marked corrupt"));
	assert_int_equal(ukit_image_open(fd, "mem", IMG_PROBE, &o, &img, &e), 0);
	ukit_image_close(img);
	close(fd);
}

/* One bitmap directory entry: name "b0", (extra) bytes of extra data. */
static size_t bm_entry(uint8_t *d, uint32_t extra, uint16_t name_len)
{
	memset(d, 0, 64);
	be64_store(d, 0x50000);
	be32_store(d + 8, 1);
	be32_store(d + 12, 2);
	d[16] = 1;
	d[17] = 16;
	be16_store(d + 18, name_len);
	be32_store(d + 20, extra);
	memcpy(d + 24 + extra, "b0", 2);
	return (24 + extra + name_len + 7) & ~(size_t)7;
}

static void test_bitmap_entry(void **state)
{
	static const struct {
		uint32_t extra;
		uint16_t name_len;
		size_t len;          /* directory bytes */
		const char *err;     /* NULL: parses */
		uint64_t off;
	} t[] = {
		{ 0, 2, 32, NULL, 0 },
		{ 4, 2, 32, NULL, 0 },
		{ 0, 2, 20, "past the end of the directory (0x14 bytes)", 0x1000 },
		{ 0, 9, 32, "(name 9 bytes, extra data 0 bytes) past the end", 0x1000 },
		{ 0x7fffffff, 2, 32, "extra data 2147483647 bytes", 0x1000 },
		{ 0, 0, 32, "bitmap name length 0 outside 1..1023", 0x1012 },
	};
	struct qcow2_bitmap b;
	uint8_t d[64];

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct fmt_err e = { .off = FMT_NOOFF };
		size_t pos = 0, next = bm_entry(d, t[i].extra < 32 ?
						t[i].extra : 0, 2);
		int rc;

		be32_store(d + 20, t[i].extra);
		be16_store(d + 18, t[i].name_len);
		rc = ukit_qcow2_bitmap_entry(d, t[i].len, &pos, 0x1000, &b, &e);
		if (t[i].err == NULL) {
			assert_int_equal(rc, 0);
			assert_string_equal(b.name, "b0");
			assert_int_equal(b.table_offset, 0x50000);
			assert_int_equal(b.granularity_bits, 16);
			assert_int_equal(b.flags, 2);
			assert_int_equal(pos, next);
		} else {
			assert_int_equal(rc, -1);
			if (strstr(e.msg, t[i].err) == NULL)
				fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
					 t[i].err);
			assert_int_equal(e.off, t[i].off);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_valid),
		cmocka_unit_test(test_header_hostile),
		cmocka_unit_test(test_header_short),
		cmocka_unit_test(test_header_extensions),
		cmocka_unit_test(test_compressed_desc),
		cmocka_unit_test(test_decompress),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_content),
		cmocka_unit_test(test_subclusters),
		cmocka_unit_test(test_snapshot_entry),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_l2_shared),
		cmocka_unit_test(test_corrupt_bit),
		cmocka_unit_test(test_bitmap_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
