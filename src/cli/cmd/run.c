/* rain run IMAGE --site S -- COMMAND, rain ps, rain stop RUN: an image's
 * instances started at a site, a job run in them and everything taken
 * down again (rain-run(1)); raind does the work as jobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/uuid.h"

static int run_exec(struct cli *cli, const struct cli_args *a);
static int ps_exec(struct cli *cli, const struct cli_args *a);
static int stop_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt run_opts[] = {
	CLI_OPT("site", 0, "NAME", 0, "where to run (rain site list)"),
	CLI_OPT("n", 'n', "N", 0, "how many instances (default 1)"),
	CLI_OPT("walltime", 0, "T", 0, "the job's time limit: seconds, or with m or h\n"
		"(90m, 2h); past it the run ends with exit code 124"),
	CLI_OPT("each", 0, NULL, 0, "run the command on every instance (else the first)"),
	CLI_OPT("keep", 0, NULL, 0, "leave the instances up after the job\n"
		"(rain stop RUN takes them down)"),
	CLI_OPT("out", 0, "PATH", 0, "copy this file back from the instance (repeat)"),
	CLI_OPT("outdir", 0, "DIR", 0, "where --out files go (default: the current folder)"),
	CLI_OPT("job", 0, "SCRIPT", 0, "run this local script instead of a command"),
	CLI_OPT("share", 0, "DIR", 0, "share this folder of raind's host into each\n"
		"instance, read-only, as the job folder's work/ (raind's\n"
		"[runs] share_roots says which; libvirt sites)"),
	CLI_OPT("share-rw", 0, NULL, 0, "make --share writable from inside"),
	CLI_OPT("no-wait", 0, NULL, 0, "return once raind has the run"),
	{ 0 },
};

const struct cli_cmd cmd_run_image_entry = {
	.name = "run",
	.usage = "IMAGE --site NAME [-n N] [--walltime T] [--each] [--keep] [--out PATH]... "
		 "[--job SCRIPT] -- COMMAND...",
	.summary = "start an image at a site, run a job in it, take it down",
	.help = "The image is vetted (when the site requires a policy) and registered\n"
		"at the site first when you have no registration of it there. raind\n"
		"starts N instances, runs the job, copies --out files back and takes\n"
		"everything down. The job's output goes to stdout, rain's progress to\n"
		"stderr; the exit status is the job's (124: its walltime passed, 125:\n"
		"rain failed, 130: stopped). Ctrl-C stops the run and waits until its\n"
		"instances are down. See rain-run(1).\n",
	.opts = run_opts,
	.args = { 1, -1, "give an image, then the command after --" },
	.target = CLI_TARGET_IMAGE,
	.exec = run_exec,
	.prefix = "rain",
};

static const struct cli_opt ps_opts[] = {
	CLI_OPT("all", 'a', NULL, 0, "ended runs too"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

const struct cli_cmd cmd_ps_entry = {
	.name = "ps", .usage = "[--all]",
	.summary = "runs in progress (and kept ones) with their instances",
	.help = "Your runs (admins: everyone's), newest first. See rain-run(1).\n",
	.opts = ps_opts, .args = { 0, 0, NULL }, .exec = ps_exec, .prefix = "rain",
};

const struct cli_cmd cmd_stop_entry = {
	.name = "stop", .usage = "RUN",
	.summary = "stop a run, or take a kept run's instances down",
	.help = "Waits until its instances are down. See rain-run(1).\n",
	.args = { 1, 1, "give one run id" }, .exec = stop_exec, .prefix = "rain",
};

/* ---- rain run ----------------------------------------------------------- */

/* "90", "90s", "30m", "2h" to seconds. */
static int parse_walltime(const struct cli_cmd *cmd, const char *s, int *out)
{
	char *end = NULL;
	long v;
	long mul = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end && *end && !end[1])
		mul = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 0;
	else if (end && *end)
		mul = 0;
	if (errno || end == s || v < 1 || !mul || v > 30L * 86400 / mul)
		return cli_usage_error(cmd, "--walltime must be seconds (or 30m, 2h) up to 30 days, "
				       "not '%s'", s);
	*out = (int)(v * mul);
	return 0;
}

/* Whether who has image id registered at site with its current data. */
static bool registered(struct rain_client *c, const char *id, const char *site, json_t *image)
{
	_cleanup_json_ json_t *regs = NULL;
	const char *sha = cli_json_str(image, "os_hash_value");
	json_t *reg;
	size_t i;

	if (!sha || rain_client_registration_list(c, site, id, "registered", &regs) < 0)
		return false;
	json_array_foreach(regs, i, reg)
		if (cli_json_str(reg, "image_sha256") && !strcmp(cli_json_str(reg, "image_sha256"), sha))
			return true;
	return false;
}

/* Vet (when the site wants a policy the image was not vetted with) and
 * register the image at site, unless registered there already. */
static int ensure_registered(struct cli *cli, const char *ref, const char *id, const char *site)
{
	_cleanup_json_ json_t *image = NULL, *s = NULL, *reg = NULL, *job = NULL;
	struct rain_client *c;
	const char *policy, *vpolicy, *status;
	char rid[37];
	int r;

	if ((r = cli_client(cli, &c)) || (r = cli_image_fetch(cli, id, rid, &image)))
		return r;
	if (registered(c, id, site, image))
		return CLI_EXIT_OK;
	r = rain_client_site_get(c, site, &s);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain site list" : NULL,
				"cannot run at site %s", site);
	policy = cli_json_str(s, "policy");
	vpolicy = cli_json_str(image, "rain_vetting_policy");
	if (policy && (!cli_json_str(image, "rain_vetting") || !vpolicy || strcmp(vpolicy, policy) ||
		       !cli_json_str(image, "rain_vetting_sha256") ||
		       !cli_json_str(image, "os_hash_value") ||
		       strcmp(cli_json_str(image, "rain_vetting_sha256"),
			      cli_json_str(image, "os_hash_value")))) {
		cli_note(cli, "site %s requires vetting policy %s: vetting %s first", site, policy, ref);
		r = cli_vet_remote(cli, id, ref, policy, false, &job);
		if (r)
			return r;
	}
	r = cli_register(cli, id, ref, site, NULL, false, true, &reg);
	if (r)
		return r;
	status = cli_json_str(reg, "status");
	if (!status || strcmp(status, "registered"))
		return cli_error("registration %s of %s at %s %s: %s", cli_json_str(reg, "id"), ref,
				 site, status ? status : "?", cli_json_str(reg, "error") ?
				 cli_json_str(reg, "error") : "no reason given");
	return CLI_EXIT_OK;
}

static int build_request(const struct cli_args *a, const char *id, int n, int walltime,
			 json_t **out)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:i, s:b, s:b}", "image", id, "site",
					       cli_arg(a, "site"), "n", n, "each",
					       cli_flag(a, "each"), "keep", cli_flag(a, "keep"));
	json_t *outs = json_array(), *cmd = json_array();
	const char *job = cli_arg(a, "job");

	if (!req || !outs || !cmd || json_object_set_new(req, "out", outs) < 0 ||
	    (walltime && json_object_set_new(req, "walltime", json_integer(walltime)) < 0)) {
		json_decref(cmd);
		return cli_error("out of memory");
	}
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].opt->name, "out"))
			json_array_append_new(outs, json_string(a->opts[i].value));
	if (cli_flag(a, "share-rw") && !cli_arg(a, "share"))
		return cli_usage_error(a->cmd, "--share-rw goes with --share DIR");
	if (cli_arg(a, "share")) {
		/* an absolute path for raind (the same host); it checks it */
		_cleanup_free_ char *abs = realpath(cli_arg(a, "share"), NULL);

		if (json_object_set_new(req, "share", json_string(abs ? abs : cli_arg(a, "share"))) < 0 ||
		    json_object_set_new(req, "share_rw", json_boolean(cli_flag(a, "share-rw"))) < 0)
			return cli_error("out of memory");
	}
	for (int i = 1; i < a->argc; i++)
		json_array_append_new(cmd, json_string(a->argv[i]));
	if (job) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		json_decref(cmd);
		if (fs_read_small(job, 1 << 20, &text, &len) < 0)
			return cli_error("cannot read --job %s: %s; give a script file of at most 1 MiB",
					 job, rain_error_last());
		if (json_object_set_new(req, "script", json_stringn(text, len)) < 0)
			return cli_error("--job %s is not UTF-8 text", job);
	} else if (json_object_set_new(req, "command", cmd) < 0) {
		return cli_error("out of memory");
	}
	*out = TAKE_PTR(req);
	return CLI_EXIT_OK;
}

/* A file name the server gave, safe below the current folder: relative,
 * no "." or ".." component. */
static bool rel_path_ok(const char *p)
{
	_cleanup_free_ char *copy = strdup(p);
	char *save = NULL;

	if (!copy || !*p || *p == '/')
		return false;
	for (char *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save))
		if (!fs_name_is_safe(s))
			return false;
	return true;
}

static int fetch_files(struct cli *cli, const char *run_id, json_t *files, const char *outdir)
{
	struct rain_client *c;
	json_t *v;
	size_t i;
	int r, ret = CLI_EXIT_OK;

	if ((r = cli_client(cli, &c)))
		return r;
	json_array_foreach(files, i, v) {
		const char *name = json_string_value(v);
		_cleanup_free_ char *path = NULL, *dir = NULL;
		_cleanup_close_ int fd = -1;

		if (!name || !rel_path_ok(name)) {
			ret = cli_error("run %s names a file '%s' that would leave %s: not fetched", run_id,
					name ? name : "?", outdir);
			continue;
		}
		path = fs_path_join(outdir, name);
		dir = path ? strdup(path) : NULL;
		if (!dir)
			return cli_error("out of memory");
		*strrchr(dir, '/') = '\0';
		if (fs_mkdir_p(dir, 0755) < 0 ||
		    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
			ret = cli_error("cannot write %s: %s", path, strerror(errno));
			continue;
		}
		r = rain_client_run_file(c, run_id, name, fd);
		if (r < 0)
			ret = cli_fail(cli, r, NULL, "cannot fetch %s of run %s", name, run_id);
		else
			cli_note(cli, "fetched %s", path);
	}
	return ret;
}

static int run_exec(struct cli *cli, const struct cli_args *a)
{
	_cleanup_json_ json_t *req = NULL, *run = NULL, *final = NULL;
	const char *site = cli_arg(a, "site"), *outdir = cli_arg(a, "outdir");
	const char *status, *err;
	struct rain_client *c;
	int64_t n = 1;
	int walltime = 0, r, code;
	char id[37], run_id[37];

	if (!site || !*site)
		return cli_usage_error(a->cmd, "--site is required (rain site list shows them)");
	if (cli_arg(a, "n") && (r = cli_parse_count(a->cmd, "-n", cli_arg(a, "n"), &n)))
		return r;
	if (n < 1 || n > RAIN_RUN_MAX_INSTANCES)
		return cli_usage_error(a->cmd, "-n must be 1 to %d", RAIN_RUN_MAX_INSTANCES);
	if (cli_arg(a, "walltime") && (r = parse_walltime(a->cmd, cli_arg(a, "walltime"), &walltime)))
		return r;
	if (!!cli_arg(a, "job") == (a->argc > 1))
		return cli_usage_error(a->cmd, "give a command after the image (rain run IMAGE --site "
				       "S -- COMMAND...) or --job SCRIPT, one of them");
	if ((r = cli_target(cli, a, 0, id)) || (r = cli_client(cli, &c)))
		return r;
	if ((r = ensure_registered(cli, a->argv[0], id, site)))
		return r;
	if ((r = build_request(a, id, (int)n, walltime, &req)))
		return r;
	r = rain_client_run(c, req, &run);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain site list and rain image list" :
				r == RAIN_EFORBIDDEN ? "see rain ps; rain stop RUN ends a run" : NULL,
				"cannot run %s at %s", a->argv[0], site);
	snprintf(run_id, sizeof(run_id), "%s", cli_json_str(run, "id") ? cli_json_str(run, "id") : "");
	if (cli_flag(a, "no-wait")) {
		if (cli->json)
			cli_json_print(run);
		else
			printf("%s\n", run_id);
		return CLI_EXIT_OK;
	}
	cli_note(cli, "run %s: %d instance(s) of %s at %s", run_id, (int)n, a->argv[0], site);
	cli_catch_signals(true);
	r = cli_run_follow(cli, run_id, cli->json ? stderr : stdout,
			   cli->quiet || cli->json ? NULL : stderr, &final);
	cli_catch_signals(false);
	if (r)
		return r == CLI_EXIT_FAIL && cli_interrupted ? RAIN_RUN_EXIT_INTERRUPTED : r;
	status = cli_json_str(final, "status");
	err = cli_json_str(final, "error");
	code = json_is_integer(json_object_get(final, "exit_code")) ?
	       (int)cli_json_int(final, "exit_code") : RAIN_RUN_EXIT_FAILED;
	if (json_array_size(json_object_get(final, "files")) &&
	    fetch_files(cli, run_id, json_object_get(final, "files"), outdir ? outdir : ".") &&
	    code == 0)
		code = RAIN_RUN_EXIT_FAILED;
	if (cli->json)
		cli_json_print(final);
	if (cli_interrupted || (status && !strcmp(status, "canceled")))
		cli_error("run %s was stopped", run_id);
	else if (code == RAIN_RUN_EXIT_TIMEOUT || code == RAIN_RUN_EXIT_FAILED)
		cli_error("run %s %s: %s", run_id, status ? status : "?", err ? err : "no reason given");
	else if (code)
		cli_note(cli, "run %s: the job exited with status %d", run_id, code);
	if (json_is_true(json_object_get(final, "kept")))
		cli_note(cli, "run %s keeps its instances: rain stop %s takes them down", run_id, run_id);
	return code;
}

/* ---- rain ps, rain stop ------------------------------------------------- */

/* The run's instances: each it had ("history"; "NAME (gone)" once taken
 * down), or those up (a raind without history). */
static char *instance_names(json_t *run)
{
	json_t *list = json_object_get(run, "history"), *v;
	size_t i, n;
	char **names;
	char *out;

	if (!json_array_size(list))
		list = json_object_get(run, "instances");
	n = json_array_size(list);
	names = calloc(n + 1, sizeof(*names));
	if (!names)
		return NULL;
	json_array_foreach(list, i, v) {
		const char *st = cli_json_str(v, "state");

		if (asprintf(&names[i], "%s%s", cli_json_str(v, "name") ? cli_json_str(v, "name") : "?",
			     st && !strcmp(st, "gone") ? " (gone)" : "") < 0)
			names[i] = NULL;
		if (!names[i])
			break;
	}
	out = i == n ? (n ? strv_join(names, n, " ") : strdup("-")) : NULL;
	strv_free(names, n);
	return out;
}

static int ps_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Run", "Image", "Site", "N", "Status", "Owner",
					       "Started", "Instances" };
	_cleanup_json_ json_t *runs = NULL;
	struct rain_client *c;
	struct cli_table *t;
	json_t *run;
	size_t i;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_run_list(c, cli_flag(a, "all") ? NULL : "active", &runs);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list the runs");
	if (cli->json) {
		cli_json_print(runs);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(8, headers);
	json_array_foreach(runs, i, run) {
		_cleanup_free_ char *names = instance_names(run);
		const char *image = cli_json_str(run, "image_name");
		char n[16], status[64];

		snprintf(n, sizeof(n), "%d", (int)cli_json_int(run, "n"));
		snprintf(status, sizeof(status), "%s%s", cli_json_str(run, "status") ?
			 cli_json_str(run, "status") : "?",
			 json_is_true(json_object_get(run, "kept")) ? " (kept)" : "");
		cli_table_add(t, (const char *const[]){ cli_json_str(run, "id"),
			      image ? image : cli_json_str(run, "image_id"), cli_json_str(run, "site"),
			      n, status, cli_json_str(run, "owner"), cli_json_str(run, "started_at"),
			      names });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_EXIT_OK;
}

static int stop_exec(struct cli *cli, const struct cli_args *a)
{
	_cleanup_json_ json_t *run = NULL;
	struct rain_client *c;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	cli_note(cli, "stopping run %s ...", a->argv[0]);
	r = rain_client_run_stop(c, a->argv[0], &run);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain ps --all" : NULL,
				"cannot stop run %s", a->argv[0]);
	if (cli->json)
		cli_json_print(run);
	else
		cli_note(cli, "run %s: %s, %zu instance(s) up", a->argv[0], cli_json_str(run, "status"),
			 json_array_size(json_object_get(run, "instances")));
	return CLI_EXIT_OK;
}
