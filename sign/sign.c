/*
 * sign.c: ukit-sign, sign images in pipelines and verify them before boot.
 * Statements, envelopes, bundles and keys live in libukit; this file
 * parses options, prompts, prints and decides exit codes.
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
#include "verity.h"

static int cmd_keygen(int argc, char **argv);
static int cmd_sign(int argc, char **argv);
static int cmd_verify(int argc, char **argv);
static int cmd_inspect(int argc, char **argv);
static int cmd_verity(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "keygen", cmd_keygen,
	  "keygen --type ecdsa-p256|ed25519|rsa3072 [--passphrase-file F] PREFIX" },
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

static int write_new_file(const char *path, const char *data, size_t len,
			  mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		cli_errx("%s: %s", path, strerror(errno));
		return -1;
	}
	if (write_full(fd, data, len) != 0 || fsync(fd) != 0) {
		cli_errx("%s: write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		cli_errx("%s: close: %s", path, strerror(errno));
		unlink(path);
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
	if (sig_alg_from_name(type, &alg) != 0) {
		cli_errx("keygen: unknown key type '%s' (ecdsa-p256, ed25519, rsa3072)",
			 type);
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
	if (sig_keygen(alg, &k, &e) != 0 ||
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

	fd = open(o.image, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_errx("%s: %s", o.image, strerror(errno));
		goto out;
	}
	e.path = o.image;
	if (sigimg_probe(fd, o.image, &img, &e) != 0) {
		cli_err(&e);
		goto out;
	}
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

struct verify_result {
	json_t     *reasons;       /* array of strings */
	char        keyid[SIG_KEYID_LEN + 1];
	char        signer[512];
	struct stmt st;
	bool        have_st;
};

static void reason(struct verify_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* h7-edge: verity-only, CMS and --exec (defined at the end). */
struct edge_vsink;
static int edge_verify_split(int *argc, char **argv, struct verify_opts *o);
static int edge_verify_opt(struct verify_opts *o, int c, const char *arg);
static void edge_verify_cms(struct verify_opts *o, int fd,
			    struct verify_result *r);
static void edge_check_verity_only(const struct verify_opts *o, int fd,
				   uint64_t image_len, struct verify_result *r);
static struct edge_vsink *edge_vsink_begin(const struct verify_opts *o,
					   struct verify_result *r);
static struct stream_sink edge_vsink_sink(struct edge_vsink *vs);
static void edge_vsink_end(struct edge_vsink *vs, int fd,
			   const struct verify_opts *o, struct verify_result *r);
static void edge_seal(const struct verify_opts *o, struct verify_result *r);
static int edge_exec(const struct verify_opts *o);

static void reason(struct verify_result *r, const char *fmt, ...)
{
	char buf[FMT_ERR_MSG + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_array_append_new(r->reasons, json_string(buf));
}

/* Read the bundle: --bundle, else the appended one, else IMAGE.bundle.json. */
static int read_bundle(const struct verify_opts *o, int fd, char **json,
		       size_t *jlen, uint64_t *image_len, bool *appended,
		       struct verify_result *r)
{
	struct fmt_err e = { .path = o->image };
	struct sigfoot f;
	char *path = NULL;
	uint8_t *data;
	size_t len;
	int rc;

	*appended = false;
	*image_len = STREAM_NO_LIMIT;
	if (o->bundle == NULL) {
		rc = sigfoot_read(fd, &f, &e);
		if (rc < 0) {
			reason(r, "appended signature: %s", e.msg);
			return -1;
		}
		if (rc > 0) {
			data = malloc((size_t)f.bundle_len + 1);
			if (data == NULL) {
				reason(r, "out of memory");
				return -1;
			}
			if (pread_full(fd, data, (size_t)f.bundle_len,
				       (off_t)f.bundle_off) != (ssize_t)f.bundle_len) {
				free(data);
				reason(r, "appended bundle: cannot read at 0x%" PRIx64,
				       f.bundle_off);
				return -1;
			}
			*json = (char *)data;
			*jlen = (size_t)f.bundle_len;
			*image_len = f.orig_size;
			*appended = true;
			return 0;
		}
		if (asprintf(&path, "%s.bundle.json", o->image) < 0)
			return -1;
	}
	e.path = path ? path : o->bundle;
	rc = sig_read_file(e.path, BUNDLE_MAX, &data, &len, &e);
	if (rc != 0)
		reason(r, "bundle %s: %s", e.path, e.msg);
	else {
		*json = (char *)data;
		*jlen = len;
	}
	free(path);
	return rc;
}

/* Signature over the envelope with a pinned key or a chained leaf. */
static int check_signature(const struct verify_opts *o, const struct bundle *b,
			   struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (strcmp(b->env.type, DSSE_INTOTO_TYPE) != 0) {
		reason(r, "envelope payloadType \"%.64s\" is not \"%s\"",
		       b->env.type, DSSE_INTOTO_TYPE);
		return -1;
	}
	if (o->npub > 0) {
		if (b->ncert > 0) {
			reason(r, "bundle carries a certificate chain, not a public "
			       "key hint: verify it with --ca");
			return -1;
		}
		for (size_t i = 0; i < o->npub; i++) {
			if (dsse_verify(&b->env, o->pub[i], NULL) < 0)
				continue;
			if (strcmp(b->hint, o->pub[i]->keyid) != 0) {
				reason(r, "publicKey hint %.64s does not name the "
				       "verifying key %s", b->hint, o->pub[i]->keyid);
				return -1;
			}
			memcpy(r->keyid, o->pub[i]->keyid, sizeof r->keyid);
			return 0;
		}
		reason(r, "signature does not verify with any pinned key");
		return -1;
	}
	if (b->ncert == 0) {
		reason(r, "bundle carries a public key hint, no certificate "
		       "chain: verify it with --pub");
		return -1;
	}
	{
		X509 *leaf = NULL;
		struct sig_key *k = NULL;
		int rc = -1;

		if (cert_parse_der(b->cert[0], b->cert_len[0], &leaf, &e) != 0) {
			reason(r, "leaf certificate: %s", e.msg);
			return -1;
		}
		cert_subject(leaf, r->signer, sizeof r->signer);
		if (sig_key_from_pkey(X509_get0_pubkey(leaf), &k, &e) != 0)
			reason(r, "leaf certificate key: %s", e.msg);
		else if (dsse_verify(&b->env, k, &e) < 0)
			reason(r, "signature does not verify with the leaf "
			       "certificate's key");
		else {
			memcpy(r->keyid, k->keyid, sizeof r->keyid);
			rc = 0;
		}
		sig_key_free(k);
		X509_free(leaf);
		return rc;
	}
}

/* Chain and usages; after the statement is known (for --check-time). */
static void check_chain(const struct verify_opts *o, const struct bundle *b,
			struct verify_result *r)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct fmt_err e = { 0 };
	X509 *leaf = NULL;
	time_t at;

	if (untrusted == NULL || cert_parse_der(b->cert[0], b->cert_len[0],
						&leaf, &e) != 0) {
		reason(r, "leaf certificate: %s", e.msg);
		goto out;
	}
	for (size_t i = 1; i < b->ncert; i++) {
		X509 *x;
		if (cert_parse_der(b->cert[i], b->cert_len[i], &x, &e) != 0) {
			reason(r, "certificate %zu: %s", i, e.msg);
			goto out;
		}
		if (cert_self_issued(x)) {
			X509_free(x);
			reason(r, "certificate %zu is self-issued: a bundle must not "
			       "ship the root", i);
			goto out;
		}
		if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			goto out;
		}
	}
	if (o->check_time && !r->have_st) {
		reason(r, "--check-time: no trusted statement time");
		goto out;
	}
	at = r->have_st ? r->st.created_t : 0;
	if (cert_check_signer(leaf, untrusted, o->roots,
			      o->check_time ? &at : NULL, &e) != 0)
		reason(r, "%s", e.msg);
out:
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
}

static void check_image(const struct verify_opts *o, int fd,
			uint64_t image_len, struct verify_result *r)
{
	struct stream_sha256 sha = { 0 };
	struct fmt_err e = { .path = o->image };
	struct sigimg img = { 0 };
	struct edge_vsink *vs = NULL;
	struct cli_progress prog;
	uint8_t md[32];
	uint64_t total = 0;
	struct stat st;
	int rc;

	if (stream_sha256_init(&sha, &e) != 0) {
		reason(r, "%s", e.msg);
		return;
	}
	{
		struct stream_sink sinks[2] = {
			{ stream_sha256_update, &sha },
		};
		size_t nsinks = 1;
		struct stream_opts so = {
			.tee_fd = o->tee_fd,         /* sealed copy for --exec */
			.limit = image_len,
			.progress = progress_cb, .progress_arg = &prog,
		};

		vs = edge_vsink_begin(o, r);
		if (vs != NULL && edge_vsink_sink(vs).update != NULL)
			sinks[nsinks++] = edge_vsink_sink(vs);
		fstat(fd, &st);
		cli_progress_start(&prog, o->progress,
				   image_len != STREAM_NO_LIMIT ? image_len :
				   (uint64_t)st.st_size);
		rc = stream_fd(fd, o->image, &so, sinks, nsinks, &total, &e);
		cli_progress_end(&prog);
	}
	edge_vsink_end(vs, fd, o, r);
	if (rc != 0 || stream_sha256_final(&sha, md, &e) != 0) {
		reason(r, "reading image: %s", e.msg);
		stream_sha256_free(&sha);
		return;
	}
	stream_sha256_free(&sha);
	if (total != r->st.size)
		reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, total, r->st.size);
	if (CRYPTO_memcmp(md, r->st.sha256, 32) != 0) {
		char hex[65];
		sig_hex(md, 32, hex);
		reason(r, "image sha256 %s differs from the signed digest %s",
		       hex, r->st.sha256_hex);
	}

	/* Solo5 ABI and manifest: what the image says now vs the statement. */
	if (sigimg_probe(fd, o->image, &img, &e) != 0) {
		reason(r, "reading image notes: %s", e.msg);
		return;
	}
	if (r->st.solo5 == NULL && img.solo5 != NULL)
		reason(r, "image carries Solo5 notes that the statement does "
		       "not cover");
	else if (r->st.solo5 != NULL && img.solo5 == NULL)
		reason(r, "statement has a Solo5 manifest and ABI but the image "
		       "has none");
	else if (r->st.solo5 != NULL) {
		if (!json_equal(json_object_get(r->st.solo5, "abi"),
				json_object_get(img.solo5, "abi")))
			reason(r, "Solo5 ABI in the image differs from the signed one");
		if (!json_equal(json_object_get(r->st.solo5, "manifest"),
				json_object_get(img.solo5, "manifest")))
			reason(r, "Solo5 manifest in the image differs from the "
			       "signed one");
	}
	sigimg_free(&img);
}

static void check_policy(const struct verify_opts *o, struct verify_result *r)
{
	if (r->st.rollback < o->min_rollback)
		reason(r, "rollback index %" PRIu64 " is below the minimum %" PRIu64,
		       r->st.rollback, o->min_rollback);
	if (o->require_format != NULL &&
	    strcmp(o->require_format, r->st.format) != 0)
		reason(r, "format is %s, required %s", r->st.format,
		       o->require_format);
	if (o->require_target != NULL) {
		json_t *abi = r->st.solo5 ? json_object_get(r->st.solo5, "abi") : NULL;
		const char *t = abi ? json_string_value(json_object_get(abi, "target"))
				    : NULL;
		if (t == NULL)
			reason(r, "no Solo5 target in the statement, required %s",
			       o->require_target);
		else if (strcmp(t, o->require_target) != 0)
			reason(r, "Solo5 target is %s, required %s", t,
			       o->require_target);
	}
}

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

static void print_result(const struct verify_opts *o, struct verify_result *r)
{
	size_t n = json_array_size(r->reasons);

	if (o->json) {
		json_t *out = json_pack("{s:b, s:O, s:s?, s:s?, s:O?}",
			"verified", n == 0, "reasons", r->reasons,
			"keyid", r->keyid[0] ? r->keyid : NULL,
			"signer", r->signer[0] ? r->signer : NULL,
			"statement", r->have_st ? r->st.root : NULL);
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
	if (n == 0 && !o->json)
		printf("verified %s: key %s%s%s\n", o->image, r->keyid,
		       r->signer[0] ? ", signer " : "", r->signer);
}

static int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = { 0 };
	struct verify_result r = { 0 };
	struct bundle b = { 0 };
	struct fmt_err e = { 0 };
	char *json = NULL;
	size_t jlen = 0;
	uint64_t image_len = 0;
	bool appended, have_b = false;
	int rc, fd = -1;

	rc = edge_verify_split(&argc, argv, &o);
	if (rc == 0)
		rc = load_verify_keys(&o, argc, argv);
	if (rc != 0)
		goto out;
	rc = 1;
	r.reasons = json_array();
	if (r.reasons == NULL)
		goto out;
	fd = open(o.image, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		reason(&r, "cannot open: %s", strerror(errno));
		goto report;
	}
	if (o.cms != NULL) {
		edge_verify_cms(&o, fd, &r);
		goto report;
	}
	if (read_bundle(&o, fd, &json, &jlen, &image_len, &appended, &r) != 0)
		goto report;
	e.path = NULL;
	if (bundle_parse(json, jlen, &b, &e) != 0) {
		reason(&r, "bundle: %s", e.msg);
		goto report;
	}
	have_b = true;
	if (check_signature(&o, &b, &r) != 0)
		goto report;
	/* Only the verified payload bytes are parsed. */
	if (stmt_parse(b.env.payload, b.env.payload_len, &r.st, &e) != 0) {
		reason(&r, "statement: %s", e.msg);
		goto chain;
	}
	r.have_st = true;
	if (o.verity_only)
		edge_check_verity_only(&o, fd, image_len, &r);
	else
		check_image(&o, fd, image_len, &r);
	edge_seal(&o, &r);
	check_policy(&o, &r);
chain:
	if (o.roots != NULL)
		check_chain(&o, &b, &r);
report:
	print_result(&o, &r);
	rc = json_array_size(r.reasons) == 0 ? 0 : 1;
	if (rc == 0 && o.exec_argv != NULL)
		rc = edge_exec(&o);             /* returns only on failure */
out:
	if (fd >= 0)
		close(fd);
	if (o.tee_fd >= 0)
		close(o.tee_fd);
	if (have_b)
		bundle_free(&b);
	if (r.have_st)
		stmt_free(&r.st);
	json_decref(r.reasons);
	free(json);
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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_errx("%s: %s", path, strerror(errno));
		return 1;
	}
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
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_errno(&e, FMT_NOOFF, "cannot open");
		cli_err(&e);
		return 1;
	}
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
	fd = open(o->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_errx("%s: %s", o->image, strerror(errno));
		goto out;
	}
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

static void edge_seal(const struct verify_opts *o, struct verify_result *r)
{
	struct fmt_err e = { 0 };

	if (o->tee_fd >= 0 && sealfd_seal(o->tee_fd, &e) != 0)
		reason(r, "%s", e.msg);
}

static void edge_verify_cms(struct verify_opts *o, int fd,
			    struct verify_result *r)
{
	struct fmt_err e = { .path = o->cms };
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *certs = NULL;
	struct sig_key *k = NULL;
	X509 *signer = NULL;
	uint8_t *data = NULL;
	size_t len;
	int vfd = fd;

	if (sig_read_file(o->cms, CMS_DER_MAX, &data, &len, &e) != 0) {
		reason(r, "CMS signature %s: %s", o->cms, e.msg);
		return;
	}
	if (cms_parse(data, len, &cms, &e) != 0) {
		reason(r, "CMS signature %s:0x%" PRIx64 ": %s", o->cms, e.off,
		       e.msg);
		goto out;
	}
	e.path = o->image;
	if (o->tee_fd >= 0) {
		/* Verify the sealed copy itself: it is what will run. */
		struct stream_opts so = { .tee_fd = o->tee_fd,
					  .limit = STREAM_NO_LIMIT };
		uint64_t total;
		if (stream_fd(fd, o->image, &so, NULL, 0, &total, &e) != 0) {
			reason(r, "reading image: %s", e.msg);
			goto out;
		}
		edge_seal(o, r);
		vfd = o->tee_fd;
	}
	if (cms_verify_fd(cms, vfd, &signer, &certs, &e) != 0) {
		reason(r, "%s", e.msg);
		goto out;
	}
	cert_subject(signer, r->signer, sizeof r->signer);
	if (sig_key_from_pkey(X509_get0_pubkey(signer), &k, &e) == 0)
		memcpy(r->keyid, k->keyid, sizeof r->keyid);
	else
		reason(r, "signer key: %s", e.msg);
	if (cert_check_signer(signer, certs, o->roots, NULL, &e) != 0)
		reason(r, "%s", e.msg);
out:
	sig_key_free(k);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(data);
}

/* The signed verity parameters, or -1 with a reason. */
static int edge_signed_verity(struct verify_result *r, uint8_t *root,
			      uint8_t *salt, size_t *salt_len)
{
	struct fmt_err e = { 0 };

	if (verity_json_parse(r->st.verity, root, salt, salt_len, &e) != 0) {
		reason(r, "statement: %s", e.msg);
		return -1;
	}
	return 0;
}

static void edge_compare_root(struct verify_result *r, const uint8_t *got,
			      const uint8_t *want)
{
	char a[2 * VERITY_DIGEST + 1], b[2 * VERITY_DIGEST + 1];

	if (CRYPTO_memcmp(got, want, VERITY_DIGEST) == 0)
		return;
	sig_hex(got, VERITY_DIGEST, a);
	sig_hex(want, VERITY_DIGEST, b);
	reason(r, "dm-verity root %s differs from the signed root %s", a, b);
}

/* verify --verity-only: the tree alone, hashed on every core. */
static void edge_check_verity_only(const struct verify_opts *o, int fd,
				   uint64_t image_len, struct verify_result *r)
{
	uint8_t want[VERITY_DIGEST], got[VERITY_DIGEST];
	uint8_t salt[VERITY_SALT_MAX];
	size_t salt_len;
	struct fmt_err e = { .path = o->image };
	struct image *img = NULL;
	bool qcow2 = strcmp(r->st.format, "qcow2") == 0;

	if (r->st.verity == NULL) {
		reason(r, "--verity-only: the statement has no dm-verity root "
		       "(sign with --verity, or verify without --verity-only)");
		return;
	}
	if (edge_signed_verity(r, want, salt, &salt_len) != 0)
		return;
	if (r->st.solo5 != NULL) {
		reason(r, "--verity-only checks disk images; this statement "
		       "covers a Solo5 ELF (verify it without --verity-only)");
		return;
	}
	if (image_len != STREAM_NO_LIMIT && !qcow2) {
		reason(r, "--verity-only does not read appended signatures");
		return;
	}
	if (image_open(fd, o->image, qcow2 ? IMG_QCOW2 : IMG_RAW, NULL, &img,
		       &e) != 0) {
		reason(r, "reading image: %s", e.msg);
		return;
	}
	/* raw: the file is the disk, so its size is the signed size; qcow2:
	 * the root itself fixes the number of blocks of the guest view */
	if (!qcow2 && image_size(img) != r->st.size)
		reason(r, "image size %" PRIu64 " differs from the signed size %"
		       PRIu64, image_size(img), r->st.size);
	else if (verity_image_parallel(img, fd, salt, salt_len, 0, got, &e) != 0)
		reason(r, "dm-verity root: %s", e.msg);
	else
		edge_compare_root(r, got, want);
	image_close(img);
}

/* verify's tree, built in the same pass as the SHA-256. */
struct edge_vsink {
	struct verity  *v;               /* NULL for qcow2 (guest view) */
	bool            failed;
	struct fmt_err  err;
	uint8_t         want[VERITY_DIGEST];
	uint8_t         salt[VERITY_SALT_MAX];
	size_t          salt_len;
};

/* Never stops the pass: a tree error is one more reason at the end. */
static int edge_vsink_update(void *ctx, const uint8_t *buf, size_t len,
			     uint64_t off, struct fmt_err *e)
{
	struct edge_vsink *vs = ctx;

	(void)off;
	(void)e;
	if (!vs->failed && verity_update(vs->v, buf, len, &vs->err) != 0)
		vs->failed = true;
	return 0;
}

static struct edge_vsink *edge_vsink_begin(const struct verify_opts *o,
					   struct verify_result *r)
{
	struct edge_vsink *vs;

	if (r->st.verity == NULL)
		return NULL;
	vs = calloc(1, sizeof *vs);
	if (vs == NULL) {
		reason(r, "dm-verity: out of memory");
		return NULL;
	}
	vs->err.path = o->image;
	if (edge_signed_verity(r, vs->want, vs->salt, &vs->salt_len) != 0) {
		free(vs);
		return NULL;
	}
	if (strcmp(r->st.format, "qcow2") != 0 &&
	    verity_init(r->st.size, vs->salt, vs->salt_len, -1, &vs->v,
			&vs->err) != 0)
		vs->failed = true;
	return vs;
}

static struct stream_sink edge_vsink_sink(struct edge_vsink *vs)
{
	struct stream_sink s = { NULL, NULL };

	if (vs->v != NULL) {
		s.update = edge_vsink_update;
		s.ctx = vs;
	}
	return s;
}

static void edge_vsink_end(struct edge_vsink *vs, int fd,
			   const struct verify_opts *o, struct verify_result *r)
{
	uint8_t got[VERITY_DIGEST];
	struct image *img;

	if (vs == NULL)
		return;
	if (!vs->failed && vs->v == NULL) {
		/* qcow2: the tree covers the guest view, a second pass */
		if (image_open(fd, o->image, IMG_QCOW2, NULL, &img,
			       &vs->err) != 0) {
			vs->failed = true;
		} else {
			if (verity_image(img, vs->salt, vs->salt_len, -1, got,
					 &vs->err) != 0)
				vs->failed = true;
			image_close(img);
		}
	} else if (!vs->failed && verity_final(vs->v, got, &vs->err) != 0) {
		vs->failed = true;
	}
	if (vs->failed)
		reason(r, "dm-verity root: %s", vs->err.msg);
	else
		edge_compare_root(r, got, vs->want);
	verity_free(vs->v);
	free(vs);
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
