/*
 * keysrc.h: where a private key comes from.  sig.c reads key files and
 * pkcs11.c talks to tokens; this picks one by the spec's form, so that
 * neither needs the other and a verifier links neither.
 */
#ifndef UKIT_KEYSRC_H
#define UKIT_KEYSRC_H

#include "err.h"
#include "sig.h"

/*
 * Load a private key named by (spec): a "pkcs11:" URI (a token, through
 * pkcs11.h), else a PEM file or a pipe (ukit_sig_key_load_file()).
 * Returns 0 and (*out), or -1 with (e).  The only entry point for private
 * keys: new key sources go here.
 */
int ukit_sig_key_load_private(const char *spec, const struct sig_secret_src *src,
			 struct sig_key **out, struct fmt_err *e);

#endif
