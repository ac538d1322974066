/*
 * elftool.c: ukit-elftool, Solo5 manifests and ELF notes.
 *
 * A drop-in for solo5-elftool (gen-manifest, query-manifest, query-abi keep
 * its names, output bytes and "exit 1 on every error"), plus notes,
 * set-manifest, set-package-metadata and validate.  The work is done in
 * libukit (formats/); this file parses options and prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"

static int cmd_gen_manifest(int argc, char **argv);
static int cmd_validate(int argc, char **argv);
static int cmd_query_manifest(int argc, char **argv);
static int cmd_query_abi(int argc, char **argv);
static int cmd_notes(int argc, char **argv);
static int cmd_set_manifest(int argc, char **argv);
static int cmd_set_package_metadata(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "gen-manifest", cmd_gen_manifest,
	  "gen-manifest [--format c|note|object] [--arch ARCH] SOURCE OUTPUT" },
	{ "validate", cmd_validate, "validate SOURCE" },
	{ "query-manifest", cmd_query_manifest, "query-manifest BINARY" },
	{ "query-abi", cmd_query_abi, "query-abi BINARY" },
	{ "notes", cmd_notes, "notes BINARY" },
	{ "set-manifest", cmd_set_manifest,
	  "set-manifest SOURCE BINARY (-o OUTPUT | --in-place)" },
	{ "set-package-metadata", cmd_set_package_metadata,
	  "set-package-metadata JSON BINARY (-o OUTPUT | --in-place)" },
};

/* ---- gen-manifest, validate ---------------------------------------- */

static int cmd_gen_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("gen-manifest: not implemented yet");
	return 1;
}

static int cmd_validate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("validate: not implemented yet");
	return 1;
}

/* ---- query-manifest, query-abi, notes ------------------------------- */

static int cmd_query_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("query-manifest: not implemented yet");
	return 1;
}

static int cmd_query_abi(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("query-abi: not implemented yet");
	return 1;
}

static int cmd_notes(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("notes: not implemented yet");
	return 1;
}

/* ---- set-manifest, set-package-metadata ----------------------------- */

static int cmd_set_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("set-manifest: not implemented yet");
	return 1;
}

static int cmd_set_package_metadata(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_errx("set-package-metadata: not implemented yet");
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-elftool", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
