/*
 * fuzz_tender.c: libFuzzer harness for the tender's view of an ELF file
 * (ukit_elfimg_open_tender: ELF header and program headers only, a bad
 * section header table noted, not fatal) on (buf, len) in a memfd: open,
 * program and section headers, every note, the Solo5 lookup with the
 * tender's refusals, the notes JSON (fuzz_elfwalk.h) and the section
 * table error.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfimg.h"
#include "fuzz_elfwalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { .path = "fuzz" };
	struct elfimg *img;
	const struct fmt_err *se;
	int fd;
	volatile uint32_t sink;

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
	sink = fuzz_elfwalk(img);
	if ((se = ukit_elfimg_section_error(img)) != NULL)
		sink += (uint32_t)strlen(se->msg);
	ukit_elfimg_close(img);
	close(fd);
	(void)sink;
	return 0;
}
