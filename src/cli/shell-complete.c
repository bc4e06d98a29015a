/* rain shell: completion candidates (shell.h). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/shell.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/shellwords.h"
#include "util/strutil.h"

/* Folders list at most this many names: a TAB in a huge one stays quick. */
#define FILES_MAX 2000

const char *const shell_builtin_words[] = { "help", "version", "exit", "quit", NULL };

struct cands {
	char **v;
	size_t n;
	const char *prefix;
};

static int add(struct cands *c, const char *s)
{
	if (!s || !str_has_prefix(s, c->prefix))
		return 0;
	return strv_add(&c->v, &c->n, s);
}

static int add_names(struct cands *c, const struct shell_completer *sc, enum shell_names which)
{
	char *const *v = sc->names ? sc->names(sc->ud, which) : NULL;
	int r = 0;

	for (size_t i = 0; v && v[i] && r == 0; i++)
		r = add(c, v[i]);
	return r;
}

static int add_table(struct cands *c, const struct cli_cmd *const *table)
{
	int r = 0;

	for (size_t i = 0; table[i] && r == 0; i++)
		r = add(c, table[i]->name);
	return r;
}

static int add_opts(struct cands *c, const struct cli_opt *opts)
{
	for (; opts && (opts->name || opts->help); opts++) {
		_cleanup_free_ char *s = NULL;

		if (!opts->name || !opts->help)
			continue;       /* headings, old spellings */
		if (asprintf(&s, "--%s", opts->name) < 0)
			return rain_error_oom();
		if (add(c, s) < 0)
			return rain_error_oom();
	}
	return 0;
}

/* Names in the folder prefix names (up to its last '/'; else the current
 * one) that start as its last part does; folders with a '/' after them.
 * Hidden names only when the last part starts with '.'. */
static int add_files(struct cands *c)
{
	const char *slash = strrchr(c->prefix, '/');
	_cleanup_free_ char *dir = slash ? strndup(c->prefix, (size_t)(slash - c->prefix) + 1) :
				   strdup("");
	const char *base = slash ? slash + 1 : c->prefix;
	struct dirent *de;
	size_t seen = 0;
	DIR *d;
	int r = 0;

	if (!dir)
		return rain_error_oom();
	d = opendir(*dir ? dir : ".");
	if (!d)
		return 0;       /* nothing to offer */
	while (r == 0 && seen < FILES_MAX && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		struct stat st;
		bool folder;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_name[0] == '.' && base[0] != '.')
			continue;
		if (!str_has_prefix(de->d_name, base))
			continue;
		seen++;
		if (asprintf(&path, "%s%s", dir, de->d_name) < 0) {
			r = rain_error_oom();
			break;
		}
		folder = stat(*dir ? path : de->d_name, &st) == 0 && S_ISDIR(st.st_mode);
		if (folder) {
			free(path);
			if (asprintf(&path, "%s%s/", dir, de->d_name) < 0) {
				path = NULL;
				r = rain_error_oom();
				break;
			}
		}
		r = add(c, path);
	}
	closedir(d);
	return r;
}

static bool has_lower(const char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			return true;
	return false;
}

/* What a placeholder of a usage or an option's value names: "IMAGE",
 * "ID|NAME", "FILE|IMAGE", "DIR", "bios|uefi" (literal words) ... */
static int add_placeholder(struct cands *c, const struct shell_completer *sc,
			   const struct cli_cmd *cmd, const char *ph)
{
	_cleanup_free_ char *copy = strdup(ph);
	bool id = false, name = false;
	char *save = NULL;
	int r = 0;

	if (!copy)
		return rain_error_oom();
	for (char *p = strtok_r(copy, "|", &save); p && r == 0; p = strtok_r(NULL, "|", &save)) {
		if (has_lower(p))
			r = add(c, p);
		else if (strstr(p, "FILE") || strstr(p, "DIR") || strstr(p, "RECIPE") ||
			 strstr(p, "PATH") || strstr(p, "SCRIPT"))
			r = add_files(c);
		else if (!strcmp(p, "IMAGE") || !strcmp(p, "REF"))
			r = add_names(c, sc, SHELL_NAMES_IMAGES);
		else if (!strcmp(p, "SITE") ||
			 (!strcmp(p, "NAME") && cmd->prefix && !strcmp(cmd->prefix, "rain site")))
			r = add_names(c, sc, SHELL_NAMES_SITES);
		else if (!strcmp(p, "ID"))
			id = true;
		else if (!strcmp(p, "NAME"))
			name = true;
	}
	if (r == 0 && id && name)
		r = add_names(c, sc, SHELL_NAMES_IMAGES);
	return r;
}

/* A value for option o. */
static int add_option_value(struct cands *c, const struct shell_completer *sc,
			    const struct cli_cmd *cmd, const struct cli_opt *o)
{
	if (!strcmp(o->name, "site"))
		return add_names(c, sc, SHELL_NAMES_SITES);
	if (!strcmp(o->name, "image") || !strcmp(o->name, "from-image"))
		return add_names(c, sc, SHELL_NAMES_IMAGES);
	if (!strcmp(o->name, "output"))
		return add_files(c);
	return add_placeholder(c, sc, cmd, o->arg);
}

/* The option word w names in cmd's table or the common one; NULL if none.
 * "--name=value" names none (its value is in it). */
static const struct cli_opt *option_named(const struct cli_cmd *cmd, const char *w)
{
	const struct cli_opt *tables[] = { cmd->opts, cli_common_opts };

	if (w[0] != '-' || !w[1] || strchr(w, '='))
		return NULL;
	for (size_t t = 0; t < 2; t++)
		for (const struct cli_opt *o = tables[t]; o && (o->name || o->help); o++) {
			if (!o->name)
				continue;
			if (w[1] == '-' ? !strcmp(w + 2, o->name) : (!w[2] && w[1] == o->letter))
				return o;
		}
	return NULL;
}

/* "--name=VALUE": the values of option name, each as "--name=VALUE". */
static int add_option_joined(struct cands *c, const struct shell_completer *sc,
			     const struct cli_cmd *cmd)
{
	const char *eq = strchr(c->prefix, '=');
	_cleanup_free_ char *word = strndup(c->prefix, (size_t)(eq - c->prefix));
	struct cands values = { .prefix = eq + 1 };
	const struct cli_opt *o;
	int r = 0;

	if (!word)
		return rain_error_oom();
	o = option_named(cmd, word);
	if (!o || !o->arg)
		return 0;
	r = ARRAY_GROW1(values.v, 0);
	if (r == 0) {
		values.v[0] = NULL;
		r = add_option_value(&values, sc, cmd, o);
	}
	for (size_t i = 0; r == 0 && i < values.n; i++) {
		_cleanup_free_ char *s = NULL;

		if (asprintf(&s, "%s=%s", word, values.v[i]) < 0)
			r = rain_error_oom();
		else
			r = add(c, s);
	}
	strv_free(values.v, values.n);
	return r;
}

/* The operands among words[from..n) (options and their values left out),
 * in *ops (borrowed strings); the count. */
static size_t operands(const struct cli_cmd *cmd, char *const *words, size_t from, size_t n,
		       const char **ops)
{
	size_t k = 0;

	for (size_t i = from; i < n; i++) {
		const struct cli_opt *o;

		if (!strcmp(words[i], "--")) {
			while (++i < n)
				ops[k++] = words[i];
			break;
		}
		if (words[i][0] == '-' && words[i][1]) {
			o = option_named(cmd, words[i]);
			if (o && o->arg)
				i++;    /* its value */
			continue;
		}
		ops[k++] = words[i];
	}
	return k;
}

/* One alternative of a usage ("IMAGE --site NAME [--ssh-key FILE]"): its
 * operand placeholders in order, options and their values left out;
 * *repeat when the last one takes any number ("ID|NAME..."). */
static size_t usage_placeholders(char *alt, char **ph, size_t max, bool *repeat)
{
	char *save = NULL;
	size_t k = 0;
	bool skip = false;

	*repeat = false;
	for (char *t = strtok_r(alt, " ", &save); t && k < max; t = strtok_r(NULL, " ", &save)) {
		bool rep = strstr(t, "...") != NULL;
		size_t len;

		while (*t == '[')
			t++;
		len = strlen(t);
		while (len && (t[len - 1] == ']' || t[len - 1] == '.'))
			len--;
		t[len] = '\0';
		if (t[0] == '-') {
			skip = true;    /* the next word is its value */
			continue;
		}
		if (skip) {
			skip = false;
			continue;
		}
		if (!*t || !strcmp(t, "OPTIONS") || !strcmp(t, "ARGS") || !strcmp(t, "COMMAND"))
			continue;
		ph[k++] = t;
		*repeat = rep;
	}
	return k;
}

/* Is w one of the words of "a|b|c"? */
static bool word_in_alts(const char *alts, const char *w)
{
	size_t len = strlen(w);

	for (const char *p = alts; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
		if (!strncmp(p, w, len) && (p[len] == '|' || p[len] == '\0'))
			return true;
	return false;
}

/* Operand k of cmd, after the operands ops[0..k) typed: what each of its
 * usage's alternatives ("a | b") has there, when the literal words before
 * it match. */
static int add_operand(struct cands *c, const struct shell_completer *sc,
		       const struct cli_cmd *cmd, const char **ops, size_t k)
{
	_cleanup_free_ char *usage = strdup(cmd->usage ? cmd->usage : "");
	char *alt = usage, *next;
	int r = 0;

	if (!usage)
		return rain_error_oom();
	if ((cmd->target == CLI_TARGET_IMAGE && k == 0) || cmd->target == CLI_TARGET_IMAGES)
		r = add_names(c, sc, SHELL_NAMES_IMAGES);
	for (; alt && r == 0; alt = next) {
		char *ph[16];
		bool repeat, match = true;
		size_t m;

		next = strstr(alt, " | ");
		if (next) {
			*next = '\0';
			next += 3;
		}
		m = usage_placeholders(alt, ph, 16, &repeat);
		/* a literal word must be the one typed ("history image X") */
		for (size_t i = 0; i < k && i < m && match; i++)
			if (has_lower(ph[i]))
				match = word_in_alts(ph[i], ops[i]);
		if (!match)
			continue;
		if (k < m)
			r = add_placeholder(c, sc, cmd, ph[k]);
		else if (repeat && m > 0)
			r = add_placeholder(c, sc, cmd, ph[m - 1]);
	}
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int complete(struct cands *c, const struct shell_completer *sc, char *const *words,
		    size_t n)
{
	const struct cli_cmd *cmd, *sub;
	const char **ops;
	size_t i, k;
	int r;

	if (n == 0) {
		r = add_table(c, sc->top);
		for (i = 0; r == 0 && shell_builtin_words[i]; i++)
			r = add(c, shell_builtin_words[i]);
		return r;
	}
	if (!strcmp(words[0], "help")) {
		/* help COMMAND [SUB-COMMAND] */
		if (n == 1)
			return add_table(c, sc->top);
		cmd = cli_cmd_find(sc->top, words[1]);
		return n == 2 && cmd && cmd->table ? add_table(c, cmd->table) : 0;
	}
	cmd = cli_cmd_find(sc->top, words[0]);
	if (!cmd)
		return 0;
	i = 1;
	/* down the sub-command tables, past the common options between */
	while (cmd->table) {
		size_t j = i;

		while (j < n && words[j][0] == '-')
			j++;
		if (j >= n || !(sub = cli_cmd_find(cmd->table, words[j])))
			break;
		cmd = sub;
		i = j + 1;
	}
	if (str_has_prefix(c->prefix, "--") && strchr(c->prefix, '='))
		return add_option_joined(c, sc, cmd);
	if (c->prefix[0] == '-') {
		if (!cmd->table || cmd->exec)
			r = add_opts(c, cmd->opts);
		else
			r = 0;
		return r < 0 ? r : add_opts(c, cli_common_opts);
	}
	if (n > i) {
		const struct cli_opt *o = option_named(cmd, words[n - 1]);

		/* "--site S" unless the option came as the value of another */
		if (o && o->arg && (n - 1 == i || !option_named(cmd, words[n - 2]) ||
				    !option_named(cmd, words[n - 2])->arg))
			return add_option_value(c, sc, cmd, o);
	}
	ops = calloc(n + 1, sizeof(*ops));
	if (!ops)
		return rain_error_oom();
	k = operands(cmd, words, i, n, ops);
	r = 0;
	if (cmd->table && k == 0)
		r = add_table(c, cmd->table);
	if (r == 0 && (!cmd->table || cmd->exec))
		r = add_operand(c, sc, cmd, ops, k);
	free(ops);
	return r;
}

int shell_complete_words(const struct shell_completer *sc, char *const *words, size_t n,
			 const char *prefix, char ***out, size_t *nout)
{
	struct cands c = { .prefix = prefix };
	size_t m = 0;
	int r;

	*out = NULL;
	*nout = 0;
	r = ARRAY_GROW1(c.v, 0);
	if (r < 0)
		return r;
	c.v[0] = NULL;
	r = complete(&c, sc, words, n);
	if (r < 0) {
		strv_free(c.v, c.n);
		return r;
	}
	qsort(c.v, c.n, sizeof(*c.v), cmp_str);
	for (size_t i = 0; i < c.n; i++) {
		if (m > 0 && !strcmp(c.v[m - 1], c.v[i]))
			free(c.v[i]);
		else
			c.v[m++] = c.v[i];
	}
	c.v[m] = NULL;
	*out = c.v;
	*nout = m;
	return 0;
}

char *shell_complete_insert(char *const *cands, size_t n, const char *prefix, char quote)
{
	size_t plen = strlen(prefix), common;
	_cleanup_free_ char *rest = NULL;
	char *q, *out;

	if (n == 0)
		return strdup("");
	common = strlen(cands[0]);
	for (size_t i = 1; i < n; i++) {
		size_t j = 0;

		while (j < common && cands[i][j] == cands[0][j])
			j++;
		common = j;
	}
	if (common < plen)
		return strdup("");
	/* never end inside a UTF-8 character */
	while (common > plen && ((unsigned char)cands[0][common] & 0xc0) == 0x80)
		common--;
	rest = strndup(cands[0] + plen, common - plen);
	if (!rest)
		return NULL;
	q = shellwords_quote(rest, quote);
	if (!q)
		return NULL;
	if (n > 1 || str_has_suffix(cands[0], "/"))
		return q;
	/* one candidate: the word is done */
	out = malloc(strlen(q) + 3);
	if (out)
		sprintf(out, "%s%s ", q, quote == '\'' ? "'" : quote == '"' ? "\"" : "");
	free(q);
	return out;
}
