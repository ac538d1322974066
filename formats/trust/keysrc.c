/*
 * keysrc.c: pick a private key's source by the form of its name (see
 * keysrc.h).
 */
#include "keysrc.h"
#include "pkcs11.h"
#include "sig.h"

int ukit_sig_key_load_private(const char *spec, const struct sig_secret_src *src,
			 struct sig_key **out, struct fmt_err *e)
{
	if (ukit_p11_is_uri(spec))
		return ukit_p11_sig_key_load(spec, src, out, e);
	return ukit_sig_key_load_file(spec, src, out, e);
}
