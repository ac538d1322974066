/*
 * pack.c: ukit-pack, inspect, check, convert and compare images (raw,
 * qcow2, ELF, flat binary).  The formats live in libukit; this file parses
 * options and prints: one file per command (info.c, check.c, compare.c,
 * convert.c), the dispatch table and shared helpers here.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "err.h"
#include "image.h"
#include "pack.h"

static const struct cli_cmd cmds[] = {
	{ "info", cmd_info,
	  "info [--output=json|human] [--json] [-f FMT] [-U] IMAGE" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c] [-o OPTS]\n"
	  "        [--compress zlib|zstd] [--level N] [--cluster-size N]\n"
	  "        [--compat 0.10|1.1] [-B BACKING [-F FMT]] [-n]\n"
	  "        [-t CACHE] [-T CACHE] [-W] [-m N] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] [--allow-backing]\n"
	  "        [--no-check] [-U] IN OUT" },
	{ "disk", cmd_disk,
	  "disk -O raw|qcow2 [--cmdline S] [--firmware bios|uefi|both]\n"
	  "        [--size N] [--module F]... [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] KERNEL OUT" },
	{ "check", cmd_check,
	  "check [--output=json|human] [--json] [-f qcow2] [-U] IMAGE" },
	{ "measure", cmd_measure,
	  "measure [--output=json|human] [-f FMT] [-O raw|qcow2] [-o OPTS] [-c]\n"
	  "        [-U] (--size SIZE | IMAGE)" },
	{ "map", cmd_map, "map [--output=json|human] [-f FMT] [-U] IMAGE" },
	{ "create", cmd_create,
	  "create [-f raw|qcow2] [-o OPTS] [-b BACKING -F FMT] [-u] [-q]\n"
	  "        FILE [SIZE]" },
	{ "resize", cmd_resize,
	  "resize [-f raw|qcow2] [--shrink] [-q] FILE [+|-]SIZE" },
	{ "snapshot", cmd_snapshot,
	  "snapshot -l [--output=json|human] [-U] IMAGE" },
	{ "compare", cmd_compare,
	  "compare [--strict] [--allow-backing] [--no-check] [-U] A B" },
	{ "oci", cmd_oci,
	  "oci build|push|pull|inspect|extract ... (ukit-pack oci --help)" },
};

void open_err(const struct fmt_err *e)
{
	cli_err(e);
	if (strstr(e->msg, IMAGE_IN_USE) != NULL)
		fprintf(stderr, "ukit-pack: -U (--force-share) reads it "
			"anyway, as qemu-img -U does\n");
}

/* Print (j) to stdout, indented, and release it.  0 or -1. */
int print_json(json_t *j)
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

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-pack", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
