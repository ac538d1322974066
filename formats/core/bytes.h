/*
 * bytes.h: little/big-endian loads and stores, and overflow-checked
 * arithmetic for sizes that come from files.
 */
#ifndef UKIT_BYTES_H
#define UKIT_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline uint16_t le16_load(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t le32_load(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}
static inline uint64_t le64_load(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)le32_load(b) | (uint64_t)le32_load(b + 4) << 32;
}
static inline uint16_t be16_load(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t be32_load(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}
static inline uint64_t be64_load(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)be32_load(b) << 32 | (uint64_t)be32_load(b + 4);
}

static inline void le16_store(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void le32_store(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}
static inline void le64_store(void *p, uint64_t v)
{
	le32_store(p, (uint32_t)v);
	le32_store((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
static inline void be16_store(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}
static inline void be32_store(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}
static inline void be64_store(void *p, uint64_t v)
{
	be32_store(p, (uint32_t)(v >> 32));
	be32_store((uint8_t *)p + 4, (uint32_t)v);
}

/* Byte-order-parametrised variants: (big) selects big-endian. */
static inline uint16_t ld16(const void *p, bool big)
{
	return big ? be16_load(p) : le16_load(p);
}
static inline uint32_t ld32(const void *p, bool big)
{
	return big ? be32_load(p) : le32_load(p);
}
static inline uint64_t ld64(const void *p, bool big)
{
	return big ? be64_load(p) : le64_load(p);
}
static inline void st16(void *p, uint16_t v, bool big)
{
	if (big)
		be16_store(p, v);
	else
		le16_store(p, v);
}
static inline void st32(void *p, uint32_t v, bool big)
{
	if (big)
		be32_store(p, v);
	else
		le32_store(p, v);
}
static inline void st64(void *p, uint64_t v, bool big)
{
	if (big)
		be64_store(p, v);
	else
		le64_store(p, v);
}

/* Checked arithmetic: return true on overflow, (*r) is then unspecified. */
static inline bool ck_add(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_add_overflow(a, b, r);
}
static inline bool ck_mul(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_mul_overflow(a, b, r);
}

/* (a) / (b), rounded up; (b) > 0 (cannot overflow). */
static inline uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Round (v) up to a multiple of (a), a power of two; true on overflow. */
static inline bool ck_align(uint64_t v, uint64_t a, uint64_t *r)
{
	if (ck_add(v, a - 1, r))
		return true;
	*r &= ~(a - 1);
	return false;
}

/* True if [off, off+len) lies within [0, size). */
static inline bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end;
	return !ck_add(off, len, &end) && end <= size;
}

#endif
