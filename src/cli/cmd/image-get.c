/* rain image get: download + verify, to a file named after the image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static int cmd_image_get_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt get_opts[] = {
	CLI_OPT("output", 'o', "FILE", 0, "write to FILE (default: the image's name with its\n"
		"format's extension, as debian.qcow2, in the current\n"
		"directory; '-' for standard output)"),
	{ .name = "file", .arg = "FILE", .same_as = "output" },
	CLI_OPT("resume", 'c', NULL, 0, "continue an interrupted download in FILE.part"),
	CLI_OPT("force", 'f', NULL, 0, "replace FILE if it exists"),
	{ 0 },
};

const struct cli_cmd cmd_image_get_entry = {
	.name = "get",
	.usage = "ID|NAME [-o FILE] [--resume] [--force]",
	.summary = "download an image's data to a file named after it and verify it",
	.opts = get_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_get_exec,
	.prefix = "rain image",
};

/* The file name extension of an image's disk format ("" for none). */
static const char *format_extension(const char *disk_format, const char *container_format)
{
	static const char *const known[] = {
		"qcow2", "raw", "iso", "vmdk", "vhd", "vhdx", "vdi", "ploop", NULL,
	};

	if (container_format && !strcmp(container_format, "ova"))
		return ".ova";
	for (size_t i = 0; disk_format && known[i]; i++)
		if (!strcmp(disk_format, known[i]))
			return !strcmp(disk_format, "ploop") ? ".hds" : disk_format;
	return "";
}

/* The default file: the image's name, with its format's extension unless
 * it ends so already (a raw image named *.img keeps that). A new string,
 * or NULL when the name is no safe file name (reported). */
static char *default_output(json_t *image)
{
	const char *name = cli_json_str(image, "name");
	const char *ext = format_extension(cli_json_str(image, "disk_format"),
					   cli_json_str(image, "container_format"));
	const char *dot = name ? strrchr(name, '.') : NULL;
	char *out;

	if (!name || !fs_name_is_safe(name) || strstr(name, "..")) {
		cli_error("the image's name is not usable as a file name; give one with -o FILE");
		return NULL;
	}
	if (*ext == '.')
		ext++;
	if (!*ext || (dot && (!strcmp(dot + 1, ext) ||
			      (!strcmp(ext, "raw") && !strcmp(dot + 1, "img")))))
		out = strdup(name);
	else if (asprintf(&out, "%s.%s", name, ext) < 0)
		out = NULL;
	if (!out)
		cli_error("out of memory");
	return out;
}

static int cmd_image_get_exec(struct cli *cli, const struct cli_args *a)
{
	const char *out = cli_arg(a, "output");
	bool resume = cli_flag(a, "resume"), force = cli_flag(a, "force");
	_cleanup_free_ char *defout = NULL;
	char size[32];
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
		defout = default_output(image);
		if (!defout) {
			r = CLI_EXIT_FAIL;
			goto done;
		}
		out = defout;
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
	/* one line, not the whole record ('rain image show' has it) */
	cli_format_size(cli_json_int(image, "size"), size, sizeof(size));
	if (strcmp(out, "-") != 0)
		cli_note(cli, "getting %s (%s, %s, %s) to %s", cli_json_str(image, "name") ?: id, id,
			 cli_json_str(image, "disk_format") ?: "?", size, out);
	r = cli_image_save(cli, image, out, force, resume);
done:
	json_decref(image);
	return r;
}
