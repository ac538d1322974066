/*
 * fuzz_rollback.c: ukit_rollback_parse() on arbitrary bytes (the device's
 * rollback state file).  Whatever it accepts must format back to exactly
 * the same bytes (the form is canonical) and reparse to the same floors;
 * a refusal must carry an offset within the input (or at the size limit).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ukit_rollback_state s, t;
	static char buf[UKIT_ROLLBACK_FILE_MAX];
	struct fmt_err e = { 0 };
	size_t n;

	if (ukit_rollback_parse(data, size, &s, &e) != 0) {
		if (memchr(e.msg, '\0', sizeof e.msg) == NULL ||
		    (e.off > size && e.off != UKIT_ROLLBACK_FILE_MAX))
			abort();
		return 0;
	}
	n = ukit_rollback_format(&s, buf, sizeof buf);
	if (n != size || memcmp(buf, data, size) != 0)
		abort();
	if (ukit_rollback_parse((const uint8_t *)buf, n, &t, &e) != 0 ||
	    t.n != s.n)
		abort();
	for (size_t i = 0; i < s.n; i++)
		if (strcmp(s.slot[i].name, t.slot[i].name) != 0 ||
		    s.slot[i].floor != t.slot[i].floor ||
		    ukit_rollback_floor(&t, s.slot[i].name) != s.slot[i].floor)
			abort();
	return 0;
}
