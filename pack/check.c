/*
 * check.c: ukit-pack check: the read-only qcow2 consistency check, printed as
 * qemu-img check prints it (or --json).
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
#include "qcow2.h"
#include <jansson.h>
#include <sys/stat.h>
#include "pack.h"

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

int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'J' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct qcow2_check r;
	struct fmt_err e = { .off = FMT_NOOFF };
	bool json = false, force_share = false;
	const char *path;
	uint8_t m[4] = { 0 };
	uint64_t stale;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "Uf:", lo, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'J') {
			if (pack_parse_output("check", optarg, &json) < 0)
				return 2;
		} else if (c == 'f') {
			if (strcmp(optarg, "qcow2") != 0) {
				cli_errx("check: -f %s: check works on qcow2 "
					 "only", optarg);
				return 2;
			}
		} else if (c == 'U')
			force_share = true;
		else
			cli_usage(stderr, 2);
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = e.path = argv[optind];
	if ((fd = cli_open_seekable(path, true)) < 0)
		return 1;
	if (!force_share && ukit_image_lock(fd, &e) < 0) {
		open_err(&e);
		close(fd);
		return 1;
	}
	if (pread(fd, m, 4, 0) != 4 || be32_load(m) != QCOW2_MAGIC) {
		ukit_fmt_errf(&e, 0, "not a qcow2 image (check works on qcow2 only)");
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (ukit_qcow2_check_fd(fd, path, 0, &r, &e) < 0) {
		cli_err(&e);
		ukit_qcow2_check_free(&r);
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
	ukit_qcow2_check_free(&r);
	return rc;
}
