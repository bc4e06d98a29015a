/* rain image set and rain image unset: JSON-patch updates. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/image.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"

static int cmd_image_set_exec(struct cli *cli, const struct cli_args *a);
static int cmd_image_unset_exec(struct cli *cli, const struct cli_args *a);

enum { OPT_UNPROTECTED = 0x400 };

static const struct cli_opt set_opts[] = {
	CLI_OPT("name", 0, "NAME", CLI_OPT_NAME, "rename the image"),
	CLI_OPT("visibility", 0, "V", CLI_OPT_VISIBILITY, "private, shared, community or public"),
	CLI_OPT("protected", 0, NULL, CLI_OPT_PROTECTED, "forbid deleting the image"),
	CLI_OPT("unprotected", 0, NULL, OPT_UNPROTECTED, "allow deleting the image"),
	CLI_OPT("disk-format", 0, "FORMAT", CLI_OPT_DISK_FORMAT, "raw, qcow2, iso, ... (before upload)"),
	CLI_OPT("container-format", 0, "FMT", CLI_OPT_CONTAINER_FORMAT, "bare, ovf, ... (before upload)"),
	CLI_OPT("min-disk", 0, "GIB", CLI_OPT_MIN_DISK, "disk size needed to boot the image"),
	CLI_OPT("min-ram", 0, "MIB", CLI_OPT_MIN_RAM, "memory needed to boot the image"),
	CLI_OPT("property", 0, "KEY=VALUE", CLI_OPT_PROPERTY, "add or change a property (repeatable)"),
	CLI_OPT("owner", 0, "USER", CLI_OPT_OWNER, "give the image to another user (admins)"),
	{ 0 },
};

static const struct cli_opt unset_opts[] = {
	CLI_OPT("property", 0, "KEY", CLI_OPT_PROPERTY, "remove this property (repeatable)"),
	{ 0 },
};

const struct cli_cmd cmd_image_set_entry = {
	.name = "set",
	.usage = "ID|NAME [OPTIONS]",
	.summary = "change an image's fields and properties",
	.opts = set_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_set_exec,
	.prefix = "rain image",
};

const struct cli_cmd cmd_image_unset_entry = {
	.name = "unset",
	.usage = "ID|NAME --property KEY...",
	.summary = "remove properties from an image",
	.opts = unset_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_unset_exec,
	.prefix = "rain image",
};

static int patch_add(json_t *patch, const char *op, const char *attr, json_t *value)
{
	char *ptr = cli_json_pointer(attr);
	json_t *item;

	if (!ptr) {
		json_decref(value);
		return rain_error_oom();
	}
	item = json_pack("{s:s, s:s}", "op", op, "path", ptr);
	free(ptr);
	if (!item) {
		json_decref(value);
		return rain_error_oom();
	}
	if (value)
		json_object_set_new(item, "value", value);
	return json_array_append_new(patch, item) ? rain_error_oom() : 0;
}

/* Resolve, PATCH and print; patch stays the caller's. An empty patch is a
 * usage error (empty_hint). */
static int send_patch(struct cli *cli, const struct cli_args *a, json_t *patch,
		      const char *empty_hint)
{
	struct rain_client *c;
	_cleanup_json_ json_t *image = NULL;
	char id[37];
	int r;

	if (json_array_size(patch) == 0)
		return cli_usage_error(a->cmd, "%s", empty_hint);
	r = cli_target(cli, a, 0, id);
	if (r == 0)
		r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_patch(c, id, patch, &image);
	if (r == RAIN_ENOTFOUND)
		return cli_fail(cli, r, "see 'rain image show' for the image's properties",
				"cannot change image %s", id);
	if (r == RAIN_EFORBIDDEN)
		return cli_fail(cli, r, "the field may be read-only, or the token may not "
				"allow the change", "cannot change image %s", id);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot change image %s", id);
	if (cli->json && image)
		cli_json_print(image);
	return CLI_EXIT_OK;
}

static int cmd_image_set_exec(struct cli *cli, const struct cli_args *a)
{
	const struct cli_cmd *cmd = a->cmd;
	_cleanup_json_ json_t *patch = json_array();
	int64_t n;
	int opt, r = 0, prot = -1;

	if (!patch)
		return cli_error("out of memory");
	for (size_t i = 0; i < a->nopts; i++) {
		const char *val = a->opts[i].value;

		opt = a->opts[i].opt->key;
		switch (opt) {
		case CLI_OPT_NAME:
		case CLI_OPT_VISIBILITY:
		case CLI_OPT_DISK_FORMAT:
		case CLI_OPT_CONTAINER_FORMAT:
		case CLI_OPT_OWNER: {
			/* the field is the option's name with '_' for '-' */
			char field[32];

			snprintf(field, sizeof(field), "%s", a->opts[i].opt->name);
			for (char *p = field; *p; p++)
				if (*p == '-')
					*p = '_';
			r = patch_add(patch, "replace", field, json_string(val));
			break;
		}
		case CLI_OPT_PROTECTED:
		case OPT_UNPROTECTED:
			if (prot >= 0)
				return cli_usage_error(cmd, "give one of --protected and --unprotected");
			prot = opt == CLI_OPT_PROTECTED;
			r = patch_add(patch, "replace", "protected", json_boolean(prot));
			break;
		case CLI_OPT_MIN_DISK:
		case CLI_OPT_MIN_RAM:
			if (cli_parse_count(cmd, opt == CLI_OPT_MIN_DISK ? "--min-disk" : "--min-ram",
					    val, &n))
				return CLI_EXIT_USAGE;
			r = patch_add(patch, "replace", opt == CLI_OPT_MIN_DISK ? "min_disk" : "min_ram",
				      json_integer(n));
			break;
		case CLI_OPT_PROPERTY: {
			_cleanup_free_ char *k = NULL, *v = NULL;

			if (cli_parse_property(cmd, val, &k, &v))
				return CLI_EXIT_USAGE;
			if (rain_image_attr_is_core(k) || rain_image_attr_is_readonly(k))
				return cli_usage_error(cmd, "'%s' is an image field, not a property%s", k,
						       rain_image_attr_is_readonly(k) ? " (and read-only)" :
						       "; use its own option");
			/* "add" also replaces an existing property */
			r = patch_add(patch, "add", k, json_string(v));
			break;
		}
		}
		if (r < 0)
			return cli_error("out of memory");
	}
	return send_patch(cli, a, patch, "nothing to change; give an option such as --name");
}

static int cmd_image_unset_exec(struct cli *cli, const struct cli_args *a)
{
	const struct cli_cmd *cmd = a->cmd;
	_cleanup_json_ json_t *patch = json_array();
	int r = 0;

	if (!patch)
		return cli_error("out of memory");
	for (size_t i = 0; i < a->nopts; i++) {
		const char *val = a->opts[i].value;

		if (a->opts[i].opt->key != CLI_OPT_PROPERTY)
			continue;
		if (!*val || strchr(val, '='))
			return cli_usage_error(cmd, "--property wants a KEY, not '%s'", val);
		if (rain_image_attr_is_core(val) || rain_image_attr_is_readonly(val))
			return cli_usage_error(cmd, "'%s' is an image field and cannot be "
					       "removed", val);
		r = patch_add(patch, "remove", val, NULL);
		if (r < 0)
			return cli_error("out of memory");
	}
	return send_patch(cli, a, patch, "give at least one --property KEY to remove");
}
