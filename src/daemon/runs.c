/* raind's runs; see runs.h. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/runs.h"
#include "rain/error.h"
#include "rain/sys/job.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define KIND "run"
#define CANCEL_WAIT_S 90        /* a running run taking its instances down */
#define DOWN_MARGIN_S 3600      /* up and down around the longest walltime */

struct runs {
	struct rain_run_kind *kind;
	struct rain_jobs *jobs;
	bool enabled;
	int max_queued_per_user;
	int max_instances;
	pthread_mutex_t lock;           /* a submission's quota check and submit;
					 * a kept run's down */
};

/* The service's own reads. */
static const struct rain_who service = { .owner = "", .admin = true };

int runs_start(struct runs **out, const struct runs_config *cfg, struct rain_repo *repo)
{
	struct rain_jobs_recovery rec;
	struct rain_jobs_config jc = {
		.workers = cfg->max_concurrent > 0 ? cfg->max_concurrent : 1,
		.max_queued_per_user = cfg->max_queued_per_user,
		.max_submitting_per_user = 4,
		.log = log_jobs,
	};
	struct rain_jobs_kind_config kind = {
		.dir = cfg->dir,
		.timeout_s = cfg->max_walltime_s + DOWN_MARGIN_S,
		.timeout_name = "[runs] max_walltime and an hour to start and stop",
	};
	struct rain_run_kind_config kc = {
		.repo = repo,
		.registrations = registrations_kind(cfg->registrations),
		.rain_command = cfg->rain_command,
		.max_per_run = cfg->max_per_run,
		.max_walltime_s = cfg->max_walltime_s,
		.share_roots = cfg->share_roots,
		.log = log_jobs,
	};
	struct runs *g = calloc(1, sizeof(*g));
	int r;

	*out = NULL;
	if (!g)
		return rain_error_oom();
	pthread_mutex_init(&g->lock, NULL);
	g->enabled = cfg->enabled && cfg->rain_command && kc.registrations;
	g->max_queued_per_user = cfg->max_queued_per_user;
	g->max_instances = cfg->max_instances;
	r = kc.registrations ? rain_run_kind_new(&kc, &g->kind) :
	    rain_error_set(RAIN_EINVAL, "runs need the registration service");
	kind.ud = g->kind;
	if (r == 0)
		r = rain_jobs_open(&g->jobs, &jc, &rain_run_job_kind, &kind, g->enabled, &rec);
	if (r < 0) {
		runs_stop(g);
		return r;
	}
	if (rec.failed)
		log_printf(LOG_WARN, "runs from the previous run of raind: %lld stopped by the restart "
			   "(failed; what they started was taken down)", (long long)rec.failed);
	*out = g;
	return 0;
}

void runs_quiesce(struct runs *g)
{
	if (g)
		rain_jobs_quiesce(g->jobs);
}

void runs_stop(struct runs *g)
{
	if (!g)
		return;
	rain_jobs_stop(g->jobs);
	rain_run_kind_free(g->kind);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

struct rain_jobs *runs_jobs(struct runs *g)
{
	return g ? g->jobs : NULL;
}

/* ---- records ------------------------------------------------------------ */

static bool is_status(json_t *rec, const char *status)
{
	const char *s = json_string_value(json_object_get(rec, "status"));

	return s && !strcmp(s, status);
}

static bool is_active(json_t *rec)
{
	return is_status(rec, "queued") || is_status(rec, "running");
}

/* rec with what exists at the site: "instances" (from the run's state)
 * and "kept" (ended with instances up); and "history", every instance the
 * run had with its address and whether it is up or gone. */
static int add_instances(struct runs *g, json_t *rec)
{
	_cleanup_free_ char *dir = NULL;
	json_t *inst;

	if (rain_jobs_dir(g->jobs, KIND, json_string_value(json_object_get(rec, "id")), &dir) < 0)
		return rain_error_oom();
	inst = rain_run_instances(dir);
	if (!inst || json_object_set_new(rec, "kept", json_boolean(!is_active(rec) &&
								    json_array_size(inst))) < 0 ||
	    json_object_set_new(rec, "instances", inst) < 0 ||
	    json_object_set_new(rec, "history", rain_run_history(dir)) < 0)
		return rain_error_oom();
	return 0;
}

static int record(struct runs *g, const struct rain_who *who, const char *id, json_t **out)
{
	int r = rain_jobs_get(g->jobs, who, RAIN_ACT_JOB_SHOW, KIND, id, out);

	if (r == RAIN_ENOTFOUND)
		r = rain_error_set(RAIN_ENOTFOUND, "no run %s", id);
	if (r == 0 && (r = add_instances(g, *out)) < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

/* The instances owner has in use: n of each queued or running run, the
 * instances of each kept one. */
static int instances_in_use(struct runs *g, const char *owner, int *out)
{
	_cleanup_json_ json_t *list = NULL;
	json_t *rec;
	size_t i;
	int r = rain_jobs_list(g->jobs, &service, RAIN_ACT_JOB_SHOW, KIND, &list);

	*out = 0;
	if (r < 0)
		return r;
	json_array_foreach(list, i, rec) {
		const char *o = json_string_value(json_object_get(rec, "owner"));

		if (!o || strcmp(o, owner))
			continue;
		if (is_active(rec)) {
			*out += (int)json_integer_value(json_object_get(rec, "n"));
		} else if (json_is_true(json_object_get(rec, "keep"))) {
			if (add_instances(g, rec) < 0)
				return rain_error_oom();
			*out += (int)json_array_size(json_object_get(rec, "instances"));
		}
	}
	return 0;
}

int runs_submit(struct runs *g, const struct rain_run_input *in, json_t **out)
{
	struct rain_job_submission *s = NULL;
	const char *owner = in->who->owner ? in->who->owner : "";
	json_t *job = NULL;
	int used = 0, r;

	*out = NULL;
	if (!g->enabled)
		return rain_error_set(RAIN_ECONFLICT, "runs are disabled ([runs] enabled = false, or "
				      "raind cannot find the rain program)");
	r = rain_run_check(g->kind, in, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&g->lock);
	r = instances_in_use(g, owner, &used);
	if (r == 0 && used + in->n > g->max_instances)
		r = rain_error_set(RAIN_EFORBIDDEN, "%s has %d instance(s) in use and may have %d at "
				   "once ([runs] max_instances): %d more are too many; wait for "
				   "runs to end or stop some (rain ps, rain stop RUN)", owner, used,
				   g->max_instances, in->n);
	if (r == 0)
		r = rain_jobs_submit_begin(g->jobs, KIND, owner, &s);
	if (r == 0)
		r = rain_jobs_submit(s, NULL, (void *)in, &job);
	if (r == RAIN_ELIMIT) {
		int queued = 0;

		rain_jobs_user_counts(g->jobs, owner, &queued, NULL, NULL);
		r = rain_error_set(RAIN_ELIMIT, "%s has %d runs queued, as many as one user may "
				   "([runs] max_queued_per_user = %d); wait for some to start",
				   owner, queued, g->max_queued_per_user);
	}
	if (s)
		rain_jobs_submit_end(s);
	pthread_mutex_unlock(&g->lock);
	if (r == 0) {
		log_printf(LOG_INFO, "run %s of image %s at site %s (%d instance(s)) queued for %s",
			   json_string_value(json_object_get(job, "id")),
			   json_string_value(json_object_get(job, "image_id")), in->site, in->n,
			   owner);
		r = add_instances(g, job);
	}
	if (r == 0)
		*out = TAKE_PTR(job);
	json_decref(job);
	return r;
}

int runs_list(struct runs *g, const struct rain_who *who, const char *status, json_t **out)
{
	_cleanup_json_ json_t *all = NULL, *list = json_array();
	enum rain_job_status st;
	bool active = status && !strcmp(status, "active");
	json_t *rec;
	size_t i;
	int r;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	if (status && !active && rain_job_status_parse(status, &st) < 0)
		return rain_error_set(RAIN_EINVAL, "status must be queued, running, succeeded, "
				      "failed, canceled or active, not '%s'", status);
	r = rain_jobs_list(g->jobs, who, RAIN_ACT_JOB_SHOW, KIND, &all);
	if (r < 0)
		return r;
	json_array_foreach(all, i, rec) {
		if (status && !active && !is_status(rec, status))
			continue;
		if (add_instances(g, rec) < 0)
			return rain_error_oom();
		if (active && !is_active(rec) && !json_is_true(json_object_get(rec, "kept")))
			continue;
		if (json_array_append(list, rec) < 0)
			return rain_error_oom();
	}
	*out = json_pack("{s:O}", "runs", list);
	return *out ? 0 : rain_error_oom();
}

int runs_get(struct runs *g, const struct rain_who *who, const char *id, json_t **out)
{
	*out = NULL;
	return record(g, who, id, out);
}

int runs_halt(struct runs *g, const struct rain_who *who, const char *id, json_t **out)
{
	_cleanup_json_ json_t *rec = NULL;
	_cleanup_free_ char *dir = NULL;
	int r;

	*out = NULL;
	r = record(g, who, id, &rec);
	if (r < 0)
		return r;
	if (is_active(rec)) {
		json_t *after = NULL;

		r = rain_jobs_cancel(g->jobs, who, RAIN_ACT_BUILD_CANCEL, KIND, id, CANCEL_WAIT_S,
				     &after);
		json_decref(after);
		if (r == 0)
			log_printf(LOG_INFO, "run %s stopped by %s", id, who->owner);
		/* ended meanwhile: its kept instances, if any, below */
		if (r != RAIN_ECONFLICT)
			return r < 0 ? r : record(g, who, id, out);
		json_decref(rec);
		rec = NULL;
		r = record(g, who, id, &rec);
		if (r < 0)
			return r;
	}
	if (!json_array_size(json_object_get(rec, "instances")))
		return rain_error_set(RAIN_ECONFLICT, "run %s has ended (%s) and nothing of it is up",
				      id, json_string_value(json_object_get(rec, "status")));
	r = rain_jobs_dir(g->jobs, KIND, id, &dir);
	if (r < 0)
		return r;
	pthread_mutex_lock(&g->lock);
	r = rain_run_kind_down(g->kind, json_string_value(json_object_get(rec, "site")), dir);
	pthread_mutex_unlock(&g->lock);
	if (r < 0)
		return rain_error_set(r, "run %s: its instances could not all be taken down: %s", id,
				      rain_error_last());
	log_printf(LOG_INFO, "run %s: its kept instances were taken down by %s", id, who->owner);
	return record(g, who, id, out);
}

int runs_file(struct runs *g, const struct rain_who *who, const char *id, const char *name,
	      int *fd, struct stat *st)
{
	_cleanup_json_ json_t *rec = NULL;
	_cleanup_free_ char *dir = NULL, *out = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	*fd = -1;
	r = record(g, who, id, &rec);
	if (r == 0)
		r = rain_jobs_dir(g->jobs, KIND, id, &dir);
	if (r < 0)
		return r;
	out = fs_path_join(dir, "out");
	if (!out)
		return rain_error_oom();
	dfd = open(out, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rain_error_set(RAIN_ENOTFOUND, "run %s fetched no files", id);
	r = fs_open_regular_beneath(dfd, name, O_RDONLY, false, st);
	if (r == RAIN_ENOTFOUND || r == RAIN_EFORBIDDEN)
		return rain_error_set(RAIN_ENOTFOUND, "run %s fetched no file '%s' (its record's "
				      "\"files\" lists them)", id, name);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}
