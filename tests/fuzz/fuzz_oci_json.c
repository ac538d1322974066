/*
 * fuzz_oci_json.c: the OCI document parsers (image manifest, index,
 * config, the manifest kind sniffer) on bytes as a registry or a layout
 * would hand them over.  The first byte picks one parser ('M', 'I', 'C',
 * 'K'; 'R' a referrers listing as the signature walk reads it); anything
 * else runs all of them on the whole input.  A manifest that parses must
 * give descriptors that serialise and parse again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocijson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void manifest(const char *p, size_t n)
{
	struct fmt_err e = { 0 };
	struct ukit_oci_manifest m;

	if (ukit_oci_manifest_parse(p, n, "fuzz", &m, &e) != 0)
		return;
	for (size_t i = 0; i <= m.nlayers; i++) {
		const struct ukit_oci_desc *d = i < m.nlayers ? &m.layers[i] :
						&m.config;
		json_t *j = ukit_oci_desc_json(d);
		struct ukit_oci_desc again;
		if (j == NULL)
			continue;
		if (ukit_oci_desc_parse(j, "$", &again, &e) != 0)
			abort();        /* what we write, we read */
		if (strcmp(again.digest, d->digest) != 0 || again.size != d->size)
			abort();
		ukit_oci_desc_free(&again);
		json_decref(j);
	}
	ukit_oci_manifest_free(&m);
}

/* A referrers listing as ocisig.c and regrefer.c walk it: each entry
 * read once (an earlier one with its digest is there), indexes passed
 * over; its entries' bytes as a signature manifest of the first. */
static void referrers(const char *p, size_t n)
{
	struct fmt_err e = { 0 };
	struct ukit_oci_index ix;
	struct ukit_oci_manifest m;

	if (ukit_oci_index_parse(p, n, "fuzz", &ix, &e) != 0) {
		if (ukit_oci_manifest_parse(p, n, "fuzz", &m, &e) == 0) {
			(void)ukit_oci_manifest_signs(&m, "sha256:"
				"0000000000000000000000000000000000000000000000000000000000000000",
				"application/vnd.dev.sigstore.bundle.v0.3+json",
				1u << 20);
			ukit_oci_manifest_free(&m);
		}
		return;
	}
	for (size_t i = 0; i < ix.n; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= strcmp(ix.m[j].digest, ix.m[i].digest) == 0;
		if (ukit_oci_index_listed_before(&ix, i) != seen)
			abort();
		(void)ukit_oci_desc_may_sign(&ix.m[i]);
	}
	ukit_oci_index_free(&ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_err e = { 0 };
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	struct ukit_oci_index ix;
	struct ukit_oci_config c;
	char sel = size ? (char)data[0] : 0;

	switch (sel) {
	case 'M':
		manifest(p, n);
		return 0;
	case 'I':
		if (ukit_oci_index_parse(p, n, "fuzz", &ix, &e) == 0)
			ukit_oci_index_free(&ix);
		return 0;
	case 'C':
		if (ukit_oci_config_parse(p, n, "fuzz", &c, &e) == 0)
			ukit_oci_config_free(&c);
		return 0;
	case 'R':
		referrers(p, n);
		return 0;
	case 'K':
		(void)ukit_oci_doc_kind(NULL, p, n, &e);
		(void)ukit_oci_doc_kind("application/json", p, n, &e);
		return 0;
	default:
		manifest((const char *)data, size);
		if (ukit_oci_index_parse((const char *)data, size, "fuzz", &ix,
					 &e) == 0)
			ukit_oci_index_free(&ix);
		if (ukit_oci_config_parse((const char *)data, size, "fuzz", &c,
					  &e) == 0)
			ukit_oci_config_free(&c);
		return 0;
	}
}
