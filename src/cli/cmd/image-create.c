/* rain image create, and the image fields shared with rain image put. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/image.h"

static int cmd_image_create_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt create_opts[] = { CLI_CREATE_OPTS, { 0 } };

const struct cli_cmd cmd_image_create_entry = {
	.name = "create",
	.usage = "--name NAME [OPTIONS]",
	.summary = "create an image record without data",
	.opts = create_opts,
	.help =
		"The image starts in status 'queued'; give it data with\n"
		"'rain image upload'.  'rain image put' does both at once.\n",
	.exec = cmd_image_create_exec,
	.prefix = "rain image",
};

void cli_create_opts_init(struct cli_create_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->protected_ = -1;
	o->min_disk = -1;
	o->min_ram = -1;
	o->tags = json_array();
	o->props = json_object();
	if (!o->tags || !o->props)
		abort();
}

void cli_create_opts_free(struct cli_create_opts *o)
{
	json_decref(o->tags);
	json_decref(o->props);
}

/* One option: 0 or a usage error (reported). */
static int create_opt(const struct cli_cmd *cmd, struct cli_create_opts *o, int opt,
		      const char *arg)
{
	switch (opt) {
	case CLI_OPT_NAME:
		o->name = arg;
		break;
	case CLI_OPT_DISK_FORMAT:
		o->disk_format = arg;
		break;
	case CLI_OPT_CONTAINER_FORMAT:
		o->container_format = arg;
		break;
	case CLI_OPT_OWNER:
		o->owner = arg;
		break;
	case CLI_OPT_VISIBILITY:
		o->visibility = arg;
		break;
	case CLI_OPT_PROTECTED:
		o->protected_ = 1;
		break;
	case CLI_OPT_MIN_DISK:
		if (cli_parse_count(cmd, "--min-disk", arg, &o->min_disk))
			return CLI_EXIT_USAGE;
		break;
	case CLI_OPT_MIN_RAM:
		if (cli_parse_count(cmd, "--min-ram", arg, &o->min_ram))
			return CLI_EXIT_USAGE;
		break;
	case CLI_OPT_TAG:
		if (!*arg)
			return cli_usage_error(cmd, "a tag cannot be empty");
		json_array_append_new(o->tags, json_string(arg));
		break;
	case CLI_OPT_PROPERTY: {
		char *k, *v;

		if (cli_parse_property(cmd, arg, &k, &v))
			return CLI_EXIT_USAGE;
		if (rain_image_attr_is_core(k) || rain_image_attr_is_readonly(k)) {
			int r = cli_usage_error(cmd, "'%s' is an image field, not a property%s",
						k, rain_image_attr_is_readonly(k) ?
						" (and read-only)" : "; use its own option");

			free(k);
			free(v);
			return r;
		}
		json_object_set_new(o->props, k, json_string(v));
		free(k);
		free(v);
		break;
	}
	}
	return 0;
}

int cli_create_opts_parse(const struct cli_args *a, struct cli_create_opts *o)
{
	for (size_t i = 0; i < a->nopts; i++) {
		int r = create_opt(a->cmd, o, a->opts[i].opt->key, a->opts[i].value);

		if (r)
			return r;
	}
	return 0;
}

int cli_image_create(struct cli *cli, const struct cli_create_opts *o, json_t **image)
{
	struct rain_client *c;
	json_t *body;
	int r;

	*image = NULL;
	r = cli_client(cli, &c);
	if (r)
		return r;
	body = json_object();
	if (!body)
		return cli_error("out of memory");
	/* properties first, so the fields below win on any clash */
	json_object_update(body, o->props);
	json_object_set_new(body, "name", json_string(o->name));
	if (o->disk_format)
		json_object_set_new(body, "disk_format", json_string(o->disk_format));
	if (o->container_format)
		json_object_set_new(body, "container_format", json_string(o->container_format));
	if (o->visibility)
		json_object_set_new(body, "visibility", json_string(o->visibility));
	if (o->owner)
		json_object_set_new(body, "owner", json_string(o->owner));
	if (o->protected_ >= 0)
		json_object_set_new(body, "protected", json_boolean(o->protected_));
	if (o->min_disk >= 0)
		json_object_set_new(body, "min_disk", json_integer(o->min_disk));
	if (o->min_ram >= 0)
		json_object_set_new(body, "min_ram", json_integer(o->min_ram));
	if (json_array_size(o->tags) > 0)
		json_object_set(body, "tags", o->tags);
	r = rain_client_image_create(c, body, image);
	json_decref(body);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORMAT ? "check the server URL" : NULL,
				"cannot create the image '%s'", o->name);
	return CLI_EXIT_OK;
}

static int cmd_image_create_exec(struct cli *cli, const struct cli_args *a)
{
	struct cli_create_opts o;
	json_t *image = NULL;
	int r;

	cli_create_opts_init(&o);
	r = cli_create_opts_parse(a, &o);
	if (r)
		goto done;
	if (!o.name || !*o.name) {
		r = cli_usage_error(&cmd_image_create_entry, "give the image a --name");
		goto done;
	}
	r = cli_image_create(cli, &o, &image);
	if (r)
		goto done;
	if (cli->json)
		cli_json_print(image);
	else if (cli->quiet)
		printf("%s\n", cli_json_str(image, "id"));
	else
		cli_image_print(image);
done:
	json_decref(image);
	cli_create_opts_free(&o);
	return r;
}
