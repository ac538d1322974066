/*
 * sign_cmd.c: ukit-sign sign: the statement, DSSE envelope and bundle of an
 * image (or a detached CMS signature), with its dm-verity root and keys
 * from files or PKCS#11 tokens.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "bundle.h"
#include "cms.h"
#include "bytes.h"
#include "cert.h"
#include "cli.h"
#include "dsse.h"
#include "err.h"
#include "image.h"
#include "imgopen.h"
#include "keysrc.h"
#include "outfile.h"
#include "pkcs11.h"
#include "tsa.h"
#include "sealfd.h"
#include "sig.h"
#include "sigimg.h"
#include "statement.h"
#include "stream.h"
#include "verify.h"
#include "verity.h"
#include "sign.h"

/* ---- sign ----------------------------------------------------------- */

struct sign_opts {
	const char     *key;
	const char     *image;
	const char     *out;
	const char     *cert;
	const char     *chain;
	uint64_t        rollback;
	json_t         *annotations;
	bool            append;
	int             progress;        /* -1 quiet, 0 auto, 1 forced */
	struct sig_secret_src secret;
	/* h7-edge */
	bool            verity;          /* --verity */
	const char     *salt;            /* --salt HEX */
	const char     *hash_file;       /* --hash-file F */
	bool            cms;             /* --format cms */
	bool            json;            /* --json: report on stdout */
	bool            pad;             /* --pad: --verity pads to 4096 */
	bool            rsa_pss;         /* --rsa-pss */
	const char     *ca;              /* --ca: check the chain to it */
	const char     *tsa;             /* --tsa URL */
};

static int stamp(const struct sign_opts *o, struct bundle *b);

static int check_chain_now(const char *cert, const char *ca, X509 *leaf,
			   STACK_OF(X509) *chain);

/* What sign wrote (stderr, or stdout with --json). */
static void report(const struct sign_opts *o, const struct sig_key *k,
		   const char *signer, const char *kind, const char *outpath,
		   const struct stmt_info *info, uint64_t size);
static int keep_mode_owner(int src_fd, struct outfile *of, const char *path);
static int verity_size_ok(struct sign_opts *o, int *fd, const char *format);

/* h7-edge: dm-verity, CMS, PKCS#11 options (defined at the end). */
struct edge_verity;
static int edge_sign_opt(struct sign_opts *o, int c, const char *arg);
static int edge_sign_cms(const struct sign_opts *o, struct sig_key *k);
static int edge_verity_begin(const struct sign_opts *o, int fd,
			     const char *format, struct edge_verity **out);
static struct stream_sink edge_verity_sink(struct edge_verity *ev);
static int edge_verity_end(struct edge_verity *ev, int fd, const char *path,
			   struct stmt_info *info);
static int edge_verity_commit(struct edge_verity *ev);
static void edge_verity_free(struct edge_verity *ev);

static int add_annotation(json_t *ann, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[STMT_ANNOT_KEY_MAX + 1];
	size_t klen;

	if (eq == NULL || eq == kv) {
		cli_errx("sign: --annotate wants KEY=VALUE, got '%s'", kv);
		return -1;
	}
	klen = (size_t)(eq - kv);
	if (klen > STMT_ANNOT_KEY_MAX || strlen(eq + 1) > STMT_ANNOT_VAL_MAX) {
		cli_errx("sign: annotation too long (key <= %d, value <= %d bytes)",
			 STMT_ANNOT_KEY_MAX, STMT_ANNOT_VAL_MAX);
		return -1;
	}
	memcpy(key, kv, klen);
	key[klen] = '\0';
	if (json_object_get(ann, key) != NULL) {
		cli_errx("sign: annotation '%s' given twice", key);
		return -1;
	}
	if (json_object_size(ann) >= STMT_ANNOT_MAX) {
		cli_errx("sign: more than %d annotations", STMT_ANNOT_MAX);
		return -1;
	}
	if (json_object_set_new(ann, key, json_string(eq + 1)) != 0) {
		cli_errx("sign: annotation '%s' is not valid UTF-8", key);
		return -1;
	}
	return 0;
}

int load_signer_certs(const char *cert, const char *chainf, const char *ca,
		      struct sig_key *k, struct bundle *b)
{
	STACK_OF(X509) *leaf = NULL, *chain = NULL;
	struct fmt_err e = { .path = cert };
	int rc = -1, n;

	if (ukit_cert_load_pem(cert, &leaf, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(leaf, 0)), k->pkey) != 1) {
		cli_errx("%s: certificate does not match the signing key", cert);
		goto out;
	}
	if (ukit_cert_check_usage(sk_X509_value(leaf, 0), &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (chainf != NULL) {
		e.path = chainf;
		if (ukit_cert_load_pem(chainf, &chain, &e) != 0) {
			cli_err(&e);
			goto out;
		}
	}
	if (check_chain_now(cert, ca, sk_X509_value(leaf, 0), chain) != 0)
		goto out;
	n = 1 + (chain ? sk_X509_num(chain) : 0);
	if (n > BUNDLE_MAX_CERTS) {
		cli_errx("sign: %d certificates, at most %d", n, BUNDLE_MAX_CERTS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		X509 *x = i == 0 ? sk_X509_value(leaf, 0) : sk_X509_value(chain, i - 1);
		unsigned char *der = NULL;
		int len;

		if (i > 0 && ukit_cert_self_issued(x)) {
			cli_errx("%s: certificate %d is a self-issued root; a bundle "
				 "never ships the root", chainf, i);
			goto out;
		}
		len = i2d_X509(x, &der);
		if (len <= 0) {
			cli_errx("sign: cannot encode certificate %d", i);
			goto out;
		}
		b->cert[i] = malloc((size_t)len);
		if (b->cert[i] == NULL) {
			OPENSSL_free(der);
			goto out;
		}
		memcpy(b->cert[i], der, (size_t)len);
		b->cert_len[i] = (size_t)len;
		b->ncert = (size_t)i + 1;
		OPENSSL_free(der);
	}
	rc = 0;
out:
	sk_X509_pop_free(leaf, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/*
 * Check what we are about to write: parse the serialised bundle again and
 * verify its signature with the key's public half (minisign does the same).
 */
static int self_check(const char *json, size_t len, const struct sig_key *k)
{
	struct fmt_err e = { .path = "new bundle" };
	struct bundle b;
	struct stmt st;
	int rc = -1;

	if (ukit_bundle_parse(json, len, &b, &e) != 0)
		goto fail;
	if (ukit_dsse_verify(&b.env, k, &e) < 0 ||
	    ukit_stmt_parse(b.env.payload, b.env.payload_len, &st, &e) != 0) {
		ukit_bundle_free(&b);
		goto fail;
	}
	ukit_stmt_free(&st);
	ukit_bundle_free(&b);
	return 0;
fail:
	cli_errx("sign: self-check of the new signature failed: %s", e.msg);
	return rc;
}

/*
 * A qcow2 image that qemu-img check would call corrupt (a cluster used
 * twice, a refcount below its references, ...) is not signed: qemu's
 * allocator trusts the refcounts, so the guest could see signed clusters
 * change under it.  Prints why; true when consistent (leaks pass).
 */
static bool qcow2_consistent(int fd, const char *path)
{
	struct image_opts io = { .check = true };
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct image *img;

	if (ukit_image_open(fd, path, IMG_QCOW2, &io, &img, &e) != 0) {
		if (e.off != FMT_NOOFF)
			cli_errx("%s:0x%" PRIx64 ": refusing to sign: %s",
				 path, e.off, e.msg);
		else
			cli_errx("%s: refusing to sign: %s", path, e.msg);
		return false;
	}
	ukit_image_close(img);
	return true;
}

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "cert", required_argument, NULL, 'C' },
		{ "chain", required_argument, NULL, 'H' },
		{ "rollback", required_argument, NULL, 'r' },
		{ "annotate", required_argument, NULL, 'a' },
		{ "append", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verity", no_argument, NULL, EDGE_OPT_VERITY },
		{ "salt", required_argument, NULL, EDGE_OPT_SALT },
		{ "hash-file", required_argument, NULL, EDGE_OPT_HASH_FILE },
		{ "format", required_argument, NULL, EDGE_OPT_FORMAT },
		{ "pin-file", required_argument, NULL, EDGE_OPT_PIN_FILE },
		{ "pkcs11-module", required_argument, NULL, EDGE_OPT_MODULE },
		{ "passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pad", no_argument, NULL, OPT_PAD },
		{ "rsa-pss", no_argument, NULL, OPT_RSA_PSS },
		{ "ca", required_argument, NULL, OPT_SIGN_CA },
		{ "tsa", required_argument, NULL, OPT_TSA },
		{ NULL, 0, NULL, 0 },
	};
	struct sign_opts o = { .secret = { .prompt = tty_prompt } };
	struct fmt_err e = { 0 };
	struct sig_key *k = NULL;
	struct bundle b = { 0 };
	struct stmt_info info = { 0 };
	struct sigimg img = { 0 };
	struct outfile of = { .fd = -1 };
	struct stream_sha256 sha = { 0 };
	struct edge_verity *ev = NULL;
	struct cli_progress prog;
	char *payload = NULL, *json = NULL, *outpath = NULL, *namebuf = NULL;
	size_t plen = 0, jlen = 0;
	bool of_open = false;
	uint64_t total = 0;
	int c, rc = 1, fd = -1;

	o.annotations = json_object();
	if (o.annotations == NULL)
		return 1;
	while ((c = getopt_long(argc, argv, "o:pq", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o.key = optarg; break;
		case 'P':
			o.secret.pass_file = input_path(optarg, "--passphrase-file");
			if (o.secret.pass_file == NULL) {
				json_decref(o.annotations);
				return 2;
			}
			break;
		case OPT_PASSPHRASE_ENV:
			if (set_passphrase_env(&o.secret, optarg) != 0) {
				json_decref(o.annotations);
				return 2;
			}
			break;
		case OPT_JSON: o.json = true; break;
		case OPT_PAD: o.pad = true; break;
		case OPT_RSA_PSS: o.rsa_pss = true; break;
		case OPT_TSA: o.tsa = optarg; break;
		case OPT_SIGN_CA:
			if ((o.ca = input_path(optarg, "--ca")) == NULL) {
				json_decref(o.annotations);
				return 2;
			}
			break;
		case 'C':
		case 'H':
			if ((optarg = (char *)input_path(optarg, c == 'C' ?
					"--cert" : "--chain")) == NULL) {
				json_decref(o.annotations);
				return 2;
			}
			if (c == 'C')
				o.cert = optarg;
			else
				o.chain = optarg;
			break;
		case 'r':
			if (!parse_u64(optarg, STMT_ROLLBACK_MAX, &o.rollback)) {
				cli_errx("sign: --rollback wants an integer 0..%" PRId64,
					 INT64_MAX);
				json_decref(o.annotations);
				return 2;
			}
			break;
		case 'a':
			if (add_annotation(o.annotations, optarg) != 0) {
				json_decref(o.annotations);
				return 2;
			}
			break;
		case 'A': o.append = true; break;
		case 'o': o.out = optarg; break;
		case 'p': o.progress = 1; break;
		case 'q': o.progress = -1; break;
		case EDGE_OPT_VERITY: case EDGE_OPT_SALT: case EDGE_OPT_HASH_FILE:
		case EDGE_OPT_FORMAT: case EDGE_OPT_PIN_FILE: case EDGE_OPT_MODULE:
			if (edge_sign_opt(&o, c, optarg) != 0) {
				json_decref(o.annotations);
				return 2;
			}
			break;
		default: cli_usage(stderr, 2);
		}
	}
	if (edge_sign_opt(&o, 0, NULL) != 0) {
		json_decref(o.annotations);
		return 2;
	}
	if (argc - optind != 1 || o.key == NULL ||
	    ((o.chain != NULL || o.ca != NULL) && o.cert == NULL))
		cli_usage(stderr, 2);
	if (o.json && o.out != NULL && strcmp(o.out, "-") == 0) {
		cli_errx("sign: --json and -o - both want standard output");
		json_decref(o.annotations);
		return 2;
	}
	if (o.pad && !o.verity) {
		cli_errx("sign: --pad needs --verity");
		json_decref(o.annotations);
		return 2;
	}
	o.image = argv[optind];

	if ((rc = load_private_key(o.key, &o.secret, &k)) != 0)
		goto out;
	rc = 1;
	if (o.rsa_pss && k->alg != SIG_RSA_PSS) {
		cli_errx("sign: --rsa-pss needs an RSA key; %s is %s", o.key,
			 ukit_sig_alg_name(k->alg));
		rc = 2;
		goto out;
	}
	k->rsa_pss = o.rsa_pss;
	if (o.cms) {
		rc = edge_sign_cms(&o, k);
		goto out;
	}
	if (o.cert != NULL && load_signer_certs(o.cert, o.chain, o.ca, k, &b) != 0)
		goto out;

	if ((fd = cli_open_input(o.image)) < 0)
		goto out;
	e.path = o.image;
	if (ukit_sigimg_probe(fd, o.image, &img, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (strcmp(img.format, "qcow2") == 0 && !qcow2_consistent(fd, o.image))
		goto out;
	if (o.verity && !verity_size_ok(&o, &fd, img.format))
		goto out;
	if (o.append) {
		struct sigfoot f;
		int r = ukit_sigfoot_read(fd, &f, &e);
		if (r != 0) {
			if (r > 0)
				cli_errx("%s: already carries an appended signature; "
					 "sign the original image", o.image);
			else
				cli_err(&e);
			goto out;
		}
		if (strcmp(img.format, "raw") == 0 || strcmp(img.format, "bin") == 0) {
			cli_errx("%s: refusing --append on a %s image: bytes after "
				 "a disk's end are not part of it (and GPT keeps "
				 "its backup header there); use a detached bundle",
				 o.image, img.format);
			goto out;
		}
		outpath = strdup(o.out ? o.out : o.image);
		if (outpath == NULL || ukit_outfile_open(&of, outpath, 0644, &e) != 0) {
			cli_err(&e);
			goto out;
		}
		of_open = true;
		if (keep_mode_owner(fd, &of, outpath) != 0)
			goto out;
	}

	if (edge_verity_begin(&o, fd, img.format, &ev) != 0)
		goto out;
	/* One pass: hash (and, with --append, copy) the image. */
	if (ukit_stream_sha256_init(&sha, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	{
		struct stream_sink sinks[2] = {
			{ ukit_stream_sha256_update, &sha },
		};
		size_t nsinks = 1;
		struct stream_opts so = {
			.tee_fd = of_open ? of.fd : -1,
			.limit = STREAM_NO_LIMIT,
			.progress = progress_cb, .progress_arg = &prog,
		};
		struct stat st;

		if (ev != NULL && edge_verity_sink(ev).update != NULL)
			sinks[nsinks++] = edge_verity_sink(ev);
		fstat(fd, &st);
		cli_progress_start(&prog, o.progress, (uint64_t)st.st_size);
		rc = ukit_stream_fd(fd, o.image, &so, sinks, nsinks, &total, &e);
		cli_progress_end(&prog);
		if (rc != 0 || ukit_stream_sha256_final(&sha, info.sha256, &e) != 0) {
			rc = 1;
			cli_err(&e);
			goto out;
		}
		rc = 1;
	}

	namebuf = strdup(o.image);
	if (namebuf == NULL)
		goto out;
	info.name = basename(namebuf);
	info.size = total;
	info.format = img.format;
	info.rollback = o.rollback;
	info.created = created_time();
	info.solo5 = img.solo5;
	info.annotations = o.annotations;
	if (ev != NULL && edge_verity_end(ev, fd, o.image, &info) != 0)
		goto out;
	if (ukit_stmt_build(&info, &payload, &plen, &e) != 0 ||
	    ukit_dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen, k, &b.env, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (o.tsa != NULL && stamp(&o, &b) != 0)
		goto out;
	if (b.ncert == 0) {
		b.hint = strdup(k->keyid);
		if (b.hint == NULL)
			goto out;
	}
	if (ukit_bundle_serialize(&b, &json, &jlen, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (jlen > BUNDLE_MAX) {
		cli_errx("sign: bundle of %zu bytes exceeds %d", jlen, BUNDLE_MAX);
		goto out;
	}
	if (self_check(json, jlen, k) != 0 || edge_verity_commit(ev) != 0)
		goto out;

	if (o.append) {
		uint8_t foot[SIGFOOT_SIZE];
		struct sigfoot f = { .orig_size = total, .bundle_off = total,
				     .bundle_len = jlen };

		ukit_sigfoot_encode(&f, foot);
		if (ukit_outfile_write(&of, json, jlen, &e) != 0 ||
		    ukit_outfile_write(&of, foot, sizeof foot, &e) != 0 ||
		    ukit_outfile_commit(&of, &e) != 0) {
			cli_err(&e);
			of_open = false;
			goto out;
		}
		of_open = false;
	} else {
		if (o.out != NULL)
			outpath = strdup(o.out);
		else if (asprintf(&outpath, "%s.bundle.json", o.image) < 0)
			outpath = NULL;
		if (outpath == NULL)
			goto out;
		e.path = outpath;
		if (ukit_outfile_open(&of, outpath, 0644, &e) != 0 ||
		    (of_open = true, ukit_outfile_write(&of, json, jlen, &e)) != 0 ||
		    ukit_outfile_commit(&of, &e) != 0) {
			cli_err(&e);
			of_open = false;
			goto out;
		}
		of_open = false;
	}
	{
		char subj[512] = "";
		X509 *leaf = NULL;

		if (b.ncert > 0 && ukit_cert_parse_der(b.cert[0], b.cert_len[0],
						  &leaf, &e) == 0) {
			ukit_cert_subject(leaf, subj, sizeof subj);
			X509_free(leaf);
		}
		report(&o, k, subj, o.append ? "appended" : "bundle", outpath,
		       &info, info.size);
	}
	rc = 0;
out:
	if (of_open)
		ukit_outfile_abort(&of);
	if (fd >= 0)
		close(fd);
	ukit_stream_sha256_free(&sha);
	edge_verity_free(ev);
	ukit_sigimg_free(&img);
	ukit_bundle_free(&b);
	ukit_sig_key_free(k);
	json_decref(o.annotations);
	free(payload);
	free(json);
	free(outpath);
	free(namebuf);
	return rc;
}

/* ---- sign/verify for the edge (h7-edge) ---------------------------- */
/*
 * dm-verity roots in the statement (--verity, --salt, --hash-file,
 * --verity-only), detached CMS (--format cms, --cms), PKCS#11 key options
 * (--pin-file, --pkcs11-module) and --exec on a sealed copy.
 */

static int edge_sign_opt(struct sign_opts *o, int c, const char *arg)
{
	uint8_t salt[VERITY_SALT_MAX];
	size_t salt_len;

	switch (c) {
	case EDGE_OPT_VERITY: o->verity = true; return 0;
	case EDGE_OPT_SALT: o->salt = arg; return 0;
	case EDGE_OPT_HASH_FILE: o->hash_file = arg; return 0;
	case EDGE_OPT_PIN_FILE: o->secret.pin_file = arg; return 0;
	case EDGE_OPT_MODULE: o->secret.pkcs11_module = arg; return 0;
	case EDGE_OPT_FORMAT:
		if (strcmp(arg, "cms") == 0)
			o->cms = true;
		else if (strcmp(arg, "bundle") != 0) {
			cli_errx("sign: --format wants bundle or cms, got '%s'", arg);
			return -1;
		}
		return 0;
	}
	/* c == 0: after all options */
	if ((o->hash_file != NULL || o->salt != NULL) && !o->verity) {
		cli_errx("sign: --%s needs --verity",
			 o->hash_file ? "hash-file" : "salt");
		return -1;
	}
	if (parse_salt(o->salt, salt, &salt_len) != 0)
		return -1;
	if (o->cms && o->cert == NULL) {
		cli_errx("sign: --format cms needs --cert (a CMS signature "
			 "names its signer by certificate)");
		return -1;
	}
	if (o->cms && (o->append || o->verity || o->rollback != 0 ||
		       json_object_size(o->annotations) != 0)) {
		cli_errx("sign: --format cms signs the image bytes only; "
			 "--append, --verity, --rollback and --annotate need a "
			 "bundle");
		return -1;
	}
	return 0;
}

/* Stream sink adapter for the CMS digest. */
static int edge_cms_update(void *ctx, const uint8_t *buf, size_t len,
			   uint64_t off, struct fmt_err *e)
{
	(void)off;
	return ukit_cms_sign_update(ctx, buf, len, e);
}

/* sign --format cms: IMAGE.p7s, a detached DER CMS SignedData. */
static int edge_sign_cms(const struct sign_opts *o, struct sig_key *k)
{
	STACK_OF(X509) *leaf = NULL, *chain = NULL;
	struct fmt_err e = { .path = o->cert };
	struct cms_signer *cs = NULL;
	struct outfile of;
	EVP_PKEY *pk = ukit_p11_sig_key_token_pkey(k);
	bool of_open = false;
	uint8_t *der = NULL;
	size_t der_len = 0;
	uint64_t total = 0;
	char *outpath = NULL;
	X509 *x;
	int fd = -1, rc = 1;

	if (pk == NULL)
		pk = k->pkey;
	if (k->alg == SIG_ED25519) {
		cli_errx("sign: --format cms needs an ECDSA or RSA key "
			 "(OpenSSL 3.0 has no Ed25519 CMS signing)");
		return 1;
	}
	if (ukit_cert_load_pem(o->cert, &leaf, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	x = sk_X509_value(leaf, 0);
	if (EVP_PKEY_eq(X509_get0_pubkey(x), k->pkey) != 1) {
		cli_errx("%s: certificate does not match the signing key",
			 o->cert);
		goto out;
	}
	if (ukit_cert_check_usage(x, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (o->chain != NULL) {
		e.path = o->chain;
		if (ukit_cert_load_pem(o->chain, &chain, &e) != 0) {
			cli_err(&e);
			goto out;
		}
	}
	e.path = o->image;
	if ((fd = cli_open_input(o->image)) < 0)
		goto out;
	if (ukit_cms_sign_begin(pk, x, chain, &cs, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	{
		struct stream_sink sink = { edge_cms_update, cs };
		struct stream_opts so = { .tee_fd = -1,
					  .limit = STREAM_NO_LIMIT };
		if (ukit_stream_fd(fd, o->image, &so, &sink, 1, &total, &e) != 0 ||
		    ukit_cms_sign_final(cs, &der, &der_len, &e) != 0) {
			cli_err(&e);
			goto out;
		}
	}
	if (o->out != NULL)
		outpath = strdup(o->out);
	else if (asprintf(&outpath, "%s.p7s", o->image) < 0)
		outpath = NULL;
	if (outpath == NULL)
		goto out;
	e.path = outpath;
	if (ukit_outfile_open(&of, outpath, 0644, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	of_open = true;
	if (ukit_outfile_write(&of, der, der_len, &e) != 0 ||
	    ukit_outfile_commit(&of, &e) != 0) {
		of_open = false;
		cli_err(&e);
		goto out;
	}
	of_open = false;
	{
		char subj[512];

		ukit_cert_subject(x, subj, sizeof subj);
		report(o, k, subj, "cms", outpath, NULL, total);
	}
	rc = 0;
out:
	if (of_open)
		ukit_outfile_abort(&of);
	if (fd >= 0)
		close(fd);
	ukit_cms_signer_free(cs);
	OPENSSL_free(der);
	free(outpath);
	sk_X509_pop_free(leaf, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* The tree that sign --verity builds alongside the SHA-256. */
struct edge_verity {
	struct verity  *v;               /* streamed (not qcow2), or NULL */
	bool            qcow2;           /* tree over the guest view */
	struct outfile  hf;              /* --hash-file */
	bool            hf_open;
	uint8_t         salt[VERITY_SALT_MAX];
	size_t          salt_len;
	json_t         *obj;
};

static int edge_verity_update(void *ctx, const uint8_t *buf, size_t len,
			      uint64_t off, struct fmt_err *e)
{
	(void)off;
	return ukit_verity_update(ctx, buf, len, e);
}

static int edge_verity_begin(const struct sign_opts *o, int fd,
			     const char *format, struct edge_verity **out)
{
	struct fmt_err e = { .path = o->image };
	struct edge_verity *ev;
	struct stat st;

	*out = NULL;
	if (!o->verity)
		return 0;
	ev = calloc(1, sizeof *ev);
	if (ev == NULL)
		return -1;
	*out = ev;
	(void)parse_salt(o->salt, ev->salt, &ev->salt_len);
	ev->qcow2 = strcmp(format, "qcow2") == 0;
	if (o->hash_file != NULL) {
		e.path = o->hash_file;
		if (ukit_outfile_open(&ev->hf, o->hash_file, 0644, &e) != 0) {
			cli_err(&e);
			return -1;
		}
		ev->hf_open = true;
		e.path = o->image;
	}
	if (ev->qcow2)
		return 0;
	if (fstat(fd, &st) != 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return -1;
	}
	if (ukit_verity_init((uint64_t)st.st_size, ev->salt, ev->salt_len,
			ev->hf_open ? ev->hf.fd : -1, &ev->v, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	return 0;
}

static struct stream_sink edge_verity_sink(struct edge_verity *ev)
{
	struct stream_sink s = { NULL, NULL };

	if (ev->v != NULL) {
		s.update = edge_verity_update;
		s.ctx = ev->v;
	}
	return s;
}

static int edge_verity_end(struct edge_verity *ev, int fd, const char *path,
			   struct stmt_info *info)
{
	struct fmt_err e = { .path = path };
	uint8_t root[VERITY_DIGEST];
	int hfd = ev->hf_open ? ev->hf.fd : -1;

	if (ev->qcow2) {
		struct image *img;
		if (ukit_image_open(fd, path, IMG_QCOW2, NULL, &img, &e) != 0) {
			cli_err(&e);
			return -1;
		}
		if (ukit_verity_image(img, ev->salt, ev->salt_len, hfd, root,
				 &e) != 0) {
			ukit_image_close(img);
			cli_err(&e);
			return -1;
		}
		ukit_image_close(img);
	} else if (ukit_verity_final(ev->v, root, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	ev->obj = ukit_verity_json(root, ev->salt, ev->salt_len, &e);
	if (ev->obj == NULL) {
		cli_err(&e);
		return -1;
	}
	info->verity = ev->obj;
	return 0;
}

static int edge_verity_commit(struct edge_verity *ev)
{
	struct fmt_err e = { 0 };

	if (ev == NULL || !ev->hf_open)
		return 0;
	ev->hf_open = false;
	e.path = ev->hf.path;
	if (ukit_outfile_commit(&ev->hf, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	return 0;
}

static void edge_verity_free(struct edge_verity *ev)
{
	if (ev == NULL)
		return;
	if (ev->hf_open)
		ukit_outfile_abort(&ev->hf);
	ukit_verity_free(ev->v);
	json_decref(ev->obj);
	free(ev);
}

/* ---- what sign wrote, mode and owner, verity sizes (issue 14) ------- */

static void report(const struct sign_opts *o, const struct sig_key *k,
		   const char *signer, const char *kind, const char *outpath,
		   const struct stmt_info *info, uint64_t size)
{
	char hex[65] = "";
	const char *root = NULL;
	json_t *j;

	if (info != NULL)
		ukit_sig_hex(info->sha256, 32, hex);
	if (info != NULL && info->verity != NULL)
		root = json_string_value(json_object_get(info->verity,
							 "root-hash"));
	if (o->json) {
		j = json_pack("{s:s, s:s, s:s, s:I, s:s*, s:s, s:s*, s:I, s:s*, s:s*}",
			      "image", o->image, "output", outpath,
			      "kind", kind, "size", (json_int_t)size,
			      "sha256", hex[0] ? hex : NULL,
			      "keyid", k->keyid,
			      "signer", signer[0] ? signer : NULL,
			      "rollback", info ? (json_int_t)info->rollback : 0,
			      "verity-root", root,
			      "hash-file", o->hash_file);
		if (j != NULL && info == NULL)
			json_object_del(j, "rollback");
		if (j != NULL) {
			json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
			json_decref(j);
		}
		return;
	}
	if (o->progress < 0)
		return;
	if (strcmp(kind, "cms") == 0)
		cli_errx("signed %s (%" PRIu64 " bytes): key %s, signer %s; "
			 "CMS signature %s", o->image, size, k->keyid, signer,
			 outpath);
	else
		cli_errx("signed %s (%" PRIu64 " bytes, sha256 %s): key %s%s%s; "
			 "%s %s%s%s", o->image, size, hex, k->keyid,
			 signer[0] ? ", signer " : "", signer,
			 strcmp(kind, "appended") == 0 ? "bundle appended, wrote" :
			 "bundle", outpath,
			 root ? ", dm-verity root " : "", root ? root : "");
}

/* sign --append: the signed image keeps the original's mode and owner. */
static int keep_mode_owner(int src_fd, struct outfile *of, const char *path)
{
	struct stat st;

	if (of->is_stdout)
		return 0;
	if (fstat(src_fd, &st) != 0) {
		cli_errx("%s: stat: %s", path, strerror(errno));
		return -1;
	}
	/* owner first: chown clears set-id bits */
	if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    fchown(of->fd, st.st_uid, st.st_gid) != 0) {
		cli_errx("%s: cannot keep the owner %u:%u of the image: %s",
			 path, (unsigned)st.st_uid, (unsigned)st.st_gid,
			 strerror(errno));
		return -1;
	}
	if (fchmod(of->fd, st.st_mode & 07777) != 0) {
		cli_errx("%s: cannot keep the mode %04o of the image: %s", path,
			 (unsigned)(st.st_mode & 07777), strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * sign --verity on a file whose size is not a multiple of 4096: the signed
 * root covers it zero-padded, which veritysetup and the kernel only see on
 * a data device of the padded length.  Refuse and say how, or with --pad
 * extend the file with zeros first.  A qcow2 guest view is not a file.
 */
static int verity_size_ok(struct sign_opts *o, int *fd, const char *format)
{
	struct stat st;
	uint64_t padded, blocks;
	int wfd;

	if (strcmp(format, "qcow2") == 0)
		return 1;
	if (fstat(*fd, &st) != 0) {
		cli_errx("%s: stat: %s", o->image, strerror(errno));
		return 0;
	}
	if (st.st_size % VERITY_BLOCK == 0)
		return 1;
	blocks = ((uint64_t)st.st_size + VERITY_BLOCK - 1) / VERITY_BLOCK;
	padded = blocks * VERITY_BLOCK;
	if (!o->pad) {
		cli_errx("%s: size %lld is not a multiple of %d: the dm-verity "
			 "root covers it zero-padded to %" PRIu64 " bytes (%"
			 PRIu64 " blocks), but veritysetup and the kernel read "
			 "only whole blocks of the data device (%" PRIu64 " here)."
			 "  Pad the image first (truncate -s %" PRIu64 " %s, or "
			 "sign with --pad), then use it with veritysetup "
			 "--data-blocks=%" PRIu64, o->image,
			 (long long)st.st_size, VERITY_BLOCK, padded, blocks,
			 blocks - 1, padded, o->image, blocks);
		return 0;
	}
	wfd = open(o->image, O_WRONLY | O_CLOEXEC);
	if (wfd < 0 || ftruncate(wfd, (off_t)padded) != 0 || fsync(wfd) != 0) {
		cli_errx("%s: --pad: cannot extend to %" PRIu64 " bytes: %s",
			 o->image, padded, strerror(errno));
		if (wfd >= 0)
			close(wfd);
		return 0;
	}
	close(wfd);
	if (o->progress >= 0)
		cli_errx("%s: padded with zeros from %lld to %" PRIu64 " bytes "
			 "(%" PRIu64 " dm-verity blocks)", o->image,
			 (long long)st.st_size, padded, blocks);
	return 1;
}

/*
 * sign checks the chain as verify will, so that a chain that fails on the
 * device fails now: to the --ca roots (and intermediates) when given, else
 * up to the top certificate of --chain; at the statement's time, as
 * verify --check-time does.  Nothing to check for a lone leaf without
 * --ca beyond its usages.
 */
static int check_chain_now(const char *cert, const char *ca, X509 *leaf,
			   STACK_OF(X509) *chain)
{
	struct fmt_err e = { .path = ca };
	STACK_OF(X509) *anchors = NULL;
	time_t at = created_time();
	int rc = -1;

	if (ca != NULL) {
		if (ukit_cert_load_pem(ca, &anchors, &e) != 0) {
			cli_err(&e);
			return -1;
		}
	} else if (chain != NULL && sk_X509_num(chain) > 0) {
		anchors = sk_X509_new_null();
		if (anchors == NULL || !sk_X509_push(anchors,
			X509_dup(sk_X509_value(chain, sk_X509_num(chain) - 1)))) {
			cli_errx("sign: out of memory");
			sk_X509_pop_free(anchors, X509_free);
			return -1;
		}
	} else {
		return 0;
	}
	/* as verify: structure and usages, validity times ignored */
	if (ukit_cert_check_chain(leaf, chain, anchors, NULL, ca == NULL,
				  &e) != 0)
		cli_errx("%s: refusing to sign: %s%s", cert, e.msg,
			 ca ? "" : " (checked up to the top of --chain; "
			 "--ca ROOT checks the whole chain)");
	else
		rc = 0;
	/* as verify --check-time: at the statement's time */
	if (rc == 0 && ukit_cert_check_chain(leaf, chain, anchors, &at,
					     ca == NULL, &e) != 0)
		cli_errx("%s: warning: verify --check-time will refuse this "
			 "signature: %s at the statement's time", cert,
			 e.msg);
	sk_X509_pop_free(anchors, X509_free);
	return rc;
}

/* sign --tsa URL: an RFC 3161 timestamp over the signature bytes. */
static int stamp(const struct sign_opts *o, struct bundle *b)
{
	struct fmt_err e = { .path = o->tsa };
	uint8_t *req = NULL, *resp = NULL;
	size_t reqlen = 0, resplen = 0;
	int rc = -1;

	if (ukit_tsa_request(b->env.sig[0].sig, b->env.sig[0].siglen, &req,
			     &reqlen, &e) != 0 ||
	    ukit_tsa_fetch(o->tsa, req, reqlen, &resp, &resplen, &e) != 0 ||
	    ukit_tsa_check_reply(req, reqlen, resp, resplen, &e) != 0) {
		e.path = NULL;
		cli_errx("sign: timestamp: %s", e.msg);
		goto out;
	}
	b->tsr = resp;
	b->tsr_len = resplen;
	resp = NULL;
	rc = 0;
out:
	free(req);
	free(resp);
	return rc;
}
