/* rain image show */
#include "cli/cli.h"

static int cmd_image_show_exec(struct cli *cli, int argc, char **argv);

const struct cli_cmd cmd_image_show_entry = {
	.name = "show",
	.usage = "ID|NAME",
	.summary = "show an image's fields and properties",
	.exec = cmd_image_show_exec,
	.prefix = "rain image",
};

static int cmd_image_show_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { 0 } };
	json_t *image;
	char id[37];
	int opt, r;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		r = cli_common_opt(cli, &cmd_image_show_entry, opt, argv);
		if (r != CLI_CONTINUE)
			return r;
	}
	if (argc - optind != 1)
		return cli_usage_error(&cmd_image_show_entry, "give one image id or name");
	r = cli_image_fetch(cli, argv[optind], id, &image);
	if (r)
		return r;
	if (cli->json)
		cli_json_print(image);
	else
		cli_image_print(image);
	json_decref(image);
	return CLI_EXIT_OK;
}
