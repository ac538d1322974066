/*
 * fuzz_tender.c: libFuzzer harness for the tender's view of an ELF file
 * (ukit_elfimg_open_tender: ELF header and program headers only, a bad
 * section header table noted, not fatal) on (buf, len) in a memfd: open,
 * program and section headers, every note, the Solo5 lookup with the
 * tender's refusals, the notes JSON and the section table error.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfimg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { .path = "fuzz" };
	struct elfimg *img;
	struct elfimg_notes it;
	struct elfimg_note n;
	struct manifest m;
	struct solo5_abi abi;
	struct ukit_elfimg_phdr ph;
	struct ukit_elfimg_shdr sh;
	const struct fmt_err *se;
	bool hm, ha;
	json_t *j;
	int fd, r;
	volatile uint32_t sink = 0;

	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	if (ukit_elfimg_open_tender(fd, "fuzz", &img, &e) < 0) {
		close(fd);
		return 0;
	}
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
	if ((se = ukit_elfimg_section_error(img)) != NULL)
		sink += (uint32_t)strlen(se->msg);
	ukit_elfimg_close(img);
	close(fd);
	(void)sink;
	return 0;
}
