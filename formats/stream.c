/*
 * stream.c: the single read pass (see stream.h).  A reader thread fills
 * one buffer while the caller's thread hashes the other, so reading and
 * hashing overlap; large reads and POSIX_FADV_SEQUENTIAL keep the kernel's
 * read-ahead busy.  Memory stays at two STREAM_CHUNK buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "outfile.h"
#include "stream.h"

struct slot {
	uint8_t *buf;
	size_t   len;
	bool     full;        /* filled by the reader, not yet consumed */
	bool     eof;         /* last slot: no data after this one */
	int      err;         /* errno of a failed read, or 0 */
	uint64_t off;
};

struct reader {
	int             fd;
	uint64_t        limit;
	struct slot     slot[2];
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            stop;  /* consumer gave up */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t off = 0;
	int i = 0;

	for (;;) {
		struct slot *s = &r->slot[i];
		size_t want = STREAM_CHUNK, got = 0;
		int err = 0;
		bool eof = false;

		pthread_mutex_lock(&r->mu);
		while (s->full && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			return NULL;
		}
		pthread_mutex_unlock(&r->mu);

		if (r->limit != STREAM_NO_LIMIT && r->limit - off < want)
			want = (size_t)(r->limit - off);
		while (got < want) {
			ssize_t n = read(r->fd, s->buf + got, want - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err = errno;
				break;
			}
			if (n == 0) {
				eof = true;
				break;
			}
			got += (size_t)n;
		}
		if (r->limit != STREAM_NO_LIMIT && off + got == r->limit)
			eof = true;

		pthread_mutex_lock(&r->mu);
		s->len = got;
		s->off = off;
		s->err = err;
		s->eof = eof || err != 0;
		s->full = true;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		off += got;
		if (s->eof)
			return NULL;
		i ^= 1;
	}
}

int stream_fd(int fd, const char *path, const struct stream_opts *o,
	      const struct stream_sink *sinks, size_t nsinks, uint64_t *total,
	      struct fmt_err *e)
{
	struct reader r = { .fd = fd, .limit = o->limit };
	pthread_t th;
	uint64_t done = 0;
	int rc = -1, i = 0;

	if (e != NULL)
		e->path = path;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return fmt_errno(e, 0, "seek");
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (int k = 0; k < 2; k++) {
		r.slot[k].buf = malloc(STREAM_CHUNK);
		if (r.slot[k].buf == NULL) {
			free(r.slot[0].buf);
			return fmt_errno(e, FMT_NOOFF, "out of memory");
		}
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	if ((errno = pthread_create(&th, NULL, reader_main, &r)) != 0) {
		fmt_errno(e, FMT_NOOFF, "cannot start reader thread");
		goto out_nothread;
	}
	for (;;) {
		struct slot *s = &r.slot[i];
		bool last;

		pthread_mutex_lock(&r.mu);
		while (!s->full)
			pthread_cond_wait(&r.cv, &r.mu);
		pthread_mutex_unlock(&r.mu);
		if (s->err != 0) {
			errno = s->err;
			fmt_errno(e, s->off + s->len, "read");
			goto out;
		}
		for (size_t k = 0; k < nsinks; k++)
			if (sinks[k].update(sinks[k].ctx, s->buf, s->len, s->off,
					    e) != 0)
				goto out;
		if (o->tee_fd >= 0 && s->len > 0 &&
		    write_full(o->tee_fd, s->buf, s->len) != 0) {
			fmt_errno(e, s->off, "copy");
			goto out;
		}
		done += s->len;
		if (o->progress != NULL)
			o->progress(o->progress_arg, done);
		last = s->eof;
		pthread_mutex_lock(&r.mu);
		s->full = false;
		pthread_cond_broadcast(&r.cv);
		pthread_mutex_unlock(&r.mu);
		if (last)
			break;
		i ^= 1;
	}
	if (o->limit != STREAM_NO_LIMIT && done != o->limit) {
		fmt_errf(e, done, "file ends early (%llu < %llu bytes)",
			 (unsigned long long)done, (unsigned long long)o->limit);
		goto out;
	}
	*total = done;
	rc = 0;
out:
	pthread_mutex_lock(&r.mu);
	r.stop = true;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	pthread_join(th, NULL);
out_nothread:
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	free(r.slot[0].buf);
	free(r.slot[1].buf);
	return rc;
}

int stream_sha256_init(struct stream_sha256 *s, struct fmt_err *e)
{
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->md);
		s->md = NULL;
		return fmt_err_openssl(e, FMT_NOOFF, "SHA-256 init");
	}
	return 0;
}

int stream_sha256_update(void *ctx, const uint8_t *buf, size_t len,
			 uint64_t off, struct fmt_err *e)
{
	struct stream_sha256 *s = ctx;

	if (EVP_DigestUpdate(s->md, buf, len) != 1)
		return fmt_err_openssl(e, off, "SHA-256 update");
	return 0;
}

int stream_sha256_final(struct stream_sha256 *s, uint8_t out[32],
			struct fmt_err *e)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(s->md, out, &n) != 1 || n != 32)
		return fmt_err_openssl(e, FMT_NOOFF, "SHA-256 final");
	return 0;
}

void stream_sha256_free(struct stream_sha256 *s)
{
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}
