/* rain build list|show|log|cancel|delete: the builds of raind's build
 * service (rain generate --remote submits them). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/uuid.h"

static int cmd_build_exec(struct cli *cli, int argc, char **argv);
static int cmd_build_list_exec(struct cli *cli, int argc, char **argv);
static int cmd_build_show_exec(struct cli *cli, int argc, char **argv);
static int cmd_build_log_exec(struct cli *cli, int argc, char **argv);
static int cmd_build_cancel_exec(struct cli *cli, int argc, char **argv);
static int cmd_build_delete_exec(struct cli *cli, int argc, char **argv);

static const struct cli_cmd cmd_build_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "",
	.summary = "list builds, newest first (yours; an admin sees all)",
	.exec = cmd_build_list_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_show_entry = {
	.name = "show",
	.usage = "ID",
	.summary = "show a build's record, its outputs and the stored image",
	.exec = cmd_build_show_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_log_entry = {
	.name = "log",
	.usage = "ID [-f]",
	.summary = "print a build's log",
	.help =
		"Options:\n"
		"  -f, --follow          keep printing as the build writes, until it ends\n",
	.exec = cmd_build_log_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_cancel_entry = {
	.name = "cancel",
	.usage = "ID...",
	.summary = "cancel queued or running builds",
	.exec = cmd_build_cancel_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_delete_entry = {
	.name = "delete",
	.alias = "rm",
	.usage = "ID...",
	.summary = "delete finished builds and their files (not the stored image)",
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
	.exec = cmd_build_exec,
	.prefix = "rain",
};

static int cmd_build_exec(struct cli *cli, int argc, char **argv)
{
	return cli_cmd_dispatch(cli, &cmd_build_entry, build_cmds, argc, argv);
}

/* A full id, or a prefix of exactly one listed build. Exit status. */
static int resolve(struct cli *cli, struct rain_client *c, const char *arg, char id[37])
{
	json_t *list = NULL, *b;
	size_t i, n = 0;
	int r;

	if (uuid_is_valid(arg)) {
		memcpy(id, arg, 37);
		uuid_canonicalize(id);
		return 0;
	}
	if (!*arg || strlen(arg) > 36)
		return cli_error("'%s' is not a build id; see 'rain build list'", arg);
	r = rain_client_build_list(c, &list);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list the builds");
	json_array_foreach(json_object_get(list, "builds"), i, b) {
		const char *bid = cli_json_str(b, "id");

		if (bid && uuid_is_valid(bid) && !strncasecmp(bid, arg, strlen(arg))) {
			if (n++ == 0)
				memcpy(id, bid, 37);
		}
	}
	json_decref(list);
	if (n == 0)
		return cli_error("no build id starts with '%s'; see 'rain build list'", arg);
	if (n > 1)
		return cli_error("%zu builds start with '%s'; give more of the id", n, arg);
	uuid_canonicalize(id);
	return 0;
}

static int cmd_build_list_exec(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "ID", "Name", "Status", "Owner", "Created", "Image" };
	struct rain_client *c;
	struct cli_table *t;
	json_t *list, *b;
	size_t i;
	int r = cli_common_only(cli, &cmd_build_list_entry, argc, argv);

	if (r != CLI_CONTINUE)
		return r;
	if (argc - optind != 0)
		return cli_usage_error(&cmd_build_list_entry, "list takes no arguments");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_build_list(c, &list);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list the builds");
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

static int cmd_build_show_exec(struct cli *cli, int argc, char **argv)
{
	struct rain_client *c;
	json_t *build;
	char id[37];
	int r = cli_common_only(cli, &cmd_build_show_entry, argc, argv);

	if (r != CLI_CONTINUE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(&cmd_build_show_entry, "give one build id");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = resolve(cli, c, argv[optind], id);
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

static int cmd_build_log_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	struct plain p = { stdout };
	struct rain_client *c;
	json_t *final = NULL;
	bool follow = false;
	char id[37];
	int opt, r;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "f", longopts, NULL)) != -1) {
		if (opt == 'f') {
			follow = true;
			continue;
		}
		r = cli_common_opt(cli, &cmd_build_log_entry, opt, argv);
		if (r != CLI_CONTINUE)
			return r;
	}
	if (argc - optind != 1)
		return cli_usage_error(&cmd_build_log_entry, "give one build id");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = resolve(cli, c, argv[optind], id);
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

static int cmd_build_cancel_exec(struct cli *cli, int argc, char **argv)
{
	struct rain_client *c;
	int r = cli_common_only(cli, &cmd_build_cancel_entry, argc, argv), rc = CLI_EXIT_OK;

	if (r != CLI_CONTINUE)
		return r;
	if (optind >= argc)
		return cli_usage_error(&cmd_build_cancel_entry, "give at least one build id");
	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = optind; i < argc; i++) {
		json_t *build = NULL;
		char id[37];

		if (resolve(cli, c, argv[i], id)) {
			rc = CLI_EXIT_FAIL;
			continue;
		}
		r = rain_client_build_cancel(c, id, &build);
		if (r < 0) {
			rc = cli_fail(cli, r, NULL, "cannot cancel build %s", id);
		} else if (cli->json) {
			cli_json_print(build);
		} else {
			cli_note(cli, "build %s %s", id, cli_json_str(build, "status") ?
				 cli_json_str(build, "status") : "canceled");
		}
		json_decref(build);
	}
	return rc;
}

static int cmd_build_delete_exec(struct cli *cli, int argc, char **argv)
{
	struct rain_client *c;
	int r = cli_common_only(cli, &cmd_build_delete_entry, argc, argv), rc = CLI_EXIT_OK;

	if (r != CLI_CONTINUE)
		return r;
	if (optind >= argc)
		return cli_usage_error(&cmd_build_delete_entry, "give at least one build id");
	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = optind; i < argc; i++) {
		char id[37];

		if (resolve(cli, c, argv[i], id)) {
			rc = CLI_EXIT_FAIL;
			continue;
		}
		r = rain_client_build_delete(c, id);
		if (r == RAIN_ECONFLICT)
			rc = cli_fail(cli, r, "cancel it first, or wait until it ends",
				      "cannot delete build %s", id);
		else if (r < 0)
			rc = cli_fail(cli, r, NULL, "cannot delete build %s", id);
		else
			cli_note(cli, "deleted build %s", id);
	}
	return rc;
}
