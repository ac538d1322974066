/*
 * fuzz_oci_tar.c: layer reading as extract does it: decompression (the
 * first byte picks none 'T', gzip 'G' or zstd 'Z'), then the strict tar
 * reader over the result, every entry's data read to its end.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "ocijson.h"
#include "ocitar.h"
#include "ociunpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t n, pos;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, struct fmt_err *e)
{
	struct mem *m = ctx;

	(void)e;
	if (len > m->n - m->pos)
		len = m->n - m->pos;
	/* odd read sizes exercise the buffering */
	if (len > 1 && (m->pos & 1))
		len = len / 2;
	memcpy(buf, m->p + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { 0 };
	struct mem m = { data + 1, size ? size - 1 : 0, 0 };
	struct ukit_oci_source src = { mem_read, &m }, ds;
	struct ukit_oci_decomp *d = NULL;
	struct ukit_ocitar_rd r;
	struct ukit_ocitar_entry ent;
	const char *mt;
	uint8_t buf[4096];

	if (size == 0)
		return 0;
	mt = data[0] == 'G' ? OCI_MT_LAYER_GZ : data[0] == 'Z' ?
	     OCI_MT_LAYER_ZS : OCI_MT_LAYER;
	if (ukit_oci_decomp_open(mt, &src, &d, &e) != 0)
		return 0;
	ds.read = ukit_oci_decomp_read;
	ds.ctx = d;
	ukit_ocitar_rd_init(&r, &ds, "fuzz");
	while (ukit_ocitar_next(&r, &ent, &e) == 1) {
		ssize_t k;
		if (strstr(ent.name, "..") != NULL &&
		    (strcmp(ent.name, "..") == 0 ||
		     strncmp(ent.name, "../", 3) == 0 ||
		     strstr(ent.name, "/../") != NULL))
			__builtin_trap();       /* must have been refused */
		while ((k = ukit_ocitar_read(&r, buf, sizeof buf, &e)) > 0)
			;
		if (k < 0)
			break;
	}
	ukit_oci_decomp_close(d);
	return 0;
}
