/*
 * ocitar.c: deterministic tar writing and strict streaming tar reading
 * for OCI layers and oci-archive files (see ocitar.h).  Archive bytes are
 * untrusted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocitar.h"

/* ---- writing -------------------------------------------------------- */

static void octal(char *field, size_t width, uint64_t v)
{
	/* width-1 digits and a NUL, as GNU tar and Go write them */
	snprintf(field, width, "%0*" PRIo64, (int)(width - 1), v);
}

int ukit_ocitar_header(const struct ukit_oci_sink *s, const char *name,
		       bool dir, uint32_t mode, uint64_t size, int64_t mtime,
		       struct fmt_err *e)
{
	uint8_t h[OCITAR_BLOCK];
	char full[258];
	size_t n, split = 0;
	unsigned sum = 0;

	n = (size_t)snprintf(full, sizeof full, "%s%s", name, dir ? "/" : "");
	if (n >= sizeof full || n == 0)
		return ukit_fmt_errf(e, FMT_NOOFF, "tar: name too long: %.60s", name);
	memset(h, 0, sizeof h);
	if (n > 100) {
		/* prefix (≤ 155) '/' name (≤ 100) */
		for (size_t i = n - 1; i > 0; i--)
			if (full[i] == '/' && i <= 155 && n - i - 1 <= 100) {
				split = i;
				break;
			}
		if (split == 0)
			return ukit_fmt_errf(e, FMT_NOOFF,
					"tar: name cannot be split: %.60s", name);
		memcpy(h + 345, full, split);
		memcpy(h, full + split + 1, n - split - 1);
	} else {
		memcpy(h, full, n);
	}
	if (mtime < 0 || (uint64_t)mtime > 077777777777ull)
		return ukit_fmt_errf(e, FMT_NOOFF, "tar: mtime %" PRId64
				" out of range", mtime);
	octal((char *)h + 100, 8, mode & 07777);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	if (size <= 077777777777ull) {
		octal((char *)h + 124, 12, size);
	} else {
		h[124] = 0x80;
		for (int i = 0; i < 8; i++)
			h[135 - i] = (uint8_t)(size >> (8 * i));
	}
	octal((char *)h + 136, 12, (uint64_t)mtime);
	h[156] = dir ? '5' : '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	octal((char *)h + 329, 8, 0);
	octal((char *)h + 337, 8, 0);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return s->write(s->ctx, h, sizeof h, e);
}

int ukit_ocitar_pad(const struct ukit_oci_sink *s, uint64_t size,
		    struct fmt_err *e)
{
	static const uint8_t zero[OCITAR_BLOCK];
	size_t r = (size_t)(size % OCITAR_BLOCK);

	return r ? s->write(s->ctx, zero, OCITAR_BLOCK - r, e) : 0;
}

int ukit_ocitar_end(const struct ukit_oci_sink *s, struct fmt_err *e)
{
	static const uint8_t zero[2 * OCITAR_BLOCK];

	return s->write(s->ctx, zero, sizeof zero, e);
}

/* ---- reading -------------------------------------------------------- */

void ukit_ocitar_rd_init(struct ukit_ocitar_rd *r,
			 const struct ukit_oci_source *src, const char *what)
{
	memset(r, 0, sizeof *r);
	r->src = *src;
	r->what = what;
}

/* Exactly (len) bytes or an error naming a truncated archive. */
static int read_exact(struct ukit_ocitar_rd *r, void *buf, size_t len,
		      struct fmt_err *e)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = r->src.read(r->src.ctx, (uint8_t *)buf + got,
					len - got, e);
		if (n < 0)
			return -1;
		if (n == 0)
			return ukit_fmt_errf(e, r->pos + got, "%s: tar archive "
					"truncated (%zu of %zu bytes)",
					r->what, got, len);
		got += (size_t)n;
	}
	r->pos += len;
	return 0;
}

static int skip(struct ukit_ocitar_rd *r, uint64_t n, struct fmt_err *e)
{
	uint8_t buf[8192];

	while (n > 0) {
		size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
		if (read_exact(r, buf, k, e) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* An octal field: digits, optional leading spaces, ended by NUL/space. */
static int parse_octal(const uint8_t *f, size_t w, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	bool any = false;

	while (i < w && f[i] == ' ')
		i++;
	for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
		any = true;
	}
	for (; i < w; i++)
		if (f[i] != ' ' && f[i] != 0)
			return -1;
	*out = any ? v : 0;
	return 0;
}

/* A size field: octal or GNU base-256 (positive only). */
static int parse_size(const uint8_t *f, uint64_t *out)
{
	if (f[0] & 0x80) {
		uint64_t v = 0;
		if (f[0] != 0x80 || f[1] || f[2] || f[3])
			return -1;
		for (int i = 4; i < 12; i++)
			v = v << 8 | f[i];
		*out = v;
		return 0;
	}
	return parse_octal(f, 12, out);
}

/* "./a/b", "/a/b/", "a//b" -> "a/b"; ".." components refused. */
static int normalise(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = in;

	while (*p) {
		const char *q;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		n = q ? (size_t)(q - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (o + n + 2 > cap)
			return -1;
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = 0;
	return 0;
}

int ukit_ocitar_parse_header(const uint8_t blk[OCITAR_BLOCK], uint64_t off,
			     struct ukit_ocitar_entry *ent, struct fmt_err *e)
{
	uint64_t sum, mode, size;
	unsigned s_u = 0;
	int s_s = 0;
	char raw[256 + 1 + 100];
	size_t pl, nl;
	bool zero = true;

	for (size_t i = 0; i < OCITAR_BLOCK; i++)
		if (blk[i]) {
			zero = false;
			break;
		}
	if (zero)
		return 0;
	if (parse_octal(blk + 148, 8, &sum) < 0)
		return ukit_fmt_errf(e, off + 148, "tar header: checksum field is "
				"not octal");
	for (size_t i = 0; i < OCITAR_BLOCK; i++) {
		uint8_t b = (i >= 148 && i < 156) ? ' ' : blk[i];
		s_u += b;
		s_s += (int8_t)b;
	}
	if (sum != s_u && (int64_t)sum != (int64_t)s_s)
		return ukit_fmt_errf(e, off + 148, "tar header: checksum mismatch "
				"(field %" PRIo64 ", computed %o)", sum, s_u);
	if (parse_octal(blk + 100, 8, &mode) < 0)
		return ukit_fmt_errf(e, off + 100, "tar header: mode is not octal");
	if (parse_size(blk + 124, &size) < 0)
		return ukit_fmt_errf(e, off + 124, "tar header: size is not a valid "
				"number");
	if (size > OCITAR_SIZE_MAX)
		return ukit_fmt_errf(e, off + 124, "tar header: size %" PRIu64
				" over the limit %llu", size, OCITAR_SIZE_MAX);
	nl = strnlen((const char *)blk, 100);
	pl = 0;
	if (memcmp(blk + 257, "ustar", 5) == 0 && blk[156] != 'L')
		pl = strnlen((const char *)blk + 345, 155);
	if (pl) {
		memcpy(raw, blk + 345, pl);
		raw[pl] = '/';
		memcpy(raw + pl + 1, blk, nl);
		raw[pl + 1 + nl] = 0;
	} else {
		memcpy(raw, blk, nl);
		raw[nl] = 0;
	}
	memset(ent, 0, sizeof *ent);
	if (normalise(raw, ent->name, sizeof ent->name) < 0)
		return ukit_fmt_errf(e, off, "tar header: name \"%.80s\" has a "
				"\"..\" component or is too long", raw);
	ent->typeflag = (char)blk[156];
	ent->mode = (uint32_t)(mode & 07777);
	ent->size = size;
	switch (ent->typeflag) {
	case '0': case 0: case '7':
		ent->type = OCITAR_FILE;
		break;
	case '5':
		ent->type = OCITAR_DIR;
		break;
	case 'x': case 'g': case 'L':
		ent->type = OCITAR_OTHER;       /* the caller handles these */
		break;
	case '1': case '2': case '3': case '4': case '6':
		ent->type = OCITAR_OTHER;
		if (size != 0 && ent->typeflag != '6')
			return ukit_fmt_errf(e, off + 124, "tar header: %c entry "
					"\"%.80s\" has size %" PRIu64,
					ent->typeflag, ent->name, size);
		break;
	default:
		return ukit_fmt_errf(e, off + 156, "tar header: unknown type flag "
				"0x%02x for \"%.80s\"", blk[156], ent->name);
	}
	return 1;
}

/* Apply "LEN key=value\n" pax records to (ent). */
static int apply_pax(const char *p, size_t n, uint64_t off,
		     char *path, size_t pathcap, bool *have_path,
		     uint64_t *size, bool *have_size, struct fmt_err *e)
{
	size_t i = 0;

	while (i < n) {
		uint64_t len = 0;
		size_t j = i, k;
		const char *kv, *eq;

		while (j < n && p[j] >= '0' && p[j] <= '9' && j - i < 10)
			len = len * 10 + (uint64_t)(p[j++] - '0');
		if (j == i || j >= n || p[j] != ' ' || len <= j - i + 1 ||
		    len > n - i || p[i + len - 1] != '\n')
			return ukit_fmt_errf(e, off + i, "tar pax header: malformed "
					"record at byte %zu", i);
		kv = p + j + 1;
		k = (size_t)(p + i + len - 1 - kv);
		eq = memchr(kv, '=', k);
		if (eq == NULL)
			return ukit_fmt_errf(e, off + i, "tar pax header: record "
					"without '='");
		if ((size_t)(eq - kv) == 4 && memcmp(kv, "path", 4) == 0) {
			size_t vl = k - 5;
			if (vl + 1 > pathcap || memchr(eq + 1, 0, vl))
				return ukit_fmt_errf(e, off + i, "tar pax header: "
						"path too long or with NUL");
			memcpy(path, eq + 1, vl);
			path[vl] = 0;
			*have_path = true;
		} else if ((size_t)(eq - kv) == 4 && memcmp(kv, "size", 4) == 0) {
			uint64_t v = 0;
			size_t vl = k - 5;
			if (vl == 0 || vl > 20)
				return ukit_fmt_errf(e, off + i, "tar pax header: "
						"bad size");
			for (size_t q = 0; q < vl; q++) {
				char c = eq[1 + q];
				if (c < '0' || c > '9' || v > UINT64_MAX / 10)
					return ukit_fmt_errf(e, off + i, "tar pax "
							"header: bad size");
				v = v * 10 + (uint64_t)(c - '0');
			}
			if (v > OCITAR_SIZE_MAX)
				return ukit_fmt_errf(e, off + i, "tar pax header: "
						"size %" PRIu64 " over the "
						"limit", v);
			*size = v;
			*have_size = true;
		}
		i += (size_t)len;
	}
	return 0;
}

int ukit_ocitar_next(struct ukit_ocitar_rd *r, struct ukit_ocitar_entry *ent,
		     struct fmt_err *e)
{
	uint8_t blk[OCITAR_BLOCK];
	char longname[OCITAR_NAME_MAX];
	bool have_path = false, have_size = false;
	uint64_t pax_size = 0;

	if (r->done)
		return 0;
	if (skip(r, r->left + r->pad, e) < 0)
		return -1;
	r->left = r->pad = 0;
	for (;;) {
		uint64_t hoff = r->pos;
		int rc;

		if (read_exact(r, blk, sizeof blk, e) < 0)
			return -1;
		rc = ukit_ocitar_parse_header(blk, hoff, ent, e);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			/* end: a second zero block should follow; a missing
			 * one (EOF) is tolerated as GNU tar does */
			r->done = true;
			if (have_path || have_size)
				return ukit_fmt_errf(e, hoff, "%s: pax header "
						"before the end of the "
						"archive", r->what);
			return 0;
		}
		if (ent->typeflag == 'x' || ent->typeflag == 'g' ||
		    ent->typeflag == 'L') {
			char *buf;
			uint64_t padn = (OCITAR_BLOCK - ent->size % OCITAR_BLOCK) %
					OCITAR_BLOCK;
			if (ent->size > OCITAR_PAX_MAX)
				return ukit_fmt_errf(e, hoff + 124, "%s: %c header "
						"of %" PRIu64 " bytes over the "
						"limit %u", r->what,
						ent->typeflag, ent->size,
						OCITAR_PAX_MAX);
			if (ent->typeflag == 'g') {
				if (skip(r, ent->size + padn, e) < 0)
					return -1;
				continue;
			}
			buf = malloc((size_t)ent->size + 1);
			if (buf == NULL)
				return ukit_fmt_errf(e, hoff, "out of memory");
			if (read_exact(r, buf, (size_t)ent->size, e) < 0 ||
			    skip(r, padn, e) < 0) {
				free(buf);
				return -1;
			}
			buf[ent->size] = 0;
			if (ent->typeflag == 'L') {
				size_t l = strnlen(buf, (size_t)ent->size);
				if (l + 1 > sizeof longname) {
					free(buf);
					return ukit_fmt_errf(e, hoff, "%s: long name "
							"over %d bytes", r->what,
							OCITAR_NAME_MAX);
				}
				memcpy(longname, buf, l + 1);
				have_path = true;
			} else if (apply_pax(buf, (size_t)ent->size,
					     hoff + OCITAR_BLOCK, longname,
					     sizeof longname, &have_path,
					     &pax_size, &have_size, e) < 0) {
				free(buf);
				return -1;
			}
			free(buf);
			continue;
		}
		if (have_path && normalise(longname, ent->name,
					   sizeof ent->name) < 0)
			return ukit_fmt_errf(e, hoff, "%s: name \"%.80s\" has a "
					"\"..\" component", r->what, longname);
		if (have_size)
			ent->size = pax_size;
		if (ent->type != OCITAR_FILE && ent->typeflag != '6') {
			if (ent->size)
				return ukit_fmt_errf(e, hoff + 124, "%s: \"%.80s\": "
						"non-file entry with data",
						r->what, ent->name);
		}
		ent->data_off = r->pos;
		r->left = ent->size;
		r->pad = (OCITAR_BLOCK - ent->size % OCITAR_BLOCK) %
			 OCITAR_BLOCK;
		return 1;
	}
}

ssize_t ukit_ocitar_read(struct ukit_ocitar_rd *r, void *buf, size_t len,
			 struct fmt_err *e)
{
	ssize_t n;

	if (r->left == 0)
		return 0;
	if (len > r->left)
		len = (size_t)r->left;
	n = r->src.read(r->src.ctx, buf, len, e);
	if (n < 0)
		return -1;
	if (n == 0)
		return ukit_fmt_errf(e, r->pos, "%s: tar archive truncated in "
				"the data of an entry", r->what);
	r->left -= (uint64_t)n;
	r->pos += (uint64_t)n;
	return n;
}
