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

static int cmd_image_delete_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	int r, rc = CLI_EXIT_OK;

	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 0; i < a->argc; i++) {
		char id[37], hint[128];

		if (cli_target(cli, a, i, id)) {
			rc = CLI_EXIT_FAIL;
			continue;
		}
		r = rain_client_image_delete(c, id);
		if (r == RAIN_EFORBIDDEN) {
			snprintf(hint, sizeof(hint), "if it is protected, run 'rain image set %s "
				 "--unprotected' first", id);
			rc = cli_fail(cli, r, hint, "cannot delete image %s", id);
		} else if (r < 0) {
			rc = cli_fail(cli, r, NULL, "cannot delete image %s", id);
		} else {
			cli_note(cli, "deleted image %s", id);
		}
	}
	return rc;
}
