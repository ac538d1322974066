/*
 * rollback.h: the anti-rollback state a device keeps between boots (verify
 * --rollback-state FILE --rollback-slot NAME).  One floor per slot: an image
 * whose signed rollback index is below its slot's floor is refused, and
 * after a successful verification the floor is raised to the image's index
 * with an atomic, fsynced replace of the file, so a power cut or kill at any
 * point leaves the old floor or the new one, never less.
 *
 * The file (text, at most UKIT_ROLLBACK_FILE_MAX bytes, mode 0600):
 *
 *   ukit-rollback-state 1\n
 *   slot NAME FLOOR\n             (zero or more; names strictly ascending)
 *   sha256 HEX\n                  (SHA-256 of every byte before this line)
 *
 * NAME is 1..64 of [A-Za-z0-9._-]; FLOOR a decimal number without leading
 * zeros, at most 2^63-1.  Anything else (another version, a bad line, a
 * wrong checksum, bytes after the checksum) is corrupt: the file is refused
 * with the byte offset of the first bad byte, never read as floor 0.
 */
#ifndef UKIT_ROLLBACK_H
#define UKIT_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define UKIT_ROLLBACK_MAGIC      "ukit-rollback-state 1\n"
#define UKIT_ROLLBACK_NAME_MAX   64
#define UKIT_ROLLBACK_SLOTS_MAX  256
#define UKIT_ROLLBACK_FILE_MAX   32768
#define UKIT_ROLLBACK_DEFAULT    "default"

struct ukit_rollback_slot {
	char     name[UKIT_ROLLBACK_NAME_MAX + 1];
	uint64_t floor;
};

struct ukit_rollback_state {
	size_t                    n;
	struct ukit_rollback_slot slot[UKIT_ROLLBACK_SLOTS_MAX];
};

/* Whether (name) is a valid slot name. */
bool ukit_rollback_slot_valid(const char *name);

/* Parse (len) bytes into (s).  0, or -1 with (e) (e->off: first bad byte). */
int ukit_rollback_parse(const uint8_t *buf, size_t len,
			struct ukit_rollback_state *s, struct fmt_err *e);

/* The file form of (s) into (buf); its length, or 0 if (size) is short. */
size_t ukit_rollback_format(const struct ukit_rollback_state *s, char *buf,
			    size_t size);

/* The floor of (slot); 0 for a slot the state does not name. */
uint64_t ukit_rollback_floor(const struct ukit_rollback_state *s,
			     const char *slot);

/*
 * Read (path) into (s).  A missing file is an empty state.  A file that is not a regular file, is writable by group or
 * others, or is corrupt is refused: -1 with (e) (e->path = path, e->off).
 */
int ukit_rollback_load(const char *path, struct ukit_rollback_state *s,
		       struct fmt_err *e);

/*
 * Raise the floor of (slot) in (path) to (index) if it is lower, under an
 * exclusive lock on the file's directory (concurrent raises never lower a
 * floor): re-read, raise, write a temporary (mode 0600), fsync, rename,
 * fsync the directory.  A missing file is created.  (*old) gets the floor
 * found (may be NULL).  0, or -1 with (e); the file is untouched on error.
 */
int ukit_rollback_raise(const char *path, const char *slot, uint64_t index,
			uint64_t *old, struct fmt_err *e);

#endif
