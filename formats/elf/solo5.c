/*
 * solo5.c: Solo5 notes the tender's way (see solo5.h).  Sizes from the
 * file are checked against the note's segment before anything is read.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "elfhdr.h"
#include "manifest.h"
#include "solo5.h"

#define PT_NOTE_TYPE 4

int ukit_solo5_check(const struct elfhdr *h, struct fmt_err *e)
{
	if (h->elfclass != 2)
		return ukit_fmt_errf(e, 4, "ELF32 file: Solo5 executables are ELF64 "
				"(EI_CLASS %u, expected 2)", h->elfclass);
	if (h->type != 2)
		return ukit_fmt_errf(e, 16, "e_type %u is not ET_EXEC (2): Solo5 "
				"loads only executables", h->type);
	if (h->version != 1)
		return ukit_fmt_errf(e, 20, "e_version %u, expected 1", h->version);
	if (h->ehsize != 64)
		return ukit_fmt_errf(e, 52, "e_ehsize %u, expected 64", h->ehsize);
	if (h->phnum < 1)
		return ukit_fmt_errf(e, 56, "no program headers");
	return 0;
}

int ukit_solo5_note_head(const uint8_t *head, bool big, uint32_t type,
			 size_t phdr, uint64_t offset, uint64_t filesz,
			 uint32_t *descsz, struct fmt_err *e)
{
	const char *tname = type == MFT1_NOTE_TYPE ? "MFT1" : "ABI1";
	uint32_t max = type == MFT1_NOTE_TYPE ? SOLO5_MFT1_DESC_MAX
					      : SOLO5_ABI1_DESC_MAX;
	uint32_t n = ld32(head + 4, big);

	if (ld32(head, big) != SOLO5_NOTE_NAMESZ ||
	    memcmp(head + NOTE_HDR_SIZE, SOLO5_NOTE_NAME,
		   SOLO5_NOTE_NAMESZ) != 0 ||
	    ld32(head + 8, big) != type)
		return 0;
	if (n < 1 || n > max)
		return ukit_fmt_errf(e, offset, "phdr[%zu]: Solo5 %s note "
				"descriptor size %u outside 1..%u", phdr,
				tname, n, max);
	if (n > filesz - SOLO5_NOTE_HEAD)
		return ukit_fmt_errf(e, offset, "phdr[%zu]: Solo5 %s note extends "
				"past end of its PT_NOTE (0x%x + 0x%x > 0x%"
				PRIx64 ")", phdr, tname, SOLO5_NOTE_HEAD, n,
				filesz);
	*descsz = n;
	return 1;
}

int ukit_solo5_note(const struct elfhdr *h, uint32_t type, struct ukit_solo5_note *out,
	       struct fmt_err *e)
{
	for (size_t i = 0; i < h->phnum; i++) {
		const struct elfhdr_phdr *ph = &h->ph[i];
		uint8_t n[SOLO5_NOTE_HEAD];
		uint32_t descsz;
		int k;

		/* Too small for a Solo5 note header: not ours.  (Solo5 fails
		 * the whole lookup below 12 bytes; an empty PT_NOTE is
		 * harmless, so skip it.) */
		if (ph->type != PT_NOTE_TYPE || ph->filesz < sizeof n)
			continue;
		if (ukit_elfhdr_pread(h, n, sizeof n, ph->offset, e) < 0)
			return -1;
		k = ukit_solo5_note_head(n, h->big, type, i, ph->offset,
					 ph->filesz, &descsz, e);
		if (k <= 0) {
			if (k < 0)
				return -1;
			continue;
		}
		if (ukit_elfhdr_pread(h, out->desc, descsz, ph->offset + sizeof n,
				 e) < 0)
			return -1;
		out->phdr = i;
		out->offset = ph->offset;
		out->descsz = descsz;
		return 1;
	}
	return 0;
}

int ukit_solo5_read(const struct elfhdr *h, struct manifest *mft, bool *have_mft,
	       struct solo5_abi *abi, bool *have_abi, struct fmt_err *e)
{
	struct ukit_solo5_note *n;
	struct manifest m;
	int fm, fa = 0, r = -1;

	if (ukit_solo5_check(h, e) < 0)
		return -1;
	n = malloc(sizeof *n);
	if (n == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "malloc");
	if ((fm = ukit_solo5_note(h, MFT1_NOTE_TYPE, n, e)) < 0)
		goto out;
	if (fm == 1 && ukit_manifest_desc_decode(n->desc, n->descsz, h->big, &m,
						 e) < 0) {
		uint64_t at = n->offset + NOTE_HDR_SIZE + 8;
		char msg[FMT_ERR_MSG];

		snprintf(msg, sizeof msg, "%s", e->msg);
		e->path = h->path;
		ukit_fmt_errf(e, e->off == FMT_NOOFF ? at : at + e->off,
			      "phdr[%zu]: Solo5 manifest: %s", n->phdr, msg);
		goto out;
	}
	if ((fa = ukit_solo5_note(h, ABI1_NOTE_TYPE, n, e)) < 0)
		goto out;
	if (fa == 1 && n->descsz < SOLO5_ABI1_DESC_MIN) {
		ukit_fmt_errf(e, n->offset + 4, "phdr[%zu]: Solo5 ABI1 descriptor "
			      "too short (%u < %d bytes: target and version)",
			      n->phdr, n->descsz, SOLO5_ABI1_DESC_MIN);
		goto out;
	}
	if (fa == 1) {
		abi->target = ld32(n->desc, h->big);
		abi->version = ld32(n->desc + 4, h->big);
	}
	if (fm == 1)
		*mft = m;
	*have_mft = fm == 1;
	*have_abi = fa == 1;
	r = 0;
out:
	free(n);
	return r;
}

const char *ukit_solo5_target_name(uint32_t target)
{
	switch (target) {
	case ABI_HVT: return "hvt";
	case ABI_SPT: return "spt";
	case ABI_VIRTIO: return "virtio";
	case ABI_MUEN: return "muen";
	case ABI_GENODE: return "genode";
	case ABI_XEN: return "xen";
	default: return "unknown";
	}
}

/* {abi: {target, version}, manifest: <query-manifest object>} */
static json_t *facts_json(const struct manifest *m, const struct solo5_abi *abi)
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
		    "type", ukit_manifest_type_name(m->dev[i].type))) != 0) {
			json_decref(devs);
			return NULL;
		}
	}
	return json_pack("{s:{s:s, s:I}, s:{s:s, s:i, s:o}}",
			 "abi", "target", ukit_solo5_target_name(abi->target),
			 "version", (json_int_t)abi->version,
			 "manifest", "type", "solo5.manifest",
			 "version", MFT_VERSION, "devices", devs);
}

int ukit_solo5_facts(int fd, const char *path, json_t **out, struct fmt_err *e)
{
	struct elfhdr h;
	struct manifest m;
	struct solo5_abi abi;
	struct fmt_err ignored = { 0 };
	bool have_mft = false, have_abi = false;
	int rc;

	*out = NULL;
	if ((rc = ukit_elfhdr_read(fd, path, &h, e)) <= 0)
		return rc;
	/* Not a Solo5 executable (ET_DYN, ELF32, ...): no Solo5 facts. */
	if (ukit_solo5_check(&h, &ignored) != 0) {
		ukit_elfhdr_free(&h);
		return 0;
	}
	rc = -1;
	if (ukit_solo5_read(&h, &m, &have_mft, &abi, &have_abi, e) != 0)
		goto out;
	if (have_mft != have_abi) {
		ukit_fmt_errf(e, FMT_NOOFF, "Solo5 %s note without a%s note",
			 have_mft ? "manifest" : "ABI",
			 have_mft ? "n ABI" : " manifest");
		goto out;
	}
	if (have_mft) {
		if (abi.target < ABI_HVT || abi.target > ABI_XEN) {
			ukit_fmt_errf(e, FMT_NOOFF, "Solo5 ABI target %u unknown",
				 abi.target);
			goto out;
		}
		*out = facts_json(&m, &abi);
		if (*out == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "cannot encode the Solo5 manifest");
			goto out;
		}
	}
	rc = 0;
out:
	ukit_elfhdr_free(&h);
	return rc;
}
