/*
 * fuzz_qcow2.c: the qcow2 header parser (buffer) and the table walker of
 * `check` (the input in a memfd): header limits, extensions, L1/L2 tables,
 * refcount table and blocks, snapshot table, compressed descriptors; and
 * the snapshot table as info lists it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukit_qcow2_header h;
	struct qcow2_check r;
	struct fmt_err e = { .path = "fuzz" };
	int fd;

	ukit_qcow2_header_parse(data, size, &h, &e);
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (ukit_write_full(fd, data, size) == 0) {
		ukit_qcow2_check_fd(fd, "fuzz", 0, &r, &e);
		ukit_qcow2_check_free(&r);
	}
	if (ukit_qcow2_header_parse(data, size, &h, &e) == 0) {
		struct qcow2_snapshot sn;
		uint8_t *tab = NULL;
		size_t len = 0, pos = 0;

		if (ukit_qcow2_snapshots_read(fd, &h, size, &tab, &len, &e) == 0)
			for (uint32_t i = 0; i < h.nb_snapshots; i++)
				if (ukit_qcow2_snapshot_entry(tab, len, &pos,
							 h.snapshots_offset,
							 &sn, &e) < 0)
					break;
		free(tab);
	}
	close(fd);
	return 0;
}
