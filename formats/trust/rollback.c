/*
 * rollback.c: the device's anti-rollback state file (see rollback.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "io.h"
#include "replace.h"
#include "rollback.h"
#include "sig.h"

#define FLOOR_MAX ((uint64_t)INT64_MAX)

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

static bool name_char(int c)
{
	return c != '\0' && strchr(name_chars, c) != NULL;
}

bool ukit_rollback_slot_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= UKIT_ROLLBACK_NAME_MAX &&
	       strspn(name, name_chars) == n;
}

/* One slot line at buf[*pos] (after "slot "), up to its newline. */
static int parse_slot(const uint8_t *buf, size_t len, size_t *pos,
		      struct ukit_rollback_state *s, struct fmt_err *e)
{
	struct ukit_rollback_slot *sl;
	size_t p = *pos, start = p, nl;
	uint64_t v = 0;

	if (s->n >= UKIT_ROLLBACK_SLOTS_MAX)
		return ukit_fmt_errf(e, p, "more than %d slots",
				UKIT_ROLLBACK_SLOTS_MAX);
	sl = &s->slot[s->n];
	while (p < len && name_char(buf[p]) && p - start < UKIT_ROLLBACK_NAME_MAX)
		p++;
	if (p == start)
		return ukit_fmt_errf(e, p, "slot name expected ([A-Za-z0-9._-])");
	if (p >= len || buf[p] != ' ')
		return ukit_fmt_errf(e, p, p - start >= UKIT_ROLLBACK_NAME_MAX &&
				p < len && name_char(buf[p]) ?
				"slot name longer than %d bytes" :
				"space after the slot name expected",
				UKIT_ROLLBACK_NAME_MAX);
	memcpy(sl->name, buf + start, p - start);
	sl->name[p - start] = '\0';
	if (s->n > 0 && strcmp(s->slot[s->n - 1].name, sl->name) >= 0)
		return ukit_fmt_errf(e, start, "slot \"%s\" %s", sl->name,
				strcmp(s->slot[s->n - 1].name, sl->name) == 0 ?
				"appears twice" : "out of order (names ascend)");
	start = ++p;
	for (nl = p; nl < len && buf[nl] != '\n'; nl++)
		;
	if (nl == p || nl - p > 19)
		return ukit_fmt_errf(e, p, nl == p ? "floor expected" :
				"floor is too long");
	if (buf[p] == '0' && nl - p > 1)
		return ukit_fmt_errf(e, p, "floor has a leading zero");
	for (; p < nl; p++) {
		if (buf[p] < '0' || buf[p] > '9')
			return ukit_fmt_errf(e, p, "floor: decimal digit expected");
		v = v * 10 + (uint64_t)(buf[p] - '0');   /* 19 digits: no wrap */
	}
	if (v > FLOOR_MAX)
		return ukit_fmt_errf(e, start, "floor %" PRIu64 " is above %" PRIu64,
				v, FLOOR_MAX);
	if (nl >= len)
		return ukit_fmt_errf(e, nl, "line ends without a newline");
	sl->floor = v;
	s->n++;
	*pos = nl + 1;
	return 0;
}

int ukit_rollback_parse(const uint8_t *buf, size_t len,
			struct ukit_rollback_state *s, struct fmt_err *e)
{
	const size_t ml = strlen(UKIT_ROLLBACK_MAGIC);
	size_t p;
	uint8_t md[32];
	char want[65];

	s->n = 0;
	if (len > UKIT_ROLLBACK_FILE_MAX)
		return ukit_fmt_errf(e, UKIT_ROLLBACK_FILE_MAX,
				"larger than %d bytes", UKIT_ROLLBACK_FILE_MAX);
	if (len < ml || memcmp(buf, UKIT_ROLLBACK_MAGIC, ml) != 0) {
		if (len >= 20 && memcmp(buf, "ukit-rollback-state ", 20) == 0)
			return ukit_fmt_errf(e, 20, "unsupported version (want 1)");
		return ukit_fmt_errf(e, 0, "not a ukit rollback state file "
				"(want \"ukit-rollback-state 1\")");
	}
	for (p = ml; len - p >= 5 && memcmp(buf + p, "slot ", 5) == 0;) {
		p += 5;
		if (parse_slot(buf, len, &p, s, e) != 0)
			return -1;
	}
	if (len - p < 7 || memcmp(buf + p, "sha256 ", 7) != 0)
		return ukit_fmt_errf(e, p, p == len ? "truncated: no sha256 line" :
				"\"slot\" or \"sha256\" line expected");
	SHA256(buf, p, md);
	ukit_sig_hex(md, 32, want);
	for (size_t i = p + 7; i < len && i < p + 7 + 64; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		      (buf[i] >= 'a' && buf[i] <= 'f')))
			return ukit_fmt_errf(e, i, "sha256: lowercase hex digit "
					"expected");
	if (len - p - 7 < 65 || buf[p + 7 + 64] != '\n')
		return ukit_fmt_errf(e, p + 7, "sha256: 64 hex digits and a "
				"newline expected");
	if (CRYPTO_memcmp(buf + p + 7, want, 64) != 0)
		return ukit_fmt_errf(e, p + 7, "checksum mismatch: the file says "
				"%.64s, its contents hash to %s",
				(const char *)buf + p + 7, want);
	if (len != p + 7 + 65)
		return ukit_fmt_errf(e, p + 7 + 65, "bytes after the sha256 line");
	return 0;
}

size_t ukit_rollback_format(const struct ukit_rollback_state *s, char *buf,
			    size_t size)
{
	uint8_t md[32];
	char h[65], *t = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&t, &n);
	int w;

	if (f == NULL)
		return 0;
	fputs(UKIT_ROLLBACK_MAGIC, f);
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "slot %s %" PRIu64 "\n", s->slot[i].name,
			s->slot[i].floor);
	if (fclose(f) != 0) {
		free(t);
		return 0;
	}
	SHA256((const uint8_t *)t, n, md);
	ukit_sig_hex(md, 32, h);
	w = snprintf(buf, size, "%ssha256 %s\n", t, h);
	free(t);
	return w < 0 || (size_t)w >= size ? 0 : (size_t)w;
}

uint64_t ukit_rollback_floor(const struct ukit_rollback_state *s,
			     const char *slot)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->slot[i].name, slot) == 0)
			return s->slot[i].floor;
	return 0;
}

int ukit_rollback_load(const char *path, struct ukit_rollback_state *s,
		       struct fmt_err *e)
{
	uint8_t *buf;
	struct stat st;
	ssize_t got;
	int fd, rc;

	e->path = path;
	s->n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;       /* no state yet: every floor is 0 */
	if (fd < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot open the rollback state");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "rollback state is not a "
				"regular file");
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "rollback state has mode %04o: "
				"others could lower the floor (want 0600)",
				(unsigned)(st.st_mode & 07777));
	}
	buf = malloc(UKIT_ROLLBACK_FILE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	got = ukit_pread_full(fd, buf, UKIT_ROLLBACK_FILE_MAX + 1, 0);
	if (got < 0)
		rc = ukit_fmt_errno(e, FMT_NOOFF, "read failed");
	else
		rc = ukit_rollback_parse(buf, (size_t)got, s, e);
	free(buf);
	close(fd);
	return rc;
}

/* The directory of (path), locked exclusively; its fd or -1 with (e). */
static int lock_dir(const char *path, struct fmt_err *e)
{
	char *copy = strdup(path), *dir;
	int fd;

	if (copy == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	dir = dirname(copy);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "cannot open directory %s", dir);
		free(copy);
		return -1;
	}
	free(copy);
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			ukit_fmt_errno(e, FMT_NOOFF, "cannot lock the state's "
				  "directory");
			close(fd);
			return -1;
		}
	}
	return fd;
}

int ukit_rollback_raise(const char *path, const char *slot, uint64_t index,
			uint64_t *old, struct fmt_err *e)
{
	struct ukit_rollback_state *s;
	struct ukit_rollback_slot *sl = NULL;
	char *buf = NULL;
	size_t len, i;
	int dfd, rc = -1;

	e->path = path;
	if (!ukit_rollback_slot_valid(slot))
		return ukit_fmt_errf(e, FMT_NOOFF, "invalid slot name \"%.80s\"",
				slot);
	if (index > FLOOR_MAX)
		return ukit_fmt_errf(e, FMT_NOOFF, "rollback index %" PRIu64
				" is above %" PRIu64, index, FLOOR_MAX);
	if ((s = malloc(sizeof *s)) == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	if ((dfd = lock_dir(path, e)) < 0)
		goto out;
	if (ukit_rollback_load(path, s, e) != 0)
		goto out;
	for (i = 0; i < s->n; i++) {
		int c = strcmp(s->slot[i].name, slot);
		if (c == 0)
			sl = &s->slot[i];
		if (c >= 0)
			break;
	}
	if (old != NULL)
		*old = sl ? sl->floor : 0;
	if (sl != NULL && sl->floor >= index) {
		rc = 0;                 /* nothing to raise */
		goto out;
	}
	if (sl == NULL) {
		if (s->n >= UKIT_ROLLBACK_SLOTS_MAX) {
			ukit_fmt_errf(e, FMT_NOOFF, "already %d slots: cannot add "
				 "\"%s\"", UKIT_ROLLBACK_SLOTS_MAX, slot);
			goto out;
		}
		memmove(&s->slot[i + 1], &s->slot[i],
			(s->n - i) * sizeof s->slot[0]);
		sl = &s->slot[i];
		snprintf(sl->name, sizeof sl->name, "%s", slot);
		s->n++;
	}
	sl->floor = index;
	if ((buf = malloc(UKIT_ROLLBACK_FILE_MAX)) == NULL) {
		ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		goto out;
	}
	len = ukit_rollback_format(s, buf, UKIT_ROLLBACK_FILE_MAX);
	if (len == 0) {
		ukit_fmt_errf(e, FMT_NOOFF, "state would exceed %d bytes",
			 UKIT_ROLLBACK_FILE_MAX);
		goto out;
	}
	rc = ukit_replace_file(path, buf, len, 0600, e);
out:
	if (dfd >= 0)
		close(dfd);            /* drops the lock */
	free(buf);
	free(s);
	return rc;
}
