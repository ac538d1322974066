/*
 * sigimg.c: image facts for statements (see sigimg.h).  The image is
 * untrusted; only fixed-size headers are read here.
 */
#include <string.h>

#include "outfile.h"
#include "sigimg.h"

int sigimg_probe(int fd, const char *path, struct sigimg *out,
		 struct fmt_err *e)
{
	uint8_t magic[4] = { 0 };
	ssize_t n;

	(void)path;
	out->format = "raw";
	out->solo5 = NULL;
	n = pread_full(fd, magic, sizeof magic, 0);
	if (n < 0)
		return fmt_errno(e, 0, "read");
	if (n == 4 && memcmp(magic, "\177ELF", 4) == 0)
		out->format = "elf";
	else if (n == 4 && memcmp(magic, "QFI\373", 4) == 0)
		out->format = "qcow2";
	return 0;
}

void sigimg_free(struct sigimg *s)
{
	if (s == NULL)
		return;
	json_decref(s->solo5);
	s->solo5 = NULL;
}
