/* The job engine; see include/rain/jobs.h and include/rain/sys/job.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rain/error.h"
#include "rain/jobs.h"
#include "rain/sys/job.h"
#include "util/fsutil.h"
#include "util/log-callback.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define TOKEN_FILE "token.sha256"   /* the hash of the job's token, while it may be live */
#define STOPPED_DEFAULT "the service stopped during the job"

struct owner;

struct kind {
	struct kind *next;
	const struct rain_job_kind *k;
	struct rain_jobs_kind_config cfg;
	char *dir;
	int running;
};

struct job {
	struct job *next;
	struct kind *kind;
	char id[UUID_STR_LEN];
	char *owner, *name, *error;
	enum rain_job_status status;
	int64_t created_us, started_us, finished_us;
	json_t *data;                   /* the kind's stored fields */
	char *dir;
	struct owner *o;
	int64_t seq;                    /* submission order, for equal times */
	int64_t qidx;                   /* queued: how many of its owner's are older */
	int64_t deadline;               /* running: time_mono_us() of its limit; 0: none */
	volatile sig_atomic_t cancel;   /* non-zero: run() is to stop */
	bool user_canceled, timed_out;
	char *token;                    /* running: its token, if it asked for one */
};

/* What the limits and the fair queue know of one user (the lock guards). */
struct owner {
	struct owner *next;
	char *name;
	int queued, running, submitting;
	int64_t last_started;           /* jobs_started when one of theirs last
					   started; 0: not since the start */
	struct job *oldest;             /* queue_scan_locked()'s */
	struct job *pick;               /* next_queued_locked()'s */
	int64_t seen;
};

struct rain_jobs {
	struct rain_jobs_config cfg;
	struct kind *kinds;
	pthread_mutex_t lock;
	pthread_cond_t work;            /* a job was queued or ended, or stopping */
	pthread_cond_t changed;         /* a log grew or a status changed */
	pthread_cond_t tick;            /* a deadline was set, or stopping */
	struct job *list;               /* newest first */
	struct owner *owners;
	int64_t next_seq, jobs_started;
	bool started, stopping, quiescing;
	pthread_t *workers;
	int nworkers;
	pthread_t timer;
	bool timer_running;
};

struct rain_job_submission {
	struct rain_jobs *j;
	struct kind *kind;
	struct owner *o;
};

struct rain_job_log {
	struct rain_jobs *j;
	char id[UUID_STR_LEN];
	char *path;
	int fd;
	int64_t off;
	bool follow;
};

/* ---- status names ------------------------------------------------------ */

static const char *const status_names[] = {
	[RAIN_JOB_QUEUED] = "queued",
	[RAIN_JOB_RUNNING] = "running",
	[RAIN_JOB_SUCCEEDED] = "succeeded",
	[RAIN_JOB_FAILED] = "failed",
	[RAIN_JOB_CANCELED] = "canceled",
};

const char *rain_job_status_name(enum rain_job_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(*status_names))
		return "unknown";
	return status_names[s];
}

int rain_job_status_parse(const char *s, enum rain_job_status *out)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(*status_names); i++)
		if (s && !strcmp(s, status_names[i])) {
			*out = (enum rain_job_status)i;
			return 0;
		}
	return RAIN_EINVAL;
}

bool rain_job_status_finished(enum rain_job_status s)
{
	return s == RAIN_JOB_SUCCEEDED || s == RAIN_JOB_FAILED || s == RAIN_JOB_CANCELED;
}

/* ---- helpers ----------------------------------------------------------- */

/* say(j, level, fmt, ...): to the engine's log callback */
#define say(j, level, ...) LOG_CALLBACK((j)->cfg.log, (j)->cfg.ud, (level), __VA_ARGS__)

/* Wake the followers (call without the lock). */
static void notify(struct rain_jobs *j)
{
	pthread_mutex_lock(&j->lock);
	pthread_cond_broadcast(&j->changed);
	pthread_mutex_unlock(&j->lock);
	if (j->cfg.changed)
		j->cfg.changed(j->cfg.ud);
}

static const char *record_file(const struct kind *k)
{
	return k->k->record_file ? k->k->record_file : "job.json";
}

static struct kind *kind_find(struct rain_jobs *j, const char *name)
{
	for (struct kind *k = j->kinds; k; k = k->next)
		if (!strcmp(k->k->name, name))
			return k;
	return NULL;
}

static void job_free(struct job *e)
{
	if (!e)
		return;
	free(e->owner);
	free(e->name);
	free(e->error);
	free(e->dir);
	json_decref(e->data);
	str_free_secret(e->token);
	free(e);
}

/* ---- records ----------------------------------------------------------- */

static json_t *time_json(int64_t us)
{
	char buf[64];

	if (us == 0)
		return json_null();
	time_format_iso(us, buf, sizeof(buf));
	return json_string(buf);
}

/* The record as stored: the kind's fields, then the common ones. */
static json_t *record_json(const struct job *e)
{
	json_t *j = json_deep_copy(e->data);
	json_t *common = json_pack("{s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?}",
				   "id", e->id, "owner", e->owner, "name", e->name,
				   "status", rain_job_status_name(e->status),
				   "created_at", time_json(e->created_us),
				   "started_at", time_json(e->started_us),
				   "finished_at", time_json(e->finished_us),
				   "error", e->error);

	if (!j || !common || json_object_update(j, common) < 0) {
		json_decref(j);
		j = NULL;
	}
	json_decref(common);
	return j;
}

static const char *const common_fields[] = {
	"id", "owner", "name", "status", "created_at", "started_at", "finished_at", "error",
};

static int bad_field(const char *field)
{
	return rain_error_set(RAIN_EFORMAT, "bad job record: field '%s'", field);
}

static int get_str(json_t *r, const char *key, bool required, char **out)
{
	json_t *v = json_object_get(r, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? bad_field(key) : 0;
	if (!json_is_string(v))
		return bad_field(key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : rain_error_oom();
}

static int get_time(json_t *r, const char *key, bool required, int64_t *out)
{
	json_t *v = json_object_get(r, key);

	*out = 0;
	if (!v || json_is_null(v))
		return required ? bad_field(key) : 0;
	if (!json_is_string(v) || time_parse_iso(json_string_value(v), out) < 0)
		return bad_field(key);
	return 0;
}

/* Read a record into e (its strings and data new). */
static int record_parse(json_t *r, struct job *e)
{
	const char *id = json_string_value(json_object_get(r, "id"));
	int rc;

	if (!json_is_object(r))
		return rain_error_set(RAIN_EFORMAT, "bad job record: not a JSON object");
	if (!id || !uuid_is_valid(id))
		return bad_field("id");
	memcpy(e->id, id, sizeof(e->id));
	uuid_canonicalize(e->id);
	if (rain_job_status_parse(json_string_value(json_object_get(r, "status")), &e->status) < 0)
		return bad_field("status");
	rc = get_str(r, "owner", true, &e->owner);
	if (rc == 0)
		rc = get_str(r, "name", false, &e->name);
	if (rc == 0)
		rc = get_str(r, "error", false, &e->error);
	if (rc == 0)
		rc = get_time(r, "created_at", true, &e->created_us);
	if (rc == 0)
		rc = get_time(r, "started_at", false, &e->started_us);
	if (rc == 0)
		rc = get_time(r, "finished_at", false, &e->finished_us);
	if (rc < 0)
		return rc;
	e->data = json_deep_copy(r);
	if (!e->data)
		return rain_error_oom();
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(*common_fields); i++)
		json_object_del(e->data, common_fields[i]);
	if (e->kind->k->check)
		return e->kind->k->check(e->kind->cfg.ud, e->data);
	return 0;
}

/* Write the record into dir (atomically, durably). */
static int record_save(struct rain_jobs *j, const struct job *e, const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, record_file(e->kind)), *text = NULL;
	json_t *r = record_json(e);
	int rc;

	text = r ? json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(r);
	if (!path || !text)
		return rain_error_oom();
	rc = fs_write_atomic(path, text, strlen(text), 0600);
	if (rc < 0)
		say(j, RAIN_JOBS_ERROR, "%s %s: cannot save its record: %s", e->kind->k->name, e->id,
		    rain_error_last());
	return rc;
}

/* ---- owners: per-user limits and the fair queue ------------------------ */

static bool older(const struct job *a, const struct job *b)
{
	return a->created_us < b->created_us || (a->created_us == b->created_us && a->seq < b->seq);
}

/* Find or add name's entry (NULL when out of memory). Entries stay until
 * rain_jobs_stop(): one per user who ever submitted. */
static struct owner *owner_get_locked(struct rain_jobs *j, const char *name)
{
	struct owner *o;

	for (o = j->owners; o; o = o->next)
		if (!strcmp(o->name, name))
			return o;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		free(o);
		rain_error_oom();
		return NULL;
	}
	o->next = j->owners;
	j->owners = o;
	return o;
}

/* Count e (d = 1) or stop counting it (d = -1) in its owner's and kind's
 * figures. */
static void count_locked(struct job *e, int d)
{
	if (e->status == RAIN_JOB_QUEUED)
		e->o->queued += d;
	else if (e->status == RAIN_JOB_RUNNING) {
		e->o->running += d;
		e->kind->running += d;
	}
}

static void set_status_locked(struct job *e, enum rain_job_status st)
{
	count_locked(e, -1);
	e->status = st;
	count_locked(e, 1);
}

/* Insert keeping the list newest first. */
static void insert_locked(struct rain_jobs *j, struct job *e)
{
	struct job **p = &j->list;

	while (*p && older(e, *p))
		p = &(*p)->next;
	e->next = *p;
	*p = e;
	count_locked(e, 1);
}

/* Each owner's oldest queued job, and for each queued job how many of
 * its owner's are older (qidx): one pass over the list. */
static void queue_scan_locked(struct rain_jobs *j)
{
	for (struct owner *o = j->owners; o; o = o->next) {
		o->oldest = NULL;
		o->seen = 0;
	}
	for (struct job *e = j->list; e; e = e->next)     /* newest first */
		if (e->status == RAIN_JOB_QUEUED) {
			e->qidx = e->o->queued - 1 - e->o->seen++;
			e->o->oldest = e;
		}
}

/* Round robin between owners: o's turn comes before p's when a job of
 * o's last started longer ago (or never), then when o waits longer. */
static bool turn_before(const struct owner *o, const struct job *oj, const struct owner *p,
			const struct job *pj)
{
	if (o->last_started != p->last_started)
		return o->last_started < p->last_started;
	return oj && pj && older(oj, pj);
}

/* 1 for the job that starts next (after queue_scan_locked()): each round
 * of the queue starts one job of every owner who has one queued. */
static int64_t position_locked(struct rain_jobs *j, const struct job *e)
{
	int64_t pos = 1 + e->qidx;

	for (const struct owner *o = j->owners; o; o = o->next) {
		int64_t n;

		if (o == e->o || !o->oldest)
			continue;
		n = e->qidx + (turn_before(o, o->oldest, e->o, e->o->oldest) ? 1 : 0);
		pos += n < o->queued ? n : o->queued;
	}
	return pos;
}

/* The next job to start: the oldest queued job of the owner whose turn
 * it is, among the owners under max_running_per_user and the jobs whose
 * kind is under its max_running. */
static struct job *next_queued_locked(struct rain_jobs *j)
{
	struct owner *best = NULL;

	for (struct owner *o = j->owners; o; o = o->next)
		o->pick = NULL;
	for (struct job *e = j->list; e; e = e->next)     /* newest first */
		if (e->status == RAIN_JOB_QUEUED &&
		    (e->kind->cfg.max_running <= 0 || e->kind->running < e->kind->cfg.max_running))
			e->o->pick = e;
	for (struct owner *o = j->owners; o; o = o->next) {
		if (!o->pick)
			continue;
		if (j->cfg.max_running_per_user > 0 && o->running >= j->cfg.max_running_per_user)
			continue;
		if (!best || turn_before(o, o->pick, best, best->pick))
			best = o;
	}
	return best ? best->pick : NULL;
}

/* ---- finding ----------------------------------------------------------- */

static struct job *find_locked(struct rain_jobs *j, const char *id)
{
	for (struct job *e = j->list; e; e = e->next)
		if (!strcasecmp(e->id, id))
			return e;
	return NULL;
}

static bool may_see(const struct rain_who *who, const struct job *e, enum rain_action action)
{
	return rain_policy_check_owned(who, e->owner, e->id, action) == 0;
}

/* The job id names, of kind (NULL: any), if who may do action to it;
 * others' jobs are not found. */
static struct job *find_visible(struct rain_jobs *j, const struct rain_who *who,
				enum rain_action action, const char *kind, const char *id)
{
	struct job *e = id && uuid_is_valid(id) ? find_locked(j, id) : NULL;

	if (e && kind && strcmp(e->kind->k->name, kind))
		e = NULL;
	if (!e || !may_see(who, e, action)) {
		rain_error_set(RAIN_ENOTFOUND, "no %s %s", kind ? kind : "job", id ? id : "");
		return NULL;
	}
	return e;
}

/* (queued jobs: after queue_scan_locked()) */
static json_t *view_json_locked(struct rain_jobs *j, const struct job *e)
{
	json_t *r = record_json(e);

	if (!r)
		return NULL;
	json_object_set_new(r, "kind", json_string(e->kind->k->name));
	if (e->status == RAIN_JOB_QUEUED)
		json_object_set_new(r, "position", json_integer(position_locked(j, e)));
	if (e->user_canceled && e->status == RAIN_JOB_RUNNING)
		json_object_set_new(r, "cancel_requested", json_true());
	return r;
}

int rain_jobs_get(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		  const char *kind, const char *id, json_t **out)
{
	struct job *e;

	rain_error_clear();
	*out = NULL;
	pthread_mutex_lock(&j->lock);
	e = find_visible(j, who, action, kind, id);
	if (e) {
		queue_scan_locked(j);
		*out = view_json_locked(j, e);
	}
	pthread_mutex_unlock(&j->lock);
	if (!e)
		return RAIN_ENOTFOUND;
	return *out ? 0 : rain_error_oom();
}

int rain_jobs_list(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		   const char *kind, json_t **out)
{
	json_t *list = json_array();
	int r = 0;

	rain_error_clear();
	*out = NULL;
	if (!list)
		return rain_error_oom();
	pthread_mutex_lock(&j->lock);
	queue_scan_locked(j);
	for (struct job *e = j->list; e && r == 0; e = e->next)
		if ((!kind || !strcmp(e->kind->k->name, kind)) && may_see(who, e, action))
			if (json_array_append_new(list, view_json_locked(j, e)) < 0)
				r = rain_error_oom();
	pthread_mutex_unlock(&j->lock);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*out = list;
	return 0;
}

bool rain_jobs_quiescing(struct rain_jobs *j)
{
	bool q;

	pthread_mutex_lock(&j->lock);
	q = j->quiescing;
	pthread_mutex_unlock(&j->lock);
	return q;
}

void rain_jobs_user_counts(struct rain_jobs *j, const char *owner, int *queued, int *running,
			   int *submitting)
{
	struct owner *o;

	pthread_mutex_lock(&j->lock);
	for (o = j->owners; o && strcmp(o->name, owner); o = o->next)
		;
	if (queued)
		*queued = o ? o->queued : 0;
	if (running)
		*running = o ? o->running : 0;
	if (submitting)
		*submitting = o ? o->submitting : 0;
	pthread_mutex_unlock(&j->lock);
}

int64_t rain_jobs_count_owned(struct rain_jobs *j, const char *kind, const char *owner)
{
	int64_t n = 0;

	pthread_mutex_lock(&j->lock);
	for (struct job *e = j->list; e; e = e->next)
		n += !strcmp(e->owner, owner) && (!kind || !strcmp(e->kind->k->name, kind));
	pthread_mutex_unlock(&j->lock);
	return n;
}

int rain_jobs_dir(struct rain_jobs *j, const char *kind, const char *id, char **out)
{
	struct job *e;

	rain_error_clear();
	*out = NULL;
	pthread_mutex_lock(&j->lock);
	e = id && uuid_is_valid(id) ? find_locked(j, id) : NULL;
	if (e && (!kind || !strcmp(e->kind->k->name, kind)))
		*out = strdup(e->dir);
	pthread_mutex_unlock(&j->lock);
	if (!e)
		return rain_error_set(RAIN_ENOTFOUND, "no %s %s", kind ? kind : "job", id ? id : "");
	return *out ? 0 : rain_error_oom();
}

/* ---- ending, cancel, delete -------------------------------------------- */

static void finish_locked(struct rain_jobs *j, struct job *e, enum rain_job_status st,
			  const char *error)
{
	/* a worker may wait for its owner's or kind's running jobs to drop */
	if (e->status == RAIN_JOB_RUNNING)
		pthread_cond_broadcast(&j->work);
	set_status_locked(e, st);
	e->finished_us = time_now_us();
	e->deadline = 0;
	free(e->error);
	e->error = error ? strdup(error) : NULL;
	record_save(j, e, e->dir);
	pthread_cond_broadcast(&j->changed);
}

/* Ask a running job to stop (with the lock). */
static void stop_locked(struct job *e)
{
	e->cancel = 1;
	if (e->kind->k->cancel)
		e->kind->k->cancel(e->kind->cfg.ud, e->id);
}

int rain_jobs_cancel(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		     const char *kind, const char *id, int wait_s, json_t **out)
{
	struct timespec until;
	bool changed = false;
	struct job *e;
	int r = 0;

	rain_error_clear();
	if (out)
		*out = NULL;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_s;
	pthread_mutex_lock(&j->lock);
	e = find_visible(j, who, action, kind, id);
	if (!e) {
		r = RAIN_ENOTFOUND;
	} else if (rain_job_status_finished(e->status)) {
		r = rain_error_set(RAIN_ECONFLICT, "%s %s has %s already; there is nothing to cancel",
				   e->kind->k->name, e->id, rain_job_status_name(e->status));
	} else if (e->status == RAIN_JOB_QUEUED) {
		e->user_canceled = true;
		finish_locked(j, e, RAIN_JOB_CANCELED, NULL);
		say(j, RAIN_JOBS_INFO, "%s %s canceled while queued", e->kind->k->name, e->id);
		changed = true;
	} else if (e->cancel) {
		/* being stopped already: answer at once */
	} else {
		e->user_canceled = true;
		stop_locked(e);
		changed = true;
		/* the worker records the end; e stays in the list meanwhile
		 * (only finished jobs can be deleted) */
		while (e->status == RAIN_JOB_RUNNING &&
		       pthread_cond_timedwait(&j->changed, &j->lock, &until) != ETIMEDOUT)
			;
	}
	if (r == 0 && out) {
		queue_scan_locked(j);
		*out = view_json_locked(j, e);
		if (!*out)
			r = rain_error_oom();
	}
	pthread_mutex_unlock(&j->lock);
	if (changed && j->cfg.changed)
		j->cfg.changed(j->cfg.ud);
	return r;
}

int rain_jobs_delete(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		     const char *kind, const char *id)
{
	_cleanup_free_ char *gone = NULL;
	struct job *e, **p;
	int r = 0;

	rain_error_clear();
	pthread_mutex_lock(&j->lock);
	e = find_visible(j, who, action, kind, id);
	if (!e) {
		r = RAIN_ENOTFOUND;
	} else if (!rain_job_status_finished(e->status)) {
		r = rain_error_set(RAIN_ECONFLICT, "%s %s is %s; cancel it first", e->kind->k->name,
				   e->id, rain_job_status_name(e->status));
	} else if (asprintf(&gone, "%s/.deleted-%s", e->kind->dir, e->id) < 0) {
		gone = NULL;
		r = rain_error_oom();
	} else if (rename(e->dir, gone) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot remove %s", e->dir);
	} else {
		/* gone from here on: a crash leaves a .deleted- directory that
		 * the next start removes */
		fs_fsync_dir(e->kind->dir);
		for (p = &j->list; *p != e; p = &(*p)->next)
			;
		*p = e->next;
	}
	pthread_mutex_unlock(&j->lock);
	if (r < 0)
		return r;
	notify(j);
	say(j, RAIN_JOBS_INFO, "%s %s deleted", e->kind->k->name, e->id);
	if (e->kind->k->removed)
		e->kind->k->removed(e->kind->cfg.ud, e->id, e->owner);
	job_free(e);
	fs_remove_tree(gone);
	return 0;
}

/* ---- submission -------------------------------------------------------- */

int rain_jobs_submit_begin(struct rain_jobs *j, const char *kind, const char *owner,
			   struct rain_job_submission **out)
{
	struct rain_job_submission *s;
	struct owner *o;
	int r = 0;

	rain_error_clear();
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return rain_error_oom();
	pthread_mutex_lock(&j->lock);
	s->j = j;
	s->kind = kind_find(j, kind);
	o = s->kind ? owner_get_locked(j, owner) : NULL;
	if (!s->kind)
		r = rain_error_set(RAIN_EINVAL, "no job kind '%s'", kind);
	else if (!o)
		r = rain_error_oom();
	else if (!j->started || j->stopping)
		r = rain_error_set(RAIN_ECONFLICT, "the job engine does not take jobs now");
	else if (j->cfg.max_submitting_per_user > 0 && o->submitting >= j->cfg.max_submitting_per_user)
		r = rain_error_set(RAIN_ELIMIT, "%s has %d submissions under way already, the most "
				   "one user may send at once; wait for them to finish", owner,
				   o->submitting);
	else if (j->cfg.max_queued_per_user > 0 && o->queued >= j->cfg.max_queued_per_user)
		r = rain_error_set(RAIN_ELIMIT, "%s has %d jobs queued already, the most one user "
				   "may have queued; wait for some to start or cancel some", owner,
				   o->queued);
	if (r == 0) {
		o->submitting++;
		s->o = o;
	}
	pthread_mutex_unlock(&j->lock);
	if (r < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void rain_jobs_submit_end(struct rain_job_submission *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->j->lock);
	s->o->submitting--;
	pthread_mutex_unlock(&s->j->lock);
	free(s);
}

/* Make everything below dir durable (one syncfs for the whole tree). */
static int sync_tree(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", dir);
	if (syncfs(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot sync %s", dir);
	close(fd);
	return r;
}

int rain_jobs_submit(struct rain_job_submission *s, const char *name, void *input, json_t **out)
{
	struct rain_jobs *j = s->j;
	struct kind *k = s->kind;
	_cleanup_free_ char *stage = NULL;
	char *pname = NULL;
	bool prepared = false;
	struct job *e;
	int r;

	rain_error_clear();
	if (out)
		*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return rain_error_oom();
	e->kind = k;
	e->status = RAIN_JOB_QUEUED;
	e->created_us = time_now_us();
	e->data = json_object();
	e->owner = strdup(s->o->name);
	e->name = name ? strdup(name) : NULL;
	r = uuid_generate(e->id);
	if (r == 0 && (!e->data || !e->owner || (name && !e->name)))
		r = rain_error_oom();
	if (r == 0) {
		e->dir = fs_path_join(k->dir, e->id);
		if (asprintf(&stage, "%s/.staging-%s", k->dir, e->id) < 0)
			stage = NULL;
		if (!e->dir || !stage)
			r = rain_error_oom();
	}
	if (r == 0 && mkdir(stage, 0700) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", stage);
	if (r < 0) {
		job_free(e);
		return r;
	}
	if (k->k->prepare)
		r = k->k->prepare(k->cfg.ud, e->id, e->owner, stage, input, e->data, &pname);
	prepared = r == 0;
	if (pname) {
		free(e->name);
		e->name = pname;
	}
	if (r == 0)
		r = record_save(j, e, stage);
	if (r == 0)
		r = sync_tree(stage);
	if (r == 0) {
		pthread_mutex_lock(&j->lock);
		e->o = s->o;
		e->seq = j->next_seq++;
		if (j->stopping)
			r = rain_error_set(RAIN_ECONFLICT, "the job engine is stopping");
		else if (j->cfg.max_queued_per_user > 0 && s->o->queued >= j->cfg.max_queued_per_user)
			r = rain_error_set(RAIN_ELIMIT, "%s has %d jobs queued already, the most one "
					   "user may have queued; wait for some to start or cancel "
					   "some", e->owner, s->o->queued);
		else if (rename(stage, e->dir) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot move %s to %s", stage, e->dir);
		if (r == 0) {
			fs_fsync_dir(k->dir);
			insert_locked(j, e);
			if (out) {
				queue_scan_locked(j);
				*out = view_json_locked(j, e);
			}
			pthread_cond_broadcast(&j->work);
		}
		pthread_mutex_unlock(&j->lock);
	}
	if (r < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		fs_remove_tree(stage);
		if (prepared && k->k->removed)
			k->k->removed(k->cfg.ud, e->id, e->owner);
		job_free(e);
		return rain_error_set(r, "%s", msg);
	}
	notify(j);
	if (out && !*out)
		return rain_error_oom();
	return 0;
}

/* ---- logs -------------------------------------------------------------- */

int rain_jobs_log_open(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		       const char *kind, const char *id, int64_t offset, bool follow,
		       struct rain_job_log **out)
{
	struct rain_job_log *l;
	struct job *e;

	rain_error_clear();
	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return rain_error_oom();
	l->j = j;
	l->fd = -1;
	l->off = offset < 0 ? 0 : offset;
	l->follow = follow;
	pthread_mutex_lock(&j->lock);
	e = find_visible(j, who, action, kind, id);
	if (e) {
		memcpy(l->id, e->id, sizeof(l->id));
		l->path = fs_path_join(e->dir, "log");
	}
	pthread_mutex_unlock(&j->lock);
	if (!e || !l->path) {
		free(l);
		return e ? rain_error_oom() : RAIN_ENOTFOUND;
	}
	l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	*out = l;
	return 0;
}

ssize_t rain_jobs_log_read(struct rain_job_log *l, char *buf, size_t max)
{
	ssize_t n;

	if (l->fd < 0)
		l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0)
		return 0;
	do
		n = pread(l->fd, buf, max, l->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot read the job's log");
	l->off += n;
	return n;
}

bool rain_jobs_log_more(struct rain_job_log *l)
{
	struct rain_jobs *j = l->j;
	struct job *e;
	bool more;

	if (!l->follow)
		return false;
	pthread_mutex_lock(&j->lock);
	e = find_locked(j, l->id);
	more = e && !rain_job_status_finished(e->status) && !j->quiescing;
	pthread_mutex_unlock(&j->lock);
	return more;
}

bool rain_jobs_log_ready(struct rain_job_log *l)
{
	struct stat st;

	if (l->fd < 0)
		l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (l->fd >= 0 && (fstat(l->fd, &st) < 0 || st.st_size > l->off))
		return true;
	return !rain_jobs_log_more(l);
}

void rain_jobs_log_close(struct rain_job_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
}

static void deadline_ts(struct timespec *until, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

void rain_jobs_wait_change(struct rain_jobs *j, int timeout_ms)
{
	struct timespec until;

	deadline_ts(&until, timeout_ms);
	pthread_mutex_lock(&j->lock);
	pthread_cond_timedwait(&j->changed, &j->lock, &until);
	pthread_mutex_unlock(&j->lock);
}

/* ---- for kinds, during run() ------------------------------------------- */

void rain_job_log(struct rain_job_run *run, const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* room for the newline: vasprintf allocated n + 1 */
	line[n] = '\n';
	if (run->log_fd >= 0 && fs_write_all(run->log_fd, line, (size_t)n + 1, "the job's log") == 0)
		notify(run->jobs);
	free(line);
}

struct program_run {
	struct rain_job_run *run;
	char *last_error;
};

static void program_line(void *ud, const char *line)
{
	struct program_run *p = ud;
	static const char prefix[] = "rain: error: ";

	if (str_has_prefix(line, prefix)) {
		free(p->last_error);
		p->last_error = strdup(line + strlen(prefix));
	}
	rain_job_log(p->run, "%s", line);
}

int rain_job_run_program(struct rain_job_run *run, const char *const *argv,
			 const char *const *envp, const char *what, const char *timeout_name,
			 int *exit_status)
{
	struct program_run p = { .run = run };
	struct process_opts po = {
		.argv = argv,
		.envp = envp,
		.cwd = run->dir,
		.stdin_fd = -1,
		.timeout_s = run->timeout_s,
		.cancel = run->cancel,
		.on_line = program_line,
		.ud = &p,
	};
	int status = -1, r;

	if (!what)
		what = argv[0];
	r = process_run(&po, &status);
	if (r == RAIN_ECANCELED && !*run->cancel)
		/* its own time limit, before the engine's */
		r = rain_error_set(RAIN_ECANCELED, "%s took longer than %d s (%s) and was stopped",
				   what, run->timeout_s, timeout_name ? timeout_name : "its time limit");
	else if (r == 0 && status != 0 && p.last_error)
		r = rain_error_set(RAIN_EIO, "%s", p.last_error);
	else if (r == 0 && status != 0)
		r = rain_error_set(RAIN_EIO, "%s exited with status %d", what, status);
	free(p.last_error);
	if (exit_status)
		*exit_status = status;
	return r;
}

int rain_job_set(struct rain_job_run *run, const char *key, json_t *value)
{
	struct rain_jobs *j = run->jobs;
	struct job *e = run->priv;
	int r;

	pthread_mutex_lock(&j->lock);
	r = json_object_set_new(e->data, key, value) < 0
		? rain_error_oom() : record_save(j, e, e->dir);
	pthread_mutex_unlock(&j->lock);
	return r;
}

/* Revoke the token whose hash DIR/token.sha256 holds, then remove the
 * file. 1 when there was one, 0 when not, or an error (the file stays,
 * for the next start to try again). */
static int token_revoke_file(struct rain_jobs *j, const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, TOKEN_FILE), *text = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return rain_error_oom();
	r = fs_read_small(path, 256, &text, &len);
	if (r < 0 && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (r < 0)
		return r;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	if (len > 0 && j->cfg.token_revoke) {
		r = j->cfg.token_revoke(j->cfg.ud, text);
		if (r == RAIN_ENOTFOUND)    /* never created, or purged */
			r = 0;
		if (r < 0)
			return r;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", path);
	return 1;
}

struct token_commit {
	struct rain_job_run *run;
	const char *path;
};

/* The hash on disk (durably) before the token exists. */
static int token_commit(void *ud, const char *hash)
{
	struct token_commit *c = ud;
	_cleanup_free_ char *line = NULL;

	int r;

	if (asprintf(&line, "%s\n", hash) < 0)
		return rain_error_oom();
	r = fs_write_atomic(c->path, line, strlen(line), 0600);
	return r < 0 ? r : fs_fsync_dir(c->run->dir);
}

int rain_job_token(struct rain_job_run *run, const char **token)
{
	struct rain_jobs *j = run->jobs;
	struct job *e = run->priv;
	_cleanup_free_ char *path = NULL;
	struct token_commit c = { .run = run };
	char *secret = NULL;
	int64_t expires;
	int r;

	*token = NULL;
	if (e->token) {
		*token = e->token;
		return 0;
	}
	if (!j->cfg.token_mint || !j->cfg.token_revoke)
		return rain_error_set(RAIN_ECONFLICT, "the job engine has no way to make tokens");
	path = fs_path_join(e->dir, TOKEN_FILE);
	if (!path)
		return rain_error_oom();
	c.path = path;
	/* it dies with the job's time limit at the latest (a day without) */
	expires = time_now_us() + (int64_t)(run->timeout_s > 0 ? run->timeout_s : 86400) * 1000000;
	r = j->cfg.token_mint(j->cfg.ud, e->owner, expires, token_commit, &c, &secret);
	if (r < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		token_revoke_file(j, e->dir);
		return rain_error_set(r, "%s", msg);
	}
	e->token = secret;
	*token = secret;
	return 0;
}

/* ---- workers and the time limit ---------------------------------------- */

static void run_job(struct rain_jobs *j, struct job *e)
{
	struct kind *k = e->kind;
	_cleanup_free_ char *logp = fs_path_join(e->dir, "log");
	_cleanup_free_ char *error = NULL;
	struct rain_job_run run = {
		.id = e->id, .owner = e->owner, .name = e->name, .dir = e->dir, .log_fd = -1,
		.timeout_s = k->cfg.timeout_s, .started_mono_us = time_mono_us(),
		.cancel = &e->cancel, .jobs = j, .priv = e,
	};
	enum rain_job_status st = RAIN_JOB_FAILED;
	bool user_canceled, timed_out, stopped;
	json_t *data;
	int r;

	run.log_fd = logp ? open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
	pthread_mutex_lock(&j->lock);
	data = json_deep_copy(e->data);
	pthread_mutex_unlock(&j->lock);
	if (run.log_fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot open the job's log");
	} else if (!data) {
		r = rain_error_oom();
	} else {
		rain_error_clear();
		r = k->k->run(k->cfg.ud, &run, data);
	}
	pthread_mutex_lock(&j->lock);
	user_canceled = e->user_canceled;
	timed_out = e->timed_out;
	stopped = e->cancel && !user_canceled && !timed_out;
	pthread_mutex_unlock(&j->lock);
	if (r == 0) {
		st = RAIN_JOB_SUCCEEDED;
	} else if (r == RAIN_ECANCELED && user_canceled) {
		st = RAIN_JOB_CANCELED;
	} else if (r == RAIN_ECANCELED && timed_out) {
		if (asprintf(&error, "the %s took longer than %d s (%s) and was stopped", k->k->name,
			     k->cfg.timeout_s, k->cfg.timeout_name ? k->cfg.timeout_name :
			     "its time limit") < 0)
			error = NULL;
	} else if (r == RAIN_ECANCELED && stopped) {
		error = strdup(k->k->stopped_msg ? k->k->stopped_msg : STOPPED_DEFAULT);
	} else {
		error = strdup(*rain_error_last() ? rain_error_last() : rain_error_name(r));
	}
	if (st == RAIN_JOB_FAILED && !error)
		error = strdup("out of memory");
	json_decref(data);
	/* before the job ends: whoever sees it ended finds its token dead */
	str_free_secret(e->token);
	e->token = NULL;
	if (token_revoke_file(j, e->dir) < 0)
		say(j, RAIN_JOBS_ERROR, "%s %s: cannot revoke its token: %s (the next start tries "
		    "again)", k->k->name, e->id, rain_error_last());
	if (k->k->finished)
		k->k->finished(k->cfg.ud, &run, st, error);
	if (run.log_fd >= 0)
		close(run.log_fd);
	say(j, st == RAIN_JOB_FAILED ? RAIN_JOBS_WARN : RAIN_JOBS_INFO, "%s %s %s%s%s", k->k->name,
	    e->id, rain_job_status_name(st), error ? ": " : "", error ? error : "");
	pthread_mutex_lock(&j->lock);
	finish_locked(j, e, st, error);
	pthread_mutex_unlock(&j->lock);
	if (j->cfg.changed)
		j->cfg.changed(j->cfg.ud);
}

static void *worker(void *arg)
{
	struct rain_jobs *j = arg;

	pthread_mutex_lock(&j->lock);
	while (!j->stopping) {
		struct job *e = next_queued_locked(j);

		if (!e) {
			pthread_cond_wait(&j->work, &j->lock);
			continue;
		}
		set_status_locked(e, RAIN_JOB_RUNNING);
		e->o->last_started = ++j->jobs_started;
		e->started_us = time_now_us();
		if (e->kind->cfg.timeout_s > 0) {
			e->deadline = time_mono_us() + (int64_t)e->kind->cfg.timeout_s * 1000000;
			pthread_cond_broadcast(&j->tick);
		}
		record_save(j, e, e->dir);
		pthread_cond_broadcast(&j->changed);
		pthread_mutex_unlock(&j->lock);
		if (j->cfg.changed)
			j->cfg.changed(j->cfg.ud);
		run_job(j, e);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* One thread stops the jobs past their time limit. */
static void *timer(void *arg)
{
	struct rain_jobs *j = arg;

	pthread_mutex_lock(&j->lock);
	while (!j->stopping) {
		int64_t now = time_mono_us(), next = 0;
		struct timespec until;

		for (struct job *e = j->list; e; e = e->next) {
			if (e->status != RAIN_JOB_RUNNING || !e->deadline || e->cancel)
				continue;
			if (e->deadline <= now) {
				e->timed_out = true;
				stop_locked(e);
				say(j, RAIN_JOBS_WARN, "%s %s: past its time limit (%d s), stopping it",
				    e->kind->k->name, e->id, e->kind->cfg.timeout_s);
			} else if (!next || e->deadline < next) {
				next = e->deadline;
			}
		}
		if (!next) {
			pthread_cond_wait(&j->tick, &j->lock);
			continue;
		}
		deadline_ts(&until, (next - now) / 1000 + 1);
		pthread_cond_timedwait(&j->tick, &j->lock, &until);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ---- start-up and shutdown --------------------------------------------- */

int rain_jobs_new(struct rain_jobs **out, const struct rain_jobs_config *cfg)
{
	struct rain_jobs *j;

	rain_error_clear();
	*out = NULL;
	if (cfg->workers < 1)
		return rain_error_set(RAIN_EINVAL, "the job engine needs at least one worker "
				      "(was given %d)", cfg->workers);
	j = calloc(1, sizeof(*j));
	if (!j)
		return rain_error_oom();
	j->cfg = *cfg;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->work, NULL);
	pthread_cond_init(&j->changed, NULL);
	pthread_cond_init(&j->tick, NULL);
	*out = j;
	return 0;
}

static bool kind_name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

int rain_jobs_add_kind(struct rain_jobs *j, const struct rain_job_kind *kind,
		       const struct rain_jobs_kind_config *kcfg)
{
	struct kind *k;

	rain_error_clear();
	if (j->started)
		return rain_error_set(RAIN_ECONFLICT, "job kinds are added before the engine starts");
	if (!kind || kind->version != RAIN_JOB_KIND_VERSION)
		return rain_error_set(RAIN_EINVAL, "job kind table version %u, expected %u",
				      kind ? kind->version : 0, RAIN_JOB_KIND_VERSION);
	if (!kind_name_ok(kind->name) || !kind->run)
		return rain_error_set(RAIN_EINVAL, "job kind '%s': a name of a-z, 0-9 and '-' and "
				      "a run method are required", kind->name ? kind->name : "");
	if (kind_find(j, kind->name))
		return rain_error_set(RAIN_EINVAL, "job kind '%s' is there already", kind->name);
	if (!kcfg || !kcfg->dir || !*kcfg->dir)
		return rain_error_set(RAIN_EINVAL, "job kind '%s' needs a directory", kind->name);
	k = calloc(1, sizeof(*k));
	if (!k || !(k->dir = strdup(kcfg->dir))) {
		free(k);
		return rain_error_oom();
	}
	k->k = kind;
	k->cfg = *kcfg;
	k->cfg.dir = k->dir;
	k->next = j->kinds;
	j->kinds = k;
	return 0;
}

static int load_one(struct rain_jobs *j, struct kind *k, const char *name,
		    struct rain_jobs_recovery *rec)
{
	_cleanup_free_ char *dir = fs_path_join(k->dir, name);
	_cleanup_free_ char *path = dir ? fs_path_join(dir, record_file(k)) : NULL;
	json_error_t err;
	struct job *e;
	json_t *r;
	int rc;

	if (!path)
		return rain_error_oom();
	r = json_load_file(path, 0, &err);
	if (!r) {
		struct stat st;

		if (stat(path, &st) < 0 && errno == ENOENT) {
			say(j, RAIN_JOBS_WARN, "removing %s: a %s submission that did not finish", dir,
			    k->k->name);
			fs_remove_tree(dir);
			return 0;
		}
		say(j, RAIN_JOBS_WARN, "%s %s: cannot read %s: %s; leaving it alone", k->k->name,
		    name, path, err.text);
		rec->unreadable++;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(r);
		return rain_error_oom();
	}
	e->kind = k;
	rc = record_parse(r, e);
	json_decref(r);
	if (rc == 0 && strcmp(e->id, name))
		rc = rain_error_set(RAIN_EFORMAT, "the record's id is not its directory's name");
	if (rc < 0) {
		say(j, RAIN_JOBS_WARN, "%s %s: %s; leaving it alone", k->k->name, name,
		    rain_error_last());
		rec->unreadable++;
		job_free(e);
		return rc == RAIN_ENOMEM ? rc : 0;
	}
	e->dir = dir;
	dir = NULL;
	e->seq = j->next_seq++;
	if (e->status == RAIN_JOB_RUNNING && k->k->recover)
		rec->stopped += k->k->recover(k->cfg.ud, e->id, e->dir);
	/* a job that was running when the engine stopped: its token dies now */
	rc = token_revoke_file(j, e->dir);
	if (rc < 0)
		say(j, RAIN_JOBS_ERROR, "%s %s: cannot revoke its token: %s", k->k->name, e->id,
		    rain_error_last());
	else
		rec->tokens_revoked += rc;
	e->o = owner_get_locked(j, e->owner);
	if (!e->o) {
		job_free(e);
		return rain_error_oom();
	}
	if (e->status == RAIN_JOB_RUNNING) {
		e->status = RAIN_JOB_FAILED;
		e->finished_us = time_now_us();
		free(e->error);
		e->error = strdup(k->k->stopped_msg ? k->k->stopped_msg : STOPPED_DEFAULT);
		record_save(j, e, e->dir);
		rec->failed++;
	} else if (e->status == RAIN_JOB_QUEUED) {
		rec->requeued++;
	}
	insert_locked(j, e);
	return 0;
}

static int load_kind(struct rain_jobs *j, struct kind *k, struct rain_jobs_recovery *rec)
{
	DIR *d;
	struct dirent *de;
	int r = fs_mkdir_p(k->dir, 0700);

	if (r < 0)
		return r;
	d = opendir(k->dir);
	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot read %s", k->dir);
	while (r == 0 && (de = readdir(d))) {
		/* deleted, or submissions that were not accepted */
		if (str_has_prefix(de->d_name, ".deleted-") || str_has_prefix(de->d_name, ".staging-")) {
			_cleanup_free_ char *p = fs_path_join(k->dir, de->d_name);

			if (p)
				fs_remove_tree(p);
			continue;
		}
		if (uuid_is_valid(de->d_name))
			r = load_one(j, k, de->d_name, rec);
	}
	closedir(d);
	return r;
}

int rain_jobs_start(struct rain_jobs *j, struct rain_jobs_recovery *rec)
{
	struct rain_jobs_recovery dummy;
	int r = 0;

	rain_error_clear();
	if (!rec)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if (j->started)
		return rain_error_set(RAIN_ECONFLICT, "the job engine has started already");
	pthread_mutex_lock(&j->lock);
	for (struct kind *k = j->kinds; k && r == 0; k = k->next)
		r = load_kind(j, k, rec);
	if (r == 0)
		j->started = true;
	pthread_mutex_unlock(&j->lock);
	return r;
}

int rain_jobs_serve(struct rain_jobs *j)
{
	int r;

	rain_error_clear();
	if (!j->started || j->workers)
		return rain_error_set(RAIN_ECONFLICT, "the job engine is not started, or serves "
				      "already");
	j->workers = calloc((size_t)j->cfg.workers, sizeof(*j->workers));
	if (!j->workers)
		return rain_error_oom();
	r = pthread_create(&j->timer, NULL, timer, j);
	if (r != 0)
		return rain_error_errno(RAIN_EIO, r, "cannot start the job engine's timer");
	j->timer_running = true;
	for (int i = 0; i < j->cfg.workers; i++) {
		r = pthread_create(&j->workers[i], NULL, worker, j);
		if (r != 0)     /* rain_jobs_stop() joins those that started */
			return rain_error_errno(RAIN_EIO, r, "cannot start the job workers");
		j->nworkers++;
	}
	return 0;
}

int rain_jobs_open(struct rain_jobs **out, const struct rain_jobs_config *cfg,
		   const struct rain_job_kind *kind, const struct rain_jobs_kind_config *kcfg,
		   bool serve, struct rain_jobs_recovery *rec)
{
	struct rain_jobs *j = NULL;
	int r;

	*out = NULL;
	r = rain_jobs_new(&j, cfg);
	if (r == 0)
		r = rain_jobs_add_kind(j, kind, kcfg);
	if (r == 0)
		r = rain_jobs_start(j, rec);
	if (r == 0 && serve)
		r = rain_jobs_serve(j);
	if (r < 0) {
		rain_jobs_stop(j);
		return r;
	}
	*out = j;
	return 0;
}

void rain_jobs_quiesce(struct rain_jobs *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->quiescing = true;
	pthread_mutex_unlock(&j->lock);
	notify(j);
}

void rain_jobs_stop(struct rain_jobs *j)
{
	struct job *e, *next;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	j->quiescing = true;
	for (e = j->list; e; e = e->next)
		if (e->status == RAIN_JOB_RUNNING)
			stop_locked(e);
	pthread_cond_broadcast(&j->work);
	pthread_cond_broadcast(&j->changed);
	pthread_cond_broadcast(&j->tick);
	pthread_mutex_unlock(&j->lock);
	for (int i = 0; i < j->nworkers; i++)
		pthread_join(j->workers[i], NULL);
	if (j->timer_running)
		pthread_join(j->timer, NULL);
	for (e = j->list; e; e = next) {
		next = e->next;
		job_free(e);
	}
	while (j->owners) {
		struct owner *o = j->owners;

		j->owners = o->next;
		free(o->name);
		free(o);
	}
	while (j->kinds) {
		struct kind *k = j->kinds;

		j->kinds = k->next;
		free(k->dir);
		free(k);
	}
	free(j->workers);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->work);
	pthread_cond_destroy(&j->changed);
	pthread_cond_destroy(&j->tick);
	free(j);
}

/* ---- helpers for kinds ---- */

/* The path of an open local file, for a child to open it again. */
static int fd_path(int fd, char **out)
{
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot find the image's data file");
	target[n] = '\0';
	*out = strdup(target);
	return *out ? 0 : rain_error_oom();
}

int rain_job_image_file(struct rain_job_run *job, struct rain_repo *repo,
			const struct rain_blob_reader *rd, char **out)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	int64_t off = 0;
	int r = 0;

	if (rd->fd >= 0)
		return fd_path(rd->fd, out);
	path = fs_path_join(job->dir, "data");
	buf = malloc(1 << 20);
	if (!path || !buf)
		return rain_error_oom();
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	while (r == 0 && off < rd->size && !*job->cancel) {
		ssize_t n = rain_repo_download_read(repo, (struct rain_blob_reader *)rd, off,
						    buf, 1 << 20);

		if (n < 0)
			r = (int)n;
		else if (n == 0)
			r = rain_error_set(RAIN_EIO, "the image's data ended after %lld bytes",
					   (long long)off);
		else
			r = fs_write_all(fd, buf, (size_t)n, path);
		off += n > 0 ? n : 0;
	}
	if (r == 0 && *job->cancel)
		r = rain_error_set(RAIN_ECANCELED, "canceled");
	if (r < 0)
		return r;
	*out = TAKE_PTR(path);
	return 0;
}

int64_t rain_job_stop_leftovers(const char *dir, int wait_s)
{
	int64_t found = 0;

	for (int round = 0; round < wait_s * 5 + 2; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int64_t n = 0;

		if (!d)
			return found;
		while ((de = readdir(d))) {
			char link[300], target[4096];
			ssize_t len;
			pid_t pid;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(link, sizeof(link), "/proc/%s/cwd", de->d_name);
			len = readlink(link, target, sizeof(target) - 1);
			if (len < 0)
				continue;
			target[len] = '\0';
			if (strcmp(target, dir))
				continue;
			pid = (pid_t)atoi(de->d_name);
			n++;
			if (round == 0) {
				pid_t pg = getpgid(pid);

				kill(pg > 1 ? -pg : pid, SIGTERM);
			} else if (round > wait_s * 5) {
				kill(pid, SIGKILL);
			}
		}
		closedir(d);
		if (round == 0)
			found = n;
		if (n == 0)
			break;
		usleep(200000);
	}
	return found;
}
