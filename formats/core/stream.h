/*
 * stream.h: one read pass over an image, in constant memory, handing every
 * chunk to any number of consumers (SHA-256 here; a dm-verity tree, ...)
 * and optionally copying it to a "tee" descriptor (a memfd that is later
 * executed: the bytes that were hashed are the bytes that run).
 */
#ifndef UKIT_STREAM_H
#define UKIT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define STREAM_CHUNK  (256u << 10) /* bytes per read: fits L2 while hashed */
#define STREAM_SLOTS  4            /* buffers in flight */
#define STREAM_WINDOW (2u << 20)   /* bytes mapped at a time (regular files) */
#define STREAM_NO_LIMIT UINT64_MAX

/*
 * A consumer: (update) gets each chunk in order with its offset; it
 * returns 0, or -1 with (e) set, which stops the pass.
 */
struct stream_sink {
	int  (*update)(void *ctx, const uint8_t *buf, size_t len, uint64_t off,
		       struct fmt_err *e);
	void  *ctx;
};

struct stream_opts {
	int      tee_fd;          /* -1: none; else every byte is written here */
	uint64_t limit;           /* read exactly this many bytes (a short file
				     is an error), or STREAM_NO_LIMIT: to EOF */
	void   (*progress)(void *arg, uint64_t done);  /* may be NULL */
	void    *progress_arg;
};

/*
 * Read (fd) from offset 0 in one sequential pass and feed every sink.
 * (*total) gets the number of bytes read.  Memory: two STREAM_WINDOW
 * mappings (regular files) or STREAM_SLOTS * STREAM_CHUNK bytes of
 * buffers (other files), whatever the size.  0 or -1 with (e).
 */
int ukit_stream_fd(int fd, const char *path, const struct stream_opts *o,
	      const struct stream_sink *sinks, size_t nsinks, uint64_t *total,
	      struct fmt_err *e);

/*
 * ukit_stream_fd() with one STREAM_CHUNK buffer and plain read(): no threads,
 * no mappings, the least code (stream.c; ukit_stream_fd() is stream_fast.c).
 */
int ukit_stream_read(int fd, const char *path, const struct stream_opts *o,
		const struct stream_sink *sinks, size_t nsinks,
		uint64_t *total, struct fmt_err *e);

/* Hand (buf) at (off) to every sink and the tee.  0 or -1 with (e). */
int ukit_stream_feed(const struct stream_opts *o, const struct stream_sink *sinks,
		size_t nsinks, const uint8_t *buf, size_t len, uint64_t off,
		struct fmt_err *e);

/* SHA-256 as a sink. */
struct stream_sha256 {
	EVP_MD_CTX *md;
};
int  ukit_stream_sha256_init(struct stream_sha256 *s, struct fmt_err *e);
int  ukit_stream_sha256_update(void *ctx, const uint8_t *buf, size_t len,
			  uint64_t off, struct fmt_err *e);
int  ukit_stream_sha256_final(struct stream_sha256 *s, uint8_t out[32],
			 struct fmt_err *e);
void ukit_stream_sha256_free(struct stream_sha256 *s);

#endif
