/*
 * test_verity.c: dm-verity roots: the published known value, every way of
 * feeding the same bytes (chunks, holes, leaves, threads) gives one root,
 * the hash file layout, and misuse (short, long, empty input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bytes.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "verity.h"

#define MIB (1u << 20)

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < VERITY_DIGEST; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Block i of 4096 bytes of the value i (mod 256). */
static uint8_t *pattern(size_t blocks)
{
	uint8_t *b = malloc(blocks * VERITY_BLOCK);

	assert_non_null(b);
	for (size_t i = 0; i < blocks; i++)
		memset(b + i * VERITY_BLOCK, (int)(i & 0xff), VERITY_BLOCK);
	return b;
}

static void root_of(const uint8_t *buf, size_t len, size_t chunk,
		    const uint8_t *salt, size_t salt_len, uint8_t *root)
{
	struct verity *v;
	struct fmt_err e = { 0 };

	assert_int_equal(ukit_verity_init(len, salt, salt_len, -1, &v, &e), 0);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(ukit_verity_update(v, buf + off, n, &e), 0);
	}
	assert_int_equal(ukit_verity_final(v, root, &e), 0);
	ukit_verity_free(v);
}

static void test_known_value(void **state)
{
	uint8_t *buf = pattern(256), root[VERITY_DIGEST];
	char h[2 * VERITY_DIGEST + 1];

	(void)state;
	root_of(buf, MIB, 65536, NULL, 0, root);
	hex(root, h);
	assert_string_equal(h, "727a5f79ecd16a7dc3a71043f0ce673f"
			       "8864a3738a8277788c895415084d8655");
	free(buf);
}

static void test_chunkings_agree(void **state)
{
	static const size_t chunks[] = { 1, 7, 4095, 4096, 4097, 100000, MIB };
	uint8_t *buf = pattern(256), ref[VERITY_DIGEST], r[VERITY_DIGEST];

	(void)state;
	root_of(buf, MIB, MIB, NULL, 0, ref);
	for (size_t i = 1; i < ARRAY_SIZE(chunks); i++) {
		root_of(buf, MIB, chunks[i], NULL, 0, r);
		assert_memory_equal(r, ref, VERITY_DIGEST);
	}
	free(buf);
}

/* Holes fed with ukit_verity_zeros() equal zero bytes fed as data. */
static void test_holes_equal_zero_data(void **state)
{
	/* sizes across level boundaries: 1, 128, 129, 16384+1 blocks */
	static const uint64_t sizes[] = { 2, 4096, 128 * 4096, 129 * 4096,
					  (16384 + 1) * 4096ULL, 5000 };
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t size = sizes[i];
		uint8_t *buf = calloc(1, size);
		uint8_t r1[VERITY_DIGEST], r2[VERITY_DIGEST];
		struct verity *v;

		/* a few data bytes at the start and end, zeros between */
		buf[0] = 1;
		buf[size - 1] = 2;
		root_of(buf, size, 12345, NULL, 0, r1);
		assert_int_equal(ukit_verity_init(size, NULL, 0, -1, &v, &e), 0);
		assert_int_equal(ukit_verity_update(v, buf, 1, &e), 0);
		if (size > 2)
			assert_int_equal(ukit_verity_zeros(v, size - 2, &e), 0);
		assert_int_equal(ukit_verity_update(v, buf + size - 1, 1, &e), 0);
		assert_int_equal(ukit_verity_final(v, r2, &e), 0);
		ukit_verity_free(v);
		assert_memory_equal(r1, r2, VERITY_DIGEST);
		free(buf);
	}
}

/* A one-block image has no hash blocks: the root is the block's digest. */
static void test_one_block(void **state)
{
	uint8_t blk[VERITY_BLOCK], root[VERITY_DIGEST], d[VERITY_DIGEST];
	uint8_t salt[4] = { 1, 2, 3, 4 }, in[sizeof salt + sizeof blk];

	(void)state;
	memset(blk, 0xa5, sizeof blk);
	root_of(blk, 100, 100, salt, sizeof salt, root);
	memset(blk + 100, 0, sizeof blk - 100);   /* the padded block */
	memcpy(in, salt, sizeof salt);            /* v1: salt first */
	memcpy(in + sizeof salt, blk, sizeof blk);
	assert_int_equal(EVP_Digest(in, sizeof in, d, NULL, EVP_sha256(), NULL),
			 1);
	assert_memory_equal(root, d, VERITY_DIGEST);
	assert_true(ukit_verity_tree_size(4096) == 0);
}

static void test_salt_changes_root(void **state)
{
	uint8_t *buf = pattern(4), a[VERITY_DIGEST], b[VERITY_DIGEST];
	uint8_t salt[32] = { 0x42 };

	(void)state;
	root_of(buf, 4 * VERITY_BLOCK, 4096, NULL, 0, a);
	root_of(buf, 4 * VERITY_BLOCK, 4096, salt, sizeof salt, b);
	assert_memory_not_equal(a, b, VERITY_DIGEST);
	free(buf);
}

/* Tree layout: top level first; level 0 (the data digests) last. */
static void test_hash_file_layout(void **state)
{
	char path[] = "/tmp/ukit-verity-XXXXXX";
	int fd = mkstemp(path);
	size_t blocks = 300;                     /* 3 level-0 blocks + 1 top */
	uint8_t *buf = pattern(blocks), root[VERITY_DIGEST], d[VERITY_DIGEST];
	uint8_t tree[4 * VERITY_BLOCK], top_d[VERITY_DIGEST];
	struct verity *v;
	struct fmt_err e = { 0 };

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_true(ukit_verity_tree_size(blocks * VERITY_BLOCK) == sizeof tree);
	assert_int_equal(ukit_verity_init(blocks * VERITY_BLOCK, NULL, 0, fd, &v,
				     &e), 0);
	assert_int_equal(ukit_verity_update(v, buf, blocks * VERITY_BLOCK, &e), 0);
	assert_int_equal(ukit_verity_final(v, root, &e), 0);
	assert_int_equal(pread(fd, tree, sizeof tree, 0), (ssize_t)sizeof tree);
	/* block 1 starts level 0: the digest of data block 0 */
	assert_int_equal(ukit_verity_hash_block(v, buf, d, &e), 0);
	assert_memory_equal(tree + VERITY_BLOCK, d, VERITY_DIGEST);
	/* data block 299 is the 44th digest of level-0 block 2 (3rd) */
	assert_int_equal(ukit_verity_hash_block(v, buf + 299 * VERITY_BLOCK, d, &e),
			 0);
	assert_memory_equal(tree + 3 * VERITY_BLOCK + 43 * VERITY_DIGEST, d,
			    VERITY_DIGEST);
	/* block 0 is the top level; the root is its digest */
	assert_int_equal(ukit_verity_hash_block(v, tree, top_d, &e), 0);
	assert_memory_equal(top_d, root, VERITY_DIGEST);
	ukit_verity_free(v);
	close(fd);
	free(buf);
}

struct mem { const uint8_t *p; uint64_t size; };

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off,
		    struct fmt_err *e)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		return ukit_fmt_errf(e, off, "read past end");
	memcpy(buf, m->p + off, len);
	return 0;
}

/* Claim [off, off+64 KiB) is zeros where the bytes are zero. */
static int mem_map(void *ctx, uint64_t off, uint64_t *len, struct fmt_err *e)
{
	struct mem *m = ctx;
	uint64_t n = m->size - off < 65536 ? m->size - off : 65536;

	(void)e;
	*len = n;
	for (uint64_t i = 0; i < n; i++)
		if (m->p[off + i] != 0)
			return 0;
	return 1;
}

static void test_parallel_agrees(void **state)
{
	static const uint64_t sizes[] = { 1, 4096, 9 * MIB + 123, 12 * MIB };
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t size = sizes[i];
		uint8_t *buf = calloc(1, size), a[VERITY_DIGEST],
			b[VERITY_DIGEST];
		struct mem m = { buf, size };

		for (uint64_t off = 0; off < size; off += 3 * MIB)
			memset(buf + off, 0x5a, size - off < 8192 ?
			       (size_t)(size - off) : 8192);
		root_of(buf, size, 65536, NULL, 0, a);
		for (unsigned t = 1; t <= 3; t++) {
			memset(b, 0, sizeof b);
			assert_int_equal(ukit_verity_root_parallel(size, NULL, 0,
				mem_read, t == 2 ? mem_map : NULL, &m, t, b,
				&e), 0);
			assert_memory_equal(a, b, VERITY_DIGEST);
			memset(b, 0, sizeof b);
			assert_int_equal(ukit_verity_root_parallel_mem(buf, size,
				NULL, 0, t == 2 ? mem_map : NULL, &m, t, b,
				&e), 0);
			assert_memory_equal(a, b, VERITY_DIGEST);
		}
		free(buf);
	}
}

static void test_misuse(void **state)
{
	uint8_t buf[8192] = { 0 }, root[VERITY_DIGEST], salt[300] = { 0 };
	struct verity *v;
	struct fmt_err e = { 0 };

	(void)state;
	assert_int_equal(ukit_verity_init(0, NULL, 0, -1, &v, &e), -1);
	assert_non_null(strstr(e.msg, "image is empty"));
	assert_int_equal(ukit_verity_init(1, salt, sizeof salt, -1, &v, &e), -1);
	assert_non_null(strstr(e.msg, "salt of 300 bytes"));

	assert_int_equal(ukit_verity_init(4096, NULL, 0, -1, &v, &e), 0);
	assert_int_equal(ukit_verity_update(v, buf, 4097, &e), -1);
	assert_non_null(strstr(e.msg, "more data than the declared 4096"));
	assert_int_equal(ukit_verity_update(v, buf, 100, &e), 0);
	assert_int_equal(ukit_verity_final(v, root, &e), -1);
	assert_non_null(strstr(e.msg, "data ends early (100 of 4096"));
	ukit_verity_free(v);
	ukit_verity_free(NULL);
}

static void test_json_round_trip(void **state)
{
	uint8_t root[VERITY_DIGEST], salt[3] = { 0xde, 0xad, 0x01 };
	uint8_t r2[VERITY_DIGEST], s2[VERITY_SALT_MAX];
	size_t slen = 99;
	struct fmt_err e = { 0 };
	json_t *o;
	char *txt;

	(void)state;
	for (int i = 0; i < VERITY_DIGEST; i++)
		root[i] = (uint8_t)i;
	o = ukit_verity_json(root, NULL, 0, &e);
	txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(txt, "{\"version\":1,\"hash\":\"sha256\","
		"\"data-block-size\":4096,\"hash-block-size\":4096,"
		"\"root-hash\":\"000102030405060708090a0b0c0d0e0f"
		"101112131415161718191a1b1c1d1e1f\"}");
	free(txt);
	assert_int_equal(ukit_verity_json_parse(o, r2, s2, &slen, &e), 0);
	assert_memory_equal(r2, root, VERITY_DIGEST);
	assert_int_equal(slen, 0);
	json_decref(o);
	o = ukit_verity_json(root, salt, sizeof salt, &e);
	assert_string_equal(json_string_value(json_object_get(o, "salt")),
			    "dead01");
	assert_int_equal(ukit_verity_json_parse(o, r2, s2, &slen, &e), 0);
	assert_int_equal(slen, 3);
	assert_memory_equal(s2, salt, 3);
	json_decref(o);
}

static void test_json_rejects(void **state)
{
	static const struct { const char *json, *msg; } t[] = {
		{ "[]", "not an object" },
		{ "{\"version\":0}", "version: want 1" },
		{ "{\"version\":1,\"hash\":\"sha1\"}", "hash: want" },
		{ "{\"version\":1,\"hash\":\"sha256\",\"data-block-size\":512}",
		  "data-block-size: want 4096" },
		{ "{\"version\":1,\"hash\":\"sha256\",\"data-block-size\":4096,"
		  "\"hash-block-size\":4096,\"root-hash\":\"00\"}",
		  "root-hash: want 64 hex" },
		{ "{\"version\":1,\"hash\":\"sha256\",\"data-block-size\":4096,"
		  "\"hash-block-size\":4096,\"root-hash\":\"%s\",\"salt\":\"\"}",
		  "salt: want 1..256" },
		{ "{\"version\":1,\"hash\":\"sha256\",\"data-block-size\":4096,"
		  "\"hash-block-size\":4096,\"root-hash\":\"%s\",\"salt\":\"abc\"}",
		  "salt: want" },
		{ "{\"version\":1,\"extra\":1}", "unknown key \"extra\"" },
	};
	char root[65], buf[512];
	uint8_t r[VERITY_DIGEST], salt[VERITY_SALT_MAX];
	size_t slen;
	struct fmt_err e = { 0 };

	(void)state;
	memset(root, 'a', 64);
	root[64] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		json_t *o;
		snprintf(buf, sizeof buf, t[i].json, root);
		o = json_loads(buf, 0, NULL);
		assert_non_null(o);
		assert_int_equal(ukit_verity_json_parse(o, r, salt, &slen, &e), -1);
		assert_non_null(strstr(e.msg, t[i].msg));
		json_decref(o);
	}
}

/* A sparse raw file through image.h: holes skipped, same root. */
static void test_image_sparse(void **state)
{
	char path[] = "/tmp/ukit-verity-img-XXXXXX";
	int fd = mkstemp(path);
	uint64_t size = 10 * MIB + 512;
	uint8_t *buf = calloc(1, size), a[VERITY_DIGEST], b[VERITY_DIGEST];
	uint8_t c[VERITY_DIGEST], salt[2] = { 7, 7 };
	struct image *img;
	struct fmt_err e = { 0 };

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (uint64_t off = 0; off < size; off += 3 * MIB + 4096) {
		memset(buf + off, 0x33, 5000);
		assert_int_equal(pwrite(fd, buf + off, 5000, (off_t)off), 5000);
	}
	root_of(buf, size, 65536, salt, sizeof salt, a);
	assert_int_equal(ukit_image_open(fd, path, IMG_RAW, NULL, &img, &e), 0);
	assert_int_equal(ukit_verity_image(img, salt, sizeof salt, -1, b, &e), 0);
	assert_memory_equal(a, b, VERITY_DIGEST);
	assert_int_equal(ukit_verity_image_parallel(img, fd, salt, sizeof salt, 2, c,
					       &e), 0);
	assert_memory_equal(a, c, VERITY_DIGEST);
	ukit_image_close(img);
	close(fd);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_value),
		cmocka_unit_test(test_chunkings_agree),
		cmocka_unit_test(test_holes_equal_zero_data),
		cmocka_unit_test(test_one_block),
		cmocka_unit_test(test_salt_changes_root),
		cmocka_unit_test(test_hash_file_layout),
		cmocka_unit_test(test_parallel_agrees),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_image_sparse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
