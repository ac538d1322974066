/*
 * fuzz_elfwalk.h: what the ELF harnesses (fuzz_notes.c, fuzz_tender.c)
 * do with an opened image, in one place: every program and section
 * header, every note of segments and sections (going on after errors:
 * the iterator must stay safe), the Solo5 lookup and the notes JSON.
 * A header of static functions, so each harness stays one file.
 */
#ifndef UKIT_FUZZ_ELFWALK_H
#define UKIT_FUZZ_ELFWALK_H

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elfimg.h"

/* Read everything (img) offers; a sum of what was read, so that the
 * reads are not optimized away. */
static uint32_t fuzz_elfwalk(struct elfimg *img)
{
	struct fmt_err e = { .path = "fuzz" };
	struct elfimg_notes it;
	struct elfimg_note n;
	struct manifest m;
	struct solo5_abi abi;
	struct ukit_elfimg_phdr ph;
	struct ukit_elfimg_shdr sh;
	bool hm, ha;
	json_t *j;
	int r;
	uint32_t sink = 0;

	for (size_t i = 0; i < ukit_elfimg_info(img)->phnum; i++)
		if (ukit_elfimg_phdr(img, i, &ph, &e) == 0)
			sink += ph.type;
	for (size_t i = 0; i < ukit_elfimg_info(img)->shnum && i < 64; i++)
		if (ukit_elfimg_shdr(img, i, &sh, &e) == 0)
			sink += (uint32_t)strlen(sh.name);
	ukit_elfimg_notes_begin(img, ELFIMG_SEGMENT | ELFIMG_SECTION, &it);
	for (int k = 0; k < 100000 && (r = ukit_elfimg_notes_next(&it, &n, &e)) != 0;
	     k++) {
		if (r < 0)
			continue;
		for (uint32_t i = 0; i < n.descsz; i++)
			sink += n.desc[i];
		sink += (uint32_t)strlen(n.name) + (uint32_t)strlen(n.section);
	}
	ukit_elfimg_notes_end(&it);
	if (ukit_elfimg_solo5(img, &m, &hm, &abi, &ha, &e) == 0 && hm)
		for (size_t i = 0; i < m.n; i++)
			sink += (uint32_t)strlen(m.dev[i].name);
	if (ukit_elfimg_notes_json(img, &j, &e) == 0) {
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		free(s);
		json_decref(j);
	}
	return sink;
}

#endif
