/*
 * sign.h: what the files of ukit-sign share: one file per command
 * (keygen.c, sign_cmd.c, verify_cmd.c, inspect.c, verity_cmd.c), dispatch
 * and helpers in sign.c.
 */
#ifndef UKIT_SIGN_H
#define UKIT_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAX_PUBS   16     /* --pub keys per verify */
#define MAX_ROOTS  16     /* --ca roots per verify */

/* Long options of sign and verify beyond their own tables. */
enum {
	EDGE_OPT_VERITY = 0x100, EDGE_OPT_SALT, EDGE_OPT_HASH_FILE,
	EDGE_OPT_FORMAT, EDGE_OPT_PIN_FILE, EDGE_OPT_MODULE,
	EDGE_OPT_VERITY_ONLY, EDGE_OPT_CMS,
	OPT_ROLLBACK_STATE = 0x180, OPT_ROLLBACK_SLOT,
	OPT_PASSPHRASE_ENV, OPT_NO_PASSPHRASE, OPT_JSON, OPT_PAD, OPT_RSA_PSS,
	OPT_SIGN_CA, OPT_CRL, OPT_TSA, OPT_TSA_CA,
};

int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verity(int argc, char **argv);
/* sign and verify, sent to oci_sign.c when IMAGE is an image reference
 * (oci:, oci-archive:, docker://). */
int cmd_sign_any(int argc, char **argv);
int cmd_verify_any(int argc, char **argv);

/* Read a secret from the controlling terminal without echo (a
 * sig_secret_src prompt).  Its length, or -1. */
int tty_prompt(const char *what, char *buf, size_t size, void *arg);

/* (s) as a decimal number no larger than (max). */
bool parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A stream progress callback for a struct cli_progress (arg). */
void progress_cb(void *arg, uint64_t done);

/* "created": SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
time_t created_time(void);

/* "--salt HEX" into (salt) (VERITY_SALT_MAX bytes); "-" or "" means none,
 * as veritysetup's --salt=-.  0, or -1 after printing why. */
int parse_salt(const char *hex, uint8_t *salt, size_t *len);

struct sig_key;
struct bundle;
/* sign_cmd.c: --cert (a PEM leaf for (k)'s public key, codeSigning) and
 * --chain (intermediates, or NULL) into bundle (b), the chain checked up
 * to --ca (or NULL: the top of --chain).  0, or -1 after printing why. */
int load_signer_certs(const char *cert, const char *chain, const char *ca,
		      struct sig_key *k, struct bundle *b);

/* keysrc.c: keys and secrets in pipelines. */
struct sig_secret_src;
/* (arg), or "/dev/stdin" for "-" (once per command: NULL after saying
 * so for a second "-"; (opt) names the option). */
const char *input_path(const char *arg, const char *opt);
/* A prompt that answers with the environment variable named by (arg). */
int env_secret(const char *what, char *buf, size_t size, void *arg);
/* --passphrase-env NAME: (src) answers with $NAME.  0, or -1 after saying
 * why (unset, empty, too long). */
int set_passphrase_env(struct sig_secret_src *src, const char *name);
/* --key SPEC: a file, "-", "env:NAME" or a pkcs11: URI (warning for a PIN
 * inside it).  0, or the exit status after printing why. */
int load_private_key(const char *spec, const struct sig_secret_src *src,
		     struct sig_key **k);

#endif
