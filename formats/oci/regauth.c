/*
 * regauth.c: a registry's credentials, all of them untrusted text: the
 * WWW-Authenticate challenge parsed, docker/podman auth files looked up,
 * and --creds or the first auth file that names the registry loaded into
 * the client (see registry.h).  Answering a challenge is regxfer.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "io.h"
#include "registry_int.h"
#include "sigjson.h"

/* ---- WWW-Authenticate ----------------------------------------------- */

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

int ukit_oci_challenge_parse(const char *hdr, size_t len,
			     struct ukit_oci_challenge *c, struct fmt_err *e)
{
	size_t i = 0, n;

	memset(c, 0, sizeof *c);
	if (len > OCI_CHALLENGE_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: %zu bytes, over "
				"the limit of %d", len, OCI_CHALLENGE_MAX);
	while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
		i++;
	for (n = 0; i < len && tchar(hdr[i]); i++, n++)
		if (n + 1 < sizeof c->scheme)
			c->scheme[n] = (char)tolower((unsigned char)hdr[i]);
	if (n == 0 || n >= sizeof c->scheme)
		return ukit_fmt_errf(e, i, "WWW-Authenticate: no auth scheme");
	c->scheme[n] = 0;
	for (;;) {
		char key[32], val[1024];
		size_t kn = 0, vn = 0;
		char *dst = NULL;
		size_t cap = 0;

		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ','))
			i++;
		if (i >= len)
			break;
		for (; i < len && tchar(hdr[i]); i++)
			if (kn + 1 < sizeof key)
				key[kn++] = (char)tolower((unsigned char)hdr[i]);
			else
				return ukit_fmt_errf(e, i, "WWW-Authenticate: "
						"parameter name too long");
		key[kn] = 0;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (kn == 0 || i >= len || hdr[i] != '=')
			return ukit_fmt_errf(e, i, "WWW-Authenticate: expected "
					"name=value at byte %zu", i);
		i++;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (i < len && hdr[i] == '"') {
			i++;
			for (;;) {
				if (i >= len)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"unterminated quoted "
							"string");
				if (hdr[i] == '"') {
					i++;
					break;
				}
				if (hdr[i] == '\\') {
					if (++i >= len)
						return ukit_fmt_errf(e, i,
							"WWW-Authenticate: "
							"escape at the end");
				}
				if ((unsigned char)hdr[i] < 0x20 && hdr[i] != '\t')
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"control character in "
							"a quoted string");
				if (vn + 1 >= sizeof val)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"value too long");
				val[vn++] = hdr[i++];
			}
		} else {
			for (; i < len && tchar(hdr[i]); i++) {
				if (vn + 1 >= sizeof val)
					return ukit_fmt_errf(e, i, "WWW-Authenticate: "
							"value too long");
				val[vn++] = hdr[i];
			}
			if (vn == 0)
				return ukit_fmt_errf(e, i, "WWW-Authenticate: empty "
						"value for %s", key);
		}
		val[vn] = 0;
		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
			i++;
		if (i < len && hdr[i] != ',')
			return ukit_fmt_errf(e, i, "WWW-Authenticate: expected ',' at "
					"byte %zu", i);
		if (strcmp(key, "realm") == 0) {
			dst = c->realm;
			cap = sizeof c->realm;
		} else if (strcmp(key, "service") == 0) {
			dst = c->service;
			cap = sizeof c->service;
		} else if (strcmp(key, "scope") == 0) {
			dst = c->scope;
			cap = sizeof c->scope;
		}
		if (dst != NULL) {
			if (vn >= cap)
				return ukit_fmt_errf(e, i, "WWW-Authenticate: %s "
						"longer than %zu bytes", key,
						cap - 1);
			memcpy(dst, val, vn + 1);
		}
	}
	if (strcmp(c->scheme, "bearer") == 0) {
		if (c->realm[0] == 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: Bearer "
					"challenge without a realm");
		if (strncmp(c->realm, "https://", 8) != 0 &&
		    strncmp(c->realm, "http://", 7) != 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "WWW-Authenticate: realm "
					"\"%.100s\" is not an http(s) URL",
					c->realm);
	}
	return 0;
}

/* ---- auth files ----------------------------------------------------- */

int ukit_oci_authfile_lookup(const char *buf, size_t len, const char *what,
			     const char *host, char **user, char **pass,
			     struct fmt_err *e)
{
	json_t *root, *auths, *ent = NULL, *a;
	char key[600];
	const char *forms[] = { "%s", "https://%s", "http://%s", "https://%s/v1/" };
	uint8_t *dec = NULL;
	size_t dlen;
	char *colon;
	int rc = -1;

	root = ukit_sigjson_load(buf, len, what, e);
	if (root == NULL)
		return -1;
	auths = json_object_get(root, "auths");
	if (auths == NULL) {
		json_decref(root);
		return 0;
	}
	if (!json_is_object(auths)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths: not an object", what);
		goto out;
	}
	for (size_t f = 0; f < 4 && ent == NULL; f++) {
		snprintf(key, sizeof key, forms[f], host);
		ent = json_object_get(auths, key);
	}
	if (ent == NULL && strcmp(host, "docker.io") == 0)
		ent = json_object_get(auths, "https://index.docker.io/v1/");
	if (ent == NULL) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(ent)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"]: not an object",
			 what, host);
		goto out;
	}
	a = json_object_get(ent, "auth");
	if (a == NULL) {
		rc = 0;         /* a credential helper entry: not ours */
		goto out;
	}
	if (!json_is_string(a)) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"].auth: not a string",
			 what, host);
		goto out;
	}
	if (ukit_b64_decode(json_string_value(a), 4096, &dec, &dlen, e) < 0) {
		char tmp[FMT_ERR_MSG];
		snprintf(tmp, sizeof tmp, "%.100s: $.auths[\"%.60s\"].auth",
			 what, host);
		ukit_oci_err_prefix(e, tmp);
		goto out;
	}
	colon = memchr(dec, ':', dlen);
	if (colon == NULL || memchr(dec, 0, dlen) != NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "%s: $.auths[\"%s\"].auth: not "
			 "base64 of USER:PASSWORD", what, host);
		goto out;
	}
	*user = strndup((char *)dec, (size_t)(colon - (char *)dec));
	*pass = strndup(colon + 1, dlen - (size_t)(colon - (char *)dec) - 1);
	if (*user == NULL || *pass == NULL) {
		free(*user);
		free(*pass);
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	rc = 1;
out:
	if (dec != NULL) {
		OPENSSL_cleanse(dec, dlen);
		free(dec);
	}
	json_decref(root);
	return rc;
}

/* ---- the client's credentials --------------------------------------- */

/* Credentials: --creds, else the first auth file with an entry. */
int ukit_oci_reg_load_creds(struct reg *r, struct fmt_err *e)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_RUNTIME_DIR"),
		   *dc = getenv("DOCKER_CONFIG"), *raf = getenv("REGISTRY_AUTH_FILE");
	char paths[5][4096];
	int np = 0;

	if (r->o->creds != NULL) {
		const char *c = strchr(r->o->creds, ':');
		if (c == NULL || c == r->o->creds)
			return ukit_fmt_errf(e, FMT_NOOFF, "--creds: not USER:PASSWORD");
		r->user = strndup(r->o->creds, (size_t)(c - r->o->creds));
		r->pass = strdup(c + 1);
		return r->user && r->pass ? 0 : ukit_fmt_errf(e, FMT_NOOFF,
							  "out of memory");
	}
	if (r->o->authfile != NULL) {
		snprintf(paths[np++], sizeof paths[0], "%s", r->o->authfile);
	} else {
		if (raf && *raf)
			snprintf(paths[np++], sizeof paths[0], "%s", raf);
		if (xdg && *xdg)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/containers/auth.json", xdg);
		if (home && *home)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/.config/containers/auth.json", home);
		if (dc && *dc)
			snprintf(paths[np++], sizeof paths[0], "%s/config.json",
				 dc);
		else if (home && *home)
			snprintf(paths[np++], sizeof paths[0],
				 "%s/.docker/config.json", home);
	}
	for (int i = 0; i < np; i++) {
		char *buf;
		size_t n;
		int rc;

		if (ukit_read_small(paths[i], OCI_AUTHFILE_MAX, &buf, &n, e) < 0) {
			if (errno == ENOENT && r->o->authfile == NULL)
				continue;
			return -1;
		}
		rc = ukit_oci_authfile_lookup(buf, n, paths[i],
					      r->ref->host, &r->user, &r->pass, e);
		OPENSSL_cleanse(buf, n);
		free(buf);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
	}
	return 0;
}
