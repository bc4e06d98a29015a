/* rain image: the sub-command table. */
#include "cli/cli.h"

static const struct cli_cmd *const image_cmds[] = {
	&cmd_image_list_entry,
	&cmd_image_show_entry,
	&cmd_image_create_entry,
	&cmd_image_upload_entry,
	&cmd_image_download_entry,
	&cmd_image_put_entry,
	&cmd_image_get_entry,
	&cmd_image_set_entry,
	&cmd_image_unset_entry,
	&cmd_image_tag_entry,
	&cmd_image_untag_entry,
	&cmd_image_delete_entry,
	&cmd_image_deactivate_entry,
	&cmd_image_reactivate_entry,
	&cmd_image_member_entry,
	NULL,
};

const struct cli_cmd cmd_image_entry = {
	.name = "image",
	.usage = "COMMAND [ARGS...]",
	.summary = "list, create, upload, download and change images",
	.help =
		"Images are named by id (a UUID) or by name; a name must match\n"
		"exactly one image.\n",
	.table = image_cmds,
	.prefix = "rain",
};

