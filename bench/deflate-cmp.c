/*
 * deflate-cmp.c FILE [CLUSTER]: compress every non-zero cluster of FILE
 * (default 64 KiB) with ukit's deflate and with zlib -6 as qemu sets it
 * up (raw, windowBits -12, memLevel 9), one thread each; print the CPU
 * time and bytes of each, and check that every ukit stream inflates back.
 * Built and run by bench/deflate.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "deflate.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t cs = argc > 2 ? strtoul(argv[2], NULL, 0) : 65536;
	FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
	uint8_t *in = malloc(cs), *out = malloc(cs), *back = malloc(cs);
	struct deflate *d = ukit_deflate_new();
	double tu = 0, tz = 0, t0;
	size_t su = 0, sz = 0, n = 0;
	z_stream z, iz;

	if (f == NULL || !in || !out || !back || !d) {
		fprintf(stderr, "usage: deflate-cmp FILE [CLUSTER]\n");
		return 2;
	}
	memset(&z, 0, sizeof z);
	memset(&iz, 0, sizeof iz);
	if (deflateInit2(&z, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK ||
	    inflateInit2(&iz, -12) != Z_OK)
		return 1;
	while (fread(in, 1, cs, f) == cs) {
		size_t c, i;

		for (i = 0; i < cs && in[i] == 0; i++)
			;
		if (i == cs)
			continue;
		n++;
		t0 = now();
		c = ukit_deflate_compress(d, in, cs, out, cs - 1);
		tu += now() - t0;
		if (c > 0) {
			inflateReset(&iz);
			iz.next_in = out;
			iz.avail_in = (uInt)c;
			iz.next_out = back;
			iz.avail_out = (uInt)cs;
			if (inflate(&iz, Z_FINISH) != Z_STREAM_END ||
			    memcmp(back, in, cs) != 0) {
				printf("cluster %zu does not inflate back\n", n);
				return 1;
			}
		}
		su += c ? c : cs;
		t0 = now();
		deflateReset(&z);
		z.next_in = in;
		z.avail_in = (uInt)cs;
		z.next_out = out;
		z.avail_out = (uInt)(cs - 1);
		sz += deflate(&z, Z_FINISH) == Z_STREAM_END
			? cs - 1 - z.avail_out : cs;
		tz += now() - t0;
	}
	printf("%zu clusters of %zu bytes\n", n, cs);
	printf("ukit deflate: %8.3f s %12zu bytes\n", tu, su);
	printf("zlib -6:      %8.3f s %12zu bytes\n", tz, sz);
	printf("time ratio ukit/zlib %.3f, size ratio ukit/zlib %.4f\n",
	       tu / tz, (double)su / (double)sz);
	return 0;
}
