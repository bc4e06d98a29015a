/* rain vet FILE|IMAGE: vet an image (rain/vet.h), here from a file, or in
 * raind for a repository image; rain vet feed ...: vulnerability feeds
 * (cmd/vet-feed.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/recipe.h"
#include "rain/vet-feed.h"
#include "rain/vet-kind.h"
#include "rain/vet-runtime.h"
#include "rain/vet.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"


static int cmd_vet_exec(struct cli *cli, const struct cli_args *a);

enum { OPT_POLICY = 0x500, OPT_SET, OPT_FEED, OPT_RECIPE, OPT_FORMAT,
       OPT_REMOTE, OPT_OUTPUT, OPT_RUNTIME, OPT_MANIFEST };

static const struct cli_opt vet_opts[] = {
	CLI_OPT("policy", 0, "NAME", OPT_POLICY, "the policy to vet against (default: \"default\";\n"
		"with --remote, one of the server's)"),
	CLI_OPT("set", 0, "KEY=VALUE", OPT_SET, "change the policy (repeatable): RULE=fail|warn|ignore,\n"
		"fail_severity, allowed_kernels, allowed_setuid,\n"
		"unsafe_services, max_feed_age; see rain-vet(1)"),
	CLI_OPT("feed", 0, "FILE", OPT_FEED, "the vulnerability feed (rain vet feed build|import);\n"
		"without it no package is checked for vulnerabilities"),
	CLI_OPT("recipe", 0, "FILE", OPT_RECIPE, "the image's recipe: its users' ssh keys are the\n"
		"authorized_keys the image may hold"),
	CLI_OPT("manifest", 0, "FILE", OPT_MANIFEST, "the manifest.json of the build that made the\n"
		"image: its packages are compared with the image's"),
	CLI_OPT("format", 0, "F", OPT_FORMAT, "what FILE is: dir, tar, ext4, squashfs, disk, qcow2\n"
		"(default: told from its content)"),
	CLI_OPT("runtime", 0, NULL, OPT_RUNTIME, "also boot the image under qemu, without network\n"
		"and never changing it, and check what runs:\n"
		"listening sockets, failed units, the kernel"),
	CLI_OPT("output", 'o', "FILE", OPT_OUTPUT, "also write the report (JSON) to FILE"),
	CLI_OPT("remote", 0, NULL, OPT_REMOTE, "vet the repository image IMAGE in the server, which\n"
		"keeps the report with it (default when IMAGE is not\n"
		"a file here)"),
	{ 0 },
};

static const struct cli_cmd *const vet_table[] = {
	&cmd_vet_feed_entry,
	NULL,
};

const struct cli_cmd cmd_vet_entry = {
	.name = "vet",
	.usage = "FILE|IMAGE [OPTIONS] | feed build|import|show|export ...",
	.summary = "vet an image: vulnerabilities, tampering, accounts, services",
	.opts = vet_opts,
	.args = { 1, 1, "give one image file or repository image" },
	.help =
		"Reads the image without mounting it and without running anything from\n"
		"it: a directory, tar (.zst, .gz, .xz), ext4, squashfs, a raw disk (MBR\n"
		"or GPT) or qcow2. Prints a summary, or the report with --json. The exit\n"
		"status is 0 when the image passed (with or without warnings), 3 when it\n"
		"failed the policy, 1 on errors.\n"
		"\n"
		"rain vet feed build|import|show|export: vulnerability feeds (see\n"
		"'rain vet feed --help').\n",
	.exec = cmd_vet_exec,
	.table = vet_table,
	.prefix = "rain",
};

/* The ssh keys the recipe declares, as a NULL-terminated vector of
 * *n keys (free with strv_free(*out, *n + 1)). */
static int declared_keys(const char *path, char ***out, size_t *n)
{
	struct rain_recipe *r = NULL;
	size_t total = 0;
	int ret;

	*out = NULL;
	*n = 0;
	ret = rain_recipe_parse_file(path, &r);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < r->nusers; i++)
		total += r->users[i].nssh_keys;
	*out = calloc(total + 1, sizeof(**out));
	if (!*out)
		ret = rain_error_oom();
	for (size_t i = 0; ret == 0 && i < r->nusers; i++)
		for (size_t k = 0; ret == 0 && k < r->users[i].nssh_keys; k++)
			if (!((*out)[(*n)++] = strdup(r->users[i].ssh_keys[k])))
				ret = rain_error_oom();
	rain_recipe_free(r);
	return ret;
}

struct walk_view {
	const struct cli *cli;
	bool tty;
	int64_t last_us;
};

static void on_progress(void *ud, uint64_t entries)
{
	struct walk_view *v = ud;
	int64_t now = time_mono_us();

	if (v->cli->quiet || now - v->last_us < (v->tty ? 100000 : 5000000))
		return;
	v->last_us = now;
	if (v->tty)
		fprintf(stderr, "\rvetting: %llu files read", (unsigned long long)entries);
	else
		fprintf(stderr, "vetting: %llu files read\n", (unsigned long long)entries);
}

/* Print the report as --json or the summary says, write it to -o, and
 * give the exit status its verdict means. */
static int report_out(const struct cli *cli, const struct cli_args *a, json_t *report)
{
	const char *out = cli_arg(a, "output");
	enum rain_vet_verdict verdict;
	int r = rain_vet_report_verdict(report, &verdict);

	if (r < 0)
		return cli_error("the report has no verdict: %s", rain_error_last());
	if (out) {
		_cleanup_free_ char *text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);

		if (!text)
			return cli_error("out of memory");
		r = fs_write_atomic(out, text, strlen(text), 0644);
		if (r < 0)
			return cli_error("cannot write the report: %s", rain_error_last());
	}
	if (cli->json) {
		cli_json_print(report);
	} else if (!cli->quiet || !out) {
		_cleanup_free_ char *text = NULL;

		r = rain_vet_report_text(report, &text);
		if (r < 0)
			return cli_error("cannot summarize the report: %s", rain_error_last());
		fputs(text, stdout);
	}
	return verdict == RAIN_VET_FAILED ? RAIN_VET_EXIT_FAILED : CLI_EXIT_OK;
}

static void on_console(void *ud, const char *line)
{
	const struct cli *cli = ud;

	if (!cli->quiet)
		fprintf(stderr, "%s\n", line);
}

/* Boot the image, collect what runs, add the runtime rules' findings. */
static int runtime_check(struct cli *cli, struct rain_imgfs *fs, const char *file,
			 const struct rain_vet_policy *policy, json_t *report)
{
	struct rain_vet_runtime_options o = {
		.cancel = (volatile int *)&cli_interrupted,
		.log = on_console,
		.log_ud = cli,
	};
	json_t *facts = NULL;
	int r;

	cli_note(cli, "runtime check: booting %s under qemu (no network, a snapshot)", file);
	cli_catch_signals(true);
	r = rain_vet_runtime(fs, file, &o, &facts);
	cli_catch_signals(false);
	if (r == 0)
		r = rain_vet_runtime_findings(report, facts, policy);
	json_decref(facts);
	return r;
}

static int vet_local(struct cli *cli, const struct cli_args *a, const char *file)
{
	const char *format = cli_arg(a, "format");
	const char *name = cli_arg(a, "policy") ? cli_arg(a, "policy") : "default";
	struct rain_vet_options opts = { 0 };
	struct walk_view view = { .cli = cli, .tty = isatty(2) };
	struct rain_vet_policy *policy = NULL;
	struct rain_vet_feed *feed = NULL;
	struct rain_imgfs *fs = NULL;
	json_t *report = NULL, *manifest = NULL;
	char **keys = NULL;
	size_t nkeys = 0;
	int r, status = CLI_EXIT_FAIL;

	r = rain_vet_policy_new(name, &policy);
	if (r < 0) {
		status = cli_fail(cli, r, "see rain-vet(1) for policies", "policy '%s'", name);
		goto out;
	}
	for (size_t i = 0; i < a->nopts; i++) {
		_cleanup_free_ char *key = NULL, *value = NULL;

		if (a->opts[i].opt->key != OPT_SET)
			continue;
		status = cli_parse_property(a->cmd, a->opts[i].value, &key, &value);
		if (status)
			goto out;
		status = CLI_EXIT_FAIL;
		r = rain_vet_policy_set(policy, key, value);
		if (r < 0) {
			status = cli_usage_error(a->cmd, "--set %s: %s", a->opts[i].value,
						 rain_error_last());
			goto out;
		}
	}
	if (cli_arg(a, "feed")) {
		r = rain_vet_feed_load(&feed, cli_arg(a, "feed"));
		if (r < 0) {
			status = cli_fail(cli, r, "make one with 'rain vet feed build' or 'rain vet "
					  "feed import'", "feed %s", cli_arg(a, "feed"));
			goto out;
		}
	}
	if (cli_arg(a, "recipe")) {
		r = declared_keys(cli_arg(a, "recipe"), &keys, &nkeys);
		if (r < 0) {
			status = cli_fail(cli, r, NULL, "recipe %s", cli_arg(a, "recipe"));
			goto out;
		}
	}
	if (cli_arg(a, "manifest")) {
		json_error_t err;

		manifest = json_load_file(cli_arg(a, "manifest"), JSON_REJECT_DUPLICATES, &err);
		if (!json_is_object(manifest)) {
			status = cli_error("%s is not a build's manifest.json: %s (line %d)",
					   cli_arg(a, "manifest"), manifest ? "not an object" : err.text,
					   err.line);
			goto out;
		}
	}
	r = rain_imgfs_open(file, format, NULL, &fs);
	if (r < 0) {
		status = cli_fail(cli, r, "give --format if the kind of image is known",
				  "cannot read %s", file);
		goto out;
	}
	cli_note(cli, "vetting %s (%s) with policy %s%s%s", file, rain_imgfs_info(fs)->detail,
		 name, feed ? " and the feed of " : ", no vulnerability feed",
		 feed ? rain_vet_feed_release(feed) : "");
	opts.policy = policy;
	opts.feed = feed;
	opts.declared_keys = (const char *const *)keys;
	opts.manifest = manifest;
	opts.cancel = (volatile int *)&cli_interrupted;
	opts.progress = on_progress;
	opts.progress_ud = &view;
	cli_catch_signals(true);
	r = rain_vet_run(fs, &opts, &report);
	cli_catch_signals(false);
	if (view.tty && view.last_us && !cli->quiet)
		fputs("\r\033[K", stderr);
	if (r < 0) {
		status = cli_fail(cli, r, NULL, "cannot vet %s", file);
		goto out;
	}
	if (cli_flag(a, "runtime")) {
		r = runtime_check(cli, fs, file, policy, report);
		if (r < 0) {
			status = cli_fail(cli, r, NULL, "the runtime check of %s failed", file);
			goto out;
		}
	}
	status = report_out(cli, a, report);
out:
	json_decref(report);
	json_decref(manifest);
	rain_imgfs_close(fs);
	rain_vet_feed_free(feed);
	rain_vet_policy_free(policy);
	strv_free(keys, nkeys);
	return status;
}

int cli_vet_remote(struct cli *cli, const char *id, const char *label, const char *policy,
		   bool runtime, json_t **job)
{
	struct rain_client *c;
	const char *status;
	char job_id[37];
	int r;

	*job = NULL;
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_vet(c, id, policy, runtime, job);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot vet image %s", label);
	snprintf(job_id, sizeof(job_id), "%s", cli_json_str(*job, "id") ? cli_json_str(*job, "id") : "");
	json_decref(*job);
	*job = NULL;
	cli_note(cli, "vetting %s as job %s", label, job_id);
	cli_catch_signals(true);
	r = cli_job_follow(cli, "vetting", job_id, cli->quiet || cli->json ? NULL : stderr, false,
			   job);
	cli_catch_signals(false);
	if (r == CLI_EXIT_FAIL && cli_interrupted)
		return cli_error("stopped following vetting %s; it goes on in the server, which "
				 "keeps its report with the image ('rain image show %s')", job_id, label);
	if (r)
		return r;
	status = cli_json_str(*job, "status");
	if (!status || strcmp(status, "succeeded"))
		return cli_error("vetting %s of %s %s: %s", job_id, label, status ? status : "?",
				 cli_json_str(*job, "error") ? cli_json_str(*job, "error") :
				 "no reason given");
	return CLI_EXIT_OK;
}

static int vet_remote(struct cli *cli, const struct cli_args *a, const char *ref)
{
	struct rain_client *c;
	json_t *job = NULL, *report = NULL;
	char id[37];
	int r, ret = CLI_EXIT_FAIL;

	if (cli_arg(a, "set") || cli_arg(a, "feed") || cli_arg(a, "recipe") || cli_arg(a, "format") ||
	    cli_arg(a, "manifest"))
		return cli_usage_error(a->cmd, "--set, --feed, --recipe, --manifest and --format are "
				       "for a file vetted here; the server vets with its own "
				       "policies (--policy) and feed");
	r = cli_image_resolve(cli, ref, id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	ret = cli_vet_remote(cli, id, ref, cli_arg(a, "policy"), cli_flag(a, "runtime"), &job);
	if (ret)
		goto out;
	ret = CLI_EXIT_FAIL;
	r = rain_client_vetting_get(c, id, &report);
	if (r < 0) {
		ret = cli_fail(cli, r, NULL, "cannot get the vetting report of %s", ref);
		goto out;
	}
	ret = report_out(cli, a, report);
out:
	json_decref(job);
	json_decref(report);
	return ret;
}

static int cmd_vet_exec(struct cli *cli, const struct cli_args *a)
{
	const char *target = a->argv[0];
	struct stat st;

	if (cli_flag(a, "remote"))
		return vet_remote(cli, a, target);
	if (stat(target, &st) == 0 || strchr(target, '/'))
		return vet_local(cli, a, target);
	return vet_remote(cli, a, target);
}
