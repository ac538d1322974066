/*
 * zstd-floor IMAGE THREADS [LEVEL]: the least a qcow2 -c zstd conversion
 * of IMAGE can cost on this machine.  THREADS threads pread IMAGE 64 KiB
 * at a time, skip all-zero clusters and compress the rest with
 * ZSTD_compressCCtx at LEVEL (default 3, qemu's and ukit's), and nothing
 * else: no output, no metadata, no fsync.  Prints the wall time and the
 * compressed bytes.  Built and run by bench/zstd-floor.sh.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define CLUSTER 65536

static int fd, level;
static off_t size;
static atomic_llong next;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static void *work(void *arg)
{
	unsigned long long *out = arg;
	ZSTD_CCtx *z = ZSTD_createCCtx();
	unsigned char *in = malloc(CLUSTER), *buf = malloc(CLUSTER);

	if (z == NULL || in == NULL || buf == NULL)
		abort();
	for (;;) {
		long long off = atomic_fetch_add(&next, CLUSTER);
		ssize_t n;
		size_t c;

		if (off >= size)
			break;
		n = pread(fd, in, CLUSTER, off);
		if (n <= 0)
			abort();
		if (all_zero(in, (size_t)n))
			continue;
		c = ZSTD_compressCCtx(z, buf, CLUSTER - 1, in, (size_t)n, level);
		*out += ZSTD_isError(c) ? (unsigned long long)n : c;
	}
	ZSTD_freeCCtx(z);
	free(in);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[64];
	unsigned long long bytes[64] = { 0 }, total = 0;
	int nt;
	double t;

	if (argc < 3 || (nt = atoi(argv[2])) < 1 || nt > 64) {
		fprintf(stderr, "usage: zstd-floor IMAGE THREADS [LEVEL]\n");
		return 2;
	}
	level = argc > 3 ? atoi(argv[3]) : 3;
	if ((fd = open(argv[1], O_RDONLY)) < 0 ||
	    (size = lseek(fd, 0, SEEK_END)) < 0) {
		perror(argv[1]);
		return 1;
	}
	t = now();
	for (int i = 0; i < nt; i++)
		pthread_create(&th[i], NULL, work, &bytes[i]);
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		total += bytes[i];
	}
	printf("%d threads, level %d: %.3f s, %llu bytes compressed\n", nt,
	       level, now() - t, total);
	return 0;
}
