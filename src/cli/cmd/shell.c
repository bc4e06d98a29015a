/* rain shell: rain's commands at a prompt (libedit: line editing, history
 * kept across sessions, completion), from a script on standard input, or
 * one line with -c (rain-shell(1)).  Lines are split with a shell's
 * quoting (util/shellwords.h) and run in this process through the same
 * table as rain's command line; nothing is expanded and no shell is run. */
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/shell.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/shellwords.h"
#include "util/strutil.h"

#define HISTORY_MAX 1000                /* lines the history keeps */
#define LINE_MAX_BYTES (64 * 1024)      /* a command line, continuations included */
#define NAMES_TIMEOUT_MS 1500           /* completion waits at most this for raind */
#define NAMES_RETRY_S 10                /* and asks again after a failure no sooner */
#define NAMES_QUERY "?limit=1000"       /* the images completion offers */
#define LIST_MAX 200                    /* candidates a TAB lists */

/* Not an exit status: the line was exit or quit. */
#define SHELL_EXIT (-2)

static int cmd_shell_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt shell_opts[] = {
	CLI_OPT("command", 'c', "LINE", 0, "run LINE and end with its exit status"),
	CLI_OPT("keep-going", 'k', NULL, 0, "a script goes on past a failed line (its exit\n"
		"status is then the last failure's)"),
	{ 0 },
};

const struct cli_cmd cmd_shell_entry = {
	.name = "shell",
	.usage = "[-c LINE] [-k]",
	.summary = "rain's commands at a prompt, with history and completion",
	.help =
		"Each line is a rain command without the 'rain' ('image list',\n"
		"'image show NAME'), split into words with a shell's quoting ('...',\n"
		"\"...\", backslashes, # comments); nothing is expanded and no shell\n"
		"is run. A failed command prints its error and the prompt comes back.\n"
		"'help' lists the commands, 'exit' or Ctrl-D ends the shell. TAB\n"
		"completes commands, options, image and site names (asked of raind,\n"
		"once a session) and file names. History is kept in\n"
		"$XDG_STATE_HOME/rain/history (~/.local/state/rain/history); lines\n"
		"that start with a blank are not kept.\n"
		"\n"
		"When standard input is not a terminal, its lines run without a\n"
		"prompt and the first failure ends the shell with its exit status\n"
		"(-k goes on). See rain-shell(1).\n",
	.opts = shell_opts,
	.args = { 0, 0, "rain shell takes no operands; give a line with -c" },
	.exec = cmd_shell_exec,
	.prefix = "rain",
};

struct names {
	char **v;               /* NULL-terminated once fetched */
	size_t n;
	bool fetched;
	time_t tried;
};

struct shell {
	struct cli *cli;
	bool json, quiet, insecure;     /* as rain's own options left them */
	struct rain_client *quick;      /* for completion: a short time limit */
	struct names images, sites;
	int exit_status;                /* of exit N */
	History *hist;
	char *hist_path;                /* NULL: no history file */
};

static bool in_shell;

/* ---- names from raind, for completion ------------------------------------ */

static void names_drop(struct names *nm)
{
	strv_free(nm->v, nm->n);
	memset(nm, 0, sizeof(*nm));
}

static int quick_client(struct shell *sh, struct rain_client **out)
{
	struct rain_client_config cfg = { 0 };
	struct cli *cli = sh->cli;

	if (!sh->quick) {
		if (!cli->config_loaded)
			return RAIN_EINVAL;     /* loading it could print here */
		cfg.url = cli->url.value;
		cfg.token = cli->token.value;
		cfg.cacert = cli->cacert.value;
		cfg.insecure = cli->insecure;
		cfg.connect_timeout = 1;
		cfg.timeout_ms = NAMES_TIMEOUT_MS;
		if (rain_client_new(&cfg, &sh->quick) < 0)
			return RAIN_EINVAL;
	}
	*out = sh->quick;
	return 0;
}

/* Fetch the names once; after a failure nothing is offered, and raind is
 * asked again NAMES_RETRY_S later at the soonest. */
static char *const *names_get(void *ud, enum shell_names which)
{
	struct shell *sh = ud;
	struct names *nm = which == SHELL_NAMES_IMAGES ? &sh->images : &sh->sites;
	_cleanup_json_ json_t *list = NULL;
	struct rain_client *c;
	time_t now = time(NULL);
	json_t *item;
	size_t i;
	int r;

	if (nm->fetched)
		return nm->v;
	if (nm->tried && now - nm->tried < NAMES_RETRY_S)
		return NULL;
	nm->tried = now;
	if (quick_client(sh, &c) < 0)
		return NULL;
	if (which == SHELL_NAMES_IMAGES)
		r = rain_client_image_list(c, NAMES_QUERY, false, &list);
	else
		r = rain_client_sites(c, &list);
	rain_error_clear();
	if (r < 0)
		return NULL;
	names_drop(nm);
	nm->tried = now;
	if (ARRAY_GROW1(nm->v, 0) < 0)
		return NULL;
	nm->v[0] = NULL;
	json_array_foreach(list, i, item) {
		const char *name = cli_json_str(item, "name");

		if (name && *name && strv_add(&nm->v, &nm->n, name) < 0) {
			names_drop(nm);
			return NULL;
		}
	}
	nm->fetched = true;
	return nm->v;
}

/* ---- running lines ------------------------------------------------------- */

static void shell_help(void)
{
	fputs("Commands (each as after 'rain'; 'help COMMAND' shows one):\n", stdout);
	cli_commands_print(stdout);
	printf("  %-10s %s\n", "exit [N]", "end the shell (quit, Ctrl-D)");
}

static bool word_is(const char *w, const char *const *list)
{
	return str_in_list(list, w);
}

/* Run one line's words. Its exit status, or SHELL_EXIT for exit/quit. */
static int run_words(struct shell *sh, char **v, size_t n)
{
	static const char *const settings_cmds[] = { "login", "logout", "config", NULL };
	static const char *const image_cmds[] = { "image", "generate", "build", NULL };
	static const char *const site_cmds[] = { "site", "register", "deregister", NULL };
	struct cli *cli = sh->cli;
	int r;

	if (n == 0)
		return CLI_EXIT_OK;
	if (!strcmp(v[0], "exit") || !strcmp(v[0], "quit")) {
		int64_t code = 0;

		if (n > 2 || (n == 2 && (str_to_i64(v[1], &code) < 0 || code < 0 || code > 255))) {
			cli_error("%s takes at most an exit status from 0 to 255", v[0]);
			return CLI_EXIT_USAGE;
		}
		sh->exit_status = (int)code;
		return SHELL_EXIT;
	}
	if (!strcmp(v[0], "help") && n == 1) {
		shell_help();
		return CLI_EXIT_OK;
	}
	if (!strcmp(v[0], "shell")) {
		cli_error("this is rain shell already; type its commands here");
		return CLI_EXIT_USAGE;
	}
	cli->json = sh->json;
	cli->quiet = sh->quiet;
	cli_interrupted = 0;
	r = cli_command_run(cli, (int)n, v);
	fflush(stdout);
	cli->json = sh->json;
	cli->quiet = sh->quiet;
	if (word_is(v[0], settings_cmds)) {
		/* the token or the server may have changed */
		cli_config_reload(cli);
		cli->insecure = sh->insecure;
		rain_client_free(sh->quick);
		sh->quick = NULL;
		names_drop(&sh->images);
		names_drop(&sh->sites);
		cli_config_load(cli);
	} else if (word_is(v[0], image_cmds)) {
		names_drop(&sh->images);
	} else if (word_is(v[0], site_cmds)) {
		names_drop(&sh->sites);
	}
	return r;
}

/* -c LINE */
static int run_one(struct shell *sh, const char *line)
{
	struct shellwords w;
	int r;

	r = shellwords_split(line, strlen(line), 0, 0, &w);
	if (r < 0) {
		shellwords_free(&w);
		cli_error("%s", rain_error_last());
		return CLI_EXIT_USAGE;
	}
	r = run_words(sh, w.v, w.n);
	shellwords_free(&w);
	return r == SHELL_EXIT ? sh->exit_status : r;
}

/* Lines from in without a prompt: a line that ends inside a quote or with
 * a backslash goes on on the next one.  The first failure ends it, unless
 * keep_going. */
static int run_script(struct shell *sh, FILE *in, bool keep_going)
{
	_cleanup_free_ char *text = NULL, *line = NULL;
	size_t tlen = 0, cap = 0, lineno = 0, first = 0;
	int status = CLI_EXIT_OK, r;
	ssize_t len;

	while ((len = getline(&line, &cap, in)) >= 0) {
		struct shellwords w;
		char *t;

		lineno++;
		if (tlen == 0)
			first = lineno;
		if (tlen + (size_t)len > LINE_MAX_BYTES) {
			cli_error("line %zu: a command line longer than %d KiB", first,
				  LINE_MAX_BYTES / 1024);
			return CLI_EXIT_USAGE;
		}
		t = realloc(text, tlen + (size_t)len + 1);
		if (!t)
			return cli_error("out of memory");
		text = t;
		memcpy(text + tlen, line, (size_t)len + 1);
		tlen += (size_t)len;
		r = shellwords_split(text, tlen, SHELLWORDS_PARTIAL, first, &w);
		if (r == 0 && (w.quote || w.backslash)) {
			shellwords_free(&w);
			continue;       /* the line goes on */
		}
		if (r < 0) {
			cli_error("%s", rain_error_last());
			r = CLI_EXIT_USAGE;
		} else {
			r = run_words(sh, w.v, w.n);
		}
		shellwords_free(&w);
		tlen = 0;
		if (r == SHELL_EXIT)
			return sh->exit_status;
		if (r != CLI_EXIT_OK) {
			status = r;
			if (!keep_going) {
				fprintf(stderr, "rain: shell: stopped at line %zu (exit status %d); "
					"-k goes on past failures\n", first, r);
				return r;
			}
		}
	}
	if (ferror(in))
		return cli_error("cannot read the script: %s", strerror(errno));
	if (tlen > 0) {
		struct shellwords w;

		/* the last line leaves a quote open: say where */
		r = shellwords_split(text, tlen, 0, first, &w);
		shellwords_free(&w);
		cli_error("%s", r < 0 ? rain_error_last() : "the script ends inside a line");
		return CLI_EXIT_USAGE;
	}
	return status;
}

/* ---- history ------------------------------------------------------------- */

/* $XDG_STATE_HOME/rain/history or ~/.local/state/rain/history; NULL when
 * there is no home. */
static char *history_path(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *p;

	if (xdg && xdg[0] == '/')
		return asprintf(&p, "%s/rain/history", xdg) < 0 ? NULL : p;
	if (home && home[0] == '/')
		return asprintf(&p, "%s/.local/state/rain/history", home) < 0 ? NULL : p;
	return NULL;
}

/* "config set token VALUE" is not kept (a token given as "-" is not on
 * the line). */
static bool is_secret(const struct shellwords *w)
{
	return w->n >= 4 && !strcmp(w->v[0], "config") && !strcmp(w->v[1], "set") &&
	       !strcmp(w->v[2], "token") && strcmp(w->v[3], "-");
}

/* Write the history to its file: a private temporary file renamed over
 * it, so the file is 0600 whatever the umask and never half written. */
static int history_save(struct shell *sh)
{
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	HistEvent ev;
	char *slash;
	int fd;

	if (!sh->hist_path)
		return 0;
	dir = strdup(sh->hist_path);
	if (!dir || asprintf(&tmp, "%s.XXXXXX", sh->hist_path) < 0) {
		tmp = NULL;
		return cli_error("out of memory");
	}
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (fs_mkdir_p(dir, 0700) < 0)
		return cli_error("cannot keep the history: %s", rain_error_last());
	fd = mkstemp(tmp);
	if (fd < 0)
		return cli_error("cannot keep the history in %s: %s", dir, strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return cli_error("out of memory");
	}
	if (fchmod(fd, 0600) < 0 || history(sh->hist, &ev, H_SAVE_FP, f) < 0 || fflush(f) != 0 ||
	    fsync(fd) < 0 || rename(tmp, sh->hist_path) < 0) {
		int e = errno;

		unlink(tmp);
		return cli_error("cannot write the history %s: %s", sh->hist_path, strerror(e));
	}
	return 0;
}

/* ---- the prompt ---------------------------------------------------------- */

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
	cli_interrupted = 1;
}

static char *prompt(EditLine *el)
{
	(void)el;
	return (char *)"rain> ";
}

/* Candidates in columns below the line. */
static void list_candidates(FILE *out, char **v, size_t n)
{
	struct winsize ws;
	size_t width = 0, cols, rows, shown = n > LIST_MAX ? LIST_MAX : n;
	int term = 80;

	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		term = ws.ws_col;
	for (size_t i = 0; i < shown; i++)
		if (strlen(v[i]) > width)
			width = strlen(v[i]);
	width += 2;
	cols = (size_t)term / width ? (size_t)term / width : 1;
	rows = (shown + cols - 1) / cols;
	fputc('\n', out);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols && c * rows + r < shown; c++) {
			_cleanup_free_ char *s = cli_sanitize(v[c * rows + r]);

			fprintf(out, "%-*s", (int)width, s ? s : "?");
		}
		fputc('\n', out);
	}
	if (shown < n)
		fprintf(out, "(%zu more)\n", n - shown);
}

static unsigned char complete_fn(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	struct shell *sh = NULL;
	struct shell_completer sc = { .top = cli_top_cmds, .names = names_get };
	struct shellwords w;
	_cleanup_free_ char *ins = NULL;
	char **cands = NULL;
	size_t ncands = 0, nwords;
	const char *prefix;
	FILE *out = stdout;
	unsigned char ret = CC_REFRESH_BEEP;
	sigset_t block, old;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &sh);
	sc.ud = sh;
	if (shellwords_split(li->buffer, (size_t)(li->cursor - li->buffer), SHELLWORDS_PARTIAL, 0,
			     &w) < 0 || w.backslash) {
		shellwords_free(&w);
		return CC_REFRESH_BEEP;
	}
	/* Ctrl-C while raind is asked for names waits for it (at most
	 * NAMES_TIMEOUT_MS), then drops the line; it must not reach libedit's
	 * handler outside its read, which would leave the terminal cooked */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	nwords = w.in_word ? w.n - 1 : w.n;
	prefix = w.in_word ? w.v[w.n - 1] : "";
	if (shell_complete_words(&sc, w.v, nwords, prefix, &cands, &ncands) < 0 || ncands == 0)
		goto done;
	ins = shell_complete_insert(cands, ncands, prefix, w.quote);
	if (!ins)
		goto done;
	if (*ins) {
		el_insertstr(el, ins);
		ret = CC_REFRESH;
	} else if (ncands > 1) {
		el_get(el, EL_GETFP, 1, &out);
		list_candidates(out, cands, ncands);
		ret = CC_REDISPLAY;
	}
done:
	if (sigtimedwait(&block, NULL, &(struct timespec){ 0 }) == SIGINT) {
		li = el_line(el);
		el_cursor(el, (int)(li->lastchar - li->cursor));
		el_deletestr(el, (int)(li->lastchar - li->buffer));
		el_get(el, EL_GETFP, 1, &out);
		fputc('\n', out);
		ret = CC_REDISPLAY;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	strv_free(cands, ncands);
	shellwords_free(&w);
	return ret;
}

static int run_interactive(struct shell *sh)
{
	struct sigaction sa = { 0 }, old_int;
	HistEvent ev;
	EditLine *el;
	int status = CLI_EXIT_OK;

	sh->hist = history_init();
	el = el_init("rain", stdin, stdout, stderr);
	if (!sh->hist || !el) {
		if (sh->hist)
			history_end(sh->hist);
		return cli_error("cannot set up the terminal for rain shell");
	}
	history(sh->hist, &ev, H_SETSIZE, HISTORY_MAX);
	history(sh->hist, &ev, H_SETUNIQUE, 1);
	sh->hist_path = history_path();
	if (sh->hist_path && access(sh->hist_path, F_OK) == 0 &&
	    history(sh->hist, &ev, H_LOAD, sh->hist_path) < 0)
		cli_warn("cannot read the history %s; starting without it", sh->hist_path);
	el_set(el, EL_EDITOR, "emacs");
	el_set(el, EL_PROMPT, prompt);
	el_set(el, EL_HIST, history, sh->hist);
	el_set(el, EL_CLIENTDATA, sh);
	el_set(el, EL_SIGNAL, 1);
	el_set(el, EL_ADDFN, "rain-complete", "complete a command, option, name or file",
	       complete_fn);
	el_set(el, EL_BIND, "^I", "rain-complete", NULL);
	el_source(el, NULL);    /* the user's ~/.editrc */

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sigint;      /* no SA_RESTART: Ctrl-C ends the read */
	sigaction(SIGINT, NULL, &old_int);
	for (;;) {
		struct shellwords w;
		const char *line;
		_cleanup_free_ char *copy = NULL;
		size_t len;
		int count, r;

		/* a command may have put its own handler (or none) */
		sigaction(SIGINT, &sa, NULL);
		got_sigint = 0;
		line = el_gets(el, &count);
		if (!line) {
			if (got_sigint) {
				/* Ctrl-C drops the line, as in a shell */
				fputc('\n', stdout);
				el_reset(el);
				continue;
			}
			fputc('\n', stdout);
			break;
		}
		len = strlen(line);
		while (len > 0 && strchr(" \t\r\n", line[len - 1]))
			len--;
		copy = strndup(line, len);
		if (!copy) {
			status = cli_error("out of memory");
			break;
		}
		r = shellwords_split(copy, len, 0, 0, &w);
		if (len > 0 && copy[0] != ' ' && copy[0] != '\t' && !(r == 0 && is_secret(&w))) {
			history(sh->hist, &ev, H_ENTER, copy);
			if (history_save(sh) != CLI_EXIT_OK) {
				/* said once: the session goes on without the file */
				cli_warn("the history is kept for this session only");
				free(sh->hist_path);
				sh->hist_path = NULL;
			}
		}
		if (r < 0) {
			cli_error("%s", rain_error_last());
			shellwords_free(&w);
			continue;
		}
		r = run_words(sh, w.v, w.n);
		shellwords_free(&w);
		if (r == SHELL_EXIT) {
			status = sh->exit_status;
			break;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	el_end(el);
	history_end(sh->hist);
	sh->hist = NULL;
	return status;
}

static int cmd_shell_exec(struct cli *cli, const struct cli_args *a)
{
	struct shell sh = { .cli = cli, .json = cli->json, .quiet = cli->quiet,
			    .insecure = cli->insecure };
	const char *line = cli_arg(a, "command");
	int r;

	if (in_shell) {
		cli_error("this is rain shell already; type its commands here");
		return CLI_EXIT_USAGE;
	}
	in_shell = true;
	if (line)
		r = run_one(&sh, line);
	else if (!isatty(STDIN_FILENO))
		r = run_script(&sh, stdin, cli_flag(a, "keep-going"));
	else if ((r = cli_config_load(cli)) == CLI_EXIT_OK)
		r = run_interactive(&sh);
	in_shell = false;
	rain_client_free(sh.quick);
	names_drop(&sh.images);
	names_drop(&sh.sites);
	free(sh.hist_path);
	return r;
}
