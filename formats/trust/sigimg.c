/*
 * sigimg.c: image facts for statements (see sigimg.h).  The image is
 * untrusted: the format comes from image_open()'s probe (which checks a
 * qcow2 header before trusting it), the Solo5 notes from elfimg, which
 * bounds every size it reads.
 */
#include <string.h>

#include "elfimg.h"
#include "image.h"
#include "imgopen.h"
#include "manifest.h"
#include "sigimg.h"

/* {abi: {target, version}, manifest: <query-manifest object>} */
static json_t *solo5_json(const struct manifest *m, const struct solo5_abi *abi)
{
	json_t *devs = json_array();

	if (devs == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		/* query-manifest skips reserved entries; so does the statement */
		if (m->dev[i].type >= MFT_RESERVED_FIRST)
			continue;
		if (json_array_append_new(devs, json_pack("{s:s, s:s}",
		    "name", m->dev[i].name,
		    "type", manifest_type_name(m->dev[i].type))) != 0) {
			json_decref(devs);
			return NULL;
		}
	}
	return json_pack("{s:{s:s, s:I}, s:{s:s, s:i, s:o}}",
			 "abi", "target", elfimg_abi_target_name(abi->target),
			 "version", (json_int_t)abi->version,
			 "manifest", "type", "solo5.manifest",
			 "version", MFT_VERSION, "devices", devs);
}

static int probe_solo5(int fd, const char *path, json_t **out,
		       struct fmt_err *e)
{
	struct elfimg *elf = NULL;
	struct manifest m;
	struct solo5_abi abi;
	struct fmt_err ignored = { 0 };
	bool have_mft = false, have_abi = false;
	int rc = -1;

	*out = NULL;
	if (elfimg_open(fd, path, &elf, e) != 0)
		return -1;
	/* Not a Solo5 executable (ET_DYN, ELF32, ...): no Solo5 facts. */
	if (elfimg_solo5_check(elf, &ignored) != 0) {
		elfimg_close(elf);
		return 0;
	}
	if (elfimg_solo5(elf, &m, &have_mft, &abi, &have_abi, e) != 0)
		goto out;
	if (have_mft != have_abi) {
		fmt_errf(e, FMT_NOOFF, "Solo5 %s note without a%s note",
			 have_mft ? "manifest" : "ABI",
			 have_mft ? "n ABI" : " manifest");
		goto out;
	}
	if (have_mft) {
		if (abi.target < ABI_HVT || abi.target > ABI_XEN) {
			fmt_errf(e, FMT_NOOFF, "Solo5 ABI target %u unknown",
				 abi.target);
			goto out;
		}
		*out = solo5_json(&m, &abi);
		if (*out == NULL) {
			fmt_errf(e, FMT_NOOFF, "cannot encode the Solo5 manifest");
			goto out;
		}
	}
	rc = 0;
out:
	elfimg_close(elf);
	return rc;
}

int sigimg_probe(int fd, const char *path, struct sigimg *out,
		 struct fmt_err *e)
{
	struct image *img = NULL;
	struct fmt_err local = { 0 };
	enum image_format fmt;

	if (e == NULL)
		e = &local;     /* the readers below want somewhere to write */
	out->format = NULL;
	out->solo5 = NULL;
	if (image_open(fd, path, IMG_PROBE, NULL, &img, e) != 0)
		return -1;
	fmt = image_format(img);
	out->format = image_format_name(fmt);
	image_close(img);
	if (fmt == IMG_ELF)
		return probe_solo5(fd, path, &out->solo5, e);
	return 0;
}

void sigimg_free(struct sigimg *s)
{
	if (s == NULL)
		return;
	json_decref(s->solo5);
	s->solo5 = NULL;
}
