/*
 * fuzz_qcow2_read.c: the qcow2 cluster reader through image.h: the input
 * is written to a memfd, opened with the consistency check (as convert
 * opens it) and, if that refuses it, without (as --no-check), then mapped
 * extent by extent and every data extent read (bounded work per input),
 * every other one through an ukit_image_dup() of the handle (as convert's
 * workers read).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "image.h"
#include "imgopen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EXTENTS 4096
#define MAX_READ    (8u << 20)   /* bytes of virtual content per input */
#define CHUNK       (256u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	struct fmt_err e = { .path = "fuzz" };
	struct image_opts checked = { .check = true };
	struct image *img = NULL, *dup = NULL;
	uint64_t off = 0, done = 0;
	int fd;

	if (buf == NULL && (buf = malloc(CHUNK)) == NULL)
		return 0;
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (ukit_write_full(fd, data, size) < 0)
		goto out;
	if (ukit_image_open(fd, "fuzz", IMG_QCOW2, &checked, &img, &e) < 0 &&
	    ukit_image_open(fd, "fuzz", IMG_QCOW2, NULL, &img, &e) < 0)
		goto out;
	if (ukit_image_dup(img, &dup, &e) < 0)
		goto out;
	for (int n = 0; n < MAX_EXTENTS && off < ukit_image_size(img) &&
	     done < MAX_READ; n++) {
		struct image_extent x;

		if (ukit_image_map(img, off, &x, &e) < 0 || x.len == 0 ||
		    x.off != off)
			break;
		if (x.kind == EXT_DATA) {
			size_t len = x.len < CHUNK ? (size_t)x.len : CHUNK;

			if (ukit_image_read(n % 2 ? dup : img, buf, len, off,
				       &e) < 0)
				break;
			done += len;
			off += len;
		} else {
			off += x.len;
		}
	}
out:
	ukit_image_close(dup);
	ukit_image_close(img);
	close(fd);
	return 0;
}
