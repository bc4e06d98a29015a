/* raind's build service: builds.h's calls mapped onto the job engine
 * (rain/jobs.h) with builds as its kind (rain/build-kind.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/builds.h"
#include "daemon/log.h"
#include "rain/build-kind.h"
#include "rain/error.h"
#include "rain/jobs-token.h"
#include "rain/jobs.h"
#include "rain/policy.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define CANCEL_WAIT_S 60        /* how long a cancel waits for a running build */
#define KIND "build"

struct builds {
	struct builds_config cfg;       /* strings owned below */
	char *disabled_why, *admin_token;
	struct rain_jobs_tokens tokens;
	struct rain_build_kind *kind;
	struct rain_jobs *jobs;
	bool serving;
};

struct builds_submission {
	struct builds *b;
	struct rain_job_submission *s;
	struct rain_who who;
};

struct builds_log {
	struct rain_job_log *l;
};

/* A job record as the builds API shows it: no kind, a link to the log. */
static json_t *as_build(json_t *j)
{
	char link[80];

	if (!j)
		return NULL;
	json_object_del(j, "kind");
	snprintf(link, sizeof(link), "/rain/v1/builds/%s/log",
		 json_string_value(json_object_get(j, "id")));
	json_object_set_new(j, "log", json_string(link));
	return j;
}

/* The engine's RAIN_ELIMIT as this service says it (HTTP 429): at the
 * beginning of a submission either limit, when it is queued the queued
 * one. */
static int limit_error(struct builds *b, const char *owner, bool queuing)
{
	int queued = 0, submitting = 0;

	rain_jobs_user_counts(b->jobs, owner, &queued, NULL, &submitting);
	if (!queuing && submitting >= BUILDS_SUBMITTING_MAX)
		return rain_error_set(BUILDS_ELIMIT, "%s has %d build submissions being received "
				      "already, as many as one user may send at once; wait for "
				      "their answers, then send this one again", owner, submitting);
	return rain_error_set(BUILDS_ELIMIT, "%s has %d builds queued, as many as one user may "
			      "([builds] max_queued_per_user = %d); submit more once some have "
			      "started, or cancel some (rain build cancel ID)", owner, queued,
			      b->cfg.max_queued_per_user);
}

struct rain_jobs *builds_jobs(struct builds *b)
{
	return b->jobs;
}

const char *builds_unavailable(struct builds *b)
{
	if (!b->cfg.enabled)
		return b->disabled_why;
	return NULL;
}

int builds_submit_begin(struct builds *b, const struct rain_who *who,
			struct builds_submission **out)
{
	struct builds_submission *sub;
	const char *owner = who->owner ? who->owner : "";
	int r;

	*out = NULL;
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return rain_error_oom();
	r = rain_jobs_submit_begin(b->jobs, KIND, owner, &sub->s);
	if (r == RAIN_ELIMIT)
		r = limit_error(b, owner, false);
	if (r < 0) {
		free(sub);
		return r;
	}
	sub->b = b;
	sub->who = *who;
	sub->who.owner = owner;
	*out = sub;
	return 0;
}

void builds_submit_end(struct builds_submission *sub)
{
	if (!sub)
		return;
	rain_jobs_submit_end(sub->s);
	free(sub);
}

int builds_submit(struct builds_submission *sub, json_t *body, bool (*gone)(void *ud), void *ud,
		  json_t **out)
{
	struct rain_build_input in = { .body = body, .who = &sub->who, .gone = gone, .gone_ud = ud };
	json_t *rec = NULL;
	int r;

	*out = NULL;
	r = rain_jobs_submit(sub->s, NULL, &in, &rec);
	if (r == RAIN_ELIMIT)
		r = limit_error(sub->b, sub->who.owner, true);
	if (r == RAIN_ECANCELED)
		log_printf(LOG_INFO, "a build submission of %s was dropped: %s", sub->who.owner,
			   rain_error_last());
	if (r < 0)
		return r;
	log_printf(LOG_INFO, "build %s (%s) queued for %s (%zu files, %lld bytes; checked in "
		   "%.1f ms, written in %.1f ms)", json_string_value(json_object_get(rec, "id")),
		   json_string_value(json_object_get(rec, "name")), sub->who.owner, in.nfiles,
		   (long long)in.bytes, (double)in.check_us / 1000, (double)in.write_us / 1000);
	*out = as_build(rec);
	return 0;
}

int builds_get(struct builds *b, const struct rain_who *who, const char *id, json_t **out)
{
	_cleanup_free_ char *dir = NULL, *manifest = NULL;
	json_t *j = NULL;
	int r;

	*out = NULL;
	r = rain_jobs_get(b->jobs, who, RAIN_ACT_BUILD_SHOW, KIND, id, &j);
	if (r < 0)
		return r;
	if (!strcmp(json_string_value(json_object_get(j, "status")), "succeeded") &&
	    rain_jobs_dir(b->jobs, KIND, id, &dir) == 0 &&
	    (manifest = fs_path_join(dir, "out/manifest.json"))) {
		json_t *m = json_load_file(manifest, 0, NULL);

		if (m)
			json_object_set_new(j, "manifest", m);
	}
	*out = as_build(j);
	return 0;
}

int builds_file(struct builds *b, const struct rain_who *who, const char *id, const char *name,
		int *fd, struct stat *st)
{
	_cleanup_free_ char *dir = NULL, *out = NULL;
	_cleanup_json_ json_t *j = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	*fd = -1;
	r = rain_jobs_get(b->jobs, who, RAIN_ACT_BUILD_SHOW, KIND, id, &j);
	if (r == 0)
		r = rain_jobs_dir(b->jobs, KIND, id, &dir);
	if (r < 0)
		return r;
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return rain_error_set(RAIN_ENOTFOUND, "build %s has no file '%s'", id, name);
	out = fs_path_join(dir, "out");
	if (!out)
		return rain_error_oom();
	dfd = open(out, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rain_error_set(RAIN_ENOTFOUND, "build %s has no outputs (it has not succeeded)",
				      id);
	r = fs_open_regular_beneath(dfd, name, O_RDONLY, false, st);
	if (r == RAIN_ENOTFOUND || r == RAIN_EFORBIDDEN)
		return rain_error_set(RAIN_ENOTFOUND, "build %s has no file '%s' (its manifest's "
				      "outputs list them)", id, name);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

int builds_list(struct builds *b, const struct rain_who *who, json_t **out)
{
	json_t *list = NULL, *v;
	size_t i;
	int r;

	*out = NULL;
	r = rain_jobs_list(b->jobs, who, RAIN_ACT_BUILD_SHOW, KIND, &list);
	if (r < 0)
		return r;
	json_array_foreach(list, i, v)
		as_build(v);
	*out = json_pack("{s:o}", "builds", list);
	return *out ? 0 : rain_error_oom();
}

int builds_cancel(struct builds *b, const struct rain_who *who, const char *id, json_t **out)
{
	json_t *j = NULL;
	int r;

	*out = NULL;
	r = rain_jobs_cancel(b->jobs, who, RAIN_ACT_BUILD_CANCEL, KIND, id, CANCEL_WAIT_S, &j);
	if (r == 0)
		*out = as_build(j);
	return r;
}

int builds_delete(struct builds *b, const struct rain_who *who, const char *id)
{
	return rain_jobs_delete(b->jobs, who, RAIN_ACT_BUILD_DELETE, KIND, id);
}

int64_t builds_count_owned(struct builds *b, const char *owner)
{
	return rain_jobs_count_owned(b->jobs, KIND, owner);
}

int builds_log_open(struct builds *b, const struct rain_who *who, const char *id,
		    int64_t offset, bool follow, struct builds_log **out)
{
	struct builds_log *l = calloc(1, sizeof(*l));
	int r;

	*out = NULL;
	if (!l)
		return rain_error_oom();
	r = rain_jobs_log_open(b->jobs, who, RAIN_ACT_BUILD_SHOW, KIND, id, offset, follow, &l->l);
	if (r < 0) {
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

ssize_t builds_log_read(struct builds_log *l, char *buf, size_t max)
{
	return rain_jobs_log_read(l->l, buf, max);
}

bool builds_log_more(struct builds_log *l)
{
	return rain_jobs_log_more(l->l);
}

bool builds_log_ready(struct builds_log *l)
{
	return rain_jobs_log_ready(l->l);
}

void builds_wait_change(struct builds *b, int timeout_ms)
{
	rain_jobs_wait_change(b->jobs, timeout_ms);
}

void builds_log_close(struct builds_log *l)
{
	if (!l)
		return;
	rain_jobs_log_close(l->l);
	free(l);
}

int builds_worker_log(struct builds *b, const char *id, const char *token, const char *text,
		      size_t len)
{
	return rain_build_kind_worker_log(b->kind, id, token, text, len);
}

int builds_worker_output_open(struct builds *b, const char *id, const char *token,
			      const char *name, int *fd)
{
	return rain_build_kind_worker_output_open(b->kind, id, token, name, fd);
}

int builds_worker_output_commit(struct builds *b, const char *id, const char *token,
				const char *name, int fd)
{
	return rain_build_kind_worker_output_commit(b->kind, id, token, name, fd);
}

int builds_worker_done(struct builds *b, const char *id, const char *token, bool ok,
		       const char *error)
{
	return rain_build_kind_worker_done(b->kind, id, token, ok, error);
}

/* ---- start-up and shutdown --------------------------------------------- */

int builds_start(struct builds **out, const struct builds_config *cfg, struct rain_repo *repo,
		 struct builds_recovery *rec)
{
	struct rain_jobs_recovery jr;
	struct rain_jobs_config jc = {
		.workers = cfg->max_concurrent,
		.max_queued_per_user = cfg->max_queued_per_user,
		.max_running_per_user = cfg->max_running_per_user,
		.max_submitting_per_user = BUILDS_SUBMITTING_MAX,
		.log = log_jobs,
		.token_mint = rain_jobs_token_mint,
		.token_revoke = rain_jobs_token_revoke,
	};
	struct rain_build_kind_config kc = {
		.repo = repo,
		.cache_dir = cfg->cache_dir,
		.rain_command = cfg->rain_command,
		.limits = cfg->limits,
		.max_files = cfg->max_files,
		.timeout_s = cfg->timeout_s,
		.backend = cfg->backend,
		.slurm_partition = cfg->slurm_partition,
		.slurm_account = cfg->slurm_account,
		.slurm_conf = cfg->slurm_conf,
		.slurm_time_limit_s = cfg->slurm_time_limit_s,
		.log = log_jobs,
		.stored = cfg->stored,
		.stored_ud = cfg->stored_ud,
	};
	struct rain_jobs_kind_config kind = {
		.dir = cfg->dir,
		.timeout_s = cfg->timeout_s,
		.timeout_name = "[builds] timeout",
	};
	struct builds *b;
	int r;

	*out = NULL;
	if (rec)
		memset(rec, 0, sizeof(*rec));
	b = calloc(1, sizeof(*b));
	if (!b)
		return rain_error_oom();
	b->cfg = *cfg;
	b->disabled_why = strdup(cfg->disabled_why ? cfg->disabled_why : "the build service is disabled");
	b->admin_token = cfg->admin_token ? strdup(cfg->admin_token) : NULL;
	if (!b->disabled_why || (cfg->admin_token && !b->admin_token)) {
		builds_stop(b);
		return rain_error_oom();
	}
	b->cfg.disabled_why = b->disabled_why;
	b->cfg.admin_token = b->admin_token;
	/* (the engine copies dir; the kind cache_dir and rain_command) */
	b->cfg.dir = b->cfg.cache_dir = b->cfg.rain_command = NULL;
	b->cfg.backend = b->cfg.slurm_partition = b->cfg.slurm_account = b->cfg.slurm_conf = NULL;
	/* builds of the service token belong to "admin" */
	b->tokens.service_owner = "admin";
	b->tokens.service_token = b->admin_token;
	jc.ud = &b->tokens;
	b->tokens.identity = cfg->identity;
	r = rain_jobs_new(&b->jobs, &jc);
	if (r == 0)
		r = rain_build_kind_new(&kc, &b->kind);
	if (r == 0) {
		rain_build_kind_attach(b->kind, b->jobs);
		kind.ud = b->kind;
		r = rain_jobs_add_kind(b->jobs, &rain_build_job_kind, &kind);
	}
	if (r == 0)
		r = rain_jobs_start(b->jobs, &jr);
	if (r < 0) {
		builds_stop(b);
		return r;
	}
	rain_build_kind_reconcile(b->kind);
	if (rec) {
		rec->failed = jr.failed;
		rec->requeued = jr.requeued;
		rec->stopped = jr.stopped;
		rec->unreadable = jr.unreadable;
		rec->tokens_revoked = jr.tokens_revoked;
	}
	*out = b;
	return 0;
}

int builds_serve(struct builds *b, const char *url, const char *cacert)
{
	int r;

	if (b->serving)
		return rain_error_set(RAIN_ECONFLICT, "the build service runs already");
	b->serving = true;
	r = rain_build_kind_set_url(b->kind, url, cacert);
	if (r < 0 || !b->cfg.enabled)
		return r;
	return rain_jobs_serve(b->jobs);
}

void builds_quiesce(struct builds *b)
{
	if (b)
		rain_jobs_quiesce(b->jobs);
}

void builds_stop(struct builds *b)
{
	if (!b)
		return;
	rain_jobs_stop(b->jobs);
	rain_build_kind_free(b->kind);
	free(b->disabled_why);
	str_free_secret(b->admin_token);
	free(b);
}
