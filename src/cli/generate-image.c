/* rain generate and the repository: recipes that start from a stored
 * image (base = image:REF), and regenerating an image from its stored
 * recipe (--from-image). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/build-image.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int download_base(void *ud, const char *path)
{
	struct cli_base_image *b = ud;
	bool json = b->cli->json;
	int r;

	/* the cache key is the image's hash, which cli_image_save verifies;
	 * rain generate --json prints only the manifest */
	b->cli->json = false;
	r = cli_image_save(b->cli, b->image, path, true, false);
	b->cli->json = json;
	if (r != CLI_EXIT_OK)
		return rain_error_set(RAIN_EIO, "cannot download base image %s (see above)", b->id);
	return 0;
}

int cli_generate_base_image(struct cli *cli, const struct rain_recipe *r, struct cli_base_image *out)
{
	const char *status, *hash, *algo;
	int ret;

	memset(out, 0, sizeof(*out));
	out->cli = cli;
	ret = cli_image_fetch(cli, r->base, out->id, &out->image);
	if (ret)
		return ret;     /* reported */
	status = cli_json_str(out->image, "status");
	hash = cli_json_str(out->image, "os_hash_value");
	algo = cli_json_str(out->image, "os_hash_algo");
	if (!status || strcmp(status, "active") || !hash || !algo || strcmp(algo, "sha256")) {
		cli_base_image_clear(out);
		return cli_error("%s: [image] base: image %s is %s; only an active image with data can "
				 "be cloned", r->file, r->base, status ? status : "without a status");
	}
	out->bi.id = out->id;
	out->bi.sha256 = hash;
	out->bi.disk_format = cli_json_str(out->image, "disk_format");
	out->bi.download = download_base;
	out->bi.ud = out;
	if (!out->bi.disk_format) {
		cli_base_image_clear(out);
		return cli_error("%s: [image] base: image %s has no disk format", r->file, r->base);
	}
	return CLI_EXIT_OK;
}

void cli_base_image_clear(struct cli_base_image *b)
{
	json_decref(b->image);
	memset(b, 0, sizeof(*b));
}

int cli_generate_from_image(struct cli *cli, const char *ref, struct rain_recipe **out, char **dir)
{
	_cleanup_free_ char *where = NULL;
	json_t *image = NULL, *inputs = NULL;
	const char *text, *packed;
	char id[37], tmpl[] = "/tmp/rain-recipe.XXXXXX";
	int ret;

	*out = NULL;
	*dir = NULL;
	ret = cli_image_fetch(cli, ref, id, &image);
	if (ret)
		return ret;
	text = cli_json_str(image, "rain_recipe");
	if (!text) {
		json_decref(image);
		return cli_error("image %s has no stored recipe (rain_recipe): it was not made by "
				 "rain generate --store", ref);
	}
	if (!mkdtemp(tmpl)) {
		json_decref(image);
		return cli_error("cannot create a directory for the recipe's files in /tmp");
	}
	packed = cli_json_str(image, "rain_recipe_inputs");
	if (packed && !(inputs = json_loads(packed, 0, NULL)))
		ret = cli_error("image %s: rain_recipe_inputs is not JSON", ref);
	else if (inputs && rain_build_inputs_unpack(inputs, tmpl) < 0)
		ret = cli_error("image %s: %s", ref, rain_error_last());
	else if (asprintf(&where, "the recipe of image %s", id) < 0)
		ret = cli_error("out of memory");
	else if (rain_recipe_parse(text, where, tmpl, out) < 0)
		ret = cli_error("%s does not parse any more: %s", where, rain_error_last());
	json_decref(inputs);
	json_decref(image);
	if (ret) {
		fs_remove_tree(tmpl);
		return ret;
	}
	*dir = strdup(tmpl);
	cli_note(cli, "regenerating image %s from its stored recipe", id);
	return CLI_EXIT_OK;
}
