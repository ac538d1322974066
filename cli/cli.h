/*
 * cli.h: what the three tools share and the library may not do (print,
 * exit): command dispatch, usage, error printing, a progress bar.
 */
#ifndef UKIT_CLI_H
#define UKIT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);  /* argv[0] is the command name */
	const char *synopsis;
};

/* The running tool's name ("ukit-pack"), set by cli_main(). */
extern const char *cli_prog;

/*
 * Dispatch argv[1] to its command with getopt reset (optind = 1), handle
 * --help (stdout, 0), --version and misuse (stderr, 2); check that stdout
 * was written.  Returns the exit status.
 */
int cli_main(const char *prog, const struct cli_cmd *cmds, size_t ncmds,
	     int argc, char **argv);

/* Print every synopsis to (fp) and exit with (status). */
void cli_usage(FILE *fp, int status) __attribute__((noreturn));

/* "PROG: PATH:0xOFF: MSG" on stderr. */
void cli_err(const struct fmt_err *e);

/*
 * Open an input read-only.  On failure print "PROG: PATH: cannot open:
 * REASON" and return -1; else the descriptor.
 */
int cli_open_input(const char *path);

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
