/*
 * info.c: ukit-pack info: format, sizes and fields of an image (qemu-img info
 * for raw and qcow2; class, segments, Solo5 notes for ELF).
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
#include "imgopen.h"
#include "qcow2.h"
#include <jansson.h>
#include <sys/stat.h>
#include "pack.h"

/* ---- info ----------------------------------------------------------- */


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

/* ELF header, segments, Solo5 ABI and manifest (formats/elf/elfimg.h). */
static int info_elf(int fd, const char *path, json_t *j, bool json)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct elfimg *img = NULL;

	if (ukit_elfimg_open(fd, path, &img, &e) < 0) {
		cli_err(&e);
		return -1;
	}
	return info_elf_img(img, path, j, json);
}

int info_elf_img(struct elfimg *img, const char *path, json_t *j, bool json)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	const struct ukit_elfimg_info *in;
	struct manifest *mft = NULL;
	struct solo5_abi abi;
	bool have_mft = false, have_abi = false;
	json_t *o, *segs;
	char tbuf[16], mbuf[16];
	const char *tn, *mn;
	int rc = -1;

	in = ukit_elfimg_info(img);
	tn = elf_type_name(in->type);
	if (tn == NULL) {
		snprintf(tbuf, sizeof tbuf, "0x%x", in->type);
		tn = tbuf;
	}
	mn = ukit_elfimg_machine_name(in->machine);
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
		struct ukit_elfimg_phdr ph;
		json_t *s = json_object();
		char fl[4], pb[16];
		const char *pn;

		if (ukit_elfimg_phdr(img, i, &ph, &e) < 0) {
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
	if (ukit_elfimg_solo5_check(img, NULL) == 0) {
		mft = calloc(1, sizeof *mft);
		if (mft == NULL) {
			cli_errx("out of memory");
			goto out;
		}
		if (ukit_elfimg_solo5(img, mft, &have_mft, &abi, &have_abi,
				 &e) < 0) {
			cli_err(&e);
			goto out;
		}
	}
	if (have_abi) {
		json_t *a = json_object();

		json_object_set_new(a, "target", json_string(
			ukit_elfimg_abi_target_name(abi.target)));
		json_object_set_new(a, "version", json_integer(abi.version));
		json_object_set_new(o, "solo5-abi", a);
		if (!json)
			printf("solo5 abi: %s, version %" PRIu32 "\n",
			       ukit_elfimg_abi_target_name(abi.target),
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
	ukit_elfimg_close(img);
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
				  const struct ukit_qcow2_header *h)
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
		ukit_fmt_errno(&e, FMT_NOOFF, "stat");
	else
		r = ukit_qcow2_bitmap_dir_read(fd, h, (uint64_t)st.st_size, &dir, &e);
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

		if (ukit_qcow2_bitmap_entry(dir, h->bitmap_dir_size, &pos,
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
json_t *qcow2_snapshots_json(int fd, const char *path,
			     const struct ukit_qcow2_header *h)
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
	    ukit_qcow2_snapshots_read(fd, h, (uint64_t)st.st_size, &tab, &len,
				 &e) < 0) {
		if (e.msg[0] == 0)
			ukit_fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return NULL;
	}
	list = json_array();
	for (uint32_t i = 0; list != NULL && i < h->nb_snapshots; i++) {
		json_t *o;

		if (ukit_qcow2_snapshot_entry(tab, len, &pos, h->snapshots_offset,
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
				    ukit_elfimg_json_bytes(sn.name, sn.name_len));
		json_object_set_new(o, "date-sec", json_integer(sn.date_sec));
		json_object_set_new(o, "date-nsec", json_integer(sn.date_nsec));
		json_object_set_new(o, "vm-clock-sec", json_integer(
			(json_int_t)(sn.vm_clock_nsec / 1000000000)));
		json_object_set_new(o, "id",
				    ukit_elfimg_json_bytes(sn.id, sn.id_len));
		json_object_set_new(o, "vm-state-size",
				    json_integer((json_int_t)sn.vm_state_size));
		json_array_append_new(list, o);
	}
	free(tab);
	return list;
}

/* The snapshot list of qemu-img info's text output. */
void print_snapshots(const json_t *sl)
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
	struct ukit_qcow2_header h;
	struct stat st;
	json_t *fs, *d, *bm, *sl;
	const char *compat;
	const char *ctype;

	if (fstat(fd, &st) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		return -1;
	}
	if (ukit_qcow2_header_read(fd, (uint64_t)st.st_size, &h, &e) < 0) {
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

int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'J' },
		{ "format", required_argument, NULL, 'f' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { .off = FMT_NOOFF };
	enum ukit_image_format fmt = IMG_PROBE;
	bool json = false, force_share = false;
	const char *path;
	struct stat st;
	json_t *j;
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "f:U", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'J':
			if (pack_parse_output("info", optarg, &json) < 0)
				return 2;
			break;
		case 'U':
			force_share = true;
			break;
		case 'f':
			fmt = ukit_image_format_parse(optarg);
			if (fmt == IMG_PROBE) {
				cli_errx("info: unknown format '%s' (raw, qcow2, elf "
					 "or bin)", optarg);
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
	if ((fd = cli_open_seekable(path, false)) < 0)
		return 1;
	if (fstat(fd, &st) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "stat");
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (fmt == IMG_PROBE && ukit_image_probe(fd, &fmt, &e) < 0) {
		cli_err(&e);
		close(fd);
		return 1;
	}
	/* a qcow2 header may be half rewritten; a raw file's size is what
	 * it is (qemu-img info reads a raw file in use too) */
	if (fmt == IMG_QCOW2 && !force_share && ukit_image_lock(fd, &e) < 0) {
		open_err(&e);
		close(fd);
		return 1;
	}
	j = json_object();
	if (!json)
		printf("image: %s\nfile format: %s\n", path,
		       ukit_image_format_name(fmt));
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
				    json_string(ukit_image_format_name(fmt)));
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
	}
	if ((fmt == IMG_RAW || fmt == IMG_QCOW2) &&
	    info_bootdisk(fd, path, fmt, force_share, j, json) < 0)
		goto out;
	if (!json) {
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
