/*
 * test_sig.c: DSSE (the spec's published vectors), base64, statements,
 * bundles and the appended footer, keys and signatures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "bundle.h"
#include "bytes.h"
#include "dsse.h"
#include "sig.h"
#include "sigimg.h"
#include "sigjson.h"
#include "statement.h"
#include "stream.h"

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* An Ed25519 public key from its 32 raw bytes (hex). */
static struct sig_key *ed25519_pub(const char *hex)
{
	uint8_t raw[32];
	struct sig_key *k = NULL;
	EVP_PKEY *p;

	unhex(hex, raw);
	p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	assert_non_null(p);
	assert_int_equal(ukit_sig_key_from_pkey(p, &k, NULL), 0);
	EVP_PKEY_free(p);
	return k;
}

/* protocol.md "Test Vectors": PAE bytes and the ECDSA P-256 signature. */
static void test_dsse_protocol_example(void **state)
{
	static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	/* X, Y of the example key (decimal in protocol.md), as hex */
	static const char *X = "67cd390f77aa359cb08c2235f652270493a9ed832b0abcc01f70954c0390d238";
	static const char *Y = "0c782bd54e269125a44f4433aff1432ce94e12bca73aa67ac80cea12608ddf74";
	static const char *sig_b64 =
		"A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";
	uint8_t *pae, *raw, spki[91], *der = NULL;
	const unsigned char *pp = spki;
	size_t len, rawlen;
	struct sig_key *k = NULL;
	ECDSA_SIG *es;
	EVP_PKEY *p;
	int dlen;

	(void)state;
	assert_int_equal(ukit_dsse_pae("http://example.com/HelloWorld", 29,
				  (const uint8_t *)"hello world", 11, &pae, &len,
				  NULL), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(pae, want, len);

	unhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004", spki);
	unhex(X, spki + 27);
	unhex(Y, spki + 59);
	p = d2i_PUBKEY(NULL, &pp, sizeof spki);
	assert_non_null(p);
	assert_int_equal(ukit_sig_key_from_pkey(p, &k, NULL), 0);
	EVP_PKEY_free(p);
	/* raw r || s -> DER, our signature format */
	assert_int_equal(ukit_b64_decode(sig_b64, 64, &raw, &rawlen, NULL), 0);
	assert_int_equal(rawlen, 64);
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
	dlen = i2d_ECDSA_SIG(es, &der);
	assert_true(dlen > 0);
	assert_int_equal(ukit_sig_verify(k, pae, len, der, (size_t)dlen, NULL), 0);
	pae[len - 1] ^= 1;
	assert_int_equal(ukit_sig_verify(k, pae, len, der, (size_t)dlen, NULL), -1);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	free(raw);
	free(pae);
	ukit_sig_key_free(k);
}

/* testvectors/vectors.json of secure-systems-lab/dsse (RFC 8032 keys). */
static const char *const KEY_A =
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *const KEY_B =
	"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
#define SIG_A "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
#define SIG_B "c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw=="
#define PL "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
#define PAE_INTOTO "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d"

static const struct vec {
	const char *id, *env, *pae;
	int trust_b, threshold, accept;
	const char *supported2;   /* a second supported payload type */
} vectors[] = {
	{ "single-signature",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"" SIG_A "\",\"keyid\":\"A\"}]}",
	  PAE_INTOTO, 0, 1, 1, NULL },
	{ "url-safe-base64",
	  "{\"payload\":\"-_-_Pj8=\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==\",\"keyid\":\"A\"}]}",
	  "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203520fbffbf3e3f",
	  0, 1, 1, NULL },
	{ "payload-type-swapped",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.example.other+json\","
	  "\"signatures\":[{\"sig\":\"" SIG_A "\",\"keyid\":\"A\"}]}",
	  NULL, 0, 1, 0, "application/vnd.example.other+json" },
	{ "non-ascii-payload-type",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.ex\xc3\xa4mple+json\","
	  "\"signatures\":[{\"sig\":\"xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw==\",\"keyid\":\"A\"}]}",
	  "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d",
	  0, 1, 1, "application/vnd.ex\xc3\xa4mple+json" },
	{ "empty-payload",
	  "{\"payload\":\"\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg==\",\"keyid\":\"A\"}]}",
	  "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020",
	  0, 1, 1, NULL },
	{ "empty-payload-type",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"\","
	  "\"signatures\":[{\"sig\":\"iC3q/+3Rm0+lpAJRueDmDh15PnwCfxKmS0NAfKsbv+zgulXQC/WM9trc+j1XEqlwDIg/vf/uNfebeD6sxInrDg==\",\"keyid\":\"A\"}]}",
	  NULL, 0, 1, 0, NULL },
	{ "threshold-two-distinct-keys",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"" SIG_A "\",\"keyid\":\"A\"},{\"sig\":\"" SIG_B "\",\"keyid\":\"B\"}]}",
	  PAE_INTOTO, 1, 2, 1, NULL },
	{ "threshold-two-one-key-twice",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"" SIG_A "\",\"keyid\":\"A\"},{\"sig\":\"" SIG_A "\",\"keyid\":\"A\"}]}",
	  PAE_INTOTO, 1, 2, 0, NULL },
	{ "threshold-two-without-keyids",
	  "{\"payload\":\"" PL "\",\"payloadType\":\"application/vnd.in-toto+json\","
	  "\"signatures\":[{\"sig\":\"" SIG_A "\"},{\"sig\":\"" SIG_B "\"}]}",
	  PAE_INTOTO, 1, 2, 1, NULL },
};

/* DSSE's (t, n) verification over our envelope decoder and ukit_sig_verify. */
static int vec_verify(const struct vec *v, struct sig_key *a, struct sig_key *b,
		      uint8_t *pae_out, size_t *pae_len)
{
	struct dsse_env env;
	struct fmt_err e = { 0 };
	json_t *j = ukit_sigjson_load(v->env, strlen(v->env), "vector", &e);
	int accepted[2] = { 0, 0 };
	struct sig_key *keys[2] = { a, v->trust_b ? b : NULL };
	uint8_t *pae;
	size_t len;

	*pae_len = 0;
	assert_non_null(j);
	if (ukit_dsse_from_json(j, "$", &env, &e) != 0) {
		json_decref(j);
		return 0;
	}
	json_decref(j);
	assert_int_equal(ukit_dsse_pae(env.type, strlen(env.type), env.payload,
				  env.payload_len, &pae, &len, NULL), 0);
	memcpy(pae_out, pae, len);
	*pae_len = len;
	for (size_t i = 0; i < env.nsig; i++)
		for (int k = 0; k < 2; k++)
			if (keys[k] != NULL &&
			    ukit_sig_verify(keys[k], pae, len, env.sig[i].sig,
				       env.sig[i].siglen, NULL) == 0)
				accepted[k] = 1;
	free(pae);
	if (accepted[0] + accepted[1] < v->threshold) {
		ukit_dsse_free(&env);
		return 0;
	}
	if (strcmp(env.type, DSSE_INTOTO_TYPE) != 0 &&
	    (v->supported2 == NULL || strcmp(env.type, v->supported2) != 0)) {
		ukit_dsse_free(&env);
		return 0;
	}
	ukit_dsse_free(&env);
	return 1;
}

static void test_dsse_vectors(void **state)
{
	struct sig_key *a = ed25519_pub(KEY_A), *b = ed25519_pub(KEY_B);
	uint8_t pae[512], want[512];
	size_t len;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		const struct vec *v = &vectors[i];
		int got = vec_verify(v, a, b, pae, &len);
		if (got != v->accept)
			fail_msg("vector %s: got %s, want %s", v->id,
				 got ? "accept" : "reject",
				 v->accept ? "accept" : "reject");
		if (v->pae != NULL) {
			size_t n = unhex(v->pae, want);
			assert_int_equal(len, n);
			assert_memory_equal(pae, want, n);
		}
	}
	ukit_sig_key_free(a);
	ukit_sig_key_free(b);
}

static void test_base64_strict(void **state)
{
	static const struct { const char *in; int ok; size_t len; } t[] = {
		{ "", 1, 0 }, { "aGk=", 1, 2 }, { "aGk", 1, 2 }, { "aGVsbG8=", 1, 5 },
		{ "-_-_Pj8=", 1, 5 }, { "+/+/", 1, 3 },
		{ "aGl=", 0, 0 },      /* non-zero unused bits */
		{ "aGk==", 0, 0 },     /* wrong padding */
		{ "a", 0, 0 }, { "aGk=aGk=", 0, 0 }, { "a Gk", 0, 0 },
		{ "+_", 0, 0 },        /* mixed alphabets */
		{ "aG\nk", 0, 0 }, { "====", 0, 0 },
	};
	uint8_t *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int rc = ukit_b64_decode(t[i].in, 100, &out, &len, NULL);
		if ((rc == 0) != t[i].ok)
			fail_msg("base64 \"%s\": rc %d", t[i].in, rc);
		if (rc == 0) {
			assert_int_equal(len, t[i].len);
			free(out);
		}
	}
	for (size_t n = 0; n < 40; n++) {
		uint8_t in[40];
		char *s;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		s = ukit_b64_encode(in, n);
		assert_int_equal(ukit_b64_decode(s, 100, &out, &len, NULL), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, in, n);
		free(out);
		free(s);
	}
	assert_int_equal(ukit_b64_decode("aGVsbG8=", 4, &out, &len, NULL), -1);
}

/* ---- footer ------------------------------------------------------- */

static void test_footer(void **state)
{
	struct sigfoot f = { 1000, 1000, 200 }, g;
	struct fmt_err e = { 0 };
	uint8_t buf[SIGFOOT_SIZE], bad[SIGFOOT_SIZE];
	static const struct { size_t off; uint8_t x; const char *msg; } t[] = {
		{ 8, 1, "version" }, { 12, 1, "reserved field" },
		{ 16, 1, "bundle offset" }, { 24, 1, "bundle offset" },
		{ 32, 1, "does not end at the footer" }, { 40, 1, "reserved byte" },
		{ 63, 0x80, "reserved byte" },
	};

	(void)state;
	ukit_sigfoot_encode(&f, buf);
	assert_memory_equal(buf, "UKITSIG1", 8);
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, 1264, &g, &e), 1);
	assert_true(g.orig_size == 1000 && g.bundle_len == 200);
	/* any other layout */
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, 1265, &g, &e), -1);
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, 1263, &g, &e), -1);
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, 10, &g, &e), 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memcpy(bad, buf, sizeof bad);
		bad[t[i].off] ^= t[i].x;
		assert_int_equal(ukit_sigfoot_parse(bad, sizeof bad, 1264, &g, &e), -1);
		assert_non_null(strstr(e.msg, t[i].msg));
		assert_true(e.off >= 1200 && e.off < 1264);
	}
	memcpy(bad, buf, sizeof bad);
	bad[0] ^= 1;
	assert_int_equal(ukit_sigfoot_parse(bad, sizeof bad, 1264, &g, &e), 0);
	/* huge values: no overflow */
	f.orig_size = f.bundle_off = UINT64_MAX - 10;
	f.bundle_len = 100;
	ukit_sigfoot_encode(&f, buf);
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, 1264, &g, &e), -1);
	f.orig_size = f.bundle_off = 0;
	f.bundle_len = BUNDLE_MAX + 1;
	ukit_sigfoot_encode(&f, buf);
	assert_int_equal(ukit_sigfoot_parse(buf, sizeof buf, BUNDLE_MAX + 65, &g, &e), -1);
	assert_non_null(strstr(e.msg, "bundle length"));
}

/* ---- statements and bundles --------------------------------------- */

static void test_statement_roundtrip_and_rejects(void **state)
{
	struct stmt_info info = { .name = "k.elf", .size = 42, .format = "elf",
				  .rollback = 3, .created = 1700000000 };
	static const struct { const char *from, *to, *msg; } bad[] = {
		{ "\"rollback\":3", "\"rollback\":-1", "$.predicate.rollback" },
		{ "\"rollback\":3", "\"rollback\":3.0", "not an integer" },
		{ "\"format\":\"elf\"", "\"format\":\"exe\"", "unknown format" },
		{ "Statement/v1", "Statement/v0", "$._type" },
		{ "urn:ukit:image:v1", "urn:ukit:image:v2", "$.predicateType" },
		{ "\"annotations\":{}", "\"annotations\":{},\"x\":1", "unknown key \"x\"" },
		{ "\"annotations\":{}", "\"annotations\":{\"a\":1}", "annotations" },
		{ "2023-11-14T22:13:20Z", "2023-02-31T22:13:20Z", "RFC 3339" },
		{ "\"size\":42", "\"size\":42,\"size\":43", "duplicate" },
		{ "\"name\":\"k.elf\"", "\"name\":\"\"", "empty string" },
	};
	struct stmt st;
	struct fmt_err e = { 0 };
	char *s, *t;
	size_t len;

	(void)state;
	memset(info.sha256, 0xab, 32);
	assert_int_equal(ukit_stmt_build(&info, &s, &len, &e), 0);
	assert_int_equal(ukit_stmt_parse((uint8_t *)s, len, &st, &e), 0);
	assert_true(st.size == 42 && st.rollback == 3);
	assert_string_equal(st.format, "elf");
	assert_string_equal(st.created, "2023-11-14T22:13:20Z");
	assert_int_equal(st.created_t, 1700000000);
	assert_memory_equal(st.sha256, info.sha256, 32);
	ukit_stmt_free(&st);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *p = strstr(s, bad[i].from);
		assert_non_null(p);
		t = malloc(len + 64);
		sprintf(t, "%.*s%s%s", (int)(p - s), s, bad[i].to,
			p + strlen(bad[i].from));
		if (ukit_stmt_parse((uint8_t *)t, strlen(t), &st, &e) != -1)
			fail_msg("accepted: %s", t);
		if (strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.msg,
				 bad[i].msg);
		free(t);
	}
	free(s);
}

/*
 * Sign a statement into a bundle, serialise it, then flip every byte
 * (two ways) of the serialised bundle: it must never parse and verify to
 * the same statement... in fact it must never verify at all.
 */
static void test_bundle_byte_flips(void **state)
{
	struct stmt_info info = { .name = "k.elf", .size = 42, .format = "elf",
				  .created = 1700000000 };
	struct sig_key *k;
	struct bundle b = { 0 }, p;
	struct fmt_err e = { 0 };
	char *payload, *json;
	size_t plen, jlen, accepted = 0;
	static const uint8_t flips[] = { 0x01, 0x20, 0x80 };

	(void)state;
	assert_int_equal(ukit_sig_keygen(SIG_ED25519, 3072, &k, &e), 0);
	assert_int_equal(ukit_stmt_build(&info, &payload, &plen, &e), 0);
	assert_int_equal(ukit_dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen, k,
				   &b.env, &e), 0);
	b.hint = strdup(k->keyid);
	assert_int_equal(ukit_bundle_serialize(&b, &json, &jlen, &e), 0);
	assert_int_equal(ukit_bundle_parse(json, jlen, &p, &e), 0);
	assert_true(ukit_dsse_verify(&p.env, k, &e) >= 0);
	assert_string_equal(p.hint, k->keyid);
	ukit_bundle_free(&p);
	for (size_t i = 0; i < jlen; i++) {
		for (size_t f = 0; f < ARRAY_SIZE(flips); f++) {
			json[i] ^= flips[f];
			if (ukit_bundle_parse(json, jlen, &p, &e) == 0) {
				/* what verify requires: signature, hint and type */
				if (ukit_dsse_verify(&p.env, k, &e) >= 0 &&
				    strcmp(p.hint, k->keyid) == 0 &&
				    strcmp(p.env.type, DSSE_INTOTO_TYPE) == 0) {
					accepted++;
					print_error("flip 0x%02x at %zu accepted\n",
						    flips[f], i);
				}
				ukit_bundle_free(&p);
			}
			json[i] ^= flips[f];
		}
	}
	assert_int_equal(accepted, 0);
	/* truncation at every length */
	for (size_t n = 0; n < jlen - 1; n++)
		if (ukit_bundle_parse(json, n, &p, &e) == 0) {
			assert_true(ukit_dsse_verify(&p.env, k, &e) < 0);
			ukit_bundle_free(&p);
		}
	free(json);
	free(payload);
	ukit_bundle_free(&b);
	ukit_sig_key_free(k);
}

static void test_bundle_rejects(void **state)
{
	static const struct { const char *json, *msg; } t[] = {
		{ "[]", "not a JSON object" },
		{ "{\"mediaType\":\"x\"}", "missing \"verificationMaterial\"" },
		{ "{\"mediaType\":\"x\",\"extra\":1}", "$: unknown key \"extra\"" },
		{ "{\"mediaType\":\"application/vnd.dev.sigstore.bundle+json;version=0.1\","
		  "\"verificationMaterial\":{},\"dsseEnvelope\":{}}", "$.mediaType" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE_V02 "\",\"verificationMaterial\":"
		  "{\"certificate\":{\"rawBytes\":\"AA==\"}},\"dsseEnvelope\":{}}",
		  "$.verificationMaterial.certificate: only in a v0.3 bundle" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"certificate\":{\"rawBytes\":\"AA==\"},\"publicKey\":{\"hint\":\"x\"}},"
		  "\"dsseEnvelope\":{}}", "want exactly one of \"publicKey\", \"certificate\"" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"certificate\":{\"rawBytes\":\"\"}},\"dsseEnvelope\":{}}",
		  "$.verificationMaterial.certificate.rawBytes: empty" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"certificate\":{\"rawBytes\":\"AA==\",\"x\":1}},\"dsseEnvelope\":{}}",
		  "$.verificationMaterial.certificate: unknown key \"x\"" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":{},"
		  "\"dsseEnvelope\":{}}", "exactly one" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"publicKey\":{\"hint\":\"x\"},\"tlogEntries\":[{}]},\"dsseEnvelope\":{}}",
		  "tlogEntries" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"publicKey\":{\"hint\":\"x\",\"rawBytes\":\"\"}},\"dsseEnvelope\":{}}",
		  "$.verificationMaterial.publicKey: unknown key \"rawBytes\"" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"publicKey\":{\"hint\":\"x\"}},\"dsseEnvelope\":{\"payload\":\"\","
		  "\"payloadType\":\"t\",\"signatures\":[]}}",
		  "$.dsseEnvelope.signatures: 0 elements" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"publicKey\":{\"hint\":\"x\"}},\"dsseEnvelope\":{\"payload\":\"\","
		  "\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"aGl=\"}]}}",
		  "$.dsseEnvelope.signatures[0].sig: base64" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\",\"verificationMaterial\":"
		  "{\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"\"}]}},"
		  "\"dsseEnvelope\":{}}", "certificates[0]" },
		{ "{\"mediaType\":\"" BUNDLE_MEDIA_TYPE "\"} x", "invalid JSON" },
		{ "{\"mediaType\":\"a\",\"mediaType\":\"b\"}", "duplicate" },
	};
	struct bundle b;
	struct fmt_err e = { 0 };
	char *big;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ukit_bundle_parse(t[i].json, strlen(t[i].json), &b, &e), -1);
		if (strstr(e.msg, t[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, t[i].msg);
	}
	big = calloc(1, BUNDLE_MAX + 2);
	memset(big, ' ', BUNDLE_MAX + 1);
	assert_int_equal(ukit_bundle_parse(big, BUNDLE_MAX + 1, &b, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	free(big);
}


/* ---- every byte of a signed, appended ELF -------------------------- */

/*
 * The checks cmd_verify makes on an appended image, over a buffer: footer,
 * strict bundle, payload type, signature with the pinned key and a hint
 * naming it, statement, size, digest, Solo5 facts.  0 = would verify.
 * (ukit-sign itself runs on a sample of these flips in t61.)
 */
static int mini_verify(const uint8_t *buf, size_t len, struct sig_key *k)
{
	struct sigfoot f;
	struct bundle b;
	struct stmt st;
	struct sigimg img = { 0 };
	uint8_t md[32];
	int rc = -1, fd;

	if (len < SIGFOOT_SIZE ||
	    ukit_sigfoot_parse(buf + len - SIGFOOT_SIZE, SIGFOOT_SIZE, len, &f, NULL) != 1)
		return -1;
	if (ukit_bundle_parse((const char *)buf + f.bundle_off, (size_t)f.bundle_len,
			 &b, NULL) != 0)
		return -1;
	if (strcmp(b.env.type, DSSE_INTOTO_TYPE) != 0 || b.hint == NULL ||
	    ukit_dsse_verify(&b.env, k, NULL) < 0 || strcmp(b.hint, k->keyid) != 0 ||
	    ukit_stmt_parse(b.env.payload, b.env.payload_len, &st, NULL) != 0) {
		ukit_bundle_free(&b);
		return -1;
	}
	SHA256(buf, (size_t)f.orig_size, md);
	if (st.size != f.orig_size || memcmp(md, st.sha256, 32) != 0)
		goto out;
	fd = memfd_create("flip", MFD_CLOEXEC);
	if (fd < 0 || write(fd, buf, (size_t)f.orig_size) != (ssize_t)f.orig_size ||
	    ukit_sigimg_probe(fd, "flip", &img, NULL) != 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if ((st.solo5 == NULL) != (img.solo5 == NULL) ||
	    (st.solo5 != NULL && !json_equal(st.solo5, img.solo5)))
		goto out;
	rc = 0;
out:
	ukit_sigimg_free(&img);
	ukit_stmt_free(&st);
	ukit_bundle_free(&b);
	return rc;
}

static void test_appended_elf_every_byte(void **state)
{
	char dir[] = "/tmp/ukit-test-sig.XXXXXX", cmd[512], path[300];
	struct stmt_info info = { .name = "k.elf", .format = "elf",
				  .created = 1700000000, .rollback = 1 };
	struct stream_sha256 sha;
	struct sig_key *k;
	struct bundle b = { 0 };
	struct sigimg img;
	struct fmt_err e = { 0 };
	struct sigfoot f;
	uint8_t *buf, foot[SIGFOOT_SIZE];
	char *payload, *json;
	size_t plen, jlen, len, accepted = 0, runs = 0;
	uint64_t total;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "head -c 4096 /dev/urandom > %s/pad && "
		 "bash tests/gen/mkelf.sh -m ../shared/data/solo5/m03-net-block/note.hex "
		 "-d %s/pad %s/k.elf >/dev/null 2>&1", dir, dir, dir);
	if (system(cmd) != 0)
		fail_msg("the fixture was not made: %s", cmd);
	snprintf(path, sizeof path, "%s/k.elf", dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ukit_stream_sha256_init(&sha, &e), 0);
	{
		struct stream_sink sink = { ukit_stream_sha256_update, &sha };
		struct stream_opts so = { .tee_fd = -1, .limit = STREAM_NO_LIMIT };
		assert_int_equal(ukit_stream_fd(fd, path, &so, &sink, 1, &total, &e), 0);
	}
	assert_int_equal(ukit_stream_sha256_final(&sha, info.sha256, &e), 0);
	ukit_stream_sha256_free(&sha);
	assert_int_equal(ukit_sigimg_probe(fd, path, &img, &e), 0);
	assert_non_null(img.solo5);            /* the Solo5 facts are signed */
	info.size = total;
	info.solo5 = img.solo5;
	assert_int_equal(ukit_sig_keygen(SIG_ECDSA_P256, 3072, &k, &e), 0);
	assert_int_equal(ukit_stmt_build(&info, &payload, &plen, &e), 0);
	assert_int_equal(ukit_dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen, k,
				   &b.env, &e), 0);
	b.hint = strdup(k->keyid);
	assert_int_equal(ukit_bundle_serialize(&b, &json, &jlen, &e), 0);

	len = (size_t)total + jlen + SIGFOOT_SIZE;
	buf = malloc(len);
	assert_int_equal(pread(fd, buf, (size_t)total, 0), (ssize_t)total);
	close(fd);
	memcpy(buf + total, json, jlen);
	f.orig_size = f.bundle_off = total;
	f.bundle_len = jlen;
	ukit_sigfoot_encode(&f, foot);
	memcpy(buf + total + jlen, foot, SIGFOOT_SIZE);
	assert_int_equal(mini_verify(buf, len, k), 0);

	for (size_t i = 0; i < len; i++) {
		static const uint8_t x[] = { 0x01, 0x80 };
		for (size_t j = 0; j < ARRAY_SIZE(x); j++) {
			buf[i] ^= x[j];
			runs++;
			if (mini_verify(buf, len, k) == 0) {
				accepted++;
				print_error("flip 0x%02x at %zu (image %llu, bundle %zu) "
					    "verified\n", x[j], i,
					    (unsigned long long)total, jlen);
			}
			buf[i] ^= x[j];
		}
	}
	print_message("%zu flips over %zu bytes (image %llu, bundle %zu, "
		      "footer 64)\n", runs, len, (unsigned long long)total, jlen);
	assert_int_equal(accepted, 0);
	/* truncated or extended by a byte: never verifies */
	assert_int_not_equal(mini_verify(buf, len - 1, k), 0);
	free(buf);
	free(json);
	free(payload);
	ukit_bundle_free(&b);
	ukit_sigimg_free(&img);
	ukit_sig_key_free(k);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
}

/* ---- the streaming pass -------------------------------------------- */

struct count_sink { uint64_t next; size_t calls; };

static int count_update(void *ctx, const uint8_t *buf, size_t len, uint64_t off,
			struct fmt_err *e)
{
	struct count_sink *c = ctx;

	(void)buf;
	if (off != c->next)
		return ukit_fmt_errf(e, off, "chunk out of order");
	c->next += len;
	c->calls++;
	return 0;
}

/* Hash (fd) with two sinks and a tee; return the digest and the copy. */
static int stream_digest(int fd, uint64_t limit, uint8_t md[32], int tee,
			 uint64_t *total, struct fmt_err *e)
{
	struct stream_sha256 sha;
	struct count_sink cnt = { 0, 0 };
	struct stream_sink sinks[] = {
		{ ukit_stream_sha256_update, &sha }, { count_update, &cnt },
	};
	struct stream_opts so = { .tee_fd = tee, .limit = limit };
	int rc;

	assert_int_equal(ukit_stream_sha256_init(&sha, e), 0);
	rc = ukit_stream_fd(fd, "t", &so, sinks, 2, total, e);
	if (rc == 0) {
		assert_true(cnt.next == *total);
		assert_int_equal(ukit_stream_sha256_final(&sha, md, e), 0);
	}
	ukit_stream_sha256_free(&sha);
	return rc;
}

static void test_stream_file_pipe_tee(void **state)
{
	/* sizes around the window and chunk sizes */
	static const size_t sizes[] = { 0, 1, STREAM_CHUNK - 1, STREAM_CHUNK + 1,
					STREAM_WINDOW, 2 * STREAM_WINDOW + 7 };
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i];
		uint8_t *data = malloc(n + 1), want[32], md[32];
		int fd = memfd_create("f", MFD_CLOEXEC);
		int tee = memfd_create("tee", MFD_CLOEXEC);
		int p[2];
		uint64_t total;
		pid_t pid;

		for (size_t j = 0; j < n; j++)
			data[j] = (uint8_t)(j * 131 + (j >> 12));
		SHA256(data, n, want);
		assert_int_equal(write(fd, data, n), (ssize_t)n);
		/* regular file (mapped) with a tee: digest and copy exact */
		assert_int_equal(stream_digest(fd, STREAM_NO_LIMIT, md, tee, &total, &e), 0);
		assert_true(total == n);
		assert_memory_equal(md, want, 32);
		assert_true(lseek(tee, 0, SEEK_END) == (off_t)n);
		if (n > 0) {
			uint8_t *back = malloc(n);
			assert_int_equal(pread(tee, back, n, 0), (ssize_t)n);
			assert_memory_equal(back, data, n);
			free(back);
			/* a limit reads exactly that prefix */
			SHA256(data, n - 1, want);
			assert_int_equal(stream_digest(fd, n - 1, md, -1, &total, &e), 0);
			assert_true(total == n - 1);
			assert_memory_equal(md, want, 32);
			SHA256(data, n, want);
		}
		/* a limit past the end is an error */
		assert_int_equal(stream_digest(fd, n + 1, md, -1, &total, &e), -1);
		assert_non_null(strstr(e.msg, "file ends early"));
		/* a pipe takes the read() path */
		assert_int_equal(pipe(p), 0);
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			(void)!write(p[1], data, n);
			_exit(0);
		}
		close(p[1]);
		assert_int_equal(stream_digest(p[0], STREAM_NO_LIMIT, md, -1, &total, &e), 0);
		close(p[0]);
		waitpid(pid, NULL, 0);
		assert_true(total == n);
		assert_memory_equal(md, want, 32);
		close(fd);
		close(tee);
		free(data);
	}
}

/* Keygen names, and RSA sizes outside what sign and verify accept. */
static void test_keygen_names(void **state)
{
	static const struct {
		const char *name;
		enum sig_alg alg;
		unsigned bits;
	} t[] = {
		{ "ecdsa-p256", SIG_ECDSA_P256, 0 },
		{ "ed25519", SIG_ED25519, 0 },
		{ "rsa3072", SIG_RSA_PSS, 3072 },
		{ "rsa4096", SIG_RSA_PSS, 4096 },
	};
	struct fmt_err e = { 0 };
	struct sig_key *k = NULL;
	enum sig_alg alg;
	unsigned bits;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ukit_sig_alg_from_name(t[i].name, &alg, &bits), 0);
		assert_int_equal(alg, t[i].alg);
		assert_int_equal(bits, t[i].bits);
	}
	assert_int_equal(ukit_sig_alg_from_name("rsa2048", &alg, &bits), -1);
	assert_int_equal(ukit_sig_keygen(SIG_RSA_PSS, 2048, &k, &e), -1);
	assert_non_null(strstr(e.msg, "RSA keys of 2048 bits: 3072 to 8192"));
	assert_null(k);
}

static void test_keys_sign_verify(void **state)
{
	static const enum sig_alg algs[] = { SIG_ECDSA_P256, SIG_ED25519, SIG_RSA_PSS };
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		struct sig_key *k, *pub;
		uint8_t sig[SIG_MAX_LEN];
		size_t siglen, len;
		char *pem;

		assert_int_equal(ukit_sig_keygen(algs[i], 3072, &k, &e), 0);
		assert_int_equal(strlen(k->keyid), 64);
		assert_int_equal(ukit_sig_sign(k, (const uint8_t *)"msg", 3, sig, &siglen, &e), 0);
		assert_int_equal(ukit_sig_key_public_pem(k, &pem, &len, &e), 0);
		assert_int_equal(ukit_sig_key_parse_public((uint8_t *)pem, len, &pub, &e), 0);
		assert_string_equal(pub->keyid, k->keyid);
		assert_int_equal(ukit_sig_verify(pub, (const uint8_t *)"msg", 3, sig, siglen, &e), 0);
		assert_int_equal(ukit_sig_verify(pub, (const uint8_t *)"msh", 3, sig, siglen, &e), -1);
		sig[siglen - 1] ^= 1;
		assert_int_equal(ukit_sig_verify(pub, (const uint8_t *)"msg", 3, sig, siglen, &e), -1);
		assert_int_equal(ukit_sig_verify(pub, (const uint8_t *)"msg", 3, sig, 0, &e), -1);
		free(pem);
		ukit_sig_key_free(pub);
		ukit_sig_key_free(k);
	}
	{
		/* unsupported key types are refused with the reason */
		EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		struct sig_key *k;
		assert_int_equal(ukit_sig_key_from_pkey(p, &k, &e), -1);
		assert_non_null(strstr(e.msg, "not supported"));
		EVP_PKEY_free(p);
	}
}

/* ukit_sig_key_load_pinned() of the PEM text (pem, len), through a file */
static int load_pem(const char *pem, size_t len, struct sig_key **k,
		    struct fmt_err *e)
{
	char path[] = "/tmp/ukit-test-pubXXXXXX";
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, pem, len), (ssize_t)len);
	close(fd);
	rc = ukit_sig_key_load_pinned(path, k, e);
	unlink(path);
	return rc;
}

/*
 * A pinned key's id is SHA-256 of its SPKI as i2d_PUBKEY() writes it,
 * whichever form the PEM holds: the canonical form (hashed as read), and
 * forms that decode to a key but are other bytes (an Ed25519 BIT STRING
 * with unused bits, found by fuzz_pubkey: the same key, so the canonical
 * SPKI's id; a compressed P-256 point: another SPKI, its own id).
 */
static void test_pubkey_forms(void **state)
{
	static const char *pems[] = {
		"-----BEGIN PUBLIC KEY-----\n"
		"MCowBQYDK2VwAyEASlwC4B7vvRY/nc+gkgpNzJunN9wPtk4cxBqW9pdJPmA=\n"
		"-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\n"
		"MCowBQYDK2VwAyEESlwC4B7vvRY/nc+gkgpNzJunN9wPtk4cxBqW9pdJPmU=\n"
		"-----END PUBLIC KEY-----\n",
	};
	struct fmt_err e = { 0 };
	struct sig_key *a, *b;
	EVP_PKEY *p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(pems); i++) {
		assert_int_equal(load_pem(pems[i], strlen(pems[i]), &a, &e), 0);
		assert_int_equal(ukit_sig_key_wrap(a->pkey, a->alg, &b, &e), 0);
		assert_string_equal(a->keyid, b->keyid);
		/* openssl pkey -pubin -outform DER | sha256sum */
		assert_string_equal(a->keyid, "eb7ce000e34816d4c7caca215fdaa301"
				    "52a86b5fe9df869ef3360a21b7ede032");
		ukit_sig_key_free(b);
		ukit_sig_key_free(a);
	}
	p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(p);
	for (int form = 0; form < 2; form++) {
		unsigned char *der = NULL, md[32];
		BIO *bio = BIO_new(BIO_s_mem());
		BUF_MEM *bm;
		char hex[65];
		int n;

		assert_int_equal(EVP_PKEY_set_utf8_string_param(p,
			OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			form ? "compressed" : "uncompressed"), 1);
		n = i2d_PUBKEY(p, &der);
		assert_int_equal(n, form ? 59 : 91);
		SHA256(der, (size_t)n, md);
		ukit_sig_hex(md, 32, hex);
		assert_int_equal(PEM_write_bio_PUBKEY(bio, p), 1);
		BIO_get_mem_ptr(bio, &bm);
		assert_int_equal(load_pem(bm->data, bm->length, &a, &e), 0);
		assert_string_equal(a->keyid, hex);
		ukit_sig_key_free(a);
		BIO_free(bio);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsse_protocol_example),
		cmocka_unit_test(test_dsse_vectors),
		cmocka_unit_test(test_base64_strict),
		cmocka_unit_test(test_footer),
		cmocka_unit_test(test_statement_roundtrip_and_rejects),
		cmocka_unit_test(test_bundle_byte_flips),
		cmocka_unit_test(test_bundle_rejects),
		cmocka_unit_test(test_keygen_names),
		cmocka_unit_test(test_keys_sign_verify),
		cmocka_unit_test(test_pubkey_forms),
		cmocka_unit_test(test_appended_elf_every_byte),
		cmocka_unit_test(test_stream_file_pipe_tee),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
