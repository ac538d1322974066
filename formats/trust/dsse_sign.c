/*
 * ukit_dsse_sign.c: signing a DSSE envelope and writing it as JSON (see\n * dsse.h); reading and verifying one are dsse.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dsse.h"
#include "sigjson.h"

json_t *ukit_dsse_to_json(const struct dsse_env *env, struct fmt_err *e)
{
	json_t *o = json_object(), *sigs = json_array();
	char *pl = ukit_b64_encode(env->payload, env->payload_len);
	int bad = o == NULL || sigs == NULL || pl == NULL;

	if (!bad) {
		bad |= json_object_set_new(o, "payload", json_string(pl));
		bad |= json_object_set_new(o, "payloadType",
					   json_string(env->type));
	}
	for (size_t i = 0; !bad && i < env->nsig; i++) {
		json_t *s = json_object();
		char *b = ukit_b64_encode(env->sig[i].sig, env->sig[i].siglen);
		bad |= s == NULL || b == NULL;
		if (!bad && env->sig[i].keyid != NULL)
			bad |= json_object_set_new(s, "keyid",
						   json_string(env->sig[i].keyid));
		if (!bad)
			bad |= json_object_set_new(s, "sig", json_string(b));
		free(b);
		if (!bad)
			bad |= json_array_append_new(sigs, s);
		else
			json_decref(s);
	}
	if (!bad)
		bad |= json_object_set_new(o, "signatures", sigs);
	else
		json_decref(sigs);
	free(pl);
	if (bad) {
		json_decref(o);
		ukit_fmt_errf(e, FMT_NOOFF, "cannot build DSSE envelope JSON");
		return NULL;
	}
	return o;
}

int ukit_dsse_sign(const char *type, const uint8_t *payload, size_t len,
	      struct sig_key *k, struct dsse_env *out, struct fmt_err *e)
{
	struct dsse_env env = { 0 };
	uint8_t sig[SIG_MAX_LEN], *pae;
	size_t siglen, paelen;
	int rc;

	if (ukit_dsse_pae(type, strlen(type), payload, len, &pae, &paelen, e) != 0)
		return -1;
	rc = ukit_sig_sign(k, pae, paelen, sig, &siglen, e);
	free(pae);
	if (rc != 0)
		return -1;
	env.type = strdup(type);
	env.payload = malloc(len + 1);
	env.sig[0].keyid = strdup(k->keyid);
	env.sig[0].sig = malloc(siglen);
	env.nsig = 1;
	if (env.type == NULL || env.payload == NULL || env.sig[0].keyid == NULL ||
	    env.sig[0].sig == NULL) {
		ukit_dsse_free(&env);
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	}
	memcpy(env.payload, payload, len);
	env.payload[len] = 0;
	env.payload_len = len;
	memcpy(env.sig[0].sig, sig, siglen);
	env.sig[0].siglen = siglen;
	*out = env;
	return 0;
}
