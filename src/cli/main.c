/* rain: command-line client for an OpenStack Image API v2 server. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* "rain [OPTIONS] COMMAND": the options before the command. */
static const struct cli_cmd top_entry = {
	.name = "rain",
	.usage = "[OPTIONS] COMMAND [ARGS...]",
	.opts = cli_top_opts,
};

static void top_print_help(FILE *f)
{
	int w = cli_opts_width(cli_top_opts), wc = cli_opts_width(cli_common_opts);

	fprintf(f, "Usage: rain %s\n", top_entry.usage);
	if (f == stdout) {
		fputs("\nClient for rain and other OpenStack Image API v2 (Glance) servers.\n"
		      "\nOptions:\n", f);
		cli_opts_print(f, cli_top_opts, w > wc ? w : wc);
		cli_opts_print(f, cli_common_opts, w > wc ? w : wc);
		fputs("\nSettings come from the options, then the environment (RAIN_URL,\n"
		      "RAIN_TOKEN, RAIN_CACERT; OS_IMAGE_URL and OS_AUTH_TOKEN as fallbacks;\n"
		      "OS_CLOUD as --os-cloud when none is set),\n"
		      "then the [client] section of $XDG_CONFIG_HOME/rain/config\n"
		      "(~/.config/rain/config).\n", f);
	}
	fputs("\nCommands:\n", f);
	cli_commands_print(f);
	if (f == stdout)
		fputs("\nSee 'rain COMMAND --help' and rain(1).\n", f);
}

static int setting_flag(struct cli_setting *s, const char *value, const char *origin)
{
	free(s->value);
	s->value = strdup(value);
	if (!s->value)
		return cli_error("out of memory");
	s->source = CLI_SRC_FLAG;
	s->origin = origin;
	return 0;
}

/* Apply the options before the command. CLI_CONTINUE, or an exit status. */
static int top_options(struct cli *cli, const struct cli_args *a)
{
	int r = 0;

	for (size_t i = 0; i < a->nopts && r == 0; i++) {
		char *v = (char *)a->opts[i].value;

		switch (a->opts[i].opt->key) {
		case CLI_TOP_URL:
			r = setting_flag(&cli->url, v, "--url");
			break;
		case CLI_TOP_TOKEN:
			r = setting_flag(&cli->token, v, "--token");
			/* shorten the time the token shows in ps */
			explicit_bzero(v, strlen(v));
			break;
		case CLI_TOP_CLOUD:
			r = setting_flag(&cli->cloud, v, "--os-cloud");
			break;
		case CLI_TOP_CACERT:
			r = setting_flag(&cli->cacert, v, "--cacert");
			break;
		case CLI_TOP_CONFIG:
			free(cli->config_path);
			cli->config_path = strdup(v);
			cli->config_is_default = false;
			r = cli->config_path ? 0 : cli_error("out of memory");
			break;
		case CLI_TOP_INSECURE:
			cli->insecure = true;
			break;
		case CLI_TOP_VERSION:
			printf("rain %s\n", RAIN_CLI_VERSION);
			return CLI_EXIT_OK;
		default:
			if (!strcmp(a->opts[i].opt->name, "help")) {
				top_print_help(stdout);
				return CLI_EXIT_OK;
			}
			if (!strcmp(a->opts[i].opt->name, "json"))
				cli->json = true;
			else if (!strcmp(a->opts[i].opt->name, "quiet"))
				cli->quiet = true;
		}
	}
	return r ? r : CLI_CONTINUE;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	struct cli_args a = { 0 };
	int rc;

	/* a closed pipe shows up as EPIPE instead of killing us mid-write */
	signal(SIGPIPE, SIG_IGN);
	cli.config_path = cli_config_default_path();
	cli.config_is_default = true;

	rc = cli_args_parse(&top_entry, argc, argv, true, &a);
	if (rc)
		goto done;
	rc = top_options(&cli, &a);
	if (rc != CLI_CONTINUE)
		goto done;
	argc = a.argc;
	argv = a.argv;
	if (argc < 1) {
		top_print_help(stderr);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	if (strcmp(argv[0], "help") == 0 && argc < 2) {
		top_print_help(stdout);
		rc = CLI_EXIT_OK;
		goto done;
	}
	rc = cli_command_run(&cli, argc, argv);
done:
	cli_args_free(&a);
	if (fflush(stdout) != 0 && errno != EPIPE && rc == CLI_EXIT_OK)
		rc = cli_error("cannot write the output: %s", strerror(errno));
	rain_client_free(cli.client);
	cli_config_free(&cli);
	return rc;
}
