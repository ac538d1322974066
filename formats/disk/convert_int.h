/*
 * convert_int.h: what the parts of the converter (convert.h) share.
 * Internal to libukit's disk layer.
 *
 *   convert_comp.c   the compression context, one per thread
 *   convert_pool.c   the input walk and the worker pool pipeline
 *   convert_wb.c     writeback hints while the output is written
 *   convert.c        qcow2 output over the pipeline
 *   convert_copy.c   qcow2 output by copying (uncompressed, raw input)
 *   convert_raw.c    sparse raw output over the pipeline
 */
#ifndef UKIT_CONVERT_INT_H
#define UKIT_CONVERT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>
#include <zstd.h>

#include "convert.h"
#include "err.h"
#include "image.h"
#include "qcow2w.h"

#define RAW_CHUNK (1u << 20)     /* bytes read at a time when not compressing */
#define COPY_THREADS 2           /* copying: threads taking turns (at most) */

/* ---- convert_comp.c: compression -------------------------------------- */

struct deflate;

struct zctx {
	enum qcow2w_comp comp;
	int level;
	bool zinit, iinit;
	z_stream z;              /* zlib deflate: levels other than 6 */
	z_stream iz;             /* zlib inflate: checks ukit's deflate */
	struct deflate *df;      /* ukit's deflate: level 6 */
	uint8_t *check;          /* one cluster, inflated back */
	size_t check_len;
	ZSTD_CCtx *zs;
};

/* Set up (c) for (comp) at (level) (-1: the default).  0, or -1: call
 * ukit_convert_zctx_fini() all the same. */
int ukit_convert_zctx_init(struct zctx *c, enum qcow2w_comp comp, int level);
void ukit_convert_zctx_fini(struct zctx *c);
/* Compress (in, len) into at most (cap) bytes at (out): the compressed
 * length, or 0 if it does not fit. */
size_t ukit_convert_zctx_run(struct zctx *c, const void *in, size_t len,
			     void *out, size_t cap);
/* Bytes that look uniformly random (not worth trying to compress). */
bool ukit_convert_looks_uniform(const uint8_t *p, size_t n);

/* ---- convert_pool.c: the input walk ----------------------------------- */

struct walk {
	struct image *img;
	uint64_t size;           /* ukit_image_size() */
	uint64_t cs;
	uint64_t pos;            /* virtual offset scanned up to */
	struct image_extent ext;
	bool have_ext;
};

/*
 * The next cluster (from walk->pos on) that overlaps data.  1 and (*idx),
 * 0 at the end, -1 with (e).
 */
int ukit_convert_walk_next(struct walk *w, uint64_t *idx, struct fmt_err *e);

/* ---- convert_pool.c: the pipeline ------------------------------------- */

/*
 * A slot is one unit of work: a few guest clusters (qcow2 output) or a
 * byte range (raw output).  The calling thread fills slots in guest
 * order with what to read; workers read (each through its own image
 * handle), detect zeros and compress or, for raw output, write; the
 * calling thread takes slots back in ring order.
 */
enum { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };
enum { CL_ZERO, CL_RAW, CL_COMP };

struct slot {
	int state;
	unsigned n;              /* clusters (qcow2) */
	uint64_t *idx;           /* guest cluster indices */
	uint64_t off, len;       /* byte range (raw) */
	uint8_t *in;             /* n clusters, or the range */
	uint8_t *out;            /* n compressed clusters, cs - 1 each */
	uint32_t *len_c;         /* compressed lengths */
	uint8_t *kind;
	int rc;                  /* 0, or -1 with err */
	struct fmt_err err;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* state changes */
	struct slot *slots;
	unsigned nslots, per_slot;
	uint64_t filled;         /* slots published */
	uint64_t taken;          /* slots taken by workers */
	bool quit;
	enum qcow2w_comp comp;
	int level;
	uint64_t cs;             /* cluster size, or raw chunk size */
	uint64_t size;           /* image size */
	bool raw;                /* raw output mode */
	int ofd;                 /* raw output */
	const struct image *img; /* the input: workers read through dups */
	const char *ipath;
	enum ukit_image_format fmt;
};

/* A page-aligned buffer for file data (free() it). */
void *ukit_convert_iobuf(size_t n);
bool ukit_convert_all_zero(const uint8_t *p, size_t n);
/* Write all of (p, len) at (off) of (fd): 0, or -1 with (e). */
int ukit_convert_pwrite_all(int fd, const uint8_t *p, size_t len,
			    uint64_t off, struct fmt_err *e);

/*
 * Run the pipeline: (fill) puts the next work into a slot (returns 1,
 * or 0 at the end, or -1 with (e)), (drain) takes a done slot back in
 * order (0 or -1 with (e)), (flush), if not NULL, runs before drained
 * slots are reused.  Returns 0, or -1 with (e) and *input_fault
 * telling whose file is at fault.
 */
int ukit_convert_pool_run(struct pool *p, unsigned threads,
			  int (*fill)(void *ctx, struct slot *s,
				      struct fmt_err *e),
			  int (*drain)(void *ctx, struct slot *s,
				       struct fmt_err *e),
			  int (*flush)(void *ctx, struct fmt_err *e),
			  void *ctx, bool *input_fault, struct fmt_err *e);
/* (p) for converting (img) with (o); the caller sets the output mode. */
void ukit_convert_pool_setup(struct pool *p, struct image *img,
			     const char *ipath, const struct convert_opts *o);
/* (o->threads) within 1..CONVERT_MAX_THREADS. */
unsigned ukit_convert_nthreads(const struct convert_opts *o);

/* ---- convert_wb.c: writeback hints ------------------------------------ */

struct wb {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	int fd;
	bool running, quit;
	uint64_t step;
	uint64_t asked, done;    /* hints given, hints acted on */
	uint64_t mark;           /* bytes written at the last hint */
	bool off;                /* no hints: nothing will be flushed */
};

/* (helper): hints from a helper thread, else inline. */
void ukit_convert_wb_start(struct wb *w, int fd, bool helper);
/*
 * Is a hint due, now that (written) bytes are?  Called by one thread at
 * a time (it moves the mark); ukit_convert_wb_hint() may then be called
 * by any.
 */
bool ukit_convert_wb_due(struct wb *w, uint64_t written);
void ukit_convert_wb_hint(struct wb *w);
/* A hint if one is due and hints are not off. */
void ukit_convert_start_writeback(struct wb *w, uint64_t written);
void ukit_convert_wb_stop(struct wb *w);

/* ---- convert.c, convert_copy.c: qcow2 output -------------------------- */

struct qjob {
	int fd;
	uint64_t prealloc;       /* output bytes given space (copying) */
	bool no_prealloc;        /* the file system said no */
	struct wb wb;
	struct pool *p;
	struct walk w;
	struct qcow2w *qw;
	const struct convert_opts *o;
};

/*
 * Uncompressed qcow2 output from a raw (or ELF, bin) input, by at most
 * (threads) (COPY_THREADS) threads taking turns.  0, or -1 with (e) and
 * (*in_fault) telling whether the input is at fault.
 */
int ukit_convert_copy_inline(struct qjob *j, unsigned threads, bool *in_fault,
			     struct fmt_err *e);

#endif
