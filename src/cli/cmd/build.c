/* rain build list|show|log|cancel|delete: the builds of raind's build
 * service (rain generate --remote submits them). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/strutil.h"

static int cmd_build_list_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_show_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_log_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_cancel_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_delete_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt output_opts[] = {
	CLI_OUTPUT_OPTS,
	{ 0 },
};

static const struct cli_opt log_opts[] = {
	CLI_OPT("follow", 'f', NULL, 0, "keep printing as the build writes, until it ends"),
	{ 0 },
};

static const struct cli_cmd cmd_build_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "",
	.summary = "list builds, newest first (yours; an admin sees all)",
	.opts = output_opts,
	.args = { 0, 0, "list takes no arguments" },
	.exec = cmd_build_list_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_show_entry = {
	.name = "show",
	.usage = "ID",
	.summary = "show a build's record, its outputs and the stored image",
	.opts = output_opts,
	.args = { 1, 1, "give one build id" },
	.target = CLI_TARGET_BUILD,
	.exec = cmd_build_show_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_log_entry = {
	.name = "log",
	.usage = "ID [-f]",
	.summary = "print a build's log",
	.opts = log_opts,
	.args = { 1, 1, "give one build id" },
	.target = CLI_TARGET_BUILD,
	.exec = cmd_build_log_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_cancel_entry = {
	.name = "cancel",
	.usage = "ID...",
	.summary = "cancel queued or running builds",
	.args = { 1, -1, "give at least one build id" },
	.target = CLI_TARGET_BUILDS,
	.exec = cmd_build_cancel_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_delete_entry = {
	.name = "delete",
	.alias = "rm",
	.usage = "ID...",
	.summary = "delete finished builds and their files (not the stored image)",
	.args = { 1, -1, "give at least one build id" },
	.target = CLI_TARGET_BUILDS,
	.exec = cmd_build_delete_exec,
	.prefix = "rain build",
};

static const struct cli_cmd *const build_cmds[] = {
	&cmd_build_list_entry,
	&cmd_build_show_entry,
	&cmd_build_log_entry,
	&cmd_build_cancel_entry,
	&cmd_build_delete_entry,
	NULL,
};

const struct cli_cmd cmd_build_entry = {
	.name = "build",
	.usage = "COMMAND [ARGS...]",
	.summary = "builds in the server's build service (rain generate --remote)",
	.help =
		"A build is named by its id, or by the start of it when that matches\n"
		"exactly one of your builds.\n",
	.table = build_cmds,
	.prefix = "rain",
};

static int cmd_build_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "ID", "Name", "Status", "Owner", "Created", "Image" };
	struct cli_table *t;
	json_t *list, *b;
	size_t i;
	int r;

	r = cli_build_list(cli, &list);
	if (r)
		return r;
	if (cli->json) {
		cli_json_print(json_object_get(list, "builds"));
		json_decref(list);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(6, headers);
	json_array_foreach(json_object_get(list, "builds"), i, b) {
		const char *row[6] = {
			cli_json_str(b, "id"), cli_json_str(b, "name"), cli_json_str(b, "status"),
			cli_json_str(b, "owner"), cli_json_str(b, "created_at"), cli_json_str(b, "image_id"),
		};

		cli_table_add(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	json_decref(list);
	return CLI_EXIT_OK;
}

static int cmd_build_show_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *build;
	char id[37];
	int r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	r = cli_target(cli, a, 0, id);
	if (r)
		return r;
	r = rain_client_build_get(c, id, &build);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see 'rain build list'" : NULL,
				"cannot get build %s", id);
	if (cli->json)
		cli_json_print(build);
	else
		cli_build_print(build);
	json_decref(build);
	return CLI_EXIT_OK;
}

struct plain {
	FILE *out;
};

static int print_chunk(void *ud, const char *data, size_t len)
{
	struct plain *p = ud;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];

		fputc(ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? ch : '?', p->out);
	}
	return cli_interrupted != 0;
}

static int cmd_build_log_exec(struct cli *cli, const struct cli_args *a)
{
	struct plain p = { stdout };
	struct rain_client *c;
	json_t *final = NULL;
	bool follow = cli_flag(a, "follow");
	char id[37];
	int r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	r = cli_target(cli, a, 0, id);
	if (r)
		return r;
	if (follow) {
		cli_catch_signals(true);
		r = cli_build_follow(cli, id, stdout, false, &final);
		cli_catch_signals(false);
		if (r == 0 && !cli->quiet)
			cli_note(cli, "build %s %s", id, cli_json_str(final, "status") ?
				 cli_json_str(final, "status") : "ended");
		json_decref(final);
		return r;
	}
	r = rain_client_build_log(c, id, 0, false, print_chunk, &p, NULL);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see 'rain build list'" : NULL,
				"cannot get the log of build %s", id);
	return CLI_EXIT_OK;
}

static int cancel_one(struct cli *cli, struct rain_client *c, const char *id)
{
	json_t *build = NULL;
	int r = rain_client_build_cancel(c, id, &build);

	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot cancel build %s", id);
	if (cli->json)
		cli_json_print(build);
	else
		cli_note(cli, "build %s %s", id, cli_json_str(build, "status") ?
			 cli_json_str(build, "status") : "canceled");
	json_decref(build);
	return CLI_EXIT_OK;
}

static int cmd_build_cancel_exec(struct cli *cli, const struct cli_args *a)
{
	return cli_each_target(cli, a, cancel_one);
}

static int delete_one(struct cli *cli, struct rain_client *c, const char *id)
{
	int r = rain_client_build_delete(c, id);

	if (r == RAIN_ECONFLICT)
		return cli_fail(cli, r, "cancel it first, or wait until it ends",
				"cannot delete build %s", id);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot delete build %s", id);
	cli_note(cli, "deleted build %s", id);
	return CLI_EXIT_OK;
}

static int cmd_build_delete_exec(struct cli *cli, const struct cli_args *a)
{
	return cli_each_target(cli, a, delete_one);
}
