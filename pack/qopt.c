/*
 * qopt.c: qemu-img's spellings, shared by convert, create, measure, map,
 * resize, snapshot, info and check: sizes with suffixes, -o KEY=VALUE
 * lists of qcow2 creation options, --output=json|human, -t cache modes,
 * and an output path that is a symbolic link.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pack.h"

int pack_parse_size(const char *s, uint64_t *v)
{
	static const char suf[] = "bkmgtpe";
	char *end;
	unsigned long long n;
	const char *p;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		unsigned sh;

		if (end[1] != '\0' ||
		    (p = strchr(suf, end[0] | 0x20)) == NULL)
			return -1;
		sh = 10 * (unsigned)(p - suf);
		if (sh > 0 && n > (UINT64_MAX >> sh))
			return -1;
		n <<= sh;
	}
	if (n > (uint64_t)INT64_MAX)
		return -1;
	*v = n;
	return 0;
}

static int onoff(const char *cmd, const char *key, const char *v, bool *b)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
		*b = true;
	else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
		*b = false;
	else {
		cli_errx("%s: -o %s=%s: want on or off", cmd, key, v);
		return -1;
	}
	return 0;
}

void pack_qopts_init(struct pack_qopts *o)
{
	memset(o, 0, sizeof *o);
	o->q.cluster_bits = 16;
	o->q.version = 3;
	o->q.comp = QCOW2W_NONE;
	o->ctype = QCOW2W_ZLIB;
}

int pack_parse_o(const char *cmd, const char *arg, struct pack_qopts *o)
{
	char *copy = strdup(arg), *save = NULL, *kv;
	int rc = 0;

	if (copy == NULL) {
		cli_errx("%s: out of memory", cmd);
		return -1;
	}
	for (kv = strtok_r(copy, ",", &save); kv != NULL && rc == 0;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t n;

		if (v == NULL) {
			cli_errx("%s: -o %s: want KEY=VALUE", cmd, kv);
			rc = -1;
			break;
		}
		*v++ = '\0';
		o->any = true;
		if (strcmp(kv, "compat") == 0) {
			if (strcmp(v, "0.10") == 0 || strcmp(v, "v2") == 0)
				o->q.version = 2;
			else if (strcmp(v, "1.1") == 0 || strcmp(v, "v3") == 0)
				o->q.version = 3;
			else {
				cli_errx("%s: -o compat=%s: want 0.10, v2, 1.1 "
					 "or v3", cmd, v);
				rc = -1;
			}
			o->have_compat = true;
		} else if (strcmp(kv, "cluster_size") == 0) {
			if (pack_parse_size(v, &n) < 0 || n < 512 ||
			    n > (2u << 20) || (n & (n - 1)) != 0) {
				cli_errx("%s: -o cluster_size=%s: want a power "
					 "of two from 512 to 2M", cmd, v);
				rc = -1;
			} else {
				o->q.cluster_bits =
					(unsigned)__builtin_ctzll(n);
			}
		} else if (strcmp(kv, "compression_type") == 0) {
			if (strcmp(v, "zlib") == 0)
				o->ctype = QCOW2W_ZLIB;
			else if (strcmp(v, "zstd") == 0)
				o->ctype = QCOW2W_ZSTD;
			else {
				cli_errx("%s: -o compression_type=%s: want zlib "
					 "or zstd", cmd, v);
				rc = -1;
			}
			o->have_ctype = true;
		} else if (strcmp(kv, "refcount_bits") == 0) {
			if (pack_parse_size(v, &n) < 0 || n < 1 || n > 64 ||
			    (n & (n - 1)) != 0) {
				cli_errx("%s: -o refcount_bits=%s: want 1, 2, 4, "
					 "8, 16, 32 or 64", cmd, v);
				rc = -1;
			} else {
				o->q.refcount_bits = (unsigned)n;
			}
		} else if (strcmp(kv, "lazy_refcounts") == 0) {
			rc = onoff(cmd, kv, v, &o->q.lazy_refcounts);
		} else if (strcmp(kv, "extended_l2") == 0) {
			rc = onoff(cmd, kv, v, &o->q.extended_l2);
		} else if (strcmp(kv, "preallocation") == 0) {
			if (strcmp(v, "off") == 0)
				o->q.prealloc = QCOW2W_PREALLOC_OFF;
			else if (strcmp(v, "metadata") == 0)
				o->q.prealloc = QCOW2W_PREALLOC_METADATA;
			else if (strcmp(v, "falloc") == 0)
				o->q.prealloc = QCOW2W_PREALLOC_FALLOC;
			else if (strcmp(v, "full") == 0)
				o->q.prealloc = QCOW2W_PREALLOC_FULL;
			else {
				cli_errx("%s: -o preallocation=%s: want off, "
					 "metadata, falloc or full", cmd, v);
				rc = -1;
			}
		} else if (strcmp(kv, "size") == 0) {
			if (pack_parse_size(v, &o->size) < 0) {
				cli_errx("%s: -o size=%s: not a size", cmd, v);
				rc = -1;
			}
			o->have_size = true;
		} else if (strcmp(kv, "backing_file") == 0) {
			rc = pack_qopts_backing(cmd, o, v, o->q.backing_fmt);
		} else if (strcmp(kv, "backing_fmt") == 0) {
			if (strlen(v) >= sizeof o->backing_fmt) {
				cli_errx("%s: -o backing_fmt=%s: want raw or "
					 "qcow2", cmd, v);
				rc = -1;
			} else {
				strcpy(o->backing_fmt, v);
				o->q.backing_fmt = o->backing_fmt;
			}
		} else {
			cli_errx("%s: -o %s: unknown option (compat, "
				 "cluster_size, compression_type, refcount_bits, "
				 "lazy_refcounts, extended_l2, preallocation, "
				 "size, backing_file, backing_fmt)", cmd, kv);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

int pack_qopts_finish(const char *cmd, struct pack_qopts *o, bool compress)
{
	struct ukit_qcow2w_geom g;
	struct fmt_err e = { .off = FMT_NOOFF };

	if (compress)
		o->q.comp = o->ctype;
	if (!o->have_compat && o->ctype == QCOW2W_ZSTD)
		o->q.version = 3;
	/* the header names the compression type even when nothing is
	 * compressed (qemu-img create -o compression_type=zstd) */
	if (!compress && o->ctype == QCOW2W_ZSTD)
		o->q.zstd_header = true;
	if (ukit_qcow2w_geom(&o->q, 0, &g, &e) < 0) {
		cli_errx("%s: %s", cmd, e.msg);
		return -1;
	}
	return 0;
}

void pack_qopts_free(struct pack_qopts *o)
{
	(void)o;                 /* nothing on the heap */
}

int pack_qopts_backing(const char *cmd, struct pack_qopts *o,
		       const char *file, const char *fmt)
{
	if (strlen(file) >= sizeof o->backing_file) {
		cli_errx("%s: backing file name longer than %zu bytes", cmd,
			 sizeof o->backing_file - 1);
		return -1;
	}
	if (fmt != NULL && strlen(fmt) >= sizeof o->backing_fmt) {
		cli_errx("%s: backing format %s: want raw or qcow2", cmd, fmt);
		return -1;
	}
	if (fmt != o->backing_fmt && fmt != NULL)
		strcpy(o->backing_fmt, fmt);
	if (file != o->backing_file)
		strcpy(o->backing_file, file);
	o->q.backing_file = o->backing_file;
	o->q.backing_fmt = fmt != NULL ? o->backing_fmt : NULL;
	o->any = true;
	return 0;
}

int pack_parse_output(const char *cmd, const char *arg, bool *json)
{
	if (strcmp(arg, "json") == 0)
		*json = true;
	else if (strcmp(arg, "human") == 0)
		*json = false;
	else {
		cli_errx("%s: --output=%s: want json or human", cmd, arg);
		return -1;
	}
	return 0;
}

int pack_parse_cache(const char *cmd, const char *arg, bool *unsafe)
{
	static const char *const modes[] = {
		"none", "writeback", "writethrough", "directsync", "unsafe",
	};

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(arg, modes[i]) == 0) {
			*unsafe = strcmp(arg, "unsafe") == 0;
			return 0;
		}
	cli_errx("%s: -t %s: want none, writeback, writethrough, directsync "
		 "or unsafe", cmd, arg);
	return -1;
}

char *pack_follow_link(const char *path)
{
	char *cur = strdup(path);
	struct stat st;

	for (int hops = 0; cur != NULL && hops < 40; hops++) {
		char buf[PATH_MAX], *next, *slash;
		ssize_t n;

		if (lstat(cur, &st) < 0 || !S_ISLNK(st.st_mode))
			return cur;
		n = readlink(cur, buf, sizeof buf - 1);
		if (n < 0)
			return cur;
		buf[n] = '\0';
		slash = strrchr(cur, '/');
		if (buf[0] == '/' || slash == NULL)
			next = strdup(buf);
		else if (asprintf(&next, "%.*s/%s", (int)(slash - cur), cur,
				  buf) < 0)
			next = NULL;
		free(cur);
		cur = next;
	}
	if (cur == NULL)
		return NULL;
	errno = ELOOP;
	free(cur);
	return NULL;
}
