/*
 * qcow2.c: the qcow2 cluster reader.
 *
 * Trusts nothing in the file: the header is checked field by field in
 * ukit_qcow2_header_parse() (qcow2_fmt.c); L1 and L2 entries are checked against the virtual
 * size, the cluster alignment and the file size before anything is read
 * through them (with extended L2 entries, the subcluster bitmap too);
 * compressed clusters are inflated into a buffer of exactly one cluster.
 * Memory: the L1 entries the virtual size needs (at most
 * QCOW2_MAX_L1_BYTES) plus an L2 cache of QCOW2_L2_CACHE_BYTES plus three
 * cluster buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "io.h"
#include "bytes.h"
#include "qcow2.h"

#define QCOW2_READ_RUN_MAX (4u << 20)  /* bytes per coalesced pread */

struct l2slot {
	uint64_t l1i;           /* UINT64_MAX: empty */
	uint64_t *ent;          /* decoded entries */
};

struct qcow2 {
	int fd;
	char *path;             /* a copy: a backing file's name is freed */
	uint64_t file_size;
	struct ukit_qcow2_header h;
	uint64_t l2_entries;    /* entries per L2 table */
	uint64_t nclusters;     /* guest clusters in the virtual size */
	int64_t ncompressed;    /* compressed clusters, -1 if not counted */
	uint64_t *l1;           /* h.l1_needed entries */
	struct l2slot *cache;
	size_t ncache;
	uint8_t *cbuf;          /* compressed input, 2 clusters */
	uint8_t *dbuf;          /* decompressed cluster */
	uint64_t dbuf_host;     /* host offset held in dbuf, or UINT64_MAX */
	struct image *backing;
	int backing_fd;
	char *backing_path;     /* the name (backing) was opened by */
	image_open_fn open_backing;   /* NULL: backing files are refused */
};


/* ---- open ------------------------------------------------------------ */

bool ukit_qcow2_maybe_compressed(const struct qcow2 *q)
{
	if (q->ncompressed != 0)
		return true;
	return q->backing != NULL && ukit_image_qcow2(q->backing) != NULL &&
	       ukit_qcow2_maybe_compressed(ukit_image_qcow2(q->backing));
}

const struct ukit_qcow2_header *ukit_qcow2_header(const struct qcow2 *q)
{
	return &q->h;
}

uint64_t ukit_qcow2_file_size(const struct qcow2 *q)
{
	return q->file_size;
}

void ukit_qcow2_close(struct qcow2 *q)
{
	if (q == NULL)
		return;
	if (q->cache) {
		for (size_t i = 0; i < q->ncache; i++)
			free(q->cache[i].ent);
		free(q->cache);
	}
	ukit_image_close(q->backing);
	if (q->backing_fd >= 0)
		close(q->backing_fd);
	free(q->backing_path);
	free(q->l1);
	free(q->cbuf);
	free(q->dbuf);
	free(q->path);
	free(q);
}

int ukit_qcow2_dup(const struct qcow2 *q, struct qcow2 **out, struct fmt_err *e)
{
	struct qcow2 *d = calloc(1, sizeof *d);

	if (d == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	d->fd = q->fd;
	d->path = strdup(q->path);
	d->file_size = q->file_size;
	d->h = q->h;
	d->l2_entries = q->l2_entries;
	d->nclusters = q->nclusters;
	d->ncompressed = q->ncompressed;
	d->ncache = q->ncache;
	d->dbuf_host = UINT64_MAX;
	d->backing_fd = -1;      /* (q) owns it */
	d->l1 = malloc(q->h.l1_needed ? q->h.l1_needed * 8 : 8);
	d->cache = calloc(d->ncache, sizeof *d->cache);
	d->cbuf = malloc(2 * q->h.cluster_size);
	d->dbuf = malloc(q->h.cluster_size);
	if (!d->path || !d->l1 || !d->cache || !d->cbuf || !d->dbuf) {
		ukit_qcow2_close(d);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	if (q->backing != NULL && ukit_image_dup(q->backing, &d->backing, e) < 0) {
		ukit_qcow2_close(d);
		return -1;
	}
	if (q->backing_path != NULL &&
	    (d->backing_path = strdup(q->backing_path)) == NULL) {
		ukit_qcow2_close(d);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	memcpy(d->l1, q->l1, q->h.l1_needed * 8);
	for (size_t i = 0; i < d->ncache; i++)
		d->cache[i].l1i = UINT64_MAX;
	*out = d;
	return 0;
}

/*
 * (e) came from (q)'s backing file: say so in front, with the offset in
 * that file, and point (e) at (at) in (q) (FMT_NOOFF: nowhere in it).
 */
static int backing_err(const struct qcow2 *q, uint64_t at,
		       struct fmt_err *e)
{
	char msg[FMT_ERR_MSG], where[24] = "";

	snprintf(msg, sizeof msg, "%s", e->msg);
	if (e->off != FMT_NOOFF)
		snprintf(where, sizeof where, ":0x%" PRIx64, e->off);
	return ukit_fmt_errf(e, at, "backing file '%.60s'%s: %s",
			q->h.backing_file, where, msg);
}

struct image *ukit_qcow2_backing(const struct qcow2 *q, const char **path)
{
	if (q->backing == NULL)
		return NULL;
	*path = q->backing_path;
	return q->backing;
}

/*
 * The file on (fd) is one of the images (c) names, up the chain: the
 * chain loops.  1 and its name in (*name), or 0.
 */
static int chain_has(const struct image_chain *c, int fd, const char **name)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;       /* not a loop we can see; the open says more */
	for (; c != NULL; c = c->up) {
		if (c->dev == (uint64_t)st.st_dev &&
		    c->ino == (uint64_t)st.st_ino) {
			*name = c->path;
			return 1;
		}
	}
	return 0;
}

static int open_backing(struct qcow2 *q, unsigned flags,
			const struct image_chain *above, struct fmt_err *e)
{
	const struct ukit_qcow2_header *h = &q->h;
	char *full = NULL;
	const char *name = h->backing_file, *seen;
	enum ukit_image_format fmt = IMG_PROBE;
	struct image_opts o = { .allow_backing = true,
				.check = (flags & QCOW2_CHECK_FIRST) != 0,
				.force_share = (flags & QCOW2_FORCE_SHARE) != 0 };
	struct image_chain self = { .up = above, .path = q->path,
				    .depth = above ? above->depth + 1 : 0 };
	struct stat st;
	int fd;

	if (!(flags & QCOW2_ALLOW_BACKING) || q->open_backing == NULL)
		return ukit_fmt_errf(e, h->backing_file_offset, "image has a "
				"backing file '%s'; refusing to follow it "
				"without --allow-backing", h->backing_file);
	if (self.depth >= QCOW2_MAX_BACKING_DEPTH)
		return ukit_fmt_errf(e, h->backing_file_offset, "backing chain "
				"deeper than %d", QCOW2_MAX_BACKING_DEPTH);
	if (fstat(q->fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	self.dev = (uint64_t)st.st_dev;
	self.ino = (uint64_t)st.st_ino;
	if (strcmp(h->backing_fmt, "raw") == 0)
		fmt = IMG_RAW;
	else if (strcmp(h->backing_fmt, "qcow2") == 0)
		fmt = IMG_QCOW2;
	else if (h->backing_fmt[0] != 0)
		return ukit_fmt_errf(e, h->backing_file_offset, "backing file "
				"format '%s' not supported", h->backing_fmt);
	if (name[0] != '/' && strchr(q->path, '/') != NULL) {
		const char *slash = strrchr(q->path, '/');
		int dl = (int)(slash - q->path);

		if (asprintf(&full, "%.*s/%s", dl, q->path, name) < 0)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		name = full;
	} else if ((full = strdup(name)) == NULL) {
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ukit_fmt_errno(e, h->backing_file_offset, "cannot open backing "
			       "file '%s'", name);
		free(full);
		return -1;
	}
	/* qemu-img follows such a chain until memory runs out */
	if (chain_has(&self, fd, &seen)) {
		ukit_fmt_errf(e, h->backing_file_offset, "backing file '%s' of "
			      "'%s' creates an infinite loop", seen, q->path);
		close(fd);
		free(full);
		return -1;
	}
	if (q->open_backing(fd, name, fmt, &o, &self, &q->backing, e) < 0) {
		char msg[FMT_ERR_MSG];

		snprintf(msg, sizeof msg, "%s", e->msg);
		close(fd);
		free(full);
		/* a deeper level already named its file: pass it on */
		if (strncmp(msg, "backing ", 8) == 0)
			return ukit_fmt_errf(e, h->backing_file_offset, "%s", msg);
		return backing_err(q, h->backing_file_offset, e);
	}
	q->backing_path = full;
	q->backing_fd = fd;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * No L2 table may serve two L1 entries: qemu never writes that, and a
 * hostile image would use it to make a small file describe a huge amount
 * of data (reading time is bounded by the file then, not the tables).
 */
static int check_l2_unique(struct qcow2 *q, struct fmt_err *e)
{
	uint64_t *v, n = 0;

	for (uint64_t i = 0; i < q->h.l1_needed; i++)
		n += (q->l1[i] & QCOW2_OFFSET_MASK) != 0;
	if (n < 2)
		return 0;
	v = malloc(n * 8);
	if (v == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	n = 0;
	for (uint64_t i = 0; i < q->h.l1_needed; i++)
		if (q->l1[i] & QCOW2_OFFSET_MASK)
			v[n++] = q->l1[i] & QCOW2_OFFSET_MASK;
	qsort(v, n, 8, cmp_u64);
	for (uint64_t i = 1; i < n; i++) {
		if (v[i] != v[i - 1])
			continue;
		for (uint64_t j = 0; j < q->h.l1_needed; j++) {
			if ((q->l1[j] & QCOW2_OFFSET_MASK) != v[i])
				continue;
			ukit_fmt_errf(e, q->h.l1_table_offset + j * 8, "L1 entry %"
				 PRIu64 ": L2 table at 0x%" PRIx64 " is "
				 "used by another L1 entry too", j, v[i]);
			break;
		}
		free(v);
		return -1;
	}
	free(v);
	return 0;
}

/*
 * Run the consistency check (without inflating: reading does that) and
 * refuse the image at its first corruption: qemu's read path trusts the
 * refcounts and would read overlapping clusters as data.  Leaks are
 * harmless to a reader.  So are stale refcounts in an image whose dirty
 * bit is set: lazy refcounts leave them after a crash, qemu reads such an
 * image as it is (and rebuilds them at its next read-write open), and
 * overlaps are found from the references themselves, not the refcounts.
 * The check's memory is bounded, so an image with more host clusters than
 * it can count is refused too.
 */
static int check_first(struct qcow2 *q, unsigned flags, struct fmt_err *e)
{
	struct qcow2_check r;
	uint64_t nb = q->file_size / q->h.cluster_size + 1;
	uint64_t allowed = 0;    /* corruptions a reader may ignore */
	bool dirty = q->h.incompatible & QCOW2_INCOMPAT_DIRTY;
	int rc = 0;

	if (nb > QCOW2_CHECK_MAX_CLUSTERS)
		return ukit_fmt_errf(e, FMT_NOOFF, "image has %" PRIu64 " host "
				"clusters, more than the consistency check "
				"can count (%u); --no-check reads it without "
				"the check", nb, QCOW2_CHECK_MAX_CLUSTERS);
	if (ukit_qcow2_check_fd(q->fd, q->path, QCOW2_CHECK_NO_INFLATE, &r,
			   e) < 0) {
		ukit_qcow2_check_free(&r);
		return -1;
	}
	if (dirty)
		allowed += r.refcount_only;
	for (size_t i = 0; i < r.nfindings; i++) {
		const struct qcow2_finding *f = &r.findings[i];

		if (f->kind == QCOW2_F_LEAK || (dirty && f->refcount_only))
			continue;
		/* the corrupt bit was dealt with at open */
		if (f->kind == QCOW2_F_CORRUPTION && f->off == 72 &&
		    (flags & QCOW2_ALLOW_CORRUPT)) {
			allowed++;
			continue;
		}
		rc = ukit_fmt_errf(e, f->off, "%s%s", f->msg,
			      f->kind == QCOW2_F_CORRUPTION
			      ? " (image is corrupt; see 'ukit-pack check')"
			      : "");
		break;
	}
	/* findings past QCOW2_CHECK_MAX_FINDINGS are only counted */
	if (rc == 0 && (r.corruptions > allowed || r.check_errors > 0))
		rc = ukit_fmt_errf(e, FMT_NOOFF, "%" PRIu64 " corruptions and %"
			      PRIu64 " check errors (image is corrupt; see "
			      "'ukit-pack check')", r.corruptions - allowed,
			      r.check_errors);
	if (rc == 0)
		q->ncompressed = (int64_t)r.compressed_clusters;
	ukit_qcow2_check_free(&r);
	return rc;
}


int ukit_qcow2_open_depth(int fd, const char *path, unsigned flags,
		     const struct image_chain *above,
		     image_open_fn opener, struct qcow2 **out,
		     struct fmt_err *e)
{
	struct qcow2 *q;
	struct stat st;
	ssize_t n;
	uint64_t l1bytes;

	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	q = calloc(1, sizeof *q);
	if (q == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	q->fd = fd;
	q->backing_fd = -1;
	q->open_backing = opener;
	if ((q->path = strdup(path ? path : "")) == NULL) {
		free(q);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	q->ncompressed = -1;
	q->dbuf_host = UINT64_MAX;
	q->file_size = (uint64_t)st.st_size;

	if (ukit_qcow2_header_read(fd, q->file_size, &q->h, e) < 0) {
		ukit_qcow2_close(q);
		return -1;
	}
	if ((q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) &&
	    !(flags & QCOW2_ALLOW_CORRUPT)) {
		ukit_fmt_errf(e, 72, "image is marked corrupt (incompatible "
			 "feature bit 1); run 'ukit-pack check'");
		ukit_qcow2_close(q);
		return -1;
	}
	q->l2_entries = q->h.l2_entries;
	q->nclusters = q->h.size / q->h.cluster_size +
		       (q->h.size % q->h.cluster_size != 0);

	l1bytes = q->h.l1_needed * 8;
	if (l1bytes > 0 && !in_bounds(q->h.l1_table_offset, l1bytes,
				      q->file_size)) {
		uint64_t end = q->h.l1_table_offset + l1bytes;

		ukit_fmt_errf(e, 40, "L1 table extends past end of file "
				"(0x%" PRIx64 " > 0x%" PRIx64 ")", end,
				q->file_size);
		ukit_qcow2_close(q);
		return -1;
	}
	q->l1 = calloc(q->h.l1_needed ? q->h.l1_needed : 1, 8);
	q->ncache = QCOW2_L2_CACHE_BYTES / q->h.cluster_size;
	if (q->ncache < 2)
		q->ncache = 2;
	if (q->ncache > 256)
		q->ncache = 256;
	q->cache = calloc(q->ncache, sizeof *q->cache);
	q->cbuf = malloc(2 * q->h.cluster_size);
	q->dbuf = malloc(q->h.cluster_size);
	if (!q->l1 || !q->cache || !q->cbuf || !q->dbuf) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		ukit_qcow2_close(q);
		return -1;
	}
	for (size_t i = 0; i < q->ncache; i++)
		q->cache[i].l1i = UINT64_MAX;
	if (l1bytes > 0) {
		uint8_t *raw = (uint8_t *)q->l1;

		n = ukit_pread_full(fd, raw, l1bytes, (off_t)q->h.l1_table_offset);
		if (n < 0 || (uint64_t)n != l1bytes) {
			ukit_fmt_errno(e, q->h.l1_table_offset,
					 "reading the L1 table");
			ukit_qcow2_close(q);
			return -1;
		}
		for (uint64_t i = 0; i < q->h.l1_needed; i++)
			q->l1[i] = be64_load(raw + i * 8);
	}
	/* Check every L1 entry now: cheap, and errors show up at open. */
	for (uint64_t i = 0; i < q->h.l1_needed; i++) {
		uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK;
		uint64_t at = q->h.l1_table_offset + i * 8;

		if (l2off == 0)
			continue;
		if (l2off & (q->h.cluster_size - 1)) {
			ukit_fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table "
					"offset 0x%" PRIx64 " not aligned to "
					"the cluster size", i, l2off);
			ukit_qcow2_close(q);
			return -1;
		}
		if (!in_bounds(l2off, q->h.cluster_size, q->file_size)) {
			ukit_fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table "
					"at 0x%" PRIx64 " extends past end of "
					"file (0x%" PRIx64 ")", i, l2off,
					q->file_size);
			ukit_qcow2_close(q);
			return -1;
		}
		if (overlaps(l2off, q->h.cluster_size, q->h.l1_table_offset,
			     l1bytes) ||
		    overlaps(l2off, q->h.cluster_size,
			     q->h.refcount_table_offset,
			     (uint64_t)q->h.refcount_table_clusters *
			     q->h.cluster_size)) {
			ukit_fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table at 0x%"
				 PRIx64 " overlaps the L1 or refcount table",
				 i, l2off);
			ukit_qcow2_close(q);
			return -1;
		}
	}
	if (check_l2_unique(q, e) < 0 ||
	    ((flags & QCOW2_CHECK_FIRST) && check_first(q, flags, e) < 0)) {
		ukit_qcow2_close(q);
		return -1;
	}
	if (q->h.has_backing && open_backing(q, flags, above, e) < 0) {
		ukit_qcow2_close(q);
		return -1;
	}
	*out = q;
	return 0;
}

int ukit_qcow2_open(int fd, const char *path, unsigned flags, struct qcow2 **out,
	       struct fmt_err *e)
{
	return ukit_qcow2_open_depth(fd, path, flags, NULL, NULL, out, e);
}

/* ---- clusters -------------------------------------------------------- */

/* The L2 table for L1 index (l1i), or NULL for an unallocated one. */
static int l2_get(struct qcow2 *q, uint64_t l1i, const uint64_t **ent,
		  struct fmt_err *e)
{
	uint64_t l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	struct l2slot *s;
	ssize_t n;

	if (l2off == 0) {
		*ent = NULL;
		return 0;
	}
	s = &q->cache[l1i % q->ncache];
	if (s->l1i == l1i) {
		*ent = s->ent;
		return 0;
	}
	if (s->ent == NULL) {
		s->ent = malloc(q->h.cluster_size);
		if (s->ent == NULL)
			return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	s->l1i = UINT64_MAX;
	n = ukit_pread_full(q->fd, s->ent, q->h.cluster_size, (off_t)l2off);
	if (n < 0)
		return ukit_fmt_errno(e, l2off, "reading L2 table");
	if ((uint64_t)n != q->h.cluster_size)
		return ukit_fmt_errf(e, l2off, "L2 table extends past end of file "
				"(0x%" PRIx64 " > 0x%" PRIx64 ")",
				l2off + q->h.cluster_size, q->file_size);
	for (uint64_t i = 0; i < q->h.cluster_size / 8; i++)
		s->ent[i] = be64_load((uint8_t *)s->ent + i * 8);
	s->l1i = l1i;
	*ent = s->ent;
	return 0;
}

/*
 * Extended L2 entries: the type of a standard cluster from its subcluster
 * bitmap (at (at)), as the qcow2 spec defines it: every subcluster
 * allocated is NORMAL, none allocated and all or none zero is ZERO or
 * HOLE, anything else MIXED.  A subcluster both allocated and zero, or
 * allocated without a host cluster, is refused (qemu-img check calls both
 * corruptions).  0 or -1 with (e).
 */
static int subclusters(struct ukit_qcow2_cluster *c, uint64_t host,
		       uint64_t bitmap, uint64_t vc, uint64_t cs, uint64_t at,
		       struct fmt_err *e)
{
	uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);

	if (alloc & zero)
		return ukit_fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": subcluster bitmap 0x%016" PRIx64 " marks "
				"subclusters both allocated and zero",
				vc * cs, bitmap);
	if (host == 0 && alloc != 0)
		return ukit_fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": subcluster bitmap 0x%016" PRIx64 " marks "
				"subclusters allocated in an unallocated "
				"cluster", vc * cs, bitmap);
	c->alloc = alloc;
	c->zero = zero;
	if (alloc == UINT32_MAX)
		c->type = QCOW2_C_NORMAL;
	else if (alloc == 0 && zero == UINT32_MAX)
		c->type = QCOW2_C_ZERO;
	else if (alloc == 0 && zero == 0)
		c->type = QCOW2_C_HOLE;
	else
		c->type = QCOW2_C_MIXED;
	return 0;
}

/* Entry (l2i) of the L2 table (l2) of L1 index (l1i): guest cluster
 * (vc), checked. */
static int decode(const struct qcow2 *q, uint64_t l1i, const uint64_t *l2,
		  uint64_t l2i, uint64_t vc, struct ukit_qcow2_cluster *c,
		  struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size, esize = q->h.extended_l2 ? 16 : 8;
	uint64_t ent, bitmap = 0, at, host;

	memset(c, 0, sizeof *c);
	at = (q->l1[l1i] & QCOW2_OFFSET_MASK) + l2i * esize;
	ent = l2[l2i * (esize / 8)];
	if (q->h.extended_l2)
		bitmap = l2[l2i * 2 + 1];
	if (ent & QCOW2_OFLAG_COMPRESSED) {
		uint64_t ns;

		if (bitmap != 0)
			return ukit_fmt_errf(e, at + 8, "L2 entry for guest offset "
					"0x%" PRIx64 ": compressed cluster with "
					"subcluster bitmap 0x%016" PRIx64
					" (must be 0)", vc * cs, bitmap);
		ukit_qcow2_compressed_desc(q->h.cluster_bits, ent, &host, &ns);
		c->type = QCOW2_C_COMPRESSED;
		c->host = host;
		c->csize = ns * 512 - (host & 511);
		if (host == 0 || host >= q->file_size)
			return ukit_fmt_errf(e, at, "L2 entry for guest offset 0x%"
					PRIx64 ": compressed data at 0x%" PRIx64
					" past end of file (0x%" PRIx64 ")",
					vc * cs, host, q->file_size);
		return 0;
	}
	host = ent & QCOW2_OFFSET_MASK;
	if (q->h.extended_l2) {
		/* bit 0 is not the zero flag here: the bitmap says */
		if (subclusters(c, host, bitmap, vc, cs, at + 8, e) < 0)
			return -1;
	} else if (ent & QCOW2_OFLAG_ZERO) {
		c->type = QCOW2_C_ZERO;
	} else if (host == 0) {
		c->type = QCOW2_C_HOLE;
		return 0;
	} else {
		c->type = QCOW2_C_NORMAL;
	}
	if (host == 0)
		return 0;
	if (host & (cs - 1))
		return ukit_fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": data offset 0x%" PRIx64 " not aligned to "
				"the cluster size", vc * cs, host);
	/* zeros and (extended L2) unallocated clusters that keep their
	 * host cluster: qemu-img map shows it, and nothing reads it */
	if ((c->type == QCOW2_C_NORMAL || c->alloc != 0) &&
	    host >= q->file_size)
		return ukit_fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": data at 0x%" PRIx64 " past end of file "
				"(0x%" PRIx64 ")", vc * cs, host,
				q->file_size);
	c->host = host;
	return 0;
}

int ukit_qcow2_cluster(struct qcow2 *q, uint64_t vc, struct ukit_qcow2_cluster *c,
		  struct fmt_err *e)
{
	uint64_t l1i = vc / q->l2_entries;
	const uint64_t *l2 = NULL;

	memset(c, 0, sizeof *c);
	if (vc >= q->nclusters)
		return ukit_fmt_errf(e, FMT_NOOFF, "guest cluster %" PRIu64
				" past the virtual size", vc);
	if (l2_get(q, l1i, &l2, e) < 0)
		return -1;
	if (l2 == NULL) {
		c->type = QCOW2_C_HOLE;
		return 0;
	}
	return decode(q, l1i, l2, vc % q->l2_entries, vc, c, e);
}

/* Does (b), (k) clusters after (a), go on a run of (a) (flags)? */
static bool run_goes_on(const struct ukit_qcow2_cluster *a,
			const struct ukit_qcow2_cluster *b, uint64_t k,
			uint64_t cs, unsigned flags)
{
	if (a->type != b->type || a->type == QCOW2_C_MIXED)
		return false;
	if (!(flags & QCOW2_RUN_CONTIG) || a->type == QCOW2_C_COMPRESSED)
		return true;
	if (a->host == 0 || b->host == 0)
		return a->host == b->host;
	return b->host == a->host + k * cs;
}

/*
 * Standard L2 entries from guest cluster (v) before (end), in the L2
 * table (l2) whose first entry is guest cluster (base), that go on the run of (a) plainly: holes
 * that are all zero bits, data clusters without other flags, aligned and
 * inside the file.  Where the next cluster is another kind or needs a
 * closer look, decode() says.
 */
static uint64_t run_fast(const struct qcow2 *q, const uint64_t *l2,
			 uint64_t base, uint64_t v, uint64_t end,
			 const struct ukit_qcow2_cluster *a, unsigned flags)
{
	uint64_t cs = q->h.cluster_size, want = a->host + cs;

	if (a->type == QCOW2_C_HOLE) {
		while (v < end && l2[v - base] == 0)
			v++;
	} else if (a->type == QCOW2_C_NORMAL) {
		for (; v < end; v++, want += cs) {
			uint64_t ent = l2[v - base];
			uint64_t host = ent & QCOW2_OFFSET_MASK;

			if ((ent & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO)) ||
			    host == 0 || (host & (cs - 1)) ||
			    host >= q->file_size ||
			    ((flags & QCOW2_RUN_CONTIG) && host != want))
				break;
		}
	}
	return v;
}

int ukit_qcow2_run(struct qcow2 *q, uint64_t vc, uint64_t max, unsigned flags,
		   struct ukit_qcow2_run *r, struct fmt_err *e)
{
	uint64_t span = q->l2_entries, l1i = vc / span;
	uint64_t end = (l1i + 1) * span, v;
	const uint64_t *l2 = NULL;
	struct ukit_qcow2_cluster nx;

	memset(r, 0, sizeof *r);
	if (vc >= q->nclusters)
		return ukit_fmt_errf(e, FMT_NOOFF, "guest cluster %" PRIu64
				" past the virtual size", vc);
	if (max > q->nclusters)
		max = q->nclusters;
	if (max <= vc)
		max = vc + 1;
	if (end > max)
		end = max;
	if (l2_get(q, l1i, &l2, e) < 0)
		return -1;
	if (l2 == NULL) {
		r->c.type = QCOW2_C_HOLE;
		r->n = end - vc;
		return 0;
	}
	if (decode(q, l1i, l2, vc % span, vc, &r->c, e) < 0)
		return -1;
	v = vc + 1;
	if (!q->h.extended_l2)
		v = run_fast(q, l2, l1i * span, v, end, &r->c, flags);
	for (; v < end; v++) {
		if (decode(q, l1i, l2, v % span, v, &nx, e) < 0)
			return -1;
		if (!run_goes_on(&r->c, &nx, v - vc, q->h.cluster_size,
				 flags))
			break;
	}
	r->n = v - vc;
	return 0;
}

static enum extent_kind kind_of(const struct qcow2 *q, enum qcow2_ctype t)
{
	switch (t) {
	case QCOW2_C_HOLE:
		return q->backing ? EXT_DATA : EXT_HOLE;
	case QCOW2_C_ZERO:
		return EXT_ZERO;
	default:                /* MIXED: read subcluster by subcluster */
		return EXT_DATA;
	}
}

int ukit_qcow2_map(struct qcow2 *q, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size, vc = off / cs, end;
	uint64_t span = q->l2_entries;    /* clusters per L1 entry */
	struct ukit_qcow2_cluster c;
	enum extent_kind k;

	if (off >= q->h.size)
		return ukit_fmt_errf(e, FMT_NOOFF, "map offset 0x%" PRIx64
				" past the virtual size", off);
	if (ukit_qcow2_cluster(q, vc, &c, e) < 0)
		return -1;
	k = kind_of(q, c.type);
	vc++;
	/* Merge: whole unallocated L2 tables at once, else cluster by
	 * cluster up to the end of this L2 table's span plus more tables,
	 * bounded so one call does bounded work. */
	for (uint64_t budget = 4 * span; vc < q->nclusters && budget > 0;
	     budget--) {
		if ((vc % span) == 0 && (q->l1[vc / span] &
					 QCOW2_OFFSET_MASK) == 0) {
			if (kind_of(q, QCOW2_C_HOLE) != k)
				break;
			vc += span;
			continue;
		}
		if (ukit_qcow2_cluster(q, vc, &c, e) < 0)
			return -1;
		if (kind_of(q, c.type) != k)
			break;
		vc++;
	}
	end = vc * cs;
	if (end > q->h.size || vc > q->nclusters)
		end = q->h.size;
	ext->off = off;
	ext->len = end - off;
	ext->kind = k;
	return 0;
}

/* The type of subcluster (i) of a MIXED cluster (c). */
static enum qcow2_ctype sc_type(const struct ukit_qcow2_cluster *c, unsigned i)
{
	if (c->alloc & (1u << i))
		return QCOW2_C_NORMAL;
	return (c->zero & (1u << i)) ? QCOW2_C_ZERO : QCOW2_C_HOLE;
}

/* Read the bytes of cluster (c) from (coff) into (buf, len). */
static int read_cluster(struct qcow2 *q, const struct ukit_qcow2_cluster *c,
			uint64_t vc, uint64_t coff, uint8_t *buf, size_t len,
			struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size;
	ssize_t n;

	switch (c->type) {
	case QCOW2_C_HOLE:
		if (q->backing) {
			uint64_t voff = vc * cs + coff;
			uint64_t bsize = ukit_image_size(q->backing);
			size_t in = 0;

			if (voff < bsize)
				in = (size_t)(bsize - voff < len ?
					      bsize - voff : len);
			if (in && ukit_image_read(q->backing, buf, in, voff, e) < 0)
				return backing_err(q, FMT_NOOFF, e);
			memset(buf + in, 0, len - in);
			return 0;
		}
		/* fall through */
	case QCOW2_C_ZERO:
		memset(buf, 0, len);
		return 0;
	case QCOW2_C_NORMAL:
		n = ukit_pread_full(q->fd, buf, len, (off_t)(c->host + coff));
		if (n < 0)
			return ukit_fmt_errno(e, c->host + coff, "read");
		/* a last cluster cut short by the end of file reads as
		 * zeros, as in qemu; a cluster starting past EOF was
		 * refused by ukit_qcow2_cluster() */
		memset(buf + n, 0, len - (size_t)n);
		return 0;
	case QCOW2_C_COMPRESSED:
		if (q->dbuf_host != c->host) {
			uint64_t csize = c->csize;

			if (csize > 2 * cs)
				csize = 2 * cs;
			if (c->host + csize > q->file_size)
				csize = q->file_size - c->host;
			q->dbuf_host = UINT64_MAX;
			n = ukit_pread_full(q->fd, q->cbuf, csize, (off_t)c->host);
			if (n < 0)
				return ukit_fmt_errno(e, c->host, "read");
			if (ukit_qcow2_decompress(q->h.compression_type, q->cbuf,
					     (size_t)n, q->dbuf, cs, c->host,
					     e) < 0)
				return -1;
			q->dbuf_host = c->host;
		}
		memcpy(buf, q->dbuf + coff, len);
		return 0;
	case QCOW2_C_MIXED:
		/* each run of subclusters of one kind as a cluster of it */
		for (size_t done = 0; done < len;) {
			uint64_t scs = cs / QCOW2_SUBCLUSTERS, pos = coff + done;
			unsigned i = (unsigned)(pos / scs), j = i + 1;
			struct ukit_qcow2_cluster sub = { .host = c->host };
			size_t run;

			sub.type = sc_type(c, i);
			while (j < QCOW2_SUBCLUSTERS && sc_type(c, j) == sub.type)
				j++;
			run = j * scs - pos < len - done ? (size_t)(j * scs - pos)
							 : len - done;
			if (read_cluster(q, &sub, vc, pos, buf + done, run,
					 e) < 0)
				return -1;
			done += run;
		}
		return 0;
	}
	return ukit_fmt_errf(e, FMT_NOOFF, "bad cluster type");
}

int ukit_qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size, end;
	uint8_t *p = buf;

	if (ck_add(off, len, &end) || end > q->h.size)
		return ukit_fmt_errf(e, FMT_NOOFF, "read of %zu bytes at 0x%" PRIx64
				" past the virtual size 0x%" PRIx64, len, off,
				q->h.size);
	while (len > 0) {
		uint64_t vc = off / cs, coff = off % cs;
		size_t n = (size_t)(cs - coff < len ? cs - coff : len);
		struct ukit_qcow2_cluster c;

		if (ukit_qcow2_cluster(q, vc, &c, e) < 0)
			return -1;
		/* contiguous host clusters: one pread for the run */
		while (c.type == QCOW2_C_NORMAL && n < len &&
		       n < QCOW2_READ_RUN_MAX) {
			struct ukit_qcow2_cluster c2;
			uint64_t next = (off + n) / cs;

			if (ukit_qcow2_cluster(q, next, &c2, e) < 0)
				return -1;
			if (c2.type != QCOW2_C_NORMAL ||
			    c2.host != c.host + (next - vc) * cs ||
			    c2.host >= q->file_size)
				break;
			n += (size_t)(cs < len - n ? cs : len - n);
		}
		if (read_cluster(q, &c, vc, coff, p, n, e) < 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- the image interface ---------------------------------------------- */

static int ops_map(void *q, uint64_t off, struct image_extent *ext,
		   struct fmt_err *e)
{
	return ukit_qcow2_map(q, off, ext, e);
}

static int ops_read(void *q, void *buf, size_t len, uint64_t off,
		    struct fmt_err *e)
{
	return ukit_qcow2_read(q, buf, len, off, e);
}

static int ops_dup(const void *q, void **out, struct fmt_err *e)
{
	struct qcow2 *d;

	if (ukit_qcow2_dup(q, &d, e) < 0)
		return -1;
	*out = d;
	return 0;
}

static void ops_close(void *q)
{
	ukit_qcow2_close(q);
}

const struct image_ops ukit_qcow2_image_ops = {
	.map = ops_map, .read = ops_read, .dup = ops_dup, .close = ops_close,
};
