/*
 * sign.c: ukit-sign, sign images in pipelines and verify them before boot.
 * Statements, envelopes, bundles and keys live in libukit, and so does the
 * verify-only core (formats/verify.c: every check of verify, the reasons
 * it gives, the sealed copy for --exec) that an edge device links without
 * this tool.  This file parses options, loads keys and roots from files,
 * prompts, prints (text and --json), runs --exec and decides exit codes.
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
#include "outfile.h"
#include "pkcs11.h"
#include "sealfd.h"
#include "sig.h"
#include "sigimg.h"
#include "statement.h"
#include "stream.h"
#include "verify.h"
#include "verity.h"

static int cmd_keygen(int argc, char **argv);
static int cmd_sign(int argc, char **argv);
static int cmd_verify(int argc, char **argv);
static int cmd_inspect(int argc, char **argv);
static int cmd_verity(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "keygen", cmd_keygen,
	  "keygen --type ecdsa-p256|ed25519|rsa3072|rsa4096 [--passphrase-file F]\n"
	  "        PREFIX" },
	{ "sign", cmd_sign,
	  "sign --key KEY|pkcs11:URI [--passphrase-file F] [--cert LEAF [--chain FILE]]\n"
	  "        [--pin-file F] [--pkcs11-module SO] [--rollback N] [--annotate K=V]...\n"
	  "        [--verity [--salt HEX] [--hash-file F]] [--append]\n"
	  "        [--format bundle|cms] [-o OUT] [-p|-q] IMAGE" },
	{ "verify", cmd_verify,
	  "verify (--pub KEY... | --ca ROOT...) [--bundle B] [--min-rollback N]\n"
	  "        [--require-format F] [--require-target T] [--check-time] [--json]\n"
	  "        [--verity-only] [-p|-q] IMAGE [--exec TENDER [ARGS...]]\n"
	  "    ukit-sign verify --ca ROOT... --cms IMAGE.p7s [--json] IMAGE\n"
	  "        [--exec TENDER [ARGS...]]" },
	{ "inspect", cmd_inspect, "inspect BUNDLE|IMAGE" },
	{ "verity", cmd_verity,
	  "verity [--salt HEX] [--hash-file F] [-j THREADS] [--json] IMAGE" },
};

#define MAX_PUBS   16
#define MAX_ROOTS  16

/* ---- shared helpers ------------------------------------------------- */

/* Read a secret from the controlling terminal without echo. */
static int tty_prompt(const char *what, char *buf, size_t size, void *arg)
{
	struct termios old, quiet;
	FILE *tty;
	size_t n;
	int ok;

	(void)arg;
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return -1;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	ok = tcgetattr(fileno(tty), &old) == 0;
	if (ok) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	if (fgets(buf, (int)size, tty) == NULL)
		buf[0] = '\0';
	if (ok)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? (int)n : -1;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static void progress_cb(void *arg, uint64_t done)
{
	cli_progress_update(arg, done);
}

/* "created": SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
static time_t created_time(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;

	if (s != NULL && parse_u64(s, (uint64_t)INT32_MAX * 4, &v))
		return (time_t)v;
	return time(NULL);
}

/* ---- keygen --------------------------------------------------------- */

/* A key file that must not exist yet, written whole or not at all. */
static int write_new_file(const char *path, const char *data, size_t len,
			  mode_t mode)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct outfile o;

	if (outfile_open_new(&o, path, mode, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	if (outfile_write(&o, data, len, &e) != 0) {
		outfile_abort(&o);
		cli_err(&e);
		return -1;
	}
	if (outfile_commit(&o, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = "ecdsa-p256", *passfile = NULL;
	char pass[SIG_PASS_MAX + 2], *priv = NULL, *pub = NULL;
	char *kpath = NULL, *ppath = NULL;
	size_t privlen = 0, publen = 0;
	struct fmt_err e = { 0 };
	struct sig_key *k = NULL;
	enum sig_alg alg;
	unsigned bits = 0;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'P': passfile = optarg; break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	if (sig_alg_from_name(type, &alg, &bits) != 0) {
		cli_errx("keygen: unknown key type '%s' (ecdsa-p256, ed25519, "
			 "rsa3072, rsa4096)", type);
		return 2;
	}
	if (passfile != NULL) {
		e.path = passfile;
		if (sig_read_secret(passfile, pass, sizeof pass, &e) < 0) {
			cli_err(&e);
			return 1;
		}
		if (pass[0] == '\0') {
			cli_errx("%s: empty passphrase", passfile);
			return 1;
		}
	}
	if (asprintf(&kpath, "%s.key", argv[optind]) < 0 ||
	    asprintf(&ppath, "%s.pub", argv[optind]) < 0) {
		cli_errx("out of memory");
		goto out;
	}
	if (sig_keygen(alg, bits, &k, &e) != 0 ||
	    sig_key_private_pem(k, passfile ? pass : NULL, &priv, &privlen, &e) != 0 ||
	    sig_key_public_pem(k, &pub, &publen, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (write_new_file(kpath, priv, privlen, 0600) != 0)
		goto out;
	if (write_new_file(ppath, pub, publen, 0644) != 0) {
		unlink(kpath);
		goto out;
	}
	printf("%s\n", k->keyid);
	rc = 0;
out:
	OPENSSL_cleanse(pass, sizeof pass);
	sig_free_secret(priv, privlen);
	free(pub);
	free(kpath);
	free(ppath);
	sig_key_free(k);
	return rc;
}

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
};

/* h7-edge: dm-verity, CMS, PKCS#11 options (defined at the end). */
enum {
	EDGE_OPT_VERITY = 0x100, EDGE_OPT_SALT, EDGE_OPT_HASH_FILE,
	EDGE_OPT_FORMAT, EDGE_OPT_PIN_FILE, EDGE_OPT_MODULE,
	EDGE_OPT_VERITY_ONLY, EDGE_OPT_CMS,
};
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

/* Load --cert and --chain into bundle (b), checking them against (k). */
static int load_signer_certs(const struct sign_opts *o, struct sig_key *k,
			     struct bundle *b)
{
	STACK_OF(X509) *leaf = NULL, *chain = NULL;
	struct fmt_err e = { .path = o->cert };
	int rc = -1, n;

	if (cert_load_pem(o->cert, &leaf, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(leaf, 0)), k->pkey) != 1) {
		cli_errx("%s: certificate does not match the signing key", o->cert);
		goto out;
	}
	if (cert_check_usage(sk_X509_value(leaf, 0), &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (o->chain != NULL) {
		e.path = o->chain;
		if (cert_load_pem(o->chain, &chain, &e) != 0) {
			cli_err(&e);
			goto out;
		}
	}
	n = 1 + (chain ? sk_X509_num(chain) : 0);
	if (n > BUNDLE_MAX_CERTS) {
		cli_errx("sign: %d certificates, at most %d", n, BUNDLE_MAX_CERTS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		X509 *x = i == 0 ? sk_X509_value(leaf, 0) : sk_X509_value(chain, i - 1);
		unsigned char *der = NULL;
		int len;

		if (i > 0 && cert_self_issued(x)) {
			cli_errx("%s: certificate %d is a self-issued root; a bundle "
				 "never ships the root", o->chain, i);
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

	if (bundle_parse(json, len, &b, &e) != 0)
		goto fail;
	if (dsse_verify(&b.env, k, &e) < 0 ||
	    stmt_parse(b.env.payload, b.env.payload_len, &st, &e) != 0) {
		bundle_free(&b);
		goto fail;
	}
	stmt_free(&st);
	bundle_free(&b);
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

	if (image_open(fd, path, IMG_QCOW2, &io, &img, &e) != 0) {
		if (e.off != FMT_NOOFF)
			cli_errx("%s:0x%" PRIx64 ": refusing to sign: %s",
				 path, e.off, e.msg);
		else
			cli_errx("%s: refusing to sign: %s", path, e.msg);
		return false;
	}
	image_close(img);
	return true;
}

static int cmd_sign(int argc, char **argv)
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
	while ((c = getopt_long(argc, argv, "k:o:pq", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o.key = optarg; break;
		case 'P': o.secret.pass_file = optarg; break;
		case 'C': o.cert = optarg; break;
		case 'H': o.chain = optarg; break;
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
	    (o.chain != NULL && o.cert == NULL))
		cli_usage(stderr, 2);
	o.image = argv[optind];

	e.path = o.key;
	if (sig_key_load_private(o.key, &o.secret, &k, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (o.cms) {
		rc = edge_sign_cms(&o, k);
		goto out;
	}
	if (o.cert != NULL && load_signer_certs(&o, k, &b) != 0)
		goto out;

	if ((fd = cli_open_input(o.image)) < 0)
		goto out;
	e.path = o.image;
	if (sigimg_probe(fd, o.image, &img, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (strcmp(img.format, "qcow2") == 0 && !qcow2_consistent(fd, o.image))
		goto out;
	if (o.append) {
		struct sigfoot f;
		int r = sigfoot_read(fd, &f, &e);
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
		if (outpath == NULL || outfile_open(&of, outpath, 0644, &e) != 0) {
			cli_err(&e);
			goto out;
		}
		of_open = true;
	}

	if (edge_verity_begin(&o, fd, img.format, &ev) != 0)
		goto out;
	/* One pass: hash (and, with --append, copy) the image. */
	if (stream_sha256_init(&sha, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	{
		struct stream_sink sinks[2] = {
			{ stream_sha256_update, &sha },
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
		rc = stream_fd(fd, o.image, &so, sinks, nsinks, &total, &e);
		cli_progress_end(&prog);
		if (rc != 0 || stream_sha256_final(&sha, info.sha256, &e) != 0) {
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
	if (stmt_build(&info, &payload, &plen, &e) != 0 ||
	    dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen, k, &b.env, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (b.ncert == 0) {
		b.hint = strdup(k->keyid);
		if (b.hint == NULL)
			goto out;
	}
	if (bundle_serialize(&b, &json, &jlen, &e) != 0) {
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

		sigfoot_encode(&f, foot);
		if (outfile_write(&of, json, jlen, &e) != 0 ||
		    outfile_write(&of, foot, sizeof foot, &e) != 0 ||
		    outfile_commit(&of, &e) != 0) {
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
		if (outfile_open(&of, outpath, 0644, &e) != 0 ||
		    (of_open = true, outfile_write(&of, json, jlen, &e)) != 0 ||
		    outfile_commit(&of, &e) != 0) {
			cli_err(&e);
			of_open = false;
			goto out;
		}
		of_open = false;
	}
	rc = 0;
out:
	if (of_open)
		outfile_abort(&of);
	if (fd >= 0)
		close(fd);
	stream_sha256_free(&sha);
	edge_verity_free(ev);
	sigimg_free(&img);
	bundle_free(&b);
	sig_key_free(k);
	json_decref(o.annotations);
	free(payload);
	free(json);
	free(outpath);
	free(namebuf);
	return rc;
}

/* ---- verify --------------------------------------------------------- */

struct verify_opts {
	struct sig_key *pub[MAX_PUBS];
	size_t          npub;
	STACK_OF(X509) *roots;
	const char     *bundle;
	const char     *image;
	uint64_t        min_rollback;
	const char     *require_format;
	const char     *require_target;
	bool            check_time;
	bool            json;
	int             progress;
	/* h7-edge */
	bool            verity_only;     /* --verity-only */
	const char     *cms;             /* --cms P7S */
	char          **exec_argv;       /* after --exec: TENDER ARGS... */
	int             tee_fd;          /* sealed copy for --exec, or -1 */
};

/* h7-edge: --exec and the options it checks (defined at the end). */
static int edge_verify_split(int *argc, char **argv, struct verify_opts *o);
static int edge_verify_opt(struct verify_opts *o, int c, const char *arg);
static int edge_exec(const struct verify_opts *o);

static int load_verify_keys(struct verify_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'R' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "min-rollback", required_argument, NULL, 'm' },
		{ "require-format", required_argument, NULL, 'F' },
		{ "require-target", required_argument, NULL, 'T' },
		{ "check-time", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verity-only", no_argument, NULL, EDGE_OPT_VERITY_ONLY },
		{ "cms", required_argument, NULL, EDGE_OPT_CMS },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { 0 };
	STACK_OF(X509) *sk;
	int c;

	while ((c = getopt_long(argc, argv, "b:jpq", opts, NULL)) != -1) {
		switch (c) {
		case 'K':
			if (o->npub >= MAX_PUBS) {
				cli_errx("verify: at most %d --pub keys", MAX_PUBS);
				return 2;
			}
			e.path = optarg;
			if (sig_key_load_public(optarg, &o->pub[o->npub], &e) != 0) {
				cli_err(&e);
				return 1;
			}
			o->npub++;
			break;
		case 'R':
			e.path = optarg;
			if (cert_load_pem(optarg, &sk, &e) != 0) {
				cli_err(&e);
				return 1;
			}
			if (o->roots == NULL)
				o->roots = sk_X509_new_null();
			while (sk_X509_num(sk) > 0) {
				X509 *x = sk_X509_shift(sk);
				if (o->roots == NULL ||
				    sk_X509_num(o->roots) >= MAX_ROOTS ||
				    !sk_X509_push(o->roots, x)) {
					X509_free(x);
					sk_X509_pop_free(sk, X509_free);
					cli_errx("verify: at most %d roots", MAX_ROOTS);
					return 2;
				}
			}
			sk_X509_free(sk);
			break;
		case 'b': o->bundle = optarg; break;
		case 'm':
			if (!parse_u64(optarg, STMT_ROLLBACK_MAX, &o->min_rollback)) {
				cli_errx("verify: --min-rollback wants an integer");
				return 2;
			}
			break;
		case 'F': o->require_format = optarg; break;
		case 'T': o->require_target = optarg; break;
		case 't': o->check_time = true; break;
		case 'j': o->json = true; break;
		case 'p': o->progress = 1; break;
		case 'q': o->progress = -1; break;
		case EDGE_OPT_VERITY_ONLY: case EDGE_OPT_CMS:
			if (edge_verify_opt(o, c, optarg) != 0)
				return 2;
			break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1 || (o->npub == 0) == (o->roots == NULL)) {
		if (argc - optind == 1)
			cli_errx("verify: give either --pub or --ca");
		cli_usage(stderr, 2);
	}
	o->image = argv[optind];
	return edge_verify_opt(o, 0, NULL);
}

static void print_result(const struct verify_opts *o,
			 const struct verify_result *r)
{
	size_t n = json_array_size(r->reasons);

	if (o->json) {
		json_t *out = json_pack("{s:b, s:O, s:s?, s:s?, s:O?}",
			"verified", r->verified, "reasons", r->reasons,
			"keyid", r->keyid[0] ? r->keyid : NULL,
			"signer", r->signer[0] ? r->signer : NULL,
			"statement", r->statement);
		if (out != NULL && o->cms != NULL)      /* h7-edge */
			json_object_set_new(out, "cms", json_string(o->cms));
		if (out != NULL) {
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
			json_decref(out);
		}
	}
	for (size_t i = 0; i < n; i++)
		cli_errx("%s: %s", o->image,
			 json_string_value(json_array_get(r->reasons, i)));
	if (r->verified && !o->json)
		printf("verified %s: key %s%s%s\n", o->image, r->keyid,
		       r->signer[0] ? ", signer " : "", r->signer);
}

/* The progress bar for verify's pass over the image. */
struct verify_bar {
	struct cli_progress bar;
	int                 mode;     /* -p 1, -q -1, else 0 */
};

static void verify_bar_start(void *arg, uint64_t total)
{
	struct verify_bar *vb = arg;

	cli_progress_start(&vb->bar, vb->mode, total);
}

static void verify_bar_update(void *arg, uint64_t done)
{
	struct verify_bar *vb = arg;

	cli_progress_update(&vb->bar, done);
}

static void verify_bar_end(void *arg)
{
	struct verify_bar *vb = arg;

	cli_progress_end(&vb->bar);
}

/* The checks are formats/verify.c; this parses, prints and runs --exec. */
static int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = { 0 };
	struct verify_result r = { 0 };
	struct fmt_err e = { 0 };
	struct verify_bar vb = { 0 };
	struct verify_progress vp = {
		verify_bar_start, verify_bar_update, verify_bar_end, &vb,
	};
	struct verify_policy p;
	int rc;

	rc = edge_verify_split(&argc, argv, &o);
	if (rc == 0)
		rc = load_verify_keys(&o, argc, argv);
	if (rc != 0)
		goto out;
	vb.mode = o.progress;
	p = (struct verify_policy){
		.pub = o.pub, .npub = o.npub, .roots = o.roots,
		.bundle = o.bundle, .min_rollback = o.min_rollback,
		.require_format = o.require_format,
		.require_target = o.require_target,
		.check_time = o.check_time, .verity_only = o.verity_only,
		.cms = o.cms, .tee_fd = o.tee_fd, .progress = &vp,
	};
	rc = 1;
	if (verify_image(-1, o.image, &p, &r, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	print_result(&o, &r);
	rc = r.verified ? 0 : 1;
	if (rc == 0 && o.exec_argv != NULL)
		rc = edge_exec(&o);             /* returns only on failure */
out:
	if (o.tee_fd >= 0)
		close(o.tee_fd);
	verify_result_free(&r);
	for (size_t i = 0; i < o.npub; i++)
		sig_key_free(o.pub[i]);
	sk_X509_pop_free(o.roots, X509_free);
	return rc;
}

/* ---- inspect -------------------------------------------------------- */

static int cmd_inspect(int argc, char **argv)
{
	struct fmt_err e = { 0 };
	struct bundle b = { 0 };
	struct stmt st = { 0 };
	struct sigfoot f;
	json_t *out = NULL;
	char signer[512] = "";
	char *json = NULL;
	const char *path, *source = "bundle";
	size_t jlen = 0;
	int c, fd, r, rc = 1;

	while ((c = getopt(argc, argv, "")) != -1)
		cli_usage(stderr, 2);
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = argv[optind];
	e.path = path;
	if ((fd = cli_open_input(path)) < 0)
		return 1;
	r = sigfoot_read(fd, &f, &e);
	if (r < 0) {
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (r > 0) {
		json = malloc((size_t)f.bundle_len + 1);
		if (json == NULL || pread_full(fd, json, (size_t)f.bundle_len,
			(off_t)f.bundle_off) != (ssize_t)f.bundle_len) {
			cli_errx("%s: cannot read the appended bundle", path);
			goto out;
		}
		jlen = (size_t)f.bundle_len;
	} else {
		uint8_t *d, m = 0;
		char *side = NULL;
		struct fmt_err se = { 0 };

		/* An image (not JSON) without a footer: its detached bundle. */
		if (pread_full(fd, &m, 1, 0) == 1 && m != '{' &&
		    asprintf(&side, "%s.bundle.json", path) >= 0 &&
		    sig_read_file(side, BUNDLE_MAX, &d, &jlen, &se) == 0) {
			source = "detached";
		} else if (sig_read_file(path, BUNDLE_MAX, &d, &jlen, &e) != 0) {
			cli_errx("%s: neither a bundle nor an image with an "
				 "appended signature or a %s.bundle.json (%s)",
				 path, path, e.msg);
			free(side);
			goto out;
		}
		free(side);
		json = (char *)d;
	}
	if (bundle_parse(json, jlen, &b, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (stmt_parse(b.env.payload, b.env.payload_len, &st, &e) != 0) {
		cli_err(&e);
		bundle_free(&b);
		goto out;
	}
	if (b.ncert > 0) {
		X509 *x;
		if (cert_parse_der(b.cert[0], b.cert_len[0], &x, &e) == 0) {
			cert_subject(x, signer, sizeof signer);
			X509_free(x);
		}
	}
	out = json_pack("{s:s, s:b, s:s, s:s?, s:s?, s:i, s:O}",
		"source", r > 0 ? "appended" : source,
		"verified", 0,
		"payloadType", b.env.type,
		"keyid", b.hint ? b.hint : b.env.sig[0].keyid,
		"signer", signer[0] ? signer : NULL,
		"certificates", (int)b.ncert,
		"statement", st.root);
	if (out != NULL) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(out);
		rc = 0;
	}
	stmt_free(&st);
	bundle_free(&b);
out:
	free(json);
	close(fd);
	return rc;
}

/* ---- verity (h7-edge) ------------------------------------------------ */

/* "--salt HEX" into (salt); "-" or "" means none (veritysetup's --salt=-). */
static int edge_parse_salt(const char *hex, uint8_t *salt, size_t *len)
{
	int n;

	*len = 0;
	if (hex == NULL || strcmp(hex, "-") == 0 || hex[0] == '\0')
		return 0;
	n = verity_unhex(hex, salt, VERITY_SALT_MAX);
	if (n <= 0) {
		cli_errx("--salt: want up to %d bytes of hex, or -",
			 VERITY_SALT_MAX);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/*
 * The dm-verity root of IMAGE's content (a qcow2 disk's guest view), with
 * the tree in veritysetup's --no-superblock layout when --hash-file is
 * given; otherwise hashed on all cores, holes skipped.
 */
static int cmd_verity(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "salt", required_argument, NULL, 's' },
		{ "hash-file", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hash_file = NULL, *salt_hex = NULL;
	uint8_t salt[VERITY_SALT_MAX], root[VERITY_DIGEST];
	size_t salt_len;
	unsigned threads = 0;
	bool json = false;
	struct fmt_err e = { 0 };
	struct outfile out;
	struct image *img = NULL;
	char hex[2 * VERITY_DIGEST + 1];
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 's': salt_hex = optarg; break;
		case 'H': hash_file = optarg; break;
		case 'J': json = true; break;
		case 'j': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end != '\0' || n == 0 || n > 64) {
				cli_errx("-j: want 1..64 threads");
				return 2;
			}
			threads = (unsigned)n;
			break;
		}
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	if (edge_parse_salt(salt_hex, salt, &salt_len) < 0)
		return 2;
	e.path = argv[optind];
	if ((fd = cli_open_input(argv[optind])) < 0)
		return 1;
	if (image_open(fd, argv[optind], IMG_PROBE, NULL, &img, &e) < 0)
		goto out;
	if (hash_file != NULL) {
		if (outfile_open(&out, hash_file, 0644, &e) < 0)
			goto out;
		if (verity_image(img, salt, salt_len, out.fd, root, &e) < 0) {
			outfile_abort(&out);
			goto out;
		}
		if (outfile_commit(&out, &e) < 0)
			goto out;
	} else if (verity_image_parallel(img, fd, salt, salt_len, threads, root,
					 &e) < 0) {
		goto out;
	}
	if (json) {
		json_t *o = verity_json(root, salt, salt_len, &e);
		if (o == NULL || json_dumpf(o, stdout, JSON_INDENT(2) |
					    JSON_PRESERVE_ORDER) != 0) {
			json_decref(o);
			goto out;
		}
		json_decref(o);
		putchar('\n');
	} else {
		for (int i = 0; i < VERITY_DIGEST; i++)
			snprintf(hex + 2 * i, 3, "%02x", root[i]);
		printf("%s\n", hex);
	}
	rc = 0;
out:
	if (rc != 0 && e.msg[0] != '\0')
		cli_err(&e);
	image_close(img);
	close(fd);
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
	if (edge_parse_salt(o->salt, salt, &salt_len) != 0)
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
	return cms_sign_update(ctx, buf, len, e);
}

/* sign --format cms: IMAGE.p7s, a detached DER CMS SignedData. */
static int edge_sign_cms(const struct sign_opts *o, struct sig_key *k)
{
	STACK_OF(X509) *leaf = NULL, *chain = NULL;
	struct fmt_err e = { .path = o->cert };
	struct cms_signer *cs = NULL;
	struct outfile of;
	EVP_PKEY *pk = p11_sig_key_token_pkey(k);
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
	if (cert_load_pem(o->cert, &leaf, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	x = sk_X509_value(leaf, 0);
	if (EVP_PKEY_eq(X509_get0_pubkey(x), k->pkey) != 1) {
		cli_errx("%s: certificate does not match the signing key",
			 o->cert);
		goto out;
	}
	if (cert_check_usage(x, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	if (o->chain != NULL) {
		e.path = o->chain;
		if (cert_load_pem(o->chain, &chain, &e) != 0) {
			cli_err(&e);
			goto out;
		}
	}
	e.path = o->image;
	if ((fd = cli_open_input(o->image)) < 0)
		goto out;
	if (cms_sign_begin(pk, x, chain, &cs, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	{
		struct stream_sink sink = { edge_cms_update, cs };
		struct stream_opts so = { .tee_fd = -1,
					  .limit = STREAM_NO_LIMIT };
		if (stream_fd(fd, o->image, &so, &sink, 1, &total, &e) != 0 ||
		    cms_sign_final(cs, &der, &der_len, &e) != 0) {
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
	if (outfile_open(&of, outpath, 0644, &e) != 0) {
		cli_err(&e);
		goto out;
	}
	of_open = true;
	if (outfile_write(&of, der, der_len, &e) != 0 ||
	    outfile_commit(&of, &e) != 0) {
		of_open = false;
		cli_err(&e);
		goto out;
	}
	of_open = false;
	rc = 0;
out:
	if (of_open)
		outfile_abort(&of);
	if (fd >= 0)
		close(fd);
	cms_signer_free(cs);
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
	return verity_update(ctx, buf, len, e);
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
	(void)edge_parse_salt(o->salt, ev->salt, &ev->salt_len);
	ev->qcow2 = strcmp(format, "qcow2") == 0;
	if (o->hash_file != NULL) {
		e.path = o->hash_file;
		if (outfile_open(&ev->hf, o->hash_file, 0644, &e) != 0) {
			cli_err(&e);
			return -1;
		}
		ev->hf_open = true;
		e.path = o->image;
	}
	if (ev->qcow2)
		return 0;
	if (fstat(fd, &st) != 0) {
		fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return -1;
	}
	if (verity_init((uint64_t)st.st_size, ev->salt, ev->salt_len,
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
		if (image_open(fd, path, IMG_QCOW2, NULL, &img, &e) != 0) {
			cli_err(&e);
			return -1;
		}
		if (verity_image(img, ev->salt, ev->salt_len, hfd, root,
				 &e) != 0) {
			image_close(img);
			cli_err(&e);
			return -1;
		}
		image_close(img);
	} else if (verity_final(ev->v, root, &e) != 0) {
		cli_err(&e);
		return -1;
	}
	ev->obj = verity_json(root, ev->salt, ev->salt_len, &e);
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
	if (outfile_commit(&ev->hf, &e) != 0) {
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
		outfile_abort(&ev->hf);
	verity_free(ev->v);
	json_decref(ev->obj);
	free(ev);
}

/* ---- verify --------------------------------------------------------- */

/* Cut "--exec TENDER ARGS..." off argv before getopt sees it. */
static int edge_verify_split(int *argc, char **argv, struct verify_opts *o)
{
	o->tee_fd = -1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--exec") != 0)
			continue;
		if (i + 1 >= *argc) {
			cli_errx("verify: --exec needs a TENDER to run");
			return 2;
		}
		o->exec_argv = &argv[i + 1];    /* argv[argc] is NULL */
		argv[i] = NULL;
		*argc = i;
		break;
	}
	return 0;
}

static int edge_verify_opt(struct verify_opts *o, int c, const char *arg)
{
	struct fmt_err e = { 0 };

	switch (c) {
	case EDGE_OPT_VERITY_ONLY: o->verity_only = true; return 0;
	case EDGE_OPT_CMS: o->cms = arg; return 0;
	}
	/* c == 0: after all options */
	if (o->cms != NULL && (o->roots == NULL || o->bundle != NULL ||
			       o->verity_only || o->check_time ||
			       o->min_rollback != 0 ||
			       o->require_format != NULL ||
			       o->require_target != NULL)) {
		cli_errx("verify: --cms needs --ca and takes no bundle, "
			 "statement or time options (CMS signs bytes only)");
		return 2;
	}
	if (o->verity_only && o->exec_argv != NULL) {
		cli_errx("verify: --exec runs the bytes it hashed; it needs the "
			 "streaming verify, not --verity-only");
		return 2;
	}
	if (o->exec_argv != NULL) {
		o->tee_fd = sealfd_create("ukit-verified", &e);
		if (o->tee_fd < 0) {
			cli_err(&e);
			return 1;
		}
	}
	return 0;
}

/* Run the tender on the sealed copy; returns only on failure. */
static int edge_exec(const struct verify_opts *o)
{
	struct fmt_err e = { 0 };
	char path[64], **argv;
	size_t n = 0;

	if (sealfd_exec_fd(o->tee_fd, path, sizeof path, &e) != 0) {
		cli_err(&e);
		return 1;
	}
	while (o->exec_argv[n] != NULL)
		n++;
	argv = calloc(n + 1, sizeof *argv);
	if (argv == NULL)
		return 1;
	for (size_t i = 0; i < n; i++) {
		const char *a = o->exec_argv[i], *p;
		size_t count = 0, len = strlen(a), pl = strlen(path);
		char *out, *w;

		for (p = a; (p = strstr(p, "{}")) != NULL; p += 2)
			count++;
		out = malloc(len + count * pl + 1);
		if (out == NULL)
			return 1;
		for (w = out, p = a; *p != '\0';) {
			if (p[0] == '{' && p[1] == '}') {
				memcpy(w, path, pl);
				w += pl;
				p += 2;
			} else {
				*w++ = *p++;
			}
		}
		*w = '\0';
		argv[i] = out;
	}
	fflush(stdout);
	fflush(stderr);
	execvp(argv[0], argv);
	cli_errx("verify: cannot run %s: %s", argv[0], strerror(errno));
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-sign", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}