/*
 * libqcow-cat.c: write a qcow2 image's virtual content to stdout through
 * libqcow, an independent reader that the e2e tests use as an oracle for
 * what ukit writes.  Built at test time: cc libqcow-cat.c $(pkg-config
 * --cflags --libs libqcow).
 */
#include <stdio.h>
#include <stdlib.h>

#include <libqcow.h>

int main(int argc, char **argv)
{
	libqcow_file_t *f = NULL;
	libqcow_error_t *err = NULL;
	size64_t size, done = 0;
	static char buf[1 << 20];

	if (argc != 2) {
		fprintf(stderr, "usage: libqcow-cat IMAGE\n");
		return 2;
	}
	if (libqcow_file_initialize(&f, &err) != 1 ||
	    libqcow_file_open(f, argv[1], LIBQCOW_OPEN_READ, &err) != 1 ||
	    libqcow_file_get_media_size(f, &size, &err) != 1)
		goto fail;
	while (done < size) {
		size_t n = size - done < sizeof buf ? (size_t)(size - done)
						    : sizeof buf;
		ssize_t r = libqcow_file_read_buffer(f, buf, n, &err);

		if (r != (ssize_t)n)
			goto fail;
		if (fwrite(buf, 1, n, stdout) != n)
			return 1;
		done += n;
	}
	libqcow_file_close(f, NULL);
	libqcow_file_free(&f, NULL);
	return fflush(stdout) != 0;
fail:
	if (err != NULL) {
		libqcow_error_fprint(err, stderr);
		libqcow_error_free(&err);
	} else {
		fprintf(stderr, "libqcow-cat: short read\n");
	}
	return 1;
}
