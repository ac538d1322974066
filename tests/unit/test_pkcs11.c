/*
 * test_pkcs11.c: pkcs11: URI handling (the PIN and module path are taken
 * out before the engine sees the URI) and the failures that need no token.
 * Signing on a real token is tested end to end with SoftHSM2 (t72).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bytes.h"
#include "pkcs11.h"

static void test_uri_split(void **state)
{
	static const struct {
		const char *in, *clean, *pin, *module;
	} t[] = {
		{ "pkcs11:token=ukit;object=k1", "pkcs11:token=ukit;object=k1",
		  "", "" },
		{ "pkcs11:token=ukit;object=k1;pin-value=1234",
		  "pkcs11:token=ukit;object=k1", "1234", "" },
		{ "pkcs11:pin-value=1234;token=ukit", "pkcs11:token=ukit",
		  "1234", "" },
		{ "pkcs11:token=a%20b;object=k1?pin-value=12%3b4&module-path="
		  "/usr/lib/x.so", "pkcs11:token=a%20b;object=k1", "12;4",
		  "/usr/lib/x.so" },
		{ "pkcs11:object=k1?pin-source=file:/p&pin-value=9",
		  "pkcs11:object=k1?pin-source=file:/p", "9", "" },
	};
	char clean[P11_URI_MAX], pin[P11_PIN_MAX], mod[P11_URI_MAX];
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ukit_p11_uri_split(t[i].in, clean, sizeof clean,
					       pin, mod, &e), 0);
		assert_string_equal(clean, t[i].clean);
		assert_string_equal(pin, t[i].pin);
		assert_string_equal(mod, t[i].module);
	}
}

static void test_uri_rejects(void **state)
{
	static const struct { const char *in, *msg; } t[] = {
		{ "file:k1", "not a pkcs11: URI" },
		{ "pkcs11:object=k1;pin-value=12%", "bad %-escape in pin-value" },
		{ "pkcs11:object=k1;pin-value=12%zz", "bad %-escape" },
		{ "pkcs11:object=k1;pin-value=1%002", "contains NUL" },
	};
	char clean[P11_URI_MAX], pin[P11_PIN_MAX], mod[P11_URI_MAX];
	char longuri[P11_URI_MAX + 10];
	struct fmt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(ukit_p11_uri_split(t[i].in, clean, sizeof clean,
					       pin, mod, &e), -1);
		assert_non_null(strstr(e.msg, t[i].msg));
		assert_string_equal(pin, "");    /* nothing half-decoded */
	}
	memcpy(longuri, "pkcs11:", 7);
	memset(longuri + 7, 'a', sizeof longuri - 8);
	longuri[sizeof longuri - 1] = '\0';
	assert_int_equal(ukit_p11_uri_split(longuri, clean, sizeof clean, pin, mod,
				       &e), -1);
	assert_non_null(strstr(e.msg, "longer than"));
}

static void test_open_needs_pin_and_module(void **state)
{
	struct p11 *p = NULL;
	EVP_PKEY *k = NULL;
	struct fmt_err e = { 0 };

	(void)state;
	assert_int_equal(ukit_p11_open("pkcs11:object=k1", NULL, NULL, &p, &k, &e),
			 -1);
	assert_non_null(strstr(e.msg, "no PIN given"));
	assert_int_equal(ukit_p11_open("pkcs11:object=k1;pin-value=1234",
				  "/nonexistent/mod.so", NULL, &p, &k, &e), -1);
	assert_non_null(strstr(e.msg, "pkcs11 module /nonexistent/mod.so"));
	assert_null(strstr(e.msg, "1234"));
	assert_null(p);
	assert_true(ukit_p11_is_uri("pkcs11:x"));
	assert_false(ukit_p11_is_uri("/tmp/k.key"));
	ukit_p11_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_split),
		cmocka_unit_test(test_uri_rejects),
		cmocka_unit_test(test_open_needs_pin_and_module),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
