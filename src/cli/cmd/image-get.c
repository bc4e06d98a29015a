/* rain image get: show + download + verify. */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/fsutil.h"

static int cmd_image_get_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt get_opts[] = {
	CLI_OPT("output", 'o', "FILE", 0, "write to FILE (default: the image's name in the\n"
		"current directory; '-' for standard output)"),
	{ .name = "file", .arg = "FILE", .same_as = "output" },
	CLI_OPT("resume", 'c', NULL, 0, "continue an interrupted download in FILE.part"),
	CLI_OPT("force", 'f', NULL, 0, "replace FILE if it exists"),
	{ 0 },
};

const struct cli_cmd cmd_image_get_entry = {
	.name = "get",
	.usage = "ID|NAME [-o FILE] [--resume] [--force]",
	.summary = "show an image, download its data and verify it",
	.opts = get_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_get_exec,
	.prefix = "rain image",
};

static int cmd_image_get_exec(struct cli *cli, const struct cli_args *a)
{
	const char *out = cli_arg(a, "output"), *name;
	bool resume = cli_flag(a, "resume"), force = cli_flag(a, "force");
	json_t *image;
	char id[37];
	int r;

	if (out && !*out)
		return cli_usage_error(a->cmd, "-o needs a file name");
	if (resume && out && !strcmp(out, "-"))
		return cli_usage_error(a->cmd, "--resume needs a file");
	r = cli_image_fetch(cli, a->argv[0], id, &image);
	if (r)
		return r;
	if (!out) {
		name = cli_json_str(image, "name");
		if (!name || !fs_name_is_safe(name) || strstr(name, "..")) {
			r = cli_error("the image's name is not usable as a file name; give one "
				      "with -o FILE");
			goto done;
		}
		out = name;
	}
	if (!force && strcmp(out, "-") != 0 && access(out, F_OK) == 0) {
		r = cli_error("%s exists already; remove it, give another -o or use "
			      "--force", out);
		goto done;
	}
	if (cli->json) {
		/* the output is the image's JSON, printed once the data is verified */
		cli->json = false;
		r = cli_image_save(cli, image, out, force, resume);
		cli->json = true;
		if (r == CLI_EXIT_OK && strcmp(out, "-") != 0)
			cli_json_print(image);
		goto done;
	}
	if (strcmp(out, "-") != 0 && !cli->quiet)
		cli_image_print(image);
	r = cli_image_save(cli, image, out, force, resume);
done:
	json_decref(image);
	return r;
}
