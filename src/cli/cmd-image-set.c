/* rain image set and rain image unset: JSON-patch updates. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/image.h"
#include "util/strutil.h"

#define PATCH_TYPE "application/openstack-images-v2.1-json-patch"

static int cmd_image_set_exec(struct cli *cli, int argc, char **argv);
static int cmd_image_unset_exec(struct cli *cli, int argc, char **argv);

const struct cli_cmd cmd_image_set_entry = {
	.name = "set",
	.usage = "ID|NAME [OPTIONS]",
	.summary = "change an image's fields and properties",
	.help =
		"Options:\n"
		"      --name NAME              rename the image\n"
		"      --visibility V           private, shared, community or public\n"
		"      --protected              forbid deleting the image\n"
		"      --unprotected            allow deleting the image\n"
		"      --disk-format FORMAT     raw, qcow2, iso, ... (before upload)\n"
		"      --container-format FMT   bare, ovf, ... (before upload)\n"
		"      --min-disk GIB           disk size needed to boot the image\n"
		"      --min-ram MIB            memory needed to boot the image\n"
		"      --property KEY=VALUE     add or change a property (repeatable)\n"
		"      --owner USER             give the image to another user (admins)\n",
	.exec = cmd_image_set_exec,
	.prefix = "rain image",
};

const struct cli_cmd cmd_image_unset_entry = {
	.name = "unset",
	.usage = "ID|NAME --property KEY...",
	.summary = "remove properties from an image",
	.help =
		"Options:\n"
		"      --property KEY   remove this property (repeatable)\n",
	.exec = cmd_image_unset_exec,
	.prefix = "rain image",
};

static int patch_add(json_t *patch, const char *op, const char *attr, json_t *value)
{
	char *ptr = cli_json_pointer(attr);
	json_t *item;

	if (!ptr) {
		json_decref(value);
		return RAIN_ENOMEM;
	}
	item = json_pack("{s:s, s:s}", "op", op, "path", ptr);
	free(ptr);
	if (!item) {
		json_decref(value);
		return RAIN_ENOMEM;
	}
	if (value)
		json_object_set_new(item, "value", value);
	return json_array_append_new(patch, item) ? RAIN_ENOMEM : 0;
}

/* Resolve, PATCH and print. */
static int send_patch(struct cli *cli, const char *arg, json_t *patch)
{
	_cleanup_free_ char *path = NULL;
	struct rain_client *c;
	json_t *image = NULL;
	char id[37];
	int r;

	r = cli_image_resolve(cli, arg, id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	if (asprintf(&path, "/v2/images/%s", id) < 0)
		return cli_error("out of memory");
	r = rain_client_request(c, "PATCH", path, PATCH_TYPE, patch, NULL, &image);
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
	json_decref(image);
	return CLI_EXIT_OK;
}

/* The end of set and unset: one image argument, a non-empty patch, send.
 * Consumes patch. */
static int finish_patch(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
			json_t *patch, const char *empty_hint)
{
	int r;

	if (argc - optind != 1)
		r = cli_usage_error(cmd, "give one image id or name");
	else if (json_array_size(patch) == 0)
		r = cli_usage_error(cmd, "%s", empty_hint);
	else
		r = send_patch(cli, argv[optind], patch);
	json_decref(patch);
	return r;
}

static int cmd_image_set_exec(struct cli *cli, int argc, char **argv)
{
	enum { OPT_UNPROTECTED = 0x400 };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, CLI_OPT_NAME },
		{ "visibility", required_argument, NULL, CLI_OPT_VISIBILITY },
		{ "protected", no_argument, NULL, CLI_OPT_PROTECTED },
		{ "unprotected", no_argument, NULL, OPT_UNPROTECTED },
		{ "disk-format", required_argument, NULL, CLI_OPT_DISK_FORMAT },
		{ "container-format", required_argument, NULL, CLI_OPT_CONTAINER_FORMAT },
		{ "min-disk", required_argument, NULL, CLI_OPT_MIN_DISK },
		{ "min-ram", required_argument, NULL, CLI_OPT_MIN_RAM },
		{ "property", required_argument, NULL, CLI_OPT_PROPERTY },
		{ "owner", required_argument, NULL, CLI_OPT_OWNER },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	const struct cli_cmd *cmd = &cmd_image_set_entry;
	json_t *patch = json_array();
	int64_t n;
	int opt, r = 0, prot = -1;

	if (!patch)
		return cli_error("out of memory");
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_NAME:
			r = patch_add(patch, "replace", "name", json_string(optarg));
			break;
		case CLI_OPT_VISIBILITY:
			r = patch_add(patch, "replace", "visibility", json_string(optarg));
			break;
		case CLI_OPT_DISK_FORMAT:
			r = patch_add(patch, "replace", "disk_format", json_string(optarg));
			break;
		case CLI_OPT_CONTAINER_FORMAT:
			r = patch_add(patch, "replace", "container_format", json_string(optarg));
			break;
		case CLI_OPT_OWNER:
			r = patch_add(patch, "replace", "owner", json_string(optarg));
			break;
		case CLI_OPT_PROTECTED:
		case OPT_UNPROTECTED:
			if (prot >= 0) {
				json_decref(patch);
				return cli_usage_error(cmd, "give one of --protected and --unprotected");
			}
			prot = opt == CLI_OPT_PROTECTED;
			r = patch_add(patch, "replace", "protected", json_boolean(prot));
			break;
		case CLI_OPT_MIN_DISK:
		case CLI_OPT_MIN_RAM:
			if (cli_parse_count(cmd, opt == CLI_OPT_MIN_DISK ? "--min-disk" : "--min-ram",
					    optarg, &n)) {
				json_decref(patch);
				return CLI_EXIT_USAGE;
			}
			r = patch_add(patch, "replace", opt == CLI_OPT_MIN_DISK ? "min_disk" : "min_ram",
				      json_integer(n));
			break;
		case CLI_OPT_PROPERTY: {
			char *k, *v;

			if (cli_parse_property(cmd, optarg, &k, &v)) {
				json_decref(patch);
				return CLI_EXIT_USAGE;
			}
			if (rain_image_attr_is_core(k) || rain_image_attr_is_readonly(k)) {
				r = cli_usage_error(cmd, "'%s' is an image field, not a property%s", k,
						    rain_image_attr_is_readonly(k) ? " (and read-only)" :
						    "; use its own option");
				free(k);
				free(v);
				json_decref(patch);
				return r;
			}
			/* "add" also replaces an existing property */
			r = patch_add(patch, "add", k, json_string(v));
			free(k);
			free(v);
			break;
		}
		default:
			r = cli_common_opt(cli, cmd, opt, argv);
			if (r != CLI_CONTINUE) {
				json_decref(patch);
				return r;
			}
			r = 0;
		}
		if (r < 0) {
			json_decref(patch);
			return cli_error("out of memory");
		}
	}
	return finish_patch(cli, cmd, argc, argv, patch,
			    "nothing to change; give an option such as --name");
}

static int cmd_image_unset_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "property", required_argument, NULL, CLI_OPT_PROPERTY },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	const struct cli_cmd *cmd = &cmd_image_unset_entry;
	json_t *patch = json_array();
	int opt, r = 0;

	if (!patch)
		return cli_error("out of memory");
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_PROPERTY:
			if (!*optarg || strchr(optarg, '=')) {
				json_decref(patch);
				return cli_usage_error(cmd, "--property wants a KEY, not '%s'", optarg);
			}
			if (rain_image_attr_is_core(optarg) || rain_image_attr_is_readonly(optarg)) {
				json_decref(patch);
				return cli_usage_error(cmd, "'%s' is an image field and cannot be "
						       "removed", optarg);
			}
			r = patch_add(patch, "remove", optarg, NULL);
			break;
		default:
			r = cli_common_opt(cli, cmd, opt, argv);
			if (r != CLI_CONTINUE) {
				json_decref(patch);
				return r;
			}
			r = 0;
		}
		if (r < 0) {
			json_decref(patch);
			return cli_error("out of memory");
		}
	}
	return finish_patch(cli, cmd, argc, argv, patch,
			    "give at least one --property KEY to remove");
}
