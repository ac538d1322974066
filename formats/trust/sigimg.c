/*
 * sigimg.c: image facts for statements (see sigimg.h).  The image is
 * untrusted: the format comes from ukit_image_open()'s probe (which checks a
 * qcow2 header before trusting it), the Solo5 notes from solo5.c, which
 * bounds every size it reads.
 */
#include <string.h>

#include "image.h"
#include "imgopen.h"
#include "sigimg.h"
#include "solo5.h"

int ukit_sigimg_probe(int fd, const char *path, struct sigimg *out,
		 struct fmt_err *e)
{
	struct image *img = NULL;
	struct fmt_err local = { 0 };
	enum ukit_image_format fmt;

	if (e == NULL)
		e = &local;     /* the readers below want somewhere to write */
	out->format = NULL;
	out->solo5 = NULL;
	if (ukit_image_open(fd, path, IMG_PROBE, NULL, &img, e) != 0)
		return -1;
	fmt = ukit_image_format(img);
	out->format = ukit_image_format_name(fmt);
	ukit_image_close(img);
	if (fmt == IMG_ELF)
		return ukit_solo5_facts(fd, path, &out->solo5, e);
	return 0;
}

void ukit_sigimg_free(struct sigimg *s)
{
	if (s == NULL)
		return;
	json_decref(s->solo5);
	s->solo5 = NULL;
}
