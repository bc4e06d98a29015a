/* rain generate --remote: the build runs in raind's build service. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/base64.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* Add the file src (as the recipe names it) to files. */
static int add_file(const struct rain_recipe *r, const char *what, const char *src,
		    json_t *files, int64_t *total)
{
	_cleanup_free_ char *name = NULL, *path = NULL, *data = NULL, *b64 = NULL;
	struct stat st;
	size_t len;
	int ret;

	if (src[0] == '/')
		return cli_error("%s: %s '%s' is an absolute path; a remote build can only send "
				 "files named relative to the recipe", r->file, what, src);
	if (rain_build_file_name(src, &name) < 0)
		return cli_error("%s: %s: %s", r->file, what, rain_error_last());
	if (json_object_get(files, name))
		return 0;
	path = fs_path_join(r->dir, src);
	if (!path)
		return cli_error("out of memory");
	if (stat(path, &st) < 0)
		return cli_error("%s: %s: cannot read %s: %s", r->file, what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cli_error("%s: %s: %s is not a regular file", r->file, what, path);
	if (*total + st.st_size > RAIN_BUILD_FILES_MAX)
		return cli_error("the recipe's files exceed %" PRId64 " MiB, the most a remote "
				 "build takes", RAIN_BUILD_FILES_MAX >> 20);
	ret = fs_read_small(path, (size_t)RAIN_BUILD_FILES_MAX, &data, &len);
	if (ret < 0)
		return cli_error("%s: %s: %s", r->file, what, rain_error_last());
	*total += (int64_t)len;
	b64 = base64_encode(data, len);
	if (!b64 || json_object_set_new(files, name, json_pack("{s:s, s:i}", "data", b64,
							       "mode", (int)(st.st_mode & 0777))) < 0)
		return cli_error("out of memory");
	return 0;
}

int cli_generate_remote(struct cli *cli, const struct rain_recipe *r, const char *output,
			bool store, bool boot_check)
{
	_cleanup_free_ char *text = NULL;
	struct rain_client *c;
	json_t *files, *req = NULL, *build = NULL, *final = NULL;
	FILE *sink = NULL;
	const char *id;
	int64_t total = 0;
	int ret;

	if (output)
		return cli_error("--output does not go with --remote: the result stays on the "
				 "server (see 'rain build show', and --store)");
	ret = cli_client(cli, &c);
	if (ret)
		return ret;
	files = json_object();
	if (!files)
		return cli_error("out of memory");
	for (size_t i = 0; i < r->nfiles; i++) {
		ret = add_file(r, "[files] copy", r->files[i].src, files, &total);
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < r->nscripts; i++) {
		ret = add_file(r, "[scripts] run", r->scripts[i], files, &total);
		if (ret)
			goto out;
	}
	/* the canonical text carries what the command line changed (--name) */
	if (rain_recipe_format(r, &text) < 0) {
		ret = cli_error("out of memory");
		goto out;
	}
	req = json_pack("{s:s, s:O, s:b, s:b}", "recipe", text, "files", files, "store", store,
			"boot_check", boot_check);
	if (!req) {
		ret = cli_error("out of memory");
		goto out;
	}
	cli_catch_signals(true);
	ret = rain_client_build_submit(c, req, &build);
	if (ret < 0) {
		ret = cli_fail(cli, ret, NULL, "the server did not take the build");
		goto out;
	}
	id = cli_json_str(build, "id");
	if (!id) {
		ret = cli_error("the server's build record has no id");
		goto out;
	}
	if (cli_json_int(build, "position") > 1)
		cli_note(cli, "build %s queued (position %" PRId64 ")", id, cli_json_int(build, "position"));
	else
		cli_note(cli, "build %s queued", id);
	if (cli->quiet && !(sink = fopen("/dev/null", "we"))) {
		ret = cli_error("cannot open /dev/null: %s", strerror(errno));
		goto out;
	}
	ret = cli_build_follow(cli, id, sink ? sink : stderr, true, &final);
	if (ret)
		goto out;
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
out:
	cli_catch_signals(false);
	if (sink)
		fclose(sink);
	json_decref(files);
	json_decref(req);
	json_decref(build);
	json_decref(final);
	return ret;
}
