/*
 * qresize.c: qcow2 resize in place (qresize.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "bytes.h"
#include "outfile.h"
#include "qcow2.h"
#include "qresize.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static int wr(int fd, const void *buf, size_t len, uint64_t off,
	      struct fmt_err *e)
{
	if (ukit_pwrite_full(fd, buf, len, off) < 0)
		return ukit_fmt_errno(e, off, "write failed");
	return 0;
}

static int sync_step(int fd, bool unsafe, struct fmt_err *e)
{
	if (!unsafe && fdatasync(fd) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fsync failed");
	return 0;
}

/*
 * Set the refcount of host cluster (c) to (v) in its existing refcount
 * block.  -1 with (e) when no block covers it.
 */
static int set_refcount(int fd, const struct ukit_qcow2_header *h, uint64_t c,
			uint64_t v, struct fmt_err *e)
{
	uint64_t cs = h->cluster_size, bits = 1ULL << h->refcount_order;
	uint64_t per = cs * 8 / bits, ti = c / per, i = c % per, boff, at;
	uint8_t ent[8];

	if (ti >= (uint64_t)h->refcount_table_clusters * cs / 8)
		return ukit_fmt_errf(e, FMT_NOOFF, "host cluster %" PRIu64 " is "
				"past the refcount table", c);
	if (ukit_pread_full(fd, ent, 8, (off_t)(h->refcount_table_offset +
					   ti * 8)) != 8)
		return ukit_fmt_errno(e, h->refcount_table_offset + ti * 8,
				 "read");
	boff = be64_load(ent) & ~511ULL;
	if (boff == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "growing needs a larger L1 "
				"table at host cluster %" PRIu64 ", which no "
				"refcount block covers yet; ukit-pack resize "
				"does not add refcount blocks (ukit-pack convert "
				"-O qcow2 rewrites the image, qemu-img resize "
				"grows it)", c);
	at = boff + i * bits / 8;
	if (bits < 8) {
		uint8_t b;
		unsigned sh = (unsigned)(i * bits % 8);

		if (ukit_pread_full(fd, &b, 1, (off_t)at) != 1)
			return ukit_fmt_errno(e, at, "read");
		b = (uint8_t)((b & ~(((1u << bits) - 1) << sh)) | (v << sh));
		return wr(fd, &b, 1, at, e);
	}
	switch (bits) {
	case 8:  ent[0] = (uint8_t)v; break;
	case 16: be16_store(ent, (uint16_t)v); break;
	case 32: be32_store(ent, (uint32_t)v); break;
	default: be64_store(ent, v); break;
	}
	return wr(fd, ent, bits / 8, at, e);
}

int ukit_qcow2_resize(int fd, uint64_t size, bool shrink, bool unsafe,
		      struct fmt_err *e)
{
	struct ukit_qcow2_header h;
	struct stat st;
	uint64_t cs, span, new_l1, old_bytes, new_bytes, old_cl, new_cl;
	uint8_t *l1 = NULL, hdr[24];
	int rc = -1;

	if (fstat(fd, &st) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "fstat");
	switch (ukit_qcow2_header_read(fd, (uint64_t)st.st_size, &h, e)) {
	case 0:
		break;
	default:
		return -1;
	}
	if (h.nb_snapshots > 0)
		return ukit_fmt_errf(e, 60, "the image has %" PRIu32 " internal "
				"snapshots; ukit-pack resizes images without "
				"them only (qemu-img resize can)",
				h.nb_snapshots);
	if (h.incompatible & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))
		return ukit_fmt_errf(e, 72, "the image is marked dirty or corrupt; "
				"check it first");
	if (size % 512 != 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "the new size %" PRIu64 " must "
				"be a multiple of 512 (as qemu-img says)", size);
	cs = h.cluster_size;
	span = cs * h.l2_entries;
	new_l1 = div_up(size, span);
	if (new_l1 > QCOW2_MAX_L1_BYTES / 8)
		return ukit_fmt_errf(e, FMT_NOOFF, "size %" PRIu64 " needs an L1 "
				"table larger than %u bytes", size,
				QCOW2_MAX_L1_BYTES);
	old_bytes = (uint64_t)h.l1_size * 8;
	l1 = calloc(1, (new_l1 > h.l1_size ? new_l1 : h.l1_size) * 8 + 8);
	if (l1 == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if (old_bytes > 0 &&
	    ukit_pread_full(fd, l1, old_bytes, (off_t)h.l1_table_offset) !=
	    (ssize_t)old_bytes) {
		ukit_fmt_errf(e, h.l1_table_offset, "L1 table past end of file");
		goto out;
	}
	if (size < h.size) {
		if (!shrink) {
			ukit_fmt_errf(e, FMT_NOOFF, "shrinking from %" PRIu64 " to %"
				 PRIu64 " bytes needs --shrink", h.size, size);
			goto out;
		}
		/* refuse to drop allocated clusters: their data would go */
		for (uint64_t i = size / span; i < h.l1_size; i++) {
			uint64_t l2 = be64_load(l1 + i * 8) & QCOW2_OFFSET_MASK;
			uint64_t first = i == size / span ? size % span : 0;
			uint8_t *t;

			if (l2 == 0)
				continue;
			if ((t = malloc(cs)) == NULL ||
			    ukit_pread_full(fd, t, cs, (off_t)l2) != (ssize_t)cs) {
				free(t);
				ukit_fmt_errf(e, l2, "cannot read the L2 table");
				goto out;
			}
			for (uint64_t j = div_up(first, cs); j < h.l2_entries;
			     j++) {
				uint64_t esz = h.extended_l2 ? 16 : 8;
				uint64_t ent = be64_load(t + j * esz);
				uint64_t bm = esz == 16 ?
					be64_load(t + j * esz + 8) : 0;

				if (ent != 0 || (uint32_t)bm != 0) {
					free(t);
					ukit_fmt_errf(e, FMT_NOOFF, "guest data at "
						 "0x%" PRIx64 " is past the new "
						 "size %" PRIu64 "; shrinking "
						 "would drop it", i * span + j *
						 cs, size);
					goto out;
				}
			}
			free(t);
		}
		/* the L1 table keeps its size: it may be larger than
		 * needed */
		new_l1 = h.l1_size;
	}
	/* the L1 table never shrinks (it may be larger than needed) */
	if (new_l1 < h.l1_size)
		new_l1 = h.l1_size;
	new_bytes = new_l1 * 8;
	old_cl = div_up(old_bytes, cs);
	new_cl = div_up(new_bytes, cs);
	if (new_l1 > h.l1_size && (new_cl > old_cl || old_bytes == 0)) {
		/* a new L1 table at the end of the file */
		uint64_t off = div_up((uint64_t)st.st_size, cs) * cs;
		uint8_t *buf = calloc(1, new_cl * cs);

		if (buf == NULL) {
			ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			goto out;
		}
		memcpy(buf, l1, old_bytes);
		if (wr(fd, buf, new_cl * cs, off, e) < 0) {
			free(buf);
			goto out;
		}
		free(buf);
		for (uint64_t c = 0; c < new_cl; c++)
			if (set_refcount(fd, &h, off / cs + c, 1, e) < 0) {
				/* nothing points at it yet: undo */
				if (ftruncate(fd, st.st_size) < 0)
					(void)0;
				goto out;
			}
		if (sync_step(fd, unsafe, e) < 0)
			goto out;
		be64_store(hdr, size);
		be32_store(hdr + 8, h.crypt_method);
		be32_store(hdr + 12, (uint32_t)new_l1);
		be64_store(hdr + 16, off);
		if (wr(fd, hdr, 24, 24, e) < 0 || sync_step(fd, unsafe, e) < 0)
			goto out;
		/* the old table is free now (a crash before: a leak) */
		for (uint64_t c = 0; c < old_cl; c++)
			if (set_refcount(fd, &h, h.l1_table_offset / cs + c, 0,
					 e) < 0)
				goto out;
	} else {
		if (new_l1 > h.l1_size) {
			/* the new entries, in the table's last cluster, are
			 * made zero (they should be already) */
			if (wr(fd, l1 + old_bytes, new_bytes - old_bytes,
			       h.l1_table_offset + old_bytes, e) < 0 ||
			    sync_step(fd, unsafe, e) < 0)
				goto out;
		}
		be64_store(hdr, size);
		be32_store(hdr + 8, h.crypt_method);
		be32_store(hdr + 12, (uint32_t)new_l1);
		if (wr(fd, hdr, 16, 24, e) < 0)
			goto out;
	}
	rc = sync_step(fd, unsafe, e);
out:
	free(l1);
	return rc;
}
