/*
 * test_verify.c: the verify-only core (formats/trust/verify.c) without the CLI.
 * Each test signs a small raw image with the library (statement, DSSE,
 * bundle next to the image) and runs ukit_verify_image() on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "bundle.h"
#include "dsse.h"
#include "sealfd.h"
#include "sig.h"
#include "sigimg.h"
#include "statement.h"
#include "verify.h"

#define IMG_SIZE (3 * 65536 + 123)

struct fx {
	char            dir[64];
	char            image[128];
	char            bundle[160];
	struct sig_key *key;
	struct sig_key *other;
};

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Sign (f->image) with (f->key) into IMAGE.bundle.json, as ukit-sign does,
 * naming (hint) as the key id in the bundle. */
static void sign_image_hint(struct fx *f, uint64_t rollback, const char *hint)
{
	struct fmt_err e = { 0 };
	struct stmt_info info = { 0 };
	struct sigimg img = { 0 };
	struct bundle b = { 0 };
	uint8_t *data;
	size_t len, plen, jlen;
	char *payload, *json;
	int fd;

	assert_int_equal(ukit_sig_read_file(f->image, IMG_SIZE + 1, &data, &len, &e),
			 0);
	fd = open(f->image, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ukit_sigimg_probe(fd, f->image, &img, &e), 0);
	close(fd);
	SHA256(data, len, info.sha256);
	info.name = "disk.img";
	info.size = len;
	info.format = img.format;
	info.rollback = rollback;
	info.created = 1700000000;
	info.solo5 = img.solo5;
	assert_int_equal(ukit_stmt_build(&info, &payload, &plen, &e), 0);
	assert_int_equal(ukit_dsse_sign(DSSE_INTOTO_TYPE, (uint8_t *)payload, plen,
				   f->key, &b.env, &e), 0);
	b.hint = strdup(hint);
	assert_non_null(b.hint);
	assert_int_equal(ukit_bundle_serialize(&b, &json, &jlen, &e), 0);
	write_file(f->bundle, json, jlen);
	free(json);
	free(payload);
	ukit_bundle_free(&b);
	ukit_sigimg_free(&img);
	free(data);
}

static void sign_image(struct fx *f, uint64_t rollback)
{
	sign_image_hint(f, rollback, f->key->keyid);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	uint8_t *buf = malloc(IMG_SIZE);
	struct fmt_err e = { 0 };

	assert_non_null(f);
	assert_non_null(buf);
	strcpy(f->dir, "/tmp/ukit-test-verify-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->image, sizeof f->image, "%s/disk.img", f->dir);
	snprintf(f->bundle, sizeof f->bundle, "%s.bundle.json", f->image);
	for (size_t i = 0; i < IMG_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	write_file(f->image, buf, IMG_SIZE);
	free(buf);
	assert_int_equal(ukit_sig_keygen(SIG_ED25519, 3072, &f->key, &e), 0);
	assert_int_equal(ukit_sig_keygen(SIG_ED25519, 3072, &f->other, &e), 0);
	sign_image(f, 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->bundle);
	unlink(f->image);
	rmdir(f->dir);
	ukit_sig_key_free(f->key);
	ukit_sig_key_free(f->other);
	free(f);
	return 0;
}

static struct verify_policy pinned(struct sig_key *const *k)
{
	return (struct verify_policy){ .pub = k, .npub = 1, .tee_fd = -1 };
}

/* Is (sub) in one of the reasons? */
static bool has_reason(const struct verify_result *r, const char *sub)
{
	for (size_t i = 0; i < json_array_size(r->reasons); i++)
		if (strstr(json_string_value(json_array_get(r->reasons, i)),
			   sub) != NULL)
			return true;
	return false;
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_verify_ok(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };
	int fd;

	/* the library opens the path */
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_true(r.verified);
	assert_int_equal(json_array_size(r.reasons), 0);
	assert_string_equal(r.keyid, f->key->keyid);
	assert_string_equal(r.signer, "");
	assert_non_null(r.statement);
	assert_int_equal(r.st.size, IMG_SIZE);
	assert_int_equal(r.st.rollback, 3);
	ukit_verify_result_free(&r);

	/* the caller's fd */
	fd = open(f->image, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	p.min_rollback = 3;
	p.require_format = "raw";
	assert_int_equal(ukit_verify_image(fd, f->image, &p, &r, &e), 0);
	assert_true(r.verified);
	ukit_verify_result_free(&r);
	close(fd);
}

static void test_verify_flipped_byte(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };

	flip_byte(f->image, 65536 + 5);
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_false(r.verified);
	assert_int_equal(json_array_size(r.reasons), 1);
	assert_true(has_reason(&r, "image sha256 "));
	assert_true(has_reason(&r, " differs from the signed digest "));
	assert_true(has_reason(&r, r.st.sha256_hex));
	/* the signature held: key and statement are still reported */
	assert_string_equal(r.keyid, f->key->keyid);
	assert_non_null(r.statement);
	ukit_verify_result_free(&r);
}

static void test_verify_policy_reasons(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };

	p.min_rollback = 4;
	p.require_format = "qcow2";
	p.require_target = "hvt";
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_false(r.verified);
	assert_int_equal(json_array_size(r.reasons), 3);
	assert_true(has_reason(&r, "rollback index 3 is below the minimum 4"));
	assert_true(has_reason(&r, "format is raw, required qcow2"));
	assert_true(has_reason(&r, "no Solo5 target in the statement, "
			       "required hvt"));
	ukit_verify_result_free(&r);
}

static void test_verify_wrong_key(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->other);
	struct verify_result r;
	struct fmt_err e = { 0 };

	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_false(r.verified);
	assert_true(has_reason(&r, "signature does not verify with any "
			       "pinned key"));
	assert_string_equal(r.keyid, "");
	assert_null(r.statement);
	ukit_verify_result_free(&r);
}

/* The signature verifies, but the bundle's key id hint names another key:
 * refused, naming both. */
static void test_verify_wrong_hint(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };
	char want[200];

	sign_image_hint(f, 3, f->other->keyid);
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_false(r.verified);
	snprintf(want, sizeof want, "publicKey hint %s does not name the "
		 "verifying key %s", f->other->keyid, f->key->keyid);
	assert_true(has_reason(&r, want));
	assert_string_equal(r.keyid, "");
	ukit_verify_result_free(&r);
}

static void test_verify_missing(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };
	char path[200];

	/* no image */
	snprintf(path, sizeof path, "%s/absent.img", f->dir);
	assert_int_equal(ukit_verify_image(-1, path, &p, &r, &e), 0);
	assert_false(r.verified);
	assert_true(has_reason(&r, "cannot open: No such file or directory"));
	ukit_verify_result_free(&r);

	/* no bundle */
	unlink(f->bundle);
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_false(r.verified);
	assert_true(has_reason(&r, "bundle.json: "));
	ukit_verify_result_free(&r);
}

/* tee_fd: the bytes hashed are also in the sealed copy. */
static void test_verify_sealed_copy(void **state)
{
	struct fx *f = *state;
	struct verify_policy p = pinned(&f->key);
	struct verify_result r;
	struct fmt_err e = { 0 };
	uint8_t *want, *got;
	size_t len;
	char path[64];

	p.tee_fd = ukit_sealfd_create("test-verify", &e);
	assert_true(p.tee_fd >= 0);
	assert_int_equal(ukit_verify_image(-1, f->image, &p, &r, &e), 0);
	assert_true(r.verified);
	ukit_verify_result_free(&r);
	/* ukit_sealfd_exec_fd refuses an fd that is not sealed */
	assert_int_equal(ukit_sealfd_exec_fd(p.tee_fd, path, sizeof path, &e), 0);
	assert_int_equal(ukit_sig_read_file(f->image, IMG_SIZE + 1, &want, &len, &e),
			 0);
	got = malloc(len + 1);
	assert_non_null(got);
	assert_int_equal(pread(p.tee_fd, got, len + 1, 0), (ssize_t)len);
	assert_memory_equal(got, want, len);
	free(got);
	free(want);
	close(p.tee_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_flipped_byte, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_policy_reasons, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_wrong_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_wrong_hint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_sealed_copy, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
