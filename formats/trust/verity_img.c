/*
 * verity_img.c: the dm-verity root of an image.h reader's virtual content
 * (see verity.h): streamed, or in parallel, hashing a raw file's bytes in
 * place through a mapping.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "image.h"
#include "verity.h"

#define IMG_CHUNK (1u << 20)    /* bytes per ukit_image_read() */

int ukit_verity_image(struct image *img, const uint8_t *salt, size_t salt_len,
		 int hash_fd, uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	uint64_t size = ukit_image_size(img), off = 0;
	struct verity *v;
	uint8_t *buf;
	int rc = -1;

	if (ukit_verity_init(size, salt, salt_len, hash_fd, &v, e) < 0)
		return -1;
	buf = malloc(IMG_CHUNK);
	if (buf == NULL) {
		ukit_fmt_errno(e, FMT_NOOFF, "verity");
		goto out;
	}
	while (off < size) {
		struct image_extent ext;

		if (ukit_image_map(img, off, &ext, e) < 0)
			goto out;
		if (ext.len == 0 || ext.len > size - off)
			ext.len = size - off;
		if (ext.kind != EXT_DATA) {
			if (ukit_verity_zeros(v, ext.len, e) < 0)
				goto out;
			off += ext.len;
			continue;
		}
		for (uint64_t end = off + ext.len; off < end;) {
			size_t n = end - off < IMG_CHUNK ? (size_t)(end - off) :
				   IMG_CHUNK;
			if (ukit_image_read(img, buf, n, off, e) < 0 ||
			    ukit_verity_update(v, buf, n, e) < 0)
				goto out;
			off += n;
		}
	}
	rc = ukit_verity_final(v, root, e);
out:
	free(buf);
	ukit_verity_free(v);
	return rc;
}

struct img_ctx {
	struct image   *img;
	bool            serial;      /* reads must not overlap (qcow2) */
	pthread_mutex_t lock;
};

static int img_read_cb(void *ctx, void *buf, size_t len, uint64_t off,
		       struct fmt_err *e)
{
	struct img_ctx *c = ctx;
	int r;

	if (c->serial)
		pthread_mutex_lock(&c->lock);
	r = ukit_image_read(c->img, buf, len, off, e);
	if (c->serial)
		pthread_mutex_unlock(&c->lock);
	return r;
}

static int img_map_cb(void *ctx, uint64_t off, uint64_t *len,
		      struct fmt_err *e)
{
	struct img_ctx *c = ctx;
	struct image_extent ext;
	int r;

	if (c->serial)
		pthread_mutex_lock(&c->lock);
	r = ukit_image_map(c->img, off, &ext, e);
	if (c->serial)
		pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return -1;
	*len = ext.len;
	return ext.kind != EXT_DATA;
}

int ukit_verity_image_parallel(struct image *img, int fd, const uint8_t *salt,
			  size_t salt_len, unsigned threads,
			  uint8_t root[VERITY_DIGEST], struct fmt_err *e)
{
	struct img_ctx c = { .img = img };
	uint64_t size = ukit_image_size(img);
	void *base = MAP_FAILED;
	int rc;

	/* raw, elf, bin: pread and lseek on one fd are safe to share */
	c.serial = ukit_image_format(img) == IMG_QCOW2;
	/* The file's bytes are the content: hash them in place, no copy. */
	if (fd >= 0 && !c.serial && size > 0 && size <= SIZE_MAX)
		base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	pthread_mutex_init(&c.lock, NULL);
	if (base != MAP_FAILED)
		rc = ukit_verity_root_parallel_mem(base, size, salt, salt_len,
					      img_map_cb, &c, threads, root, e);
	else
		rc = ukit_verity_root_parallel(size, salt, salt_len, img_read_cb,
					  img_map_cb, &c, threads, root, e);
	pthread_mutex_destroy(&c.lock);
	if (base != MAP_FAILED)
		munmap(base, (size_t)size);
	return rc;
}
