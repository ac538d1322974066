/*
 * pack.c: ukit-pack, inspect, check, convert and compare images (raw,
 * qcow2, ELF, flat binary).  The formats live in libukit; this file parses
 * options and prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"

static int cmd_info(int argc, char **argv);
static int cmd_convert(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_compare(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "info", cmd_info, "info [--json] IMAGE" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] IN OUT" },
	{ "check", cmd_check, "check [--json] IMAGE" },
	{ "compare", cmd_compare, "compare A B" },
};

/* ---- info ----------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("info: not implemented yet");
	return 1;
}

/* ---- check ---------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("check: not implemented yet");
	return 1;
}

/* ---- compare -------------------------------------------------------- */

static int cmd_compare(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("compare: not implemented yet");
	return 1;
}

/* ---- convert -------------------------------------------------------- */

static int cmd_convert(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("convert: not implemented yet");
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-pack", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
