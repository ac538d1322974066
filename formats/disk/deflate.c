/*
 * deflate.c: a raw deflate encoder for qcow2 clusters (see deflate.h).
 *
 * Matches are found through hash chains over three-byte prefixes.  head[]
 * holds, per hash, the newest position plus a running base; prev[] links
 * each position (modulo the window) to the previous one with the same
 * hash.  Each call moves the base past every position of the previous
 * call, so stale entries compare as out of the window and the tables are
 * cleared only when the 32-bit base would wrap.  Parsing is lazy, as in
 * zlib's deflate_slow(): a match is emitted only if the match at the next
 * byte is not longer.  Symbols are gathered into blocks of BLOCK_SYMS and
 * each block is written with its own dynamic Huffman codes.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"

#define WINDOW       4096u
#define MIN_MATCH    3u
#define MAX_MATCH    258u
#define HASH_BITS    15
#define BLOCK_SYMS   32768u      /* symbols per block, as zlib memLevel 9 */
#define MAX_CHAIN    32u         /* candidates looked at per position */
#define GOOD_LEN     4u          /* a match this long: look at a quarter */
#define NICE_LEN     128u        /* a match this long: stop looking */
#define LAZY_LEN     16u         /* a match this long: no lazy look */
#define NLITLEN      286u        /* literal/length codes in use */
#define NDIST        30u
#define NCLEN        19u
#define MAX_BITS     15u
#define MAX_CLEN_BITS 7u
#define LIT_END      256u
#define SYM_MATCH    0x80000000u /* symbol: match (len << 16 | dist) */

struct deflate {
	uint32_t head[1u << HASH_BITS];
	uint32_t prev[WINDOW];
	uint32_t base;           /* position p is stored as base + p */
	uint32_t sym[BLOCK_SYMS];
	uint32_t nsym;
	uint32_t lfreq[NLITLEN], dfreq[NDIST];
	/* the bit writer */
	uint64_t bits;
	unsigned nbits;
	uint8_t *o, *oend;
	bool full;
};

/* ---- code tables (RFC 1951 3.2.5) -------------------------------------- */

static const uint16_t len_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t len_xbits[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[30] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
	8193, 12289, 16385, 24577,
};
static const uint8_t dist_xbits[30] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};
static const uint8_t clen_order[NCLEN] = {
	16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
};

/* Length code (0..28) of a match length 3..258. */
static unsigned len_code(unsigned len)
{
	unsigned c = 0;

	if (len == MAX_MATCH)
		return 28;
	while (c + 1 < 28 && len_base[c + 1] <= len)
		c++;
	return c;
}

/* Distance code (0..29) of a distance 1..32768. */
static unsigned dist_code(unsigned dist)
{
	unsigned c = 0;

	while (c + 1 < NDIST && dist_base[c + 1] <= dist)
		c++;
	return c;
}

/* Both as tables, built once: the encoder looks them up per symbol. */
static uint8_t lcode_tab[MAX_MATCH + 1];
static uint8_t dcode_tab[WINDOW + 1];

static void tables_init(void)
{
	for (unsigned l = MIN_MATCH; l <= MAX_MATCH; l++)
		lcode_tab[l] = (uint8_t)len_code(l);
	for (unsigned d = 1; d <= WINDOW; d++)
		dcode_tab[d] = (uint8_t)dist_code(d);
}

struct deflate *ukit_deflate_new(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct deflate *d = calloc(1, sizeof *d);

	if (d == NULL)
		return NULL;
	pthread_once(&once, tables_init);
	d->base = 1;            /* 0 in head[] means empty */
	return d;
}

void ukit_deflate_free(struct deflate *d)
{
	free(d);
}

/* ---- the bit writer ---------------------------------------------------- */

static inline __attribute__((always_inline)) void put(struct deflate *d,
						    uint32_t v, unsigned n)
{
	d->bits |= (uint64_t)v << d->nbits;
	d->nbits += n;
	if (d->nbits >= 32) {
		if (d->oend - d->o < 4) {
			d->full = true;
			d->o = d->oend;
		} else {
			uint32_t w = (uint32_t)d->bits;

			d->o[0] = (uint8_t)w;
			d->o[1] = (uint8_t)(w >> 8);
			d->o[2] = (uint8_t)(w >> 16);
			d->o[3] = (uint8_t)(w >> 24);
			d->o += 4;
		}
		d->bits >>= 32;
		d->nbits -= 32;
	}
}

/* Write out the last partial byte(s). */
static void put_flush(struct deflate *d)
{
	while (d->nbits > 0) {
		if (d->o == d->oend) {
			d->full = true;
			return;
		}
		*d->o++ = (uint8_t)d->bits;
		d->bits >>= 8;
		d->nbits = d->nbits > 8 ? d->nbits - 8 : 0;
	}
}

/* ---- Huffman codes ----------------------------------------------------- */

/*
 * Code lengths for (n) symbols with frequencies (freq) (at least two
 * non-zero), none longer than (maxbits): a Huffman tree over the symbols
 * sorted by frequency; if it is too deep, the frequencies are flattened
 * (halved, rounding up) and the tree built again.
 */
static void code_lengths(const uint32_t *freq, unsigned n, unsigned maxbits,
			 uint8_t *len)
{
	uint32_t f[NLITLEN];
	uint16_t sym[NLITLEN];
	/* nodes: leaves 0..m-1 in frequency order, then internal ones */
	uint32_t w[2 * NLITLEN];
	uint16_t parent[2 * NLITLEN];
	uint16_t depth[2 * NLITLEN];
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++)
		f[i] = freq[i];
	for (;;) {
		unsigned leaf = 0, node, next, maxd = 0;

		m = 0;
		for (unsigned i = 0; i < n; i++) {
			if (f[i] == 0)
				continue;
			/* insertion sort: at most 286 symbols */
			unsigned j = m++;
			while (j > 0 && f[sym[j - 1]] > f[i]) {
				sym[j] = sym[j - 1];
				j--;
			}
			sym[j] = (uint16_t)i;
		}
		for (unsigned i = 0; i < m; i++)
			w[i] = f[sym[i]];
		/* two queues: leaves in order, internal nodes as made */
		node = m;
		next = m;
		for (unsigned k = 0; k + 1 < m; k++) {
			unsigned a, b;

			a = (leaf < m && (node == next || w[leaf] <= w[node]))
				? leaf++ : node++;
			b = (leaf < m && (node == next || w[leaf] <= w[node]))
				? leaf++ : node++;
			w[next] = w[a] + w[b];
			parent[a] = parent[b] = (uint16_t)next;
			next++;
		}
		/* depths from the root (the last node) down */
		depth[next - 1] = 0;
		for (unsigned i = next - 1; i-- > 0;) {
			depth[i] = (uint16_t)(depth[parent[i]] + 1);
			if (i < m && depth[i] > maxd)
				maxd = depth[i];
		}
		if (maxd <= maxbits)
			break;
		for (unsigned i = 0; i < n; i++)
			if (f[i] != 0)
				f[i] = (f[i] + 1) / 2;
	}
	memset(len, 0, n);
	for (unsigned i = 0; i < m; i++)
		len[sym[i]] = (uint8_t)depth[i];
}

/* Canonical codes for lengths (len), bit-reversed for LSB-first output. */
static void code_words(const uint8_t *len, unsigned n, uint16_t *code)
{
	unsigned count[MAX_BITS + 1] = { 0 }, next[MAX_BITS + 1];
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		count[len[i]]++;
	count[0] = 0;
	for (unsigned b = 1; b <= MAX_BITS; b++) {
		c = (c + count[b - 1]) << 1;
		next[b] = c;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned l = len[i], v, r = 0;

		if (l == 0)
			continue;
		v = next[l]++;
		for (unsigned b = 0; b < l; b++) {
			r = (r << 1) | (v & 1);
			v >>= 1;
		}
		code[i] = (uint16_t)r;
	}
}

/* At least two non-zero frequencies, so every code is complete. */
static void two_symbols(uint32_t *freq, unsigned n)
{
	unsigned nz = 0;

	for (unsigned i = 0; i < n; i++)
		nz += freq[i] != 0;
	for (unsigned i = 0; nz < 2 && i < n; i++)
		if (freq[i] == 0) {
			freq[i] = 1;
			nz++;
		}
}

/* ---- writing a block --------------------------------------------------- */

static void write_block(struct deflate *d, bool final)
{
	uint8_t llen[NLITLEN], dlen[NDIST], clen[NCLEN];
	uint16_t lcode[NLITLEN], dcode[NDIST], ccode[NCLEN];
	uint8_t seq[NLITLEN + NDIST], rle[NLITLEN + NDIST], rlx[NLITLEN + NDIST];
	uint32_t cfreq[NCLEN] = { 0 };
	unsigned nlit = 257, ndist = 1, nseq, nrle = 0, nclen = 4;

	d->lfreq[LIT_END]++;
	two_symbols(d->lfreq, NLITLEN);
	two_symbols(d->dfreq, NDIST);
	code_lengths(d->lfreq, NLITLEN, MAX_BITS, llen);
	code_lengths(d->dfreq, NDIST, MAX_BITS, dlen);
	code_words(llen, NLITLEN, lcode);
	code_words(dlen, NDIST, dcode);
	for (unsigned i = 0; i < NLITLEN; i++)
		if (llen[i])
			nlit = i + 1 > nlit ? i + 1 : nlit;
	for (unsigned i = 0; i < NDIST; i++)
		if (dlen[i])
			ndist = i + 1;
	/* code lengths, run-length coded (16: repeat, 17/18: zeros) */
	memcpy(seq, llen, nlit);
	memcpy(seq + nlit, dlen, ndist);
	nseq = nlit + ndist;
	for (unsigned i = 0; i < nseq;) {
		unsigned v = seq[i], run = 1;

		while (i + run < nseq && seq[i + run] == v)
			run++;
		i += run;
		if (v == 0) {
			while (run >= 11) {
				unsigned r = run > 138 ? 138 : run;
				rle[nrle] = 18;
				rlx[nrle++] = (uint8_t)(r - 11);
				run -= r;
			}
			if (run >= 3) {
				rle[nrle] = 17;
				rlx[nrle++] = (uint8_t)(run - 3);
				run = 0;
			}
		} else {
			rle[nrle] = (uint8_t)v;
			rlx[nrle++] = 0;
			run--;
			while (run >= 3) {
				unsigned r = run > 6 ? 6 : run;
				rle[nrle] = 16;
				rlx[nrle++] = (uint8_t)(r - 3);
				run -= r;
			}
		}
		while (run-- > 0) {
			rle[nrle] = (uint8_t)v;
			rlx[nrle++] = 0;
		}
	}
	for (unsigned i = 0; i < nrle; i++)
		cfreq[rle[i]]++;
	two_symbols(cfreq, NCLEN);
	code_lengths(cfreq, NCLEN, MAX_CLEN_BITS, clen);
	code_words(clen, NCLEN, ccode);
	for (unsigned i = 0; i < NCLEN; i++)
		if (clen[clen_order[i]])
			nclen = i + 1 > nclen ? i + 1 : nclen;

	put(d, final ? 1 : 0, 1);
	put(d, 2, 2);                   /* dynamic Huffman codes */
	put(d, nlit - 257, 5);
	put(d, ndist - 1, 5);
	put(d, nclen - 4, 4);
	for (unsigned i = 0; i < nclen; i++)
		put(d, clen[clen_order[i]], 3);
	for (unsigned i = 0; i < nrle; i++) {
		unsigned s = rle[i];

		put(d, ccode[s], clen[s]);
		if (s == 16)
			put(d, rlx[i], 2);
		else if (s == 17)
			put(d, rlx[i], 3);
		else if (s == 18)
			put(d, rlx[i], 7);
	}
	for (uint32_t i = 0; i < d->nsym && !d->full; i++) {
		uint32_t s = d->sym[i];

		if (!(s & SYM_MATCH)) {
			put(d, lcode[s], llen[s]);
			continue;
		}
		unsigned len = (s >> 16) & 0x1ff, dist = s & 0xffff;
		unsigned lc = lcode_tab[len], dc = dcode_tab[dist];

		put(d, lcode[257 + lc], llen[257 + lc]);
		if (len_xbits[lc])
			put(d, len - len_base[lc], len_xbits[lc]);
		put(d, dcode[dc], dlen[dc]);
		if (dist_xbits[dc])
			put(d, dist - dist_base[dc], dist_xbits[dc]);
	}
	put(d, lcode[LIT_END], llen[LIT_END]);
	d->nsym = 0;
	memset(d->lfreq, 0, sizeof d->lfreq);
	memset(d->dfreq, 0, sizeof d->dfreq);
}

/* ---- matching ---------------------------------------------------------- */

static inline uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Hash of the three bytes at (p) (four must be readable). */
static inline uint32_t hash3(const uint8_t *p)
{
	return ((load32(p) & 0xffffffu) * 2654435761u) >> (32 - HASH_BITS);
}

/* Bytes in common at (a) and (b), at most (max). */
static inline unsigned common(const uint8_t *a, const uint8_t *b,
			      unsigned max)
{
	unsigned l = 0;

	while (l + 8 <= max) {
		uint64_t x = load64(a + l) ^ load64(b + l);

		if (x != 0)
			return l + (unsigned)__builtin_ctzll(x) / 8;
		l += 8;
	}
	while (l < max && a[l] == b[l])
		l++;
	return l;
}

struct matcher {
	struct deflate *d;
	const uint8_t *in;
	uint32_t n;
	uint32_t ins;            /* next position to enter in the tables */
};

/* Enter positions up to (p) (exclusive) in the hash tables. */
static inline void insert_to(struct matcher *m, uint32_t p)
{
	struct deflate *d = m->d;
	uint32_t end = m->n >= 4 ? m->n - 3 : 0;

	if (p > end)
		p = end;
	for (; m->ins < p; m->ins++) {
		uint32_t h = hash3(m->in + m->ins);

		d->prev[m->ins & (WINDOW - 1)] = d->head[h];
		d->head[h] = d->base + m->ins;
	}
}

/*
 * The longest match for position (p), looking at up to (chain)
 * candidates; 0 if none of MIN_MATCH bytes.  Enters (p) in the tables.
 */
static unsigned find(struct matcher *m, uint32_t p, unsigned chain,
		     unsigned *dist)
{
	struct deflate *d = m->d;
	const uint8_t *in = m->in, *cur = in + p;
	uint32_t limit = p > DEFLATE_MAX_DIST ? p - DEFLATE_MAX_DIST : 0;
	unsigned best = MIN_MATCH - 1;
	unsigned max = m->n - p < MAX_MATCH ? m->n - p : MAX_MATCH;
	uint32_t cand, h;

	insert_to(m, p);
	if (m->n - p < 4)
		return 0;
	h = hash3(cur);
	cand = d->head[h];
	d->prev[p & (WINDOW - 1)] = cand;
	d->head[h] = d->base + p;
	m->ins = p + 1;
	while (chain-- > 0 && cand >= d->base + limit) {
		const uint8_t *c = in + (cand - d->base);

		if (c[best] == cur[best] &&
		    ((load32(c) ^ load32(cur)) & 0xffffffu) == 0) {
			unsigned l = common(c, cur, max);

			if (l > best) {
				best = l;
				*dist = (unsigned)(cur - c);
				if (l >= NICE_LEN || l == max)
					break;
			}
		}
		cand = d->prev[(cand - d->base) & (WINDOW - 1)];
	}
	return best >= MIN_MATCH ? best : 0;
}

static void emit_lit(struct deflate *d, uint8_t c)
{
	d->sym[d->nsym++] = c;
	d->lfreq[c]++;
}

static void emit_match(struct deflate *d, unsigned len, unsigned dist)
{
	d->sym[d->nsym++] = SYM_MATCH | (uint32_t)len << 16 | dist;
	d->lfreq[257 + lcode_tab[len]]++;
	d->dfreq[dcode_tab[dist]]++;
}

size_t ukit_deflate_compress(struct deflate *d, const uint8_t *in, size_t n,
			uint8_t *out, size_t cap)
{
	struct matcher m = { .d = d, .in = in, .n = (uint32_t)n };
	uint32_t p = 0;
	unsigned len = 0, dist = 0;
	bool have = false;

	if (n > 0x7fffffffu)
		return 0;
	/* keep base + every position of this call below 2^32 */
	if (d->base > 0xffffffffu - (uint32_t)n - WINDOW) {
		memset(d->head, 0, sizeof d->head);
		d->base = 1;
	}
	d->o = out;
	d->oend = out + cap;
	d->bits = 0;
	d->nbits = 0;
	d->full = false;
	d->nsym = 0;
	memset(d->lfreq, 0, sizeof d->lfreq);
	memset(d->dfreq, 0, sizeof d->dfreq);
	while (p < n && !d->full) {
		if (!have)
			len = find(&m, p, MAX_CHAIN, &dist);
		have = false;
		if (len == 0) {
			emit_lit(d, in[p++]);
		} else {
			unsigned len2 = 0, dist2 = 0;

			if (len < LAZY_LEN && p + 1 < n)
				len2 = find(&m, p + 1, len >= GOOD_LEN
					    ? MAX_CHAIN / 4 : MAX_CHAIN,
					    &dist2);
			if (len2 > len) {
				/* better one byte on: a literal, then look
				 * again from there */
				emit_lit(d, in[p++]);
				len = len2;
				dist = dist2;
				have = true;
			} else {
				emit_match(d, len, dist);
				p += len;
			}
		}
		if (d->nsym >= BLOCK_SYMS - 2)
			write_block(d, false);
	}
	if (!d->full)
		write_block(d, true);
	if (!d->full)
		put_flush(d);
	/* every position of this call is now out of any later window */
	d->base += (uint32_t)n + WINDOW;
	if (d->full)
		return 0;
	return (size_t)(d->o - out);
}
