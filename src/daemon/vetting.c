/* raind's vetting service; see vetting.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/vetting.h"
#include "rain/error.h"
#include "rain/sys/job.h"

#define KIND "vet"

struct vetting {
	struct rain_vet_kind *kind;
	struct rain_jobs *jobs;
	bool enabled;
	int max_queued_per_user;
};

static void on_log(void *ud, enum rain_jobs_level level, const char *msg)
{
	(void)ud;
	log_printf(level == RAIN_JOBS_ERROR ? LOG_ERROR : level == RAIN_JOBS_WARN ? LOG_WARN :
		   LOG_INFO, "%s", msg);
}

int vetting_start(struct vetting **out, const struct vetting_config *cfg, struct rain_repo *repo)
{
	struct rain_jobs_recovery rec;
	struct rain_jobs_config jc = {
		.workers = cfg->max_concurrent > 0 ? cfg->max_concurrent : 1,
		.max_queued_per_user = cfg->max_queued_per_user,
		.max_submitting_per_user = 4,
		.log = on_log,
	};
	struct rain_vet_kind_config kc = {
		.repo = repo,
		.rain_command = cfg->rain_command,
		.feed = cfg->feed,
		.default_policy = cfg->default_policy,
		.policies = cfg->policies,
		.npolicies = cfg->npolicies,
		.timeout_s = cfg->timeout_s,
		.log = on_log,
	};
	struct rain_jobs_kind_config kind = {
		.dir = cfg->dir,
		.timeout_s = cfg->timeout_s,
		.timeout_name = "[vet] timeout",
	};
	struct vetting *v = calloc(1, sizeof(*v));
	int r;

	*out = NULL;
	if (!v)
		return rain_error_oom();
	v->enabled = cfg->enabled;
	v->max_queued_per_user = cfg->max_queued_per_user;
	r = rain_jobs_new(&v->jobs, &jc);
	if (r == 0)
		r = rain_vet_kind_new(&kc, &v->kind);
	if (r == 0) {
		kind.ud = v->kind;
		r = rain_jobs_add_kind(v->jobs, &rain_vet_job_kind, &kind);
	}
	if (r == 0)
		r = rain_jobs_start(v->jobs, &rec);
	if (r == 0 && cfg->enabled)
		r = rain_jobs_serve(v->jobs);
	if (r < 0) {
		vetting_stop(v);
		return r;
	}
	if (rec.failed || rec.requeued)
		log_printf(LOG_WARN, "vettings from the previous run: %lld stopped by the restart "
			   "(failed; vet those images again), %lld queued again",
			   (long long)rec.failed, (long long)rec.requeued);
	*out = v;
	return 0;
}

void vetting_quiesce(struct vetting *v)
{
	if (v)
		rain_jobs_quiesce(v->jobs);
}

void vetting_stop(struct vetting *v)
{
	if (!v)
		return;
	rain_jobs_stop(v->jobs);
	rain_vet_kind_free(v->kind);
	free(v);
}

struct rain_jobs *vetting_jobs(struct vetting *v)
{
	return v ? v->jobs : NULL;
}

int vetting_submit(struct vetting *v, const struct rain_who *who, const char *id,
		   const char *policy, bool runtime, json_t **out)
{
	struct rain_vet_input in = { .image_id = id, .policy = policy, .runtime = runtime,
				     .who = who };
	struct rain_job_submission *s = NULL;
	const char *owner = who->owner ? who->owner : "";
	int r;

	*out = NULL;
	if (!v->enabled)
		return rain_error_set(RAIN_ECONFLICT, "vetting is disabled ([vet] enabled = false "
				      "in raind's configuration); vet the image yourself with "
				      "'rain vet FILE' after downloading it");
	r = rain_jobs_submit_begin(v->jobs, KIND, owner, &s);
	if (r == 0)
		r = rain_jobs_submit(s, NULL, &in, out);
	if (r == RAIN_ELIMIT) {
		int queued = 0;

		rain_jobs_user_counts(v->jobs, owner, &queued, NULL, NULL);
		r = rain_error_set(RAIN_ELIMIT, "%s has %d vettings queued, as many as one user "
				   "may ([vet] max_queued_per_user = %d); wait for some to finish",
				   owner, queued, v->max_queued_per_user);
	}
	rain_jobs_submit_end(s);
	if (r == 0)
		log_printf(LOG_INFO, "vetting %s of image %s queued for %s",
			   json_string_value(json_object_get(*out, "id")), id, owner);
	return r;
}
