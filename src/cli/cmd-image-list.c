/* rain image list */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

static int cmd_image_list_exec(struct cli *cli, int argc, char **argv);

const struct cli_cmd cmd_image_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "[OPTIONS]",
	.summary = "list images",
	.help =
		"Options:\n"
		"      --name NAME           only images with this exact name\n"
		"      --status STATUS       queued, saving, active, killed, deactivated ...\n"
		"      --visibility V        private, shared, community, public or all\n"
		"      --owner OWNER         only images of this owner\n"
		"      --tag TAG             only images with this tag (repeatable)\n"
		"      --property KEY=VALUE  only images with this property (repeatable)\n"
		"      --sort KEY:DIR[,...]  order, e.g. name:asc,created_at:desc\n"
		"      --limit N             at most N images (one page of N)\n"
		"      --all                 follow every page, even with --limit\n",
	.exec = cmd_image_list_exec,
	.prefix = "rain image",
};

/* query parameters a --property must not smuggle in */
static const char *const reserved[] = {
	"limit", "marker", "sort", "sort_key", "sort_dir", NULL,
};

static int cmd_image_list_exec(struct cli *cli, int argc, char **argv)
{
	enum { OPT_STATUS = 0x400, OPT_OWNER, OPT_SORT, OPT_LIMIT, OPT_ALL };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, CLI_OPT_NAME },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "visibility", required_argument, NULL, CLI_OPT_VISIBILITY },
		{ "owner", required_argument, NULL, OPT_OWNER },
		{ "tag", required_argument, NULL, CLI_OPT_TAG },
		{ "property", required_argument, NULL, CLI_OPT_PROPERTY },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "all", no_argument, NULL, OPT_ALL },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	static const char *const headers[] = {
		"ID", "Name", "Status", "Size", "Disk format", "Visibility", "Updated",
	};
	_cleanup_free_ char *q = NULL, *path = NULL;
	struct rain_client *c;
	bool all = false, limited = false;
	json_t *images = NULL, *img;
	int64_t limit = 0;
	size_t i;
	int opt, r = 0;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_NAME:
			r = cli_query_add(&q, "name", optarg);
			break;
		case OPT_STATUS:
			r = cli_query_add(&q, "status", optarg);
			break;
		case CLI_OPT_VISIBILITY:
			r = cli_query_add(&q, "visibility", optarg);
			break;
		case OPT_OWNER:
			r = cli_query_add(&q, "owner", optarg);
			break;
		case CLI_OPT_TAG:
			r = cli_query_add(&q, "tag", optarg);
			break;
		case CLI_OPT_PROPERTY: {
			char *k, *v;

			if (cli_parse_property(&cmd_image_list_entry, optarg, &k, &v))
				return CLI_EXIT_USAGE;
			for (i = 0; reserved[i]; i++)
				if (!strcmp(k, reserved[i])) {
					free(k);
					free(v);
					return cli_usage_error(&cmd_image_list_entry,
							       "use --sort or --limit, not --property %s",
							       reserved[i]);
				}
			r = cli_query_add(&q, k, v);
			free(k);
			free(v);
			break;
		}
		case OPT_SORT:
			if (!*optarg)
				return cli_usage_error(&cmd_image_list_entry, "--sort needs KEY:DIR");
			r = cli_query_add(&q, "sort", optarg);
			break;
		case OPT_LIMIT:
			if (cli_parse_count(&cmd_image_list_entry, "--limit", optarg, &limit))
				return CLI_EXIT_USAGE;
			if (limit == 0)
				return cli_usage_error(&cmd_image_list_entry, "--limit must be at least 1");
			limited = true;
			break;
		case OPT_ALL:
			all = true;
			break;
		default:
			r = cli_common_opt(cli, &cmd_image_list_entry, opt, argv);
			if (r != CLI_CONTINUE)
				return r;
			r = 0;
		}
		if (r < 0)
			return cli_error("out of memory");
	}
	if (optind < argc)
		return cli_usage_error(&cmd_image_list_entry, "unexpected argument '%s'",
				       argv[optind]);
	if (limited) {
		char n[24];

		snprintf(n, sizeof(n), "%lld", (long long)limit);
		if (cli_query_add(&q, "limit", n) < 0)
			return cli_error("out of memory");
	}
	if (asprintf(&path, "/v2/images%s", q ? q : "") < 0)
		return cli_error("out of memory");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = cli_image_list_fetch(c, path, all || !limited, &images);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list images");
	if (cli->json) {
		cli_json_print(images);
	} else {
		struct cli_table *t = cli_table_new(7, headers);

		json_array_foreach(images, i, img) {
			char size[32];
			const char *row[7];

			cli_format_size(cli_json_int(img, "size"), size, sizeof(size));
			row[0] = cli_json_str(img, "id");
			row[1] = cli_json_str(img, "name");
			row[2] = cli_json_str(img, "status");
			row[3] = size;
			row[4] = cli_json_str(img, "disk_format");
			row[5] = cli_json_str(img, "visibility");
			row[6] = cli_json_str(img, "updated_at");
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
		cli_table_free(t);
	}
	json_decref(images);
	return CLI_EXIT_OK;
}
