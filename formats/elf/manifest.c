/*
 * manifest.c: Solo5 manifests: manifest.json -> struct manifest (strict),
 * struct manifest <-> MFT1 note bytes, and the generated outputs of
 * gen-manifest (C source in solo5-elftool's format, a relocatable ELF).
 *
 * Trusts nothing it parses: the JSON text and the MFT1 descriptor are
 * outside input.  Every length is checked before use; memory is bounded by
 * MANIFEST_JSON_MAX (jansson's own nesting limit stops deep nesting).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bytes.h"
#include "manifest.h"

/* ---- JSON -> struct manifest ---------------------------------------- */

static bool ascii_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z');
}

/*
 * Quote (s) for an error message: printable ASCII passes, '"' and '\\' are
 * escaped, everything else becomes \xHH; at most (max) input bytes.
 */
static void quote(char *dst, size_t cap, const char *s, size_t max)
{
	size_t o = 0, i;

	if (cap == 0)
		return;
	for (i = 0; i < max && s[i] != '\0' && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			dst[o++] = (char)c;
		} else {
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
		}
	}
	if (s[i] != '\0' && o + 4 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* (s) with bytes outside printable ASCII as \xHH. */
static void printable(char *dst, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
	}
	dst[o] = '\0';
}

static const char *jtype_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "object";
	case JSON_ARRAY:   return "array";
	case JSON_STRING:  return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL:    return "real";
	case JSON_TRUE:
	case JSON_FALSE:   return "boolean";
	case JSON_NULL:    return "null";
	}
	return "unknown";
}

/* "$PARENT.KEY" for plain keys, "$PARENT[\"KEY\"]" otherwise. */
static void key_path(char *dst, size_t cap, const char *parent,
		     const char *key)
{
	char q[80];
	bool plain = key[0] != '\0';

	for (const char *p = key; *p; p++)
		if (!ascii_alnum((unsigned char)*p) && *p != '_')
			plain = false;
	quote(q, sizeof q, key, 32);
	if (plain)
		snprintf(dst, cap, "%s.%s", parent, q);
	else
		snprintf(dst, cap, "%s[\"%s\"]", parent, q);
}

static int expect_type(const json_t *v, json_type t, const char *want,
		       const char *path, struct fmt_err *e)
{
	if (json_typeof(v) == t)
		return 0;
	return ukit_fmt_errf(e, FMT_NOOFF, "%s: expected %s, got %s", path, want,
			jtype_name(v));
}

static int parse_device(const json_t *dev, size_t idx, struct manifest *m,
			struct fmt_err *e)
{
	char path[48], kp[160], q[80];
	const char *key, *name, *type;
	json_t *v, *jname = NULL, *jtype = NULL;
	size_t nlen;

	snprintf(path, sizeof path, "$.devices[%zu]", idx);
	if (expect_type(dev, JSON_OBJECT, "object", path, e) < 0)
		return -1;
	json_object_foreach((json_t *)dev, key, v) {
		key_path(kp, sizeof kp, path, key);
		if (strcmp(key, "name") == 0)
			jname = v;
		else if (strcmp(key, "type") == 0)
			jtype = v;
		else
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: unknown key "
					"(expected \"name\" and \"type\")", kp);
		if (expect_type(v, JSON_STRING, "string", kp, e) < 0)
			return -1;
	}
	if (jname == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing key \"name\"", path);
	if (jtype == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: missing key \"type\"", path);

	name = json_string_value(jname);
	nlen = json_string_length(jname);
	if (nlen == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.name: name is empty", path);
	if (nlen > MFT_NAME_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.name: name too long "
				"(%zu > %d characters)", path, nlen,
				MFT_NAME_MAX);
	for (size_t i = 0; i < nlen; i++)
		if (!ascii_alnum((unsigned char)name[i]))
			return ukit_fmt_errf(e, FMT_NOOFF, "%s.name: name is not "
					"alphanumeric (byte 0x%02x at %zu)",
					path, (unsigned char)name[i], i);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->dev[i].name, name) == 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "%s.name: duplicate "
					"name \"%s\" (also $.devices[%zu].name)",
					path, name, i);

	type = json_string_value(jtype);
	if (strcmp(type, "BLOCK_BASIC") == 0 &&
	    json_string_length(jtype) == strlen("BLOCK_BASIC")) {
		m->dev[m->n].type = MFT_BLOCK_BASIC;
	} else if (strcmp(type, "NET_BASIC") == 0 &&
		   json_string_length(jtype) == strlen("NET_BASIC")) {
		m->dev[m->n].type = MFT_NET_BASIC;
	} else {
		quote(q, sizeof q, type, 32);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.type: unknown device type "
				"\"%s\" (expected \"BLOCK_BASIC\" or "
				"\"NET_BASIC\")", path, q);
	}
	memset(m->dev[m->n].name, 0, sizeof m->dev[m->n].name);
	memcpy(m->dev[m->n].name, name, nlen);
	m->n++;
	return 0;
}

static int parse_root(const json_t *root, struct manifest *m,
		      struct fmt_err *e)
{
	const char *key;
	json_t *v, *jtype = NULL, *jversion = NULL, *jdevices = NULL;
	char kp[160];
	size_t ndev;

	if (expect_type(root, JSON_OBJECT, "object", "$", e) < 0)
		return -1;
	json_object_foreach((json_t *)root, key, v) {
		key_path(kp, sizeof kp, "$", key);
		if (strcmp(key, "type") == 0) {
			if (expect_type(v, JSON_STRING, "string", kp, e) < 0)
				return -1;
			jtype = v;
		} else if (strcmp(key, "version") == 0) {
			if (expect_type(v, JSON_INTEGER, "integer", kp, e) < 0)
				return -1;
			jversion = v;
		} else if (strcmp(key, "devices") == 0) {
			if (expect_type(v, JSON_ARRAY, "array", kp, e) < 0)
				return -1;
			jdevices = v;
		} else {
			return ukit_fmt_errf(e, FMT_NOOFF, "%s: unknown key "
					"(expected \"type\", \"version\" and "
					"\"devices\")", kp);
		}
	}
	if (jtype == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "$: missing key \"type\"");
	if (jversion == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "$: missing key \"version\"");
	if (jdevices == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "$: missing key \"devices\"");
	if (strcmp(json_string_value(jtype), "solo5.manifest") != 0 ||
	    json_string_length(jtype) != strlen("solo5.manifest")) {
		char q[80];

		quote(q, sizeof q, json_string_value(jtype), 32);
		return ukit_fmt_errf(e, FMT_NOOFF, "$.type: \"%s\", expected "
				"\"solo5.manifest\"", q);
	}
	if (json_integer_value(jversion) != MFT_VERSION)
		return ukit_fmt_errf(e, FMT_NOOFF, "$.version: unsupported version "
				"%" JSON_INTEGER_FORMAT ", expected %d",
				json_integer_value(jversion), MFT_VERSION);
	ndev = json_array_size(jdevices);
	if (ndev > MFT_MAX_DEVICES)
		/* Solo5's words, which its test suite matches */
		return ukit_fmt_errf(e, FMT_NOOFF, "$.devices: too many entries, "
				"maximum %d (%zu devices)", MFT_MAX_DEVICES,
				ndev);
	m->n = 0;
	for (size_t i = 0; i < ndev; i++)
		if (parse_device(json_array_get(jdevices, i), i, m, e) < 0)
			return -1;
	return 0;
}

int ukit_manifest_parse(const char *json, size_t len, struct manifest *out,
		   struct fmt_err *e)
{
	struct manifest *m;
	json_error_t jerr;
	json_t *root;
	int rc;

	if (len > MANIFEST_JSON_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "manifest too large (%zu > %d "
				"bytes)", len, MANIFEST_JSON_MAX);
	/* No JSON_DISABLE_EOF_CHECK (trailing bytes are an error), no
	 * JSON_ALLOW_NUL, no JSON_DECODE_ANY; jansson refuses comments and
	 * nesting deeper than JSON_PARSER_MAX_DEPTH. */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson quotes the input near the error: make it safe
		 * for a terminal */
		char text[2 * JSON_ERROR_TEXT_LENGTH];

		printable(text, sizeof text, jerr.text);
		return ukit_fmt_errf(e, FMT_NOOFF, "%d:%d: %s", jerr.line,
				jerr.column, text);
	}
	if ((m = calloc(1, sizeof *m)) == NULL) {
		json_decref(root);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	rc = parse_root(root, m, e);
	json_decref(root);
	if (rc == 0)
		*out = *m;
	free(m);
	return rc;
}

/* ---- struct manifest <-> MFT1 note ----------------------------------- */

int ukit_manifest_note_encode(const struct manifest *m, bool big_endian,
			 uint8_t *buf, size_t len, struct fmt_err *e)
{
	size_t need;
	uint8_t *d, *ent;

	if (m->n > MFT_MAX_DEVICES)
		return ukit_fmt_errf(e, FMT_NOOFF, "too many devices (%zu > %d)",
				m->n, MFT_MAX_DEVICES);
	need = manifest_note_size(m->n);
	if (len < need)
		return ukit_fmt_errf(e, FMT_NOOFF, "note buffer too small "
				"(%zu < %zu bytes)", len, need);
	for (size_t i = 0; i < m->n; i++)
		if (memchr(m->dev[i].name, '\0', MFT_NAME_SIZE) == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "device %zu: name not "
					"terminated within %d bytes", i,
					MFT_NAME_SIZE);
	memset(buf, 0, need);
	st32(buf + 0, SOLO5_NOTE_NAMESZ, big_endian);
	st32(buf + 4, manifest_descsz(m->n), big_endian);
	st32(buf + 8, MFT1_NOTE_TYPE, big_endian);
	memcpy(buf + NOTE_HDR_SIZE, SOLO5_NOTE_NAME, SOLO5_NOTE_NAMESZ);
	d = buf + NOTE_HDR_SIZE + 8;
	st32(d + DESC_VERSION, MFT_VERSION, big_endian);
	st32(d + DESC_ENTRIES, (uint32_t)(m->n + 1), big_endian);
	st32(d + DESC_ENTRY0 + ENT_TYPE, MFT_RESERVED_FIRST, big_endian);
	for (size_t i = 0; i < m->n; i++) {
		ent = d + DESC_ENTRY0 + MFT_ENTRY_SIZE * (i + 1);
		memcpy(ent + ENT_NAME, m->dev[i].name,
		       strlen(m->dev[i].name));
		st32(ent + ENT_TYPE, m->dev[i].type, big_endian);
	}
	return 0;
}

/* ---- C source ------------------------------------------------------- */

int ukit_manifest_c_source(const struct manifest *m, char **out, size_t *outlen,
		      struct fmt_err *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;
	int bad = 0;

	if (m->n > MFT_MAX_DEVICES)
		return ukit_fmt_errf(e, FMT_NOOFF, "too many devices (%zu > %d)",
				m->n, MFT_MAX_DEVICES);
	if ((fp = open_memstream(&buf, &len)) == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "open_memstream");
	fprintf(fp, "/* Generated by ukit-elftool version %s, do not edit */"
		"\n\n#define MFT_ENTRIES %zu\n#include \"mft_abi.h\"\n\n"
		"MFT1_NOTE_DECLARE_BEGIN\n{\n"
		"  .version = MFT_VERSION, .entries = %zu,\n  .e = {\n"
		"    { .name = \"\", .type = MFT_RESERVED_FIRST },\n",
		UKIT_VERSION, m->n + 1, m->n + 1);
	for (size_t i = 0; i < m->n; i++) {
		const char *t = m->dev[i].type == MFT_BLOCK_BASIC ?
			"MFT_DEV_BLOCK_BASIC" : m->dev[i].type == MFT_NET_BASIC ?
			"MFT_DEV_NET_BASIC" : NULL;
		size_t nl = strnlen(m->dev[i].name, MFT_NAME_SIZE);

		/* Only checked names reach C source: no quoting needed. */
		if (t == NULL || nl == 0 || nl > MFT_NAME_MAX)
			bad = 1;
		for (size_t j = 0; j < nl; j++)
			if (!ascii_alnum((unsigned char)m->dev[i].name[j]))
				bad = 1;
		if (bad)
			break;
		fprintf(fp, "    { .name = \"%s\", .type = %s },\n",
			m->dev[i].name, t);
	}
	fputs("  }\n}\nMFT1_NOTE_DECLARE_END\n", fp);
	if (fclose(fp) != 0) {
		free(buf);
		return ukit_fmt_errno(e, FMT_NOOFF, "writing C source");
	}
	if (bad) {
		free(buf);
		return ukit_fmt_errf(e, FMT_NOOFF, "device with an invalid name or "
				"type cannot be written as C");
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- relocatable ELF object ------------------------------------------ */

static const struct {
	const char *name, *alias;
	uint16_t    machine;
	uint32_t    flags;
} arches[] = {
	[MFT_ARCH_X86_64]  = { "x86_64", "amd64", 62 /* EM_X86_64 */, 0 },
	[MFT_ARCH_AARCH64] = { "aarch64", "arm64", 183 /* EM_AARCH64 */, 0 },
	/* e_flags 2: ELFv2 ABI, what ppc64le toolchains emit */
	[MFT_ARCH_PPC64LE] = { "ppc64le", "powerpc64le", 21 /* EM_PPC64 */, 2 },
};

int ukit_manifest_arch_parse(const char *name, enum manifest_arch *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (strcmp(name, arches[i].name) == 0 ||
		    strcmp(name, arches[i].alias) == 0) {
			*out = (enum manifest_arch)i;
			return 0;
		}
	return -1;
}

enum manifest_arch ukit_manifest_host_arch(void)
{
#if defined(__aarch64__)
	return MFT_ARCH_AARCH64;
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return MFT_ARCH_PPC64LE;
#else
	return MFT_ARCH_X86_64;
#endif
}

/* ELF64 constants (values from the ELF gABI). */
#define EHDR_SIZE   64
#define SHDR_SIZE   64
#define SYM_SIZE    24
#define SHT_PROGBITS_ 1
#define SHT_SYMTAB_   2
#define SHT_STRTAB_   3
#define SHT_NOTE_     7
#define SHF_ALLOC_    2

enum { S_NULL, S_NOTE, S_STACK, S_SYMTAB, S_STRTAB, S_SHSTRTAB, S_COUNT };

static const char shstrtab[] =
	"\0.note.solo5.manifest\0.note.GNU-stack\0.symtab\0.strtab\0.shstrtab";
static const uint32_t shname[S_COUNT] = { 0, 1, 22, 38, 46, 54 };
static const char strtab[] = "\0__solo5_mft1_note";

static void put_shdr(uint8_t *p, uint32_t name, uint32_t type, uint64_t flags,
		     uint64_t off, uint64_t size, uint32_t link, uint32_t info,
		     uint64_t align, uint64_t entsize)
{
	le32_store(p + 0, name);
	le32_store(p + 4, type);
	le64_store(p + 8, flags);
	le64_store(p + 16, 0);          /* sh_addr */
	le64_store(p + 24, off);
	le64_store(p + 32, size);
	le32_store(p + 40, link);
	le32_store(p + 44, info);
	le64_store(p + 48, align);
	le64_store(p + 56, entsize);
}

int ukit_manifest_object(const struct manifest *m, enum manifest_arch arch,
		    uint8_t **out, size_t *outlen, struct fmt_err *e)
{
	size_t note_sz, note_off, sym_off, str_off, shs_off, sh_off, total;
	uint8_t *b, *sym;

	_Static_assert(sizeof shstrtab == 64, "shstrtab layout");
	_Static_assert(sizeof strtab == 19, "strtab layout");
	if ((size_t)arch >= ARRAY_SIZE(arches))
		return ukit_fmt_errf(e, FMT_NOOFF, "unknown architecture %d",
				(int)arch);
	if (m->n > MFT_MAX_DEVICES)
		return ukit_fmt_errf(e, FMT_NOOFF, "too many devices (%zu > %d)",
				m->n, MFT_MAX_DEVICES);
	/* Layout: header, note (align 4), symtab (align 8), strtab,
	 * shstrtab, section headers (align 8).  All sizes are small and
	 * bounded by MFT_NOTE_MAX. */
	note_sz = manifest_note_size(m->n);
	note_off = EHDR_SIZE;
	sym_off = (note_off + note_sz + 7) & ~(size_t)7;
	str_off = sym_off + 2 * SYM_SIZE;
	shs_off = str_off + sizeof strtab;
	sh_off = (shs_off + sizeof shstrtab + 7) & ~(size_t)7;
	total = sh_off + S_COUNT * SHDR_SIZE;
	if ((b = calloc(1, total)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");

	memcpy(b, "\177ELF", 4);
	b[4] = 2;                       /* ELFCLASS64 */
	b[5] = 1;                       /* ELFDATA2LSB */
	b[6] = 1;                       /* EV_CURRENT */
	le16_store(b + 16, 1);          /* ET_REL */
	le16_store(b + 18, arches[arch].machine);
	le32_store(b + 20, 1);          /* e_version */
	le64_store(b + 40, sh_off);     /* e_shoff */
	le32_store(b + 48, arches[arch].flags);
	le16_store(b + 52, EHDR_SIZE);
	le16_store(b + 58, SHDR_SIZE);
	le16_store(b + 60, S_COUNT);
	le16_store(b + 62, S_SHSTRTAB);

	if (ukit_manifest_note_encode(m, false, b + note_off, note_sz, e) < 0) {
		free(b);
		return -1;
	}
	/* symbol 1: __solo5_mft1_note, STB_GLOBAL STT_OBJECT, whole note */
	sym = b + sym_off + SYM_SIZE;
	le32_store(sym + 0, 1);
	sym[4] = 1 << 4 | 1;
	sym[5] = 0;                     /* STV_DEFAULT */
	le16_store(sym + 6, S_NOTE);
	le64_store(sym + 8, 0);
	le64_store(sym + 16, note_sz);
	memcpy(b + str_off, strtab, sizeof strtab);
	memcpy(b + shs_off, shstrtab, sizeof shstrtab);

	put_shdr(b + sh_off + S_NOTE * SHDR_SIZE, shname[S_NOTE], SHT_NOTE_,
		 SHF_ALLOC_, note_off, note_sz, 0, 0, 4, 0);
	put_shdr(b + sh_off + S_STACK * SHDR_SIZE, shname[S_STACK],
		 SHT_PROGBITS_, 0, note_off + note_sz, 0, 0, 0, 1, 0);
	put_shdr(b + sh_off + S_SYMTAB * SHDR_SIZE, shname[S_SYMTAB],
		 SHT_SYMTAB_, 0, sym_off, 2 * SYM_SIZE, S_STRTAB,
		 1 /* first global */, 8, SYM_SIZE);
	put_shdr(b + sh_off + S_STRTAB * SHDR_SIZE, shname[S_STRTAB],
		 SHT_STRTAB_, 0, str_off, sizeof strtab, 0, 0, 1, 0);
	put_shdr(b + sh_off + S_SHSTRTAB * SHDR_SIZE, shname[S_SHSTRTAB],
		 SHT_STRTAB_, 0, shs_off, sizeof shstrtab, 0, 0, 1, 0);
	*out = b;
	*outlen = total;
	return 0;
}
