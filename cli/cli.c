/*
 * cli.c: dispatch, usage, errors and progress for the tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "ukit";
static const struct cli_cmd *cli_cmds;
static size_t cli_ncmds;

void cli_usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s COMMAND [options] ARGS\n\ncommands:\n",
		cli_prog);
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(fp, "    %s %s\n", cli_prog, cli_cmds[i].synopsis);
	fprintf(fp, "\n    %s --help | --version\n", cli_prog);
	exit(status);
}

void cli_err(const struct fmt_err *e)
{
	fmt_err_print(stderr, cli_prog, e);
}

int cli_open_input(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		cli_errx("%s: cannot open: %s", path, strerror(errno));
	return fd;
}

void cli_errx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Inputs are read through mappings where that is fastest (formats/core/stream.c,
 * formats/trust/verity.c).  If a file shrinks under a mapping, the kernel sends
 * SIGBUS.  Nothing has been verified or written at that point (outputs are
 * unnamed until committed), so say what happened and fail like any other
 * bad input instead of dying of a signal.
 */
static char sigbus_msg[160];
static size_t sigbus_len;

static void on_sigbus(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, sigbus_msg, sigbus_len) < 0) {
		/* nothing more can be done in a signal handler */
	}
	_exit(1);
}

static void catch_sigbus(const char *prog)
{
	struct sigaction sa;
	int n;

	n = snprintf(sigbus_msg, sizeof sigbus_msg,
		     "%s: an input file shrank while it was being read "
		     "(SIGBUS); nothing was verified or written\n", prog);
	sigbus_len = n > 0 && (size_t)n < sizeof sigbus_msg ? (size_t)n : 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGBUS, &sa, NULL);
}

int cli_main(const char *prog, const struct cli_cmd *cmds, size_t ncmds,
	     int argc, char **argv)
{
	int rc;

	cli_prog = prog;
	catch_sigbus(prog);
	cli_cmds = cmds;
	cli_ncmds = ncmds;
	if (argc < 2)
		cli_usage(stderr, 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		cli_usage(stdout, 0);
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog, UKIT_VERSION);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	for (size_t i = 0; i < ncmds; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		optind = 1;
		rc = cmds[i].run(argc - 1, argv + 1);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			cli_errx("error writing standard output");
			return 1;
		}
		return rc;
	}
	cli_errx("unknown command '%s'", argv[1]);
	cli_usage(stderr, 2);
}

void cli_progress_start(struct cli_progress *p, int mode, uint64_t total)
{
	p->on = mode > 0 || (mode == 0 && isatty(STDERR_FILENO));
	p->total = total;
	p->last = -1;
	cli_progress_update(p, 0);
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
	int pct, width = 40, fill;

	if (!p->on)
		return;
	pct = p->total ? (int)(done * 100 / p->total) : 100;
	if (pct > 100)
		pct = 100;
	if (pct == p->last)
		return;
	p->last = pct;
	fill = pct * width / 100;
	fprintf(stderr, "\r    (%6.2f/100%%) [%.*s%*s]", (double)pct,
		fill, "########################################",
		width - fill, "");
	fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
	if (!p->on)
		return;
	cli_progress_update(p, p->total);
	fputc('\n', stderr);
}
