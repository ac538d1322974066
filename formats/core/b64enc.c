/*
 * b64enc.c: base64 encoding, the write side of sigjson.h (decoding, what
 * a verifier needs, is sigjson.c's).
 */
#include <stdlib.h>

#include "sigjson.h"

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ukit_b64_encode(const uint8_t *buf, size_t len)
{
	size_t olen = (len + 2) / 3 * 4, o = 0;
	char *s = malloc(olen + 1);

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)buf[i] << 16;
		size_t r = len - i;
		if (r > 1)
			v |= (uint32_t)buf[i + 1] << 8;
		if (r > 2)
			v |= buf[i + 2];
		s[o++] = b64_std[v >> 18 & 63];
		s[o++] = b64_std[v >> 12 & 63];
		s[o++] = r > 1 ? b64_std[v >> 6 & 63] : '=';
		s[o++] = r > 2 ? b64_std[v & 63] : '=';
	}
	s[o] = '\0';
	return s;
}
