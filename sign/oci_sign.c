/*
 * oci_sign.c: ukit-sign sign and verify for image references (oci:DIR,
 * docker://HOST/REPO): the statement's subject is the image manifest
 * (sha256 and size of its bytes), the bundle is stored as an OCI artifact
 * whose subject is that manifest (formats/oci/ocisig.h).  sign and verify
 * come here when their IMAGE argument is a reference.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "keysrc.h"
#include "bundle.h"
#include "cert.h"
#include "cli.h"
#include "cli_oci.h"
#include "dsse.h"
#include "ocisig.h"
#include "sig.h"
#include "sign.h"
#include "statement.h"
#include "verify.h"

static bool is_ref(const char *s)
{
	return strncmp(s, "oci:", 4) == 0 || strncmp(s, "oci-archive:", 12) == 0 ||
	       strncmp(s, "docker://", 9) == 0;
}

/* The last argument names the image; references go to the OCI commands. */
static bool has_ref(int argc, char **argv)
{
	return argc > 1 && is_ref(argv[argc - 1]);
}

static int sign_oci(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV },
		{ "cert", required_argument, NULL, 'C' },
		{ "chain", required_argument, NULL, 'H' },
		{ "ca", required_argument, NULL, OPT_SIGN_CA },
		{ "pin-file", required_argument, NULL, EDGE_OPT_PIN_FILE },
		{ "pkcs11-module", required_argument, NULL, EDGE_OPT_MODULE },
		{ "rollback", required_argument, NULL, 'r' },
		{ "annotate", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_oci_regopts ro;
	struct sig_secret_src secret = { .prompt = tty_prompt };
	struct stmt_info info = { 0 };
	struct ukit_oci_ref ref;
	struct ukit_oci_desc d;
	struct ukit_oci_artifact a;
	struct bundle b = { 0 };
	struct sig_key *k = NULL;
	struct fmt_err e = { .off = FMT_NOOFF };
	json_t *ann = json_object();
	const char *key = NULL, *cert = NULL, *chain = NULL, *ca = NULL;
	char *raw = NULL, *payload = NULL, *json = NULL, name[300];
	size_t len = 0, plen = 0, jlen = 0;
	uint64_t rollback = 0;
	bool as_json = false;
	int c, rc = 1;

	memset(&a, 0, sizeof a);
	memset(&d, 0, sizeof d);
	memset(&ref, 0, sizeof ref);
	cli_oci_regopts_init(&ro, 0);
	while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
		if (cli_oci_regopt(&ro, c, optarg) == 1)
			continue;
		switch (c) {
		case 'k': key = optarg; break;
		case 'P': secret.pass_file = optarg; break;
		case OPT_PASSPHRASE_ENV:
			if (set_passphrase_env(&secret, optarg) != 0) {
				json_decref(ann);
				return 2;
			}
			break;
		case 'C': cert = optarg; break;
		case 'H': chain = optarg; break;
		case OPT_SIGN_CA: ca = optarg; break;
		case EDGE_OPT_PIN_FILE: secret.pin_file = optarg; break;
		case EDGE_OPT_MODULE: secret.pkcs11_module = optarg; break;
		case 'r':
			if (!parse_u64(optarg, STMT_ROLLBACK_MAX, &rollback)) {
				cli_errx("sign: --rollback wants an integer");
				json_decref(ann);
				return 2;
			}
			break;
		case 'a': {
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				cli_errx("sign: --annotate %s: not KEY=VALUE", optarg);
				json_decref(ann);
				return 2;
			}
			char kbuf[STMT_ANNOT_KEY_MAX + 1];
			if ((size_t)(eq - optarg) > STMT_ANNOT_KEY_MAX) {
				cli_errx("sign: --annotate key longer than %d "
					 "bytes", STMT_ANNOT_KEY_MAX);
				json_decref(ann);
				return 2;
			}
			memcpy(kbuf, optarg, (size_t)(eq - optarg));
			kbuf[eq - optarg] = 0;
			json_object_set_new(ann, kbuf, json_string(eq + 1));
			break;
		}
		case 'j': as_json = true; break;
		default:
			json_decref(ann);
			cli_usage(stderr, 2);
		}
	}
	if (ro.bad || argc - optind != 1 || key == NULL) {
		json_decref(ann);
		if (!ro.bad)
			cli_errx("sign: need --key KEY and one image reference");
		return 2;
	}
	if ((chain != NULL || ca != NULL) && cert == NULL) {
		json_decref(ann);
		cli_errx("sign: --%s needs --cert", chain ? "chain" : "ca");
		return 2;
	}
	if (ukit_oci_ref_parse(argv[optind], &ref, &e) < 0) {
		cli_err(&e);
		json_decref(ann);
		return 2;
	}
	if ((rc = load_private_key(key, &secret, &k)) != 0)
		goto out;
	rc = 1;
	/* before any request: a certificate that cannot sign is refused here */
	if (cert != NULL && load_signer_certs(cert, chain, ca, k, &b) != 0)
		goto out;
	if (ukit_oci_sig_subject(&ref, &ro.r, &d, &raw, &len, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	if (ref.kind == OCI_REF_DOCKER)
		snprintf(name, sizeof name, "%s/%s", ref.host, ref.repo);
	else
		snprintf(name, sizeof name, "%s", ref.path);
	info.name = name;
	if (strlen(d.digest) != OCI_DIGEST_LEN)
		goto out;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(d.digest + 7 + 2 * i, "%2x", &v);
		info.sha256[i] = (uint8_t)v;
	}
	info.size = d.size;
	info.format = "raw";
	info.rollback = rollback;
	info.created = created_time();
	json_object_set_new(ann, "org.opencontainers.image.ref", json_string(ref.text));
	json_object_set_new(ann, "org.opencontainers.image.mediaType",
			    json_string(d.media_type));
	info.annotations = ann;
	if (ukit_stmt_build(&info, &payload, &plen, &e) != 0 ||
	    ukit_dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen, k, &b.env, &e) != 0 ||
	    ukit_dsse_verify(&b.env, k, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (b.ncert == 0 && (b.hint = strdup(k->keyid)) == NULL) {
		cli_errx("sign: out of memory");
		goto out;
	}
	if (ukit_bundle_serialize(&b, &json, &jlen, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (ukit_oci_sig_artifact(&d, json, jlen, (int64_t)info.created, &a,
				  &e) < 0 ||
	    ukit_oci_sig_attach(&ref, &ro.r, &a, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	if (as_json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "reference", ref.text,
				      "digest", d.digest, "signature",
				      a.manifest_desc.digest, "keyid", k->keyid);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		printf("signed %s %s: signature %s\n", ref.text, d.digest,
		       a.manifest_desc.digest);
	}
	rc = 0;
out:
	ukit_oci_artifact_free(&a);
	ukit_oci_desc_free(&d);
	ukit_oci_ref_free(&ref);
	ukit_bundle_free(&b);
	ukit_sig_key_free(k);
	json_decref(ann);
	free(raw);
	free(payload);
	free(json);
	return rc;
}

static int verify_oci(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OCI_REGOPTS_LONG,
		{ "pub", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'R' },
		{ "min-rollback", required_argument, NULL, 'm' },
		{ "check-time", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_oci_regopts ro;
	struct sig_key *pub[MAX_PUBS];
	const char *pub_arg[MAX_PUBS], *ca_arg[MAX_ROOTS];
	size_t npub = 0, npub_arg = 0, nca_arg = 0;
	STACK_OF(X509) *roots = NULL, *sk;
	struct verify_policy pol = { .tee_fd = -1 };
	struct verify_result r;
	struct ukit_oci_ref ref;
	struct ukit_oci_desc d;
	struct fmt_err e = { .off = FMT_NOOFF };
	char *raw = NULL;
	size_t len = 0;
	bool as_json = false, have_r = false;
	int c, rc = 1, v;

	memset(&d, 0, sizeof d);
	memset(&r, 0, sizeof r);
	cli_oci_regopts_init(&ro, 0);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (cli_oci_regopt(&ro, c, optarg) == 1) {
			if (ro.bad) {
				rc = 2;
				goto out0;
			}
			continue;
		}
		switch (c) {
		case 'K':
			if (npub_arg >= MAX_PUBS) {
				cli_errx("verify: at most %d --pub keys", MAX_PUBS);
				rc = 2;
				goto out0;
			}
			pub_arg[npub_arg++] = optarg;
			break;
		case 'R':
			if (nca_arg >= MAX_ROOTS) {
				cli_errx("verify: at most %d --ca roots", MAX_ROOTS);
				rc = 2;
				goto out0;
			}
			ca_arg[nca_arg++] = optarg;
			break;
		case 'm':
			if (!parse_u64(optarg, STMT_ROLLBACK_MAX, &pol.min_rollback)) {
				cli_errx("verify: --min-rollback wants an integer");
				rc = 2;
				goto out0;
			}
			break;
		case 't': pol.check_time = true; break;
		case 'j': as_json = true; break;
		default:
			rc = 2;
			cli_usage(stderr, 2);
		}
	}
	if (ro.bad || argc - optind != 1 || (npub_arg == 0) == (nca_arg == 0)) {
		if (!ro.bad)
			cli_errx("verify: give either --pub or --ca, and one "
				 "image reference");
		rc = 2;
		goto out0;
	}
	if (ukit_oci_ref_parse(argv[optind], &ref, &e) < 0) {
		cli_err(&e);
		rc = 2;
		goto out0;
	}
	/* keys and roots after the usage checks: a usage error is exit 2 */
	for (size_t i = 0; i < npub_arg; i++) {
		e.path = pub_arg[i];
		if (ukit_sig_key_load_public(pub_arg[i], &pub[npub], &e) != 0) {
			cli_err(&e);
			goto out;
		}
		npub++;
	}
	for (size_t i = 0; i < nca_arg; i++) {
		e.path = ca_arg[i];
		if (ukit_cert_load_pem(ca_arg[i], &sk, &e) != 0) {
			cli_err(&e);
			goto out;
		}
		if (roots == NULL) {
			roots = sk;
			continue;
		}
		while (sk_X509_num(sk) > 0)
			sk_X509_push(roots, sk_X509_shift(sk));
		sk_X509_free(sk);
	}
	e.path = NULL;
	pol.pub = pub;
	pol.npub = npub;
	pol.roots = roots;
	if (ukit_oci_sig_subject(&ref, &ro.r, &d, &raw, &len, &e) < 0) {
		cli_err(&e);
		goto out;
	}
	v = ukit_oci_sig_verify(&ref, &ro.r, &d, raw, len, &pol, &r, &e);
	if (v < 0) {
		cli_err(&e);
		goto out;
	}
	have_r = true;
	if (as_json) {
		json_t *j = json_pack("{s:b,s:s,s:s,s:O,s:s*,s:s*}", "verified",
				      v == 1, "reference", ref.text, "digest",
				      d.digest, "reasons", r.reasons, "keyid",
				      r.keyid[0] ? r.keyid : NULL, "signer",
				      r.signer[0] ? r.signer : NULL);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	}
	if (v == 1) {
		if (!as_json)
			printf("verified %s %s: key %s%s%s\n", ref.text, d.digest,
			       r.keyid, r.signer[0] ? ", signer " : "",
			       r.signer);
		rc = 0;
	} else {
		for (size_t i = 0; i < json_array_size(r.reasons); i++)
			cli_errx("%s: %s", ref.text,
				 json_string_value(json_array_get(r.reasons, i)));
	}
out:
	ukit_oci_ref_free(&ref);
out0:
	if (have_r)
		ukit_verify_result_free(&r);
	ukit_oci_desc_free(&d);
	free(raw);
	for (size_t i = 0; i < npub; i++)
		ukit_sig_key_free(pub[i]);
	sk_X509_pop_free(roots, X509_free);
	return rc;
}

int cmd_sign_any(int argc, char **argv)
{
	return has_ref(argc, argv) ? sign_oci(argc, argv) : cmd_sign(argc, argv);
}

int cmd_verify_any(int argc, char **argv)
{
	return has_ref(argc, argv) ? verify_oci(argc, argv) :
	       cmd_verify(argc, argv);
}
