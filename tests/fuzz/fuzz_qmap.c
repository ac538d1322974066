/*
 * fuzz_qmap.c: what map, measure and resize read from a qcow2 image (the
 * input in a memfd): the map walk (host holes, subclusters), the
 * metadata preallocation guess (refcount table and blocks), the bitmap
 * sizes of measure, and an in-place resize (L1 table, L2 tables,
 * refcount table and blocks).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "imgopen.h"
#include "io.h"
#include "image.h"
#include "outfile.h"
#include "qcow2.h"
#include "qcow2w.h"
#include "qmap.h"
#include "qresize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_opts io = { .force_share = true };
	struct qcow2w_opts o = { .cluster_bits = 16, .version = 3 };
	struct fmt_err e = { .path = "fuzz" };
	struct image *img = NULL;
	struct ukit_measure m;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (ukit_write_full(fd, data, size) != 0)
		goto out;
	if (ukit_image_open(fd, "fuzz", IMG_QCOW2, &io, &img, &e) == 0) {
		const struct ukit_qcow2_header *h = ukit_qcow2_header(ukit_image_qcow2(img));
		struct ukit_map_entry x;
		struct ukit_map_chain c;
		uint64_t bm;
		unsigned n = 0;

		if (ukit_map_chain_init(img, "fuzz", &c, &e) == 0) {
			for (uint64_t off = 0; off < ukit_image_size(img) &&
			     n < 4096; off += x.length, n++)
				if (ukit_map_entry(&c, off, &x, &e) < 0 ||
				    x.length == 0)
					break;
			if (ukit_image_size(img) <= (1ULL << 34))
				ukit_measure_qcow2(&c, 0, &o, &m, &e);
		}
		ukit_qcow2_bitmaps_size(fd, h, size, 65536, &bm, &e);
		ukit_image_close(img);
		img = NULL;
	}
	ukit_qcow2_resize(fd, size * 2 + (1 << 20), true, true, &e);
	ukit_qcow2_resize(fd, 512, true, true, &e);
out:
	close(fd);
	return 0;
}
