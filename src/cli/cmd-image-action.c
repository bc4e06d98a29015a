/* rain image deactivate and rain image reactivate. */
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/strutil.h"

static int cmd_image_action_exec(struct cli *cli, int argc, char **argv);

const struct cli_cmd cmd_image_deactivate_entry = {
	.name = "deactivate",
	.usage = "ID|NAME",
	.summary = "make an image's data unavailable for download (admin)",
	.exec = cmd_image_action_exec,
	.prefix = "rain image",
};

const struct cli_cmd cmd_image_reactivate_entry = {
	.name = "reactivate",
	.usage = "ID|NAME",
	.summary = "make a deactivated image available again (admin)",
	.exec = cmd_image_action_exec,
	.prefix = "rain image",
};

static int cmd_image_action_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { 0 } };
	const char *action = argv[0];
	const struct cli_cmd *cmd = strcmp(action, "deactivate") == 0 ?
				    &cmd_image_deactivate_entry : &cmd_image_reactivate_entry;
	_cleanup_free_ char *path = NULL;
	struct rain_client *c;
	char id[37];
	int opt, r;

	action = cmd->name;
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		r = cli_common_opt(cli, cmd, opt, argv);
		if (r != CLI_CONTINUE)
			return r;
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "give one image id or name");
	r = cli_image_resolve(cli, argv[optind], id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	if (asprintf(&path, "/v2/images/%s/actions/%s", id, action) < 0)
		return cli_error("out of memory");
	r = rain_client_request(c, "POST", path, NULL, NULL, NULL, NULL);
	if (r == RAIN_EFORBIDDEN)
		return cli_fail(cli, r, "this needs an admin token", "cannot %s image %s",
				action, id);
	if (r == RAIN_ECONFLICT)
		return cli_fail(cli, r, "only active images can be deactivated and only "
				"deactivated ones reactivated", "cannot %s image %s", action, id);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot %s image %s", action, id);
	return CLI_EXIT_OK;
}
