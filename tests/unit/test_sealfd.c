/*
 * test_sealfd.c: a sealed copy cannot be written, grown, shrunk or
 * unsealed, and only a sealed copy is handed to a child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sealfd.h"

static void test_sealed_copy_is_immutable(void **state)
{
	struct fmt_err e = { 0 };
	char path[64], buf[8];
	int fd = ukit_sealfd_create("ukit-test", &e), rfd;

	(void)state;
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(ukit_sealfd_exec_fd(fd, path, sizeof path, &e), -1);
	assert_non_null(strstr(e.msg, "unsealed copy"));
	assert_int_equal(write(fd, "verified", 8), 8);
	assert_int_equal(ukit_sealfd_seal(fd, &e), 0);
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(ftruncate(fd, 4), -1);
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, 0), -1);   /* F_SEAL_SEAL */
	assert_true(mmap(NULL, 8, PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	assert_int_equal(ukit_sealfd_exec_fd(fd, path, sizeof path, &e), 0);
	assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* a reader through /proc/self/fd/N sees the bytes from offset 0 */
	rfd = open(path, O_RDONLY);
	assert_true(rfd >= 0);
	assert_int_equal(read(rfd, buf, sizeof buf), 8);
	assert_memory_equal(buf, "verified", 8);
	close(rfd);
	/* reopening for writing does not get around the seal */
	rfd = open(path, O_WRONLY);
	assert_true(rfd >= 0);
	assert_int_equal(write(rfd, "x", 1), -1);
	close(rfd);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_copy_is_immutable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
