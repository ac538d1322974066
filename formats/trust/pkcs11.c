/*
 * pkcs11.c: token keys through OpenSSL's (deprecated but, in Debian 12,
 * only) ENGINE interface and libp11's pkcs11 engine.
 *
 * Trusts the PKCS#11 module it is told to load (it runs in-process).  The
 * URI comes from the command line and is parsed only to take the PIN and
 * module path out of it.
 *
 * Teardown: libp11 0.4.12's engine keeps slot and key objects that point
 * into the module; the openssl CLI crashes at exit after a failed load
 * because it frees the engine while OpenSSL still holds a functional
 * reference from the load.  Here the order is fixed: the key first (its
 * EC_KEY method data points into the engine), then one ENGINE_finish() for
 * our ENGINE_init(), then ENGINE_free() for the structural reference.
 * The engine and the module are pinned in memory (RTLD_NODELETE) first:
 * libp11 keeps method tables in static storage that outlive the engine,
 * and code that is unloaded while OpenSSL or the module's exit handlers
 * still point into it is what crashes at exit.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "pkcs11.h"
#include "sig.h"

struct p11 {
	ENGINE   *eng;
	bool      inited;          /* ENGINE_init() succeeded */
	EVP_PKEY *key;
};

bool ukit_p11_is_uri(const char *s)
{
	return s != NULL && strncmp(s, "pkcs11:", 7) == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode (len) bytes of (s) into (out) of (cap) bytes. */
static int pct_decode(const char *s, size_t len, char *out, size_t cap,
		      const char *what, struct fmt_err *e)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return ukit_fmt_errf(e, FMT_NOOFF, "pkcs11 URI: bad "
						"%%-escape in %s", what);
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return ukit_fmt_errf(e, FMT_NOOFF, "pkcs11 URI: %s too "
					"long or contains NUL", what);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/*
 * Copy the attributes of one URI part (path or query, separated by (sep))
 * to (clean), keeping all but pin-value and module-path.
 */
static int split_part(const char *s, size_t len, char sep, char *clean,
		      size_t *cl, size_t clean_len, char *pin, char *module,
		      struct fmt_err *e)
{
	size_t i = 0;
	bool first = true;

	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != sep)
			j++;
		const char *a = s + i;
		size_t alen = j - i;
		if (alen > 10 && memcmp(a, "pin-value=", 10) == 0) {
			if (pct_decode(a + 10, alen - 10, pin, P11_PIN_MAX,
				       "pin-value", e) < 0)
				return -1;
		} else if (alen > 12 && memcmp(a, "module-path=", 12) == 0) {
			if (pct_decode(a + 12, alen - 12, module, P11_URI_MAX,
				       "module-path", e) < 0)
				return -1;
		} else if (alen > 0) {
			if (*cl + alen + 2 >= clean_len)
				return ukit_fmt_errf(e, FMT_NOOFF,
						"pkcs11 URI too long");
			if (!first)
				clean[(*cl)++] = sep;
			memcpy(clean + *cl, a, alen);
			*cl += alen;
			first = false;
		}
		i = j + 1;
	}
	clean[*cl] = '\0';
	return 0;
}

int ukit_p11_uri_split(const char *uri, char *clean, size_t clean_len, char *pin,
		  char *module, struct fmt_err *e)
{
	const char *path, *q;
	size_t len, cl, mark;

	pin[0] = module[0] = '\0';
	if (!ukit_p11_is_uri(uri))
		return ukit_fmt_errf(e, FMT_NOOFF, "not a pkcs11: URI");
	len = strnlen(uri, P11_URI_MAX);
	if (len >= P11_URI_MAX || clean_len < 8)
		return ukit_fmt_errf(e, FMT_NOOFF, "pkcs11 URI longer than %d bytes",
				P11_URI_MAX - 1);
	path = uri + 7;
	q = strchr(path, '?');
	memcpy(clean, "pkcs11:", 7);
	cl = 7;
	if (split_part(path, q ? (size_t)(q - path) : strlen(path), ';', clean,
		       &cl, clean_len, pin, module, e) < 0)
		goto fail;
	if (q != NULL) {
		mark = cl;
		clean[cl++] = '?';
		if (split_part(q + 1, strlen(q + 1), '&', clean, &cl,
			       clean_len, pin, module, e) < 0)
			goto fail;
		if (cl == mark + 1)
			clean[--cl] = '\0';   /* nothing left in the query */
	}
	return 0;
fail:
	OPENSSL_cleanse(pin, P11_PIN_MAX);
	return -1;
}

static const char *engine_so(char *buf, size_t len)
{
	const char *dir = OPENSSL_info(OPENSSL_INFO_ENGINES_DIR);
	const char *env = getenv("UKIT_PKCS11_ENGINE");

	if (env != NULL && env[0] != '\0')
		return env;
	if (dir != NULL) {
		snprintf(buf, len, "%s/pkcs11.so", dir);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so";
}

void ukit_p11_close(struct p11 *p)
{
	if (p == NULL)
		return;
	EVP_PKEY_free(p->key);
	if (p->eng != NULL) {
		if (p->inited)
			ENGINE_finish(p->eng);
		ENGINE_free(p->eng);
	}
	ERR_clear_error();
	free(p);
}

/* The engine's error, minus anything that could carry the URI. */
static int p11_fail(struct fmt_err *e, const char *what, const char *hint)
{
	unsigned long code, first = 0, last = 0;
	char buf[160];

	while ((code = ERR_get_error_all(NULL, NULL, NULL, NULL, NULL)) != 0) {
		if (first == 0)
			first = code;
		last = code;
	}
	(void)last;
	if (first == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s%s", what, hint);
	ERR_error_string_n(first, buf, sizeof buf);
	return ukit_fmt_errf(e, FMT_NOOFF, "%s%s (%s)", what, hint,
			ERR_reason_error_string(first) ?
			ERR_reason_error_string(first) : buf);
}

int ukit_p11_open(const char *uri, const char *module, const char *pin,
	     struct p11 **out, EVP_PKEY **key, struct fmt_err *e)
{
	char clean[P11_URI_MAX], upin[P11_PIN_MAX], umod[P11_URI_MAX];
	char sobuf[512];
	const char *so;
	struct p11 *p;
	int rc = -1;

	if (ukit_p11_uri_split(uri, clean, sizeof clean, upin, umod, e) < 0)
		return -1;
	if (pin == NULL)
		pin = upin;
	if (pin[0] == '\0') {
		OPENSSL_cleanse(upin, sizeof upin);
		return ukit_fmt_errf(e, FMT_NOOFF, "pkcs11: no PIN given");
	}
	if (module == NULL || module[0] == '\0')
		module = umod[0] != '\0' ? umod : P11_DEFAULT_MODULE;
	if (access(module, R_OK) != 0) {
		OPENSSL_cleanse(upin, sizeof upin);
		return ukit_fmt_errno(e, FMT_NOOFF, "pkcs11 module %s", module);
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		OPENSSL_cleanse(upin, sizeof upin);
		return ukit_fmt_errno(e, FMT_NOOFF, "pkcs11");
	}
	ERR_clear_error();
	so = engine_so(sobuf, sizeof sobuf);
	/* Pin both libraries (see the top of this file); the handles stay. */
	(void)dlopen(so, RTLD_NOW | RTLD_NODELETE);
	(void)dlopen(module, RTLD_NOW | RTLD_NODELETE);
	ENGINE_load_dynamic();
	p->eng = ENGINE_by_id("dynamic");
	if (p->eng == NULL ||
	    !ENGINE_ctrl_cmd_string(p->eng, "SO_PATH", so, 0) ||
	    !ENGINE_ctrl_cmd_string(p->eng, "ID", "pkcs11", 0) ||
	    !ENGINE_ctrl_cmd_string(p->eng, "LIST_ADD", "0", 0) ||
	    !ENGINE_ctrl_cmd_string(p->eng, "LOAD", NULL, 0)) {
		p11_fail(e, "cannot load the OpenSSL pkcs11 engine ", so);
		goto out;
	}
	/* libp11 prints the URI (PIN included, if it had one) on errors. */
	if (!ENGINE_ctrl_cmd_string(p->eng, "QUIET", NULL, 1) ||
	    !ENGINE_ctrl_cmd_string(p->eng, "MODULE_PATH", module, 0) ||
	    !ENGINE_ctrl_cmd_string(p->eng, "PIN", pin, 0)) {
		p11_fail(e, "pkcs11 engine refuses its settings", "");
		goto out;
	}
	if (!ENGINE_init(p->eng)) {
		p11_fail(e, "cannot start the pkcs11 engine with module ",
			 module);
		goto out;
	}
	p->inited = true;
	/* No UI method: a missing or wrong PIN must not prompt here. */
	p->key = ENGINE_load_private_key(p->eng, clean, NULL, NULL);
	if (p->key == NULL) {
		unsigned long c = ERR_peek_error();
		const char *r = ERR_reason_error_string(c);
		if (r != NULL && strstr(r, "PIN") != NULL)
			ukit_fmt_errf(e, FMT_NOOFF, "pkcs11: login to the token "
				 "failed (%s)", r);
		else
			ukit_fmt_errf(e, FMT_NOOFF, "pkcs11: no private key at %s "
				 "(token or object not found%s%s)", clean,
				 r ? ": " : "", r ? r : "");
		ERR_clear_error();
		goto out;
	}
	*key = p->key;
	*out = p;
	rc = 0;
out:
	OPENSSL_cleanse(upin, sizeof upin);
	if (rc < 0)
		ukit_p11_close(p);
	return rc;
}

int ukit_p11_sign_digest(struct p11 *p, const uint8_t dgst[32], bool pss,
		    uint8_t *sig, size_t *sig_len, struct fmt_err *e)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(p->key, p->eng);
	/* RSA signs as ukit's file keys do: PKCS#1 v1.5 (CKM_RSA_PKCS on the
	 * token), or with (pss) PSS, MGF1 SHA-256, salt of the digest's
	 * length (CKM_RSA_PKCS_PSS) */
	bool rsa = EVP_PKEY_get_base_id(p->key) == EVP_PKEY_RSA;
	int rc = -1;

	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    (rsa && !pss &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
	    (rsa && pss &&
	     (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) !=
		      1)) ||
	    EVP_PKEY_sign(ctx, sig, sig_len, dgst, 32) != 1)
		p11_fail(e, "pkcs11: signing on the token failed", "");
	else
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* ---- sig.h back end ------------------------------------------------- */

static int p11_key_sign(struct sig_key *k, const uint8_t *msg, size_t len,
			uint8_t *sig, size_t *siglen, struct fmt_err *e)
{
	uint8_t d[32];
	size_t n = SIG_MAX_LEN;

	/* Only the digest leaves the process. */
	if (EVP_Digest(msg, len, d, NULL, EVP_sha256(), NULL) != 1)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "sha256");
	if (ukit_p11_sign_digest(k->backend, d, k->rsa_pss, sig, &n, e) < 0)
		return -1;
	*siglen = n;
	return 0;
}

static void p11_key_release(struct sig_key *k)
{
	/* The public copy first, then the token key and the engine. */
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	ukit_p11_close(k->backend);
	k->backend = NULL;
}

EVP_PKEY *ukit_p11_sig_key_token_pkey(const struct sig_key *k)
{
	if (k == NULL || k->release != p11_key_release || k->backend == NULL)
		return NULL;
	return ((struct p11 *)k->backend)->key;
}

int ukit_p11_sig_key_load(const char *uri, const struct sig_secret_src *src,
		     struct sig_key **out, struct fmt_err *e)
{
	char clean[P11_URI_MAX], upin[P11_PIN_MAX], umod[P11_URI_MAX];
	char pin[P11_PIN_MAX];
	const char *pinp = NULL;
	struct p11 *p = NULL;
	struct sig_key *k = NULL;
	EVP_PKEY *tok, *pub = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	int n, rc = -1;

	pin[0] = '\0';
	if (ukit_p11_uri_split(uri, clean, sizeof clean, upin, umod, e) < 0)
		return -1;
	if (src != NULL && src->pin_file != NULL) {
		if (ukit_sig_read_secret(src->pin_file, pin, sizeof pin, e) < 0)
			goto out;
		pinp = pin;
	} else if (upin[0] == '\0') {
		if (src == NULL || src->prompt == NULL ||
		    src->prompt("PIN for the PKCS#11 token", pin, sizeof pin,
				src->prompt_arg) < 0 || pin[0] == '\0') {
			ukit_fmt_errf(e, FMT_NOOFF, "pkcs11: no PIN (give --pin-file, "
				 "a pin-value in the URI, or a terminal)");
			goto out;
		}
		pinp = pin;
	}
	if (ukit_p11_open(uri, src ? src->pkcs11_module : NULL, pinp, &p, &tok,
		     e) < 0)
		goto out;
	/* A software copy of the public key: ids and self-checks stay local. */
	n = i2d_PUBKEY(tok, &der);
	q = der;
	if (n <= 0 || (pub = d2i_PUBKEY(NULL, &q, n)) == NULL) {
		ukit_fmt_err_openssl(e, FMT_NOOFF, "pkcs11: cannot read the token's "
				"public key");
		goto out;
	}
	if (ukit_sig_key_from_pkey(pub, &k, e) < 0)
		goto out;
	/* the pkcs11 engine (libp11 0.4.12) has no EdDSA */
	if (k->alg != SIG_ECDSA_P256 && k->alg != SIG_RSA_PSS) {
		ukit_fmt_errf(e, FMT_NOOFF, "pkcs11: token key is %s; only "
			 "ecdsa-p256 and rsa-pss-sha256 token keys are "
			 "supported", ukit_sig_alg_name(k->alg));
		goto out;
	}
	k->sign = p11_key_sign;
	k->backend = p;
	k->release = p11_key_release;
	p = NULL;
	*out = k;
	k = NULL;
	rc = 0;
out:
	/* Callers print (e) with the key spec as path: never the PIN. */
	if (rc != 0 && e != NULL && e->path == uri) {
		static char shown[P11_URI_MAX];
		memcpy(shown, clean, sizeof shown);
		e->path = shown;
	}
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	ukit_sig_key_free(k);
	ukit_p11_close(p);
	OPENSSL_cleanse(pin, sizeof pin);
	OPENSSL_cleanse(upin, sizeof upin);
	return rc;
}
