/* rain history image ID|NAME, rain history user NAME, rain audit: what
 * raind's append-only audit log recorded (FutureGrid's histimg and
 * histuser; see rain-history(1)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/strutil.h"

static int history_image_exec(struct cli *cli, int argc, char **argv);
static int history_user_exec(struct cli *cli, int argc, char **argv);
static int cmd_history_exec(struct cli *cli, int argc, char **argv);
static int cmd_audit_exec(struct cli *cli, int argc, char **argv);

static const struct cli_cmd history_image_entry = {
	.name = "image", .usage = "ID|NAME",
	.summary = "an image's access statistics and every change made to it (owner, admins)",
	.exec = history_image_exec, .prefix = "rain history",
};
static const struct cli_cmd history_user_entry = {
	.name = "user", .usage = "NAME",
	.summary = "a user's account, usage and every change they made (the user, admins)",
	.exec = history_user_exec, .prefix = "rain history",
};
static const struct cli_cmd *const history_cmds[] = { &history_image_entry, &history_user_entry, NULL };

const struct cli_cmd cmd_history_entry = {
	.name = "history", .usage = "image ID|NAME | user NAME",
	.summary = "usage history of an image or a user",
	.exec = cmd_history_exec, .prefix = "rain",
};

const struct cli_cmd cmd_audit_entry = {
	.name = "audit", .usage = "[--since TIME] [--user NAME] [--target ID|NAME] [--limit N]",
	.summary = "raind's audit log: every change, who made it, from where (admins)",
	.help =
		"Options:\n"
		"      --since TIME      entries at or after TIME (ISO 8601, UTC, e.g.\n"
		"                        2026-12-01T00:00:00Z)\n"
		"      --user NAME       changes made by NAME\n"
		"      --target T        changes to the image id or user name T\n"
		"      --limit N         the newest N entries (default 1000)\n",
	.exec = cmd_audit_exec, .prefix = "rain",
};

static int cmd_history_exec(struct cli *cli, int argc, char **argv)
{
	return cli_cmd_dispatch(cli, &cmd_history_entry, history_cmds, argc, argv);
}

static void print_events(json_t *events)
{
	static const char *const headers[] = { "At", "Who", "From", "Request", "Status" };
	struct cli_table *t = cli_table_new(5, headers);
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e) {
		char req[600], status[16];

		snprintf(req, sizeof(req), "%s %s", cli_json_str(e, "method"), cli_json_str(e, "path"));
		snprintf(status, sizeof(status), "%lld", (long long)cli_json_int(e, "status"));
		cli_table_add(t, (const char *const[]){ cli_json_str(e, "at"),
			*cli_json_str(e, "actor") ? cli_json_str(e, "actor") : "(none)",
			cli_json_str(e, "address"), req, status });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

/* GET path; print it as JSON or as fields of obj (if any) then events. */
static int show(struct cli *cli, const char *path, const char *obj, const char *what)
{
	struct rain_client *c;
	json_t *resp = NULL, *o, *v;
	const char *key;
	int r = cli_client(cli, &c);

	if (r)
		return r;
	r = rain_client_request(c, "GET", path, NULL, NULL, NULL, &resp);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot read %s", what);
	if (cli->json) {
		cli_json_print(resp);
	} else {
		o = obj ? json_object_get(resp, obj) : NULL;
		json_object_foreach(o, key, v) {
			if (json_is_object(v))
				continue;
			if (json_is_string(v))
				printf("%-18s %s\n", key, json_string_value(v));
			else if (json_is_null(v))
				printf("%-18s -\n", key);
			else
				printf("%-18s %lld\n", key, (long long)json_integer_value(v));
		}
		json_object_foreach(json_object_get(resp, "usage"), key, v)
			printf("%-18s %lld\n", key, (long long)json_integer_value(v));
		if (o || json_object_get(resp, "usage"))
			putchar('\n');
		print_events(json_object_get(resp, "events"));
	}
	json_decref(resp);
	return CLI_EXIT_OK;
}

static int only_one(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	int r = cli_common_only(cli, cmd, argc, argv);

	if (r != CLI_CONTINUE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(cmd, "give one %s", cmd == &history_user_entry ? "user name" : "image");
	return CLI_CONTINUE;
}

static int history_image_exec(struct cli *cli, int argc, char **argv)
{
	char id[37], path[128];
	int r = only_one(cli, &history_image_entry, argc, argv);

	if (r != CLI_CONTINUE)
		return r;
	if ((r = cli_image_resolve(cli, argv[optind], id)) != CLI_EXIT_OK)
		return r;
	snprintf(path, sizeof(path), "/rain/v1/history/images/%s", id);
	return show(cli, path, "image", "the image's history");
}

static int history_user_exec(struct cli *cli, int argc, char **argv)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	int r = only_one(cli, &history_user_entry, argc, argv);

	if (r != CLI_CONTINUE)
		return r;
	name = str_url_encode(argv[optind]);
	if (!name || asprintf(&path, "/rain/v1/history/users/%s", name) < 0)
		return cli_error("out of memory");
	return show(cli, path, "user", "the user's history");
}

enum { OPT_SINCE = 0x500, OPT_USER, OPT_TARGET, OPT_LIMIT };

static int cmd_audit_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	const char *keys[] = { "since", "actor", "target", "limit" }, *vals[4] = { NULL };
	_cleanup_free_ char *path = NULL;
	size_t len = 0;
	FILE *f;
	int opt, r;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		if (opt >= OPT_SINCE && opt <= OPT_LIMIT)
			vals[opt - OPT_SINCE] = optarg;
		else if ((r = cli_common_opt(cli, &cmd_audit_entry, opt, argv)) != CLI_CONTINUE)
			return r;
	}
	if (optind < argc)
		return cli_usage_error(&cmd_audit_entry, "unexpected argument '%s'", argv[optind]);
	f = open_memstream(&path, &len);
	if (!f)
		return cli_error("out of memory");
	fputs("/rain/v1/audit", f);
	for (size_t i = 0, n = 0; i < 4; i++) {
		_cleanup_free_ char *v = vals[i] ? str_url_encode(vals[i]) : NULL;

		if (v)
			fprintf(f, "%c%s=%s", n++ ? '&' : '?', keys[i], v);
	}
	if (fclose(f) != 0)
		return cli_error("out of memory");
	return show(cli, path, NULL, "the audit log");
}
