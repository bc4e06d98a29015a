/* rain config: show and edit the client configuration file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define CONFIG_MAX (1 << 20)

static int cmd_config_set_exec(struct cli *cli, const struct cli_args *a);
static int cmd_config_show_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_cmd cmd_config_set_entry = {
	.name = "set",
	.usage = "url|token|token_url|cacert|insecure VALUE",
	.summary = "set a key in the [client] section",
	.help =
		"VALUE '-' reads the value from the first line of standard input,\n"
		"which keeps a token out of the shell history and of ps.\n"
		"The file is written with mode 0600 in a directory with mode 0700.\n",
	.args = { 2, 2, "give a key and a value" },
	.exec = cmd_config_set_exec,
	.prefix = "rain config",
};

static const struct cli_cmd cmd_config_unset_entry = {
	.name = "unset",
	.usage = "url|token|cacert|insecure",
	.summary = "remove a key from the [client] section",
	.args = { 1, 1, "give a key" },
	.exec = cmd_config_set_exec,
	.prefix = "rain config",
};

static const struct cli_cmd cmd_config_show_entry = {
	.name = "show",
	.usage = "",
	.summary = "show the settings in effect and where they come from",
	.help = "The token itself is never shown, only whether one is set.\n",
	.exec = cmd_config_show_exec,
	.prefix = "rain config",
};

static const struct cli_cmd *const config_cmds[] = {
	&cmd_config_show_entry,
	&cmd_config_set_entry,
	&cmd_config_unset_entry,
	NULL,
};

const struct cli_cmd cmd_config_entry = {
	.name = "config",
	.usage = "COMMAND [ARGS...]",
	.summary = "show or change the client settings file",
	.help =
		"The file is $XDG_CONFIG_HOME/rain/config (~/.config/rain/config), or\n"
		"the one given with 'rain --config FILE'.  It has a [client] section\n"
		"with the keys url, token, token_url (where the token is sent), cacert and\n"
		"insecure.\n",
	.table = config_cmds,
	.prefix = "rain",
};

static const char *const keys[] = { "url", "token", "token_url", "cacert", "insecure", NULL };

/* The key of a "key = value" line, or NULL; sets *section on headers. */
static bool line_key_is(const char *line, const char *key)
{
	size_t n = strlen(key);

	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, key, n) != 0)
		return false;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '=';
}

/* Section name of a "[name]" line into out; false when not a header. */
static bool line_section(const char *line, char *out, size_t outlen)
{
	const char *end;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[' || !(end = strchr(line, ']')))
		return false;
	line++;
	while (*line == ' ' || *line == '\t')
		line++;
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	snprintf(out, outlen, "%.*s", (int)(end - line), line);
	return true;
}

static bool line_blank(const char *line)
{
	while (*line == ' ' || *line == '\t' || *line == '\r')
		line++;
	return *line == '\0';
}

/* Rewrite text with key set to value (NULL: removed) in [client],
 * keeping every other line as it was.  New string or NULL on ENOMEM. */
static char *edit_config(const char *text, const char *key, const char *value)
{
	char *copy = strdup(text), *line, *next, section[128] = "";
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	bool done = false, seen_client = false;
	/* where to insert: after the last non-blank line of [client] */
	long insert_at = -1;

	if (!copy || !f) {
		free(copy);
		if (f)
			fclose(f);
		free(out);
		return NULL;
	}
	for (line = copy; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line_section(line, section, sizeof(section))) {
			if (!strcmp(section, "client"))
				seen_client = true;
			fprintf(f, "%s\n", line);
			if (!strcmp(section, "client")) {
				fflush(f);
				insert_at = (long)outlen;
			}
			continue;
		}
		if (!strcmp(section, "client") && line_key_is(line, key)) {
			if (value && !done) {
				fprintf(f, "%s = %s\n", key, value);
				fflush(f);
				insert_at = (long)outlen;
			}
			done = true;
			continue;
		}
		fprintf(f, "%s\n", line);
		if (!strcmp(section, "client") && !line_blank(line)) {
			fflush(f);
			insert_at = (long)outlen;
		}
	}
	free(copy);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	if (done || !value)
		return out;
	/* a new key */
	{
		char *s = NULL;
		int r;

		if (seen_client)
			r = asprintf(&s, "%.*s%s = %s\n%s", (int)insert_at, out, key, value,
				     out + insert_at);
		else
			r = asprintf(&s, "%s%s[client]\n%s = %s\n", out,
				     outlen > 0 ? "\n" : "", key, value);
		free(out);
		return r < 0 ? NULL : s;
	}
}

static int read_value_stdin(char **out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "value: ");
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return cli_error("no value on standard input; pipe it in or type it");
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*out = line;
	return 0;
}

int cli_config_store(struct cli *cli, const char *key, const char *value)
{
	_cleanup_free_ char *text = NULL, *edited = NULL, *dir = NULL;
	const char *path = cli->config_path;
	struct stat st;
	char *slash;
	int r;

	if (!path)
		return cli_error("cannot find the home directory; give --config FILE");
	r = fs_read_small(path, CONFIG_MAX, &text, NULL);
	if (r == RAIN_ENOTFOUND) {
		text = strdup("");
		if (!text)
			return cli_error("out of memory");
	} else if (r < 0) {
		return cli_fail(cli, r, "fix or remove the file", "cannot read the config file");
	}
	edited = edit_config(text, key, value);
	if (!edited)
		return cli_error("out of memory");

	dir = strdup(path);
	if (!dir)
		return cli_error("out of memory");
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = fs_mkdir_p(dir, 0700);
		if (r < 0)
			return cli_fail(cli, r, "check the directory's permissions",
					"cannot create the config directory");
		/* our own directory is private, whatever it was before */
		if (cli->config_is_default && stat(dir, &st) == 0 && st.st_uid == geteuid() &&
		    (st.st_mode & 077) && chmod(dir, 0700) < 0)
			cli_warn("cannot make %s private: %s", dir, strerror(errno));
	}
	r = fs_write_atomic(path, edited, strlen(edited), 0600);
	if (text)
		explicit_bzero(text, strlen(text));
	explicit_bzero(edited, strlen(edited));
	if (r < 0)
		return cli_fail(cli, r, "check the directory's permissions",
				"cannot write the config file");
	return CLI_EXIT_OK;
}

static int cmd_config_set_exec(struct cli *cli, const struct cli_args *a)
{
	const struct cli_cmd *cmd = a->cmd;
	bool set = cmd == &cmd_config_set_entry;
	_cleanup_free_ char *value = NULL;
	const char *key = a->argv[0], *path = cli->config_path;
	int r;
	size_t i;


	for (i = 0; keys[i] && strcmp(keys[i], key); i++)
		;
	if (!keys[i])
		return cli_usage_error(cmd, "unknown key '%s' (url, token, cacert, insecure)", key);
	if (!path)
		return cli_error("cannot find the home directory; give --config FILE");
	if (set) {
		if (!strcmp(a->argv[1], "-")) {
			r = read_value_stdin(&value);
			if (r)
				return r;
		} else {
			value = strdup(a->argv[1]);
			if (!value)
				return cli_error("out of memory");
		}
		if (!str_is_printable(value, 4096) || value[0] == ' ' ||
		    value[strlen(value) - 1] == ' ')
			return cli_usage_error(cmd, "the value must be one line of printable text "
					       "without surrounding spaces");
		if (!strcmp(key, "url") && !str_has_prefix(value, "http://") &&
		    !str_has_prefix(value, "https://"))
			return cli_usage_error(cmd, "the url must start with http:// or https://");
		if (!strcmp(key, "insecure") && strcmp(value, "true") && strcmp(value, "false"))
			return cli_usage_error(cmd, "insecure is true or false");
		if (!strcmp(key, "cacert") && value[0] != '/') {
			char *abs = realpath(value, NULL);

			if (!abs)
				return cli_error("cannot find %s: %s; give an existing file", value,
						 strerror(errno));
			free(value);
			value = abs;
		}
	}

	r = cli_config_store(cli, key, value);
	if (value)
		explicit_bzero(value, strlen(value));
	if (r)
		return r;
	cli_note(cli, "%s %s in %s", set ? "set" : "removed", key, path);
	return CLI_EXIT_OK;
}

static const char *source_text(const struct cli_setting *s, char *buf, size_t len)
{
	switch (s->source) {
	case CLI_SRC_DEFAULT:
		return "default";
	case CLI_SRC_FLAG:
		snprintf(buf, len, "option %s", s->origin);
		return buf;
	case CLI_SRC_ENV:
		snprintf(buf, len, "environment %s", s->origin);
		return buf;
	case CLI_SRC_FILE:
		snprintf(buf, len, "file %s", s->origin);
		return buf;
	}
	return "?";
}

static int cmd_config_show_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Setting", "Value", "From" };
	struct cli_table *t;
	char b1[512], b2[512], b3[512];
	const char *row[3];
	int r;

	r = cli_config_load(cli);
	if (r)
		return r;
	if (cli->json) {
		json_t *j = json_pack("{s:s?, s:s?, s:b, s:s?, s:b}",
				      "config_file", cli->config_path,
				      "url", cli->url.value,
				      "token_set", cli->token.value != NULL,
				      "cacert", cli->cacert.value,
				      "insecure", cli->insecure);

		if (j)
			cli_json_print(j);
		json_decref(j);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(3, headers);
	row[0] = "config file";
	row[1] = cli->config_path ? cli->config_path : "-";
	row[2] = cli->config_path && access(cli->config_path, F_OK) == 0 ? "exists" : "missing";
	cli_table_add(t, row);
	row[0] = "url";
	row[1] = cli->url.value;
	row[2] = source_text(&cli->url, b1, sizeof(b1));
	cli_table_add(t, row);
	row[0] = "token";
	row[1] = cli->token.value ? "(set, hidden)" : "(not set)";
	row[2] = cli->token.value ? source_text(&cli->token, b2, sizeof(b2)) : "-";
	cli_table_add(t, row);
	row[0] = "cacert";
	row[1] = cli->cacert.value ? cli->cacert.value : "(system)";
	row[2] = cli->cacert.value ? source_text(&cli->cacert, b3, sizeof(b3)) : "-";
	cli_table_add(t, row);
	row[0] = "insecure";
	row[1] = cli->insecure ? "true" : "false";
	row[2] = "-";
	cli_table_add(t, row);
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_EXIT_OK;
}
