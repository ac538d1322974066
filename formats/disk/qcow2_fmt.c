/*
 * qcow2_fmt.c: qcow2's on-disk structures, decoded and checked: the header
 * (ukit_qcow2_header_parse() checks it field by field), compressed cluster
 * descriptors and their inflation, the snapshot table and the bitmap
 * directory.  Both the reader (qcow2.c) and the checker (qcow2_check.c)
 * build on these; neither is needed to decode them.
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
#include "io.h"
#include "qcow2.h"

/* ---- header ---------------------------------------------------------- */

int ukit_qcow2_header_parse(const uint8_t *buf, size_t len,
		       struct ukit_qcow2_header *out, struct fmt_err *e)
{
	struct ukit_qcow2_header h;
	uint64_t span, need, end, ext, limit;

	memset(&h, 0, sizeof h);
	if (len < QCOW2_V2_HDR_LEN)
		return ukit_fmt_errf(e, 0, "file too short for a qcow2 header "
				"(%zu < %d bytes)", len, QCOW2_V2_HDR_LEN);
	if (be32_load(buf) != QCOW2_MAGIC)
		return ukit_fmt_errf(e, 0, "not a qcow2 image (bad magic 0x%08"
				PRIx32 ")", be32_load(buf));
	h.version = be32_load(buf + 4);
	if (h.version != 2 && h.version != 3)
		return ukit_fmt_errf(e, 4, "unsupported qcow2 version %" PRIu32
				" (want 2 or 3)", h.version);
	h.cluster_bits = be32_load(buf + 20);
	if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h.cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return ukit_fmt_errf(e, 20, "cluster_bits %" PRIu32 " outside %d..%d",
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
			return ukit_fmt_errf(e, 0, "file too short for a qcow2 v3 "
					"header (%zu < %d bytes)", len,
					QCOW2_V3_HDR_LEN);
		h.incompatible = be64_load(buf + 72);
		h.compatible = be64_load(buf + 80);
		h.autoclear = be64_load(buf + 88);
		h.refcount_order = be32_load(buf + 96);
		h.header_length = be32_load(buf + 100);
		if (h.header_length < QCOW2_V3_HDR_LEN)
			return ukit_fmt_errf(e, 100, "header_length %" PRIu32
					" too small (< %d)", h.header_length,
					QCOW2_V3_HDR_LEN);
		if (h.header_length > h.cluster_size)
			return ukit_fmt_errf(e, 100, "header_length %" PRIu32
					" exceeds the cluster size %" PRIu64,
					h.header_length, h.cluster_size);
		if (h.header_length > len)
			return ukit_fmt_errf(e, 100, "header_length %" PRIu32
					" extends past end of file (%zu bytes)",
					h.header_length, len);
		if (h.header_length % 8 != 0)
			return ukit_fmt_errf(e, 100, "header_length %" PRIu32
					" not a multiple of 8", h.header_length);
		if (h.header_length > QCOW2_V3_HDR_LEN)
			h.compression_type = buf[104];
	}
	if (h.crypt_method != 0)
		return ukit_fmt_errf(e, 32, "encrypted images are not supported "
				"(crypt_method %" PRIu32 ")", h.crypt_method);
	if (h.refcount_order > 6)
		return ukit_fmt_errf(e, 96, "refcount_order %" PRIu32
				" outside 0..6", h.refcount_order);
	if (h.incompatible & ~QCOW2_INCOMPAT_KNOWN)
		return ukit_fmt_errf(e, 72, "unknown incompatible feature bits 0x%"
				PRIx64, (uint64_t)(h.incompatible & ~QCOW2_INCOMPAT_KNOWN));
	if (h.incompatible & QCOW2_INCOMPAT_DATA_FILE)
		return ukit_fmt_errf(e, 72, "external data files are not supported "
				"(incompatible feature bit 2)");
	h.extended_l2 = h.incompatible & QCOW2_INCOMPAT_EXTL2;
	if (h.extended_l2 && h.cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return ukit_fmt_errf(e, 20, "extended L2 entries (incompatible "
				"feature bit 4) with %" PRIu64 "-byte clusters: "
				"subclusters would be smaller than 512 bytes",
				h.cluster_size);
	if (h.compression_type > QCOW2_COMPRESS_ZSTD)
		return ukit_fmt_errf(e, 104, "unknown compression type %u",
				h.compression_type);
	if (h.compression_type != QCOW2_COMPRESS_ZLIB &&
	    !(h.incompatible & QCOW2_INCOMPAT_COMPRESSION))
		return ukit_fmt_errf(e, 72, "compression type %u without the "
				"compression type feature bit",
				h.compression_type);
	if (h.compression_type == QCOW2_COMPRESS_ZLIB &&
	    (h.incompatible & QCOW2_INCOMPAT_COMPRESSION))
		return ukit_fmt_errf(e, 72, "compression type feature bit set "
				"with zlib compression");

	/* Virtual size against the L1 table (checked before any shift). */
	if (h.size > (uint64_t)INT64_MAX)
		return ukit_fmt_errf(e, 24, "virtual size 0x%" PRIx64 " too large",
				h.size);
	h.l2_entries = h.cluster_size / (h.extended_l2 ? 16 : 8);
	span = h.cluster_size * h.l2_entries;   /* bytes per L2 table */
	need = h.size / span + (h.size % span != 0);
	if (need > QCOW2_MAX_L1_BYTES / 8)
		return ukit_fmt_errf(e, 24, "virtual size 0x%" PRIx64 " needs %"
				PRIu64 " L1 entries (limit %u)", h.size, need,
				QCOW2_MAX_L1_BYTES / 8);
	if (h.l1_size > QCOW2_MAX_L1_BYTES / 8)
		return ukit_fmt_errf(e, 36, "l1_size %" PRIu32 " too large "
				"(limit %u)", h.l1_size,
				QCOW2_MAX_L1_BYTES / 8);
	if (h.l1_size < need)
		return ukit_fmt_errf(e, 36, "L1 table too small for the virtual "
				"size (l1_size %" PRIu32 " < %" PRIu64 ")",
				h.l1_size, need);
	h.l1_needed = need;
	if (h.l1_size > 0 && (h.l1_table_offset & (h.cluster_size - 1)))
		return ukit_fmt_errf(e, 40, "L1 table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.l1_table_offset);
	if (h.l1_size > 0 && h.l1_table_offset == 0)
		return ukit_fmt_errf(e, 40, "L1 table at offset 0 overlaps the "
				"header");
	if (h.refcount_table_offset & (h.cluster_size - 1))
		return ukit_fmt_errf(e, 48, "refcount table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.refcount_table_offset);
	if (h.refcount_table_offset == 0)
		return ukit_fmt_errf(e, 48, "refcount table at offset 0 overlaps "
				"the header");
	if (h.refcount_table_clusters == 0)
		return ukit_fmt_errf(e, 56, "refcount table has no clusters");
	if ((uint64_t)h.refcount_table_clusters >
	    QCOW2_MAX_REFTABLE_BYTES / h.cluster_size)
		return ukit_fmt_errf(e, 56, "refcount table too large (%" PRIu32
				" clusters, limit %" PRIu64 ")",
				h.refcount_table_clusters,
				QCOW2_MAX_REFTABLE_BYTES / h.cluster_size);
	if (h.nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return ukit_fmt_errf(e, 60, "too many snapshots (%" PRIu32
				", limit %d)", h.nb_snapshots,
				QCOW2_MAX_SNAPSHOTS);
	if (h.nb_snapshots > 0 && (h.snapshots_offset & (h.cluster_size - 1)))
		return ukit_fmt_errf(e, 64, "snapshot table offset 0x%" PRIx64
				" not aligned to the cluster size",
				h.snapshots_offset);

	/* Header extensions and the backing file name live in cluster 0. */
	limit = len < h.cluster_size ? len : h.cluster_size;
	if (h.backing_file_offset != 0) {
		if (h.backing_file_size == 0 ||
		    h.backing_file_size > QCOW2_BACKING_MAX)
			return ukit_fmt_errf(e, 16, "backing file name length %"
					PRIu32 " outside 1..%d",
					h.backing_file_size,
					QCOW2_BACKING_MAX);
		if (!in_bounds(h.backing_file_offset, h.backing_file_size,
			       limit))
			return ukit_fmt_errf(e, 8, "backing file name at 0x%" PRIx64
					" (+%" PRIu32 ") outside the first "
					"cluster (0x%" PRIx64 ")",
					h.backing_file_offset,
					h.backing_file_size, limit);
		memcpy(h.backing_file, buf + h.backing_file_offset,
		       h.backing_file_size);
		if (memchr(h.backing_file, 0, h.backing_file_size))
			return ukit_fmt_errf(e, h.backing_file_offset,
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
			return ukit_fmt_errf(e, ext, "header extension truncated "
					"(%" PRIu64 " < 8 bytes left)",
					limit - ext);
		type = be32_load(buf + ext);
		elen = be32_load(buf + ext + 4);
		if (type == QCOW2_EXT_END) {
			ext += 8;
			break;
		}
		if (!in_bounds(ext + 8, elen, limit))
			return ukit_fmt_errf(e, ext, "header extension 0x%08" PRIx32
					" (%" PRIu32 " bytes) extends past the "
					"first cluster (0x%" PRIx64 ")", type,
					elen, limit);
		if (type == QCOW2_EXT_BACKING_FMT) {
			if (elen >= sizeof h.backing_fmt)
				return ukit_fmt_errf(e, ext, "backing format name "
						"too long (%" PRIu32 " bytes)",
						elen);
			memcpy(h.backing_fmt, buf + ext + 8, elen);
			h.backing_fmt[elen] = 0;
			if (strlen(h.backing_fmt) != elen)
				return ukit_fmt_errf(e, ext, "backing format name "
						"contains a NUL byte");
		} else if (type == QCOW2_EXT_BITMAPS && elen >= 24) {
			h.has_bitmaps = true;
			h.bitmaps_ext = ext;
			h.nb_bitmaps = be32_load(buf + ext + 8);
			h.bitmap_dir_size = be64_load(buf + ext + 16);
			h.bitmap_dir_offset = be64_load(buf + ext + 24);
		} else if (type == QCOW2_EXT_CRYPTO) {
			return ukit_fmt_errf(e, ext, "encryption header extension "
					"present: encrypted images are not "
					"supported");
		}
		/* (other extensions: feature names: not needed to read the
		 * active layer; bitmaps only matter to the check) */
		if (ck_align(ext + 8 + elen, 8, &end))
			return ukit_fmt_errf(e, ext, "header extension overflow");
		ext = end;
	}
	h.ext_end = ext;
	*out = h;
	return 0;
}

void ukit_qcow2_compressed_desc(uint32_t cluster_bits, uint64_t l2e,
			   uint64_t *host, uint64_t *nsectors)
{
	uint32_t x = 62 - (cluster_bits - 8);

	*host = l2e & ((1ULL << x) - 1);
	*nsectors = ((l2e >> x) & ((1ULL << (cluster_bits - 8)) - 1)) + 1;
}

/* ---- decompression --------------------------------------------------- */

int ukit_qcow2_decompress(int type, const uint8_t *in, size_t inlen, uint8_t *out,
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
			return ukit_fmt_errf(e, off, "zlib: inflateInit2 failed");
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
			return ukit_fmt_errf(e, off, "compressed cluster inflates to "
					"%zu bytes, not %zu",
					outlen - z.avail_out, outlen);
		return ukit_fmt_errf(e, off, "compressed cluster: zlib error %d%s%s",
				rc, z.msg ? ": " : "", z.msg ? z.msg : "");
	}
	if (type == QCOW2_COMPRESS_ZSTD) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer ib = { in, inlen, 0 };
		ZSTD_outBuffer ob = { out, outlen, 0 };
		size_t rc = 0;
		int ret = 0;

		if (d == NULL)
			return ukit_fmt_errf(e, off, "zstd: out of memory");
		/* bound the window so a hostile frame cannot make libzstd
		 * allocate more than a cluster-sized history */
		ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
		while (ob.pos < ob.size) {
			size_t lin = ib.pos, lout = ob.pos;

			rc = ZSTD_decompressStream(d, &ob, &ib);
			if (ZSTD_isError(rc)) {
				ret = ukit_fmt_errf(e, off, "compressed cluster: "
					       "zstd: %s",
					       ZSTD_getErrorName(rc));
				break;
			}
			if (ib.pos == lin && ob.pos == lout) {
				ret = ukit_fmt_errf(e, off, "compressed cluster "
					       "decompresses to %zu bytes, "
					       "not %zu", ob.pos, outlen);
				break;
			}
		}
		ZSTD_freeDCtx(d);
		return ret;
	}
	return ukit_fmt_errf(e, off, "unknown compression type %d", type);
}
int ukit_qcow2_bitmap_entry(const uint8_t *dir, size_t len, size_t *pos,
		       uint64_t base, struct qcow2_bitmap *b,
		       struct fmt_err *e)
{
	size_t p = *pos, name_len, extra, end;

	if (p > len || len - p < 24)
		return ukit_fmt_errf(e, base + p, "bitmap directory entry past "
				"the end of the directory (0x%zx bytes)", len);
	b->table_offset = be64_load(dir + p) & ~511ULL;
	b->table_size = be32_load(dir + p + 8);
	b->flags = be32_load(dir + p + 12);
	b->granularity_bits = dir[p + 17];
	name_len = be16_load(dir + p + 18);
	extra = be32_load(dir + p + 20);
	if (extra > len - p - 24 || name_len > len - p - 24 - extra)
		return ukit_fmt_errf(e, base + p, "bitmap directory entry (name "
				"%zu bytes, extra data %zu bytes) past the end "
				"of the directory (0x%zx bytes)", name_len,
				extra, len);
	if (name_len == 0 || name_len >= sizeof b->name)
		return ukit_fmt_errf(e, base + p + 18, "bitmap name length %zu "
				"outside 1..%zu", name_len,
				sizeof b->name - 1);
	memcpy(b->name, dir + p + 24 + extra, name_len);
	b->name[name_len] = 0;
	end = p + 24 + extra + name_len;
	end = (end + 7) & ~(size_t)7;
	*pos = end < len ? end : len;
	return 0;
}

uint64_t ukit_qcow2_snapshot_len(const uint8_t *hdr)
{
	uint64_t n = QCOW2_SNAPSHOT_HDR + (uint64_t)be32_load(hdr + 36) +
		     be16_load(hdr + 12) + be16_load(hdr + 14);

	return (n + 7) & ~(uint64_t)7;
}

int ukit_qcow2_snapshot_entry(const uint8_t *tab, size_t len, size_t *pos,
			 uint64_t base, struct qcow2_snapshot *s,
			 struct fmt_err *e)
{
	size_t p = *pos, extra;
	uint64_t end;

	if (p > len || len - p < QCOW2_SNAPSHOT_HDR)
		return ukit_fmt_errf(e, base + p, "snapshot table entry past the "
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
		return ukit_fmt_errf(e, base + p + 36, "snapshot extra data of %zu "
				"bytes (limit %u)", extra,
				QCOW2_SNAPSHOT_EXTRA_MAX);
	if (extra > len - p - 40 ||
	    s->id_len + s->name_len > len - p - 40 - extra)
		return ukit_fmt_errf(e, base + p, "snapshot table entry (id %zu, "
				"name %zu, extra data %zu bytes) past the end "
				"of the table (0x%zx bytes)", s->id_len,
				s->name_len, extra, len);
	if (extra >= 8)
		s->vm_state_size = be64_load(tab + p + 40);
	s->icount = extra >= 24 ? be64_load(tab + p + 56) : UINT64_MAX;
	s->id = tab + p + 40 + extra;
	s->name = s->id + s->id_len;
	end = p + ukit_qcow2_snapshot_len(tab + p);
	*pos = end < len ? (size_t)end : len;
	return 0;
}

int ukit_qcow2_snapshots_read(int fd, const struct ukit_qcow2_header *h,
			 uint64_t fsize, uint8_t **tab, size_t *len,
			 struct fmt_err *e)
{
	uint64_t off = h->snapshots_offset, n = 0;
	ssize_t r;

	*tab = NULL;
	*len = 0;
	if (off > fsize)
		return ukit_fmt_errf(e, 64, "snapshot table at 0x%" PRIx64 " past "
				"end of file (0x%" PRIx64 ")", off, fsize);
	/* the table's size is the sum of its entries': walk their headers */
	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		uint8_t s[QCOW2_SNAPSHOT_HDR];

		if (!in_bounds(off + n, sizeof s, fsize))
			return ukit_fmt_errf(e, 64, "snapshot %" PRIu32 " at 0x%"
					PRIx64 " past end of file (0x%" PRIx64
					")", i, off + n, fsize);
		if (ukit_pread_full(fd, s, sizeof s, (off_t)(off + n)) !=
		    (ssize_t)sizeof s)
			return ukit_fmt_errno(e, off + n, "reading the snapshot "
					 "table");
		if (be32_load(s + 36) > QCOW2_SNAPSHOT_EXTRA_MAX)
			return ukit_fmt_errf(e, off + n + 36, "snapshot extra data "
					"of %" PRIu32 " bytes (limit %u)",
					be32_load(s + 36),
					QCOW2_SNAPSHOT_EXTRA_MAX);
		n += ukit_qcow2_snapshot_len(s);
		if (n > QCOW2_SNAPSHOTS_MAX_BYTES)
			return ukit_fmt_errf(e, 64, "snapshot table larger than "
					"%u bytes", QCOW2_SNAPSHOTS_MAX_BYTES);
	}
	if (n > fsize - off)
		n = fsize - off;         /* the last entry's tail: refused below */
	if ((*tab = malloc(n ? n : 1)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	r = ukit_pread_full(fd, *tab, n, (off_t)off);
	if (r < 0) {
		free(*tab);
		*tab = NULL;
		return ukit_fmt_errno(e, off, "reading the snapshot table");
	}
	*len = (size_t)r;
	return 0;
}

int ukit_qcow2_header_read(int fd, uint64_t fsize, struct ukit_qcow2_header *h,
		      struct fmt_err *e)
{
	size_t len = (size_t)(fsize < (1u << QCOW2_MAX_CLUSTER_BITS) ?
			      fsize : (1u << QCOW2_MAX_CLUSTER_BITS));
	uint8_t *buf, first[24];
	ssize_t n;
	int rc;

	/* the header and its extensions live in the first cluster: read
	 * that much, not the largest cluster size */
	if (ukit_pread_full(fd, first, sizeof first, 0) == (ssize_t)sizeof first &&
	    be32_load(first) == QCOW2_MAGIC &&
	    be32_load(first + 20) >= QCOW2_MIN_CLUSTER_BITS &&
	    be32_load(first + 20) <= QCOW2_MAX_CLUSTER_BITS &&
	    len > (1u << be32_load(first + 20)))
		len = 1u << be32_load(first + 20);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	n = ukit_pread_full(fd, buf, len, 0);
	if (n < 0) {
		free(buf);
		return ukit_fmt_errno(e, 0, "read");
	}
	rc = ukit_qcow2_header_parse(buf, (size_t)n, h, e) < 0 ? -2 : 0;
	free(buf);
	return rc;
}

int ukit_qcow2_bitmap_dir_read(int fd, const struct ukit_qcow2_header *h,
			  uint64_t fsize, uint8_t **dir, struct fmt_err *e)
{
	uint64_t off = h->bitmap_dir_offset, len = h->bitmap_dir_size;
	ssize_t n;

	*dir = NULL;
	if (len == 0 || len > QCOW2_BITMAP_DIR_MAX ||
	    !in_bounds(off, len, fsize)) {
		ukit_fmt_errf(e, h->bitmaps_ext, "bitmap directory at 0x%" PRIx64
			 " (0x%" PRIx64 " bytes) out of bounds (file 0x%"
			 PRIx64 ", limit 0x%x)", off, len, fsize,
			 QCOW2_BITMAP_DIR_MAX);
		return -2;
	}
	if ((*dir = malloc(len)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	n = ukit_pread_full(fd, *dir, len, (off_t)off);
	if (n < 0 || (uint64_t)n != len) {
		free(*dir);
		*dir = NULL;
		if (n < 0)
			return ukit_fmt_errno(e, off, "reading the bitmap directory");
		return ukit_fmt_errf(e, off, "bitmap directory: file shrank "
				"(0x%zx of 0x%" PRIx64 " bytes read)",
				(size_t)n, len);
	}
	return 0;
}
