/*
 * elftool.c: ukit-elftool, Solo5 manifests and ELF notes.
 *
 * A drop-in for solo5-elftool (gen-manifest, query-manifest, query-abi keep
 * its names, output bytes and "exit 1 on every error"), plus notes,
 * set-manifest, set-package-metadata and validate.  The work is done in
 * libukit (formats/); this file parses options and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "elfedit.h"
#include "elfimg.h"
#include "err.h"
#include "manifest.h"
#include "outfile.h"

static int cmd_gen_manifest(int argc, char **argv);
static int cmd_validate(int argc, char **argv);
static int cmd_query_manifest(int argc, char **argv);
static int cmd_query_abi(int argc, char **argv);
static int cmd_notes(int argc, char **argv);
static int cmd_set_manifest(int argc, char **argv);
static int cmd_set_package_metadata(int argc, char **argv);

static const struct cli_cmd cmds[] = {
	{ "gen-manifest", cmd_gen_manifest,
	  "gen-manifest [--format c|note|object] [--arch x86_64|aarch64|ppc64le]\n"
	  "        SOURCE OUTPUT",
	  "Compile a JSON manifest SOURCE into C source, a note or an object.\n"
	  "--format c|note|object\tC source as Solo5 makes it (default), the raw note, or an ELF object\n"
	  "--arch ARCH\tfor --format object: x86_64, aarch64 or ppc64le (default: this host)\n" },
	{ "validate", cmd_validate, "validate [-q] [--json] SOURCE|BINARY",
	  "Check a JSON manifest, or the Solo5 notes of an executable as a tender reads them.\n"
	  "-q, --quiet\tprint nothing; the exit status tells\n"
	  "--json\tprint the verdict as JSON (schema elftool-validate.schema.json)\n" },
	{ "query-manifest", cmd_query_manifest, "query-manifest [--json] BINARY",
	  "Print the Solo5 manifest of BINARY as JSON, as solo5-elftool does.\n"
	  "--json\tJSON output (the only output; schema solo5-query-manifest.schema.json)\n" },
	{ "query-abi", cmd_query_abi, "query-abi [--json] BINARY",
	  "Print the Solo5 ABI target and version of BINARY as JSON, as solo5-elftool does.\n"
	  "--json\tJSON output (the only output; schema solo5-query-abi.schema.json)\n" },
	{ "notes", cmd_notes, "notes [--json] BINARY",
	  "Print every ELF note of BINARY, decoded, as JSON.\n"
	  "--json\tJSON output (the only output; schema elftool-notes.schema.json)\n" },
	{ "set-manifest", cmd_set_manifest,
	  "set-manifest SOURCE BINARY (-o OUTPUT | --in-place)",
	  "Replace the Solo5 manifest of BINARY with the one compiled from SOURCE.\n"
	  "-o, --output OUTPUT\twrite the result to OUTPUT\n"
	  "--in-place\treplace BINARY atomically\n" },
	{ "set-package-metadata", cmd_set_package_metadata,
	  "set-package-metadata JSON BINARY (-o OUTPUT | --in-place)",
	  "Add or replace the FDO package metadata note of BINARY.\n"
	  "-o, --output OUTPUT\twrite the result to OUTPUT\n"
	  "--in-place\treplace BINARY atomically\n" },
};

/* ---- gen-manifest, validate ---------------------------------------- */

/*
 * Read at most MANIFEST_JSON_MAX bytes of (path) ("-" = stdin) into a
 * malloc'd buffer.  Returns 0, or -1 with (e) set.
 */
static int read_source(const char *path, char **out, size_t *outlen,
		       struct fmt_err *e)
{
	size_t cap = MANIFEST_JSON_MAX + 1, len = 0;
	char *buf;
	int fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == EISDIR ? ukit_fmt_errf(e, FMT_NOOFF, CLI_IS_DIR)
				       : ukit_fmt_errno(e, FMT_NOOFF, "cannot open");
	else {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			close(fd);
			return ukit_fmt_errf(e, FMT_NOOFF, CLI_IS_DIR);
		}
	}
	if ((buf = malloc(cap)) == NULL) {
		if (fd != STDIN_FILENO)
			close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ukit_fmt_errno(e, FMT_NOOFF, "read failed");
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		ukit_fmt_errf(e, FMT_NOOFF, CLI_EMPTY_FILE);
		goto fail;
	}
	if (len > MANIFEST_JSON_MAX) {
		ukit_fmt_errf(e, FMT_NOOFF, "manifest too large (> %d bytes)",
			 MANIFEST_JSON_MAX);
		goto fail;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	if (fd != STDIN_FILENO)
		close(fd);
	free(buf);
	return -1;
}

/* Read and check (path); 0 or -1 after printing the error. */
static int load_manifest(const char *path, struct manifest *m)
{
	struct fmt_err e = { .path = strcmp(path, "-") ? path : "<stdin>" };
	size_t len = 0;
	char *json = NULL;
	int rc;

	if (read_source(path, &json, &len, &e) < 0) {
		cli_err(&e);
		return -1;
	}
	rc = ukit_manifest_parse(json, len, m, &e);
	free(json);
	if (rc < 0 && e.msg[0] >= '0' && e.msg[0] <= '9')
		cli_errx("%s:%s", e.path, e.msg);   /* FILE:LINE:COL: msg */
	else if (rc < 0)
		cli_err(&e);
	return rc;
}

enum gen_format { GEN_C, GEN_NOTE, GEN_OBJECT };

static int cmd_gen_manifest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "arch",   required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	enum manifest_arch arch = ukit_manifest_host_arch();
	enum gen_format fmt = GEN_C;
	struct manifest m;
	struct outfile o;
	struct fmt_err e = { 0 };
	uint8_t *bytes = NULL;
	char *src = NULL;
	size_t len = 0;
	int c, rc;

	/* Solo5's contract: every error, usage included, exits 1. */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "c") == 0)
				fmt = GEN_C;
			else if (strcmp(optarg, "note") == 0)
				fmt = GEN_NOTE;
			else if (strcmp(optarg, "object") == 0)
				fmt = GEN_OBJECT;
			else {
				cli_errx("gen-manifest: unknown format '%s' "
					 "(c, note or object)", optarg);
				return 1;
			}
			break;
		case 'a':
			if (ukit_manifest_arch_parse(optarg, &arch) < 0) {
				cli_errx("gen-manifest: unknown architecture "
					 "'%s' (x86_64, aarch64 or ppc64le)",
					 optarg);
				return 1;
			}
			break;
		default:
			cli_usage(stderr, 1);
		}
	}
	if (argc - optind != 2)
		cli_usage(stderr, 1);
	if (load_manifest(argv[optind], &m) < 0)
		return 1;

	e.path = argv[optind + 1];
	switch (fmt) {
	case GEN_C:
		rc = ukit_manifest_c_source(&m, &src, &len, &e);
		bytes = (uint8_t *)src;
		break;
	case GEN_NOTE:
		len = manifest_note_size(m.n);
		if ((bytes = malloc(len)) == NULL)
			rc = ukit_fmt_errf(&e, FMT_NOOFF, "out of memory");
		else
			rc = ukit_manifest_note_encode(&m, false, bytes, len, &e);
		break;
	case GEN_OBJECT:
	default:
		rc = ukit_manifest_object(&m, arch, &bytes, &len, &e);
		break;
	}
	if (rc == 0 && ukit_outfile_open(&o, argv[optind + 1], 0644, &e) == 0) {
		if (ukit_outfile_write(&o, bytes, len, &e) < 0) {
			ukit_outfile_abort(&o);
			rc = -1;
		} else {
			rc = ukit_outfile_commit(&o, &e);
		}
	} else {
		rc = -1;
	}
	free(bytes);
	if (rc < 0) {
		cli_err(&e);
		return 1;
	}
	return 0;
}

/* Does (path) start with the ELF magic?  False for "-" and on errors. */
static bool is_elf(const char *path)
{
	uint8_t magic[4];
	bool r = false;
	int fd;

	if (strcmp(path, "-") == 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return false;
	r = read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
	    memcmp(magic, "\177ELF", 4) == 0;
	close(fd);
	return r;
}

/*
 * Print, as an error, that the section header table of (img) is unusable
 * although a tender loads the file.  True if it is.
 */
static bool report_section_error(const struct elfimg *img, bool warning)
{
	const struct fmt_err *se = ukit_elfimg_section_error(img);

	if (se == NULL)
		return false;
	cli_err(se);
	cli_errx("%s%s: a Solo5 tender loads the executable, but readelf, "
		 "strip and debuggers cannot read its sections",
		 warning ? "warning: " : "", se->path);
	return true;
}

/* What validate found: valid or the first problem, and what was read. */
struct vres {
	bool elf;                   /* an executable, not a JSON manifest */
	bool valid;
	bool have_mft, have_abi;
	bool line_col;              /* e.msg is "LINE:COL: ..." (JSON) */
	bool section;               /* the problem is the section table */
	struct manifest m;
	struct solo5_abi abi;
	struct fmt_err e;
};

/*
 * validate BINARY: the Solo5 notes as a tender reads them, and the
 * section header table a tender never reads.  -1 when the file cannot be
 * read at all (printed), else 0 with (r) filled.
 */
static int validate_binary(const char *path, struct vres *r)
{
	struct elfimg *img;
	const struct fmt_err *se;
	int fd;

	r->elf = true;
	r->e = (struct fmt_err){ .path = path, .off = FMT_NOOFF };
	if ((fd = cli_open_seekable(path, true)) < 0)
		return -1;
	if (ukit_elfimg_open_tender(fd, path, &img, &r->e) < 0) {
		close(fd);
		return 0;
	}
	if (ukit_elfimg_solo5(img, &r->m, &r->have_mft, &r->abi, &r->have_abi,
			 &r->e) < 0) {
		/* r->e says why */
	} else if (!r->have_mft) {
		ukit_fmt_errf(&r->e, FMT_NOOFF, "no Solo5 manifest found in "
			 "executable");
	} else if (!r->have_abi) {
		ukit_fmt_errf(&r->e, FMT_NOOFF, "no Solo5 ABI information found "
			 "in executable");
	} else if ((se = ukit_elfimg_section_error(img)) != NULL) {
		r->e = *se;
		r->section = true;
	} else {
		r->valid = true;
	}
	ukit_elfimg_close(img);
	close(fd);
	return 0;
}

/* validate SOURCE: a JSON manifest, as gen-manifest checks it. */
static int validate_source(const char *path, struct vres *r)
{
	size_t len = 0;
	char *json = NULL;

	r->e = (struct fmt_err){ .path = strcmp(path, "-") ? path : "<stdin>",
				 .off = FMT_NOOFF };
	if (read_source(path, &json, &len, &r->e) < 0) {
		cli_err(&r->e);    /* unreadable: not a verdict */
		return -1;
	}
	if (ukit_manifest_parse(json, len, &r->m, &r->e) == 0)
		r->valid = r->have_mft = true;
	else
		r->line_col = r->e.msg[0] >= '0' && r->e.msg[0] <= '9';
	free(json);
	return 0;
}

/* The problem in (r), on stderr. */
static void validate_err(const struct vres *r)
{
	if (r->line_col)
		cli_errx("%s:%s", r->e.path, r->e.msg);   /* FILE:LINE:COL: msg */
	else
		cli_err(&r->e);
	if (r->section)
		cli_errx("%s: a Solo5 tender loads the executable, but "
			 "readelf, strip and debuggers cannot read its "
			 "sections", r->e.path);
}

/* --json (schemas/elftool-validate.schema.json).  0 or -1. */
static int validate_json(const char *path, const struct vres *r)
{
	json_t *j = json_pack("{s:s,s:s,s:b}", "path",
			      strcmp(path, "-") ? path : "<stdin>", "kind",
			      r->elf ? "executable" : "manifest", "valid",
			      r->valid);
	json_t *err;
	int rc;

	if (j == NULL)
		return -1;
	if (r->have_mft)
		json_object_set_new(j, "devices",
				    json_integer((json_int_t)r->m.n));
	if (r->have_abi)
		json_object_set_new(j, "abi", json_pack("{s:s,s:I}", "target",
			ukit_elfimg_abi_target_name(r->abi.target), "version",
			(json_int_t)r->abi.version));
	if (!r->valid) {
		err = json_pack("{s:s}", "message", r->e.msg);
		if (err != NULL && r->e.off != FMT_NOOFF)
			json_object_set_new(err, "offset",
					    json_integer((json_int_t)r->e.off));
		json_object_set_new(j, r->section ? "section_table_error"
						  : "error", err);
	}
	rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
	return rc;
}

static int cmd_validate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json",  no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	struct vres r = { 0 };
	const char *path;
	bool quiet = false, json = false;
	int c;

	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		if (c == 'q')
			quiet = true;
		else if (c == 'J')
			json = true;
		else
			cli_usage(stderr, 2);
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = argv[optind];
	if ((is_elf(path) ? validate_binary(path, &r)
			  : validate_source(path, &r)) < 0)
		return 1;
	if (!r.valid)
		validate_err(&r);
	if (json) {
		if (validate_json(path, &r) < 0) {
			cli_errx("cannot write JSON");
			return 1;
		}
	} else if (r.valid && !quiet && r.elf) {
		printf("%s: valid Solo5 executable: %s ABI version %u, "
		       "manifest of %zu device%s\n", path,
		       ukit_elfimg_abi_target_name(r.abi.target), r.abi.version,
		       r.m.n, r.m.n == 1 ? "" : "s");
	} else if (r.valid && !quiet) {
		printf("%s: valid Solo5 manifest, %zu device%s\n",
		       strcmp(path, "-") ? path : "<stdin>", r.m.n,
		       r.m.n == 1 ? "" : "s");
	}
	return r.valid ? 0 : 1;
}

/* ---- query-manifest, query-abi, notes ------------------------------- */

/*
 * Print (s) as the inside of a JSON string: '"', '\\', control bytes, DEL
 * and bytes >= 0x80 escaped (\u00XX, i.e. read as Latin-1), so any name
 * in a file gives valid JSON.  Valid Solo5 names (alphanumeric) print as
 * solo5-elftool prints them.
 */
static void json_puts_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
}

/*
 * Open (path) for the solo5-compatible queries and find its Solo5 notes.
 * Prints the reason and returns -1 on error.
 */
static int solo5_query(const char *path, struct manifest *m, bool *have_mft,
		       struct solo5_abi *abi, bool *have_abi)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	struct elfimg *img;
	int fd, r;

	if ((fd = cli_open_seekable(path, true)) < 0)
		return -1;
	/* As a tender reads it: a damaged section table is no obstacle. */
	if (ukit_elfimg_open_tender(fd, path, &img, &e) < 0) {
		cli_err(&e);
		close(fd);
		return -1;
	}
	r = ukit_elfimg_solo5(img, m, have_mft, abi, have_abi, &e);
	if (r < 0)
		cli_err(&e);
	ukit_elfimg_close(img);
	close(fd);
	return r;
}

/* Exactly one operand, no options; Solo5's contract: 1 on misuse too. */
static const char *query_operand(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },   /* the only output */
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (c != 'J')
			cli_usage(stderr, 1);
	if (argc - optind != 1)
		cli_usage(stderr, 1);
	return argv[optind];
}

static int cmd_query_manifest(int argc, char **argv)
{
	struct manifest m;
	const char *path = query_operand(argc, argv);
	bool have = false;
	size_t last = 0;

	if (path == NULL)
		return 1;
	if (solo5_query(path, &m, &have, NULL, NULL) < 0)
		return 1;
	if (!have) {
		/* Solo5's words under its name, which its callers match */
		cli_errx("%s: %s Solo5 manifest found in executable", path,
			 cli_solo5 ? "No" : "no");
		return 1;
	}
	/*
	 * solo5-elftool's format.  It skips entries of type >=
	 * RESERVED_FIRST and puts a comma after every entry but the
	 * manifest's last, which gives invalid JSON when the last entry is
	 * skipped; here the comma follows every printed entry but the last
	 * printed one (the same bytes whenever Solo5's output is JSON).
	 */
	for (size_t i = 0; i < m.n; i++)
		if (m.dev[i].type < MFT_RESERVED_FIRST)
			last = i + 1;
	printf("{\n"
	       "  \"type\": \"solo5.manifest\",\n"
	       "  \"version\": %d,\n"
	       "  \"devices\": [\n", MFT_VERSION);
	for (size_t i = 0; i < m.n; i++) {
		if (m.dev[i].type >= MFT_RESERVED_FIRST)
			continue;
		printf("    { \"name\": \"");
		json_puts_escaped(m.dev[i].name);
		printf("\", \"type\": \"%s\" }%s\n",
		       ukit_manifest_type_name(m.dev[i].type),
		       i + 1 == last ? "" : ",");
	}
	printf("  ]\n"
	       "}\n");
	return 0;
}

static int cmd_query_abi(int argc, char **argv)
{
	struct solo5_abi abi;
	const char *path = query_operand(argc, argv);
	bool have = false;

	if (path == NULL)
		return 1;
	if (solo5_query(path, NULL, NULL, &abi, &have) < 0)
		return 1;
	if (!have) {
		cli_errx("%s: %s Solo5 ABI information found in executable",
			 path, cli_solo5 ? "No" : "no");
		return 1;
	}
	printf("{\n"
	       "  \"type\": \"solo5.abi\",\n"
	       "  \"target\": \"%s\",\n"
	       "  \"version\": %u\n"
	       "}\n", ukit_elfimg_abi_target_name(abi.target), abi.version);
	return 0;
}

/* "section_table_error" in the notes of (img), and a warning. */
static int section_error_json(const struct elfimg *img, json_t *j)
{
	const struct fmt_err *se = ukit_elfimg_section_error(img);
	json_t *o;

	if (se == NULL)
		return 0;
	report_section_error(img, true);
	o = se->off == FMT_NOOFF
		? json_pack("{s:s}", "message", se->msg)
		: json_pack("{s:I,s:s}", "offset", (json_int_t)se->off,
			    "message", se->msg);
	return o == NULL ? -1 : json_object_set_new(j, "section_table_error", o);
}

static int cmd_notes(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct fmt_err e = { .off = FMT_NOOFF };
	struct elfimg *img;
	json_t *j = NULL;
	const char *path;
	int c, fd, rc = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'j')   /* JSON is the only output; --json is accepted */
			cli_usage(stderr, 2);
	}
	if (argc - optind != 1)
		cli_usage(stderr, 2);
	path = argv[optind];
	e.path = path;
	if ((fd = cli_open_seekable(path, true)) < 0)
		return 1;
	/* The PT_NOTEs are read as a tender reads them; a damaged section
	 * table is reported (stderr and "section_table_error"), not fatal. */
	if (ukit_elfimg_open_tender(fd, path, &img, &e) < 0) {
		cli_err(&e);
		close(fd);
		return 1;
	}
	if (ukit_elfimg_notes_json(img, &j, &e) < 0) {
		cli_err(&e);
	} else if (section_error_json(img, j) < 0) {
		cli_errx("out of memory");
	} else if (json_dumpf(j, stdout, JSON_INDENT(2) |
			      JSON_PRESERVE_ORDER) == 0) {
		putchar('\n');
		rc = 0;
	}
	json_decref(j);
	ukit_elfimg_close(img);
	close(fd);
	return rc;
}

/* ---- set-manifest, set-package-metadata ----------------------------- */

/*
 * Options shared by set-manifest and set-package-metadata: exactly one of
 * -o OUTPUT and --in-place, then two operands.  0, or 2 after a usage
 * message.
 */
static int edit_opts(int argc, char **argv, const char *cmd,
		     const char **out, bool *in_place)
{
	static const struct option opts[] = {
		{ "output",   required_argument, NULL, 'o' },
		{ "in-place", no_argument,       NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*out = NULL;
	*in_place = false;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			*out = optarg;
			break;
		case 'i':
			*in_place = true;
			break;
		default:
			goto usage;
		}
	}
	if (*out != NULL && *in_place) {
		cli_errx("%s: -o and --in-place exclude each other", cmd);
		cli_usage(stderr, 2);
	}
	if (argc - optind != 2 || (*out == NULL) == !*in_place)
		goto usage;
	if (*out != NULL && strcmp(*out, "-") == 0) {
		cli_errx("%s: -o -: the output must be a file", cmd);
		return 2;
	}
	return 0;
usage:
	cli_usage(stderr, 2);
}

/*
 * Read the edited file back on (fd) (write-only) the way query-manifest
 * does and check it holds (want): the edit is only committed if so.
 * 0, or -1 with (e) set.
 */
static int verify_manifest(int fd, const struct manifest *want,
			   struct fmt_err *e)
{
	struct elfimg *img = NULL;
	struct manifest got;
	char proc[64];
	bool have = false;
	int rfd, rc = -1;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if ((rfd = open(proc, O_RDONLY | O_CLOEXEC)) < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "cannot read the output back");
	if (ukit_elfimg_open(rfd, e->path, &img, e) == 0 &&
	    ukit_elfimg_solo5(img, &got, &have, NULL, NULL, e) == 0) {
		bool same = have && got.n == want->n;
		for (size_t i = 0; same && i < want->n; i++)
			same = strcmp(got.dev[i].name, want->dev[i].name) == 0 &&
			       got.dev[i].type == want->dev[i].type;
		if (same)
			rc = 0;
		else
			ukit_fmt_errf(e, FMT_NOOFF, "internal error: the edited "
				 "file does not read back the new manifest");
	}
	ukit_elfimg_close(img);
	close(rfd);
	return rc;
}

/* A manifest only for machines Solo5 builds for.  0, or -1 with (e) set. */
static int solo5_machine(int fd, const char *path, struct fmt_err *e)
{
	struct elfimg *img;
	int r;

	if (ukit_elfimg_open_tender(fd, path, &img, e) < 0)
		return -1;
	r = ukit_elfimg_solo5_machine(ukit_elfimg_info(img), e);
	ukit_elfimg_close(img);
	return r;
}

/*
 * Rewrite (bin) with a new manifest (m) or package metadata (json, jlen)
 * into (out), or over (bin) itself when (in_place): a new file written
 * beside it and renamed over it, keeping its permission bits.  The input
 * is only read.  Returns the exit status (0 or 1).
 */
static int edit_elf(const char *bin, const char *out, bool in_place,
		    const struct manifest *m, const char *json, size_t jlen)
{
	struct fmt_err e = { .path = bin };
	struct elfedit_plan plan = { 0 };
	struct elfedit *ed = NULL;
	struct outfile o;
	struct stat st;
	uint8_t note[MFT_NOTE_MAX];
	char *dest = NULL;
	int fd, rc = -1;

	if ((fd = cli_open_seekable(bin, true)) < 0)
		return 1;
	if (fstat(fd, &st) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot stat");
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		ukit_fmt_errf(&e, FMT_NOOFF, "not a regular file");
		goto done;
	}
	if (m != NULL && solo5_machine(fd, bin, &e) < 0)
		goto done;
	{
		struct elfedit_src src = { .fd = fd, .size = (uint64_t)st.st_size,
					   .path = bin };
		if (ukit_elfedit_open(&src, &ed, &e) < 0)
			goto done;
	}
	if (m != NULL) {
		size_t len = manifest_note_size(m->n);
		if (ukit_manifest_note_encode(m, ukit_elfedit_big_endian(ed), note, len,
					 &e) < 0 ||
		    ukit_elfedit_plan_manifest(ed, note, len, &plan, &e) < 0)
			goto done;
	} else if (ukit_elfedit_plan_package_metadata(ed, json, jlen, &plan,
						 &e) < 0) {
		goto done;
	}
	/* --in-place through a symbolic link replaces the file it names. */
	dest = in_place ? realpath(bin, NULL) : strdup(out);
	if (dest == NULL) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot resolve the output path");
		goto done;
	}
	e.path = dest;
	if (ukit_outfile_open(&o, dest, st.st_mode & 0777, &e) < 0)
		goto done;
	if (in_place && fchmod(o.fd, st.st_mode & 07777) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot keep the file mode");
		ukit_outfile_abort(&o);
		goto done;
	}
	e.path = bin;
	if (ukit_elfedit_apply_fd(fd, o.fd, &plan, &e) < 0) {
		ukit_outfile_abort(&o);
		goto done;
	}
	e.path = dest;
	if (m != NULL && verify_manifest(o.fd, m, &e) < 0) {
		ukit_outfile_abort(&o);
		goto done;
	}
	if (ukit_outfile_commit(&o, &e) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		cli_err(&e);
	ukit_elfedit_plan_free(&plan);
	ukit_elfedit_close(ed);
	free(dest);
	close(fd);
	return rc < 0 ? 1 : 0;
}

static int cmd_set_manifest(int argc, char **argv)
{
	struct manifest m;
	const char *out;
	bool in_place;
	int rc;

	rc = edit_opts(argc, argv, "set-manifest", &out, &in_place);
	if (rc != 0)
		return rc;
	if (load_manifest(argv[optind], &m) < 0)
		return 1;
	return edit_elf(argv[optind + 1], out, in_place, &m, NULL, 0);
}

static int cmd_set_package_metadata(int argc, char **argv)
{
	const char *path, *out;
	struct fmt_err e = { 0 };
	size_t len = 0;
	char *json = NULL;
	bool in_place;
	int rc;

	rc = edit_opts(argc, argv, "set-package-metadata", &out, &in_place);
	if (rc != 0)
		return rc;
	path = argv[optind];
	e.path = strcmp(path, "-") ? path : "<stdin>";
	if (read_source(path, &json, &len, &e) < 0 ||
	    ukit_elfedit_pkgmeta_check(json, len, &e) < 0) {
		cli_err(&e);
		free(json);
		return 1;
	}
	rc = edit_elf(argv[optind + 1], out, in_place, NULL, json, len);
	free(json);
	return rc;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');

	/* Installed as solo5-elftool (make install-compat): its name in
	 * every message and Solo5's exit codes for --help, --version and
	 * no arguments. */
	base = base != NULL ? base + 1 : argv[0];
	if (strcmp(base, "solo5-elftool") == 0)
		cli_solo5 = true;
	return cli_main(cli_solo5 ? "solo5-elftool" : "ukit-elftool", cmds,
			sizeof cmds / sizeof cmds[0], argc, argv);
}
