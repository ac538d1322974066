/*
 * elfimg_json.c: every note of an ELF file as JSON, with the content of
 * the notes we know decoded (Solo5 MFT1/ABI1, GNU build-id, ABI tag and
 * properties, Xen, the FDO package metadata note).
 *
 * Trusts nothing: notes come from elfimg's iterator (sizes checked against
 * their containers); each decoder checks its descriptor's size before it
 * reads a field and reports a malformed descriptor as "error" in that
 * note's object instead of failing the file.  Strings from the file are
 * made valid UTF-8 (bytes that are not are read as Latin-1).
 */
#include <elf.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "elfimg.h"
#include "manifest.h"

#define FDO_NOTE_TYPE 0xcafe1a7eU
#define HEX_MAX       1024  /* descriptor bytes shown as hex for unknown notes */
#define NOTES_MAX     65536 /* notes listed; more is refused */

json_t *ukit_elfimg_json_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	json_t *j;
	char *u;
	size_t k = 0;

	if (memchr(s, 0, len) == NULL && (j = json_stringn((const char *)s,
							   len)) != NULL)
		return j;
	u = malloc(2 * len + 1);
	if (u == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x80) {
			u[k++] = (char)s[i];
		} else {
			u[k++] = (char)(0xc0 | s[i] >> 6);
			u[k++] = (char)(0x80 | (s[i] & 0x3f));
		}
	}
	j = json_stringn(u, k);
	free(u);
	return j;
}

/* A NUL-terminated string in (len) bytes (up to the first NUL). */
static json_t *jcstr(const uint8_t *p, size_t len)
{
	const uint8_t *z = memchr(p, 0, len);

	return ukit_elfimg_json_bytes(p, z ? (size_t)(z - p) : len);
}

static json_t *jhex(const uint8_t *p, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	char *s = malloc(2 * len + 1);
	json_t *j;

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = hx[p[i] >> 4];
		s[2 * i + 1] = hx[p[i] & 15];
	}
	j = json_stringn(s, 2 * len);
	free(s);
	return j;
}

static json_t *jerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *jerr(const char *fmt, ...)
{
	char buf[FMT_ERR_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", buf);
}

static bool owner_is(const struct elfimg_note *n, const char *s)
{
	return n->namelen == strlen(s) && memcmp(n->name, s, n->namelen) == 0;
}

/* An integer of 1, 2, 4 or 8 bytes in the file's byte order. */
static bool load_uint(const uint8_t *p, size_t len, bool big, uint64_t *v)
{
	switch (len) {
	case 1: *v = p[0]; return true;
	case 2: *v = ld16(p, big); return true;
	case 4: *v = ld32(p, big); return true;
	case 8: *v = ld64(p, big); return true;
	default: return false;
	}
}

/* ---- type names ----------------------------------------------------- */

static const char *const xen_names[] = {
	"XEN_ELFNOTE_INFO", "XEN_ELFNOTE_ENTRY", "XEN_ELFNOTE_HYPERCALL_PAGE",
	"XEN_ELFNOTE_VIRT_BASE", "XEN_ELFNOTE_PADDR_OFFSET",
	"XEN_ELFNOTE_XEN_VERSION", "XEN_ELFNOTE_GUEST_OS",
	"XEN_ELFNOTE_GUEST_VERSION", "XEN_ELFNOTE_LOADER",
	"XEN_ELFNOTE_PAE_MODE", "XEN_ELFNOTE_FEATURES",
	"XEN_ELFNOTE_BSD_SYMTAB", "XEN_ELFNOTE_HV_START_LOW",
	"XEN_ELFNOTE_L1_MFN_VALID", "XEN_ELFNOTE_SUSPEND_CANCEL",
	"XEN_ELFNOTE_INIT_P2M", "XEN_ELFNOTE_MOD_START_PFN",
	"XEN_ELFNOTE_SUPPORTED_FEATURES", "XEN_ELFNOTE_PHYS32_ENTRY",
	"XEN_ELFNOTE_PHYS32_RELOC",
};

/* Xen notes whose descriptor is a string (the others are integers). */
static bool xen_is_string(uint32_t t)
{
	return (t >= 5 && t <= 11) || t == 17;
}

static const char *type_name(const struct elfimg_note *n)
{
	if (owner_is(n, "Solo5") && n->namesz == SOLO5_NOTE_NAMESZ) {
		if (n->type == MFT1_NOTE_TYPE)
			return "SOLO5_MFT1";
		if (n->type == ABI1_NOTE_TYPE)
			return "SOLO5_ABI1";
	} else if (owner_is(n, "GNU")) {
		switch (n->type) {
		case 1: return "NT_GNU_ABI_TAG";
		case 2: return "NT_GNU_HWCAP";
		case 3: return "NT_GNU_BUILD_ID";
		case 4: return "NT_GNU_GOLD_VERSION";
		case 5: return "NT_GNU_PROPERTY_TYPE_0";
		}
	} else if (owner_is(n, "Xen")) {
		if (n->type < ARRAY_SIZE(xen_names))
			return xen_names[n->type];
	} else if (owner_is(n, "FDO")) {
		if (n->type == FDO_NOTE_TYPE)
			return "NT_FDO_PACKAGING_METADATA";
	} else if (owner_is(n, "OpenBSD")) {
		if (n->type == 1)
			return "NT_OPENBSD_IDENT";
	}
	return NULL;
}

/* ---- decoders ------------------------------------------------------- */

static json_t *dec_mft1(const struct elfimg_note *n, bool big)
{
	struct manifest m;
	struct fmt_err e = { .off = FMT_NOOFF };
	json_t *devs;

	if (ukit_manifest_desc_decode(n->desc, n->descsz, big, &m, &e) < 0)
		return jerr("%s", e.msg);
	devs = json_array();
	for (size_t i = 0; i < m.n; i++) {
		size_t len = strnlen(m.dev[i].name, sizeof m.dev[i].name);

		json_array_append_new(devs, json_pack("{s:o,s:s}", "name",
			ukit_elfimg_json_bytes(m.dev[i].name, len), "type",
			ukit_manifest_type_name(m.dev[i].type)));
	}
	return json_pack("{s:s,s:i,s:o}", "type", "solo5.manifest", "version",
			 MFT_VERSION, "devices", devs);
}

static json_t *dec_abi1(const struct elfimg_note *n, bool big)
{
	uint32_t t, v;

	if (n->descsz < SOLO5_ABI1_DESC_MIN)
		return jerr("ABI1 descriptor too short (%u < %d bytes)",
			    n->descsz, SOLO5_ABI1_DESC_MIN);
	t = ld32(n->desc, big);
	v = ld32(n->desc + 4, big);
	return json_pack("{s:s,s:I,s:I}", "target", ukit_elfimg_abi_target_name(t),
			 "target_id", (json_int_t)t, "version", (json_int_t)v);
}

static json_t *dec_abi_tag(const struct elfimg_note *n, bool big)
{
	static const char *const os[] = {
		"Linux", "Hurd", "Solaris", "FreeBSD", "NetBSD", "Syllable",
		"NaCl",
	};
	uint32_t o;
	char ver[48];

	if (n->descsz < 16)
		return jerr("ABI tag descriptor too short (%u < 16 bytes)",
			    n->descsz);
	o = ld32(n->desc, big);
	snprintf(ver, sizeof ver, "%" PRIu32 ".%" PRIu32 ".%" PRIu32,
		 ld32(n->desc + 4, big), ld32(n->desc + 8, big),
		 ld32(n->desc + 12, big));
	return json_pack("{s:s,s:I,s:s}", "os", o < ARRAY_SIZE(os) ? os[o]
			 : "unknown", "os_id", (json_int_t)o, "version", ver);
}

struct bitname {
	uint32_t bit;
	const char *name;
};

static const struct bitname x86_feature_1[] = {
	{ 1u << 0, "IBT" }, { 1u << 1, "SHSTK" }, { 1u << 2, "LAM_U48" },
	{ 1u << 3, "LAM_U57" }, { 0, NULL },
};
static const struct bitname x86_isa_1[] = {
	{ 1u << 0, "x86-64-baseline" }, { 1u << 1, "x86-64-v2" },
	{ 1u << 2, "x86-64-v3" }, { 1u << 3, "x86-64-v4" }, { 0, NULL },
};
static const struct bitname x86_feature_2[] = {
	{ 1u << 0, "x86" }, { 1u << 1, "x87" }, { 1u << 2, "MMX" },
	{ 1u << 3, "XMM" }, { 1u << 4, "YMM" }, { 1u << 5, "ZMM" },
	{ 1u << 6, "FXSR" }, { 1u << 7, "XSAVE" }, { 1u << 8, "XSAVEOPT" },
	{ 1u << 9, "XSAVEC" }, { 1u << 10, "TMM" }, { 1u << 11, "MASK" },
	{ 0, NULL },
};
static const struct bitname aarch64_feature_1[] = {
	{ 1u << 0, "BTI" }, { 1u << 1, "PAC" }, { 0, NULL },
};

static json_t *bits(uint32_t v, const struct bitname *t)
{
	json_t *a = json_array();

	for (; t->name != NULL; t++) {
		if (v & t->bit) {
			json_array_append_new(a, json_string(t->name));
			v &= ~t->bit;
		}
	}
	for (unsigned b = 0; b < 32; b++) {
		char s[24];

		if (v & (1u << b)) {
			snprintf(s, sizeof s, "bit%u", b);
			json_array_append_new(a, json_string(s));
		}
	}
	return a;
}

static json_t *dec_property(const struct elfimg_note *n, bool big,
			    unsigned elfclass, uint16_t machine)
{
	const unsigned pad = elfclass == ELFCLASS64 ? 8 : 4;
	json_t *props = json_array();
	uint64_t pos = 0;

	while (pos < n->descsz) {
		uint32_t type, sz;
		uint64_t next;
		const char *name = NULL;
		const struct bitname *tbl = NULL;
		json_t *p;

		if (n->descsz - pos < 8) {
			json_array_append_new(props, jerr("property at 0x%"
				PRIx64 ": %" PRIu64 " bytes left, too few for "
				"a property header (8)", pos, n->descsz - pos));
			break;
		}
		type = ld32(n->desc + pos, big);
		sz = ld32(n->desc + pos + 4, big);
		if (sz > n->descsz - pos - 8) {
			json_array_append_new(props, jerr("property at 0x%"
				PRIx64 ": pr_datasz 0x%x past end of the "
				"descriptor", pos, sz));
			break;
		}
		p = json_pack("{s:I,s:I}", "type", (json_int_t)type, "datasz",
			      (json_int_t)sz);
		if (type == GNU_PROPERTY_STACK_SIZE) {
			uint64_t v;

			name = "GNU_PROPERTY_STACK_SIZE";
			if (load_uint(n->desc + pos + 8, sz, big, &v))
				json_object_set_new(p, "value",
						    json_integer((json_int_t)v));
		} else if (type == GNU_PROPERTY_NO_COPY_ON_PROTECTED) {
			name = "GNU_PROPERTY_NO_COPY_ON_PROTECTED";
		} else if (type == 0xb0008000U) {
			name = "GNU_PROPERTY_1_NEEDED";
		} else if (machine == EM_X86_64 || machine == EM_386) {
			switch (type) {
			case 0xc0000002U: name = "GNU_PROPERTY_X86_FEATURE_1_AND";
				tbl = x86_feature_1; break;
			case 0xc0010002U: name = "GNU_PROPERTY_X86_ISA_1_USED";
				tbl = x86_isa_1; break;
			case 0xc0008002U: name = "GNU_PROPERTY_X86_ISA_1_NEEDED";
				tbl = x86_isa_1; break;
			case 0xc0010001U: name = "GNU_PROPERTY_X86_FEATURE_2_USED";
				tbl = x86_feature_2; break;
			case 0xc0008001U: name = "GNU_PROPERTY_X86_FEATURE_2_NEEDED";
				tbl = x86_feature_2; break;
			}
		} else if (machine == EM_AARCH64) {
			if (type == 0xc0000000U) {
				name = "GNU_PROPERTY_AARCH64_FEATURE_1_AND";
				tbl = aarch64_feature_1;
			}
		}
		if (name != NULL)
			json_object_set_new(p, "name", json_string(name));
		if (tbl != NULL || type == 0xb0008000U) {
			if (sz == 4) {
				uint32_t v = ld32(n->desc + pos + 8, big);

				json_object_set_new(p, "value",
						    json_integer(v));
				if (tbl != NULL)
					json_object_set_new(p, "features",
							    bits(v, tbl));
			} else {
				json_object_set_new(p, "error", json_string(
					"pr_datasz is not 4"));
			}
		} else if (name == NULL) {
			json_object_set_new(p, "data", jhex(n->desc + pos + 8,
							    sz));
		}
		json_array_append_new(props, p);
		if (ck_align(pos + 8 + sz, pad, &next) || next > n->descsz)
			next = n->descsz;
		pos = next;
	}
	return json_pack("{s:o}", "properties", props);
}

static json_t *dec_xen(const struct elfimg_note *n, bool big)
{
	uint64_t v;

	if (xen_is_string(n->type))
		return json_pack("{s:o}", "value", jcstr(n->desc, n->descsz));
	if (n->type == 13) {    /* L1_MFN_VALID: mask, value pairs */
		json_t *a = json_array();
		size_t w = n->descsz % 8 == 0 ? 8 : 4;

		for (size_t i = 0; i + w <= n->descsz; i += w) {
			load_uint(n->desc + i, w, big, &v);
			json_array_append_new(a, json_integer((json_int_t)v));
		}
		return json_pack("{s:o}", "values", a);
	}
	if (n->type < ARRAY_SIZE(xen_names) &&
	    load_uint(n->desc, n->descsz, big, &v))
		return json_pack("{s:I}", "value", (json_int_t)v);
	return NULL;
}

static json_t *dec_fdo(const struct elfimg_note *n)
{
	const uint8_t *z = memchr(n->desc, 0, n->descsz);
	size_t len = z ? (size_t)(z - n->desc) : n->descsz;
	json_error_t jerr_;
	json_t *j;

	j = json_loadb((const char *)n->desc, len,
		       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr_);
	if (j != NULL && json_is_object(j))
		return json_pack("{s:o}", "metadata", j);
	json_decref(j);
	return json_pack("{s:o}", "text", ukit_elfimg_json_bytes(n->desc, len));
}

static json_t *decode(const struct elfimg_note *n, const struct ukit_elfimg_info *in)
{
	bool big = in->big;

	if (owner_is(n, "Solo5") && n->namesz == SOLO5_NOTE_NAMESZ) {
		if (n->type == MFT1_NOTE_TYPE)
			return dec_mft1(n, big);
		if (n->type == ABI1_NOTE_TYPE)
			return dec_abi1(n, big);
	} else if (owner_is(n, "GNU")) {
		switch (n->type) {
		case 1: return dec_abi_tag(n, big);
		case 3: return json_pack("{s:o}", "build_id",
					 jhex(n->desc, n->descsz));
		case 4: return json_pack("{s:o}", "version",
					 jcstr(n->desc, n->descsz));
		case 5: return dec_property(n, big, in->elfclass, in->machine);
		}
	} else if (owner_is(n, "Xen")) {
		return dec_xen(n, big);
	} else if (owner_is(n, "FDO") && n->type == FDO_NOTE_TYPE) {
		return dec_fdo(n);
	}
	return NULL;
}

/* ---- the list ------------------------------------------------------- */

struct seen {
	uint64_t off;
	json_t *obj;            /* borrowed from the array */
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static json_t *note_obj(const struct elfimg_note *n,
			const struct ukit_elfimg_info *in)
{
	const char *tn = type_name(n);
	json_t *o, *d;

	o = json_pack("{s:o,s:I,s:I,s:I}", "owner",
		      ukit_elfimg_json_bytes(n->name, n->namelen), "type",
		      (json_int_t)n->type, "descsz",
		      (json_int_t)n->descsz, "offset", (json_int_t)n->offset);
	if (o == NULL)
		return NULL;
	if (tn != NULL)
		json_object_set_new(o, "type_name", json_string(tn));
	json_object_set_new(o, "segment", json_null());
	json_object_set_new(o, "section", json_null());
	d = decode(n, in);
	if (d != NULL)
		json_object_set_new(o, "content", d);
	else if (n->descsz <= HEX_MAX)
		json_object_set_new(o, "desc_hex", jhex(n->desc, n->descsz));
	return o;
}

static void set_where(json_t *o, const struct elfimg_note *n)
{
	if (n->where == ELFIMG_SEGMENT)
		json_object_set_new(o, "segment", json_pack("{s:I,s:b}",
			"index", (json_int_t)n->index, "first", n->first));
	else
		json_object_set_new(o, "section", json_pack("{s:I,s:o}",
			"index", (json_int_t)n->index, "name",
			jcstr((const uint8_t *)n->section,
			      strlen(n->section))));
}

/*
 * Append (n) to (arr) as a new note object, bounded by NOTES_MAX.  Returns
 * the object (owned by arr) or NULL with (e) set.
 */
static json_t *append_note(json_t *arr, const struct elfimg_note *n,
			   const struct ukit_elfimg_info *in, struct fmt_err *e)
{
	json_t *o;

	if (json_array_size(arr) >= NOTES_MAX) {
		ukit_fmt_errf(e, n->offset, "more than %d notes", NOTES_MAX);
		return NULL;
	}
	if ((o = note_obj(n, in)) == NULL) {
		ukit_fmt_errf(e, n->offset, "out of memory");
		return NULL;
	}
	set_where(o, n);
	if (json_array_append_new(arr, o) != 0) {
		ukit_fmt_errf(e, n->offset, "out of memory");
		return NULL;
	}
	return o;
}

int ukit_elfimg_notes_json(struct elfimg *img, struct json_t **out,
		      struct fmt_err *e)
{
	const struct ukit_elfimg_info *in = ukit_elfimg_info(img);
	struct elfimg_notes it;
	struct elfimg_note n;
	struct seen *seen = NULL;
	size_t nseen = 0, cap = 0;
	json_t *arr = json_array(), *top;
	int r;

	if (arr == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	/* Segments first; remember each note's offset. */
	ukit_elfimg_notes_begin(img, ELFIMG_SEGMENT, &it);
	while ((r = ukit_elfimg_notes_next(&it, &n, e)) == 1) {
		json_t *o = append_note(arr, &n, in, e);

		if (o == NULL) {
			r = -1;
			break;
		}
		if (nseen == cap) {
			struct seen *s;

			cap = cap ? 2 * cap : 64;
			s = realloc(seen, cap * sizeof *seen);
			if (s == NULL) {
				r = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
				break;
			}
			seen = s;
		}
		seen[nseen].off = n.offset;
		seen[nseen++].obj = o;
	}
	ukit_elfimg_notes_end(&it);
	if (r < 0)
		goto fail;
	if (nseen > 0)
		qsort(seen, nseen, sizeof *seen, seen_cmp);
	/* Then sections: a note already seen gets its section added. */
	ukit_elfimg_notes_begin(img, ELFIMG_SECTION, &it);
	while ((r = ukit_elfimg_notes_next(&it, &n, e)) == 1) {
		struct seen key = { .off = n.offset }, *hit = NULL;

		if (nseen > 0)
			hit = bsearch(&key, seen, nseen, sizeof *seen,
				      seen_cmp);
		if (hit != NULL) {
			set_where(hit->obj, &n);
			continue;
		}
		if (append_note(arr, &n, in, e) == NULL) {
			r = -1;
			break;
		}
	}
	ukit_elfimg_notes_end(&it);
	if (r < 0)
		goto fail;
	free(seen);
	top = json_pack("{s:s,s:s,s:I,s:s?,s:I,s:o}",
			"class", in->elfclass == ELFCLASS64 ? "ELF64" : "ELF32",
			"data", in->big ? "big-endian" : "little-endian",
			"machine", (json_int_t)in->machine,
			"machine_name", ukit_elfimg_machine_name(in->machine),
			"e_type", (json_int_t)in->type,
			"notes", arr);
	if (top == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	*out = top;
	return 0;
fail:
	free(seen);
	json_decref(arr);
	return -1;
}
