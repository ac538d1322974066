/*
 * test_oci.c: the OCI layer's parsers of outside bytes, each with a table
 * of malformed inputs and the exact error: WWW-Authenticate challenges,
 * references, tar headers (and the writer read back), manifests and
 * indexes, auth files; and the signatures of a layout's image collected
 * as push carries them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ocijson.h"
#include "ocilayout.h"
#include "ocisig.h"
#include "ocitar.h"
#include "registry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_challenge(void **state)
{
	static const struct { const char *in, *err; } bad[] = {
		{ "", "WWW-Authenticate: no auth scheme" },
		{ "Bearer realm", "WWW-Authenticate: expected name=value at byte 12" },
		{ "Bearer realm=\"https://a", "WWW-Authenticate: unterminated quoted string" },
		{ "Bearer realm=\"x\\", "WWW-Authenticate: escape at the end" },
		{ "Bearer realm=\"https://a\" x", "WWW-Authenticate: expected ',' at byte 25" },
		{ "Bearer service=x", "WWW-Authenticate: Bearer challenge without a realm" },
		{ "Bearer realm=\"file:///etc/passwd\"", "WWW-Authenticate: realm \"file:///etc/passwd\" is not an http(s) URL" },
		{ "Bearer realm=\"a\x01\"", "WWW-Authenticate: control character in a quoted string" },
		{ "Bearer realm=", "WWW-Authenticate: empty value for realm" },
	};
	struct ukit_oci_challenge c;
	struct fmt_err e;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_oci_challenge_parse(bad[i].in,
				 strlen(bad[i].in), &c, &e), -1);
		assert_string_equal(e.msg, bad[i].err);
	}
	{
		static const char ok[] = "Bearer realm=\"https://auth.docker.io/token\","
			"service=\"registry.docker.io\",scope=\"repository:library/a:pull\"";
		assert_int_equal(ukit_oci_challenge_parse(ok, strlen(ok), &c, &e), 0);
	}
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/a:pull");
	{
		static const char ok[] = "basic REALM=\"a \\\"b\\\"\"";
		assert_int_equal(ukit_oci_challenge_parse(ok, strlen(ok), &c, &e), 0);
	}
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "a \"b\"");
}

static void test_refs(void **state)
{
	static const struct { const char *in, *err; } bad[] = {
		{ "foo", "foo: unknown transport (use oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG])" },
		{ "oci:", "oci:: no path" },
		{ "oci:d:bad tag", "oci:d:bad tag: \"bad tag\" is not a valid tag" },
		{ "oci:d@sha256:12", "oci:d@sha256:12: \"sha256:12\" is not a sha256 digest" },
		{ "docker://h.io/UP/x", "docker://h.io/UP/x: \"UP/x\" is not a valid repository name (lowercase letters, digits, separators)" },
		{ "docker://h.io/a//b", "docker://h.io/a//b: \"a//b\" is not a valid repository name (lowercase letters, digits, separators)" },
		{ "docker://h.io/a:-x", "docker://h.io/a:-x: \"-x\" is not a valid tag" },
	};
	struct ukit_oci_ref r;
	struct fmt_err e;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_oci_ref_parse(bad[i].in, &r, &e), -1);
		assert_string_equal(e.msg, bad[i].err);
	}
	assert_int_equal(ukit_oci_ref_parse("docker://127.0.0.1:5000/a/b-c", &r, &e), 0);
	assert_string_equal(r.host, "127.0.0.1:5000");
	assert_string_equal(r.repo, "a/b-c");
	assert_string_equal(r.tag, "latest");
	ukit_oci_ref_free(&r);
	assert_int_equal(ukit_oci_ref_parse("docker://alpine:3", &r, &e), 0);
	assert_string_equal(r.host, "docker.io");
	assert_string_equal(r.repo, "library/alpine");
	assert_string_equal(r.tag, "3");
	ukit_oci_ref_free(&r);
	assert_int_equal(ukit_oci_ref_parse("oci-archive:x.tar:v1", &r, &e), 0);
	assert_int_equal(r.kind, OCI_REF_ARCHIVE);
	assert_string_equal(r.path, "x.tar");
	assert_string_equal(r.tag, "v1");
	ukit_oci_ref_free(&r);
}

struct membuf {
	uint8_t buf[8192];
	size_t n, pos;
};

static int mem_write(void *ctx, const void *p, size_t len, struct fmt_err *e)
{
	struct membuf *m = ctx;

	(void)e;
	assert_true(m->n + len <= sizeof m->buf);
	memcpy(m->buf + m->n, p, len);
	m->n += len;
	return 0;
}

static ssize_t mem_read(void *ctx, void *p, size_t len, struct fmt_err *e)
{
	struct membuf *m = ctx;

	(void)e;
	if (len > m->n - m->pos)
		len = m->n - m->pos;
	memcpy(p, m->buf + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

static void test_tar(void **state)
{
	struct membuf m = { .n = 0 };
	struct ukit_oci_sink s = { mem_write, &m };
	struct ukit_oci_source src = { mem_read, &m };
	struct ukit_ocitar_rd r;
	struct ukit_ocitar_entry ent;
	struct fmt_err e;
	uint8_t blk[OCITAR_BLOCK];
	char data[8];
	static const struct { size_t off; uint8_t v; const char *err; } bad[] = {
		{ 148, 'x', "tar header: checksum field is not octal" },
		{ 0, 'z', "tar header: checksum mismatch" },
		{ 156, 'Q', "tar header: unknown type flag 0x51 for \"unikernel/kernel\"" },
		{ 124, '9', "tar header: size is not a valid number" },
	};

	(void)state;
	assert_int_equal(ukit_ocitar_header(&s, "unikernel", true, 0755, 0, 7, &e), 0);
	assert_int_equal(ukit_ocitar_header(&s, "unikernel/kernel", false, 0755, 3, 7, &e), 0);
	assert_int_equal(mem_write(&m, "abc", 3, &e), 0);
	assert_int_equal(ukit_ocitar_pad(&s, 3, &e), 0);
	assert_int_equal(ukit_ocitar_end(&s, &e), 0);
	assert_int_equal(m.n, 5 * OCITAR_BLOCK);
	ukit_ocitar_rd_init(&r, &src, "mem");
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), 1);
	assert_string_equal(ent.name, "unikernel");
	assert_int_equal(ent.type, OCITAR_DIR);
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), 1);
	assert_string_equal(ent.name, "unikernel/kernel");
	assert_int_equal(ent.size, 3);
	assert_int_equal(ent.mode, 0755);
	assert_int_equal(ukit_ocitar_read(&r, data, sizeof data, &e), 3);
	assert_memory_equal(data, "abc", 3);
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), 0);

	/* one bad field at a time in the file header (block 1) */
	for (size_t i = 0; i < N(bad); i++) {
		memcpy(blk, m.buf + OCITAR_BLOCK, OCITAR_BLOCK);
		blk[bad[i].off] = bad[i].v;
		if (bad[i].off != 148 && bad[i].off != 0) {
			/* keep the checksum right so the field itself is seen */
			unsigned sum = 0;
			memset(blk + 148, ' ', 8);
			for (size_t k = 0; k < OCITAR_BLOCK; k++)
				sum += blk[k];
			snprintf((char *)blk + 148, 8, "%06o", sum);
			blk[155] = ' ';
		}
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_ocitar_parse_header(blk, 0, &ent, &e), -1);
		assert_non_null(strstr(e.msg, bad[i].err));
	}
	/* a ".." component */
	memcpy(blk, m.buf + OCITAR_BLOCK, OCITAR_BLOCK);
	memcpy(blk, "a/../../etc", 12);
	{
		unsigned sum = 0;
		memset(blk + 148, ' ', 8);
		for (size_t k = 0; k < OCITAR_BLOCK; k++)
			sum += blk[k];
		snprintf((char *)blk + 148, 8, "%06o", sum);
		blk[155] = ' ';
	}
	assert_int_equal(ukit_ocitar_parse_header(blk, 0, &ent, &e), -1);
	assert_string_equal(e.msg, "tar header: name \"a/../../etc\" has a \"..\" "
			    "component or is too long");
	/* truncated: the data ends early */
	m.n = 2 * OCITAR_BLOCK + 1;
	m.pos = 0;
	ukit_ocitar_rd_init(&r, &src, "mem");
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), 1);
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), 1);
	assert_int_equal(ukit_ocitar_next(&r, &ent, &e), -1);
	assert_string_equal(e.msg, "mem: tar archive truncated (1 of 512 bytes)");
}

static void test_manifest(void **state)
{
	static const char cfg[] = "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2}";
	static const struct { const char *in, *err; } bad[] = {
		{ "[]", "m: $: not a JSON object" },
		{ "{\"schemaVersion\":2}", "m: $: missing \"config\"" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"text/x\",\"config\":{}}", "m: $.mediaType: \"text/x\" is not an image manifest media type" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"md5:x\",\"size\":1},\"layers\":[]}",
		  "m: $.config.digest: unsupported digest algorithm in \"md5:x\" (only sha256)" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:00\",\"size\":1.5},\"layers\":[]}",
		  "m: $.config.digest: \"sha256:00\" is not sha256: and 64 lowercase hex digits" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":1.5},\"layers\":[]}",
		  "m: $.config.size: not an integer in 0..70368744177664" },
	};
	struct ukit_oci_manifest mm;
	struct fmt_err e;
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_oci_manifest_parse(bad[i].in, strlen(bad[i].in),
							 "m", &mm, &e), -1);
		assert_string_equal(e.msg, bad[i].err);
	}
	snprintf(buf, sizeof buf, "{\"schemaVersion\":2,\"config\":%s,\"layers\":{}}", cfg);
	assert_int_equal(ukit_oci_manifest_parse(buf, strlen(buf), "m", &mm, &e), -1);
	assert_string_equal(e.msg, "m: $.layers: missing or not an array");
	snprintf(buf, sizeof buf, "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s],"
		 "\"annotations\":{\"a\":1}}", cfg, cfg);
	assert_int_equal(ukit_oci_manifest_parse(buf, strlen(buf), "m", &mm, &e), -1);
	assert_string_equal(e.msg, "m: $.annotations[\"a\"]: not a string");
	snprintf(buf, sizeof buf, "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s],"
		 "\"future\":[1,2]}", cfg, cfg);
	assert_int_equal(ukit_oci_manifest_parse(buf, strlen(buf), "m", &mm, &e), 0);
	assert_int_equal(mm.nlayers, 1);
	ukit_oci_manifest_free(&mm);
	{
		char *big = malloc(OCI_JSON_MAX + 2);
		assert_non_null(big);
		memset(big, ' ', OCI_JSON_MAX + 1);
		assert_int_equal(ukit_oci_manifest_parse(big, OCI_JSON_MAX + 1, "m",
							 &mm, &e), -1);
		assert_string_equal(e.msg, "m: 4194305 bytes, over the limit of "
				    "4194304 for a manifest, index or config");
		free(big);
	}
	assert_int_equal(ukit_oci_doc_kind("application/x-foo", "{}", 2, &e), -1);
	assert_string_equal(e.msg, "unknown manifest media type \"application/x-foo\"");
	assert_int_equal(ukit_oci_doc_kind(NULL, "{\"manifests\":[]}", 16, &e), 2);
	/* fuzz_oci_json found this: an empty mediaType read the bytes again
	 * from a NULL pointer */
	{
		static const char t1[] = "{\"mediaType\":\"\",\"schemaVersion\":2}";
		static const char t2[] = "{\"mediaType\":\"text/x\"}";
		assert_int_equal(ukit_oci_doc_kind(NULL, t1, strlen(t1), &e), 1);
		assert_int_equal(ukit_oci_doc_kind(NULL, t2, strlen(t2), &e), -1);
		assert_string_equal(e.msg, "manifest: $.mediaType: unknown "
				    "manifest media type \"text/x\"");
		assert_int_equal(ukit_oci_doc_kind("", t1, strlen(t1), &e), 1);
	}
}

/* layers of a manifest and manifests of an index: one parser, both limits
 * and messages kept (ocijson.c desc_array) */
static void test_desc_arrays(void **state)
{
	static const char d[] = "{\"mediaType\":\"a/b\",\"digest\":\"sha256:"
		"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"size\":2}";
	static const char bad[] = "{\"mediaType\":\"a/b\",\"digest\":\"sha256:00\","
		"\"size\":2}";
	struct ukit_oci_manifest mm;
	struct ukit_oci_index ix;
	struct fmt_err e;
	size_t cap = (OCI_INDEX_MAX + 2) * sizeof d + 256, n;
	char *buf = malloc(cap);

	(void)state;
	assert_non_null(buf);
	/* (count) copies of (d) in $.KEY, the last one (last) */
#define ARRAY_DOC(pre, count, last) do { \
		n = (size_t)snprintf(buf, cap, "%s", pre); \
		for (size_t i = 0; i < (count); i++) \
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", \
					      i + 1 == (count) ? (last) : d); \
		n += (size_t)snprintf(buf + n, cap - n, "]}"); \
	} while (0)
	char pre[512];
	snprintf(pre, sizeof pre, "{\"schemaVersion\":2,\"config\":%s,\"layers\":[", d);
	ARRAY_DOC(pre, (size_t)OCI_LAYERS_MAX, d);
	assert_int_equal(ukit_oci_manifest_parse(buf, n, "m", &mm, &e), 0);
	assert_int_equal(mm.nlayers, OCI_LAYERS_MAX);
	ukit_oci_manifest_free(&mm);
	ARRAY_DOC(pre, (size_t)OCI_LAYERS_MAX + 1, d);
	assert_int_equal(ukit_oci_manifest_parse(buf, n, "m", &mm, &e), -1);
	assert_string_equal(e.msg, "m: $.layers: 257 layers, over the limit of 256");
	ARRAY_DOC(pre, 3, bad);
	assert_int_equal(ukit_oci_manifest_parse(buf, n, "m", &mm, &e), -1);
	assert_string_equal(e.msg, "m: $.layers[2].digest: \"sha256:00\" is not "
			    "sha256: and 64 lowercase hex digits");
	ARRAY_DOC("{\"schemaVersion\":2,\"manifests\":[", (size_t)OCI_INDEX_MAX, d);
	assert_int_equal(ukit_oci_index_parse(buf, n, "ix", &ix, &e), 0);
	assert_int_equal(ix.n, OCI_INDEX_MAX);
	ukit_oci_index_free(&ix);
	ARRAY_DOC("{\"schemaVersion\":2,\"manifests\":[", (size_t)OCI_INDEX_MAX + 1, d);
	assert_int_equal(ukit_oci_index_parse(buf, n, "ix", &ix, &e), -1);
	assert_string_equal(e.msg, "ix: $.manifests: 4097 entries, over the limit "
			    "of 4096");
	ARRAY_DOC("{\"schemaVersion\":2,\"manifests\":[", 1, bad);
	assert_int_equal(ukit_oci_index_parse(buf, n, "ix", &ix, &e), -1);
	assert_string_equal(e.msg, "ix: $.manifests[0].digest: \"sha256:00\" is "
			    "not sha256: and 64 lowercase hex digits");
	snprintf(buf, cap, "{\"schemaVersion\":2,\"manifests\":{}}");
	assert_int_equal(ukit_oci_index_parse(buf, strlen(buf), "ix", &ix, &e), -1);
	assert_string_equal(e.msg, "ix: $.manifests: missing or not an array");
#undef ARRAY_DOC
	free(buf);
}

static void test_authfile(void **state)
{
	static const struct { const char *in, *err; } bad[] = {
		{ "{\"auths\":[]}", "f: $.auths: not an object" },
		{ "{\"auths\":{\"h\":{\"auth\":5}}}", "f: $.auths[\"h\"].auth: not a string" },
		{ "{\"auths\":{\"h\":{\"auth\":\"dXNlcg==\"}}}", "f: $.auths[\"h\"].auth: not base64 of USER:PASSWORD" },
		{ "{\"auths\":{\"h\":7}}", "f: $.auths[\"h\"]: not an object" },
	};
	struct fmt_err e;
	char *u = NULL, *p = NULL;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		memset(&e, 0, sizeof e);
		assert_int_equal(ukit_oci_authfile_lookup(bad[i].in, strlen(bad[i].in),
							  "f", "h", &u, &p, &e), -1);
		assert_string_equal(e.msg, bad[i].err);
	}
	{
		static const char ok[] = "{\"auths\":{\"https://h\":{\"auth\":\"YTpiOmM=\"}}}";
		assert_int_equal(ukit_oci_authfile_lookup(ok, strlen(ok), "f", "h",
							  &u, &p, &e), 1);
	}
	assert_string_equal(u, "a");
	assert_string_equal(p, "b:c");
	free(u);
	free(p);
	assert_int_equal(ukit_oci_authfile_lookup("{\"auths\":{}}", 12, "f", "h",
						  &u, &p, &e), 0);
}

/* A new layout in (dir) (a mkdtemp() template) holding the image
 * manifest (man) tagged v1: its reference and descriptor. */
static void sig_layout(char *dir, const char *man, struct ukit_oci_ref *ref,
		       struct ukit_oci_desc *d)
{
	struct ukit_oci_out *w = NULL;
	struct fmt_err e = { .off = FMT_NOOFF };
	char spec[64];

	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof spec, "oci:%s:v1", dir);
	assert_int_equal(ukit_oci_ref_parse(spec, ref, &e), 0);
	memset(d, 0, sizeof *d);
	snprintf(d->media_type, sizeof d->media_type, "%s", OCI_MT_MANIFEST);
	d->size = strlen(man);
	assert_int_equal(ukit_oci_out_open(ref, 0, &w, &e), 0);
	assert_int_equal(ukit_oci_out_blob_bytes(w, man, strlen(man), d->digest,
						 &e), 0);
	assert_int_equal(ukit_oci_out_commit(w, d, "v1", &e), 0);
}

/* A layout with an image signed twice (one signature attached twice) and
 * another image signed once: collect finds this image's two, once each. */
static void test_sig_collect(void **state)
{
	static const char man[] = "{\"schemaVersion\":2,\"mediaType\":"
		"\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
		"{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
		"\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
		"\"size\":2},\"layers\":[]}";
	struct ukit_oci_artifact a[3];
	struct ukit_oci_sigset ss;
	struct ukit_oci_desc d, other;
	struct ukit_oci_ref ref;
	struct fmt_err e = { .off = FMT_NOOFF };
	char dir[] = "/tmp/test_oci.XXXXXX", cmd[80], last[512];
	static const char *const bundles[3] = { "bundle-a", "bundle-b", "bundle-c" };

	(void)state;
	sig_layout(dir, man, &ref, &d);
	other = d;
	assert_int_equal(ukit_oci_digest_buf("x", 1, other.digest, &e), 0);

	memset(&ss, 0, sizeof ss);
	assert_int_equal(ukit_oci_sig_collect(&ref, NULL, d.digest, &ss, &e), 0);
	assert_int_equal(ss.n, 0);
	ukit_oci_sigset_free(&ss);

	for (int i = 0; i < 3; i++)
		assert_int_equal(ukit_oci_sig_artifact(i == 2 ? &other : &d,
				 bundles[i], 8, i, &a[i], &e), 0);
	assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &a[0], &e), 0);
	assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &a[0], &e), 0);
	assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &a[1], &e), 0);
	assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &a[2], &e), 0);

	assert_int_equal(ukit_oci_sig_collect(&ref, NULL, d.digest, &ss, &e), 0);
	assert_int_equal(ss.n, 2);
	assert_null(ss.skipped);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(ss.a[i].manifest_desc.digest,
				    a[i].manifest_desc.digest);
		assert_string_equal(ss.a[i].subject.digest, d.digest);
		assert_int_equal(ss.a[i].blob_len, 8);
		assert_memory_equal(ss.a[i].blob, bundles[i], 8);
		assert_int_equal(ss.a[i].manifest_len, a[i].manifest_len);
		assert_memory_equal(ss.a[i].manifest, a[i].manifest,
				    a[i].manifest_len);
		assert_string_equal(ss.a[i].manifest_desc.artifact_type,
				    OCI_MT_BUNDLE);
	}
	ukit_oci_sigset_free(&ss);
	assert_int_equal(ukit_oci_sig_collect(&ref, NULL, other.digest, &ss,
					      &e), 0);
	assert_int_equal(ss.n, 1);
	assert_string_equal(ss.a[0].manifest_desc.digest,
			    a[2].manifest_desc.digest);
	ukit_oci_sigset_free(&ss);

	/* a layout listing more signatures than are carried: the first
	 * OCI_SIGS_MAX, and each of the rest named as left behind */
	for (int i = 0; i < OCI_SIGS_MAX; i++) {
		struct ukit_oci_artifact x;
		char b[16];

		snprintf(b, sizeof b, "bundle-%03d", i);
		assert_int_equal(ukit_oci_sig_artifact(&d, b, strlen(b), 0, &x,
						       &e), 0);
		assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &x, &e), 0);
		if (i == OCI_SIGS_MAX - 1)
			snprintf(last, sizeof last, "%s/blobs/sha256/%s", dir,
				 x.manifest_desc.digest + 7);
		ukit_oci_artifact_free(&x);
	}
	/* the walk ends at the first one past the limit: the last listed
	 * is never read (its manifest is gone; reading it would fail) */
	assert_int_equal(unlink(last), 0);
	assert_int_equal(ukit_oci_sig_collect(&ref, NULL, d.digest, &ss, &e), 0);
	assert_int_equal(ss.n, OCI_SIGS_MAX);
	assert_int_equal(json_array_size(ss.skipped), 1);
	assert_non_null(strstr(json_string_value(json_array_get(ss.skipped, 0)),
			       "past 64 signatures"));
	ukit_oci_sigset_free(&ss);

	for (int i = 0; i < 3; i++)
		ukit_oci_artifact_free(&a[i]);
	ukit_oci_ref_free(&ref);
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A layout whose signature manifest has a NUL and more after its JSON,
 * listed under the digest of all its bytes: the digest holds, but the
 * bytes are no manifest.  Read only up to the NUL (strlen) they were
 * carried cut, their digest no longer the one listed beside them. */
static void test_sig_collect_nul(void **state)
{
	static const char man[] = "{\"schemaVersion\":2,\"layers\":[],\"config\":"
		"{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
		"\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
		"\"size\":2}}";
	struct ukit_oci_artifact a;
	struct ukit_oci_sigset ss;
	struct ukit_oci_desc d;
	struct ukit_oci_ref ref;
	struct fmt_err e = { .off = FMT_NOOFF };
	char dir[] = "/tmp/test_oci.XXXXXX", cmd[80], *cut;
	size_t n;

	(void)state;
	sig_layout(dir, man, &ref, &d);
	assert_int_equal(ukit_oci_sig_artifact(&d, "bundle", 6, 0, &a, &e), 0);
	/* the manifest + "\0junk", listed with the digest of all of it */
	n = a.manifest_len + 5;
	cut = malloc(n);
	assert_non_null(cut);
	memcpy(cut, a.manifest, a.manifest_len);
	memcpy(cut + a.manifest_len, "\0junk", 5);
	free(a.manifest);
	a.manifest = cut;
	a.manifest_len = n;
	a.manifest_desc.size = n;
	assert_int_equal(ukit_oci_digest_buf(cut, n, a.manifest_desc.digest,
					     &e), 0);
	assert_int_equal(ukit_oci_sig_attach(&ref, NULL, &a, &e), 0);

	memset(&e, 0, sizeof e);
	assert_int_equal(ukit_oci_sig_collect(&ref, NULL, d.digest, &ss, &e), -1);
	assert_non_null(strstr(e.msg, a.manifest_desc.digest + 7));
	assert_non_null(strstr(e.msg, "NUL byte in JSON"));
	assert_int_equal(e.off, n - 5);
	assert_int_equal(ss.n, 0);

	ukit_oci_artifact_free(&a);
	ukit_oci_ref_free(&ref);
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* What counts as a signature of an image, one mismatch at a time. */
static void test_manifest_signs(void **state)
{
#define SUBJ "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define OTHER "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define EMPTYCFG "{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":" \
	"\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2}"
#define LAYER(mt, n) "{\"mediaType\":\"" mt "\",\"digest\":\"" OTHER "\",\"size\":" #n "}"
#define SUBJD(d) ",\"subject\":{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" d "\",\"size\":9}"
	static const struct { const char *doc; bool signs; } cases[] = {
		{ "{\"schemaVersion\":2,\"artifactType\":\"" OCI_MT_BUNDLE "\","
		  "\"config\":" EMPTYCFG ",\"layers\":[" LAYER(OCI_MT_BUNDLE, 5) "]"
		  SUBJD(SUBJ) "}", true },
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER(OCI_MT_BUNDLE, 5) "]" SUBJD(SUBJ) "}", true },
		/* the subject is another image */
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER(OCI_MT_BUNDLE, 5) "]" SUBJD(OTHER) "}", false },
		/* no subject */
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER(OCI_MT_BUNDLE, 5) "]}", false },
		/* an artifactType other than its layer's */
		{ "{\"schemaVersion\":2,\"artifactType\":\"application/x-sbom\","
		  "\"config\":" EMPTYCFG ",\"layers\":[" LAYER(OCI_MT_BUNDLE, 5) "]"
		  SUBJD(SUBJ) "}", false },
		/* a layer of another type, two layers, one too large */
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER("application/x-sbom", 5) "]" SUBJD(SUBJ) "}", false },
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER(OCI_MT_BUNDLE, 5) "," LAYER(OCI_MT_BUNDLE, 5) "]"
		  SUBJD(SUBJ) "}", false },
		{ "{\"schemaVersion\":2,\"config\":" EMPTYCFG ",\"layers\":["
		  LAYER(OCI_MT_BUNDLE, 1048577) "]" SUBJD(SUBJ) "}", false },
	};
	struct ukit_oci_manifest m;
	struct fmt_err e = { .off = FMT_NOOFF };

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		assert_int_equal(ukit_oci_manifest_parse(cases[i].doc,
				 strlen(cases[i].doc), "m", &m, &e), 0);
		if (ukit_oci_manifest_signs(&m, SUBJ, OCI_MT_BUNDLE,
					    OCI_ARTIFACT_MAX) != cases[i].signs)
			fail_msg("case %zu: signs %d, want %d", i, !cases[i].signs,
				 cases[i].signs);
		ukit_oci_manifest_free(&m);
	}
#undef SUBJ
#undef OTHER
#undef EMPTYCFG
#undef LAYER
#undef SUBJD
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_tar),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_desc_arrays),
		cmocka_unit_test(test_authfile),
		cmocka_unit_test(test_sig_collect),
		cmocka_unit_test(test_sig_collect_nul),
		cmocka_unit_test(test_manifest_signs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
