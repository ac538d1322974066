/*
 * edge-verify.c: what an edge device does before it boots a unikernel:
 * verify the image against a pinned public key (the bundle beside it, or
 * appended to it), then run the tender on a sealed in-memory copy of
 * exactly the bytes that were verified.
 *
 *   cc edge-verify.c $(pkg-config --cflags --libs ukit) -o edge-verify
 *   ./edge-verify release.pub unikernel.hvt solo5-hvt --net:service=tap0 {}
 *
 * "{}" in the tender's arguments becomes /proc/self/fd/N, the sealed copy.
 * Exit 1 when verification fails (every reason on stderr, nothing run),
 * else the tender's own exit status (127 when it cannot be run).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ukit/err.h>
#include <ukit/sealfd.h>
#include <ukit/sig.h>
#include <ukit/verify.h>

int main(int argc, char **argv)
{
	struct fmt_err e = { .path = NULL, .off = FMT_NOOFF };
	struct verify_result r = { 0 };
	struct verify_policy p = { 0 };
	struct sig_key *key = NULL;
	char sealed[64];
	int tee = -1, rc = 1;
	size_t i;

	if (argc < 4) {
		fprintf(stderr, "usage: edge-verify PUBKEY IMAGE TENDER "
			"[ARGS...]\n");
		return 2;
	}
	e.path = argv[1];
	if (ukit_sig_key_load_public(argv[1], &key, &e) < 0)
		goto fail;
	e.path = argv[2];
	if ((tee = ukit_sealfd_create("edge-verify", &e)) < 0)
		goto fail;
	p.pub = &key;
	p.npub = 1;
	p.tee_fd = tee;
	if (ukit_verify_image(-1, argv[2], &p, &r, &e) < 0)
		goto fail;
	for (i = 0; i < json_array_size(r.reasons); i++)
		fprintf(stderr, "edge-verify: %s: %s\n", argv[2],
			json_string_value(json_array_get(r.reasons, i)));
	if (!r.verified)
		goto out;
	fprintf(stderr, "edge-verify: %s: verified (key %s)\n", argv[2],
		r.keyid);
	ukit_verify_result_free(&r);
	ukit_sig_key_free(key);
	if (ukit_sealfd_exec_fd(tee, sealed, sizeof sealed, &e) < 0) {
		ukit_fmt_err_print(stderr, "edge-verify", &e);
		return 1;
	}
	for (i = 4; i < (size_t)argc; i++)
		if (strcmp(argv[i], "{}") == 0)
			argv[i] = sealed;
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
fail:
	ukit_fmt_err_print(stderr, "edge-verify", &e);
out:
	ukit_verify_result_free(&r);
	ukit_sig_key_free(key);
	if (tee >= 0)
		close(tee);
	return rc;
}
