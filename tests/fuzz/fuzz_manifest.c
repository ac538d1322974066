/*
 * fuzz_manifest.c: ukit_manifest_parse() on arbitrary bytes; whatever it
 * accepts must encode, decode back to the same manifest in both byte
 * orders, and write C source and an object.  Also feeds the raw bytes to
 * ukit_manifest_desc_decode() as a descriptor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct manifest *a, const struct manifest *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->dev[i].name, b->dev[i].name) != 0 ||
		    a->dev[i].type != b->dev[i].type)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t note[MFT_NOTE_MAX];
	struct manifest m, back;
	struct fmt_err e;
	uint8_t *obj;
	size_t len;
	char *c;

	(void)ukit_manifest_desc_decode(data, size, size & 1, &back, &e);
	if (ukit_manifest_parse((const char *)data, size, &m, &e) < 0) {
		if (memchr(e.msg, '\0', sizeof e.msg) == NULL)
			abort();
		return 0;
	}
	for (int be = 0; be <= 1; be++) {
		size_t sz = manifest_note_size(m.n);

		if (sz > sizeof note ||
		    ukit_manifest_note_encode(&m, be, note, sz, &e) < 0 ||
		    ukit_manifest_desc_decode(note + 20, sz - 20, be, &back, &e) < 0)
			abort();
		same(&m, &back);
	}
	if (ukit_manifest_c_source(&m, &c, &len, &e) < 0 || strlen(c) != len)
		abort();
	free(c);
	if (ukit_manifest_object(&m, MFT_ARCH_AARCH64, &obj, &len, &e) < 0)
		abort();
	free(obj);
	return 0;
}
