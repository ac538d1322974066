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

#include "err.h"

static const char *prog = "ukit-elftool";

static int cmd_gen_manifest(int argc, char **argv);
static int cmd_validate(int argc, char **argv);
static int cmd_query_manifest(int argc, char **argv);
static int cmd_query_abi(int argc, char **argv);
static int cmd_notes(int argc, char **argv);
static int cmd_set_manifest(int argc, char **argv);
static int cmd_set_package_metadata(int argc, char **argv);

static const struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);  /* argv[0] is the command name */
	const char *synopsis;
} cmds[] = {
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

static void usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s COMMAND [options] ARGS\n\ncommands:\n", prog);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(fp, "    %s %s\n", prog, cmds[i].synopsis);
	fprintf(fp, "\n    %s --help | --version\n", prog);
	exit(status);
}

/* ---- gen-manifest, validate ---------------------------------------- */

static int cmd_gen_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: gen-manifest: not implemented yet\n", prog);
	return 1;
}

static int cmd_validate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: validate: not implemented yet\n", prog);
	return 1;
}

/* ---- query-manifest, query-abi, notes ------------------------------- */

static int cmd_query_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: query-manifest: not implemented yet\n", prog);
	return 1;
}

static int cmd_query_abi(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: query-abi: not implemented yet\n", prog);
	return 1;
}

static int cmd_notes(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: notes: not implemented yet\n", prog);
	return 1;
}

/* ---- set-manifest, set-package-metadata ----------------------------- */

static int cmd_set_manifest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: set-manifest: not implemented yet\n", prog);
	return 1;
}

static int cmd_set_package_metadata(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "%s: set-package-metadata: not implemented yet\n", prog);
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2)
		usage(stderr, 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		usage(stdout, 0);
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog, UKIT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		optind = 1;
		rc = cmds[i].run(argc - 1, argv + 1);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "%s: error writing standard output\n",
				prog);
			return 1;
		}
		return rc;
	}
	fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
	usage(stderr, 2);
}
