/* rain image get: show + download + verify. */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/fsutil.h"

static int cmd_image_get_exec(struct cli *cli, int argc, char **argv);

const struct cli_cmd cmd_image_get_entry = {
	.name = "get",
	.usage = "ID|NAME [-o FILE] [--resume] [--force]",
	.summary = "show an image, download its data and verify it",
	.help =
		"Options:\n"
		"  -o, --output FILE   write to FILE (default: the image's name in the\n"
		"                      current directory; '-' for standard output)\n"
		"  -c, --resume        continue an interrupted download in FILE.part\n"
		"  -f, --force         replace FILE if it exists\n",
	.exec = cmd_image_get_exec,
	.prefix = "rain image",
};

static int cmd_image_get_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "file", required_argument, NULL, 'o' },
		{ "resume", no_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	const char *out = NULL, *name;
	bool resume = false, force = false;
	json_t *image;
	char id[37];
	int opt, r;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "o:cf", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			if (!*optarg)
				return cli_usage_error(&cmd_image_get_entry, "-o needs a file name");
			out = optarg;
			break;
		case 'c':
			resume = true;
			break;
		case 'f':
			force = true;
			break;
		default:
			r = cli_common_opt(cli, &cmd_image_get_entry, opt, argv);
			if (r != CLI_CONTINUE)
				return r;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(&cmd_image_get_entry, "give one image id or name");
	if (resume && out && !strcmp(out, "-"))
		return cli_usage_error(&cmd_image_get_entry, "--resume needs a file");
	r = cli_image_fetch(cli, argv[optind], id, &image);
	if (r)
		return r;
	if (!out) {
		name = cli_json_str(image, "name");
		if (!name || !fs_name_is_safe(name) || strstr(name, "..")) {
			r = cli_error("the image's name is not usable as a file name; give one "
				      "with -o FILE");
			goto out;
		}
		out = name;
	}
	if (!force && strcmp(out, "-") != 0 && access(out, F_OK) == 0) {
		r = cli_error("%s exists already; remove it, give another -o or use "
			      "--force", out);
		goto out;
	}
	if (cli->json) {
		/* the output is the image's JSON, printed once the data is verified */
		cli->json = false;
		r = cli_image_save(cli, image, out, force, resume);
		cli->json = true;
		if (r == CLI_EXIT_OK && strcmp(out, "-") != 0)
			cli_json_print(image);
		goto out;
	}
	if (strcmp(out, "-") != 0 && !cli->quiet)
		cli_image_print(image);
	r = cli_image_save(cli, image, out, force, resume);
out:
	json_decref(image);
	return r;
}
