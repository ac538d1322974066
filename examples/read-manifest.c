/*
 * read-manifest.c: print the Solo5 target and the devices of a unikernel's
 * manifest, as a tender or an orchestrator would before it boots it.
 *
 *   cc read-manifest.c $(pkg-config --cflags --libs ukit) -o read-manifest
 *   ./read-manifest unikernel.hvt
 *
 * Output: "target hvt 2" (the ABI target and version), then one line per
 * device: "NAME BLOCK_BASIC" or "NAME NET_BASIC".  Exit 1 on any error,
 * with the library's message, which says where in the file it went wrong.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <ukit/elfimg.h>
#include <ukit/err.h>
#include <ukit/manifest.h>

int main(int argc, char **argv)
{
	struct fmt_err e = { .path = argv[1], .off = FMT_NOOFF };
	struct manifest mft;
	struct solo5_abi abi;
	bool have_mft, have_abi;
	struct elfimg *img;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: read-manifest UNIKERNEL\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	if (ukit_elfimg_open(fd, argv[1], &img, &e) < 0) {
		ukit_fmt_err_print(stderr, "read-manifest", &e);
		close(fd);
		return 1;
	}
	if (ukit_elfimg_solo5(img, &mft, &have_mft, &abi, &have_abi, &e) < 0) {
		ukit_fmt_err_print(stderr, "read-manifest", &e);
		ukit_elfimg_close(img);
		close(fd);
		return 1;
	}
	if (have_abi)
		printf("target %s %u\n", ukit_elfimg_abi_target_name(abi.target),
		       abi.version);
	if (have_mft)
		for (size_t i = 0; i < mft.n; i++)
			printf("%s %s\n", mft.dev[i].name,
			       ukit_manifest_type_name(mft.dev[i].type));
	ukit_elfimg_close(img);
	close(fd);
	return have_mft ? 0 : 1;
}
