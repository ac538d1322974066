/*
 * statement.h: the in-toto Statement v1 that ukit-sign signs.
 *
 * {"_type": "https://in-toto.io/Statement/v1",
 *  "subject": [{"name": NAME, "digest": {"sha256": HEX}}],
 *  "predicateType": "urn:ukit:image:v1",
 *  "predicate": {"format": "elf"|"qcow2"|"raw"|"bin", "size": N,
 *                "rollback": N, "created": "YYYY-MM-DDTHH:MM:SSZ",
 *                "solo5": {"abi": {"target": T, "version": N},
 *                          "manifest": <query-manifest object>},   (ELF)
 *                "annotations": {K: V, ...}}}
 * Parsing is strict: exact keys, one subject, bounded sizes.
 */
#ifndef UKIT_STATEMENT_H
#define UKIT_STATEMENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "err.h"

#define STMT_TYPE            "https://in-toto.io/Statement/v1"
#define STMT_PREDICATE_TYPE  "urn:ukit:image:v1"
#define STMT_NAME_MAX        255     /* bytes of the subject name */
#define STMT_ANNOT_MAX       64      /* annotations */
#define STMT_ANNOT_KEY_MAX   128     /* bytes */
#define STMT_ANNOT_VAL_MAX   1024    /* bytes */
#define STMT_ROLLBACK_MAX    ((uint64_t)INT64_MAX)

/* What the signer states about an image. */
struct stmt_info {
	const char *name;            /* subject name: the image file name */
	uint8_t     sha256[32];
	uint64_t    size;
	const char *format;          /* ukit_image_format_name() */
	uint64_t    rollback;
	time_t      created;
	const json_t *solo5;         /* {abi, manifest} or NULL (borrowed) */
	const json_t *annotations;   /* {K: V} or NULL (borrowed) */
	const json_t *verity;        /* dm-verity object or NULL (borrowed) */
};

/* A parsed statement; pointers borrow from (root). */
struct stmt {
	json_t     *root;
	const char *name;
	uint8_t     sha256[32];
	char        sha256_hex[65];
	uint64_t    size;
	const char *format;
	uint64_t    rollback;
	const char *created;
	time_t      created_t;
	json_t     *solo5;           /* NULL when absent */
	json_t     *annotations;     /* NULL when absent */
	json_t     *verity;          /* NULL when absent */
};

/*
 * The predicate object for (info): new reference or NULL (e set).  The
 * one place where predicate fields are added.
 */
json_t *ukit_stmt_predicate(const struct stmt_info *info, struct fmt_err *e);

/* The whole statement, serialised compactly: malloc'd (*out). */
int ukit_stmt_build(const struct stmt_info *info, char **out, size_t *len,
	       struct fmt_err *e);

/* Parse and check (buf, len).  0 or -1 with (e) saying the JSON path. */
int ukit_stmt_parse(const uint8_t *buf, size_t len, struct stmt *out,
	       struct fmt_err *e);

void ukit_stmt_free(struct stmt *s);

/* Check the shape of a solo5 object {abi, manifest} at (path). */
int ukit_stmt_solo5_check(const json_t *solo5, const char *path, struct fmt_err *e);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" <-> time_t. */
int  ukit_stmt_time_parse(const char *s, time_t *out);
void ukit_stmt_time_format(time_t t, char out[21]);

#endif
