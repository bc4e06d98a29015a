/* rain's top-level commands: the table main.c and rain shell run them
 * from. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* rain's own options, before the command (main.c applies them). */
const struct cli_opt cli_top_opts[] = {
	CLI_OPT("url", 0, "URL", CLI_TOP_URL, "server endpoint (default http://127.0.0.1:9292)"),
	CLI_OPT("token", 0, "TOKEN", CLI_TOP_TOKEN, "authentication token, sent as X-Auth-Token\n"
		"(prefer RAIN_TOKEN or the config file: arguments\n"
		"are visible to other users in ps)"),
	CLI_OPT("cacert", 0, "FILE", CLI_TOP_CACERT, "CA certificates (PEM) to check the server with\n"
		"(default: the system's; CURL_CA_BUNDLE or\n"
		"SSL_CERT_FILE and SSL_CERT_DIR replace them)"),
	CLI_OPT("insecure", 'k', NULL, CLI_TOP_INSECURE, "do not verify the server's TLS certificate"),
	CLI_OPT("config", 0, "FILE", CLI_TOP_CONFIG, "read settings from FILE instead of the default"),
	CLI_OPT("os-cloud", 0, "NAME", CLI_TOP_CLOUD, "use the cloud NAME of clouds.yaml (OS_CLOUD): log\n"
		"in with its user and take its image endpoint"),
	{ .name = "version", .letter = 'V', .key = CLI_TOP_VERSION, .help = "show the version",
	  .final = true },
	{ 0 },
};

const struct cli_cmd *const cli_top_cmds[] = {
	&cmd_image_entry,
	&cmd_generate_entry,
	&cmd_build_entry,
	&cmd_build_worker_entry,
	&cmd_config_entry,
	&cmd_user_entry,
	&cmd_history_entry,
	&cmd_audit_entry,
	&cmd_login_entry,
	&cmd_logout_entry,
	&cmd_whoami_entry,
	&cmd_vet_entry,
	&cmd_site_entry,
	&cmd_register_entry,
	&cmd_deregister_entry,
	&cmd_run_image_entry,
	&cmd_ps_entry,
	&cmd_stop_entry,
	&cmd_target_entry,
	&cmd_provision_entry,
	&cmd_shell_entry,
	&cmd_completion_entry,
	NULL,
};

void cli_commands_print(FILE *f)
{
	for (size_t i = 0; cli_top_cmds[i]; i++)
		fprintf(f, "  %-10s %s\n", cli_top_cmds[i]->name, cli_top_cmds[i]->summary);
	fprintf(f, "  %-10s %s\n", "help", "show help for a command (rain help image put)");
	fprintf(f, "  %-10s %s\n", "version", "show the version");
}

/* `rain help COMMAND [SUBCOMMAND]` is `rain COMMAND [SUBCOMMAND] --help`. */
static int run_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *cmd;
	char *args[4];
	int n = 0;

	cmd = cli_cmd_find(cli_top_cmds, argv[1]);
	if (!cmd)
		return cli_unknown_command(NULL, cli_top_cmds, argv[1]);
	args[n++] = argv[1];
	if (argc > 2)
		args[n++] = argv[2];
	args[n++] = (char *)"--help";
	args[n] = NULL;
	return cli_cmd_run(cli, cmd, n, args);
}

int cli_command_run(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (strcmp(argv[0], "help") == 0 && argc > 1)
		return run_help(cli, argc, argv);
	if (strcmp(argv[0], "version") == 0) {
		if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			printf("Usage: rain version\n\nShow the version of rain (also rain --version).\n");
			return CLI_EXIT_OK;
		}
		if (argc > 1) {
			cli_error("unexpected argument '%s'; see 'rain version --help'", argv[1]);
			return CLI_EXIT_USAGE;
		}
		printf("rain %s\n", RAIN_CLI_VERSION);
		return CLI_EXIT_OK;
	}
	cmd = cli_cmd_find(cli_top_cmds, argv[0]);
	if (!cmd)
		return cli_unknown_command(NULL, cli_top_cmds, argv[0]);
	return cli_cmd_run(cli, cmd, argc, argv);
}
