/*
 * cli.c: dispatch, usage, help, errors, inputs and progress for the tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "ukit";
bool cli_solo5;
static const struct cli_cmd *cli_cmds;
static size_t cli_ncmds;

/* The command running, and its arguments as cli_main() passed them. */
static const struct cli_cmd *cli_cur;
static int cli_cur_argc;
static char **cli_cur_argv;

/* ---- reading the synopsis and the help text -------------------------- */

#define CLI_MAX_OPTS  64
#define CLI_MAX_WORDS 64
#define CLI_WORD      80

enum { ARG_NONE, ARG_ONE, ARG_REST };

/* An option as help or synopsis spell it. */
struct cli_opt {
	char shrt;                 /* 'f', or 0 */
	char lng[CLI_WORD];        /* "format", or "" */
	int  arity;
	char arg[CLI_WORD];        /* "FMT", for messages */
	bool given;
};

struct cli_spec {
	struct cli_opt opt[CLI_MAX_OPTS];
	size_t nopt;
	/* from the synopsis: operands, required options, required choices */
	char operand[CLI_MAX_WORDS][CLI_WORD];
	size_t noperand;
	bool variadic;             /* the last operand repeats */
	char req[CLI_MAX_WORDS][CLI_WORD * 2];   /* "-O raw|qcow2" */
	char reqname[CLI_MAX_WORDS][CLI_WORD];   /* "-O" */
	size_t nreq;
	char group[CLI_MAX_WORDS][CLI_WORD * 3]; /* "--pub, --ca" */
	char groupname[CLI_MAX_WORDS][8][CLI_WORD];
	size_t groupn[CLI_MAX_WORDS];
	size_t ngroup;
	/* from the arguments */
	bool unknown;              /* an option neither help nor synopsis has */
	size_t nargs;              /* operands given */
	const char *extra;         /* the first operand too many */
};

/* Copy the next whitespace-separated word of (*p) into (w); false at end. */
static bool next_word(const char **p, char *w, size_t size)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s == '\0')
		return false;
	while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n') {
		if (n + 1 < size)
			w[n++] = *s;
		s++;
	}
	w[n] = '\0';
	*p = s;
	return true;
}

/* Strip brackets, parentheses and a trailing comma from both ends. */
static void bare(char *w)
{
	size_t n = strlen(w), i = 0;

	while (n > 0 && strchr("[]()|,", w[n - 1]) != NULL)
		w[--n] = '\0';
	while (w[i] != '\0' && strchr("[(|", w[i]) != NULL)
		i++;
	memmove(w, w + i, n - i + 1);
}

static struct cli_opt *find_long(struct cli_spec *s, const char *name,
				 size_t len)
{
	for (size_t i = 0; i < s->nopt; i++)
		if (strlen(s->opt[i].lng) == len && len > 0 &&
		    strncmp(s->opt[i].lng, name, len) == 0)
			return &s->opt[i];
	return NULL;
}

static struct cli_opt *find_short(struct cli_spec *s, char c)
{
	for (size_t i = 0; i < s->nopt; i++)
		if (s->opt[i].shrt == c)
			return &s->opt[i];
	return NULL;
}

/* Record option names (word "-f", "--format", "-p|-q", "--x=ARG"). */
static struct cli_opt *add_opt(struct cli_spec *s, const char *word,
			       int arity, const char *arg)
{
	char w[CLI_WORD], *tok, *save = NULL;
	struct cli_opt *last = NULL, *o;

	snprintf(w, sizeof w, "%s", word);
	bare(w);
	for (tok = strtok_r(w, "|", &save); tok != NULL;
	     tok = strtok_r(NULL, "|", &save)) {
		char *eq;
		const char *name;
		size_t len;

		if (tok[0] != '-' || tok[1] == '\0')
			continue;
		eq = strchr(tok, '=');
		if (eq != NULL)
			*eq = '\0';
		name = tok[1] == '-' ? tok + 2 : tok + 1;
		len = strlen(name);
		if (len == 0)
			continue;
		o = tok[1] == '-' ? find_long(s, name, len)
				  : find_short(s, name[0]);
		if (o == NULL) {
			if (s->nopt == CLI_MAX_OPTS)
				return last;
			o = &s->opt[s->nopt++];
			memset(o, 0, sizeof *o);
			if (tok[1] == '-')
				snprintf(o->lng, sizeof o->lng, "%s", name);
			else
				o->shrt = name[0];
			o->arity = eq != NULL ? ARG_ONE : arity;
			snprintf(o->arg, sizeof o->arg, "%s", arg);
		}
		last = o;
	}
	return last;
}

/* One help line "-f, --format FMT\tdescription": names share one entry. */
static void help_line(struct cli_spec *s, const char *line, size_t len)
{
	char spec[CLI_WORD * 2], w[CLI_WORD], arg[CLI_WORD] = "";
	char shrt = 0, lng[CLI_WORD] = "";
	const char *p = spec, *tab = memchr(line, '\t', len);
	int arity = ARG_NONE;
	bool eq = false;
	struct cli_opt *o;

	if (tab == NULL || line[0] != '-')
		return;
	snprintf(spec, sizeof spec, "%.*s", (int)(tab - line), line);
	while (next_word(&p, w, sizeof w)) {
		size_t n = strlen(w);

		if (n > 0 && w[n - 1] == ',')
			w[--n] = '\0';
		if (w[0] == '-' && w[1] == '-') {
			char *q = strchr(w, '=');
			if (q != NULL) {
				*q = '\0';
				eq = true;
				arity = ARG_ONE;
				snprintf(arg, sizeof arg, "%s", q + 1);
			}
			snprintf(lng, sizeof lng, "%s", w + 2);
		} else if (w[0] == '-' && n == 2) {
			shrt = w[1];
		} else if (strstr(w, "...]") != NULL) {
			arity = ARG_REST;
		} else if (arity == ARG_NONE) {
			arity = ARG_ONE;
			snprintf(arg, sizeof arg, "%s", w);
		}
	}
	(void)eq;
	if (s->nopt == CLI_MAX_OPTS || (shrt == 0 && lng[0] == '\0'))
		return;
	o = &s->opt[s->nopt++];
	memset(o, 0, sizeof *o);
	o->shrt = shrt;
	snprintf(o->lng, sizeof o->lng, "%s", lng);
	o->arity = arity;
	snprintf(o->arg, sizeof o->arg, "%s", arg);
}

static bool is_option_word(const char *w)
{
	while (*w == '[' || *w == '(' || *w == '|')
		w++;
	return w[0] == '-' && w[1] != '\0' && w[1] != ' ';
}

static int depth_change(const char *w)
{
	int d = 0;

	for (; *w; w++)
		d += (*w == '[' || *w == '(') - (*w == ']' || *w == ')');
	return d;
}

/* Operands, required options and choices, and option arities, from the
 * synopsis (its first form: a line naming the tool again starts another). */
static void read_synopsis(struct cli_spec *s, const char *syn)
{
	char w[CLI_WORD], prev[CLI_WORD] = "", opt[CLI_WORD] = "";
	const char *p = syn;
	int depth = 0, gdepth = -1;
	bool first = true, optarg_next = false;
	size_t g = 0;

	while (next_word(&p, w, sizeof w)) {
		int before = depth;
		size_t n = strlen(w);

		if (first) {           /* the command's name */
			first = false;
			continue;
		}
		if (strcmp(w, cli_prog) == 0)
			break;
		depth += depth_change(w);
		/* an option's argument: the word after it, in the same group */
		if (optarg_next && !is_option_word(w) && w[0] != '[' &&
		    w[0] != '(' && strcmp(w, "|") != 0) {
			struct cli_opt *o = add_opt(s, opt, ARG_ONE, "");
			char a[CLI_WORD];

			snprintf(a, sizeof a, "%s", w);
			bare(a);
			if (o != NULL && o->arg[0] == '\0')
				snprintf(o->arg, sizeof o->arg, "%s", a);
			if (before == 0 && s->nreq > 0 &&
			    strcmp(s->reqname[s->nreq - 1], opt) == 0)
				snprintf(s->req[s->nreq - 1],
					 sizeof s->req[0], "%s %s", opt, a);
			optarg_next = false;
			if (gdepth >= 0 && depth == 0)     /* "ROOT...)" */
				gdepth = -1;
			snprintf(prev, sizeof prev, "%s", w);
			continue;
		}
		optarg_next = false;
		if (is_option_word(w)) {
			char b[CLI_WORD];

			snprintf(b, sizeof b, "%s", w);
			bare(b);
			add_opt(s, b, ARG_NONE, "");
			/* "[-f FMT]": an argument follows unless the word
			 * closes its group */
			optarg_next = n > 0 && w[n - 1] != ']' && w[n - 1] != ')';
			snprintf(opt, sizeof opt, "%s", b);
			if (before == 0 && w[0] == '-' &&
			    s->nreq < CLI_MAX_WORDS) {
				snprintf(s->reqname[s->nreq], sizeof s->reqname[0],
					 "%s", b);
				snprintf(s->req[s->nreq++], sizeof s->req[0],
					 "%s", b);
			}
			if (gdepth >= 0 && before == gdepth + 1 &&
			    s->groupn[g] < 8) {
				char *q = s->groupname[g][s->groupn[g]++];
				snprintf(q, CLI_WORD, "%s", b);
			}
		}
		if (before == 0 && w[0] == '(' && s->ngroup < CLI_MAX_WORDS &&
		    gdepth < 0) {
			g = s->ngroup++;
			s->groupn[g] = 0;
			gdepth = 0;
			if (is_option_word(w)) {
				char b[CLI_WORD];

				snprintf(b, sizeof b, "%s", w);
				bare(b);
				snprintf(s->groupname[g][s->groupn[g]++],
					 CLI_WORD, "%s", b);
			}
		}
		/* an operand as one choice of a group: "(--size SIZE | IMAGE)" */
		if (gdepth >= 0 && before == gdepth + 1 && !is_option_word(w) &&
		    strcmp(w, "|") != 0 && s->groupn[g] < 8) {
			char *q = s->groupname[g][s->groupn[g]++];

			snprintf(q, CLI_WORD, "%s", w);
			bare(q);
			if (q[0] == '\0')
				s->groupn[g]--;
		}
		if (gdepth >= 0 && depth == 0)
			gdepth = -1;
		if (before == 0 && depth == 0 && !is_option_word(w) &&
		    strcmp(w, "|") != 0 && w[0] != '(' &&
		    !(w[0] == '[' && strchr(w, ']') == w + n - 1) &&
		    s->noperand < CLI_MAX_WORDS) {
			char b[CLI_WORD];
			const char *r = w[0] == '[' ? strchr(w, ']') : NULL;

			/* "[SIZE]" is optional; "[+|-]SIZE" is SIZE */
			snprintf(b, sizeof b, "%s", r != NULL ? r + 1 : w);
			bare(b);
			n = strlen(b);
			if (n > 3 && strcmp(b + n - 3, "...") == 0) {
				b[n - 3] = '\0';
				s->variadic = true;
			}
			if (n > 0)
				snprintf(s->operand[s->noperand++], CLI_WORD,
					 "%s", b);
		}
		snprintf(prev, sizeof prev, "%s", w);
	}
	for (size_t i = 0; i < s->ngroup; i++) {
		s->group[i][0] = '\0';
		for (size_t j = 0; j < s->groupn[i]; j++) {
			size_t l = strlen(s->group[i]);
			snprintf(s->group[i] + l, sizeof s->group[0] - l, "%s%s",
				 j == 0 ? "" : j + 1 == s->groupn[i] ? " or " : ", ",
				 s->groupname[i][j]);
		}
	}
}

static void read_spec(struct cli_spec *s, const struct cli_cmd *c)
{
	memset(s, 0, sizeof *s);
	if (c->help != NULL) {
		const char *p = strchr(c->help, '\n');

		while (p != NULL && *++p != '\0') {
			const char *end = strchr(p, '\n');
			size_t len = end ? (size_t)(end - p) : strlen(p);

			help_line(s, p, len);
			p = end;
		}
	}
	read_synopsis(s, c->synopsis);
}

/* Walk the command's arguments as getopt would: which options were given,
 * how many operands, any option nobody documents. */
static void scan_args(struct cli_spec *s, int argc, char **argv)
{
	int n = 1;

	/* a command may have cut its argv short (argv[k] = NULL) */
	while (n < argc && argv[n] != NULL)
		n++;
	argc = n;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		struct cli_opt *o;

		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				if (s->nargs++ == s->noperand && !s->variadic)
					s->extra = argv[i];
			return;
		}
		if (a[0] == '-' && a[1] == '-') {
			const char *eq = strchr(a, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			if ((o = find_long(s, a + 2, len)) == NULL) {
				s->unknown = true;
				continue;
			}
			o->given = true;
			if (o->arity == ARG_REST)
				return;
			if (o->arity == ARG_ONE && eq == NULL)
				i++;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			for (const char *q = a + 1; *q; q++) {
				if ((o = find_short(s, *q)) == NULL) {
					s->unknown = true;
					break;
				}
				o->given = true;
				if (o->arity != ARG_NONE) {
					if (q[1] == '\0')
						i++;
					break;
				}
			}
			continue;
		}
		if (s->nargs++ == s->noperand && !s->variadic)
			s->extra = a;
	}
}

static bool opt_given(struct cli_spec *s, const char *word)
{
	struct cli_opt *o = word[1] == '-'
		? find_long(s, word + 2, strlen(word + 2))
		: find_short(s, word[1]);

	return o != NULL && o->given;
}

/* Say what the arguments lack or have too many of; false if nothing. */
static bool say_missing(FILE *fp, const struct cli_cmd *c, int argc,
			char **argv)
{
	struct cli_spec *s = malloc(sizeof *s);
	char what[512] = "";
	bool said = false;

	if (s == NULL)
		return false;
	read_spec(s, c);
	scan_args(s, argc, argv);
	if (s->unknown)
		goto out;    /* getopt has said which option */
	for (size_t i = 0; i < s->nreq; i++) {
		if (opt_given(s, s->reqname[i]))
			continue;
		size_t l = strlen(what);
		snprintf(what + l, sizeof what - l, "%s%s", l ? ", " : "",
			 s->req[i]);
	}
	for (size_t i = 0; i < s->ngroup; i++) {
		bool any = false;

		for (size_t j = 0; j < s->groupn[i]; j++)
			any |= s->groupname[i][j][0] == '-'
				? opt_given(s, s->groupname[i][j])
				: s->nargs > 0;
		if (any || s->groupn[i] == 0)
			continue;
		size_t l = strlen(what);
		snprintf(what + l, sizeof what - l, "%s%s", l ? ", " : "",
			 s->group[i]);
	}
	for (size_t i = s->nargs; i < s->noperand; i++) {
		size_t l = strlen(what);
		snprintf(what + l, sizeof what - l, "%s%s", l ? ", " : "",
			 s->operand[i]);
	}
	if (what[0] != '\0') {
		fprintf(fp, "%s: %s: missing %s\n", cli_prog, c->name, what);
		said = true;
	} else if (s->extra != NULL) {
		fprintf(fp, "%s: %s: unexpected operand '%s' (%s takes %zu)\n",
			cli_prog, c->name, s->extra, c->name, s->noperand);
		said = true;
	}
out:
	free(s);
	return said;
}

/* ---- usage and help --------------------------------------------------- */

/* "usage: PROG SYNOPSIS" for one command. */
static void cmd_usage(FILE *fp, const struct cli_cmd *c)
{
	fprintf(fp, "usage: %s %s\n", cli_prog, c->synopsis);
}

static void tool_usage(FILE *fp)
{
	fprintf(fp, "usage: %s COMMAND [options] ARGS\n", cli_prog);
	if (cli_solo5)
		fprintf(fp, "%s version %s (ukit)\n", cli_prog, UKIT_VERSION);
	fprintf(fp, "\ncommands:\n");
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(fp, "    %s %s\n", cli_prog, cli_cmds[i].synopsis);
	fprintf(fp, "\n    %s help [COMMAND]\n", cli_prog);
	fprintf(fp, "    %s --help | --version\n", cli_prog);
}

void cli_usage(FILE *fp, int status)
{
	if (cli_cur == NULL) {
		tool_usage(fp);
		exit(status);
	}
	if (fp == stderr)
		say_missing(fp, cli_cur, cli_cur_argc, cli_cur_argv);
	cmd_usage(fp, cli_cur);
	if (fp == stderr)
		fprintf(fp, "'%s %s --help' describes every option\n", cli_prog,
			cli_cur->name);
	exit(status);
}

static void help_opt(FILE *fp, const char *spec, int speclen,
		     const char *desc, int desclen)
{
	/* "-f, --format" / "    --json": long options line up */
	const char *pad = spec[0] == '-' && spec[1] == '-' ? "    " : "";
	int w = (int)strlen(pad) + speclen;

	fprintf(fp, "  %s%.*s", pad, speclen, spec);
	fprintf(fp, "%*s%.*s\n", w < 24 ? 26 - w : 2, "", desclen, desc);
}

/* "-f, --format FMT<TAB>description": an option line of a help text. */
static bool is_opt_line(const char *l)
{
	return l[0] == '-' && memchr(l, '\t', strcspn(l, "\n")) != NULL;
}

/* The command's synopsis, description and options, on stdout. */
static void cmd_help(const struct cli_cmd *c)
{
	const char *p = c->help, *nl;

	cmd_usage(stdout, c);
	/* the description: the lines before the first option line */
	if (p != NULL) {
		putchar('\n');
		for (;;) {
			nl = strchr(p, '\n');
			printf("%.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
			p = nl;
			if (p == NULL || p[1] == '\0' || is_opt_line(p + 1))
				break;
			p++;
		}
	}
	printf("\noptions:\n");
	while (p != NULL && *++p != '\0') {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *tab = memchr(p, '\t', len);

		if (tab != NULL)
			help_opt(stdout, p, (int)(tab - p), tab + 1,
				 (int)(len - (size_t)(tab + 1 - p)));
		p = end;
	}
	help_opt(stdout, "-h, --help", 10, "print this help and exit", 24);
	help_opt(stdout, "--version", 9, "print the version and exit", 26);
}

static const struct cli_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < cli_ncmds; i++)
		if (strcmp(name, cli_cmds[i].name) == 0)
			return &cli_cmds[i];
	return NULL;
}

static int print_version(void)
{
	printf("%s %s\n", cli_prog, UKIT_VERSION);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void unknown_cmd(const char *name) __attribute__((noreturn));
static void unknown_cmd(const char *name)
{
	size_t l = 0;
	char list[512] = "";

	for (size_t i = 0; i < cli_ncmds; i++) {
		snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "",
			 cli_cmds[i].name);
		l = strlen(list);
	}
	if (name[0] == '-')
		cli_errx("unrecognized option '%s'", name);
	else
		cli_errx("unknown command '%s' (commands: %s)", name, list);
	tool_usage(stderr);
	exit(cli_solo5 ? 1 : 2);
}

/* ---- errors and inputs ------------------------------------------------ */

void cli_err(const struct fmt_err *e)
{
	ukit_fmt_err_print(stderr, cli_prog, e);
}

static int open_input(const char *path, bool nonempty, bool seekable)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC |
			    (seekable ? O_NONBLOCK | O_NOCTTY : 0));

	if (fd < 0) {
		if (errno == EISDIR)
			cli_errx("%s: %s", path, CLI_IS_DIR);
		else
			cli_errx("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_errx("%s: %s", path, CLI_IS_DIR);
		close(fd);
		return -1;
	}
	if (seekable && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISBLK(st.st_mode)) {
		cli_errx("%s: %s", path, CLI_NOT_REG);
		close(fd);
		return -1;
	}
	if (nonempty && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == 0) {
		cli_errx("%s: %s", path, CLI_EMPTY_FILE);
		close(fd);
		return -1;
	}
	if (seekable)
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int cli_open_input(const char *path)
{
	return open_input(path, false, false);
}

int cli_open_nonempty(const char *path)
{
	return open_input(path, true, false);
}

int cli_open_seekable(const char *path, bool nonempty)
{
	return open_input(path, nonempty, true);
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
 * formats/trust/verity_img.c).  If a file shrinks under a mapping, the kernel sends
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

/* --help, -h or --version among a command's options (before "--"). */
static const char *help_or_version(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0 || strcmp(argv[i], "--exec") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return "help";
		if (strcmp(argv[i], "--version") == 0)
			return "version";
	}
	return NULL;
}

int cli_main(const char *prog, const struct cli_cmd *cmds, size_t ncmds,
	     int argc, char **argv)
{
	const struct cli_cmd *c;
	const char *hv;
	char *name;
	int rc;

	cli_prog = prog;
	catch_sigbus(prog);
	cli_cmds = cmds;
	cli_ncmds = ncmds;
	if (argc < 2) {
		if (!cli_solo5)
			cli_errx("missing COMMAND");
		cli_usage(stderr, cli_solo5 ? 1 : 2);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (cli_solo5)     /* Solo5's elftool: usage on stderr, 1 */
			cli_usage(stderr, 1);
		cli_usage(stdout, 0);
	}
	if (strcmp(argv[1], "--version") == 0) {
		if (cli_solo5)
			cli_usage(stderr, 1);
		return print_version();
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc == 2)
			cli_usage(stdout, 0);
		if ((c = find_cmd(argv[2])) == NULL)
			unknown_cmd(argv[2]);
		if (argc > 3) {
			cli_errx("help: unexpected operand '%s' (help takes "
				 "one COMMAND)", argv[3]);
			exit(2);
		}
		cmd_help(c);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if ((c = find_cmd(argv[1])) == NULL)
		unknown_cmd(argv[1]);
	if ((hv = help_or_version(argc, argv)) != NULL) {
		if (strcmp(hv, "version") == 0)
			return print_version();
		cmd_help(c);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	cli_cur = c;
	cli_cur_argc = argc - 1;
	cli_cur_argv = argv + 1;
	/* getopt names argv[0] in its messages: make it "PROG: CMD" */
	if (asprintf(&name, "%s: %s", prog, c->name) < 0) {
		cli_errx("out of memory");
		return 1;
	}
	argv[1] = name;
	optind = 1;
	opterr = 1;
	rc = c->run(argc - 1, argv + 1);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_errx("error writing standard output");
		return 1;
	}
	return rc;
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
