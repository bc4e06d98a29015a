/* Vetting as a job kind; see include/rain/vet-kind.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rain/error.h"
#include "rain/sys/job.h"
#include "rain/vet-kind.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define REPORT_MAX (64 << 20)   /* bytes of a report the child writes */
#define MANIFEST_MAX (16 << 20) /* bytes of a build's manifest */

struct policy {
	char *name;
	char **settings;
	size_t nsettings;
};

struct rain_vet_kind {
	struct rain_vet_kind_config cfg;        /* strings owned below */
	char *rain_command, *feed, *default_policy;
	struct policy *policies;
	size_t npolicies;
};

/* The service's own reads and writes: the submitter's rights were
 * checked when the vetting was submitted. */
static const struct rain_who service = { .owner = "", .admin = true };

static const struct policy *policy_find(const struct rain_vet_kind *k, const char *name)
{
	for (size_t i = 0; i < k->npolicies; i++)
		if (!strcmp(k->policies[i].name, name))
			return &k->policies[i];
	return NULL;
}

static bool policy_known(const struct rain_vet_kind *k, const char *name)
{
	return !strcmp(name, "default") || policy_find(k, name);
}

static int policy_unknown(const struct rain_vet_kind *k, const char *name)
{
	_cleanup_free_ char *known = strdup("default");

	for (size_t i = 0; i < k->npolicies && known; i++) {
		char *more = NULL;

		if (asprintf(&more, "%s, %s", known, k->policies[i].name) < 0)
			more = NULL;
		free(known);
		known = more;
	}
	if (!known)
		return rain_error_oom();
	return rain_error_set(RAIN_EINVAL, "no vetting policy '%s' (known: %s; policies are "
			      "[vet.policy.NAME] sections of raind's configuration)", name, known);
}

/* ---- a job ------------------------------------------------------------ */

static int vet_prepare(void *ud, const char *id, const char *owner, const char *dir,
		       void *input, json_t *data, char **name)
{
	struct rain_vet_kind *k = ud;
	struct rain_vet_input *in = input;
	const char *policy = in->policy ? in->policy : k->default_policy;
	const char *recipe;
	struct rain_image *img = NULL;
	int r;

	(void)id;
	(void)owner;
	if (!policy_known(k, policy))
		return policy_unknown(k, policy);
	r = rain_repo_image_load(k->cfg.repo, in->who, in->image_id, RAIN_ACT_MODIFY, &img);
	if (r < 0)
		return r;
	if (!img->os_hash_value ||
	    (img->status != RAIN_STATUS_ACTIVE && img->status != RAIN_STATUS_DEACTIVATED)) {
		r = rain_error_set(RAIN_ECONFLICT, "image %s has no data to vet (status %s): "
				   "upload it first", img->id, rain_image_status_name(img->status));
		goto out;
	}
	if (in->manifest) {
		_cleanup_free_ char *text = NULL, *path = fs_path_join(dir, "manifest.json");
		size_t len = 0;

		r = path ? fs_read_small(in->manifest, MANIFEST_MAX, &text, &len) : rain_error_oom();
		if (r == 0)
			r = fs_write_atomic(path, text, len, 0600);
		if (r < 0)
			goto out;
	}
	recipe = rain_image_prop_get(img, "rain_recipe");
	if (recipe) {
		_cleanup_free_ char *path = fs_path_join(dir, "recipe");

		r = path ? fs_write_atomic(path, recipe, strlen(recipe), 0600) : rain_error_oom();
		if (r < 0)
			goto out;
	}
	if (json_object_set_new(data, "image_id", json_string(img->id)) < 0 ||
	    json_object_set_new(data, "policy", json_string(policy)) < 0 ||
	    json_object_set_new(data, "runtime", json_boolean(in->runtime)) < 0 ||
	    !(*name = strdup(img->name ? img->name : img->id)))
		r = rain_error_oom();
out:
	rain_image_free(img);
	return r;
}

static int vet_check(void *ud, json_t *data)
{
	json_t *img = json_object_get(data, "image_id"), *rt = json_object_get(data, "runtime");

	(void)ud;
	if (!json_is_string(img) || !uuid_is_valid(json_string_value(img)))
		return rain_error_set(RAIN_EFORMAT, "bad vetting record: field 'image_id'");
	if (!json_is_string(json_object_get(data, "policy")))
		return rain_error_set(RAIN_EFORMAT, "bad vetting record: field 'policy'");
	if (rt && !json_is_boolean(rt))
		return rain_error_set(RAIN_EFORMAT, "bad vetting record: field 'runtime'");
	return 0;
}

static int read_report(const char *path, json_t **out)
{
	json_error_t err;
	struct stat st;

	if (stat(path, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "rain vet left no report");
	if (st.st_size > REPORT_MAX)
		return rain_error_set(RAIN_ETOOBIG, "rain vet's report has %lld bytes",
				      (long long)st.st_size);
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EFORMAT, "rain vet's report is not a JSON object: %s",
				      err.text);
	}
	return 0;
}

static int vet_run(void *ud, struct rain_job_run *job, json_t *data)
{
	struct rain_vet_kind *k = ud;
	const char *image_id = json_string_value(json_object_get(data, "image_id"));
	const char *policy = json_string_value(json_object_get(data, "policy"));
	_cleanup_free_ char *report_path = fs_path_join(job->dir, "report.json");
	_cleanup_free_ char *recipe = fs_path_join(job->dir, "recipe");
	_cleanup_free_ char *manifest = fs_path_join(job->dir, "manifest.json");
	_cleanup_free_ char *file = NULL;
	const char *argv[32 + 2 * RAIN_VET_KIND_SETTINGS_MAX];
	const struct policy *p = policy ? policy_find(k, policy) : NULL;
	struct rain_image *img = NULL;
	struct rain_blob_reader rd = { .fd = -1 };
	json_t *report = NULL, *counts;
	const char *verdict;
	int n = 0, status = -1, r;

	if (!report_path || !recipe || !manifest)
		return rain_error_oom();
	if (!k->rain_command)
		return rain_error_set(RAIN_EINVAL, "raind cannot find the rain program; set [vet] "
				      "rain_command");
	if (!policy_known(k, policy))
		return policy_unknown(k, policy);
	r = rain_repo_data_open(k->cfg.repo, &service, image_id, &img, &rd);
	if (r < 0)
		return r;
	r = rain_job_image_file(job, k->cfg.repo, &rd, &file);
	if (r < 0)
		goto out;
	argv[n++] = k->rain_command;
	argv[n++] = "vet";
	argv[n++] = file;
	argv[n++] = "--json";
	argv[n++] = "--quiet";
	argv[n++] = "-o";
	argv[n++] = report_path;
	argv[n++] = "--policy";
	argv[n++] = policy;
	for (size_t i = 0; p && i < p->nsettings; i++) {
		argv[n++] = "--set";
		argv[n++] = p->settings[i];
	}
	/* the feed as it is now (an admin may replace it any time) */
	if (k->feed && access(k->feed, F_OK) == 0) {
		argv[n++] = "--feed";
		argv[n++] = k->feed;
	}
	if (access(recipe, F_OK) == 0) {
		argv[n++] = "--recipe";
		argv[n++] = recipe;
	}
	if (access(manifest, F_OK) == 0) {
		argv[n++] = "--manifest";
		argv[n++] = manifest;
	}
	if (json_is_true(json_object_get(data, "runtime")))
		argv[n++] = "--runtime";
	argv[n] = NULL;
	rain_job_log(job, "== raind: vetting image %s (%s, %s) for %s with policy %s", img->id,
		     img->name ? img->name : "no name", img->disk_format ? img->disk_format : "?",
		     job->owner, policy);
	r = rain_job_run_program(job, argv, NULL, "rain vet", "[vet] timeout", &status);
	/* vetted, and the image failed the policy: a verdict all the same */
	if (r == RAIN_EIO && status == RAIN_VET_EXIT_FAILED)
		r = 0;
	if (r == 0)
		r = read_report(report_path, &report);
	if (r < 0)
		goto out;
	verdict = json_string_value(json_object_get(report, "verdict"));
	if (!verdict || (strcmp(verdict, "passed") && strcmp(verdict, "warned") &&
			 strcmp(verdict, "failed"))) {
		r = rain_error_set(RAIN_EFORMAT, "rain vet's report has no verdict");
		goto out;
	}
	{
		struct rain_vetting v = {
			.sha256 = img->os_hash_value,
			.verdict = verdict,
			.policy = policy,
			.feed = json_string_value(json_object_get(json_object_get(report, "feed"),
								  "date")),
			.report = report,
		};

		r = rain_repo_vetting_set(k->cfg.repo, &service, img->id, &v);
	}
	if (r < 0) {
		r = rain_error_set(r, "the image was vetted (%s) but the verdict was not kept: %s",
				   verdict, rain_error_last());
		goto out;
	}
	counts = json_object_get(report, "counts");
	rain_job_set(job, "verdict", json_string(verdict));
	rain_job_set(job, "sha256", json_string(img->os_hash_value));
	if (counts)
		rain_job_set(job, "counts", json_incref(counts));
	rain_job_log(job, "== raind: image %s %s vetting with policy %s", img->id,
		     !strcmp(verdict, "failed") ? "failed" : !strcmp(verdict, "warned") ?
		     "passed, with warnings," : "passed", policy);
out:
	json_decref(report);
	if (rd.impl || rd.fd >= 0)
		rain_repo_download_close(k->cfg.repo, &rd);
	rain_image_free(img);
	return r;
}

static void vet_finished(void *ud, struct rain_job_run *job, enum rain_job_status st,
			 const char *error)
{
	_cleanup_free_ char *copy = fs_path_join(job->dir, "data");

	(void)ud;
	/* a copy of the data is not kept once vetted */
	if (copy)
		unlink(copy);
	rain_job_log(job, "== raind: vetting %s %s after %.1f s%s%s", job->id,
		     rain_job_status_name(st),
		     (double)(time_mono_us() - job->started_mono_us) / 1e6, error ? ": " : "",
		     error ? error : "");
}

const struct rain_job_kind rain_vet_job_kind = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "vet",
	.record_file = "vet.json",
	.stopped_msg = "raind stopped during the vetting",
	.prepare = vet_prepare,
	.run = vet_run,
	.check = vet_check,
	.finished = vet_finished,
};

/* ---- the kind --------------------------------------------------------- */

int rain_vet_kind_new(const struct rain_vet_kind_config *cfg, struct rain_vet_kind **out)
{
	struct rain_vet_kind *k = calloc(1, sizeof(*k));
	int r = 0;

	*out = NULL;
	if (!k)
		return rain_error_oom();
	k->cfg = *cfg;
	if ((cfg->rain_command && !(k->rain_command = strdup(cfg->rain_command))) ||
	    (cfg->feed && !(k->feed = strdup(cfg->feed))) ||
	    !(k->default_policy = strdup(cfg->default_policy ? cfg->default_policy : "default")) ||
	    (cfg->npolicies && !(k->policies = calloc(cfg->npolicies, sizeof(*k->policies)))))
		r = rain_error_oom();
	for (size_t i = 0; r == 0 && i < cfg->npolicies; i++) {
		const struct rain_vet_kind_policy *in = &cfg->policies[i];
		struct policy *p = &k->policies[k->npolicies++];

		p->name = strdup(in->name);
		if (!p->name)
			r = rain_error_oom();
		for (const char *const *s = in->settings; r == 0 && s && *s; s++) {
			if (p->nsettings == RAIN_VET_KIND_SETTINGS_MAX)
				r = rain_error_set(RAIN_ETOOBIG, "vetting policy '%s' has more than "
						   "%d settings", in->name, RAIN_VET_KIND_SETTINGS_MAX);
			else
				r = strv_add(&p->settings, &p->nsettings, *s);
		}
	}
	if (r == 0 && !policy_known(k, k->default_policy))
		r = policy_unknown(k, k->default_policy);
	if (r < 0) {
		rain_vet_kind_free(k);
		return r;
	}
	k->cfg.rain_command = k->rain_command;
	k->cfg.feed = k->feed;
	k->cfg.default_policy = k->default_policy;
	k->cfg.policies = NULL;
	*out = k;
	return 0;
}

void rain_vet_kind_free(struct rain_vet_kind *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->npolicies; i++) {
		free(k->policies[i].name);
		strv_free(k->policies[i].settings, k->policies[i].nsettings);
	}
	free(k->policies);
	free(k->rain_command);
	free(k->feed);
	free(k->default_policy);
	free(k);
}
