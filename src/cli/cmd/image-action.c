/* rain image deactivate and rain image reactivate. */
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"

static int cmd_image_action_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_image_deactivate_entry = {
	.name = "deactivate",
	.usage = "ID|NAME",
	.summary = "make an image's data unavailable for download (owner or admin)",
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_action_exec,
	.prefix = "rain image",
};

const struct cli_cmd cmd_image_reactivate_entry = {
	.name = "reactivate",
	.usage = "ID|NAME",
	.summary = "make a deactivated image available again (owner or admin)",
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_action_exec,
	.prefix = "rain image",
};

static int cmd_image_action_exec(struct cli *cli, const struct cli_args *a)
{
	const char *action = a->cmd->name;
	struct rain_client *c;
	char id[37];
	int r;

	r = cli_target(cli, a, 0, id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_action(c, id, action);
	if (r == RAIN_EFORBIDDEN)
		return cli_fail(cli, r, "only the image's owner and admins may", "cannot %s image %s",
				action, id);
	if (r == RAIN_ECONFLICT)
		return cli_fail(cli, r, "only active images can be deactivated and only "
				"deactivated ones reactivated", "cannot %s image %s", action, id);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot %s image %s", action, id);
	return CLI_EXIT_OK;
}
