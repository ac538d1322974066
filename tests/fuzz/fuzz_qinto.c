/*
 * fuzz_qinto.c: convert -n into an existing qcow2 image (qinto.h), the
 * fuzzer's bytes being the TARGET image (in a memfd); a small fixed raw
 * source (data, zero blocks, an unaligned end) is written into it.
 * Whatever the target holds: no crash, no undefined behaviour, no leak,
 * no hang.  When the conversion succeeds, ukit's own check finds no
 * corruption in the result, it reads back as the source, and what the
 * target had past the source's end (as far as this reads) is unchanged.
 * When it fails, the target's bytes are unchanged: every refusal comes
 * from a check made before anything is written (a memfd never fails a
 * write).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "imgopen.h"
#include "io.h"
#include "qcow2.h"
#include "qinto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SRC_SIZE   (11u * 1024 + 300)   /* below the seeds' 12 KiB */
#define READ_MAX   (256u * 1024)        /* virtual bytes compared */

static uint8_t src[SRC_SIZE];

/* A broken promise: say which, then crash for the fuzzer. */
#define BROKEN(why) do { fprintf(stderr, "fuzz_qinto: %s\n", why); \
			 abort(); } while (0)

static void make_source(void)
{
	for (size_t i = 0; i < SRC_SIZE; i++) {
		size_t blk = i / 512;

		/* blocks 2-5 and 9 zero: whole zero clusters at 512 and
		 * 1 KiB clusters, partly zero ones at larger sizes */
		src[i] = (blk >= 2 && blk <= 5) || blk == 9 ? 0 :
			 (uint8_t)(i * 131 + blk + 1);
	}
}

/*
 * The virtual bytes [off, off + *len) of the qcow2 image on (fd) into
 * (buf); (*len) 0 asks for those up to READ_MAX or the virtual size.
 * 0, or -1 when the image cannot be opened (checked first) or read (a
 * compressed cluster that does not inflate, say).
 */
static int read_virtual(int fd, uint8_t *buf, uint64_t off, uint64_t *len)
{
	struct image_opts io = { .check = true, .force_share = true };
	struct fmt_err e = { .path = "fuzz" };
	struct image *img = NULL;
	uint64_t end;
	int rc = -1;

	if (ukit_image_open(fd, "fuzz", IMG_QCOW2, &io, &img, &e) < 0)
		return -1;
	end = ukit_image_size(img) < READ_MAX ? ukit_image_size(img) : READ_MAX;
	if (*len == 0)
		*len = end > off ? end - off : 0;
	if (off + *len <= ukit_image_size(img) &&
	    ukit_image_read(img, buf, *len, off, &e) == 0)
		rc = 0;
	ukit_image_close(img);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_opts io = { .force_share = true };
	struct fmt_err e = { .path = "fuzz" };
	struct ukit_qinto_stats st;
	struct image *img = NULL;
	uint8_t *before = NULL, *after = NULL;
	uint64_t blen = 0, alen = 0;
	int fd = -1, sfd = -1, before_ok, rc;
	struct stat sb;

	if (src[0] == 0)
		make_source();
	fd = memfd_create("fuzz-target", MFD_CLOEXEC);
	sfd = memfd_create("fuzz-source", MFD_CLOEXEC);
	before = malloc(READ_MAX);
	after = malloc(READ_MAX);
	if (fd < 0 || sfd < 0 || before == NULL || after == NULL)
		goto out;
	if (ukit_write_full(fd, data, size) != 0 ||
	    ukit_write_full(sfd, src, SRC_SIZE) != 0)
		goto out;
	if (ukit_image_open(sfd, "source", IMG_RAW, &io, &img, &e) < 0)
		BROKEN("the raw source does not open");
	/* what must survive: the target past the source's end */
	before_ok = read_virtual(fd, before, SRC_SIZE, &blen) == 0;
	rc = ukit_convert_into_qcow2(img, "source", fd, "fuzz", NULL, true,
				     &st, &e);
	ukit_image_close(img);
	img = NULL;
	if (getenv("FUZZ_QINTO_DEBUG") != NULL)
		fprintf(stderr, "qinto: %d %s:0x%llx: %s\n", rc, e.path,
			(unsigned long long)e.off, rc ? e.msg : "");
	if (rc != 0) {
		/* refused: the target is as it was */
		uint8_t *now = malloc(size + 1);

		if (now == NULL)
			goto out;
		if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != size ||
		    ukit_pread_full(fd, now, size, 0) != (ssize_t)size ||
		    memcmp(now, data, size) != 0)
			BROKEN("refused, but the target changed");
		free(now);
		goto out;
	}
	/* accepted */
	{
		struct qcow2_check r;

		if (ukit_qcow2_check_fd(fd, "fuzz", QCOW2_CHECK_NO_INFLATE, &r,
					&e) != 0 || r.corruptions ||
		    r.check_errors)
			BROKEN("the result has corruptions");
		ukit_qcow2_check_free(&r);
	}
	alen = SRC_SIZE;
	if (read_virtual(fd, after, 0, &alen) != 0)
		BROKEN("the result does not open checked, or read");
	if (memcmp(after, src, SRC_SIZE) != 0)
		BROKEN("the result does not read back as the source");
	alen = blen;
	if (before_ok && (read_virtual(fd, after, SRC_SIZE, &alen) != 0 ||
			  memcmp(after, before, blen) != 0))
		BROKEN("the target's content past the source changed");
out:
	ukit_image_close(img);
	free(before);
	free(after);
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	return 0;
}
