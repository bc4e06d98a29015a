/* rain image show */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/build-image.h"
#include "util/cleanup.h"

static int cmd_image_show_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt show_opts[] = {
	CLI_OPT("packages", 0, NULL, 0, "the packages installed in the image (name, version,\n"
		"architecture), as its build stored them"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

const struct cli_cmd cmd_image_show_entry = {
	.name = "show",
	.usage = "ID|NAME",
	.summary = "show an image's fields and properties",
	.help =
		"The recipe of an image made by rain generate shows as its lines, the\n"
		"files it names by name and size; --packages lists what is installed.\n",
	.opts = show_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_show_exec,
	.prefix = "rain image",
};

/* The image's package list (rain_package_list, _2, ... joined) as a
 * table, or as [{name, version, architecture}] with --json. */
static int show_packages(struct cli *cli, json_t *image, const char *ref)
{
	static const char *const headers[] = { "Package", "Version", "Architecture" };
	json_t *list = json_array();
	struct cli_table *t;
	size_t i;
	json_t *p;

	if (!list)
		return cli_error("out of memory");
	for (int k = 1; k <= RAIN_BUILD_PACKAGE_LIST_PARTS; k++) {
		_cleanup_free_ char *copy = NULL;
		char key[32], *save = NULL;
		const char *text;

		snprintf(key, sizeof(key), k == 1 ? "rain_package_list" : "rain_package_list_%d", k);
		text = cli_json_str(image, key);
		if (!text)
			break;
		copy = strdup(text);
		if (!copy) {
			json_decref(list);
			return cli_error("out of memory");
		}
		for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *f[3] = { NULL, NULL, NULL }, *s2 = NULL;
			int n = 0;

			for (char *w = strtok_r(line, " ", &s2); w && n < 3; w = strtok_r(NULL, " ", &s2))
				f[n++] = w;
			json_array_append_new(list, json_pack("{s:s?, s:s?, s:s?}", "name", f[0],
							      "version", f[1], "architecture", f[2]));
		}
	}
	if (json_array_size(list) == 0) {
		json_decref(list);
		return cli_error("image %s has no stored package list (only images built by rain "
				 "generate --store or the build service since rain stores it have one; "
				 "rain_packages=%s)", ref, cli_json_str(image, "rain_packages") ?: "none");
	}
	if (cli->json) {
		cli_json_print(list);
		json_decref(list);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(3, headers);
	json_array_foreach(list, i, p) {
		const char *row[3] = {
			cli_json_str(p, "name"), cli_json_str(p, "version"), cli_json_str(p, "architecture"),
		};

		cli_table_add(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	json_decref(list);
	return CLI_EXIT_OK;
}

static int cmd_image_show_exec(struct cli *cli, const struct cli_args *a)
{
	json_t *image;
	char id[37];
	int r;

	r = cli_image_fetch(cli, a->argv[0], id, &image);
	if (r)
		return r;
	if (cli_flag(a, "packages"))
		r = show_packages(cli, image, a->argv[0]);
	else if (cli->json)
		cli_json_print(image);
	else
		cli_image_print(image);
	json_decref(image);
	return r;
}
