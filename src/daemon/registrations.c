/* raind's registration service; see registrations.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/registrations.h"
#include "rain/error.h"
#include "rain/register-kind.h"
#include "rain/sys/job.h"
#include "rain/sys/target.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"

#define KIND "register"

struct registrations {
	struct rain_register_kind *kind;
	struct rain_jobs *jobs;
	struct rain_repo *repo;
	struct rain_site **sites;
	size_t nsites;
	bool enabled;
	int max_queued_per_user;
};

static int make_sites(struct registrations *g, const struct registrations_config *cfg)
{
	g->sites = calloc(cfg->nsites + 1, sizeof(*g->sites));
	if (!g->sites)
		return rain_error_oom();
	for (size_t i = 0; i < cfg->nsites; i++) {
		char where[128];
		int r;

		snprintf(where, sizeof(where), "raind's configuration [site.%s]", cfg->sites[i].name);
		r = rain_site_new(cfg->sites[i].name, (const char *const *)cfg->sites[i].settings, where,
				  &g->sites[g->nsites]);
		if (r < 0)
			return r;
		g->nsites++;
	}
	return 0;
}

int registrations_start(struct registrations **out, const struct registrations_config *cfg,
			struct rain_repo *repo)
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
		.timeout_s = cfg->timeout_s,
		.timeout_name = "[register] timeout",
	};
	struct registrations *g = calloc(1, sizeof(*g));
	int r;

	*out = NULL;
	if (!g)
		return rain_error_oom();
	g->repo = repo;
	g->enabled = cfg->enabled && cfg->rain_command;
	g->max_queued_per_user = cfg->max_queued_per_user;
	r = make_sites(g, cfg);
	if (r == 0) {
		struct rain_register_kind_config kc = {
			.repo = repo,
			.rain_command = cfg->rain_command,
			.sites = g->sites,
			.nsites = g->nsites,
			.cache_dir = cfg->cache_dir,
			.timeout_s = cfg->timeout_s,
			.log = log_jobs,
		};

		r = rain_register_kind_new(&kc, &g->kind);
	}
	kind.ud = g->kind;
	if (r == 0)
		r = rain_jobs_open(&g->jobs, &jc, &rain_register_job_kind, &kind, g->enabled, &rec);
	if (r < 0) {
		registrations_stop(g);
		return r;
	}
	if (rec.failed)
		log_printf(LOG_WARN, "registrations from the previous run: %lld stopped by the restart "
			   "(failed; what they made at their sites was removed)", (long long)rec.failed);
	*out = g;
	return 0;
}

void registrations_quiesce(struct registrations *g)
{
	if (g)
		rain_jobs_quiesce(g->jobs);
}

void registrations_stop(struct registrations *g)
{
	if (!g)
		return;
	rain_jobs_stop(g->jobs);
	rain_register_kind_free(g->kind);
	for (size_t i = 0; i < g->nsites; i++)
		rain_site_free(g->sites[i]);
	free(g->sites);
	free(g);
}

struct rain_jobs *registrations_jobs(struct registrations *g)
{
	return g ? g->jobs : NULL;
}

struct rain_register_kind *registrations_kind(struct registrations *g)
{
	return g ? g->kind : NULL;
}

static int record_json(struct registrations *g, const char *id, json_t **out)
{
	struct rain_registration reg;
	int r = rain_catalog_registration_get(rain_repo_catalog(g->repo), id, &reg);

	if (r == 0)
		r = rain_register_to_json(&reg, out);
	free(reg.doc);
	return r;
}

int registrations_submit(struct registrations *g, const struct rain_who *who, const char *id,
			 const char *site, const char *ssh_key, bool override, json_t **out,
			 bool *created)
{
	struct rain_register_input in = { .image_id = id, .site = site, .ssh_key = ssh_key,
					  .override = override, .who = who };
	struct rain_job_submission *s = NULL;
	struct rain_registration old;
	const char *owner = who->owner ? who->owner : "";
	json_t *job = NULL;
	int r;

	*out = NULL;
	*created = false;
	if (!g->enabled)
		return rain_error_set(RAIN_ECONFLICT, "registration is disabled ([register] enabled = "
				      "false, or raind cannot find the rain program)");
	r = rain_register_check(g->kind, &in, NULL);
	if (r < 0)
		return r;
	/* the same image data at the same site: the earlier registration */
	if (rain_register_find(g->kind, id, site, owner, &old) == 0) {
		r = rain_register_to_json(&old, out);
		free(old.doc);
		return r;
	}
	r = rain_jobs_submit_begin(g->jobs, KIND, owner, &s);
	if (r == 0)
		r = rain_jobs_submit(s, NULL, &in, &job);
	if (r == RAIN_ELIMIT) {
		int queued = 0;

		rain_jobs_user_counts(g->jobs, owner, &queued, NULL, NULL);
		r = rain_error_set(RAIN_ELIMIT, "%s has %d registrations queued, as many as one user "
				   "may ([register] max_queued_per_user = %d); wait for some to finish",
				   owner, queued, g->max_queued_per_user);
	}
	rain_jobs_submit_end(s);
	if (r == 0) {
		const char *rid = json_string_value(json_object_get(job, "id"));

		log_printf(LOG_INFO, "registration %s of image %s at site %s queued for %s", rid, id,
			   site, owner);
		r = record_json(g, rid, out);
		*created = true;
	}
	json_decref(job);
	return r;
}

int registrations_list(struct registrations *g, const struct rain_who *who, const char *site,
		       const char *image_id, const char *status, json_t **out)
{
	struct rain_registration_query q = { .owner = who->admin ? NULL : who->owner, .site = site,
					     .image_id = image_id, .status = status };
	struct rain_registration *v = NULL;
	_cleanup_json_ json_t *list = json_array();
	size_t n = 0;
	int r;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	r = rain_catalog_registration_list(rain_repo_catalog(g->repo), &q, &v, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *j = NULL;

		r = rain_register_to_json(&v[i], &j);
		if (r == 0 && json_array_append_new(list, j) < 0)
			r = rain_error_oom();
	}
	rain_registration_list_free(v, n);
	if (r < 0)
		return r;
	*out = json_pack("{s:O}", "registrations", list);
	return *out ? 0 : rain_error_oom();
}

int registrations_get(struct registrations *g, const struct rain_who *who, const char *id,
		      json_t **out)
{
	struct rain_registration reg;
	int r = rain_catalog_registration_get(rain_repo_catalog(g->repo), id, &reg);

	*out = NULL;
	if (r == 0 && rain_policy_check_owned(who, reg.owner, id, RAIN_ACT_JOB_SHOW) < 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	if (r == 0)
		r = rain_register_to_json(&reg, out);
	free(reg.doc);
	return r;
}

int registrations_remove(struct registrations *g, const struct rain_who *who, const char *id,
			 json_t **out)
{
	int r = rain_register_remove(g->kind, who, id, out);

	if (r == 0)
		log_printf(LOG_INFO, "registration %s removed by %s", id, who->owner);
	return r;
}

static int site_json(const struct rain_site *s, const struct rain_who *who, json_t **out)
{
	_cleanup_json_ json_t *j = NULL;
	int r = rain_site_to_json(s, &j);

	if (r < 0)
		return r;
	if (!who->admin) {
		json_object_del(j, "uri");
		json_object_del(j, "settings");
	}
	if (json_object_set_new(j, "may_register",
				json_boolean(rain_site_may_register(s, who) == 0)) < 0)
		return rain_error_oom();
	*out = TAKE_PTR(j);
	return 0;
}

int registrations_sites(struct registrations *g, const struct rain_who *who, const char *name,
			json_t **out)
{
	_cleanup_json_ json_t *list = json_array();
	int r = 0;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	if (name) {
		const struct rain_site *s;

		r = rain_register_site(g->kind, name, &s);
		return r < 0 ? r : site_json(s, who, out);
	}
	for (size_t i = 0; r == 0 && i < g->nsites; i++) {
		json_t *j = NULL;

		r = site_json(g->sites[i], who, &j);
		if (r == 0 && json_array_append_new(list, j) < 0)
			r = rain_error_oom();
	}
	if (r < 0)
		return r;
	*out = json_pack("{s:O}", "sites", list);
	return *out ? 0 : rain_error_oom();
}
