/* rain image show */
#include "cli/cli.h"

static int cmd_image_show_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_image_show_entry = {
	.name = "show",
	.usage = "ID|NAME",
	.summary = "show an image's fields and properties",
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_show_exec,
	.prefix = "rain image",
};

static int cmd_image_show_exec(struct cli *cli, const struct cli_args *a)
{
	json_t *image;
	char id[37];
	int r;

	r = cli_image_fetch(cli, a->argv[0], id, &image);
	if (r)
		return r;
	if (cli->json)
		cli_json_print(image);
	else
		cli_image_print(image);
	json_decref(image);
	return CLI_EXIT_OK;
}
