/*
 * qcow2.c: qcow2 header parser and cluster reader.
 *
 * Trusts nothing in the file: the header is checked field by field in
 * qcow2_header_parse(); L1 and L2 entries are checked against the virtual
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

#include "bytes.h"
#include "outfile.h"
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
	struct qcow2_header h;
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
};

/* ---- header ---------------------------------------------------------- */

int qcow2_header_parse(const uint8_t *buf, size_t len,
		       struct qcow2_header *out, struct fmt_err *e)
{
	struct qcow2_header h;
	uint64_t span, need, end, ext, limit;

	memset(&h, 0, sizeof h);
	if (len < QCOW2_V2_HDR_LEN)
		return fmt_errf(e, 0, "file too short for a qcow2 header "
				"(%zu < %d bytes)", len, QCOW2_V2_HDR_LEN);
	if (be32_load(buf) != QCOW2_MAGIC)
		return fmt_errf(e, 0, "not a qcow2 image (bad magic 0x%08"
				PRIx32 ")", be32_load(buf));
	h.version = be32_load(buf + 4);
	if (h.version != 2 && h.version != 3)
		return fmt_errf(e, 4, "unsupported qcow2 version %" PRIu32
				" (want 2 or 3)", h.version);
	h.cluster_bits = be32_load(buf + 20);
	if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h.cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return fmt_errf(e, 20, "cluster_bits %" PRIu32 " outside %d..%d",
				h.cluster_bits, QCOW2_MIN_CLUSTER_BITS,
				QCOW2_MAX_CLUSTER_BITS);
	h.cluster_size = 1ULL << h.cluster_bits;
	h.backing_file_offset = be64_load(buf + 8);
	h.backing_file_size = be32_load(buf + 16);
	h.size = be64_load(buf + 24);
	h.crypt_method = be32_load(buf + 32);
	h.l1_size = be32_load(buf + 36);
	h.l1_table_offset = be64_load(buf + 40);
	h.refcount_table_offset = be64_load(buf + 48);
	h.refcount_table_clusters = be32_load(buf + 56);
	h.nb_snapshots = be32_load(buf + 60);
	h.snapshots_offset = be64_load(buf + 64);
	if (h.version == 2) {
		h.refcount_order = 4;
		h.header_length = QCOW2_V2_HDR_LEN;
	} else {
		if (len < QCOW2_V3_HDR_LEN)
			return fmt_errf(e, 0, "file too short for a qcow2 v3 "
					"header (%zu < %d bytes)", len,
					QCOW2_V3_HDR_LEN);
		h.incompatible = be64_load(buf + 72);
		h.compatible = be64_load(buf + 80);
		h.autoclear = be64_load(buf + 88);
		h.refcount_order = be32_load(buf + 96);
		h.header_length = be32_load(buf + 100);
		if (h.header_length < QCOW2_V3_HDR_LEN)
			return fmt_errf(e, 100, "header_length %" PRIu32
					" too small (< %d)", h.header_length,
					QCOW2_V3_HDR_LEN);
		if (h.header_length > h.cluster_size)
			return fmt_errf(e, 100, "header_length %" PRIu32
					" exceeds the cluster size %" PRIu64,
					h.header_length, h.cluster_size);
		if (h.header_length > len)
			return fmt_errf(e, 100, "header_length %" PRIu32
					" extends past end of file (%zu bytes)",
					h.header_length, len);
		if (h.header_length % 8 != 0)
			return fmt_errf(e, 100, "header_length %" PRIu32
					" not a multiple of 8", h.header_length);
		if (h.header_length > QCOW2_V3_HDR_LEN)
			h.compression_type = buf[104];
	}
	if (h.crypt_method != 0)
		return fmt_errf(e, 32, "encrypted images are not supported "
				"(crypt_method %" PRIu32 ")", h.crypt_method);
	if (h.refcount_order > 6)
		return fmt_errf(e, 96, "refcount_order %" PRIu32
				" outside 0..6", h.refcount_order);
	if (h.incompatible & ~QCOW2_INCOMPAT_KNOWN)
		return fmt_errf(e, 72, "unknown incompatible feature bits 0x%"
				PRIx64, (uint64_t)(h.incompatible & ~QCOW2_INCOMPAT_KNOWN));
	if (h.incompatible & QCOW2_INCOMPAT_DATA_FILE)
		return fmt_errf(e, 72, "external data files are not supported "
				"(incompatible feature bit 2)");
	h.extended_l2 = h.incompatible & QCOW2_INCOMPAT_EXTL2;
	if (h.extended_l2 && h.cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return fmt_errf(e, 20, "extended L2 entries (incompatible "
				"feature bit 4) with %" PRIu64 "-byte clusters: "
				"subclusters would be smaller than 512 bytes",
				h.cluster_size);
	if (h.compression_type > QCOW2_COMPRESS_ZSTD)
		return fmt_errf(e, 104, "unknown compression type %u",
				h.compression_type);
	if (h.compression_type != QCOW2_COMPRESS_ZLIB &&
	    !(h.incompatible & QCOW2_INCOMPAT_COMPRESSION))
		return fmt_errf(e, 72, "compression type %u without the "
				"compression type feature bit",
				h.compression_type);
	if (h.compression_type == QCOW2_COMPRESS_ZLIB &&
	    (h.incompatible & QCOW2_INCOMPAT_COMPRESSION))
		return fmt_errf(e, 72, "compression type feature bit set "
				"with zlib compression");

	/* Virtual size against the L1 table (checked before any shift). */
	if (h.size > (uint64_t)INT64_MAX)
		return fmt_errf(e, 24, "virtual size 0x%" PRIx64 " too large",
				h.size);
	h.l2_entries = h.cluster_size / (h.extended_l2 ? 16 : 8);
	span = h.cluster_size * h.l2_entries;   /* bytes per L2 table */
	need = h.size / span + (h.size % span != 0);
	if (need > QCOW2_MAX_L1_BYTES / 8)
		return fmt_errf(e, 24, "virtual size 0x%" PRIx64 " needs %"
				PRIu64 " L1 entries (limit %u)", h.size, need,
				QCOW2_MAX_L1_BYTES / 8);
	if (h.l1_size > QCOW2_MAX_L1_BYTES / 8)
		return fmt_errf(e, 36, "l1_size %" PRIu32 " too large "
				"(limit %u)", h.l1_size,
				QCOW2_MAX_L1_BYTES / 8);
	if (h.l1_size < need)
		return fmt_errf(e, 36, "L1 table too small for the virtual "
				"size (l1_size %" PRIu32 " < %" PRIu64 ")",
				h.l1_size, need);
	h.l1_needed = need;
	if (h.l1_size > 0 && (h.l1_table_offset & (h.cluster_size - 1)))
		return fmt_errf(e, 40, "L1 table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.l1_table_offset);
	if (h.l1_size > 0 && h.l1_table_offset == 0)
		return fmt_errf(e, 40, "L1 table at offset 0 overlaps the "
				"header");
	if (h.refcount_table_offset & (h.cluster_size - 1))
		return fmt_errf(e, 48, "refcount table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.refcount_table_offset);
	if (h.refcount_table_offset == 0)
		return fmt_errf(e, 48, "refcount table at offset 0 overlaps "
				"the header");
	if (h.refcount_table_clusters == 0)
		return fmt_errf(e, 56, "refcount table has no clusters");
	if ((uint64_t)h.refcount_table_clusters >
	    QCOW2_MAX_REFTABLE_BYTES / h.cluster_size)
		return fmt_errf(e, 56, "refcount table too large (%" PRIu32
				" clusters, limit %" PRIu64 ")",
				h.refcount_table_clusters,
				QCOW2_MAX_REFTABLE_BYTES / h.cluster_size);
	if (h.nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return fmt_errf(e, 60, "too many snapshots (%" PRIu32
				", limit %d)", h.nb_snapshots,
				QCOW2_MAX_SNAPSHOTS);
	if (h.nb_snapshots > 0 && (h.snapshots_offset & (h.cluster_size - 1)))
		return fmt_errf(e, 64, "snapshot table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.snapshots_offset);

	/* Header extensions and the backing file name live in cluster 0. */
	limit = len < h.cluster_size ? len : h.cluster_size;
	if (h.backing_file_offset != 0) {
		if (h.backing_file_size == 0 ||
		    h.backing_file_size > QCOW2_BACKING_MAX)
			return fmt_errf(e, 16, "backing file name length %"
					PRIu32 " outside 1..%d",
					h.backing_file_size,
					QCOW2_BACKING_MAX);
		if (!in_bounds(h.backing_file_offset, h.backing_file_size,
			       limit))
			return fmt_errf(e, 8, "backing file name at 0x%" PRIx64
					" (+%" PRIu32 ") outside the first "
					"cluster (0x%" PRIx64 ")",
					h.backing_file_offset,
					h.backing_file_size, limit);
		memcpy(h.backing_file, buf + h.backing_file_offset,
		       h.backing_file_size);
		if (memchr(h.backing_file, 0, h.backing_file_size))
			return fmt_errf(e, h.backing_file_offset,
					"backing file name contains a NUL "
					"byte");
		h.has_backing = true;
	}
	ext = h.header_length;
	for (;;) {
		uint32_t type, elen;

		if (ext >= limit)
			break;
		if (limit - ext < 8)
			return fmt_errf(e, ext, "header extension truncated "
					"(%" PRIu64 " < 8 bytes left)",
					limit - ext);
		type = be32_load(buf + ext);
		elen = be32_load(buf + ext + 4);
		if (type == QCOW2_EXT_END) {
			ext += 8;
			break;
		}
		if (!in_bounds(ext + 8, elen, limit))
			return fmt_errf(e, ext, "header extension 0x%08" PRIx32
					" (%" PRIu32 " bytes) extends past the "
					"first cluster (0x%" PRIx64 ")", type,
					elen, limit);
		if (type == QCOW2_EXT_BACKING_FMT) {
			if (elen >= sizeof h.backing_fmt)
				return fmt_errf(e, ext, "backing format name "
						"too long (%" PRIu32 " bytes)",
						elen);
			memcpy(h.backing_fmt, buf + ext + 8, elen);
			h.backing_fmt[elen] = 0;
			if (strlen(h.backing_fmt) != elen)
				return fmt_errf(e, ext, "backing format name "
						"contains a NUL byte");
		} else if (type == QCOW2_EXT_BITMAPS && elen >= 24) {
			h.has_bitmaps = true;
			h.bitmaps_ext = ext;
			h.nb_bitmaps = be32_load(buf + ext + 8);
			h.bitmap_dir_size = be64_load(buf + ext + 16);
			h.bitmap_dir_offset = be64_load(buf + ext + 24);
		} else if (type == QCOW2_EXT_CRYPTO) {
			return fmt_errf(e, ext, "encryption header extension "
					"present: encrypted images are not "
					"supported");
		}
		/* (other extensions: feature names: not needed to read the
		 * active layer; bitmaps only matter to the check) */
		if (ck_align(ext + 8 + elen, 8, &end))
			return fmt_errf(e, ext, "header extension overflow");
		ext = end;
	}
	h.ext_end = ext;
	*out = h;
	return 0;
}

void qcow2_compressed_desc(uint32_t cluster_bits, uint64_t l2e,
			   uint64_t *host, uint64_t *nsectors)
{
	uint32_t x = 62 - (cluster_bits - 8);

	*host = l2e & ((1ULL << x) - 1);
	*nsectors = ((l2e >> x) & ((1ULL << (cluster_bits - 8)) - 1)) + 1;
}

/* ---- decompression --------------------------------------------------- */

int qcow2_decompress(int type, const uint8_t *in, size_t inlen, uint8_t *out,
		     size_t outlen, uint64_t off, struct fmt_err *e)
{
	if (type == QCOW2_COMPRESS_ZLIB) {
		z_stream z;
		int rc;

		memset(&z, 0, sizeof z);
		/* raw deflate, 4 KiB window: what qemu inflates with
		 * (block/qcow2-threads.c), so a stream qemu cannot read
		 * is refused here too */
		if (inflateInit2(&z, -12) != Z_OK)
			return fmt_errf(e, off, "zlib: inflateInit2 failed");
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)inlen;
		z.next_out = out;
		z.avail_out = (uInt)outlen;
		rc = inflate(&z, Z_FINISH);
		inflateEnd(&z);
		/* qemu accepts a stream that fills the cluster even if it
		 * has not seen its end (trailing sector padding). */
		if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR) &&
		    z.avail_out == 0)
			return 0;
		if (rc == Z_STREAM_END || rc == Z_BUF_ERROR)
			return fmt_errf(e, off, "compressed cluster inflates to "
					"%zu bytes, not %zu",
					outlen - z.avail_out, outlen);
		return fmt_errf(e, off, "compressed cluster: zlib error %d%s%s",
				rc, z.msg ? ": " : "", z.msg ? z.msg : "");
	}
	if (type == QCOW2_COMPRESS_ZSTD) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer ib = { in, inlen, 0 };
		ZSTD_outBuffer ob = { out, outlen, 0 };
		size_t rc = 0;
		int ret = 0;

		if (d == NULL)
			return fmt_errf(e, off, "zstd: out of memory");
		/* bound the window so a hostile frame cannot make libzstd
		 * allocate more than a cluster-sized history */
		ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
		while (ob.pos < ob.size) {
			size_t lin = ib.pos, lout = ob.pos;

			rc = ZSTD_decompressStream(d, &ob, &ib);
			if (ZSTD_isError(rc)) {
				ret = fmt_errf(e, off, "compressed cluster: "
					       "zstd: %s",
					       ZSTD_getErrorName(rc));
				break;
			}
			if (ib.pos == lin && ob.pos == lout) {
				ret = fmt_errf(e, off, "compressed cluster "
					       "decompresses to %zu bytes, "
					       "not %zu", ob.pos, outlen);
				break;
			}
		}
		ZSTD_freeDCtx(d);
		return ret;
	}
	return fmt_errf(e, off, "unknown compression type %d", type);
}

/* ---- open ------------------------------------------------------------ */

bool qcow2_maybe_compressed(const struct qcow2 *q)
{
	if (q->ncompressed != 0)
		return true;
	return q->backing != NULL && image_qcow2(q->backing) != NULL &&
	       qcow2_maybe_compressed(image_qcow2(q->backing));
}

const struct qcow2_header *qcow2_header(const struct qcow2 *q)
{
	return &q->h;
}

uint64_t qcow2_file_size(const struct qcow2 *q)
{
	return q->file_size;
}

void qcow2_close(struct qcow2 *q)
{
	if (q == NULL)
		return;
	if (q->cache) {
		for (size_t i = 0; i < q->ncache; i++)
			free(q->cache[i].ent);
		free(q->cache);
	}
	image_close(q->backing);
	if (q->backing_fd >= 0)
		close(q->backing_fd);
	free(q->l1);
	free(q->cbuf);
	free(q->dbuf);
	free(q->path);
	free(q);
}

int qcow2_dup(const struct qcow2 *q, struct qcow2 **out, struct fmt_err *e)
{
	struct qcow2 *d = calloc(1, sizeof *d);

	if (d == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
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
		qcow2_close(d);
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	if (q->backing != NULL && image_dup(q->backing, &d->backing, e) < 0) {
		qcow2_close(d);
		return -1;
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
	return fmt_errf(e, at, "backing file '%.60s'%s: %s",
			q->h.backing_file, where, msg);
}

static int open_backing(struct qcow2 *q, unsigned flags, int depth,
			struct fmt_err *e)
{
	const struct qcow2_header *h = &q->h;
	char *full = NULL;
	const char *name = h->backing_file;
	enum image_format fmt = IMG_PROBE;
	struct image_opts o = { .allow_backing = true,
				.check = (flags & QCOW2_CHECK_FIRST) != 0,
				.force_share = (flags & QCOW2_FORCE_SHARE) != 0 };
	int fd;

	if (!(flags & QCOW2_ALLOW_BACKING))
		return fmt_errf(e, h->backing_file_offset, "image has a "
				"backing file '%s'; refusing to follow it "
				"without --allow-backing", h->backing_file);
	if (depth >= QCOW2_MAX_BACKING_DEPTH)
		return fmt_errf(e, h->backing_file_offset, "backing chain "
				"deeper than %d", QCOW2_MAX_BACKING_DEPTH);
	if (strcmp(h->backing_fmt, "raw") == 0)
		fmt = IMG_RAW;
	else if (strcmp(h->backing_fmt, "qcow2") == 0)
		fmt = IMG_QCOW2;
	else if (h->backing_fmt[0] != 0)
		return fmt_errf(e, h->backing_file_offset, "backing file "
				"format '%s' not supported", h->backing_fmt);
	if (name[0] != '/' && strchr(q->path, '/') != NULL) {
		const char *slash = strrchr(q->path, '/');
		int dl = (int)(slash - q->path);

		if (asprintf(&full, "%.*s/%s", dl, q->path, name) < 0)
			return fmt_errf(e, FMT_NOOFF, "out of memory");
		name = full;
	}
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_errno(e, h->backing_file_offset, "backing file '%s'",
			  name);
		free(full);
		return -1;
	}
	if (image_open_chain(fd, name, fmt, &o, depth + 1, &q->backing,
			     e) < 0) {
		char msg[FMT_ERR_MSG];

		snprintf(msg, sizeof msg, "%s", e->msg);
		close(fd);
		free(full);
		/* a deeper level already named its file: pass it on */
		if (strncmp(msg, "backing ", 8) == 0)
			return fmt_errf(e, h->backing_file_offset, "%s", msg);
		return backing_err(q, h->backing_file_offset, e);
	}
	free(full);
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
		return fmt_errf(e, FMT_NOOFF, "out of memory");
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
			fmt_errf(e, q->h.l1_table_offset + j * 8, "L1 entry %"
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
		return fmt_errf(e, FMT_NOOFF, "image has %" PRIu64 " host "
				"clusters, more than the consistency check "
				"can count (%u); --no-check reads it without "
				"the check", nb, QCOW2_CHECK_MAX_CLUSTERS);
	if (qcow2_check_fd(q->fd, q->path, QCOW2_CHECK_NO_INFLATE, &r,
			   e) < 0) {
		qcow2_check_free(&r);
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
		rc = fmt_errf(e, f->off, "%s%s", f->msg,
			      f->kind == QCOW2_F_CORRUPTION
			      ? " (image is corrupt; see 'ukit-pack check')"
			      : "");
		break;
	}
	/* findings past QCOW2_CHECK_MAX_FINDINGS are only counted */
	if (rc == 0 && (r.corruptions > allowed || r.check_errors > 0))
		rc = fmt_errf(e, FMT_NOOFF, "%" PRIu64 " corruptions and %"
			      PRIu64 " check errors (image is corrupt; see "
			      "'ukit-pack check')", r.corruptions - allowed,
			      r.check_errors);
	if (rc == 0)
		q->ncompressed = (int64_t)r.compressed_clusters;
	qcow2_check_free(&r);
	return rc;
}

int qcow2_bitmap_entry(const uint8_t *dir, size_t len, size_t *pos,
		       uint64_t base, struct qcow2_bitmap *b,
		       struct fmt_err *e)
{
	size_t p = *pos, name_len, extra, end;

	if (p > len || len - p < 24)
		return fmt_errf(e, base + p, "bitmap directory entry past "
				"the end of the directory (0x%zx bytes)", len);
	b->table_offset = be64_load(dir + p) & ~511ULL;
	b->table_size = be32_load(dir + p + 8);
	b->flags = be32_load(dir + p + 12);
	b->granularity_bits = dir[p + 17];
	name_len = be16_load(dir + p + 18);
	extra = be32_load(dir + p + 20);
	if (extra > len - p - 24 || name_len > len - p - 24 - extra)
		return fmt_errf(e, base + p, "bitmap directory entry (name "
				"%zu bytes, extra data %zu bytes) past the end "
				"of the directory (0x%zx bytes)", name_len,
				extra, len);
	if (name_len == 0 || name_len >= sizeof b->name)
		return fmt_errf(e, base + p + 18, "bitmap name length %zu "
				"outside 1..%zu", name_len,
				sizeof b->name - 1);
	memcpy(b->name, dir + p + 24 + extra, name_len);
	b->name[name_len] = 0;
	end = p + 24 + extra + name_len;
	end = (end + 7) & ~(size_t)7;
	*pos = end < len ? end : len;
	return 0;
}

uint64_t qcow2_snapshot_len(const uint8_t *hdr)
{
	uint64_t n = QCOW2_SNAPSHOT_HDR + (uint64_t)be32_load(hdr + 36) +
		     be16_load(hdr + 12) + be16_load(hdr + 14);

	return (n + 7) & ~(uint64_t)7;
}

int qcow2_snapshot_entry(const uint8_t *tab, size_t len, size_t *pos,
			 uint64_t base, struct qcow2_snapshot *s,
			 struct fmt_err *e)
{
	size_t p = *pos, extra;
	uint64_t end;

	if (p > len || len - p < QCOW2_SNAPSHOT_HDR)
		return fmt_errf(e, base + p, "snapshot table entry past the "
				"end of the table (0x%zx bytes)", len);
	memset(s, 0, sizeof *s);
	s->l1_table_offset = be64_load(tab + p);
	s->l1_size = be32_load(tab + p + 8);
	s->id_len = be16_load(tab + p + 12);
	s->name_len = be16_load(tab + p + 14);
	s->date_sec = be32_load(tab + p + 16);
	s->date_nsec = be32_load(tab + p + 20);
	s->vm_clock_nsec = be64_load(tab + p + 24);
	s->vm_state_size = be32_load(tab + p + 32);
	extra = be32_load(tab + p + 36);
	if (extra > QCOW2_SNAPSHOT_EXTRA_MAX)
		return fmt_errf(e, base + p + 36, "snapshot extra data of %zu "
				"bytes (limit %u)", extra,
				QCOW2_SNAPSHOT_EXTRA_MAX);
	if (extra > len - p - 40 ||
	    s->id_len + s->name_len > len - p - 40 - extra)
		return fmt_errf(e, base + p, "snapshot table entry (id %zu, "
				"name %zu, extra data %zu bytes) past the end "
				"of the table (0x%zx bytes)", s->id_len,
				s->name_len, extra, len);
	if (extra >= 8)
		s->vm_state_size = be64_load(tab + p + 40);
	s->icount = extra >= 24 ? be64_load(tab + p + 56) : UINT64_MAX;
	s->id = tab + p + 40 + extra;
	s->name = s->id + s->id_len;
	end = p + qcow2_snapshot_len(tab + p);
	*pos = end < len ? (size_t)end : len;
	return 0;
}

int qcow2_snapshots_read(int fd, const struct qcow2_header *h,
			 uint64_t fsize, uint8_t **tab, size_t *len,
			 struct fmt_err *e)
{
	uint64_t off = h->snapshots_offset, n = 0;
	ssize_t r;

	*tab = NULL;
	*len = 0;
	if (off > fsize)
		return fmt_errf(e, 64, "snapshot table at 0x%" PRIx64 " past "
				"end of file (0x%" PRIx64 ")", off, fsize);
	/* the table's size is the sum of its entries': walk their headers */
	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		uint8_t s[QCOW2_SNAPSHOT_HDR];

		if (!in_bounds(off + n, sizeof s, fsize))
			return fmt_errf(e, 64, "snapshot %" PRIu32 " at 0x%"
					PRIx64 " past end of file (0x%" PRIx64
					")", i, off + n, fsize);
		if (pread_full(fd, s, sizeof s, (off_t)(off + n)) !=
		    (ssize_t)sizeof s)
			return fmt_errno(e, off + n, "reading the snapshot "
					 "table");
		if (be32_load(s + 36) > QCOW2_SNAPSHOT_EXTRA_MAX)
			return fmt_errf(e, off + n + 36, "snapshot extra data "
					"of %" PRIu32 " bytes (limit %u)",
					be32_load(s + 36),
					QCOW2_SNAPSHOT_EXTRA_MAX);
		n += qcow2_snapshot_len(s);
		if (n > QCOW2_SNAPSHOTS_MAX_BYTES)
			return fmt_errf(e, 64, "snapshot table larger than "
					"%u bytes", QCOW2_SNAPSHOTS_MAX_BYTES);
	}
	if (n > fsize - off)
		n = fsize - off;         /* the last entry's tail: refused below */
	if ((*tab = malloc(n ? n : 1)) == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	r = pread_full(fd, *tab, n, (off_t)off);
	if (r < 0) {
		free(*tab);
		*tab = NULL;
		return fmt_errno(e, off, "reading the snapshot table");
	}
	*len = (size_t)r;
	return 0;
}

int qcow2_header_read(int fd, uint64_t fsize, struct qcow2_header *h,
		      struct fmt_err *e)
{
	size_t len = (size_t)(fsize < (1u << QCOW2_MAX_CLUSTER_BITS) ?
			      fsize : (1u << QCOW2_MAX_CLUSTER_BITS));
	uint8_t *buf, first[24];
	ssize_t n;
	int rc;

	/* the header and its extensions live in the first cluster: read
	 * that much, not the largest cluster size */
	if (pread_full(fd, first, sizeof first, 0) == (ssize_t)sizeof first &&
	    be32_load(first) == QCOW2_MAGIC &&
	    be32_load(first + 20) >= QCOW2_MIN_CLUSTER_BITS &&
	    be32_load(first + 20) <= QCOW2_MAX_CLUSTER_BITS &&
	    len > (1u << be32_load(first + 20)))
		len = 1u << be32_load(first + 20);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	n = pread_full(fd, buf, len, 0);
	if (n < 0) {
		free(buf);
		return fmt_errno(e, 0, "read");
	}
	rc = qcow2_header_parse(buf, (size_t)n, h, e) < 0 ? -2 : 0;
	free(buf);
	return rc;
}

int qcow2_bitmap_dir_read(int fd, const struct qcow2_header *h,
			  uint64_t fsize, uint8_t **dir, struct fmt_err *e)
{
	uint64_t off = h->bitmap_dir_offset, len = h->bitmap_dir_size;
	ssize_t n;

	*dir = NULL;
	if (len == 0 || len > QCOW2_BITMAP_DIR_MAX ||
	    !in_bounds(off, len, fsize)) {
		fmt_errf(e, h->bitmaps_ext, "bitmap directory at 0x%" PRIx64
			 " (0x%" PRIx64 " bytes) out of bounds (file 0x%"
			 PRIx64 ", limit 0x%x)", off, len, fsize,
			 QCOW2_BITMAP_DIR_MAX);
		return -2;
	}
	if ((*dir = malloc(len)) == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	n = pread_full(fd, *dir, len, (off_t)off);
	if (n < 0 || (uint64_t)n != len) {
		free(*dir);
		*dir = NULL;
		if (n < 0)
			return fmt_errno(e, off, "reading the bitmap directory");
		return fmt_errf(e, off, "bitmap directory: file shrank "
				"(0x%zx of 0x%" PRIx64 " bytes read)",
				(size_t)n, len);
	}
	return 0;
}

int qcow2_open_depth(int fd, const char *path, unsigned flags, int depth,
		     struct qcow2 **out, struct fmt_err *e)
{
	struct qcow2 *q;
	struct stat st;
	ssize_t n;
	uint64_t l1bytes;

	if (fstat(fd, &st) < 0)
		return fmt_errno(e, FMT_NOOFF, "fstat");
	q = calloc(1, sizeof *q);
	if (q == NULL)
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	q->fd = fd;
	q->backing_fd = -1;
	if ((q->path = strdup(path ? path : "")) == NULL) {
		free(q);
		return fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	q->ncompressed = -1;
	q->dbuf_host = UINT64_MAX;
	q->file_size = (uint64_t)st.st_size;

	if (qcow2_header_read(fd, q->file_size, &q->h, e) < 0) {
		qcow2_close(q);
		return -1;
	}
	if ((q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) &&
	    !(flags & QCOW2_ALLOW_CORRUPT)) {
		fmt_errf(e, 72, "image is marked corrupt (incompatible "
			 "feature bit 1); run 'ukit-pack check'");
		qcow2_close(q);
		return -1;
	}
	q->l2_entries = q->h.l2_entries;
	q->nclusters = q->h.size / q->h.cluster_size +
		       (q->h.size % q->h.cluster_size != 0);

	l1bytes = q->h.l1_needed * 8;
	if (l1bytes > 0 && !in_bounds(q->h.l1_table_offset, l1bytes,
				      q->file_size)) {
		uint64_t end = q->h.l1_table_offset + l1bytes;

		fmt_errf(e, 40, "L1 table extends past end of file "
				"(0x%" PRIx64 " > 0x%" PRIx64 ")", end,
				q->file_size);
		qcow2_close(q);
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
		fmt_errf(e, FMT_NOOFF, "out of memory");
		qcow2_close(q);
		return -1;
	}
	for (size_t i = 0; i < q->ncache; i++)
		q->cache[i].l1i = UINT64_MAX;
	if (l1bytes > 0) {
		uint8_t *raw = (uint8_t *)q->l1;

		n = pread_full(fd, raw, l1bytes, (off_t)q->h.l1_table_offset);
		if (n < 0 || (uint64_t)n != l1bytes) {
			fmt_errno(e, q->h.l1_table_offset,
					 "reading the L1 table");
			qcow2_close(q);
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
			fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table "
					"offset 0x%" PRIx64 " not aligned to "
					"the cluster size", i, l2off);
			qcow2_close(q);
			return -1;
		}
		if (!in_bounds(l2off, q->h.cluster_size, q->file_size)) {
			fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table "
					"at 0x%" PRIx64 " extends past end of "
					"file (0x%" PRIx64 ")", i, l2off,
					q->file_size);
			qcow2_close(q);
			return -1;
		}
		if (overlaps(l2off, q->h.cluster_size, q->h.l1_table_offset,
			     l1bytes) ||
		    overlaps(l2off, q->h.cluster_size,
			     q->h.refcount_table_offset,
			     (uint64_t)q->h.refcount_table_clusters *
			     q->h.cluster_size)) {
			fmt_errf(e, at, "L1 entry %" PRIu64 ": L2 table at 0x%"
				 PRIx64 " overlaps the L1 or refcount table",
				 i, l2off);
			qcow2_close(q);
			return -1;
		}
	}
	if (check_l2_unique(q, e) < 0 ||
	    ((flags & QCOW2_CHECK_FIRST) && check_first(q, flags, e) < 0)) {
		qcow2_close(q);
		return -1;
	}
	if (q->h.has_backing && open_backing(q, flags, depth, e) < 0) {
		qcow2_close(q);
		return -1;
	}
	*out = q;
	return 0;
}

int qcow2_open(int fd, const char *path, unsigned flags, struct qcow2 **out,
	       struct fmt_err *e)
{
	return qcow2_open_depth(fd, path, flags, 0, out, e);
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
			return fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	s->l1i = UINT64_MAX;
	n = pread_full(q->fd, s->ent, q->h.cluster_size, (off_t)l2off);
	if (n < 0)
		return fmt_errno(e, l2off, "reading L2 table");
	if ((uint64_t)n != q->h.cluster_size)
		return fmt_errf(e, l2off, "L2 table extends past end of file "
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
static int subclusters(struct qcow2_cluster *c, uint64_t host,
		       uint64_t bitmap, uint64_t vc, uint64_t cs, uint64_t at,
		       struct fmt_err *e)
{
	uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);

	if (alloc & zero)
		return fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": subcluster bitmap 0x%016" PRIx64 " marks "
				"subclusters both allocated and zero",
				vc * cs, bitmap);
	if (host == 0 && alloc != 0)
		return fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
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

int qcow2_cluster(struct qcow2 *q, uint64_t vc, struct qcow2_cluster *c,
		  struct fmt_err *e)
{
	uint64_t l1i = vc / q->l2_entries, l2i = vc % q->l2_entries;
	uint64_t cs = q->h.cluster_size, esize = q->h.extended_l2 ? 16 : 8;
	const uint64_t *l2 = NULL;
	uint64_t ent, bitmap = 0, at, host;

	memset(c, 0, sizeof *c);
	if (vc >= q->nclusters)
		return fmt_errf(e, FMT_NOOFF, "guest cluster %" PRIu64
				" past the virtual size", vc);
	if (l2_get(q, l1i, &l2, e) < 0)
		return -1;
	if (l2 == NULL) {
		c->type = QCOW2_C_HOLE;
		return 0;
	}
	at = (q->l1[l1i] & QCOW2_OFFSET_MASK) + l2i * esize;
	ent = l2[l2i * (esize / 8)];
	if (q->h.extended_l2)
		bitmap = l2[l2i * 2 + 1];
	if (ent & QCOW2_OFLAG_COMPRESSED) {
		uint64_t ns;

		if (bitmap != 0)
			return fmt_errf(e, at + 8, "L2 entry for guest offset "
					"0x%" PRIx64 ": compressed cluster with "
					"subcluster bitmap 0x%016" PRIx64
					" (must be 0)", vc * cs, bitmap);
		qcow2_compressed_desc(q->h.cluster_bits, ent, &host, &ns);
		c->type = QCOW2_C_COMPRESSED;
		c->host = host;
		c->csize = ns * 512 - (host & 511);
		if (host == 0 || host >= q->file_size)
			return fmt_errf(e, at, "L2 entry for guest offset 0x%"
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
		if (c->alloc == 0)
			return 0;
	} else if (ent & QCOW2_OFLAG_ZERO) {
		c->type = QCOW2_C_ZERO;
		return 0;
	} else if (host == 0) {
		c->type = QCOW2_C_HOLE;
		return 0;
	} else {
		c->type = QCOW2_C_NORMAL;
	}
	if (host & (cs - 1))
		return fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": data offset 0x%" PRIx64 " not aligned to "
				"the cluster size", vc * cs, host);
	if (host >= q->file_size)
		return fmt_errf(e, at, "L2 entry for guest offset 0x%" PRIx64
				": data at 0x%" PRIx64 " past end of file "
				"(0x%" PRIx64 ")", vc * cs, host,
				q->file_size);
	c->host = host;
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

int qcow2_map(struct qcow2 *q, uint64_t off, struct image_extent *ext,
	      struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size, vc = off / cs, end;
	uint64_t span = q->l2_entries;    /* clusters per L1 entry */
	struct qcow2_cluster c;
	enum extent_kind k;

	if (off >= q->h.size)
		return fmt_errf(e, FMT_NOOFF, "map offset 0x%" PRIx64
				" past the virtual size", off);
	if (qcow2_cluster(q, vc, &c, e) < 0)
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
		if (qcow2_cluster(q, vc, &c, e) < 0)
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
static enum qcow2_ctype sc_type(const struct qcow2_cluster *c, unsigned i)
{
	if (c->alloc & (1u << i))
		return QCOW2_C_NORMAL;
	return (c->zero & (1u << i)) ? QCOW2_C_ZERO : QCOW2_C_HOLE;
}

/* Read the bytes of cluster (c) from (coff) into (buf, len). */
static int read_cluster(struct qcow2 *q, const struct qcow2_cluster *c,
			uint64_t vc, uint64_t coff, uint8_t *buf, size_t len,
			struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size;
	ssize_t n;

	switch (c->type) {
	case QCOW2_C_HOLE:
		if (q->backing) {
			uint64_t voff = vc * cs + coff;
			uint64_t bsize = image_size(q->backing);
			size_t in = 0;

			if (voff < bsize)
				in = (size_t)(bsize - voff < len ?
					      bsize - voff : len);
			if (in && image_read(q->backing, buf, in, voff, e) < 0)
				return backing_err(q, FMT_NOOFF, e);
			memset(buf + in, 0, len - in);
			return 0;
		}
		/* fall through */
	case QCOW2_C_ZERO:
		memset(buf, 0, len);
		return 0;
	case QCOW2_C_NORMAL:
		n = pread_full(q->fd, buf, len, (off_t)(c->host + coff));
		if (n < 0)
			return fmt_errno(e, c->host + coff, "read");
		/* a last cluster cut short by the end of file reads as
		 * zeros, as in qemu; a cluster starting past EOF was
		 * refused by qcow2_cluster() */
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
			n = pread_full(q->fd, q->cbuf, csize, (off_t)c->host);
			if (n < 0)
				return fmt_errno(e, c->host, "read");
			if (qcow2_decompress(q->h.compression_type, q->cbuf,
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
			struct qcow2_cluster sub = { .host = c->host };
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
	return fmt_errf(e, FMT_NOOFF, "bad cluster type");
}

int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
	       struct fmt_err *e)
{
	uint64_t cs = q->h.cluster_size, end;
	uint8_t *p = buf;

	if (ck_add(off, len, &end) || end > q->h.size)
		return fmt_errf(e, FMT_NOOFF, "read of %zu bytes at 0x%" PRIx64
				" past the virtual size 0x%" PRIx64, len, off,
				q->h.size);
	while (len > 0) {
		uint64_t vc = off / cs, coff = off % cs;
		size_t n = (size_t)(cs - coff < len ? cs - coff : len);
		struct qcow2_cluster c;

		if (qcow2_cluster(q, vc, &c, e) < 0)
			return -1;
		/* contiguous host clusters: one pread for the run */
		while (c.type == QCOW2_C_NORMAL && n < len &&
		       n < QCOW2_READ_RUN_MAX) {
			struct qcow2_cluster c2;
			uint64_t next = (off + n) / cs;

			if (qcow2_cluster(q, next, &c2, e) < 0)
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
