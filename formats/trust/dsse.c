/*
 * dsse.c: DSSE envelopes (see dsse.h).  Envelope JSON is untrusted: every
 * field is type- and size-checked before use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsse.h"
#include "sigjson.h"

int ukit_dsse_pae(const char *type, size_t tlen, const uint8_t *body, size_t blen,
	     uint8_t **out, size_t *outlen, struct fmt_err *e)
{
	char hdr[64];
	int h1, h2;
	uint8_t *p;
	size_t n;

	h1 = snprintf(hdr, sizeof hdr, "DSSEv1 %zu ", tlen);
	if (h1 < 0 || (size_t)h1 >= sizeof hdr)
		return ukit_fmt_errf(e, FMT_NOOFF, "PAE header");
	n = (size_t)h1 + tlen;
	p = malloc(n + 32 + blen);
	if (p == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	memcpy(p, hdr, (size_t)h1);
	memcpy(p + h1, type, tlen);
	h2 = snprintf((char *)p + n, 32, " %zu ", blen);
	n += (size_t)h2;
	memcpy(p + n, body, blen);
	*out = p;
	*outlen = n + blen;
	return 0;
}

void ukit_dsse_free(struct dsse_env *env)
{
	if (env == NULL)
		return;
	free(env->type);
	free(env->payload);
	for (size_t i = 0; i < env->nsig; i++) {
		free(env->sig[i].keyid);
		free(env->sig[i].sig);
	}
	memset(env, 0, sizeof *env);
}

int ukit_dsse_from_json(const json_t *obj, const char *path, struct dsse_env *out,
		   struct fmt_err *e)
{
	static const char *const keys[] = { "payload", "payloadType",
					    "signatures", NULL };
	static const char *const skeys[] = { "keyid", "sig", NULL };
	static const char *const sreq[] = { "sig", NULL };
	struct dsse_env env = { 0 };
	struct fmt_err le = { 0 };
	char sp[SIGJSON_PATH_MAX];
	const char *type, *s;
	json_t *sigs, *pl;
	size_t i;

	if (ukit_sigjson_keys(obj, path, keys, keys, e) != 0)
		return -1;
	if (ukit_sigjson_str(obj, path, "payloadType", DSSE_MAX_TYPE, &type, e) != 0)
		return -1;
	pl = json_object_get(obj, "payload");
	if (!json_is_string(pl) ||
	    strlen(json_string_value(pl)) != json_string_length(pl))
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.payload: not a string", path);
	if (ukit_b64_decode(json_string_value(pl), DSSE_MAX_PAYLOAD, &env.payload,
		       &env.payload_len, &le) != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "%s.payload: %s", path, le.msg);
	env.type = strdup(type);
	if (env.type == NULL) {
		ukit_dsse_free(&env);
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	}
	if (ukit_sigjson_arr(obj, path, "signatures", 1, DSSE_MAX_SIGS, &sigs, e) != 0)
		goto fail;
	for (i = 0; i < json_array_size(sigs); i++) {
		json_t *so = json_array_get(sigs, i);
		struct dsse_sig *ds = &env.sig[i];

		snprintf(sp, sizeof sp, "%s.signatures[%zu]", path, i);
		if (ukit_sigjson_keys(so, sp, skeys, sreq, e) != 0)
			goto fail;
		env.nsig = i + 1;
		if (json_object_get(so, "keyid") != NULL) {
			if (ukit_sigjson_str(so, sp, "keyid", DSSE_MAX_KEYID, &s, e) != 0)
				goto fail;
			ds->keyid = strdup(s);
			if (ds->keyid == NULL) {
				ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
				goto fail;
			}
		}
		if (ukit_sigjson_str(so, sp, "sig", 0, &s, e) != 0)
			goto fail;
		if (ukit_b64_decode(s, SIG_MAX_LEN, &ds->sig, &ds->siglen, &le) != 0) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s.sig: %s", sp, le.msg);
			goto fail;
		}
		if (ds->siglen == 0) {
			ukit_fmt_errf(e, FMT_NOOFF, "%s.sig: empty signature", sp);
			goto fail;
		}
	}
	*out = env;
	return 0;
fail:
	ukit_dsse_free(&env);
	return -1;
}

int ukit_dsse_verify(const struct dsse_env *env, const struct sig_key *k,
		struct fmt_err *e)
{
	uint8_t *pae;
	size_t paelen;
	int found = -1;

	if (ukit_dsse_pae(env->type, strlen(env->type), env->payload,
		     env->payload_len, &pae, &paelen, e) != 0)
		return -1;
	for (size_t i = 0; i < env->nsig && found < 0; i++) {
		if (env->sig[i].keyid != NULL &&
		    strcmp(env->sig[i].keyid, k->keyid) != 0)
			continue;
		if (ukit_sig_verify(k, pae, paelen, env->sig[i].sig,
			       env->sig[i].siglen, NULL) == 0)
			found = (int)i;
	}
	free(pae);
	if (found < 0)
		return ukit_fmt_errf(e, FMT_NOOFF,
				"no signature verifies with key %s", k->keyid);
	return found;
}
