/* raind's vetting service; see vetting.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/vetting.h"
#include "rain/error.h"
#include "rain/sys/job.h"
#include "rain/vet-feed.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define KIND "vet"

struct vetting {
	struct rain_vet_kind *kind;
	struct rain_jobs *jobs;
	bool enabled;
	int max_queued_per_user;
	char *feed;                 /* NULL: none */
	bool feed_writable;
};

struct vetting_feed_upload {
	struct vetting *v;
	char *tmp;                  /* FEED.tmp-XXXXXX */
	int fd;
	size_t len;
};

int vetting_start(struct vetting **out, const struct vetting_config *cfg, struct rain_repo *repo)
{
	struct rain_jobs_recovery rec;
	struct rain_jobs_config jc = {
		.workers = cfg->max_concurrent > 0 ? cfg->max_concurrent : 1,
		.max_queued_per_user = cfg->max_queued_per_user,
		.max_submitting_per_user = 4,
		.log = log_jobs,
	};
	struct rain_vet_kind_config kc = {
		.repo = repo,
		.rain_command = cfg->rain_command,
		.feed = cfg->feed,
		.default_policy = cfg->default_policy,
		.policies = cfg->policies,
		.npolicies = cfg->npolicies,
		.timeout_s = cfg->timeout_s,
		.log = log_jobs,
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
	v->feed_writable = cfg->feed_writable;
	if (cfg->feed && !(v->feed = strdup(cfg->feed))) {
		free(v);
		return rain_error_oom();
	}
	r = rain_vet_kind_new(&kc, &v->kind);
	kind.ud = v->kind;
	if (r == 0)
		r = rain_jobs_open(&v->jobs, &jc, &rain_vet_job_kind, &kind, cfg->enabled, &rec);
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
	free(v->feed);
	free(v);
}

struct rain_jobs *vetting_jobs(struct vetting *v)
{
	return v ? v->jobs : NULL;
}

int vetting_submit(struct vetting *v, const struct rain_who *who, const char *id,
		   const char *policy, bool runtime, const char *manifest, json_t **out)
{
	struct rain_vet_input in = { .image_id = id, .policy = policy, .runtime = runtime,
				     .manifest = manifest, .who = who };
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

/* ---- the feed ---------------------------------------------------------- */

static json_t *feed_json(struct rain_vet_feed *f)
{
	struct rain_vet_feed_counts n;
	char date[40] = "";

	rain_vet_feed_count(f, &n);
	if (rain_vet_feed_date(f) > 0)
		time_format_iso(rain_vet_feed_date(f) * 1000000, date, sizeof(date));
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:I}",
			 "release", rain_vet_feed_release(f), "origin", rain_vet_feed_origin(f),
			 "kind", rain_vet_feed_kind_name(rain_vet_feed_kind(f)),
			 "family", rain_vet_feed_family(f) == RAIN_PKG_DEB ? "deb" : "rpm",
			 "date", date[0] ? date : NULL, "advisories", (json_int_t)n.advisories,
			 "packages", (json_int_t)n.packages, "ids", (json_int_t)n.ids,
			 "unfixed", (json_int_t)n.unfixed);
}

int vetting_feed_info(struct vetting *v, json_t **out)
{
	struct rain_vet_feed *f = NULL;
	int r;

	*out = NULL;
	if (!v->feed || access(v->feed, F_OK) < 0)
		return rain_error_set(RAIN_ENOTFOUND, "raind has no vulnerability feed: an admin "
				      "puts one with 'rain vet feed push FILE' (or sets [vet] feed)");
	r = rain_vet_feed_load(&f, v->feed);
	if (r < 0)
		return r;
	*out = feed_json(f);
	rain_vet_feed_free(f);
	return *out ? 0 : rain_error_oom();
}

int vetting_feed_begin(struct vetting *v, struct vetting_feed_upload **out)
{
	_cleanup_free_ char *dir = NULL;
	struct vetting_feed_upload *u;
	char *slash;
	int r;

	*out = NULL;
	if (!v->feed || !v->feed_writable)
		return rain_error_set(RAIN_EFORBIDDEN, "raind reads its feed from %s ([vet] feed); "
				      "replace that file instead", v->feed ? v->feed : "its config");
	if (!(dir = strdup(v->feed)))
		return rain_error_oom();
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	r = fs_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	u = calloc(1, sizeof(*u));
	if (!u || asprintf(&u->tmp, "%s.tmp-XXXXXX", v->feed) < 0) {
		free(u);
		return rain_error_oom();
	}
	u->fd = mkostemp(u->tmp, O_CLOEXEC);
	if (u->fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", u->tmp);
		free(u->tmp);
		free(u);
		return r;
	}
	u->v = v;
	*out = u;
	return 0;
}

int vetting_feed_write(struct vetting_feed_upload *u, const void *buf, size_t len)
{
	if (u->len + len > VETTING_FEED_MAX)
		return rain_error_set(RAIN_ETOOBIG, "a feed may have at most %d MiB",
				      VETTING_FEED_MAX >> 20);
	u->len += len;
	return fs_write_all(u->fd, buf, len, u->tmp);
}

void vetting_feed_abort(struct vetting_feed_upload *u)
{
	if (!u)
		return;
	close(u->fd);
	unlink(u->tmp);
	free(u->tmp);
	free(u);
}

int vetting_feed_end(struct vetting_feed_upload *u, json_t **info)
{
	struct rain_vet_feed *f = NULL;
	int r;

	*info = NULL;
	r = fsync(u->fd) < 0 ? rain_error_errno(RAIN_EIO, errno, "cannot fsync %s", u->tmp) : 0;
	/* only a feed rain vet can load goes in place */
	if (r == 0)
		r = rain_vet_feed_load(&f, u->tmp);
	if (r == 0 && !(*info = feed_json(f)))
		r = rain_error_oom();
	if (r == 0 && rename(u->tmp, u->v->feed) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot put the feed in place as %s", u->v->feed);
	if (r == 0) {
		_cleanup_free_ char *dir = strdup(u->v->feed);
		char *slash = dir ? strrchr(dir, '/') : NULL;

		if (slash)
			*slash = '\0';
		r = !dir ? rain_error_oom() : slash ? fs_fsync_dir(dir) : 0;
	}
	rain_vet_feed_free(f);
	if (r < 0) {
		json_decref(*info);
		*info = NULL;
	} else {
		log_printf(LOG_INFO, "vulnerability feed replaced: %s %s of %s, %lld advisories",
			   json_string_value(json_object_get(*info, "kind")),
			   json_string_value(json_object_get(*info, "release")),
			   json_string_value(json_object_get(*info, "date")) ?: "no date",
			   (long long)json_integer_value(json_object_get(*info, "advisories")));
	}
	vetting_feed_abort(u);      /* closes; the name is gone when renamed */
	return r;
}
