/* rain: command-line client for an OpenStack Image API v2 server. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define RAIN_CLI_VERSION "0.1.0"

static const struct cli_cmd *const top_cmds[] = {
	&cmd_image_entry,
	&cmd_generate_entry,
	&cmd_build_entry,
	&cmd_config_entry,
	&cmd_user_entry,
	&cmd_history_entry,
	&cmd_audit_entry,
	&cmd_login_entry,
	&cmd_logout_entry,
	NULL,
};

static const char top_usage[] =
	"Usage: rain [OPTIONS] COMMAND [ARGS...]\n";

static const char top_help[] =
	"Client for rain and other OpenStack Image API v2 (Glance) servers.\n"
	"\n"
	"Options:\n"
	"      --url URL       server endpoint (default http://127.0.0.1:9292)\n"
	"      --token TOKEN   authentication token, sent as X-Auth-Token\n"
	"                      (prefer RAIN_TOKEN or the config file: arguments\n"
	"                      are visible to other users in ps)\n"
	"      --cacert FILE   CA certificates (PEM) to check the server with\n"
	"                      (default: the system's; CURL_CA_BUNDLE or\n"
	"                      SSL_CERT_FILE and SSL_CERT_DIR replace them)\n"
	"  -k, --insecure      do not verify the server's TLS certificate\n"
	"      --config FILE   read settings from FILE instead of the default\n"
	"      --json          print the server's JSON instead of tables\n"
	"  -q, --quiet         no progress bars or notes\n"
	"  -h, --help          show this help\n"
	"  -V, --version       show the version\n"
	"\n"
	"Settings come from the options, then the environment (RAIN_URL,\n"
	"RAIN_TOKEN, RAIN_CACERT; OS_IMAGE_URL and OS_AUTH_TOKEN as fallbacks),\n"
	"then the [client] section of $XDG_CONFIG_HOME/rain/config\n"
	"(~/.config/rain/config).\n"
	"\n"
	"Commands:\n";

static void top_print_help(FILE *f)
{
	fputs(top_usage, f);
	if (f == stdout) {
		fputs("\n", f);
		fputs(top_help, f);
	} else {
		fputs("\nCommands:\n", f);
	}
	for (size_t i = 0; top_cmds[i]; i++)
		fprintf(f, "  %-10s %s\n", top_cmds[i]->name, top_cmds[i]->summary);
	fprintf(f, "  %-10s %s\n", "help", "show help for a command (rain help image put)");
	fprintf(f, "  %-10s %s\n", "version", "show the version");
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

/* `rain help [COMMAND [SUBCOMMAND]]` is `rain COMMAND [SUBCOMMAND] --help`. */
static int run_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *cmd;
	char *args[4];
	int n = 0;

	if (argc < 2) {
		top_print_help(stdout);
		return CLI_EXIT_OK;
	}
	cmd = cli_cmd_find(top_cmds, argv[1]);
	if (!cmd) {
		cli_error("unknown command '%s'; see 'rain --help'", argv[1]);
		return CLI_EXIT_USAGE;
	}
	args[n++] = argv[1];
	if (argc > 2)
		args[n++] = argv[2];
	args[n++] = (char *)"--help";
	args[n] = NULL;
	return cmd->exec(cli, n, args);
}

int main(int argc, char **argv)
{
	enum { OPT_URL = 0x200, OPT_TOKEN, OPT_CACERT, OPT_CONFIG };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, OPT_URL },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "insecure", no_argument, NULL, 'k' },
		{ "version", no_argument, NULL, 'V' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	struct cli cli = { 0 };
	const struct cli_cmd *cmd;
	int opt, rc;

	/* a closed pipe shows up as EPIPE instead of killing us mid-write */
	signal(SIGPIPE, SIG_IGN);
	cli.config_path = cli_config_default_path();
	cli.config_is_default = true;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "+" CLI_COMMON_SHORTOPTS "kV", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_URL:
			rc = setting_flag(&cli.url, optarg, "--url");
			break;
		case OPT_TOKEN:
			rc = setting_flag(&cli.token, optarg, "--token");
			/* shorten the time the token shows in ps */
			explicit_bzero(optarg, strlen(optarg));
			break;
		case OPT_CACERT:
			rc = setting_flag(&cli.cacert, optarg, "--cacert");
			break;
		case OPT_CONFIG:
			free(cli.config_path);
			cli.config_path = strdup(optarg);
			cli.config_is_default = false;
			rc = cli.config_path ? 0 : cli_error("out of memory");
			break;
		case 'k':
			cli.insecure = true;
			rc = 0;
			break;
		case 'V':
			printf("rain %s\n", RAIN_CLI_VERSION);
			rc = CLI_EXIT_OK;
			goto out;
		case 'h':
			top_print_help(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		case CLI_OPT_JSON:
			cli.json = true;
			rc = 0;
			break;
		case 'q':
			cli.quiet = true;
			rc = 0;
			break;
		case ':':
			rc = cli_error("option '%s' needs a value; see 'rain --help'",
				       argv[optind - 1]);
			rc = CLI_EXIT_USAGE;
			goto out;
		default:
			if (optopt && optopt < 0x100)
				cli_error("unknown option '-%c'; see 'rain --help'", optopt);
			else
				cli_error("unknown option '%s'; see 'rain --help'", argv[optind - 1]);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		if (rc != 0)
			goto out;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		top_print_help(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (strcmp(argv[0], "help") == 0) {
		rc = run_help(&cli, argc, argv);
		goto out;
	}
	if (strcmp(argv[0], "version") == 0) {
		printf("rain %s\n", RAIN_CLI_VERSION);
		rc = CLI_EXIT_OK;
		goto out;
	}
	cmd = cli_cmd_find(top_cmds, argv[0]);
	if (!cmd) {
		cli_error("unknown command '%s'; see 'rain --help'", argv[0]);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	rc = cmd->exec(&cli, argc, argv);
out:
	if (fflush(stdout) != 0 && errno != EPIPE && rc == CLI_EXIT_OK)
		rc = cli_error("cannot write the output: %s", strerror(errno));
	rain_client_free(cli.client);
	cli_config_free(&cli);
	return rc;
}
