/* Command lines: the options and operands a command declares in its
 * struct cli_cmd, parsed here for every command, and the --help text made
 * from the same declarations. */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"

/* What every command accepts besides its own options. */
const struct cli_opt cli_common_opts[] = {
	{ .name = "help", .letter = 'h', .help = "show this help", .final = true },
	CLI_OPT("json", 0, NULL, 0, "print the server's JSON instead of tables"),
	CLI_OPT("quiet", 'q', NULL, 0, "no progress bars or notes"),
	{ 0 },
};

static int unknown_option(const struct cli_cmd *cmd, const char *word);

/* The entries of a table that are options (not headings or the end). */
static size_t opts_count(const struct cli_opt *opts)
{
	size_t n = 0;

	for (; opts && (opts->name || opts->help); opts++)
		if (opts->name)
			n++;
	return n;
}

static const struct cli_opt *opts_find(const struct cli_opt *opts, const char *name)
{
	for (; opts && (opts->name || opts->help); opts++)
		if (opts->name && !strcmp(opts->name, name))
			return opts;
	return NULL;
}

/* The entry an option stands for: itself, or the one it is another
 * spelling of. */
static const struct cli_opt *opt_canonical(const struct cli_opt *table, const struct cli_opt *o)
{
	const struct cli_opt *c = o->same_as ? opts_find(table, o->same_as) : NULL;

	if (o->same_as && !c)
		abort();        /* a table that names an option it lacks */
	return c ? c : o;
}

int cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv, bool stop_at_operand,
		   struct cli_args *a)
{
	size_t nown = opts_count(cmd->opts), ncommon = opts_count(cli_common_opts);
	size_t n = nown + ncommon, k = 0;
	const struct cli_opt **map = calloc(n + 1, sizeof(*map));
	struct option *longopts = calloc(n + 1, sizeof(*longopts));
	char *shortopts = malloc(3 * n + 3), *s = shortopts;
	int opt, r = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->opts = calloc((size_t)argc + 1, sizeof(*a->opts));
	if (!map || !longopts || !shortopts || !a->opts)
		abort();
	if (stop_at_operand)
		*s++ = '+';
	*s++ = ':';     /* a missing value comes back as ':' */
	for (int t = 0; t < 2; t++) {
		const struct cli_opt *o = t == 0 ? cmd->opts : cli_common_opts;

		for (; o && (o->name || o->help); o++) {
			if (!o->name)
				continue;
			map[k] = o;
			longopts[k].name = o->name;
			longopts[k].has_arg = o->arg ? required_argument : no_argument;
			/* a letter comes back as itself, a long-only option as its index */
			longopts[k].val = o->letter ? o->letter : 0x1000 + (int)k;
			if (o->letter) {
				*s++ = o->letter;
				if (o->arg)
					*s++ = ':';
			}
			k++;
		}
	}
	*s = '\0';

	optind = 0;     /* glibc: start over, forgetting the last argv */
	opterr = 0;     /* errors are reported here */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct cli_opt *o = NULL;
		size_t i = k;

		if (opt == ':') {
			if (optopt && optopt < 0x100)
				r = cli_usage_error(cmd, "option '-%c' needs a value", optopt);
			else
				r = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
			goto done;
		}
		if (opt >= 0x1000)
			i = (size_t)(opt - 0x1000);
		else
			for (i = 0; i < k && !(opt != '?' && map[i]->letter == opt); i++)
				;
		if (i >= k) {
			if (optopt && optopt < 0x100)
				r = cli_usage_error(cmd, "unknown option '-%c'", optopt);
			else
				r = unknown_option(cmd, argv[optind - 1]);
			goto done;
		}
		o = opt_canonical(i < nown ? cmd->opts : cli_common_opts, map[i]);
		a->opts[a->nopts].opt = o;
		a->opts[a->nopts].value = o->arg ? optarg : "";
		a->nopts++;
		if (o->final)
			break;
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
done:
	free(map);
	free(longopts);
	free(shortopts);
	if (r) {
		free(a->opts);
		a->opts = NULL;
		a->nopts = 0;
	}
	return r;
}

void cli_args_free(struct cli_args *a)
{
	free(a->opts);
	a->opts = NULL;
	a->nopts = 0;
}

const char *cli_arg(const struct cli_args *a, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].opt->name, name))
			v = a->opts[i].value;
	return v;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
	return cli_arg(a, name) != NULL;
}

/* ---- help ---------------------------------------------------------------- */

/* "  -o, --output FILE" */
static int opt_label(const struct cli_opt *o, char *buf, size_t len)
{
	char letter[8] = "    ";

	if (o->letter)
		snprintf(letter, sizeof(letter), "-%c, ", o->letter);
	return snprintf(buf, len, "  %s--%s%s%s", letter, o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

int cli_opts_width(const struct cli_opt *opts)
{
	char buf[128];
	int w = 0;

	for (; opts && (opts->name || opts->help); opts++) {
		int n;

		if (!opts->name || !opts->help)
			continue;
		n = opt_label(opts, buf, sizeof(buf));
		if (n > w)
			w = n;
	}
	return w;
}

void cli_opts_print(FILE *f, const struct cli_opt *opts, int width)
{
	char label[128];

	for (; opts && (opts->name || opts->help); opts++) {
		const char *h = opts->help, *nl;

		if (!h)
			continue;       /* another spelling, not shown */
		if (!opts->name) {
			fprintf(f, "%s\n", h);  /* a heading */
			continue;
		}
		opt_label(opts, label, sizeof(label));
		fprintf(f, "%-*s  ", width, label);
		while ((nl = strchr(h, '\n'))) {
			fprintf(f, "%.*s\n%*s  ", (int)(nl - h), h, width, "");
			h = nl + 1;
		}
		fprintf(f, "%s\n", h);
	}
}

void cli_help(const struct cli_cmd *cmd)
{
	int w = cli_opts_width(cmd->opts), wc = cli_opts_width(cli_common_opts);

	if (wc > w)
		w = wc;
	printf("Usage: %s %s %s\n\n%c%s.\n", cmd->prefix, cmd->name, cmd->usage,
	       toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
	if (opts_count(cmd->opts)) {
		printf("\nOptions:\n");
		cli_opts_print(stdout, cmd->opts, w);
	}
	if (cmd->help)
		printf("\n%s", cmd->help);
	printf("\nCommon options:\n");
	cli_opts_print(stdout, cli_common_opts, w);
}

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("rain: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd->prefix)
		fprintf(stderr, "; see '%s %s --help'\n", cmd->prefix, cmd->name);
	else
		fprintf(stderr, "; see '%s --help'\n", cmd->name);
	return CLI_EXIT_USAGE;
}

/* ---- did you mean -------------------------------------------------------- */

/* The edit distance of a and b (insertions, deletions, substitutions and
 * swaps of neighbours), stopping at 3. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[34][34];

	if (la > 32 || lb > 32)
		return 3;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

const char *cli_suggest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL, *prefixed = NULL;
	size_t dbest = 3, nprefixed = 0;

	if (!*word)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!names[i])
			continue;
		if (!strncmp(names[i], word, strlen(word)) && nprefixed++ == 0)
			prefixed = names[i];
		d = distance(word, names[i]);
		/* one edit in a word of 3 or fewer letters is a third of it */
		if (d < dbest && (d == 1 || strlen(word) > 3)) {
			dbest = d;
			best = names[i];
		}
	}
	return best ? best : nprefixed == 1 ? prefixed : NULL;
}

/* The names and aliases of a table, for cli_suggest (free() the array). */
static const char **table_names(const struct cli_cmd *const *table, size_t *n)
{
	size_t count = 0;
	const char **v;

	while (table[count])
		count++;
	v = calloc(2 * count + 1, sizeof(*v));
	if (!v)
		abort();
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		v[(*n)++] = table[i]->name;
		if (table[i]->alias)
			v[(*n)++] = table[i]->alias;
	}
	return v;
}

int cli_unknown_command(const struct cli_cmd *parent, const struct cli_cmd *const *table,
			const char *word)
{
	size_t n;
	const char **names = table_names(table, &n);
	const char *s = cli_suggest(word, names, n);
	int r;

	if (parent)
		r = s ? cli_usage_error(parent, "unknown command '%s' (did you mean '%s'?)", word, s) :
			cli_usage_error(parent, "unknown command '%s'", word);
	else if (s)
		r = (cli_error("unknown command '%s' (did you mean '%s'?); see 'rain --help'", word,
			       s), CLI_EXIT_USAGE);
	else
		r = (cli_error("unknown command '%s'; see 'rain --help'", word), CLI_EXIT_USAGE);
	free(names);
	return r;
}

/* "unknown option '--x'", with the closest option of cmd's named. */
static int unknown_option(const struct cli_cmd *cmd, const char *word)
{
	const struct cli_opt *tables[] = { cmd->opts, cli_common_opts };
	const char *names[256], *s = NULL;
	size_t n = 0;

	if (!strncmp(word, "--", 2)) {
		_cleanup_free_ char *bare = strndup(word + 2, strcspn(word + 2, "="));

		for (size_t t = 0; t < 2; t++)
			for (const struct cli_opt *o = tables[t]; o && (o->name || o->help) && n < 256; o++)
				if (o->name && o->help)
					names[n++] = o->name;
		s = bare ? cli_suggest(bare, names, n) : NULL;
	}
	if (s)
		return cli_usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", word, s);
	return cli_usage_error(cmd, "unknown option '%s'", word);
}

/* ---- commands ------------------------------------------------------------ */

const struct cli_cmd *cli_cmd_find(const struct cli_cmd *const *table, const char *name)
{
	for (size_t i = 0; table[i]; i++)
		if (strcmp(table[i]->name, name) == 0 ||
		    (table[i]->alias && strcmp(table[i]->alias, name) == 0))
			return table[i];
	return NULL;
}

static void dispatch_help(const struct cli_cmd *parent, FILE *f)
{
	const struct cli_cmd *const *table = parent->table;

	fprintf(f, "Usage: %s %s %s\n", parent->prefix, parent->name, parent->usage);
	if (f == stdout && parent->help)
		fprintf(f, "\n%s", parent->help);
	fputs("\nCommands:\n", f);
	for (size_t i = 0; table[i]; i++)
		fprintf(f, "  %-11s %s\n", table[i]->name, table[i]->summary);
	if (f == stdout)
		fprintf(f, "\nSee '%s %s COMMAND --help' for a command's options.\n",
			parent->prefix, parent->name);
}

/* A command with sub-commands: the common options may come between the
 * two names. */
static int dispatch(struct cli *cli, const struct cli_cmd *parent, int argc, char **argv)
{
	const struct cli_cmd *cmd;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			dispatch_help(parent, stdout);
			return CLI_EXIT_OK;
		} else if (!strcmp(argv[i], "--json")) {
			cli->json = true;
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			cli->quiet = true;
		} else {
			return unknown_option(parent, argv[i]);
		}
	}
	if (i >= argc) {
		dispatch_help(parent, stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = cli_cmd_find(parent->table, argv[i]);
	if (!cmd)
		return cli_unknown_command(parent, parent->table, argv[i]);
	return cli_cmd_run(cli, cmd, argc - i, argv + i);
}

/* The operand count against cmd->args. */
static int check_operands(const struct cli_cmd *cmd, const struct cli_args *a)
{
	const struct cli_operands *n = &cmd->args;

	if (a->argc >= n->min && (n->max < 0 || a->argc <= n->max))
		return 0;
	if (n->wrong)
		return cli_usage_error(cmd, "%s", n->wrong);
	if (a->argc < n->min)
		return cli_usage_error(cmd, "missing arguments");
	return cli_usage_error(cmd, "unexpected argument '%s'", a->argv[n->max]);
}

int cli_cmd_run(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct cli_args a;
	int r;

	/* a command with both runs a sub-command only when one is named */
	if (cmd->table && (!cmd->exec || (argc > 1 && cli_cmd_find(cmd->table, argv[1]))))
		return dispatch(cli, cmd, argc, argv);
	r = cli_args_parse(cmd, argc, argv, false, &a);
	if (r)
		return r;
	if (cli_flag(&a, "help")) {
		cli_help(cmd);
		cli_args_free(&a);
		return CLI_EXIT_OK;
	}
	if (cli_flag(&a, "quiet"))
		cli->quiet = true;
	r = cli_output_setup(cli, &a);
	if (r == 0)
		r = check_operands(cmd, &a);
	if (r == 0)
		r = cmd->exec(cli, &a);
	if (r == 0 && cli_output.failed)
		r = CLI_EXIT_USAGE;
	cli_args_free(&a);
	return r;
}
