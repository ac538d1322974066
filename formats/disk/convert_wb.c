/*
 * convert_wb.c: the converter's writeback hints (see convert_int.h).
 *
 * Start writeback of what has been written every so often, so that the
 * fsync before the output is renamed into place finds little left to do
 * and the disk works while we read.  Starting writeback costs CPU time
 * (the file system allocates blocks and builds the I/O).  When the CPUs
 * compress, a helper thread does it every WRITEBACK_STEP bytes while the
 * compressing goes on.  When they only copy, the copying thread does it
 * itself, every WRITEBACK_STEP_INLINE bytes: a third thread would take
 * CPU from the copy, and smaller steps keep the dirty pages few (on this
 * 2-core VM, 1 GiB raw->qcow2 took 0.36-0.40 s with the helper, 0.33
 * inline every 4 MiB).  A hint: errors show up at that fsync.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "convert_int.h"

#define WRITEBACK_STEP (32u << 20) /* bytes between writeback hints... */
#define WRITEBACK_STEP_INLINE (4u << 20) /* ...given inline (copying) */

static void *wb_main(void *arg)
{
	struct wb *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->quit && w->asked == w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		w->done = w->asked;
		pthread_mutex_unlock(&w->mu);
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* (helper): hints from a helper thread, else inline. */
void ukit_convert_wb_start(struct wb *w, int fd, bool helper)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->step = helper ? WRITEBACK_STEP : WRITEBACK_STEP_INLINE;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->running = helper &&
		     pthread_create(&w->tid, NULL, wb_main, w) == 0;
}

/*
 * Is a hint due, now that (written) bytes are?  Called by one thread at
 * a time (it moves the mark); ukit_convert_wb_hint() may then be called by any.
 */
bool ukit_convert_wb_due(struct wb *w, uint64_t written)
{
	if (written - w->mark < w->step)
		return false;
	w->mark = written;
	return true;
}

void ukit_convert_wb_hint(struct wb *w)
{
	if (!w->running) {
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->asked++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void ukit_convert_start_writeback(struct wb *w, uint64_t written)
{
	if (!w->off && ukit_convert_wb_due(w, written))
		ukit_convert_wb_hint(w);
}

void ukit_convert_wb_stop(struct wb *w)
{
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->quit = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->tid, NULL);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}
