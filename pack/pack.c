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
	{ "info", cmd_info, "info [--json] [-f FMT] [-U] IMAGE",
	  "Print the format, sizes and layout of IMAGE (raw, qcow2, ELF, bin).\n"
	  "--json\tprint JSON (schema pack-info.schema.json)\n"
	  "-f, --format FMT\tread IMAGE as FMT (raw, qcow2, elf, bin) instead of probing\n"
	  "-U, --force-share\tread an image another process has open for writing\n" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] [--allow-backing]\n"
	  "        [--no-check] [-U] IN OUT",
	  "Write the content of IN to OUT in another format, atomically.\n"
	  "-f FMT\tread IN as FMT (raw, qcow2, elf, bin) instead of probing\n"
	  "-O FMT\tthe output format: raw, qcow2, bin or elf (required)\n"
	  "-c zlib|zstd\tcompress qcow2 clusters with zlib or zstd\n"
	  "--level N\tcompression level: zlib 0-9 (6), zstd 1-22 (3)\n"
	  "--cluster-size N\tqcow2 cluster size, 512 to 2M (default 64K)\n"
	  "--compat 0.10|1.1\tqcow2 version 2 or 3 (default 1.1)\n"
	  "-j N\tthreads, 1 to 64 (default: online CPUs)\n"
	  "-p, --progress\tdraw a progress bar on standard error\n"
	  "-q, --quiet\tno progress bar\n"
	  "--load-addr A\tfor -O elf: the load address\n"
	  "--entry A\tfor -O elf: the entry point\n"
	  "--arch ARCH\tfor -O elf: x86_64, aarch64 or ppc64le\n"
	  "--allow-backing\tfollow a qcow2 backing chain and write its content\n"
	  "--no-check\tskip the consistency check of a qcow2 IN\n"
	  "-U, --force-share\tread an image another process has open for writing\n" },
	{ "check", cmd_check, "check [--json] [-U] IMAGE",
	  "Check the consistency of a qcow2 IMAGE, as qemu-img check does.\n"
	  "--json\tprint JSON (schema pack-check.schema.json)\n"
	  "-U, --force-share\tread an image another process has open for writing\n" },
	{ "compare", cmd_compare,
	  "compare [-s] [--json] [--allow-backing] [--no-check] [-U] A B",
	  "Compare the virtual content of two images, as qemu-img compare does.\n"
	  "--json\tprint JSON (schema pack-compare.schema.json)\n"
	  "-s, --strict\ta size difference is a mismatch even if the extra bytes are zeros\n"
	  "--allow-backing\tfollow qcow2 backing chains\n"
	  "--no-check\tskip the consistency check of qcow2 inputs\n"
	  "-U, --force-share\tread an image another process has open for writing\n" },
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
