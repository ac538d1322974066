/*
 * fuzz_solo5.c: libFuzzer harness for the libelf-free Solo5 reader that
 * sign and the device verifier use (elfhdr.c, solo5.c): the bytes go into
 * a memfd, as a file would be read, then ukit_solo5_facts() and the lookups.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfhdr.h"
#include "io.h"
#include "solo5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { .path = "fuzz" };
	struct elfhdr h;
	struct manifest m;
	struct solo5_abi abi;
	bool hm, ha;
	json_t *j = NULL;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (ukit_write_full(fd, data, size) != 0)
		abort();
	if (ukit_solo5_facts(fd, "fuzz", &j, &e) == 0 && j != NULL) {
		char *s = json_dumps(j, JSON_COMPACT);

		free(s);
	}
	json_decref(j);
	if (ukit_elfhdr_read(fd, "fuzz", &h, &e) == 1) {
		if (ukit_solo5_check(&h, &e) == 0)
			(void)ukit_solo5_read(&h, &m, &hm, &abi, &ha, &e);
		ukit_elfhdr_free(&h);
	}
	close(fd);
	return 0;
}
