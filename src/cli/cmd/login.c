/* rain login, rain logout: a Keystone v3 token from raind, kept in the
 * client config file (0600, in a private directory) and used by later
 * commands; logout revokes it on the server and forgets it. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int cmd_login_exec(struct cli *cli, const struct cli_args *a);
static int cmd_logout_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt login_opts[] = {
	CLI_OPT("user", 0, "NAME", 0, "the user (default: $OS_USERNAME, else the\nlocal user name)"),
	CLI_OPT("password-file", 0, "FILE", 0, "read the password from the first line of FILE\n"
		"('-' for standard input)"),
	{ 0 },
};

const struct cli_cmd cmd_login_entry = {
	.name = "login",
	.usage = "[--user NAME] [--password-file FILE]",
	.summary = "log in to raind and keep the token in the config file",
	.opts = login_opts,
	.help =
		"Without --password-file the password is asked on the terminal without\n"
		"echo, or read as one line from standard input when it is not a terminal.\n"
		"The token (valid for raind's [auth] token_lifetime, 24 hours by default)\n"
		"is stored as 'token' in the config file (mode 0600), with the URL it is\n"
		"for as 'token_url'; later commands send it to that URL only. See\n"
		"rain-login(1).\n",
	.exec = cmd_login_exec,
	.prefix = "rain",
};

const struct cli_cmd cmd_logout_entry = {
	.name = "logout",
	.usage = "",
	.summary = "revoke the stored token and remove it from the config file",
	.help = NULL,
	.exec = cmd_logout_exec,
	.prefix = "rain",
};

/* One line from f without its newline, in a new string. */
static int read_line(FILE *f, char **out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);

	if (n < 0) {
		free(line);
		return RAIN_ENOTFOUND;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*out = line;
	return 0;
}

static int ask_tty(const char *user, char **out)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int r;

	if (!tty)
		return cli_error("cannot open the terminal: %s; give --password-file", strerror(errno));
	fprintf(tty, "Password for %s: ", user);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) < 0) {
		fclose(tty);
		return cli_error("cannot turn off echo: %s; give --password-file", strerror(errno));
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	r = read_line(tty, out);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fclose(tty);
	if (r < 0)
		return cli_error("no password given");
	return 0;
}

static int read_password(const char *file, const char *user, char **out)
{
	FILE *f;
	int r;

	*out = NULL;
	if (!file && isatty(STDIN_FILENO))
		return ask_tty(user, out);
	if (!file || !strcmp(file, "-"))
		f = stdin;
	else if (!(f = fopen(file, "re")))
		return cli_error("cannot read the password file %s: %s", file, strerror(errno));
	r = read_line(f, out);
	if (f != stdin)
		fclose(f);
	if (r < 0 || !**out) {
		free(*out);
		*out = NULL;
		return cli_error("no password in %s", file ? file : "standard input");
	}
	return 0;
}

/* A client for cli's server without any token. */
static int anon_client(struct cli *cli, struct rain_client **out)
{
	struct rain_client_config cfg = { 0 };
	int r = cli_config_load(cli);

	if (r)
		return r;
	cfg.url = cli->url.value;
	cfg.cacert = cli->cacert.value;
	cfg.insecure = cli->insecure;
	r = rain_client_new(&cfg, out);
	if (r < 0)
		return cli_fail(cli, r, "fix the settings (see 'rain config show')",
				"cannot set up the client");
	return 0;
}

static int cmd_login_exec(struct cli *cli, const struct cli_args *a)
{
	const char *user = cli_arg(a, "user"), *file = cli_arg(a, "password-file");
	char token[RAIN_CLIENT_TOKEN_MAX + 1];
	struct rain_client *c = NULL;
	char *password = NULL;
	json_t *body = NULL;
	int r;

	if (!user)
		user = getenv("OS_USERNAME");
	if (!user || !*user) {
		struct passwd *pw = getpwuid(getuid());

		user = pw ? pw->pw_name : NULL;
	}
	if (!user)
		return cli_usage_error(&cmd_login_entry, "give --user NAME");
	r = anon_client(cli, &c);
	if (r)
		return r;
	r = read_password(file, user, &password);
	if (r) {
		rain_client_free(c);
		return r;
	}
	r = rain_client_login(c, user, password, token, cli->json ? &body : NULL);
	explicit_bzero(password, strlen(password));
	free(password);
	rain_client_free(c);
	if (r == RAIN_EAUTH && strstr(rain_error_last(), "locked")) {
		char hint[200];

		snprintf(hint, sizeof(hint), "you are locked out: wait until then, or ask an admin to "
			 "run 'rain user unlock %s'", user);
		return cli_fail(cli, r, hint, "cannot log in as %s", user);
	}
	if (r == RAIN_EAUTH)
		return cli_fail(cli, r, "check the user name and password (after 5 failures within 15 "
				"minutes raind locks the user out for 15 minutes)", "cannot log in as %s",
				user);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot log in as %s", user);
	r = cli_config_store(cli, "token", token);
	explicit_bzero(token, sizeof(token));
	if (!r)
		r = cli_config_store(cli, "token_url", cli->url.value);
	if (r) {
		json_decref(body);
		return r;
	}
	if (body)
		cli_json_print(body);
	json_decref(body);
	cli_note(cli, "logged in as %s; the token is in %s", user, cli->config_path);
	if (cli->token.source == CLI_SRC_ENV || cli->token.source == CLI_SRC_FLAG)
		cli_warn("%s overrides the stored token; unset it to use the new one",
			 cli->token.origin);
	return CLI_EXIT_OK;
}

static int cmd_logout_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	int r;

	r = cli_config_load(cli);
	if (r)
		return r;
	if (!cli->token.value || cli->token.source != CLI_SRC_FILE)
		return cli_error("no stored token in %s; nothing to log out from",
				 cli->config_path ? cli->config_path : "the config file");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_token_revoke(c, cli->token.value);
	if (r < 0 && r != RAIN_ENOTFOUND && r != RAIN_EAUTH)
		return cli_fail(cli, r, NULL, "cannot revoke the token");
	r = cli_config_store(cli, "token", NULL);
	if (!r)
		r = cli_config_store(cli, "token_url", NULL);
	if (r)
		return r;
	cli_note(cli, "logged out; removed the token from %s", cli->config_path);
	return CLI_EXIT_OK;
}
