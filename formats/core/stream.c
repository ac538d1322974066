/*
 * stream.c: the single read pass, plainly (see stream.h): one buffer,
 * read() then every sink.  stream_fast.c overlaps reading and hashing;
 * this is what a verifier that wants the least code links.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>

#include "io.h"
#include "stream.h"

int ukit_stream_feed(const struct stream_opts *o, const struct stream_sink *sinks,
		size_t nsinks, const uint8_t *buf, size_t len, uint64_t off,
		struct fmt_err *e)
{
	for (size_t k = 0; k < nsinks; k++)
		if (sinks[k].update(sinks[k].ctx, buf, len, off, e) != 0)
			return -1;
	if (o->tee_fd >= 0 && len > 0 && ukit_write_full(o->tee_fd, buf, len) != 0)
		return ukit_fmt_errno(e, off, "copy");
	return 0;
}

int ukit_stream_read(int fd, const char *path, const struct stream_opts *o,
		const struct stream_sink *sinks, size_t nsinks,
		uint64_t *total, struct fmt_err *e)
{
	/*
	 * Page-aligned: the kernel copies page-cache pages into it, and a
	 * copy to malloc's 16-byte offset took the read() path 40% longer
	 * here (perf: _copy_to_iter) than hashing the same bytes.
	 */
	uint8_t *buf = aligned_alloc(4096, STREAM_CHUNK);
	uint64_t done = 0;
	int rc = -1;

	if (e != NULL)
		e->path = path;
	if (buf == NULL)
		return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
	if (lseek(fd, 0, SEEK_SET) != 0 && errno != ESPIPE) {
		ukit_fmt_errno(e, 0, "seek");
		goto out;
	}
	for (;;) {
		size_t want = STREAM_CHUNK;
		ssize_t n;

		if (o->limit != STREAM_NO_LIMIT && o->limit - done < want)
			want = (size_t)(o->limit - done);
		if (want == 0)
			break;
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ukit_fmt_errno(e, done, "read");
			goto out;
		}
		if (n == 0)
			break;
		if (ukit_stream_feed(o, sinks, nsinks, buf, (size_t)n, done, e) != 0)
			goto out;
		done += (uint64_t)n;
		if (o->progress != NULL)
			o->progress(o->progress_arg, done);
	}
	if (o->limit != STREAM_NO_LIMIT && done != o->limit) {
		ukit_fmt_errf(e, done, "file ends early (%llu < %llu bytes)",
			 (unsigned long long)done, (unsigned long long)o->limit);
		goto out;
	}
	*total = done;
	rc = 0;
out:
	free(buf);
	return rc;
}

int ukit_stream_sha256_init(struct stream_sha256 *s, struct fmt_err *e)
{
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->md);
		s->md = NULL;
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "SHA-256 init");
	}
	return 0;
}

int ukit_stream_sha256_update(void *ctx, const uint8_t *buf, size_t len,
			 uint64_t off, struct fmt_err *e)
{
	struct stream_sha256 *s = ctx;

	if (EVP_DigestUpdate(s->md, buf, len) != 1)
		return ukit_fmt_err_openssl(e, off, "SHA-256 update");
	return 0;
}

int ukit_stream_sha256_final(struct stream_sha256 *s, uint8_t out[32],
			struct fmt_err *e)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(s->md, out, &n) != 1 || n != 32)
		return ukit_fmt_err_openssl(e, FMT_NOOFF, "SHA-256 final");
	return 0;
}

void ukit_stream_sha256_free(struct stream_sha256 *s)
{
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}
