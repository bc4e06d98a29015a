/* rain image list */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

static int cmd_image_list_exec(struct cli *cli, const struct cli_args *a);

enum {
	OPT_STATUS = 0x400, OPT_SORT, OPT_LIMIT, OPT_ALL, OPT_VETTED, OPT_VERDICT, OPT_SHARED,
	OPT_MEMBER_STATUS, OPT_LONG,
};

static const struct cli_opt list_opts[] = {
	CLI_OPT("name", 0, "NAME", CLI_OPT_NAME, "only images with this exact name"),
	CLI_OPT("status", 0, "STATUS", OPT_STATUS, "queued, saving, active, killed, deactivated ..."),
	CLI_OPT("visibility", 0, "V", CLI_OPT_VISIBILITY, "private, shared, community, public or all"),
	CLI_OPT("owner", 0, "OWNER", CLI_OPT_OWNER, "only images of this owner"),
	CLI_OPT("shared", 0, NULL, OPT_SHARED, "only images others shared with you (accepted ones\n"
		"unless --member-status says otherwise)"),
	CLI_OPT("member-status", 0, "S", OPT_MEMBER_STATUS, "shared images by your answer: pending, accepted,\n"
		"rejected or all"),
	CLI_OPT("tag", 0, "TAG", CLI_OPT_TAG, "only images with this tag (repeatable)"),
	CLI_OPT("property", 0, "KEY=VALUE", CLI_OPT_PROPERTY, "only images with this property (repeatable)"),
	CLI_OPT("sort", 0, "KEY:DIR[,...]", OPT_SORT, "order, e.g. name:asc,created_at:desc"),
	CLI_OPT("limit", 0, "N", OPT_LIMIT, "at most N images (one page of N)"),
	CLI_OPT("all", 0, NULL, OPT_ALL, "follow every page, even with --limit"),
	CLI_OPT("vetted", 0, NULL, OPT_VETTED, "only images that passed vetting (with or without\n"
		"warnings; see rain-vet(1))"),
	CLI_OPT("verdict", 0, "V", OPT_VERDICT, "only images whose vetting verdict is V: passed,\n"
		"warned or failed"),
	CLI_OPT("long", 0, NULL, OPT_LONG, "more columns: container format, min disk and RAM,\n"
		"protected, tags, checksum, created"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

const struct cli_cmd cmd_image_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "[OPTIONS]",
	.summary = "list images",
	.opts = list_opts,
	.exec = cmd_image_list_exec,
	.prefix = "rain image",
};

/* query parameters a --property must not smuggle in */
static const char *const reserved[] = {
	"limit", "marker", "sort", "sort_key", "sort_dir", NULL,
};

static int cmd_image_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = {
		"ID", "Name", "Status", "Size", "Disk format", "Visibility", "Owner", "Vetting",
		"Updated", "Container format", "Min disk", "Min RAM", "Protected", "Tags",
		"Checksum", "Created",
	};
	const struct cli_cmd *cmd = a->cmd;
	_cleanup_free_ char *q = NULL;
	struct rain_client *c;
	bool all = false, limited = false, lng = false;
	json_t *images = NULL, *img;
	int64_t limit = 0;
	size_t i;
	int r = 0;

	for (size_t n = 0; n < a->nopts; n++) {
		int opt = a->opts[n].opt->key;
		const char *val = a->opts[n].value;

		switch (opt) {
		case CLI_OPT_NAME:
		case CLI_OPT_VISIBILITY:
		case CLI_OPT_OWNER:
		case CLI_OPT_TAG:
		case OPT_STATUS:
			/* the option's name is the query parameter's */
			r = cli_query_add(&q, a->opts[n].opt->name, val);
			break;
		case CLI_OPT_PROPERTY: {
			char *k, *v;

			if (cli_parse_property(cmd, val, &k, &v))
				return CLI_EXIT_USAGE;
			for (i = 0; reserved[i]; i++)
				if (!strcmp(k, reserved[i])) {
					free(k);
					free(v);
					return cli_usage_error(cmd, "use --sort or --limit, not --property %s",
							       reserved[i]);
				}
			r = cli_query_add(&q, k, v);
			free(k);
			free(v);
			break;
		}
		case OPT_SORT:
			if (!*val)
				return cli_usage_error(cmd, "--sort needs KEY:DIR");
			r = cli_query_add(&q, "sort", val);
			break;
		case OPT_LIMIT:
			if (cli_parse_count(cmd, "--limit", val, &limit))
				return CLI_EXIT_USAGE;
			if (limit == 0)
				return cli_usage_error(cmd, "--limit must be at least 1");
			limited = true;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_LONG:
			lng = true;
			break;
		case OPT_SHARED:
			r = cli_query_add(&q, "visibility", "shared");
			break;
		case OPT_MEMBER_STATUS:
			if (strcmp(val, "pending") && strcmp(val, "accepted") && strcmp(val, "rejected") &&
			    strcmp(val, "all"))
				return cli_usage_error(cmd, "--member-status takes pending, accepted, "
						       "rejected or all");
			r = cli_query_add(&q, "member_status", val);
			break;
		case OPT_VETTED:
			r = cli_query_add(&q, "rain_vetting", "in:passed,warned");
			break;
		case OPT_VERDICT:
			if (strcmp(val, "passed") && strcmp(val, "warned") && strcmp(val, "failed"))
				return cli_usage_error(cmd, "--verdict takes passed, warned or failed");
			r = cli_query_add(&q, "rain_vetting", val);
			break;
		}
		if (r < 0)
			return cli_error("out of memory");
	}
	if (limited) {
		char n[24];

		snprintf(n, sizeof(n), "%lld", (long long)limit);
		if (cli_query_add(&q, "limit", n) < 0)
			return cli_error("out of memory");
	}
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_list(c, q, all || !limited, &images);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list images");
	if (cli->json) {
		cli_json_print(images);
	} else {
		struct cli_table *t = cli_table_new(lng ? 16 : 9, headers);

		json_array_foreach(images, i, img) {
			char size[32], disk[24], ram[24];
			_cleanup_free_ char *tags = NULL;
			const char *row[16];
			json_t *tag;
			size_t k;

			cli_format_size(cli_json_int(img, "size"), size, sizeof(size));
			row[0] = cli_json_str(img, "id");
			row[1] = cli_json_str(img, "name");
			row[2] = cli_json_str(img, "status");
			row[3] = size;
			row[4] = cli_json_str(img, "disk_format");
			row[5] = cli_json_str(img, "visibility");
			row[6] = cli_json_str(img, "owner");
			row[7] = cli_json_str(img, "rain_vetting");
			row[8] = cli_json_str(img, "updated_at");
			json_array_foreach(json_object_get(img, "tags"), k, tag) {
				char *s;

				if (asprintf(&s, "%s%s%s", tags ? tags : "", tags ? "," : "",
					     json_string_value(tag) ?: "") < 0)
					return cli_error("out of memory");
				free(tags);
				tags = s;
			}
			snprintf(disk, sizeof(disk), "%lld", (long long)cli_json_int(img, "min_disk"));
			snprintf(ram, sizeof(ram), "%lld", (long long)cli_json_int(img, "min_ram"));
			row[9] = cli_json_str(img, "container_format");
			row[10] = disk;
			row[11] = ram;
			row[12] = json_is_true(json_object_get(img, "protected")) ? "yes" : "no";
			row[13] = tags;
			row[14] = cli_json_str(img, "checksum");
			row[15] = cli_json_str(img, "created_at");
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
		cli_table_free(t);
	}
	json_decref(images);
	return CLI_EXIT_OK;
}
