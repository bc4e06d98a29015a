/* rain generate --remote: the build runs in raind's build service. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/build-image.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/strutil.h"

int cli_generate_remote(struct cli *cli, const struct rain_recipe *r, const char *output,
			bool store, bool boot_check, bool verbose)
{
	struct cli_build_view view;
	_cleanup_free_ char *text = NULL;
	struct rain_client *c;
	json_t *files, *req = NULL, *build = NULL, *final = NULL;
	FILE *sink = NULL;
	const char *id;
	int ret;

	if (output)
		return cli_error("--output does not go with --remote: the result stays on the "
				 "server (see 'rain build show', and --store)");
	ret = cli_client(cli, &c);
	if (ret)
		return ret;
	if (rain_build_inputs_pack(r, RAIN_BUILD_FILES_MAX, &files) < 0)
		return cli_error("%s", rain_error_last());
	/* the canonical text carries what the command line changed (--name) */
	if (rain_recipe_format(r, &text) < 0) {
		ret = cli_error("out of memory");
		goto done;
	}
	req = json_pack("{s:s, s:O, s:b, s:b}", "recipe", text, "files", files, "store", store,
			"boot_check", boot_check);
	if (!req) {
		ret = cli_error("out of memory");
		goto done;
	}
	cli_catch_signals(true);
	ret = rain_client_build_submit(c, req, &build);
	if (ret < 0) {
		ret = cli_fail(cli, ret, NULL, "the server did not take the build");
		goto done;
	}
	id = cli_json_str(build, "id");
	if (!id) {
		ret = cli_error("the server's build record has no id");
		goto done;
	}
	if (cli_json_int(build, "position") > 1)
		cli_note(cli, "build %s queued (position %" PRId64 ")", id, cli_json_int(build, "position"));
	else
		cli_note(cli, "build %s queued", id);
	/* the log as a local build shows it: status lines on a terminal */
	cli_build_view_init(&view, cli, verbose);
	sink = cli->quiet ? fopen("/dev/null", "we") : cli_build_view_open(&view);
	if (!sink) {
		ret = cli_error("cannot open the log's view: %s", strerror(errno));
		goto done;
	}
	ret = cli_build_follow(cli, id, sink, true, &final);
	fclose(sink);
	sink = NULL;
	if (ret)
		goto done;
	if (cli->json) {
		cli_json_print(final);
	} else if (!cli->quiet) {
		json_t *outputs = json_object_get(json_object_get(final, "manifest"), "outputs"), *o;
		size_t i;

		json_array_foreach(outputs, i, o) {
			char size[32];

			cli_format_size(cli_json_int(o, "size"), size, sizeof(size));
			printf("%-10s %s (%s)\n", cli_json_str(o, "format") ? cli_json_str(o, "format") : "?",
			       cli_json_str(o, "file") ? cli_json_str(o, "file") : "?", size);
		}
		printf("%-10s %s %s\n", "build", id,
		       cli_json_str(final, "status") ? cli_json_str(final, "status") : "?");
		if (cli_json_str(final, "image_id"))
			printf("%-10s %s\n", "image", cli_json_str(final, "image_id"));
	}
	ret = cli_build_outcome(cli, final);
done:
	cli_catch_signals(false);
	if (sink)
		fclose(sink);
	json_decref(files);
	json_decref(req);
	json_decref(build);
	json_decref(final);
	return ret;
}
