/*
 * cli.h: what the three tools share and the library may not do (print,
 * exit): command dispatch, usage and help, error printing, opening inputs,
 * a progress bar.  The conventions these implement are in ukit(7).
 */
#ifndef UKIT_CLI_H
#define UKIT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/*
 * One command of a tool.  (synopsis) is "NAME [options] OPERANDS": square
 * brackets mark what is optional, parentheses a choice of which one is
 * required, UPPERCASE words operands, "..." repeats.  (help), when set, is
 * a one-line description, then one line per option: the option as the
 * user writes it ("-f, --format FMT"), a tab, a one-line description.
 * cli_main() prints both for "CMD --help" and "help CMD", and reads them
 * to say what is missing when a command calls cli_usage().
 */
struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);  /* argv[0] is "PROG: CMD" */
	const char *synopsis;
	const char *help;
};

/* The running tool's name ("ukit-pack"), set by cli_main(). */
extern const char *cli_prog;

/*
 * True when the tool runs under Solo5's name (ukit-elftool installed as
 * solo5-elftool): no arguments, --help and --version then behave as
 * Solo5's elftool does (usage on stderr, exit 1).  Set before cli_main().
 */
extern bool cli_solo5;

/*
 * Dispatch argv[1] to its command with getopt reset (optind = 1) and the
 * command's argv[0] set to "PROG: CMD" (so getopt's own messages start
 * with the tool's name); handle --help / -h / "help [CMD]" (stdout, 0),
 * --version (stdout, 0) before and after a command name, and misuse
 * (stderr, 2); check that stdout was written.  Returns the exit status.
 */
int cli_main(const char *prog, const struct cli_cmd *cmds, size_t ncmds,
	     int argc, char **argv);

/*
 * Misuse: print what is missing or unexpected (when the arguments show
 * it), then the usage of the running command (or of the tool) to (fp),
 * and exit with (status).
 */
void cli_usage(FILE *fp, int status) __attribute__((noreturn));

/* "PROG: PATH:0xOFF: MSG" on stderr. */
void cli_err(const struct fmt_err *e);

/*
 * Open an input read-only.  On failure print "PROG: PATH: cannot open:
 * REASON", for a directory "PROG: PATH: is a directory", and return -1;
 * else the descriptor.
 */
int cli_open_input(const char *path);

/* The same, and an empty file is refused: "PROG: PATH: empty file". */
int cli_open_nonempty(const char *path);

/*
 * An input read at offsets (an image, an ELF file): as cli_open_input(),
 * or cli_open_nonempty() when (nonempty), and anything but a regular
 * file or a block device (a FIFO, a socket, a terminal) is refused
 * with "PROG: PATH: not a regular file" before a byte is read.  A FIFO
 * is opened without waiting for a writer, so that such an input cannot
 * hang the tool.
 */
int cli_open_seekable(const char *path, bool nonempty);

/* The words for these mistakes, the same in every tool. */
#define CLI_IS_DIR     "is a directory"
#define CLI_NOT_REG    "not a regular file"
#define CLI_EMPTY_FILE "empty file"

/* "PROG: MSG" on stderr, printf style. */
void cli_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Progress bar on stderr.  Shown when (mode) is 1, never when -1, and when
 * 0 only if stderr is a TTY.
 */
struct cli_progress {
	bool     on;
	uint64_t total;
	int      last;   /* last percentage drawn */
};
void cli_progress_start(struct cli_progress *p, int mode, uint64_t total);
void cli_progress_update(struct cli_progress *p, uint64_t done);
void cli_progress_end(struct cli_progress *p);

#endif
