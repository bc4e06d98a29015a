/* rain provision up|exec|run|down|status: a run's steps (rain/provision.h)
 * here, on a registration's state file and a file of sites, without
 * raind. raind's runs run `rain provision run` and, after a failure or a
 * restart, `rain provision down`; this is their plumbing, for site
 * administrators and tests.
 *
 * exec and run print the job's output on stdout (a line "[NAME] ..." per
 * instance with --each and several instances), rain's progress on stderr,
 * and exit with the job's exit status, or RAIN_RUN_EXIT_TIMEOUT (124)
 * after --walltime, RAIN_RUN_EXIT_FAILED (125) when rain failed,
 * RAIN_RUN_EXIT_INTERRUPTED (130) on SIGINT/SIGTERM. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/uuid.h"

#define PREFIX "rain provision"

static int cmd_up_exec(struct cli *cli, const struct cli_args *a);
static int cmd_exec_exec(struct cli *cli, const struct cli_args *a);
static int cmd_run_exec(struct cli *cli, const struct cli_args *a);
static int cmd_down_exec(struct cli *cli, const struct cli_args *a);
static int cmd_status_exec(struct cli *cli, const struct cli_args *a);

#define STATE_OPTS                                                                      \
	CLI_OPT("sites", 0, "FILE", 0, "the INI file with the [site.NAME] sections"),   \
	CLI_OPT("site", 0, "NAME", 0, "the site"),                                      \
	CLI_OPT("state", 0, "FILE", 0, "the run's state: what exists for it")

#define UP_OPTS                                                                         \
	CLI_OPT("registration", 0, "FILE", 0, "the registration's state (what\n"        \
		"rain target publish --state wrote)"),                                  \
	CLI_OPT("id", 0, "ID", 0, "the run's id (default: a new UUID)"),                \
	CLI_OPT("count", 'n', "N", 0, "how many instances (default 1)"),                \
	CLI_OPT("ready-timeout", 0, "S", 0, "seconds each may take to come up\n"         \
		"(default 600)"),                                                        \
	CLI_OPT("share", 0, "DIR", 0, "a folder of this host shared into each\n"        \
		"instance read-only, as the job folder's work/ (libvirt: 9p)"),         \
	CLI_OPT("share-rw", 0, NULL, 0, "make --share writable from inside")

#define WORK_OPT                                                                        \
	CLI_OPT("work", 0, "DIR", 0, "the run's private folder: its key pair,\n"        \
		"known_hosts, consoles (default: the state's folder)")

#define EXEC_OPTS                                                                       \
	CLI_OPT("each", 0, NULL, 0, "run the job on every instance (default: the\n"     \
		"first)"),                                                              \
	CLI_OPT("walltime", 0, "S", 0, "the job's time limit in seconds"),              \
	CLI_OPT("script", 0, "FILE", 0, "a job script to copy in and run instead of\n"   \
		"a command"),                                                           \
	CLI_OPT("out", 0, "PATH", 0, "a result file to copy back (relative: to the\n"    \
		"job's folder; repeatable)"),                                           \
	CLI_OPT("outdir", 0, "DIR", 0, "where result files go (default: .)")

static const struct cli_opt up_opts[] = { STATE_OPTS, WORK_OPT, UP_OPTS, { 0 } };
static const struct cli_opt exec_opts[] = { STATE_OPTS, WORK_OPT, EXEC_OPTS, { 0 } };
static const struct cli_opt run_opts[] = {
	STATE_OPTS, WORK_OPT, UP_OPTS, EXEC_OPTS,
	CLI_OPT("keep", 0, NULL, 0, "leave the instances running afterwards\n"
		"(rain provision down takes them down)"),
	{ 0 },
};
static const struct cli_opt state_opts[] = { STATE_OPTS, WORK_OPT, { 0 } };

static const struct cli_cmd cmd_up_entry = {
	.name = "up",
	.usage = "--sites FILE --site NAME --registration FILE --state FILE [-n N]",
	.summary = "start a run's instances and wait until they answer",
	.help = "Makes the run's key pair in the work folder, starts N instances of the\n"
		"registration through the site's provider (each named in the state\n"
		"file before it is made) and waits until each answers.\n",
	.opts = up_opts,
	.args = { 0, 0, "up takes no arguments" },
	.exec = cmd_up_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_exec_entry = {
	.name = "exec",
	.usage = "--sites FILE --site NAME --state FILE [--each] -- COMMAND...",
	.summary = "run a job in a run's instances",
	.help = "The job's output goes to stdout; the exit status is the job's (124:\n"
		"past --walltime, 125: rain failed, 130: interrupted).\n",
	.opts = exec_opts,
	.args = { 0, -1, NULL },
	.exec = cmd_exec_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_run_entry = {
	.name = "run",
	.usage = "--sites FILE --site NAME --registration FILE --state FILE [-n N] -- COMMAND...",
	.summary = "up, exec, fetch the result files and down, in one",
	.help = "Whatever happens (the job fails, the time limit, an interrupt), what\n"
		"was started is taken down again unless --keep. The exit status is the\n"
		"job's (124: past --walltime, 125: rain failed, 130: interrupted).\n",
	.opts = run_opts,
	.args = { 0, -1, NULL },
	.exec = cmd_run_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_down_entry = {
	.name = "down",
	.usage = "--sites FILE --site NAME --state FILE",
	.summary = "take down whatever a run's state names",
	.opts = state_opts,
	.args = { 0, 0, "down takes no arguments: name the state with --state" },
	.exec = cmd_down_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_status_entry = {
	.name = "status",
	.usage = "--sites FILE --site NAME --state FILE",
	.summary = "what the site says of a run's instances",
	.opts = state_opts,
	.args = { 0, 0, "status takes no arguments: name the state with --state" },
	.exec = cmd_status_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd *const provision_cmds[] = {
	&cmd_up_entry, &cmd_exec_entry, &cmd_run_entry, &cmd_down_entry, &cmd_status_entry, NULL,
};

const struct cli_cmd cmd_provision_entry = {
	.name = "provision",
	.usage = "COMMAND [ARGS...]",
	.summary = "a run's steps on local files: up, exec, run, down, status",
	.help = "Plumbing under rain run: starts instances of a registration at a\n"
		"site, runs a job in them and takes them down, with sites from a file.\n"
		"See rain-provision(1).\n",
	.table = provision_cmds,
	.prefix = "rain",
};

/* One invocation's run: its site, state and op. */
struct prun {
	struct cli_state st;            /* first: the op's ud */
	struct rain_site *site;
	json_t *state;
	char *work, *key, *pub;
	bool multi;                     /* output lines carry the instance's name */
	struct rain_run_op op;
};

static void prun_clear(struct prun *p)
{
	rain_site_free(p->site);
	json_decref(p->state);
	free(p->work);
	free(p->key);
	free(p->pub);
}

static int need(const struct cli_args *a, const char *opt, const char **out)
{
	*out = cli_arg(a, opt);
	if (!*out || !**out)
		return cli_usage_error(a->cmd, "--%s is required", opt);
	return 0;
}

/* The site, the state (new when fresh), the work folder and the op. */
static int prun_open(struct cli *cli, const struct cli_args *a, bool fresh, struct prun *p)
{
	const char *sites, *name, *arg;
	int r;

	memset(p, 0, sizeof(*p));
	p->st.cli = cli;
	if ((r = need(a, "sites", &sites)) || (r = need(a, "site", &name)) ||
	    (r = need(a, "state", &p->st.path)))
		return r;
	r = rain_site_read(sites, name, &p->site);
	if (r < 0)
		return cli_fail(cli, r, "check the sites file", "cannot use site '%s'", name);
	if (fresh && access(p->st.path, F_OK) == 0) {
		_cleanup_json_ json_t *old = NULL;

		if (cli_state_load(p->st.path, "the state file", &old) == 0 &&
		    json_array_size(json_object_get(old, "instances")))
			return cli_error("%s names instances of an earlier run; take them down first "
					 "(rain provision down) or give another --state", p->st.path);
	}
	if (fresh)
		p->state = json_object();
	else if ((r = cli_state_load(p->st.path, "the run's state file (rain provision up wrote "
				     "it)", &p->state)))
		return r;
	if (!p->state)
		return cli_error("out of memory");
	if ((arg = cli_arg(a, "work")))
		p->work = strdup(arg);
	else {
		_cleanup_free_ char *copy = strdup(p->st.path);

		p->work = copy ? strdup(dirname(copy)) : NULL;
	}
	if (!p->work || !(p->key = fs_path_join(p->work, "key")))
		return cli_error("out of memory");
	if (fs_mkdir_p(p->work, 0700) < 0)
		return cli_fail(cli, RAIN_EIO, "", "cannot make --work %s", p->work);
	p->op = (struct rain_run_op){
		.site = p->site, .workdir = p->work, .state = p->state, .save = cli_state_save,
		.log = cli_state_log, .ud = &p->st, .cancel = &cli_interrupted, .n = 1,
		.run_id = json_string_value(json_object_get(p->state, "run")),
		.key_private = p->key,
	};
	return 0;
}

static int up_options(const struct cli_args *a, struct prun *p, char id[37])
{
	const char *arg;
	int64_t v;
	int r;

	if ((arg = cli_arg(a, "count"))) {
		if ((r = cli_parse_count(a->cmd, "count", arg, &v)))
			return r;
		if (v < 1 || v > RAIN_RUN_MAX_INSTANCES)
			return cli_usage_error(a->cmd, "-n takes 1 to %d", RAIN_RUN_MAX_INSTANCES);
		p->op.n = (int)v;
	}
	if ((arg = cli_arg(a, "ready-timeout"))) {
		if ((r = cli_parse_count(a->cmd, "ready-timeout", arg, &v)))
			return r;
		p->op.ready_timeout_s = v > 86400 ? 86400 : (int)v;
	}
	p->op.share = cli_arg(a, "share");
	p->op.share_rw = cli_flag(a, "share-rw");
	if (p->op.share_rw && !p->op.share)
		return cli_usage_error(a->cmd, "--share-rw goes with --share DIR");
	if ((arg = cli_arg(a, "id"))) {
		if (!fs_name_is_safe(arg) || strlen(arg) > 36)
			return cli_usage_error(a->cmd, "--id takes a name of at most 36 characters");
		snprintf(id, 37, "%s", arg);
	} else {
		uuid_generate(id);
	}
	p->op.run_id = id;
	if ((r = need(a, "registration", &arg)))
		return r;
	return cli_state_load(arg, "the registration's state (rain target publish --state wrote "
			      "it)", &p->op.registration);
}

/* up: the key pair, the instances, ready. */
static int do_up(struct cli *cli, struct prun *p)
{
	int r = rain_run_keygen(p->work, p->op.run_id, &p->pub);

	if (r < 0)
		return r;
	p->op.key_public = p->pub;
	r = rain_run_up(&p->op);
	if (r == 0)
		r = rain_run_ready(&p->op);
	return r;
}

/* Remove the run's key pair and host keys: nothing of it outlives down. */
static void forget_keys(struct prun *p)
{
	static const char *const names[] = { "key", "key.pub", "known_hosts", "known_hosts.old", NULL };

	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *path = fs_path_join(p->work, names[i]);

		if (path)
			unlink(path);
	}
}

/* After down: the state file keeps only the instances the run had
 * ("history", for raind's record of the run), or goes when it names
 * none. */
static void state_leave_history(struct prun *p)
{
	json_t *h = json_object_get(p->state, "history");
	_cleanup_json_ json_t *left = json_array_size(h) ? json_pack("{s:O}", "history", h) : NULL;

	if (!left || rain_target_state_write(p->st.path, left) < 0)
		unlink(p->st.path);
}

/* down after a failure or an interrupt: not itself canceled by it. */
static int do_down(struct cli *cli, struct prun *p)
{
	int r;

	cli_interrupted = 0;
	r = rain_run_down(&p->op);
	if (r < 0) {
		cli_warn("%s (state kept in %s; run rain provision down)", rain_error_last(), p->st.path);
		return r;
	}
	forget_keys(p);
	return 0;
}

static void on_output(void *ud, size_t instance, const char *line, size_t len)
{
	struct prun *p = ud;

	if (p->multi) {
		const char *name = json_string_value(json_object_get(rain_run_instance(&p->op, instance),
								     "name"));

		printf("[%s] ", name ? name : "?");
	}
	fwrite(line, 1, len, stdout);
	putchar('\n');
	fflush(stdout);
}

/* The exit status for a step's failure r (RAIN_ETIMEDOUT from exec: the
 * job's time limit). */
static int failed(struct cli *cli, int r, const char *what, bool job)
{
	if (cli_interrupted || r == RAIN_ECANCELED) {
		cli_error("%s: interrupted", what);
		return RAIN_RUN_EXIT_INTERRUPTED;
	}
	cli_error("%s", rain_error_last());
	return job && r == RAIN_ETIMEDOUT ? RAIN_RUN_EXIT_TIMEOUT : RAIN_RUN_EXIT_FAILED;
}

/* exec and fetch: the job's exit status, or 124/125/130. */
static int do_exec(struct cli *cli, const struct cli_args *a, struct prun *p)
{
	_cleanup_free_ const char **outs = calloc(a->nopts + 1, sizeof(*outs));
	const char *arg, *outdir = cli_arg(a, "outdir") ? cli_arg(a, "outdir") : ".";
	struct rain_run_job job = {
		.argv = (const char *const *)a->argv, .script = cli_arg(a, "script"),
		.each = cli_flag(a, "each"), .output = on_output, .ud = p,
	};
	size_t nouts = 0;
	int64_t v;
	int r, status;

	if (!outs)
		return cli_error("out of memory");
	if ((arg = cli_arg(a, "walltime"))) {
		if ((r = cli_parse_count(a->cmd, "walltime", arg, &v)))
			return r;
		job.walltime_s = v > INT32_MAX ? INT32_MAX : (int)v;
	}
	if (!job.script && a->argc == 0)
		return cli_usage_error(a->cmd, "give a command after '--' or a --script");
	if (job.script && a->argc)
		return cli_usage_error(a->cmd, "give a command or a --script, not both");
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].opt->name, "out"))
			outs[nouts++] = a->opts[i].value;
	job.out = nouts ? outs : NULL;
	p->multi = job.each && rain_run_instance_count(&p->op) > 1;
	r = rain_run_exec(&p->op, &job, &status);
	if (r < 0)
		return failed(cli, r, "the job", true);
	if (nouts && (r = rain_run_fetch(&p->op, outs, job.each, outdir)) < 0) {
		cli_warn("%s", rain_error_last());
		if (status == 0)
			status = RAIN_RUN_EXIT_FAILED;
	}
	if (status)
		cli_note(cli, "the job exited with status %d", status);
	return status;
}

static int cmd_up_exec(struct cli *cli, const struct cli_args *a)
{
	struct prun p;
	char id[37];
	int r;

	if ((r = prun_open(cli, a, true, &p)) || (r = up_options(a, &p, id)))
		goto done;
	cli_catch_signals(true);
	r = do_up(cli, &p);
	if (r < 0) {
		r = failed(cli, r, "starting the instances", false);
		do_down(cli, &p);
	} else if (cli->json) {
		cli_json_print(p.state);
	} else {
		for (size_t i = 0; i < rain_run_instance_count(&p.op); i++)
			printf("%s\n", json_string_value(json_object_get(rain_run_instance(&p.op, i), "name")));
	}
	cli_catch_signals(false);
done:
	json_decref(p.op.registration);
	prun_clear(&p);
	return r;
}

static int cmd_exec_exec(struct cli *cli, const struct cli_args *a)
{
	struct prun p;
	int r;

	if ((r = prun_open(cli, a, false, &p)) == 0) {
		cli_catch_signals(true);
		r = do_exec(cli, a, &p);
		cli_catch_signals(false);
	}
	prun_clear(&p);
	return r;
}

static int cmd_run_exec(struct cli *cli, const struct cli_args *a)
{
	struct prun p;
	char id[37];
	int r, d;

	if ((r = prun_open(cli, a, true, &p)) || (r = up_options(a, &p, id)))
		goto done;
	if (!cli_arg(a, "script") && a->argc == 0) {
		r = cli_usage_error(a->cmd, "give a command after '--' or a --script");
		goto done;
	}
	cli_catch_signals(true);
	r = do_up(cli, &p);
	if (r < 0)
		r = failed(cli, r, "starting the instances", false);
	else
		r = do_exec(cli, a, &p);
	if (r == RAIN_RUN_EXIT_INTERRUPTED || r == RAIN_RUN_EXIT_FAILED || r == RAIN_RUN_EXIT_TIMEOUT ||
	    !cli_flag(a, "keep")) {
		d = do_down(cli, &p);
		if (d < 0 && r == 0)
			r = RAIN_RUN_EXIT_FAILED;
		if (d == 0)
			state_leave_history(&p);
	} else {
		cli_note(cli, "the instances keep running; take them down with: rain provision down "
			 "--sites ... --site %s --state %s", p.site->name, p.st.path);
	}
	cli_catch_signals(false);
done:
	json_decref(p.op.registration);
	prun_clear(&p);
	return r;
}

static int cmd_down_exec(struct cli *cli, const struct cli_args *a)
{
	struct prun p;
	int r;

	if ((r = prun_open(cli, a, false, &p)) == 0) {
		cli_catch_signals(true);
		r = do_down(cli, &p) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
		cli_catch_signals(false);
	}
	prun_clear(&p);
	return r;
}

static int cmd_status_exec(struct cli *cli, const struct cli_args *a)
{
	_cleanup_json_ json_t *st = NULL;
	struct prun p;
	int r;

	if ((r = prun_open(cli, a, false, &p)) == 0) {
		r = rain_run_status(&p.op, &st);
		if (r < 0) {
			r = cli_fail(cli, r, "", "cannot ask the site");
		} else if (cli->json) {
			cli_json_print(st);
		} else {
			json_t *inst;
			size_t i;

			json_array_foreach(json_object_get(st, "instances"), i, inst) {
				_cleanup_free_ char *safe = cli_sanitize(
					json_string_value(json_object_get(inst, "name")) ?: "?");

				printf("%-40s %s\n", safe ? safe : "?",
				       json_is_true(json_object_get(inst, "alive")) ? "running" : "stopped");
			}
		}
	}
	prun_clear(&p);
	return r;
}
