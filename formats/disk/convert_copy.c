/*
 * convert_copy.c: qcow2 output by copying (see convert_int.h).
 *
 * Uncompressed output from a raw (or ELF, bin) input: nothing to do but
 * copy.  The copy into the output's page cache dominates and the kernel
 * runs it one writer at a time, but a second thread can read the next
 * run from the input meanwhile, so COPY_THREADS threads (at most) take
 * turns: each takes the next run of consecutive data clusters (up to
 * COPY_RUN bytes), reads it with one call and finds its zero clusters,
 * then, in run order, gets host clusters for the non-zero ones, and
 * writes each stretch of them with one call (their host clusters are
 * consecutive) while the other thread reads.  Host clusters are handed
 * out in guest order whatever the number of threads, so the output is
 * the same.  Zero clusters are not written (fresh file space reads as
 * zeros).  Clusters larger than a run go piece by piece, in turn.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

#define COPY_RUN (1u << 20)

struct copier {
	struct qjob *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t issued, turn;   /* runs handed out; the run whose turn it is */
	uint64_t next;           /* the data cluster after the last run */
	bool have_next, end, stop;
	int rc;                  /* 0, or -1 with err */
	bool in_fault;
	struct fmt_err err;
};

/* With c->mu held: record the first error and stop everybody. */
static void copier_fail(struct copier *c, const struct fmt_err *e,
			bool in_fault)
{
	if (c->rc == 0) {
		c->rc = -1;
		c->err = *e;
		c->in_fault = in_fault;
	}
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
}

/*
 * With c->mu held: the next run of consecutive data clusters, at most
 * (per): 1 with (*first, *n, *ticket), 0 at the end (or when stopped),
 * -1 with (e).
 */
static int copier_take(struct copier *c, unsigned per, uint64_t *first,
		       unsigned *n, uint64_t *ticket, struct fmt_err *e)
{
	int r;

	if (c->stop || c->end)
		return 0;
	if (!c->have_next) {
		if ((r = ukit_convert_walk_next(&c->j->w, &c->next, e)) <= 0) {
			c->end = true;
			return r;
		}
	}
	c->have_next = false;
	*first = c->next;
	*n = 1;
	while (*n < per) {
		if ((r = ukit_convert_walk_next(&c->j->w, &c->next, e)) < 0)
			return -1;
		if (r == 0) {
			c->end = true;
			break;
		}
		if (c->next != *first + *n) {
			c->have_next = true;
			break;
		}
		(*n)++;
	}
	*ticket = c->issued++;
	return 1;
}

/*
 * Copying: give the output file its space ahead of the writes,
 * PREALLOC_STEP bytes at a time, and trim what is left over at the end.
 * A write into space the file system has already allocated skips its
 * per-block delayed-allocation bookkeeping: on this 2-core VM, 1 GiB
 * raw->qcow2 took the same wall time (0.31 s against 0.32, bound by the
 * disk's writeback) and 0.39 s of CPU time instead of 0.55.  In turn
 * (the host size moves).  Where fallocate() is not supported, or fails,
 * the writes go on without.
 */
#define PREALLOC_STEP (64u << 20)

static void copy_prealloc(struct qjob *j)
{
	uint64_t need = ukit_qcow2w_host_size(j->qw);

	while (!j->no_prealloc && need > j->prealloc) {
		if (j->prealloc > INT64_MAX - PREALLOC_STEP ||
		    fallocate(j->fd, 0, (off_t)j->prealloc,
			      PREALLOC_STEP) < 0) {
			j->no_prealloc = true;
			break;
		}
		j->prealloc += PREALLOC_STEP;
	}
}

/* A cluster larger than a run, piece by piece (in turn). */
static int copy_big(struct qjob *j, struct image *img, uint8_t *buf,
		    uint64_t idx, bool *in_fault, struct fmt_err *e)
{
	uint64_t cs = j->p->cs, off = idx * cs, end = off + cs, host = 0;
	bool started = false;

	if (end > j->p->size)
		end = j->p->size;
	for (uint64_t pos = off; pos < end;) {
		size_t n = end - pos < COPY_RUN ? (size_t)(end - pos) : COPY_RUN;

		if (ukit_image_read(img, buf, n, pos, e) < 0) {
			*in_fault = true;
			return -1;
		}
		if (started || !ukit_convert_all_zero(buf, n)) {
			if (!started && ukit_qcow2w_alloc(j->qw, idx, &host, e) < 0)
				return -1;
			if (!started)
				copy_prealloc(j);
			started = true;
			if (ukit_convert_pwrite_all(j->fd, buf, n,
						    host + (pos - off), e) < 0)
				return -1;
		}
		pos += n;
	}
	return 0;
}

/*
 * Write the non-zero stretches of a run of (n) clusters from (first),
 * held in (buf), to their host clusters (host[i], 0 for a zero cluster).
 * 0 or -1 with (e).
 */
static int copy_write(struct qjob *j, const uint8_t *buf, uint64_t first,
		      unsigned n, const uint64_t *host, struct fmt_err *e)
{
	uint64_t cs = j->p->cs, size = j->p->size;

	for (unsigned i = 0; i < n;) {
		unsigned k = i + 1;
		uint64_t len;

		if (host[i] == 0) {
			i++;
			continue;
		}
		while (k < n && host[k] == host[k - 1] + cs)
			k++;
		len = (k - i) * cs;
		if ((first + i) * cs + len > size)
			len = size - (first + i) * cs;  /* the image's tail */
		if (ukit_convert_pwrite_all(j->fd, buf + i * cs, len, host[i],
					    e) < 0)
			return -1;
		i = k;
	}
	return 0;
}

struct copy_thread {
	struct copier *c;
	struct image *img;       /* this thread's own handle */
};

static void *copy_main(void *arg)
{
	struct copy_thread *t = arg;
	struct copier *c = t->c;
	struct qjob *j = c->j;
	uint64_t cs = j->p->cs, size = j->p->size;
	unsigned per = cs >= COPY_RUN ? 1 : (unsigned)(COPY_RUN / cs);
	uint8_t *buf = ukit_convert_iobuf(COPY_RUN > cs ? COPY_RUN : cs);
	uint64_t *host = calloc(per, sizeof *host);
	struct fmt_err e = { 0 };
	bool in_fault = false;

	pthread_mutex_lock(&c->mu);
	if (buf == NULL || host == NULL) {
		ukit_fmt_errf(&e, FMT_NOOFF, "out of memory");
		goto fail;
	}
	for (;;) {
		uint64_t first = 0, ticket = 0, len, end;
		unsigned n = 0;
		bool hint;
		int r = copier_take(c, per, &first, &n, &ticket, &e);

		if (r < 0) {
			in_fault = true;
			goto fail;
		}
		if (r == 0)
			break;
		pthread_mutex_unlock(&c->mu);
		if (cs <= COPY_RUN) {
			/* read and look for zeros while the other writes */
			len = n * cs;
			if (first * cs + len > size) {
				memset(buf + (size - first * cs), 0,
				       len - (size - first * cs));
				len = size - first * cs;
			}
			r = ukit_image_read(t->img, buf, len, first * cs, &e);
			for (unsigned i = 0; r == 0 && i < n; i++)
				host[i] = !ukit_convert_all_zero(buf + i * cs,
								 cs);
		}
		pthread_mutex_lock(&c->mu);
		if (r < 0) {
			in_fault = true;
			goto fail;
		}
		while (!c->stop && c->turn != ticket)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		end = (first + n) * cs;
		if (cs > COPY_RUN) {
			if (copy_big(j, t->img, buf, first, &in_fault, &e) < 0)
				goto fail;
			n = 0;   /* written */
		}
		for (unsigned i = 0; i < n; i++) {
			if (host[i] != 0 &&
			    ukit_qcow2w_alloc(j->qw, first + i, &host[i], &e) < 0)
				goto fail;
		}
		copy_prealloc(j);
		hint = !j->wb.off &&
		       ukit_convert_wb_due(&j->wb,
					   ukit_qcow2w_host_size(j->qw));
		if (j->o->progress != NULL)
			j->o->progress(j->o->ctx, end < size ? end : size);
		c->turn++;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		if (hint)
			ukit_convert_wb_hint(&j->wb);
		r = copy_write(j, buf, first, n, host, &e);
		pthread_mutex_lock(&c->mu);
		if (r < 0)
			goto fail;
	}
	goto out;
fail:
	copier_fail(c, &e, in_fault);
out:
	pthread_mutex_unlock(&c->mu);
	free(buf);
	free(host);
	return NULL;
}

int ukit_convert_copy_inline(struct qjob *j, unsigned threads, bool *in_fault,
			     struct fmt_err *e)
{
	struct copier c;
	struct copy_thread t[COPY_THREADS];
	pthread_t tid[COPY_THREADS];
	unsigned nt = 0, started = 0;

	memset(&c, 0, sizeof c);
	c.j = j;
	if (threads > COPY_THREADS)
		threads = COPY_THREADS;
	/*
	 * Each thread reads through its own handle (the walker's is used
	 * under c.mu only); the calling thread is t[0], and fewer threads
	 * do when a handle cannot be opened.
	 */
	for (; nt < threads; nt++) {
		t[nt].c = &c;
		if (ukit_image_dup(j->p->img, &t[nt].img, e) < 0) {
			if (nt == 0) {
				*in_fault = true;
				return -1;
			}
			break;
		}
	}
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	for (unsigned i = 1; i < nt; i++, started++)
		if (pthread_create(&tid[i], NULL, copy_main, &t[i]) != 0)
			break;
	copy_main(&t[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < nt; i++)
		ukit_image_close(t[i].img);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	*in_fault = c.in_fault;
	if (c.rc < 0)
		*e = c.err;
	return c.rc;
}
