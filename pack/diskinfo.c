/*
 * diskinfo.c: the boot-disk part of ukit-pack info: a raw or qcow2
 * image's GPT partitions and, when its EFI system partition holds what
 * ukit-pack disk writes (KERNEL, UKITBOOT.CFG), the GRUB configuration
 * and the kernel it boots, with the kernel's ELF, Solo5 ABI and manifest
 * as info prints them for an ELF file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "imgopen.h"
#include "bootdisk.h"
#include "cli.h"
#include "diskread.h"
#include "elfimg.h"
#include "err.h"
#include "image.h"
#include "pack.h"

#define KERNEL_MAX (256u << 20)   /* read for info at most */
#define CFG_MAX (64u << 10)

static const struct {
	const char *guid, *name;
} types[] = {
	{ UKIT_GPT_TYPE_ESP, "EFI system" },
	{ UKIT_GPT_TYPE_BIOS, "BIOS boot" },
	{ "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem" },
	{ "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap" },
	{ "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data" },
};

static const char *type_name(const char *guid)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(types[i].guid, guid) == 0)
			return types[i].name;
	return NULL;
}

int info_bootdisk(int fd, const char *path, enum ukit_image_format fmt,
		  bool force_share, json_t *j, bool json)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct image_opts io = { .force_share = true };
	struct image *img = NULL;
	struct ukit_gpt *g = NULL;
	json_t *pt, *parts, *boot;
	uint8_t *cfg = NULL, *kern = NULL;
	size_t cfg_len = 0, kern_len = 0;
	char s[37];
	int rc = -1, r, esp = -1;

	(void)force_share;       /* info locked the image already, if asked */
	if (ukit_image_open(fd, path, fmt, &io, &img, &e) < 0) {
		/* info printed what it could; a qcow2 image that does not
		 * open has no partitions to show */
		return 0;
	}
	g = calloc(1, sizeof *g);
	if (g == NULL) {
		cli_errx("info: out of memory");
		goto out;
	}
	r = ukit_gpt_read(img, g, &e);
	if (r < 0) {
		cli_err(&e);
		goto out;
	}
	if (r == 0) {
		rc = 0;
		goto out;
	}
	pt = json_object();
	parts = json_array();
	ukit_guid_format(g->disk_guid, s);
	json_object_set_new(pt, "type", json_string("gpt"));
	json_object_set_new(pt, "disk-guid", json_string(s));
	json_object_set_new(pt, "partitions", parts);
	json_object_set_new(j, "partition-table", pt);
	if (!json)
		printf("partition table: gpt, disk GUID %s\npartitions:\n", s);
	for (unsigned i = 0; i < g->n; i++) {
		const struct ukit_gpt_part *p = &g->p[i];
		json_t *o = json_object();
		char t[37];
		const char *tn;
		uint64_t bytes = (p->last - p->first + 1) * UKIT_SECTOR;

		ukit_guid_format(p->type, t);
		ukit_guid_format(p->guid, s);
		tn = type_name(t);
		json_object_set_new(o, "number", json_integer(g->index[i]));
		json_object_set_new(o, "type", json_string(tn ? tn : t));
		json_object_set_new(o, "type-guid", json_string(t));
		json_object_set_new(o, "guid", json_string(s));
		json_object_set_new(o, "first-lba",
				    json_integer((json_int_t)p->first));
		json_object_set_new(o, "last-lba",
				    json_integer((json_int_t)p->last));
		json_object_set_new(o, "size", json_integer((json_int_t)bytes));
		json_object_set_new(o, "name", json_string(p->name));
		json_array_append_new(parts, o);
		if (!json)
			printf("    %u: %-16s LBA %" PRIu64 "-%" PRIu64
			       " (%" PRIu64 " bytes) \"%s\"\n", g->index[i],
			       tn ? tn : t, p->first, p->last, bytes, p->name);
		if (esp < 0 && strcmp(t, UKIT_GPT_TYPE_ESP) == 0)
			esp = (int)i;
	}
	if (esp < 0) {
		rc = 0;
		goto out;
	}
	{
		const struct ukit_gpt_part *p = &g->p[esp];
		uint64_t off = p->first * UKIT_SECTOR;
		uint64_t len = (p->last - p->first + 1) * UKIT_SECTOR;
		json_t *k;
		struct elfimg *ei = NULL;
		char kpath[4200];

		r = ukit_fat_read(img, off, len, "UKITBOOT.CFG", CFG_MAX, &cfg,
				  &cfg_len, &e);
		if (r < 0) {
			cli_err(&e);
			goto out;
		}
		if (r == 0) {     /* not a disk ukit-pack disk made */
			rc = 0;
			goto out;
		}
		for (size_t i = 0; i < cfg_len; i++)    /* for terminals */
			if ((cfg[i] < 0x20 && cfg[i] != '\n') || cfg[i] == 0x7f)
				cfg[i] = '?';
		r = ukit_fat_read(img, off, len, "KERNEL", KERNEL_MAX, &kern,
				  &kern_len, &e);
		if (r < 0) {
			cli_err(&e);
			goto out;
		}
		boot = json_object();
		json_object_set_new(boot, "loader", json_string("grub"));
		json_object_set_new(boot, "partition",
				    json_integer(g->index[esp]));
		json_object_set_new(boot, "config",
				    json_stringn((char *)cfg, cfg_len));
		json_object_set_new(j, "boot", boot);
		if (!json) {
			const char *l = (const char *)cfg;

			printf("boot: GRUB, from partition %u; its configuration:\n",
			       g->index[esp]);
			while (*l != '\0') {
				const char *nl = strchr(l, '\n');
				size_t n = nl ? (size_t)(nl - l) : strlen(l);

				printf("    %.*s\n", (int)n, l);
				l += n + (nl != NULL);
			}
		}
		if (r == 0) {
			rc = 0;
			goto out;
		}
		k = json_object();
		json_object_set_new(k, "path", json_string("/kernel"));
		json_object_set_new(k, "size", json_integer((json_int_t)kern_len));
		json_object_set_new(boot, "kernel", k);
		if (!json)
			printf("kernel: /kernel (%zu bytes)\n", kern_len);
		snprintf(kpath, sizeof kpath, "%s:/kernel", path);
		e.path = NULL;
		if (ukit_elfimg_open_mem(kern, kern_len, kpath, &ei, &e) < 0) {
			e.path = kpath;
			cli_err(&e);
			goto out;
		}
		if (info_elf_img(ei, kpath, k, json) < 0)
			goto out;
	}
	rc = 0;
out:
	free(cfg);
	free(kern);
	free(g);
	ukit_image_close(img);
	return rc;
}
