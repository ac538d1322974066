/*
 * manifest_desc.c: MFT1 descriptors from a file, decoded and checked as
 * Solo5's tender checks them (see manifest.h); manifest.json, C source and
 * objects are manifest.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "bytes.h"
#include "manifest.h"

const char *ukit_manifest_type_name(uint32_t type)
{
	switch (type) {
	case MFT_BLOCK_BASIC:    return "BLOCK_BASIC";
	case MFT_NET_BASIC:      return "NET_BASIC";
	case MFT_RESERVED_FIRST: return "RESERVED_FIRST";
	default:                 return "<undefined type>";
	}
}

int ukit_manifest_desc_decode(const uint8_t *desc, size_t descsz, bool big_endian,
			 struct manifest *out, struct fmt_err *e)
{
	struct manifest *m;
	uint32_t version, entries, type;
	uint64_t want;

	if (descsz < DESC_ENTRY0)
		return ukit_fmt_errf(e, 0, "MFT1 descriptor too short (%zu < %d "
				"bytes)", descsz, DESC_ENTRY0);
	version = ld32(desc + DESC_VERSION, big_endian);
	if (version != MFT_VERSION)
		return ukit_fmt_errf(e, DESC_VERSION, "unsupported manifest version "
				"%" PRIu32 ", expected %d", version,
				MFT_VERSION);
	entries = ld32(desc + DESC_ENTRIES, big_endian);
	if (entries < 1 || entries > MFT_MAX_ENTRIES)
		return ukit_fmt_errf(e, DESC_ENTRIES, "manifest entries %" PRIu32
				" outside 1..%d", entries, MFT_MAX_ENTRIES);
	want = DESC_ENTRY0 + (uint64_t)MFT_ENTRY_SIZE * entries;
	if (descsz != want)
		return ukit_fmt_errf(e, DESC_ENTRIES, "MFT1 descriptor size does not "
				"match %" PRIu32 " entries (0x%zx != 0x%" PRIx64
				")", entries, descsz, want);
	if ((m = calloc(1, sizeof *m)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	for (uint32_t i = 0; i < entries; i++) {
		size_t off = DESC_ENTRY0 + (size_t)MFT_ENTRY_SIZE * i;
		const uint8_t *ent = desc + off;

		type = ld32(ent + ENT_TYPE, big_endian);
		if (ent[ENT_NAME + MFT_NAME_MAX] != 0) {
			free(m);
			return ukit_fmt_errf(e, off + ENT_NAME + MFT_NAME_MAX,
					"entry %" PRIu32 ": name not "
					"terminated within %d bytes", i,
					MFT_NAME_SIZE);
		}
		if (ent[ENT_ATTACHED] != 0) {
			free(m);
			return ukit_fmt_errf(e, off + ENT_ATTACHED, "entry %" PRIu32
					": attached is set (0x%02x)", i,
					ent[ENT_ATTACHED]);
		}
		if (i == 0) {
			if (type != MFT_RESERVED_FIRST) {
				free(m);
				return ukit_fmt_errf(e, off + ENT_TYPE, "entry 0: "
						"type 0x%" PRIx32 ", expected "
						"RESERVED_FIRST (0x%x)", type,
						MFT_RESERVED_FIRST);
			}
			if (ent[ENT_NAME] != 0) {
				free(m);
				return ukit_fmt_errf(e, off + ENT_NAME, "entry 0: "
						"name is not empty");
			}
			continue;
		}
		/* strncpy stops at the NUL checked above and zero-fills:
		 * bytes after the terminator are not kept. */
		strncpy(m->dev[i - 1].name, (const char *)ent + ENT_NAME,
			MFT_NAME_SIZE);
		m->dev[i - 1].type = type;
	}
	m->n = entries - 1;
	*out = *m;
	free(m);
	return 0;
}
