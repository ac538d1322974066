/*
 * test_base.c: byte order, checked arithmetic, errors, atomic output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "err.h"
#include "outfile.h"

static void test_byte_order(void **state)
{
	uint8_t b[8];

	(void)state;
	le32_store(b, 0x3154464d);
	assert_memory_equal(b, "MFT1", 4);
	assert_int_equal(le32_load(b), 0x3154464d);
	be32_store(b, 0x3154464d);
	assert_memory_equal(b, "1TFM", 4);
	assert_int_equal(ld32(b, true), 0x3154464d);
	st64(b, 0x0102030405060708ULL, true);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(ld64(b, true) == 0x0102030405060708ULL);
	st64(b, 0x0102030405060708ULL, false);
	assert_int_equal(b[0], 8);
	assert_int_equal(le16_load(b), 0x0708);
	assert_int_equal(be16_load(b), 0x0807);
}

static void test_checked_arith(void **state)
{
	static const struct { uint64_t a, b; bool add_ovf, mul_ovf; } t[] = {
		{ 0, 0, false, false },
		{ UINT64_MAX, 1, true, false },
		{ UINT64_MAX, 0, false, false },
		{ 1ULL << 32, 1ULL << 32, false, true },
		{ UINT64_MAX / 2 + 1, UINT64_MAX / 2 + 1, true, true },
	};
	uint64_t r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ck_add(t[i].a, t[i].b, &r), t[i].add_ovf);
		assert_int_equal(ck_mul(t[i].a, t[i].b, &r), t[i].mul_ovf);
	}
	assert_false(ck_align(4097, 4096, &r));
	assert_true(r == 8192);
	assert_true(ck_align(UINT64_MAX - 2, 4096, &r));
	assert_true(in_bounds(0, 10, 10));
	assert_false(in_bounds(1, 10, 10));
	assert_false(in_bounds(UINT64_MAX, 2, UINT64_MAX));
}

static void test_err_format(void **state)
{
	struct fmt_err e = { .path = "x.bin" };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(ukit_fmt_errf(&e, 0x30, "L1 table past end (0x%x > 0x%x)",
				  0x40000, 0x3000), -1);
	ukit_fmt_err_print(fp, "ukit-pack", &e);
	e.off = FMT_NOOFF;
	ukit_fmt_err_print(fp, "ukit-pack", &e);
	fclose(fp);
	assert_string_equal(buf,
		"ukit-pack: x.bin:0x30: L1 table past end (0x40000 > 0x3000)\n"
		"ukit-pack: x.bin: L1 table past end (0x40000 > 0x3000)\n");
	free(buf);
	assert_int_equal(ukit_fmt_errf(NULL, 0, "ignored"), -1);
}

static int mkdir_setup(void **state)
{
	char *d = strdup("/tmp/ukit-unit.XXXXXX");

	if (d == NULL || mkdtemp(d) == NULL)
		return -1;
	*state = d;
	return 0;
}

static int mkdir_teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *)*state);
	free(*state);
	return system(cmd) == 0 ? 0 : -1;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void test_outfile_commit_and_abort(void **state)
{
	const char *dir = *state;
	char path[512], buf[64];
	struct outfile o;
	struct fmt_err e = { .path = "out" };
	struct stat st;

	snprintf(path, sizeof path, "%s/out.bin", dir);
	assert_int_equal(ukit_outfile_open(&o, path, 0600, &e), 0);
	assert_int_equal(ukit_outfile_write(&o, "first", 5, &e), 0);
	/* nothing visible until commit */
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(ukit_outfile_commit(&o, &e), 0);
	slurp(path, buf, sizeof buf);
	assert_string_equal(buf, "first");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* an aborted rewrite leaves the old file and no temporary */
	assert_int_equal(ukit_outfile_open(&o, path, 0644, &e), 0);
	assert_int_equal(ukit_outfile_write(&o, "second", 6, &e), 0);
	ukit_outfile_abort(&o);
	slurp(path, buf, sizeof buf);
	assert_string_equal(buf, "first");
	assert_int_equal(count_entries(dir), 1);

	/* a committed rewrite replaces it whole */
	assert_int_equal(ukit_outfile_open(&o, path, 0644, &e), 0);
	assert_int_equal(ukit_outfile_write(&o, "second", 6, &e), 0);
	assert_int_equal(ukit_outfile_commit(&o, &e), 0);
	slurp(path, buf, sizeof buf);
	assert_string_equal(buf, "second");
	assert_int_equal(count_entries(dir), 1);
}

static void test_outfile_new_never_replaces(void **state)
{
	const char *dir = *state;
	char path[512], buf[64];
	struct outfile o;
	struct fmt_err e = { .path = "key" };
	struct stat st;

	snprintf(path, sizeof path, "%s/k.key", dir);
	assert_int_equal(ukit_outfile_open_new(&o, path, 0600, &e), 0);
	assert_int_equal(ukit_outfile_write(&o, "secret", 6, &e), 0);
	assert_int_equal(count_entries(dir), 0);   /* no name while written */
	assert_int_equal(ukit_outfile_commit(&o, &e), 0);
	slurp(path, buf, sizeof buf);
	assert_string_equal(buf, "secret");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* a second key of the same name is refused; the first is intact */
	assert_int_equal(ukit_outfile_open_new(&o, path, 0600, &e), 0);
	assert_int_equal(ukit_outfile_write(&o, "other", 5, &e), 0);
	assert_int_equal(ukit_outfile_commit(&o, &e), -1);
	assert_non_null(strstr(e.msg, "cannot create: File exists"));
	slurp(path, buf, sizeof buf);
	assert_string_equal(buf, "secret");
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(ukit_outfile_open_new(&o, "-", 0600, &e), -1);
}

static void test_outfile_bad_dir(void **state)
{
	struct outfile o;
	struct fmt_err e = { .path = "x" };

	(void)state;
	assert_int_equal(ukit_outfile_open(&o, "/nonexistent-ukit/dir/x", 0644, &e),
			 -1);
	assert_non_null(strstr(e.msg, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_order),
		cmocka_unit_test(test_checked_arith),
		cmocka_unit_test(test_err_format),
		cmocka_unit_test_setup_teardown(test_outfile_commit_and_abort,
						mkdir_setup, mkdir_teardown),
		cmocka_unit_test_setup_teardown(test_outfile_new_never_replaces,
						mkdir_setup, mkdir_teardown),
		cmocka_unit_test(test_outfile_bad_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
