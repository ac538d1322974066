/*
 * test_manifest.c: manifest.json parsing (hostile inputs), MFT1 note
 * encoding against Solo5's bytes, descriptor decoding (malformed
 * descriptors with offsets), the C source and the relocatable object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "manifest.h"

#define GOOD_HEAD "{\"type\":\"solo5.manifest\",\"version\":1,\"devices\":"

static const struct {
	const char *json;
	const char *msg;   /* expected substring of the error */
} bad[] = {
	/* syntax: jansson's message with line:column */
	{ "", "1:0: " },
	{ "{", "1:1: " },
	{ GOOD_HEAD "[]} x", "1:52: end of file expected" },
	{ GOOD_HEAD "[]}{}", "end of file expected" },
	{ "// c\n" GOOD_HEAD "[]}", "1:1: '[' or '{' expected" },
	{ GOOD_HEAD "[] /* c */}", "1:51: " },
	{ "{\"type\":\"solo5.manifest\",\"type\":\"solo5.manifest\","
	  "\"version\":1,\"devices\":[]}", "duplicate object key" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"name\":\"b\",\"type\":\"NET_BASIC\"}]}",
	  "duplicate object key" },
	{ GOOD_HEAD "[{\"name\":\"a\\u0000b\",\"type\":\"NET_BASIC\"}]}",
	  "\\u0000 is not allowed" },
	/* terminal escapes in the input are not echoed raw */
	{ "{\"a\":1 \033[31m", "1:8: '}' expected near '\\x1b'" },
	{ "[1]", "$: expected object, got array" },
	{ "\"x\"", "'[' or '{' expected" },
	{ "{\"type\":\"solo5.manifest\",\"version\":1,\"devices\":[],"
	  "\"extra\":1}", "$.extra: unknown key" },
	{ "{\"type\":\"solo5.manifest\",\"version\":1,\"devices\":[],"
	  "\"a-b\\n\":1}", "$[\"a-b\\x0a\"]: unknown key" },
	{ "{\"version\":1,\"devices\":[]}", "$: missing key \"type\"" },
	{ "{\"type\":\"solo5.manifest\",\"devices\":[]}",
	  "$: missing key \"version\"" },
	{ "{\"type\":\"solo5.manifest\",\"version\":1}",
	  "$: missing key \"devices\"" },
	{ "{\"type\":\"solo5.other\",\"version\":1,\"devices\":[]}",
	  "$.type: \"solo5.other\", expected \"solo5.manifest\"" },
	{ "{\"type\":1,\"version\":1,\"devices\":[]}",
	  "$.type: expected string, got integer" },
	{ "{\"type\":\"solo5.manifest\",\"version\":1.0,\"devices\":[]}",
	  "$.version: expected integer, got real" },
	{ "{\"type\":\"solo5.manifest\",\"version\":true,\"devices\":[]}",
	  "$.version: expected integer, got boolean" },
	{ "{\"type\":\"solo5.manifest\",\"version\":\"1\",\"devices\":[]}",
	  "$.version: expected integer, got string" },
	{ "{\"type\":\"solo5.manifest\",\"version\":2,\"devices\":[]}",
	  "$.version: unsupported version 2, expected 1" },
	{ "{\"type\":\"solo5.manifest\",\"version\":-1,\"devices\":[]}",
	  "$.version: unsupported version -1" },
	{ "{\"type\":\"solo5.manifest\",\"version\":4294967297,"
	  "\"devices\":[]}", "$.version: unsupported version 4294967297" },
	{ GOOD_HEAD "{}}", "$.devices: expected array, got object" },
	{ GOOD_HEAD "null}", "$.devices: expected array, got null" },
	{ GOOD_HEAD "[1]}", "$.devices[0]: expected object, got integer" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"NET_BASIC\"},[]]}",
	  "$.devices[1]: expected object, got array" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"NET_BASIC\",\"mac\":\"x\"}]}",
	  "$.devices[0].mac: unknown key" },
	{ GOOD_HEAD "[{\"type\":\"NET_BASIC\"}]}",
	  "$.devices[0]: missing key \"name\"" },
	{ GOOD_HEAD "[{\"name\":\"a\"}]}",
	  "$.devices[0]: missing key \"type\"" },
	{ GOOD_HEAD "[{\"name\":1,\"type\":\"NET_BASIC\"}]}",
	  "$.devices[0].name: expected string, got integer" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":2}]}",
	  "$.devices[0].type: expected string, got integer" },
	{ GOOD_HEAD "[{\"name\":\"\",\"type\":\"NET_BASIC\"}]}",
	  "$.devices[0].name: name is empty" },
	{ GOOD_HEAD "[{\"name\":\"a-b\",\"type\":\"NET_BASIC\"}]}",
	  "$.devices[0].name: name is not alphanumeric (byte 0x2d at 1)" },
	{ GOOD_HEAD "[{\"name\":\"a b\",\"type\":\"NET_BASIC\"}]}",
	  "name is not alphanumeric (byte 0x20 at 1)" },
	{ GOOD_HEAD "[{\"name\":\"a\\\"b\",\"type\":\"NET_BASIC\"}]}",
	  "name is not alphanumeric (byte 0x22 at 1)" },
	/* U+00E9: isalnum() in a Latin-1 locale would take 0xe9 */
	{ GOOD_HEAD "[{\"name\":\"caf\\u00e9\",\"type\":\"NET_BASIC\"}]}",
	  "name is not alphanumeric (byte 0xc3 at 3)" },
	{ GOOD_HEAD "[{\"name\":\"x\",\"type\":\"NET_BASIC\"},"
	  "{\"name\":\"x\",\"type\":\"BLOCK_BASIC\"}]}",
	  "$.devices[1].name: duplicate name \"x\" (also $.devices[0].name)" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"NET_FANCY\"}]}",
	  "$.devices[0].type: unknown device type \"NET_FANCY\"" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"net_basic\"}]}",
	  "unknown device type \"net_basic\"" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"RESERVED_FIRST\"}]}",
	  "unknown device type \"RESERVED_FIRST\"" },
	{ GOOD_HEAD "[{\"name\":\"a\",\"type\":\"NET_BASIC },{\"}]}",
	  "unknown device type \"NET_BASIC },{\"" },
};

static void test_parse_rejects(void **state)
{
	struct manifest m;
	struct fmt_err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&e, 0, sizeof e);
		m.n = 99;
		if (ukit_manifest_parse(bad[i].json, strlen(bad[i].json), &m,
				   &e) != -1 || strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("case %zu: %s\n  got: %s\n  want: %s", i,
				 bad[i].json, e.msg, bad[i].msg);
		assert_int_equal(m.n, 99);     /* out untouched */
		assert_true(e.off == FMT_NOOFF);
	}
}

/* A manifest with (n) devices named dNN, alternating types. */
static char *gen_json(size_t n, const char *name_fmt)
{
	size_t cap = 128 + n * 160, o;
	char *s = malloc(cap);

	assert_non_null(s);
	o = (size_t)snprintf(s, cap, GOOD_HEAD "[");
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(s + o, cap - o, "%s{\"name\":\"", i ? "," : "");
		o += (size_t)snprintf(s + o, cap - o, name_fmt, (int)i);
		o += (size_t)snprintf(s + o, cap - o, "\",\"type\":\"%s\"}",
				      i % 2 ? "BLOCK_BASIC" : "NET_BASIC");
	}
	snprintf(s + o, cap - o, "]}");
	return s;
}

static void test_parse_limits(void **state)
{
	struct manifest m;
	struct fmt_err e;
	char name[80], *s;
	size_t n;

	(void)state;
	/* 63 devices fine, 64 refused */
	s = gen_json(63, "d%d");
	assert_int_equal(ukit_manifest_parse(s, strlen(s), &m, &e), 0);
	assert_int_equal(m.n, 63);
	assert_string_equal(m.dev[62].name, "d62");
	assert_int_equal(m.dev[62].type, MFT_NET_BASIC);
	assert_int_equal(m.dev[1].type, MFT_BLOCK_BASIC);
	free(s);
	s = gen_json(64, "d%d");
	assert_int_equal(ukit_manifest_parse(s, strlen(s), &m, &e), -1);
	assert_string_equal(e.msg, "$.devices: too many entries, maximum 63 (64 devices)");
	free(s);

	/* 67 characters fine, 68 refused */
	memset(name, 'a', 67);
	strcpy(name + 67, "%d");
	s = gen_json(1, name);          /* 67 a + "0" = 68 */
	assert_int_equal(ukit_manifest_parse(s, strlen(s), &m, &e), -1);
	assert_string_equal(e.msg, "$.devices[0].name: name too long "
			    "(68 > 67 characters)");
	free(s);
	name[66] = '\0';
	strcat(name, "%d");
	s = gen_json(1, name);
	assert_int_equal(ukit_manifest_parse(s, strlen(s), &m, &e), 0);
	assert_int_equal(strlen(m.dev[0].name), 67);
	free(s);

	/* absurd nesting: jansson's depth limit, no crash */
	n = 100000;
	s = malloc(n);
	assert_non_null(s);
	memset(s, '[', n);
	assert_int_equal(ukit_manifest_parse(s, n, &m, &e), -1);
	assert_non_null(strstr(e.msg, "maximum parsing depth"));
	memset(s, '{', n);
	assert_int_equal(ukit_manifest_parse(s, n, &m, &e), -1);
	free(s);

	/* the size limit comes before any parsing */
	n = MANIFEST_JSON_MAX + 1;
	s = calloc(1, n);
	assert_non_null(s);
	memset(s, ' ', n);
	assert_int_equal(ukit_manifest_parse(s, n, &m, &e), -1);
	assert_non_null(strstr(e.msg, "manifest too large (1048577 > 1048576"));
	free(s);

	/* a raw NUL byte inside the buffer */
	{
		static const char raw[] = GOOD_HEAD "[]}\0";
		assert_int_equal(ukit_manifest_parse(raw, sizeof raw - 1, &m, &e), -1);
		memcpy(name, "{\"type\":\"so\0lo5\"}", 18);
		assert_int_equal(ukit_manifest_parse(name, 17, &m, &e), -1);
	}
}

/* Solo5's bytes for m03-net-block (x86_64 == aarch64): header and the
 * non-zero parts of the descriptor. */
static void test_encode_matches_solo5(void **state)
{
	static const char json[] = GOOD_HEAD
		"[{\"name\":\"service\",\"type\":\"NET_BASIC\"},"
		"{\"name\":\"storage\",\"type\":\"BLOCK_BASIC\"}]}";
	static const uint8_t head[] = {
		0x06, 0, 0, 0, 0x44, 0x01, 0, 0, 0x4d, 0x46, 0x54, 0x31,
		'S', 'o', 'l', 'o', '5', 0, 0, 0,
		0, 0, 0, 0,            /* descriptor padding */
		1, 0, 0, 0, 3, 0, 0, 0,
	};
	uint8_t buf[MFT_NOTE_MAX], want[MFT_NOTE_MAX];
	size_t sz = manifest_note_size(2);
	struct manifest m;
	struct fmt_err e;

	(void)state;
	assert_int_equal(sz, 344);
	assert_int_equal(ukit_manifest_parse(json, strlen(json), &m, &e), 0);
	memset(buf, 0xa5, sizeof buf);
	assert_int_equal(ukit_manifest_note_encode(&m, false, buf, sz, &e), 0);
	memset(want, 0, sizeof want);
	memcpy(want, head, sizeof head);
	want[32 + 68 + 3] = 0x40;                      /* RESERVED_FIRST */
	memcpy(want + 32 + 104, "service", 7);
	want[32 + 104 + 68] = 2;
	memcpy(want + 32 + 208, "storage", 7);
	want[32 + 208 + 68] = 1;
	assert_memory_equal(buf, want, sz);
	assert_int_equal(buf[sz], 0xa5);               /* nothing past */

	/* big-endian: same layout, swapped integers */
	assert_int_equal(ukit_manifest_note_encode(&m, true, buf, sz, &e), 0);
	assert_int_equal(be32_load(buf), 6);
	assert_int_equal(be32_load(buf + 4), 0x144);
	assert_int_equal(be32_load(buf + 8), MFT1_NOTE_TYPE);
	assert_int_equal(be32_load(buf + 32 + 68), MFT_RESERVED_FIRST);
	assert_int_equal(be32_load(buf + 32 + 208 + 68), 1);

	/* too small a buffer, too many devices, unterminated name */
	assert_int_equal(ukit_manifest_note_encode(&m, false, buf, sz - 1, &e), -1);
	assert_string_equal(e.msg, "note buffer too small (343 < 344 bytes)");
	m.n = 64;
	assert_int_equal(ukit_manifest_note_encode(&m, false, buf, sizeof buf, &e),
			 -1);
	assert_string_equal(e.msg, "too many devices (64 > 63)");
	m.n = 2;
	memset(m.dev[1].name, 'x', MFT_NAME_SIZE);
	assert_int_equal(ukit_manifest_note_encode(&m, false, buf, sizeof buf, &e),
			 -1);
	assert_non_null(strstr(e.msg, "device 1: name not terminated"));
}

/* A valid 2-device descriptor, then one corruption at a time. */
static void test_decode_rejects(void **state)
{
	static const struct {
		int what;
		size_t off;             /* expected e.off */
		const char *msg;
	} t[] = {
		{ 0, 4, "unsupported manifest version 2, expected 1" },
		{ 1, 8, "manifest entries 0 outside 1..64" },
		{ 2, 8, "manifest entries 65 outside 1..64" },
		{ 3, 8, "MFT1 descriptor size does not match 4 entries "
			"(0x144 != 0x1ac)" },
		{ 4, 8, "MFT1 descriptor size does not match 3 entries "
			"(0x143 != 0x144)" },
		{ 5, 12 + 68, "entry 0: type 0x1, expected RESERVED_FIRST" },
		{ 6, 12, "entry 0: name is not empty" },
		{ 7, 12 + 104 * 2 + 67, "entry 2: name not terminated "
			"within 68 bytes" },
		{ 8, 12 + 104 + 96, "entry 1: attached is set (0x01)" },
		{ 9, 0, "MFT1 descriptor too short (11 < 12 bytes)" },
		{ 10, 8, "manifest entries 4294967295 outside 1..64" },
	};
	uint8_t note[MFT_NOTE_MAX], d[MFT_NOTE_MAX];
	size_t dsz = manifest_descsz(2);
	struct manifest m = { .n = 2 }, out;
	struct fmt_err e;

	(void)state;
	strcpy(m.dev[0].name, "service");
	m.dev[0].type = MFT_NET_BASIC;
	strcpy(m.dev[1].name, "storage");
	m.dev[1].type = MFT_BLOCK_BASIC;
	assert_int_equal(ukit_manifest_note_encode(&m, false, note, sizeof note,
					      &e), 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t len = dsz;

		memcpy(d, note + 20, dsz);
		switch (t[i].what) {
		case 0: le32_store(d + 4, 2); break;
		case 1: le32_store(d + 8, 0); break;
		case 2: le32_store(d + 8, 65); break;
		case 3: le32_store(d + 8, 4); break;
		case 4: len = dsz - 1; break;
		case 5: le32_store(d + 12 + 68, 1); break;
		case 6: d[12] = 'x'; break;
		case 7: memset(d + 12 + 208, 'a', 68); break;
		case 8: d[12 + 104 + 96] = 1; break;
		case 9: len = 11; break;
		case 10: le32_store(d + 8, UINT32_MAX); break;
		}
		memset(&e, 0, sizeof e);
		out.n = 99;
		if (ukit_manifest_desc_decode(d, len, false, &out, &e) != -1 ||
		    strstr(e.msg, t[i].msg) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i, e.msg,
				 t[i].msg);
		assert_int_equal(e.off, t[i].off);
		assert_int_equal(out.n, 99);
	}
	/* the tender accepts these, and so do we: garbage after a name's
	 * NUL, non-zero unions, unknown types (kept as read) */
	memcpy(d, note + 20, dsz);
	memcpy(d + 12 + 104 + 8, "junk", 4);
	memset(d + 12 + 104 + 72, 0xff, 24);
	le32_store(d + 12 + 208 + 68, 7);
	assert_int_equal(ukit_manifest_desc_decode(d, dsz, false, &out, &e), 0);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.dev[0].name, "service");
	assert_int_equal(out.dev[1].type, 7);
	assert_string_equal(ukit_manifest_type_name(out.dev[1].type),
			    "<undefined type>");
	assert_string_equal(ukit_manifest_type_name(MFT_RESERVED_FIRST),
			    "RESERVED_FIRST");
	assert_string_equal(ukit_manifest_type_name(1), "BLOCK_BASIC");
	assert_string_equal(ukit_manifest_type_name(2), "NET_BASIC");
}

static void test_round_trip(void **state)
{
	static const size_t counts[] = { 0, 1, 2, 62, 63 };
	uint8_t note[MFT_NOTE_MAX];
	struct manifest m, back;
	struct fmt_err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		for (int be = 0; be <= 1; be++) {
			char *s = gen_json(counts[i], "dev%dX");
			size_t sz = manifest_note_size(counts[i]);

			assert_int_equal(ukit_manifest_parse(s, strlen(s), &m, &e), 0);
			free(s);
			assert_int_equal(ukit_manifest_note_encode(&m, be, note, sz,
							      &e), 0);
			assert_int_equal(ld32(note + 4, be),
					 manifest_descsz(counts[i]));
			assert_int_equal(ukit_manifest_desc_decode(note + 20, sz - 20,
							      be, &back, &e), 0);
			assert_int_equal(back.n, m.n);
			for (size_t j = 0; j < m.n; j++) {
				assert_string_equal(back.dev[j].name,
						    m.dev[j].name);
				assert_int_equal(back.dev[j].type,
						 m.dev[j].type);
			}
			/* wrong byte order is refused, not misread */
			assert_int_equal(ukit_manifest_desc_decode(note + 20, sz - 20,
							      !be, &back, &e),
					 -1);
		}
	}
}

static void test_c_source(void **state)
{
	static const char json[] = GOOD_HEAD
		"[{\"name\":\"service\",\"type\":\"NET_BASIC\"},"
		"{\"name\":\"storage\",\"type\":\"BLOCK_BASIC\"}]}";
	struct manifest m;
	struct fmt_err e;
	size_t len;
	char *c;

	(void)state;
	assert_int_equal(ukit_manifest_parse(json, strlen(json), &m, &e), 0);
	assert_int_equal(ukit_manifest_c_source(&m, &c, &len, &e), 0);
	assert_int_equal(strlen(c), len);
	assert_non_null(strstr(c, "/* Generated by ukit-elftool version "));
	assert_non_null(strstr(c,
		"#define MFT_ENTRIES 3\n#include \"mft_abi.h\"\n\n"
		"MFT1_NOTE_DECLARE_BEGIN\n{\n"
		"  .version = MFT_VERSION, .entries = 3,\n  .e = {\n"
		"    { .name = \"\", .type = MFT_RESERVED_FIRST },\n"
		"    { .name = \"service\", .type = MFT_DEV_NET_BASIC },\n"
		"    { .name = \"storage\", .type = MFT_DEV_BLOCK_BASIC },\n"
		"  }\n}\nMFT1_NOTE_DECLARE_END\n"));
	free(c);
	/* never paste an unchecked name or type into C */
	strcpy(m.dev[1].name, "a\"b");
	assert_int_equal(ukit_manifest_c_source(&m, &c, &len, &e), -1);
	strcpy(m.dev[1].name, "ok");
	m.dev[1].type = 9;
	assert_int_equal(ukit_manifest_c_source(&m, &c, &len, &e), -1);
}

static void test_object(void **state)
{
	static const struct { const char *name; uint16_t mach; uint32_t fl; }
	a[] = { { "x86_64", 62, 0 }, { "aarch64", 183, 0 },
		{ "ppc64le", 21, 2 } };
	struct manifest m = { .n = 1 };
	enum manifest_arch arch;
	struct fmt_err e;
	uint8_t *obj, note[MFT_NOTE_MAX];
	size_t len, shoff, sz = manifest_note_size(1);

	(void)state;
	strcpy(m.dev[0].name, "net0");
	m.dev[0].type = MFT_NET_BASIC;
	assert_int_equal(ukit_manifest_note_encode(&m, false, note, sz, &e), 0);
	assert_int_equal(ukit_manifest_arch_parse("sparc", &arch), -1);
	assert_int_equal(ukit_manifest_arch_parse("", &arch), -1);
	assert_int_equal(ukit_manifest_arch_parse("amd64", &arch), 0);
	assert_int_equal(arch, MFT_ARCH_X86_64);
	assert_int_equal(ukit_manifest_arch_parse("arm64", &arch), 0);
	assert_int_equal(arch, MFT_ARCH_AARCH64);
	assert_int_equal(ukit_manifest_object(&m, (enum manifest_arch)3, &obj, &len,
					 &e), -1);
	m.n = 64;
	assert_int_equal(ukit_manifest_object(&m, MFT_ARCH_X86_64, &obj, &len, &e),
			 -1);
	m.n = 1;
	for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
		assert_int_equal(ukit_manifest_arch_parse(a[i].name, &arch), 0);
		assert_int_equal(ukit_manifest_object(&m, arch, &obj, &len, &e), 0);
		assert_memory_equal(obj, "\177ELF\2\1\1", 7);
		assert_int_equal(le16_load(obj + 16), 1);       /* ET_REL */
		assert_int_equal(le16_load(obj + 18), a[i].mach);
		assert_int_equal(le32_load(obj + 48), a[i].fl);
		shoff = le64_load(obj + 40);
		assert_true(shoff % 8 == 0);
		assert_int_equal(shoff + 6 * 64, len);
		/* section 1 is the note, at its offset, with our bytes */
		assert_int_equal(le32_load(obj + shoff + 64 + 4), 7);
		assert_int_equal(le64_load(obj + shoff + 64 + 8), 2);
		assert_int_equal(le64_load(obj + shoff + 64 + 32), sz);
		assert_memory_equal(obj + le64_load(obj + shoff + 64 + 24),
				    note, sz);
		free(obj);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_encode_matches_solo5),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_c_source),
		cmocka_unit_test(test_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
