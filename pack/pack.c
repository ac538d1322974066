/*
 * pack.c: ukit-pack, inspect, check, convert and compare images (raw,
 * qcow2, ELF, flat binary).  The formats live in libukit; this file parses
 * options and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <unistd.h>

#include "binelf.h"
#include "bytes.h"
#include "cli.h"
#include "convert.h"
#include "elfimg.h"
#include "manifest.h"
#include "err.h"
#include "image.h"
#include "outfile.h"
#include "qcow2.h"

#include <jansson.h>
#include <sys/stat.h>

static int cmd_info(int argc, char **argv);
static int cmd_convert(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_compare(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "info", cmd_info, "info [--json] [-f FMT] [-U] IMAGE" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] [--allow-backing]\n"
	  "        [--no-check] [-U] IN OUT" },
	{ "check", cmd_check, "check [--json] [-U] IMAGE" },
	{ "compare", cmd_compare,
	  "compare [--strict] [--allow-backing] [--no-check] [-U] A B" },
};

/*
 * Print an error from opening an image; when another process has the
 * image open for writing (image_lock), say how to read it anyway.
 */
static void open_err(const struct fmt_err *e)
{
	cli_err(e);
	if (strstr(e->msg, IMAGE_IN_USE) != NULL)
		fprintf(stderr, "ukit-pack: -U (--force-share) reads it "
			"anyway, as qemu-img -U does\n");
}

/* ---- info ----------------------------------------------------------- */

static int print_json(json_t *j)
{
	int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (rc < 0) {
		cli_errx("cannot write JSON");
		return -1;
	}
	putchar('\n');
	return 0;
}

static const char *elf_type_name(uint16_t t)
{
	switch (t) {
	case 0: return "NONE";
	case 1: return "REL";
	case 2: return "EXEC";
	case 3: return "DYN";
	case 4: return "CORE";
	default: return NULL;
	}
}

static const char *phdr_type_name(uint32_t t)
{
	switch (t) {
	case 0: return "NULL";
	case 1: return "LOAD";
	case 2: return "DYNAMIC";
	case 3: return "INTERP";
	case 4: return "NOTE";
	case 5: return "SHLIB";
	case 6: return "PHDR";
	case 7: return "TLS";
	case 0x6474e550: return "GNU_EH_FRAME";
	case 0x6474e551: return "GNU_STACK";
	case 0x6474e552: return "GNU_RELRO";
	case 0x6474e553: return "GNU_PROPERTY";
	case 0x65a3dbe6: return "OPENBSD_RANDOMIZE";
	case 0x65a3dbe7: return "OPENBSD_WXNEEDED";
	default: return NULL;
	}
}

static const char *const dev_type_name[] = {
	[MFT_BLOCK_BASIC] = "BLOCK_BASIC", [MFT_NET_BASIC] = "NET_BASIC",
};

/* ELF header, segments, Solo5 ABI and manifest (formats/elfimg.h). */
static int info_elf(int fd, const char *path, json_t *j, bool json)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct elfimg *img = NULL;
	const struct elfimg_info *in;
	struct manifest *mft = NULL;
	struct solo5_abi abi;
	bool have_mft = false, have_abi = false;
	json_t *o, *segs;
	char tbuf[16], mbuf[16];
	const char *tn, *mn;
	int rc = -1;

	if (elfimg_open(fd, path, &img, &e) < 0) {
		cli_err(&e);
		return -1;
	}
	in = elfimg_info(img);
	tn = elf_type_name(in->type);
	if (tn == NULL) {
		snprintf(tbuf, sizeof tbuf, "0x%x", in->type);
		tn = tbuf;
	}
	mn = elfimg_machine_name(in->machine);
	if (mn == NULL) {
		snprintf(mbuf, sizeof mbuf, "0x%x", in->machine);
		mn = mbuf;
	}
	o = json_object();
	json_object_set_new(o, "class", json_string(in->elfclass == 2 ?
						    "ELF64" : "ELF32"));
	json_object_set_new(o, "byte-order", json_string(in->big ?
				"big-endian" : "little-endian"));
	json_object_set_new(o, "machine", json_string(mn));
	json_object_set_new(o, "type", json_string(tn));
	json_object_set_new(o, "entry", json_integer((json_int_t)in->entry));
	if (!json)
		printf("class: %s\nbyte order: %s\nmachine: %s\ntype: %s\n"
		       "entry: 0x%" PRIx64 "\nsegments:\n",
		       in->elfclass == 2 ? "ELF64" : "ELF32",
		       in->big ? "big-endian" : "little-endian", mn, tn,
		       in->entry);
	segs = json_array();
	json_object_set_new(o, "segments", segs);
	json_object_set_new(j, "elf", o);
	for (size_t i = 0; i < in->phnum; i++) {
		struct elfimg_phdr ph;
		json_t *s = json_object();
		char fl[4], pb[16];
		const char *pn;

		if (elfimg_phdr(img, i, &ph, &e) < 0) {
			cli_err(&e);
			json_decref(s);
			goto out;
		}
		pn = phdr_type_name(ph.type);
		if (pn == NULL) {
			snprintf(pb, sizeof pb, "0x%" PRIx32, ph.type);
			pn = pb;
		}
		fl[0] = ph.flags & 4 ? 'R' : '-';
		fl[1] = ph.flags & 2 ? 'W' : '-';
		fl[2] = ph.flags & 1 ? 'X' : '-';
		fl[3] = 0;
		json_object_set_new(s, "type", json_string(pn));
		json_object_set_new(s, "offset", json_integer((json_int_t)ph.offset));
		json_object_set_new(s, "vaddr", json_integer((json_int_t)ph.vaddr));
		json_object_set_new(s, "paddr", json_integer((json_int_t)ph.paddr));
		json_object_set_new(s, "filesz", json_integer((json_int_t)ph.filesz));
		json_object_set_new(s, "memsz", json_integer((json_int_t)ph.memsz));
		json_object_set_new(s, "flags", json_string(fl));
		json_array_append_new(segs, s);
		if (!json)
			printf("    %-14s off 0x%08" PRIx64 " vaddr 0x%016" PRIx64
			       " filesz 0x%" PRIx64 " memsz 0x%" PRIx64 " %s\n",
			       pn, ph.offset, ph.vaddr, ph.filesz, ph.memsz,
			       fl);
	}
	/* Solo5 notes: only where a Solo5 tender would look */
	if (elfimg_solo5_check(img, NULL) == 0) {
		mft = calloc(1, sizeof *mft);
		if (mft == NULL) {
			cli_errx("out of memory");
			goto out;
		}
		if (elfimg_solo5(img, mft, &have_mft, &abi, &have_abi,
				 &e) < 0) {
			cli_err(&e);
			goto out;
		}
	}
	if (have_abi) {
		json_t *a = json_object();

		json_object_set_new(a, "target", json_string(
			elfimg_abi_target_name(abi.target)));
		json_object_set_new(a, "version", json_integer(abi.version));
		json_object_set_new(o, "solo5-abi", a);
		if (!json)
			printf("solo5 abi: %s, version %" PRIu32 "\n",
			       elfimg_abi_target_name(abi.target),
			       abi.version);
	}
	if (have_mft) {
		json_t *m = json_object(), *devs = json_array();

		json_object_set_new(m, "type", json_string("solo5.manifest"));
		json_object_set_new(m, "version", json_integer(1));
		if (!json)
			printf("solo5 manifest: %zu devices\n", mft->n);
		for (size_t i = 0; i < mft->n; i++) {
			json_t *d = json_object();
			uint32_t t = mft->dev[i].type;
			const char *dn = t < ARRAY_SIZE(dev_type_name) &&
					 dev_type_name[t] ? dev_type_name[t] :
					 "unknown";

			json_object_set_new(d, "name",
					    json_string(mft->dev[i].name));
			json_object_set_new(d, "type", json_string(dn));
			json_array_append_new(devs, d);
			if (!json)
				printf("    %s: %s\n", mft->dev[i].name, dn);
		}
		json_object_set_new(m, "devices", devs);
		json_object_set_new(o, "solo5-manifest", m);
	}
	rc = 0;
out:
	free(mft);
	elfimg_close(img);
	return rc;
}

/* "4.88 MiB" style sizes, as qemu-img prints them. */
static void human_size(char *buf, size_t n, uint64_t v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB",
					 "PiB", "EiB" };
	double d = (double)v;
	size_t i = 0;

	while (d >= 1024 && i + 1 < ARRAY_SIZE(u)) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%" PRIu64 " B", v);
	else
		snprintf(buf, n, "%.3g %s", d, u[i]);
}

/*
 * The persistent dirty bitmaps as qemu-img info lists them, or NULL when
 * there are none or the extension is stale (autoclear bit 0 clear, so
 * qemu ignores them).  A directory that does not parse is reported and
 * listed as far as it goes.
 */
static json_t *qcow2_bitmaps_json(int fd, const char *path,
				  const struct qcow2_header *h)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct qcow2_bitmap *b = NULL;
	uint8_t *dir = NULL;
	json_t *list = NULL;
	struct stat st;
	size_t pos = 0;
	int r = -1;

	if (!h->has_bitmaps || !(h->autoclear & QCOW2_AUTOCLEAR_BITMAPS) ||
	    h->nb_bitmaps == 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		fmt_errno(&e, FMT_NOOFF, "stat");
	else
		r = qcow2_bitmap_dir_read(fd, h, (uint64_t)st.st_size, &dir, &e);
	if (r < 0) {
		cli_err(&e);
		return NULL;
	}
	b = malloc(sizeof *b);
	list = json_array();
	if (b == NULL || list == NULL) {
		cli_errx("out of memory");
		json_decref(list);
		list = NULL;
		goto out;
	}
	for (uint32_t i = 0; i < h->nb_bitmaps; i++) {
		json_t *o = json_object(), *fl = json_array();

		if (qcow2_bitmap_entry(dir, h->bitmap_dir_size, &pos,
				       h->bitmap_dir_offset, b, &e) < 0) {
			json_decref(o);
			json_decref(fl);
			cli_err(&e);
			break;
		}
		if (b->flags & 1)
			json_array_append_new(fl, json_string("in-use"));
		if (b->flags & 2)
			json_array_append_new(fl, json_string("auto"));
		json_object_set_new(o, "flags", fl);
		json_object_set_new(o, "name", json_string(b->name));
		json_object_set_new(o, "granularity", json_integer(
			b->granularity_bits < 63 ?
			(json_int_t)1 << b->granularity_bits : 0));
		json_array_append_new(list, o);
	}
out:
	free(dir);
	free(b);
	return list;
}

/*
 * The internal snapshots as qemu-img info lists them ("snapshots"), or
 * NULL when there are none.  A table that does not parse is reported and
 * listed as far as it goes.
 */
static json_t *qcow2_snapshots_json(int fd, const char *path,
				    const struct qcow2_header *h)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct qcow2_snapshot sn;
	uint8_t *tab = NULL;
	json_t *list;
	struct stat st;
	size_t len = 0, pos = 0;

	if (h->nb_snapshots == 0)
		return NULL;
	if (fstat(fd, &st) < 0 ||
	    qcow2_snapshots_read(fd, h, (uint64_t)st.st_size, &tab, &len,
				 &e) < 0) {
		if (e.msg[0] == 0)
			fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return NULL;
	}
	list = json_array();
	for (uint32_t i = 0; list != NULL && i < h->nb_snapshots; i++) {
		json_t *o;

		if (qcow2_snapshot_entry(tab, len, &pos, h->snapshots_offset,
					 &sn, &e) < 0) {
			cli_err(&e);
			break;
		}
		o = json_object();
		if (sn.icount != UINT64_MAX)
			json_object_set_new(o, "icount",
					    json_integer((json_int_t)sn.icount));
		json_object_set_new(o, "vm-clock-nsec", json_integer(
			(json_int_t)(sn.vm_clock_nsec % 1000000000)));
		json_object_set_new(o, "name",
				    elfimg_json_bytes(sn.name, sn.name_len));
		json_object_set_new(o, "date-sec", json_integer(sn.date_sec));
		json_object_set_new(o, "date-nsec", json_integer(sn.date_nsec));
		json_object_set_new(o, "vm-clock-sec", json_integer(
			(json_int_t)(sn.vm_clock_nsec / 1000000000)));
		json_object_set_new(o, "id",
				    elfimg_json_bytes(sn.id, sn.id_len));
		json_object_set_new(o, "vm-state-size",
				    json_integer((json_int_t)sn.vm_state_size));
		json_array_append_new(list, o);
	}
	free(tab);
	return list;
}

/* The snapshot list of qemu-img info's text output. */
static void print_snapshots(const json_t *sl)
{
	printf("Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG",
	       "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
	for (size_t i = 0; i < json_array_size(sl); i++) {
		const json_t *o = json_array_get(sl, i);
		json_int_t cs = json_integer_value(json_object_get(o,
							"vm-clock-sec"));
		time_t t = (time_t)json_integer_value(json_object_get(o,
							"date-sec"));
		char size[32], date[32], clock[32], icount[24] = "";
		const json_t *ic = json_object_get(o, "icount");
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *name = json_string_value(json_object_get(o,
								      "name"));
		struct tm tm;

		human_size(size, sizeof size, (uint64_t)json_integer_value(
				   json_object_get(o, "vm-state-size")));
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(date, sizeof date, "?");
		snprintf(clock, sizeof clock, "%02" JSON_INTEGER_FORMAT
			 ":%02d:%02d.%03d", cs / 3600, (int)(cs / 60 % 60),
			 (int)(cs % 60), (int)(json_integer_value(
				json_object_get(o, "vm-clock-nsec")) / 1000000));
		if (ic != NULL)
			snprintf(icount, sizeof icount, "%" JSON_INTEGER_FORMAT,
				 json_integer_value(ic));
		printf("%-9s %-16s %8s%20s%13s%11s\n", id ? id : "",
		       name ? name : "", size, date, clock, icount);
	}
}

/*
 * qcow2 header fields qemu-img info reports, and its text in its order
 * ((disk): bytes allocated to the file); -1 on a bad header.
 */
static int info_qcow2(int fd, const char *path, uint64_t disk, json_t *j,
		      bool json)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct qcow2_header h;
	struct stat st;
	json_t *fs, *d, *bm, *sl;
	const char *compat;
	const char *ctype;

	if (fstat(fd, &st) < 0) {
		fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return -1;
	}
	if (qcow2_header_read(fd, (uint64_t)st.st_size, &h, &e) < 0) {
		cli_err(&e);
		return -1;
	}
	compat = h.version == 2 ? "0.10" : "1.1";
	ctype = h.compression_type == QCOW2_COMPRESS_ZSTD ? "zstd" : "zlib";
	json_object_set_new(j, "virtual-size", json_integer((json_int_t)h.size));
	json_object_set_new(j, "filename", json_string(path));
	json_object_set_new(j, "cluster-size",
			    json_integer((json_int_t)h.cluster_size));
	json_object_set_new(j, "format", json_string("qcow2"));
	fs = json_object();
	d = json_object();
	json_object_set_new(fs, "type", json_string("qcow2"));
	json_object_set_new(d, "compat", json_string(compat));
	json_object_set_new(d, "compression-type", json_string(ctype));
	if (h.version >= 3)
		json_object_set_new(d, "lazy-refcounts", json_boolean(
			h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS));
	bm = qcow2_bitmaps_json(fd, path, &h);
	if (bm != NULL)
		json_object_set(d, "bitmaps", bm);
	json_object_set_new(d, "refcount-bits",
			    json_integer(1 << h.refcount_order));
	if (h.version >= 3) {
		json_object_set_new(d, "corrupt", json_boolean(
			h.incompatible & QCOW2_INCOMPAT_CORRUPT));
		json_object_set_new(d, "extended-l2", json_boolean(
			h.incompatible & QCOW2_INCOMPAT_EXTL2));
	}
	json_object_set_new(fs, "data", d);
	json_object_set_new(j, "format-specific", fs);
	if (h.has_backing) {
		const char *slash = strrchr(path, '/');
		char *full = NULL;

		if (h.backing_file[0] != '/' && slash != NULL &&
		    asprintf(&full, "%.*s/%s", (int)(slash - path), path,
			     h.backing_file) >= 0) {
			json_object_set_new(j, "full-backing-filename",
					    json_string(full));
			free(full);
		} else {
			json_object_set_new(j, "full-backing-filename",
					    json_string(h.backing_file));
		}
		json_object_set_new(j, "backing-filename",
				    json_string(h.backing_file));
		if (h.backing_fmt[0])
			json_object_set_new(j, "backing-filename-format",
					    json_string(h.backing_fmt));
	}
	json_object_set_new(j, "dirty-flag",
			    json_boolean(h.incompatible & QCOW2_INCOMPAT_DIRTY));
	sl = qcow2_snapshots_json(fd, path, &h);
	if (sl != NULL)
		json_object_set(j, "snapshots", sl);
	if (!json) {
		const char *full = json_string_value(json_object_get(j,
						"full-backing-filename"));
		char hs[32], ds[32];

		human_size(hs, sizeof hs, h.size);
		human_size(ds, sizeof ds, disk);
		printf("virtual size: %s (%" PRIu64 " bytes)\n"
		       "disk size: %s\n", hs, h.size, ds);
		printf("cluster_size: %" PRIu64 "\n", h.cluster_size);
		if (h.incompatible & QCOW2_INCOMPAT_DIRTY)
			printf("cleanly shut down: no\n");
		if (h.has_backing && full != NULL &&
		    strcmp(full, h.backing_file) != 0)
			printf("backing file: %s (actual path: %s)\n",
			       h.backing_file, full);
		else if (h.has_backing)
			printf("backing file: %s\n", h.backing_file);
		if (h.backing_fmt[0])
			printf("backing file format: %s\n", h.backing_fmt);
		if (sl != NULL)
			print_snapshots(sl);
		printf("Format specific information:\n"
		       "    compat: %s\n    compression type: %s\n",
		       compat, ctype);
		if (h.version >= 3)
			printf("    lazy refcounts: %s\n",
			       h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS ?
			       "true" : "false");
		for (size_t i = 0; bm != NULL && i < json_array_size(bm); i++) {
			json_t *o = json_array_get(bm, i);
			json_t *fl = json_object_get(o, "flags");

			/* qemu-img's nesting, key order and indentation */
			if (i == 0)
				printf("    bitmaps:\n");
			printf("        [%zu]:\n            flags:\n", i);
			for (size_t f = 0; f < json_array_size(fl); f++)
				printf("                [%zu]: %s\n", f,
				       json_string_value(json_array_get(fl, f)));
			printf("            name: %s\n            granularity: %"
			       JSON_INTEGER_FORMAT "\n",
			       json_string_value(json_object_get(o, "name")),
			       json_integer_value(json_object_get(o,
							"granularity")));
		}
		printf("    refcount bits: %d\n", 1 << h.refcount_order);
		if (h.version >= 3)
			printf("    corrupt: %s\n    extended l2: %s\n",
			       h.incompatible & QCOW2_INCOMPAT_CORRUPT ?
			       "true" : "false",
			       h.incompatible & QCOW2_INCOMPAT_EXTL2 ?
			       "true" : "false");
	}
	json_decref(bm);
	json_decref(sl);
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { .off = FMT_NOOFF };
	enum image_format fmt = IMG_PROBE;
	bool json = false, force_share = false;
	const char *path;
	struct stat st;
	json_t *j;
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "jf:U", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'U':
			force_share = true;
			break;
		case 'f':
			fmt = image_format_parse(optarg);
			if (fmt == IMG_PROBE) {
				cli_errx("info: unknown format '%s'", optarg);
				cli_usage(stderr, 2);
			}
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = e.path = argv[optind];
	if ((fd = cli_open_input(path)) < 0)
		return 1;
	if (fstat(fd, &st) < 0) {
		fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (fmt == IMG_PROBE && image_probe(fd, &fmt, &e) < 0) {
		cli_err(&e);
		close(fd);
		return 1;
	}
	/* a qcow2 header may be half rewritten; a raw file's size is what
	 * it is (qemu-img info reads a raw file in use too) */
	if (fmt == IMG_QCOW2 && !force_share && image_lock(fd, &e) < 0) {
		open_err(&e);
		close(fd);
		return 1;
	}
	j = json_object();
	if (!json)
		printf("image: %s\nfile format: %s\n", path,
		       image_format_name(fmt));
	if (fmt == IMG_QCOW2) {
		if (info_qcow2(fd, path, (uint64_t)st.st_blocks * 512, j,
			       json) < 0)
			goto out;
		json_object_set_new(j, "actual-size",
				    json_integer((json_int_t)st.st_blocks * 512));
	} else {
		json_object_set_new(j, "virtual-size",
				    json_integer((json_int_t)st.st_size));
		json_object_set_new(j, "filename", json_string(path));
		json_object_set_new(j, "format",
				    json_string(image_format_name(fmt)));
		json_object_set_new(j, "actual-size",
				    json_integer((json_int_t)st.st_blocks * 512));
		json_object_set_new(j, "dirty-flag", json_false());
		if (fmt == IMG_ELF && info_elf(fd, path, j, json) < 0)
			goto out;
		if (!json) {
			char hs[32];

			human_size(hs, sizeof hs, (uint64_t)st.st_size);
			printf("%s: %s (%" PRIu64 " bytes)\n",
			       fmt == IMG_RAW ? "virtual size" : "size", hs,
			       (uint64_t)st.st_size);
		}
	}
	if (!json) {
		char hs[32];

		/* qcow2 printed it after the virtual size, as qemu-img */
		human_size(hs, sizeof hs, (uint64_t)st.st_blocks * 512);
		if (fmt != IMG_QCOW2)
			printf("disk size: %s\n", hs);
		rc = 0;
	} else {
		rc = print_json(j) < 0 ? 1 : 0;
		j = NULL;
	}
out:
	json_decref(j);
	close(fd);
	return rc;
}

/* ---- check ---------------------------------------------------------- */

static const char *const finding_kind[] = {
	[QCOW2_F_CORRUPTION] = "corruption", [QCOW2_F_LEAK] = "leak",
	[QCOW2_F_ERROR] = "error",
};

/* (key): (v) in (j), left out when 0, as qemu-img check does. */
static void set_count(json_t *j, const char *key, uint64_t v)
{
	if (v != 0)
		json_object_set_new(j, key, json_integer((json_int_t)v));
}

static int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct qcow2_check r;
	struct fmt_err e = { .off = FMT_NOOFF };
	bool json = false, force_share = false;
	const char *path;
	uint8_t m[4] = { 0 };
	uint64_t stale;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "jU", lo, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'U')
			force_share = true;
		else
			cli_usage(stderr, 2);
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = e.path = argv[optind];
	if ((fd = cli_open_input(path)) < 0)
		return 1;
	if (!force_share && image_lock(fd, &e) < 0) {
		open_err(&e);
		close(fd);
		return 1;
	}
	if (pread(fd, m, 4, 0) != 4 || be32_load(m) != QCOW2_MAGIC) {
		fmt_errf(&e, 0, "not a qcow2 image (check works on qcow2 only)");
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (qcow2_check_fd(fd, path, 0, &r, &e) < 0) {
		cli_err(&e);
		qcow2_check_free(&r);
		close(fd);
		return 1;
	}
	close(fd);
	rc = (r.corruptions || r.leaks || r.check_errors) ? 1 : 0;
	/* lazy refcounts after a crash: say which findings those are */
	stale = r.header_ok && (r.h.incompatible & QCOW2_INCOMPAT_DIRTY)
		? r.refcount_only : 0;
	if (json) {
		json_t *j = json_object(), *fa = json_array();

		json_object_set_new(j, "filename", json_string(path));
		json_object_set_new(j, "format", json_string("qcow2"));
		/* as qemu-img check: counts that are zero are left out */
		json_object_set_new(j, "check-errors",
				    json_integer((json_int_t)r.check_errors));
		set_count(j, "corruptions", r.corruptions);
		set_count(j, "leaks", r.leaks);
		set_count(j, "stale-refcounts", stale);
		if (r.header_ok) {
			set_count(j, "image-end-offset", r.image_end_offset);
			set_count(j, "total-clusters", r.total_clusters);
			set_count(j, "allocated-clusters", r.allocated_clusters);
			set_count(j, "fragmented-clusters",
				  r.fragmented_clusters);
			set_count(j, "compressed-clusters",
				  r.compressed_clusters);
		}
		for (size_t i = 0; i < r.nfindings; i++) {
			const struct qcow2_finding *f = &r.findings[i];
			json_t *o = json_object();

			json_object_set_new(o, "kind",
					    json_string(finding_kind[f->kind]));
			json_object_set_new(o, "offset", f->off == FMT_NOOFF ?
					    json_null() :
					    json_integer((json_int_t)f->off));
			json_object_set_new(o, "message", json_string(f->msg));
			json_array_append_new(fa, o);
		}
		json_object_set_new(j, "findings", fa);
		json_object_set_new(j, "findings-dropped",
				    json_integer((json_int_t)r.dropped));
		if (print_json(j) < 0)
			rc = 1;
	} else {
		for (size_t i = 0; i < r.nfindings; i++) {
			const struct qcow2_finding *f = &r.findings[i];

			if (f->off == FMT_NOOFF)
				printf("%s: %s: %s\n", path,
				       finding_kind[f->kind], f->msg);
			else
				printf("%s:0x%" PRIx64 ": %s: %s\n", path,
				       f->off, finding_kind[f->kind], f->msg);
		}
		if (r.dropped)
			printf("(%" PRIu64 " more findings not shown)\n",
			       r.dropped);
		/* qemu-img check's words for the verdict */
		if (!rc)
			printf("No errors were found on the image.\n");
		if (r.corruptions)
			printf("\n%" PRIu64 " errors were found on the image.\n"
			       "Data may be corrupted, or further writes to "
			       "the image may corrupt it.\n", r.corruptions);
		if (r.leaks)
			printf("\n%" PRIu64 " leaked clusters were found on the "
			       "image.\nThis means waste of disk space, but no "
			       "harm to data.\n", r.leaks);
		if (r.check_errors)
			printf("\n%" PRIu64 " internal errors have occurred "
			       "during the check.\n", r.check_errors);
		if (stale)
			printf("The image is dirty: %" PRIu64 " of the "
			       "corruptions are stale refcounts, which lazy "
			       "refcounts leave after a crash.  qemu rebuilds "
			       "them when it opens the image read-write.  %s\n",
			       stale, stale == r.corruptions ?
			       "ukit-pack convert reads the image as it is." :
			       "The others are corruptions that refuse it.");
		/* qemu-img check's summary lines, when it prints them */
		if (r.header_ok && r.total_clusters && r.allocated_clusters)
			printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated, "
			       "%.2f%% fragmented, %.2f%% compressed "
			       "clusters\n", r.allocated_clusters,
			       r.total_clusters, 100.0 *
			       (double)r.allocated_clusters /
			       (double)r.total_clusters, 100.0 *
			       (double)r.fragmented_clusters /
			       (double)r.allocated_clusters, 100.0 *
			       (double)r.compressed_clusters /
			       (double)r.allocated_clusters);
		if (r.header_ok && r.image_end_offset)
			printf("Image end offset: %" PRIu64 "\n",
			       r.image_end_offset);
	}
	qcow2_check_free(&r);
	return rc;
}

/* ---- compare -------------------------------------------------------- */

/* Open (path) read-only as an image; prints the error.  0 or -1. */
static int open_image(const char *path, enum image_format fmt,
		      const struct image_opts *o, int *fd, struct image **img)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };

	if ((*fd = cli_open_input(path)) < 0)
		return -1;
	if (image_open(*fd, path, fmt, o, img, &e) < 0) {
		open_err(&e);
		close(*fd);
		return -1;
	}
	return 0;
}

#define CMP_CHUNK (1u << 20)   /* bytes compared per read */

/* Index of the first non-zero byte of (p, n), or n. */
static size_t first_nonzero(const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w)
			break;
	}
	for (; i < n; i++)
		if (p[i])
			return i;
	return n;
}

/* The extent of (img) at (off); past its end, a hole without end. */
static int cmp_map(struct image *img, uint64_t off, struct image_extent *x,
		   struct fmt_err *e)
{
	if (off >= image_size(img)) {
		x->off = off;
		x->len = UINT64_MAX - off;
		x->kind = EXT_HOLE;
		return 0;
	}
	return image_map(img, off, x, e);
}

static int cmp_read(struct image *img, uint8_t *buf, size_t n, uint64_t off,
		    enum extent_kind k, struct fmt_err *e)
{
	if (k != EXT_DATA) {
		memset(buf, 0, n);
		return 0;
	}
	return image_read(img, buf, n, off, e);
}

static int cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "allow-backing", no_argument, NULL, 'B' },
		{ "no-check", no_argument, NULL, 'N' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_opts o = { .check = true };
	bool strict = false;
	int c, fda = -1, fdb = -1, rc = 1;
	struct image *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t off = 0, end;
	struct fmt_err e = { .off = FMT_NOOFF };

	while ((c = getopt_long(argc, argv, "sU", lo, NULL)) != -1) {
		switch (c) {
		case 's': strict = true; break;
		case 'U': o.force_share = true; break;
		case 'B': o.allow_backing = true; break;
		case 'N': o.check = false; break;
		default: cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2)
		cli_usage(stderr, 2);
	if (open_image(argv[optind], IMG_PROBE, &o, &fda, &a) < 0 ||
	    open_image(argv[optind + 1], IMG_PROBE, &o, &fdb, &b) < 0)
		goto out;
	/* qemu-img compare's words, and the two sizes */
	if (strict && image_size(a) != image_size(b)) {
		printf("Strict mode: Image size mismatch! (%" PRIu64 " != %"
		       PRIu64 ")\n", image_size(a), image_size(b));
		goto out;
	}
	if (image_size(a) != image_size(b))
		printf("Warning: Image size mismatch!\n");
	ba = malloc(CMP_CHUNK);
	bb = malloc(CMP_CHUNK);
	if (!ba || !bb) {
		cli_errx("out of memory");
		goto out;
	}
	end = image_size(a) > image_size(b) ? image_size(a) : image_size(b);
	while (off < end) {
		struct image_extent xa, xb;
		uint64_t len;
		size_t n, i;

		e.path = argv[optind];
		if (cmp_map(a, off, &xa, &e) < 0)
			goto err;
		e.path = argv[optind + 1];
		if (cmp_map(b, off, &xb, &e) < 0)
			goto err;
		len = xa.off + xa.len - off;
		if (xb.off + xb.len - off < len)
			len = xb.off + xb.len - off;
		if (end - off < len)
			len = end - off;
		if (xa.kind != EXT_DATA && xb.kind != EXT_DATA) {
			off += len;
			continue;
		}
		n = len < CMP_CHUNK ? (size_t)len : CMP_CHUNK;
		e.path = argv[optind];
		if (cmp_read(a, ba, n, off, xa.kind, &e) < 0)
			goto err;
		e.path = argv[optind + 1];
		if (cmp_read(b, bb, n, off, xb.kind, &e) < 0)
			goto err;
		if (xa.kind != EXT_DATA)
			i = first_nonzero(bb, n);
		else if (xb.kind != EXT_DATA)
			i = first_nonzero(ba, n);
		else if (memcmp(ba, bb, n) == 0)
			i = n;
		else
			for (i = 0; ba[i] == bb[i]; i++)
				;
		if (i < n) {
			printf("Content mismatch at offset %" PRIu64 "!\n",
			       off + i);
			goto out;
		}
		off += n;
	}
	printf("Images are identical.\n");
	rc = 0;
	goto out;
err:
	cli_err(&e);
out:
	free(ba);
	free(bb);
	image_close(a);
	image_close(b);
	if (fda >= 0)
		close(fda);
	if (fdb >= 0)
		close(fdb);
	return rc;
}

/* ---- convert -------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v, bool suffix)
{
	char *end;
	unsigned long long n;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		return -1;
	n = strtoull(s, &end, 0);
	if (errno != 0)
		return -1;
	if (suffix && *end != '\0' && end[1] == '\0') {
		unsigned sh = *end == 'k' || *end == 'K' ? 10
			: *end == 'm' || *end == 'M' ? 20 : 0;
		if (sh == 0 || n > (UINT64_MAX >> sh))
			return -1;
		n <<= sh;
		end++;
	}
	if (*end != '\0')
		return -1;
	*v = n;
	return 0;
}

static int parse_fmt(const char *s, enum image_format *f)
{
	static const struct { const char *name; enum image_format f; } t[] = {
		{ "raw", IMG_RAW }, { "qcow2", IMG_QCOW2 },
		{ "elf", IMG_ELF }, { "bin", IMG_BIN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (strcmp(s, t[i].name) == 0) {
			*f = t[i].f;
			return 0;
		}
	return -1;
}

static void progress_cb(void *ctx, uint64_t done)
{
	cli_progress_update(ctx, done);
}

/*
 * Refuse to replace a disk image (out) that a QEMU process has open, as
 * qemu-img convert refuses to write it: that process would go on with
 * the old file.  Converting a file onto itself is fine (its input locks
 * are ukit's own).  A symbolic link is replaced, not followed.  0, or -1
 * after printing why.
 */
static int output_in_use(const char *out, int in_fd)
{
	struct fmt_err e = { .path = out, .off = FMT_NOOFF };
	struct stat so, si;
	uint64_t byte = 0;
	int ofd, r = 0;

	ofd = open(out, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return 0;     /* no file, a link, or not ours to read */
	if (fstat(ofd, &so) == 0 && S_ISREG(so.st_mode) &&
	    !(fstat(in_fd, &si) == 0 && si.st_dev == so.st_dev &&
	      si.st_ino == so.st_ino)) {
		r = image_in_use(ofd, &byte, &e);
		if (r == 1)
			fmt_errf(&e, FMT_NOOFF, IMAGE_IN_USE "another process "
				 "has it open (QEMU's image lock, byte %" PRIu64
				 "); replacing it would leave that process "
				 "on the old file; stop it first", byte);
		if (r != 0) {
			open_err(&e);
			r = -1;
		}
	}
	close(ofd);
	return r;
}

enum {
	OPT_LEVEL = 256, OPT_CLUSTER, OPT_COMPAT, OPT_LOAD, OPT_ENTRY,
	OPT_ARCH, OPT_NO_CHECK, OPT_ALLOW_BACKING,
};

static int cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "cluster-size", required_argument, NULL, OPT_CLUSTER },
		{ "compat", required_argument, NULL, OPT_COMPAT },
		{ "load-addr", required_argument, NULL, OPT_LOAD },
		{ "entry", required_argument, NULL, OPT_ENTRY },
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "no-check", no_argument, NULL, OPT_NO_CHECK },
		{ "allow-backing", no_argument, NULL, OPT_ALLOW_BACKING },
		{ "force-share", no_argument, NULL, 'U' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts co = {
		.q = { .cluster_bits = 16, .version = 3, .comp = QCOW2W_NONE },
		.level = -1,
	};
	struct binelf_opts bo = { .machine = -1 };
	struct image_opts io = { .check = true };
	enum image_format in_fmt = IMG_PROBE, out_fmt = IMG_PROBE;
	bool have_out = false, have_load = false, have_entry = false;
	bool have_level = false;
	int prog_mode = 0, c, rc = 1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	const char *in, *out;
	struct fmt_err e = { 0 };
	struct outfile of;
	struct cli_progress pr;
	struct image *img = NULL;
	int fd = -1;

	co.threads = ncpu > 0 ? (unsigned)ncpu : 1;
	while ((c = getopt_long(argc, argv, "f:O:c:j:pqU", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_fmt(optarg, &in_fmt) < 0) {
				cli_errx("convert: unknown input format '%s'", optarg);
				return 2;
			}
			break;
		case 'O':
			if (parse_fmt(optarg, &out_fmt) < 0) {
				cli_errx("convert: unknown output format '%s'", optarg);
				return 2;
			}
			have_out = true;
			break;
		case 'c':
			if (strcmp(optarg, "zlib") == 0)
				co.q.comp = QCOW2W_ZLIB;
			else if (strcmp(optarg, "zstd") == 0)
				co.q.comp = QCOW2W_ZSTD;
			else {
				cli_errx("convert: unknown compression '%s' (zlib or zstd)",
					 optarg);
				return 2;
			}
			break;
		case 'j':
			if (parse_u64(optarg, &v, false) < 0 || v < 1 ||
			    v > CONVERT_MAX_THREADS) {
				cli_errx("convert: -j wants 1..%d", CONVERT_MAX_THREADS);
				return 2;
			}
			co.threads = (unsigned)v;
			break;
		case 'p':
			prog_mode = 1;
			break;
		case 'q':
			prog_mode = -1;
			break;
		case OPT_LEVEL:
			if (parse_u64(optarg, &v, false) < 0 || v > 22) {
				cli_errx("convert: --level wants 0..22");
				return 2;
			}
			co.level = (int)v;
			have_level = true;
			break;
		case OPT_CLUSTER:
			if (parse_u64(optarg, &v, true) < 0 || v < 512 ||
			    v > (2u << 20) || (v & (v - 1)) != 0) {
				cli_errx("convert: --cluster-size wants a power of two "
					 "from 512 to 2M");
				return 2;
			}
			co.q.cluster_bits = (unsigned)__builtin_ctzll(v);
			break;
		case OPT_COMPAT:
			if (strcmp(optarg, "0.10") == 0)
				co.q.version = 2;
			else if (strcmp(optarg, "1.1") == 0)
				co.q.version = 3;
			else {
				cli_errx("convert: --compat wants 0.10 or 1.1");
				return 2;
			}
			break;
		case OPT_LOAD:
		case OPT_ENTRY:
			if (parse_u64(optarg, &v, false) < 0) {
				cli_errx("convert: bad address '%s'", optarg);
				return 2;
			}
			if (c == OPT_LOAD) {
				bo.load_addr = v;
				have_load = true;
			} else {
				bo.entry = v;
				have_entry = true;
			}
			break;
		case OPT_NO_CHECK:
			io.check = false;
			break;
		case OPT_ALLOW_BACKING:
			io.allow_backing = true;
			break;
		case 'U':
			io.force_share = true;
			break;
		case OPT_ARCH:
			if ((bo.machine = binelf_arch(optarg)) < 0) {
				cli_errx("convert: unknown --arch '%s' "
					 "(x86_64, aarch64 or ppc64le)", optarg);
				return 2;
			}
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2 || !have_out) {
		cli_errx("convert: want -O FMT, IN and OUT");
		cli_usage(stderr, 2);
	}
	in = argv[optind];
	out = argv[optind + 1];
	if (have_level && co.q.comp == QCOW2W_NONE) {
		cli_errx("convert: --level needs -c zlib or -c zstd");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZLIB && have_level && co.level > 9) {
		cli_errx("convert: zlib --level wants 0..9");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZSTD && co.q.version == 2) {
		cli_errx("convert: -c zstd needs --compat 1.1");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZSTD && have_level && co.level < 1) {
		cli_errx("convert: zstd --level wants 1..22");
		return 2;
	}
	if (out_fmt == IMG_ELF) {
		if (!have_load || bo.machine < 0) {
			cli_errx("convert: -O elf needs --load-addr and --arch");
			return 2;
		}
		if (!have_entry)
			bo.entry = bo.load_addr;
	} else if (have_load || have_entry || bo.machine >= 0) {
		cli_errx("convert: --load-addr, --entry and --arch are for -O elf");
		return 2;
	}
	if (out_fmt != IMG_QCOW2 &&
	    (co.q.comp != QCOW2W_NONE || co.q.cluster_bits != 16 ||
	     co.q.version != 3)) {
		cli_errx("convert: -c, --cluster-size and --compat are for -O qcow2");
		return 2;
	}

	if ((fd = cli_open_input(in)) < 0)
		return 1;
	if (out_fmt == IMG_ELF || out_fmt == IMG_BIN) {
		if (outfile_open(&of, out, out_fmt == IMG_ELF ? 0755 : 0644,
				 &e) < 0) {
			e.path = out;
			cli_err(&e);
			close(fd);
			return 1;
		}
		if (out_fmt == IMG_BIN) {
			if (in_fmt != IMG_PROBE && in_fmt != IMG_ELF) {
				cli_errx("convert: -O bin converts an ELF (-f elf)");
				rc = 2;
				goto abort;
			}
			rc = binelf_to_bin(fd, in, of.fd, out, &e);
		} else {
			if (in_fmt != IMG_PROBE && in_fmt != IMG_BIN &&
			    in_fmt != IMG_RAW) {
				cli_errx("convert: -O elf converts a flat binary (-f bin)");
				rc = 2;
				goto abort;
			}
			rc = binelf_to_elf(fd, in, of.fd, out, &bo, &e);
		}
		if (rc < 0) {
			rc = 1;
			cli_err(&e);
			goto abort;
		}
		e.path = out;
		if (outfile_commit(&of, &e) < 0) {
			cli_err(&e);
			close(fd);
			return 1;
		}
		close(fd);
		return 0;
	}
	if (strcmp(out, "-") == 0) {
		cli_errx("convert: cannot write %s to standard output",
			 image_format_name(out_fmt));
		close(fd);
		return 2;
	}
	e.path = in;
	if (image_open(fd, in, in_fmt, &io, &img, &e) < 0) {
		e.path = in;
		open_err(&e);
		close(fd);
		return 1;
	}
	if (!io.force_share && output_in_use(out, fd) < 0)
		goto out;
	if (outfile_open(&of, out, 0644, &e) < 0) {
		e.path = out;
		cli_err(&e);
		goto out;
	}
	cli_progress_start(&pr, prog_mode, image_size(img));
	co.progress = progress_cb;
	co.ctx = &pr;
	if (out_fmt == IMG_QCOW2)
		rc = convert_to_qcow2(img, in, of.fd, out, &co, &e);
	else if (out_fmt == IMG_RAW)
		rc = convert_to_raw(img, in, of.fd, out, &co, &e);
	else
		rc = fmt_errf(&e, FMT_NOOFF, "cannot convert %s to %s",
			      image_format_name(image_format(img)),
			      image_format_name(out_fmt));
	cli_progress_end(&pr);
	if (rc < 0) {
		rc = 1;
		cli_err(&e);
		goto abort;
	}
	e.path = out;
	if (outfile_commit(&of, &e) < 0) {
		cli_err(&e);
		rc = 1;
		goto out;
	}
	rc = 0;
	goto out;
abort:
	outfile_abort(&of);
out:
	image_close(img);
	close(fd);
	return rc;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-pack", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
