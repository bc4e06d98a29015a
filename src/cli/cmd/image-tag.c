/* rain image tag and rain image untag. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"

static int cmd_image_tag_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_image_tag_entry = {
	.name = "tag",
	.usage = "ID|NAME TAG...",
	.summary = "add tags to an image",
	.args = { 2, -1, "give an image and at least one tag" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_tag_exec,
	.prefix = "rain image",
};

const struct cli_cmd cmd_image_untag_entry = {
	.name = "untag",
	.usage = "ID|NAME TAG...",
	.summary = "remove tags from an image",
	.args = { 2, -1, "give an image and at least one tag" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_tag_exec,
	.prefix = "rain image",
};

static int cmd_image_tag_exec(struct cli *cli, const struct cli_args *a)
{
	const struct cli_cmd *cmd = a->cmd;
	bool add = cmd == &cmd_image_tag_entry;
	char **argv = a->argv;
	struct rain_client *c;
	char id[37];
	int r, rc = CLI_EXIT_OK;

	for (int i = 1; i < a->argc; i++)
		if (!*argv[i])
			return cli_usage_error(cmd, "a tag cannot be empty");
	r = cli_target(cli, a, 0, id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 1; i < a->argc; i++) {
		r = rain_client_image_tag(c, id, argv[i], add);
		if (r == RAIN_ENOTFOUND && !add)
			rc = cli_fail(cli, r, "see the tags with 'rain image show'",
				      "image %s has no tag '%s'", id, argv[i]);
		else if (r < 0)
			rc = cli_fail(cli, r, NULL, "cannot %s '%s' %s image %s",
				      add ? "add tag" : "remove tag", argv[i],
				      add ? "to" : "from", id);
	}
	return rc;
}
