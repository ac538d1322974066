/*
 * bundle_write.c: writing a bundle and the appended-signature footer (see\n * bundle.h); reading them is bundle.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io.h"
#include "bundle.h"
#include "bytes.h"
#include "sigjson.h"

int ukit_bundle_serialize(const struct bundle *b, char **out, size_t *len,
		     struct fmt_err *e)
{
	json_t *root, *vm, *env;
	const char *media = BUNDLE_MEDIA_TYPE;
	char *s;

	env = ukit_dsse_to_json(&b->env, e);
	if (env == NULL)
		return -1;
	if (b->ncert > 0) {
		json_t *certs = json_array();
		for (size_t i = 0; certs != NULL && i < b->ncert; i++) {
			char *r = ukit_b64_encode(b->cert[i], b->cert_len[i]);
			if (r == NULL ||
			    json_array_append_new(certs, json_pack("{s:s}",
						  "rawBytes", r)) != 0) {
				free(r);
				json_decref(certs);
				certs = NULL;
				break;
			}
			free(r);
		}
		if (certs != NULL && b->ncert == 1) {
			/* v0.3: the leaf alone */
			json_t *leaf = json_incref(json_array_get(certs, 0));
			json_decref(certs);
			vm = json_pack("{s:o, s:[]}", "certificate", leaf,
				       "tlogEntries");
		} else {
			vm = certs ? json_pack("{s:{s:o}, s:[]}",
					       "x509CertificateChain",
					       "certificates", certs,
					       "tlogEntries") : NULL;
			media = BUNDLE_MEDIA_TYPE_V02;
		}
	} else {
		vm = json_pack("{s:{s:s}, s:[]}", "publicKey", "hint",
			       b->hint ? b->hint : "", "tlogEntries");
	}
	if (vm != NULL && b->tsr != NULL) {
		char *r = ukit_b64_encode(b->tsr, b->tsr_len);

		if (r == NULL || json_object_set_new(vm,
		    "timestampVerificationData", json_pack("{s:[{s:s}]}",
		    "rfc3161Timestamps", "signedTimestamp", r)) != 0) {
			free(r);
			json_decref(vm);
			json_decref(env);
			return ukit_fmt_errf(e, FMT_NOOFF, "cannot build bundle JSON");
		}
		free(r);
	}
	root = vm ? json_pack("{s:s, s:o, s:o}", "mediaType", media,
			      "verificationMaterial", vm, "dsseEnvelope", env) :
		NULL;
	if (root == NULL) {
		if (vm == NULL)
			json_decref(env);
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot build bundle JSON");
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot serialise bundle");
	*len = strlen(s);
	{
		char *t = realloc(s, *len + 2);
		if (t == NULL) {
			free(s);
			return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
		}
		s = t;
	}
	s[(*len)++] = '\n';
	s[*len] = '\0';
	*out = s;
	return 0;
}

void ukit_sigfoot_encode(const struct sigfoot *f, uint8_t out[SIGFOOT_SIZE])
{
	struct sigfoot_abi a;

	memset(&a, 0, sizeof a);
	memcpy(a.magic, SIGFOOT_MAGIC, 8);
	le32_store(a.version_le, SIGFOOT_VERSION);
	le64_store(a.orig_size_le, f->orig_size);
	le64_store(a.bundle_off_le, f->bundle_off);
	le64_store(a.bundle_len_le, f->bundle_len);
	memcpy(out, &a, sizeof a);
}
