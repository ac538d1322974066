/*
 * fuzz_deflate.c: ukit's deflate encoder on arbitrary bytes.  The first
 * byte picks how much room the output gets (enough, or a fraction of the
 * input); whatever the encoder returns must inflate, with zlib and qemu's
 * 4 KiB window, back to exactly the input, and it must never write past
 * the room it was given.  One compressor is kept across inputs, as a
 * worker keeps it across clusters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GUARD 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct deflate *d;
	size_t n, cap, c;
	uint8_t *out, *back;
	z_stream z;

	if (size < 1)
		return 0;
	if (d == NULL && (d = ukit_deflate_new()) == NULL)
		abort();
	n = size - 1;
	cap = data[0] < 128 ? n + n / 8 + 512 : n * (data[0] - 127) / 128;
	out = malloc(cap + GUARD);
	back = malloc(n + 1);
	if (out == NULL || back == NULL)
		abort();
	memset(out + cap, 0x5a, GUARD);
	c = ukit_deflate_compress(d, data + 1, n, out, cap);
	for (size_t i = 0; i < GUARD; i++)
		if (out[cap + i] != 0x5a)
			abort();          /* wrote past the room given */
	if (c > cap)
		abort();
	if (c == 0) {
		if (data[0] < 128)
			abort();          /* plenty of room, yet no stream */
		goto out;
	}
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, -12) != Z_OK)
		abort();
	z.next_in = out;
	z.avail_in = (uInt)c;
	z.next_out = back;
	z.avail_out = (uInt)n + 1;
	if (inflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out != n ||
	    z.avail_in != 0 || memcmp(back, data + 1, n) != 0)
		abort();
	inflateEnd(&z);
out:
	free(out);
	free(back);
	return 0;
}
