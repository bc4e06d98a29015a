/* rain build list|show|log|cancel|delete: the builds of raind's build
 * service (rain generate --remote submits them). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int cmd_build_list_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_show_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_log_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_cancel_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_get_exec(struct cli *cli, const struct cli_args *a);
static int cmd_build_delete_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt log_opts[] = {
	CLI_OPT("follow", 'f', NULL, 0, "keep printing as the build writes, until it ends"),
	{ 0 },
};

static const struct cli_cmd cmd_build_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "",
	.summary = "list builds, newest first (yours; an admin sees all)",
	.opts = cli_output_opts,
	.args = { 0, 0, "list takes no arguments" },
	.exec = cmd_build_list_exec,
	.prefix = "rain build",
};

static const struct cli_cmd cmd_build_show_entry = {
	.name = "show",
	.usage = "ID",
	.summary = "show a build's record, its outputs and the stored image",
	.opts = cli_output_opts,
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

static const struct cli_opt get_opts[] = {
	CLI_OPT("output", 'o', "DIR", 0, "into DIR, made when missing (default: the current\n"
		"directory)"),
	CLI_OPT("force", 0, NULL, 0, "replace files that exist"),
	{ 0 },
};

static const struct cli_cmd cmd_build_get_entry = {
	.name = "get",
	.usage = "ID [FILE...] [-o DIR]",
	.summary = "fetch a finished build's outputs (default: kernel, initramfs, manifest)",
	.help =
		"FILE names an output as the build's manifest lists it (rain build show):\n"
		"vmlinuz, initrd.img, NAME.qcow2, ...; manifest.json and build.log too.\n"
		"Without FILE: the kernel, the initramfs and manifest.json. A stored\n"
		"image is fetched with rain image get.\n",
	.opts = get_opts,
	.args = { 1, -1, "give a build id and the files to fetch" },
	.target = CLI_TARGET_BUILD,
	.exec = cmd_build_get_exec,
	.prefix = "rain build",
};

static const struct cli_cmd *const build_cmds[] = {
	&cmd_build_list_entry,
	&cmd_build_show_entry,
	&cmd_build_get_entry,
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

/* One output of build id into dir/name (via name.part, renamed when
 * whole). Reports errors; exit status. */
static int fetch_one(struct cli *cli, const char *id, const char *name, const char *dir, bool force)
{
	_cleanup_free_ char *path = NULL, *part = NULL;
	struct rain_client *c;
	int fd, r;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return cli_error("'%s' is no output name; see the outputs with 'rain build show %s'",
				 name, id);
	if (!(path = fs_path_join(dir, name)) || asprintf(&part, "%s.part", path) < 0)
		return cli_error("out of memory");
	if (!force && access(path, F_OK) == 0)
		return cli_error("%s exists already; remove it, give another -o DIR or --force", path);
	r = cli_client(cli, &c);
	if (r)
		return r;
	fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cli_error("cannot create %s: %s", part, strerror(errno));
	r = rain_client_build_file(c, id, name, fd);
	if (close(fd) < 0 && r == 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot write %s", part);
	if (r == 0 && rename(part, path) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot rename %s", part);
	if (r < 0) {
		unlink(part);
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "'rain build show' lists the outputs" : NULL,
				"cannot fetch %s of build %s", name, id);
	}
	cli_note(cli, "fetched %s", path);
	return 0;
}

static int cmd_build_get_exec(struct cli *cli, const struct cli_args *a)
{
	const char *dir = cli_arg(a, "output") ?: ".";
	bool force = cli_flag(a, "force");
	json_t *build = NULL, *o;
	struct rain_client *c;
	char id[37];
	size_t i;
	int r, rc = CLI_EXIT_OK;

	r = cli_target(cli, a, 0, id);
	if (!r)
		r = cli_client(cli, &c);
	if (r)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cli_error("cannot create %s: %s", dir, strerror(errno));
	if (a->argc > 1) {
		for (int k = 1; k < a->argc; k++)
			if ((r = fetch_one(cli, id, a->argv[k], dir, force)))
				rc = r;
		return rc;
	}
	r = rain_client_build_get(c, id, &build);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot get build %s", id);
	if (!json_is_object(json_object_get(build, "manifest"))) {
		rc = cli_error("build %s has no outputs (status %s); see 'rain build log %s'", id,
			       cli_json_str(build, "status") ?: "?", id);
		json_decref(build);
		return rc;
	}
	json_array_foreach(json_object_get(json_object_get(build, "manifest"), "outputs"), i, o) {
		const char *fmt = cli_json_str(o, "format"), *file = cli_json_str(o, "file");

		if (fmt && file && (!strcmp(fmt, "kernel") || !strcmp(fmt, "initramfs")) &&
		    (r = fetch_one(cli, id, file, dir, force)))
			rc = r;
	}
	if ((r = fetch_one(cli, id, "manifest.json", dir, force)))
		rc = r;
	json_decref(build);
	return rc;
}
