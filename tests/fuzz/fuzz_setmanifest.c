/*
 * fuzz_setmanifest.c: the set-manifest engine (formats/elf/elfedit) on a
 * fuzzed ELF with a fixed 3-device manifest.  Either the edit is refused,
 * or its output is an ELF that ukit's own reader (formats/elf/elfimg) opens and
 * whose manifest, found the tender's way, is the new one; anything else
 * aborts.  The same input then goes through set-package-metadata, whose
 * output must open and hold the metadata note where planned (unless a
 * note container there is one ukit's reader refuses).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfedit.h"
#include "elfimg.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char meta[] = "{\"type\":\"deb\",\"name\":\"fuzz\"}";

static void fixed_manifest(struct manifest *m)
{
	static const char *const names[] = { "net0", "disk", "service" };

	memset(m, 0, sizeof *m);
	m->n = 3;
	for (size_t i = 0; i < m->n; i++) {
		strcpy(m->dev[i].name, names[i]);
		m->dev[i].type = i == 1 ? MFT_BLOCK_BASIC : MFT_NET_BASIC;
	}
}

static void die(const char *what, const struct fmt_err *e)
{
	fprintf(stderr, "fuzz_setmanifest: %s: 0x%llx: %s\n", what,
		(unsigned long long)e->off, e->msg);
	abort();
}

static void check_manifest(const uint8_t *data, size_t size)
{
	struct elfedit_src src = { .buf = data, .size = size, .path = "in" };
	struct elfedit_plan plan;
	struct elfedit *ed;
	struct elfimg *img;
	struct manifest m, got;
	struct fmt_err e = { 0 };
	uint8_t note[MFT_NOTE_MAX], *out;
	size_t len, out_len;
	bool have = false;

	if (ukit_elfedit_open(&src, &ed, &e) < 0)
		return;
	fixed_manifest(&m);
	len = manifest_note_size(m.n);
	if (ukit_manifest_note_encode(&m, ukit_elfedit_big_endian(ed), note, len, &e) < 0)
		die("encode", &e);
	if (ukit_elfedit_plan_manifest(ed, note, len, &plan, &e) < 0) {
		ukit_elfedit_close(ed);
		return;
	}
	ukit_elfedit_close(ed);
	if (ukit_elfedit_apply_buf(data, size, &plan, &out, &out_len, &e) < 0)
		die("apply", &e);
	ukit_elfedit_plan_free(&plan);
	if (ukit_elfimg_open_mem(out, out_len, "out", &img, &e) < 0)
		die("output does not open", &e);
	if (ukit_elfimg_solo5(img, &got, &have, NULL, NULL, &e) < 0)
		die("output manifest unreadable", &e);
	if (!have || got.n != m.n)
		die("output has another manifest", &e);
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(got.dev[i].name, m.dev[i].name) != 0 ||
		    got.dev[i].type != m.dev[i].type)
			die("output has another manifest", &e);
	ukit_elfimg_close(img);
	free(out);
}

static void check_pkgmeta(const uint8_t *data, size_t size)
{
	struct elfedit_src src = { .buf = data, .size = size, .path = "in" };
	struct elfedit_plan plan;
	struct elfedit *ed;
	struct elfimg *img;
	struct elfimg_notes it;
	struct elfimg_note n;
	struct fmt_err e = { 0 };
	uint8_t *out;
	size_t out_len;
	bool found = false, bad = false;
	int r;

	if (ukit_elfedit_open(&src, &ed, &e) < 0)
		return;
	r = ukit_elfedit_plan_package_metadata(ed, meta, sizeof meta - 1, &plan, &e);
	ukit_elfedit_close(ed);
	if (r < 0)
		return;
	if (ukit_elfedit_apply_buf(data, size, &plan, &out, &out_len, &e) < 0)
		die("apply", &e);
	if (ukit_elfimg_open_mem(out, out_len, "out", &img, &e) < 0)
		die("package metadata output does not open", &e);
	ukit_elfimg_notes_begin(img, ELFIMG_SEGMENT, &it);
	while ((r = ukit_elfimg_notes_next(&it, &n, &e)) != 0) {
		if (r < 0) {
			/* a container the input had that ukit's reader
			 * refuses (e.g. p_align 0x24) but systemd, which
			 * ignores p_align, reads: the edit may be there */
			bad = true;
			continue;
		}
		if (n.offset == plan.note_off) {
			found = n.type == FDO_PACKAGING_METADATA &&
				n.descsz >= sizeof meta &&
				memcmp(n.desc, meta, sizeof meta) == 0;
		}
	}
	ukit_elfimg_notes_end(&it);
	if (!found && !bad)
		die("package metadata note not where planned", &e);
	ukit_elfedit_plan_free(&plan);
	ukit_elfimg_close(img);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_manifest(data, size);
	check_pkgmeta(data, size);
	return 0;
}
