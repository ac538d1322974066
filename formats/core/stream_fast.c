/*
 * stream_fast.c: the single read pass, fast (see stream.h).  Regular files are
 * mapped a window at a time and hashed from the page cache; anything else
 * (pipes, sockets, file systems without mmap) is read by a reader thread
 * into a ring of STREAM_SLOTS buffers while the caller's thread hashes,
 * so reading and hashing overlap.  Memory is bounded either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
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
	struct slot     slot[STREAM_SLOTS];
	size_t          chunk;
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
		size_t want = r->chunk, got = 0;
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
		i = (i + 1) % STREAM_SLOTS;
	}
}

/*
 * Regular files: map STREAM_WINDOW bytes at a time and hash straight from
 * the page cache (no copy into a buffer, which costs a third as much CPU
 * as the hashing).  A mapper thread maps and populates (MAP_POPULATE) the
 * next window while this thread hashes the current one, so page-table
 * work overlaps the hashing too.  The size is taken once; if pages vanish
 * under a mapping (the file is truncated meanwhile) the process dies of
 * SIGBUS: a verifier never reports success on such a file.
 * Returns 1 when done, 0 when mapping is not possible (use read()), -1
 * with (e).
 */
struct mapping {
	uint8_t *p;
	size_t   len;
	uint64_t off;
	int      err;         /* errno of a failed mmap, or 0 */
	bool     full;
	bool     hole;        /* p is zero_window, not a mapping */
};

/*
 * Windows that lie wholly in a hole are fed from here instead of being
 * mapped: mapping a hole makes the kernel allocate and zero a page-cache
 * page for every 4 KiB of it (12 s of system time for a 4 GiB sparse
 * image, against under 3 s of hashing).  It lives in .bss, so it costs
 * neither file size nor, being only read, resident memory.
 */
static uint8_t zero_window[STREAM_WINDOW];

/* True if [off, off+len) of (fd) holds no data (SEEK_DATA says so). */
static bool window_is_hole(int fd, uint64_t off, size_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	if (d < 0)
		return errno == ENXIO;  /* no data from off to EOF */
	return (uint64_t)d >= off + len;
}

struct mapper {
	int             fd;
	uint64_t        size;
	struct mapping  m[2];
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            stop;
};

static void *mapper_main(void *arg)
{
	struct mapper *mp = arg;
	uint64_t off = 0;
	int i = 0;

	while (off < mp->size) {
		struct mapping *m = &mp->m[i];
		size_t len = mp->size - off < STREAM_WINDOW ?
			(size_t)(mp->size - off) : STREAM_WINDOW;
		uint8_t *p;
		int err = 0;

		pthread_mutex_lock(&mp->mu);
		while (m->full && !mp->stop)
			pthread_cond_wait(&mp->cv, &mp->mu);
		pthread_mutex_unlock(&mp->mu);
		if (mp->stop)
			return NULL;
		/* unmapping here keeps the TLB work off the hashing thread */
		if (m->p != NULL && !m->hole)
			munmap(m->p, m->len);
		m->p = NULL;
		m->hole = window_is_hole(mp->fd, off, len);
		if (m->hole) {
			p = zero_window;
		} else {
			p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE,
				 mp->fd, (off_t)off);
			if (p == MAP_FAILED)
				err = errno;
			else
				(void)madvise(p, len, MADV_SEQUENTIAL);
		}
		pthread_mutex_lock(&mp->mu);
		m->p = err ? NULL : p;
		m->len = len;
		m->off = off;
		m->err = err;
		m->full = true;
		pthread_cond_broadcast(&mp->cv);
		pthread_mutex_unlock(&mp->mu);
		if (err)
			return NULL;
		off += len;
		i ^= 1;
	}
	return NULL;
}

static int stream_mmap(int fd, const struct stream_opts *o,
		       const struct stream_sink *sinks, size_t nsinks,
		       uint64_t *total, struct fmt_err *e)
{
	struct mapper mp = { .fd = fd };
	struct stat st;
	pthread_t th;
	uint64_t off = 0;
	int rc = -1, i = 0;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	mp.size = (uint64_t)st.st_size;
	if (o->limit != STREAM_NO_LIMIT) {
		if (o->limit > mp.size)
			return ukit_fmt_errf(e, mp.size, "file ends early (%llu < %llu "
					"bytes)", (unsigned long long)mp.size,
					(unsigned long long)o->limit);
		mp.size = o->limit;
	}
	if (mp.size == 0) {
		*total = 0;
		return 1;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	pthread_mutex_init(&mp.mu, NULL);
	pthread_cond_init(&mp.cv, NULL);
	if (pthread_create(&th, NULL, mapper_main, &mp) != 0) {
		rc = 0;                  /* fall back to read() */
		goto out_nothread;
	}
	while (off < mp.size) {
		struct mapping *m = &mp.m[i];

		pthread_mutex_lock(&mp.mu);
		while (!m->full)
			pthread_cond_wait(&mp.cv, &mp.mu);
		pthread_mutex_unlock(&mp.mu);
		if (m->err != 0) {
			if (off == 0) {
				rc = 0;  /* e.g. a file system without mmap */
				goto out;
			}
			errno = m->err;
			ukit_fmt_errno(e, off, "mmap");
			goto out;
		}
		rc = ukit_stream_feed(o, sinks, nsinks, m->p, m->len, m->off, e);
		off += m->len;
		pthread_mutex_lock(&mp.mu);
		m->full = false;
		pthread_cond_broadcast(&mp.cv);
		pthread_mutex_unlock(&mp.mu);
		if (rc != 0) {
			rc = -1;
			goto out;
		}
		if (o->progress != NULL)
			o->progress(o->progress_arg, off);
		i ^= 1;
	}
	*total = mp.size;
	rc = 1;
out:
	pthread_mutex_lock(&mp.mu);
	mp.stop = true;
	pthread_cond_broadcast(&mp.cv);
	pthread_mutex_unlock(&mp.mu);
	pthread_join(th, NULL);
	for (int k = 0; k < 2; k++)
		if (mp.m[k].p != NULL && !mp.m[k].hole)
			munmap(mp.m[k].p, mp.m[k].len);
out_nothread:
	pthread_cond_destroy(&mp.cv);
	pthread_mutex_destroy(&mp.mu);
	return rc;
}

int ukit_stream_fd(int fd, const char *path, const struct stream_opts *o,
	      const struct stream_sink *sinks, size_t nsinks, uint64_t *total,
	      struct fmt_err *e)
{
	struct reader r = { .fd = fd, .limit = o->limit, .chunk = STREAM_CHUNK };
	pthread_t th;
	uint64_t done = 0;
	int rc = -1, i = 0;

	if (e != NULL)
		e->path = path;
	{
		int m = stream_mmap(fd, o, sinks, nsinks, total, e);
		if (m != 0)
			return m > 0 ? 0 : -1;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 && errno != ESPIPE)
		return ukit_fmt_errno(e, 0, "seek");
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (int k = 0; k < STREAM_SLOTS; k++) {
		/* page-aligned, as in stream.c: the kernel copies into it */
		if (posix_memalign((void **)&r.slot[k].buf, 4096, r.chunk) != 0)
			r.slot[k].buf = NULL;
		if (r.slot[k].buf == NULL) {
			for (int j = 0; j < k; j++)
				free(r.slot[j].buf);
			return ukit_fmt_errno(e, FMT_NOOFF, "out of memory");
		}
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	if ((errno = pthread_create(&th, NULL, reader_main, &r)) != 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot start reader thread");
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
			ukit_fmt_errno(e, s->off + s->len, "read");
			goto out;
		}
		if (ukit_stream_feed(o, sinks, nsinks, s->buf, s->len, s->off, e) != 0)
			goto out;
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
		i = (i + 1) % STREAM_SLOTS;
	}
	if (o->limit != STREAM_NO_LIMIT && done != o->limit) {
		ukit_fmt_errf(e, done, "file ends early (%llu < %llu bytes)",
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
	for (int k = 0; k < STREAM_SLOTS; k++)
		free(r.slot[k].buf);
	return rc;
}
