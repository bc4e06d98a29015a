/* rain image delete */
#include "cli/cli.h"
#include "rain/error.h"

static int cmd_image_delete_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_image_delete_entry = {
	.name = "delete",
	.alias = "rm",
	.usage = "ID|NAME...",
	.summary = "delete images and their data",
	.help =
		"Each image is deleted in turn; a failure is reported and the rest\n"
		"are still tried.  A protected image must be unprotected first.\n",
	.args = { 1, -1, "give at least one image" },
	.target = CLI_TARGET_IMAGES,
	.exec = cmd_image_delete_exec,
	.prefix = "rain image",
};

static int delete_one(struct cli *cli, struct rain_client *c, const char *id)
{
	int r = rain_client_image_delete(c, id);
	char hint[128];

	if (r == RAIN_EFORBIDDEN) {
		snprintf(hint, sizeof(hint), "if it is protected, run 'rain image set %s "
			 "--unprotected' first", id);
		return cli_fail(cli, r, hint, "cannot delete image %s", id);
	}
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot delete image %s", id);
	cli_note(cli, "deleted image %s", id);
	return CLI_EXIT_OK;
}

static int cmd_image_delete_exec(struct cli *cli, const struct cli_args *a)
{
	return cli_each_target(cli, a, delete_one);
}
