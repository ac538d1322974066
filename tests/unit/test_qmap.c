/*
 * test_qmap.c: qemu-img measure's size estimate (numbers qemu-img 7.2
 * prints), the writer's refusals of option combinations (exact
 * messages), and resize refusing malformed images with the error
 * expected; a raw file's map in whole sectors, as qemu-img maps it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "imgopen.h"
#include "outfile.h"
#include "qcow2w.h"
#include "qmap.h"
#include "qresize.h"

static void test_prealloc_size(void **state)
{
	(void)state;
	/* qemu-img measure -O qcow2 --size N: fully-allocated */
	assert_int_equal(ukit_qcow2_prealloc_size(8ULL << 30, 65536, 16,
						  false), 8591507456ULL);
	assert_int_equal(ukit_qcow2_prealloc_size(1ULL << 30, 65536, 16,
						  false), 1074135040ULL);
	assert_int_equal(ukit_qcow2_prealloc_size(1000, 65536, 16, false),
			 393216);
}

static void test_measure_size(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 16, .version = 3 };
	struct fmt_err e = { .off = FMT_NOOFF };
	struct ukit_measure m;

	(void)state;
	assert_int_equal(ukit_measure_qcow2(NULL, 1000, &o, &m, &e), 0);
	assert_int_equal(m.required, 327680);
	assert_int_equal(m.fully_allocated, 393216);
	assert_int_equal(ukit_measure_qcow2(NULL, 1ULL << 30, &o, &m, &e), 0);
	assert_int_equal(m.required, 393216);
}

/* qemu-img map of a 1000-byte raw file: the data, then the rest of
 * the last sector as a hole at its own offset. */
static void test_map_raw_sectors(void **state)
{
	static uint8_t buf[1000];
	struct fmt_err e = { .off = FMT_NOOFF };
	struct image_opts io = { .force_share = true };
	struct ukit_map_chain c;
	struct ukit_map_entry m;
	struct image *img;
	int fd = memfd_create("raw", MFD_CLOEXEC);

	(void)state;
	memset(buf, 0xa5, sizeof buf);
	assert_true(fd >= 0);
	assert_int_equal(ukit_write_full(fd, buf, sizeof buf), 0);
	assert_int_equal(ukit_image_open(fd, "odd.raw", IMG_RAW, &io, &img,
					 &e), 0);
	assert_int_equal(ukit_map_chain_init(img, "odd.raw", &c, &e), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.l[0].size, 1024);
	assert_int_equal(ukit_map_entry(&c, 0, &m, &e), 0);
	assert_true(m.data && m.present && !m.zero && m.has_offset);
	assert_int_equal(m.length, 1000);
	assert_string_equal(m.file, "odd.raw");
	assert_int_equal(ukit_map_entry(&c, 1000, &m, &e), 0);
	assert_true(!m.data && m.present && m.zero && m.has_offset);
	assert_int_equal(m.offset, 1000);
	assert_int_equal(m.length, 24);
	assert_int_equal(m.depth, 0);
	ukit_image_close(img);
	close(fd);
}

static void test_geom_option_refusals(void **state)
{
	static const struct {
		struct qcow2w_opts o;
		const char *msg;
	} bad[] = {
		{ { .cluster_bits = 16, .version = 3, .refcount_bits = 3 },
		  "refcount bits 3 not a power of two from 1 to 64" },
		{ { .cluster_bits = 16, .version = 3, .refcount_bits = 128 },
		  "refcount bits 128 not a power of two from 1 to 64" },
		{ { .cluster_bits = 16, .version = 2, .refcount_bits = 8 },
		  "refcount bits other than 16 need compat 1.1 (v3)" },
		{ { .cluster_bits = 16, .version = 2, .lazy_refcounts = true },
		  "lazy refcounts need compat 1.1 (v3)" },
		{ { .cluster_bits = 16, .version = 2, .extended_l2 = true },
		  "extended L2 entries need compat 1.1 (v3)" },
		{ { .cluster_bits = 13, .version = 3, .extended_l2 = true },
		  "extended L2 entries need clusters of at least 16 KiB" },
		{ { .cluster_bits = 16, .version = 3, .comp = QCOW2W_ZLIB, .prealloc = QCOW2W_PREALLOC_METADATA },
		  "preallocation and compression exclude each other" },
		{ { .cluster_bits = 16, .version = 3, .backing_fmt = "raw" },
		  "a backing format without a backing file" },
		{ { .cluster_bits = 16, .version = 3, .backing_file = "" },
		  "backing file name of 0 bytes (want 1..1023)" },
		{ { .cluster_bits = 16, .version = 2, .zstd_header = true },
		  "zstd compression needs compat 1.1 (v3)" },
	};
	struct ukit_qcow2w_geom g;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fmt_err e = { .off = FMT_NOOFF };

		assert_int_equal(ukit_qcow2w_geom(&bad[i].o, 1 << 20, &g, &e), -1);
		assert_string_equal(e.msg, bad[i].msg);
	}
}

/* a written image in a memfd */
static int image_fd(const struct qcow2w_opts *o, uint64_t size)
{
	struct fmt_err e = { .off = FMT_NOOFF };
	struct qcow2w *w;
	int fd = memfd_create("t", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ukit_qcow2w_open(fd, "t", o, size, &w, &e), 0);
	assert_int_equal(ukit_qcow2w_finish(w, &e), 0);
	ukit_qcow2w_free(w);
	return fd;
}

static void test_resize_refusals(void **state)
{
	struct qcow2w_opts o = { .cluster_bits = 16, .version = 3 };
	struct fmt_err e = { .off = FMT_NOOFF };
	uint8_t b[8];
	int fd;

	(void)state;
	fd = image_fd(&o, 1 << 20);
	assert_int_equal(ukit_qcow2_resize(fd, 1000, false, true, &e), -1);
	assert_string_equal(e.msg, "the new size 1000 must be a multiple of "
			    "512 (as qemu-img says)");
	assert_int_equal(ukit_qcow2_resize(fd, 512, false, true, &e), -1);
	assert_string_equal(e.msg, "shrinking from 1048576 to 512 bytes "
			    "needs --shrink");
	/* the L1 table moved past end of file */
	be64_store(b, 1ULL << 40);
	assert_int_equal(ukit_pwrite_full(fd, b, 8, 40), 0);
	assert_int_equal(ukit_qcow2_resize(fd, 2 << 20, false, true, &e), -1);
	assert_string_equal(e.msg, "an L1 table at 0x10000000000 (0x8 bytes) "
			    "extends past end of file (0x40000) (image is "
			    "corrupt; see 'ukit-pack check'): resize changes "
			    "consistent images only");
	assert_int_equal(e.off, 40);     /* the header field that points there */
	close(fd);
	/* a snapshot count without a snapshot table: the check refuses it
	 * before anything is written (t55 resizes real snapshots) */
	fd = image_fd(&o, 1 << 20);
	be32_store(b, 1);
	assert_int_equal(ukit_pwrite_full(fd, b, 4, 60), 0);
	assert_int_equal(ukit_qcow2_resize(fd, 2 << 20, false, true, &e), -1);
	assert_string_equal(e.msg, "cluster 0x0 used as the header and as the "
			    "snapshot table (image is corrupt; see 'ukit-pack "
			    "check'): resize changes consistent images only");
	assert_int_equal(ukit_pread_full(fd, b, 8, 24), 8);
	assert_int_equal(be64_load(b), 1 << 20);
	close(fd);
	be32_store(b, 1);
	/* a v2 image with snapshots does not resize at all, as qemu */
	o.version = 2;
	fd = image_fd(&o, 1 << 20);
	assert_int_equal(ukit_pwrite_full(fd, b, 4, 60), 0);
	assert_int_equal(ukit_qcow2_resize(fd, 2 << 20, false, true, &e), -1);
	assert_int_equal(e.off, 60);
	assert_non_null(strstr(e.msg, "version 2"));
	close(fd);
	o.version = 3;
	/* grows and reads back the size */
	fd = image_fd(&o, 0);
	assert_int_equal(ukit_qcow2_resize(fd, 5ULL << 40, false, true, &e), 0);
	assert_int_equal(ukit_pread_full(fd, b, 8, 24), 8);
	assert_int_equal(be64_load(b), 5ULL << 40);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prealloc_size),
		cmocka_unit_test(test_measure_size),
		cmocka_unit_test(test_map_raw_sectors),
		cmocka_unit_test(test_geom_option_refusals),
		cmocka_unit_test(test_resize_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
