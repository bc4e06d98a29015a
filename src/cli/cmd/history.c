/* rain history image ID|NAME, rain history user NAME, rain audit: what
 * raind's append-only audit log recorded (FutureGrid's histimg and
 * histuser; see rain-history(1)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/strutil.h"

static int history_image_exec(struct cli *cli, const struct cli_args *a);
static int history_user_exec(struct cli *cli, const struct cli_args *a);
static int cmd_audit_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt audit_opts[] = {
	CLI_OPT("since", 0, "TIME", 0, "entries at or after TIME (ISO 8601, UTC, e.g.\n"
		"2026-12-01T00:00:00Z)"),
	CLI_OPT("user", 0, "NAME", 0, "changes made by NAME"),
	CLI_OPT("target", 0, "T", 0, "changes to the image id or user name T"),
	CLI_OPT("limit", 0, "N", 0, "the newest N entries (default 1000)"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

static const struct cli_cmd history_image_entry = {
	.name = "image", .usage = "ID|NAME",
	.summary = "an image's access statistics and every change made to it (owner, admins)",
	.opts = cli_output_opts, .args = { 1, 1, "give one image" }, .target = CLI_TARGET_IMAGE,
	.exec = history_image_exec, .prefix = "rain history",
};
static const struct cli_cmd history_user_entry = {
	.name = "user", .usage = "NAME",
	.summary = "a user's account, usage and every change they made (the user, admins)",
	.opts = cli_output_opts, .args = { 1, 1, "give one user name" },
	.exec = history_user_exec, .prefix = "rain history",
};
static const struct cli_cmd *const history_cmds[] = { &history_image_entry, &history_user_entry, NULL };

const struct cli_cmd cmd_history_entry = {
	.name = "history", .usage = "image ID|NAME | user NAME",
	.summary = "usage history of an image or a user",
	.table = history_cmds, .prefix = "rain",
};

const struct cli_cmd cmd_audit_entry = {
	.name = "audit", .usage = "[--since TIME] [--user NAME] [--target ID|NAME] [--limit N]",
	.summary = "raind's audit log: every change, who made it, from where (admins)",
	.opts = audit_opts,
	.exec = cmd_audit_exec, .prefix = "rain",
};

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

static int history_image_exec(struct cli *cli, const struct cli_args *a)
{
	char id[37], path[128];
	int r;

	if ((r = cli_target(cli, a, 0, id)) != CLI_EXIT_OK)
		return r;
	snprintf(path, sizeof(path), "/rain/v1/history/images/%s", id);
	return show(cli, path, "image", "the image's history");
}

static int history_user_exec(struct cli *cli, const struct cli_args *a)
{
	_cleanup_free_ char *name = NULL, *path = NULL;

	name = str_url_encode(a->argv[0]);
	if (!name || asprintf(&path, "/rain/v1/history/users/%s", name) < 0)
		return cli_error("out of memory");
	return show(cli, path, "user", "the user's history");
}

static int cmd_audit_exec(struct cli *cli, const struct cli_args *a)
{
	const char *keys[] = { "since", "actor", "target", "limit" }, *vals[4] = {
		cli_arg(a, "since"), cli_arg(a, "user"), cli_arg(a, "target"), cli_arg(a, "limit"),
	};
	_cleanup_free_ char *path = NULL;
	size_t len = 0;
	FILE *f;

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
