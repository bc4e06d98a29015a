/* The job engine: long-running work that users submit (builds, later
 * vettings, registrations, provisionings), each of a kind that implements
 * rain/sys/job.h.
 *
 * The engine owns:
 *  - the queue: fair between users (round robin: the user whose last job
 *    started longest ago goes next, each user's jobs oldest first), with
 *    limits per user (queued, running, submitting at once) and per kind
 *    (running at once);
 *  - a pool of worker threads that run the jobs;
 *  - durable records: DIR/ID/RECORD (the kind's record_file) in each
 *    kind's directory, replaced atomically and fsynced on every change:
 *    a JSON object of id, owner, name, status, created_at, started_at,
 *    finished_at (ISO 8601 or null) and error, plus the kind's stored
 *    fields (the record format of builds, include/rain/build-record.h);
 *  - each job's log, DIR/ID/log, read without blocking, and a change
 *    callback for those that wait for it to grow;
 *  - cancel and the time limit (the job's cancel flag is set and the
 *    kind's cancel method called; run() returns soon after);
 *  - recovery at start: jobs found running failed (the kind's recover
 *    method stops what they left), queued ones queued again, staging and
 *    deleted directories removed, leftover job tokens revoked;
 *  - the short-lived token of the submitting user a job may need
 *    (rain_job_token in rain/sys/job.h), minted and revoked through callbacks; only its
 *    hash is kept, in DIR/ID/token.sha256, while it may be live.
 *
 * Status machine:
 *   queued --a worker takes it--> running --> succeeded | failed | canceled
 *   queued --cancel--> canceled
 *   running, when the engine stopped during it --> failed (at the next start)
 *
 * Everything here is thread-safe and returns 0 or a negative RAIN_E* code
 * with a message (rain/error.h); nothing prints. Functions taking a who
 * and an action only show a job to whom rain_policy_check_owned() allows
 * it (others get RAIN_ENOTFOUND).
 */
#ifndef RAIN_JOBS_H
#define RAIN_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "rain/policy.h"

struct rain_jobs;
struct rain_job_kind;
struct rain_job_submission;
struct rain_job_log;

enum rain_job_status {
	RAIN_JOB_QUEUED,
	RAIN_JOB_RUNNING,
	RAIN_JOB_SUCCEEDED,
	RAIN_JOB_FAILED,
	RAIN_JOB_CANCELED,
};

const char *rain_job_status_name(enum rain_job_status s);
/* 0 or RAIN_EINVAL. */
int rain_job_status_parse(const char *s, enum rain_job_status *out);
/* succeeded, failed or canceled. */
bool rain_job_status_finished(enum rain_job_status s);

/* Levels of the log callback. */
enum rain_jobs_level { RAIN_JOBS_INFO, RAIN_JOBS_WARN, RAIN_JOBS_ERROR };

struct rain_jobs_config {
	int workers;                    /* worker threads, >= 1 */
	int max_queued_per_user;        /* jobs one user may have queued; 0: no limit */
	int max_running_per_user;       /* ... running at once; 0: no limit */
	int max_submitting_per_user;    /* ... being submitted at once; 0: no limit */
	/* What the engine has to say (a job ended, a record cannot be
	 * saved, what recovery did). May be NULL. Called with the engine's
	 * lock held or not: must not call the engine. */
	void (*log)(void *ud, enum rain_jobs_level level, const char *msg);
	/* Something changed: a log grew, a status changed, the engine
	 * quiesces. Called without the lock; may call the engine. NULL:
	 * only rain_jobs_wait_change() tells. */
	void (*changed)(void *ud);
	/* Mint a token of owner that expires at expires_us, returning the
	 * secret in *token (a new string). Before the token can be used,
	 * token_mint calls commit(commit_ud, HASH) with the hash that
	 * token_revoke will take, and gives up when it fails: so a crash at
	 * any point leaves no live token that the next start does not
	 * revoke. A token that needs no revoking (a service's own) is
	 * returned without commit. token_revoke: a token that is gone
	 * already is RAIN_ENOTFOUND, taken as done. Both NULL: jobs cannot
	 * have tokens (rain_job_token() is RAIN_ECONFLICT). See
	 * rain/jobs-token.h for the catalog's. */
	int (*token_mint)(void *ud, const char *owner, int64_t expires_us,
			  int (*commit)(void *commit_ud, const char *hash), void *commit_ud,
			  char **token);
	int (*token_revoke)(void *ud, const char *hash);
	void *ud;
};

/* Per kind, given with it. */
struct rain_jobs_kind_config {
	const char *dir;                /* its jobs' directories (created 0700) */
	int max_running;                /* of this kind at once; 0: no limit */
	int timeout_s;                  /* per job; 0: none */
	/* The setting of timeout_s, named in the error of a job past it
	 * ("the build took longer than 60 s ([builds] timeout) and was
	 * stopped"); NULL: "its time limit". */
	const char *timeout_name;
	void *ud;                       /* given to the kind's methods */
};

/* What rain_jobs_start() found. */
struct rain_jobs_recovery {
	int64_t failed;                 /* were running: now failed */
	int64_t requeued;               /* were queued: queued again */
	int64_t stopped;                /* leftovers stopped (the kinds' recover) */
	int64_t unreadable;             /* directories whose record cannot be read */
	int64_t tokens_revoked;         /* job tokens left by them, now revoked */
};

/* A new engine with no kinds; free with rain_jobs_stop(). */
int rain_jobs_new(struct rain_jobs **out, const struct rain_jobs_config *cfg);
/* Register kind (the table must outlive the engine) before
 * rain_jobs_start(). RAIN_EINVAL for a bad table or a name taken. */
int rain_jobs_add_kind(struct rain_jobs *j, const struct rain_job_kind *kind,
		       const struct rain_jobs_kind_config *kcfg);
/* Load every kind's records and recover from the previous run (rec may
 * be NULL). Jobs can be submitted from here on; none runs before
 * rain_jobs_serve(). */
int rain_jobs_start(struct rain_jobs *j, struct rain_jobs_recovery *rec);
/* Start the workers. Once only. */
int rain_jobs_serve(struct rain_jobs *j);
/* The usual sequence for an engine of one kind: rain_jobs_new(),
 * rain_jobs_add_kind(), rain_jobs_start() (rec may be NULL) and, when
 * serve is true, rain_jobs_serve(). On failure *out is NULL and
 * whatever was made is freed. */
int rain_jobs_open(struct rain_jobs **out, const struct rain_jobs_config *cfg,
		   const struct rain_job_kind *kind, const struct rain_jobs_kind_config *kcfg,
		   bool serve, struct rain_jobs_recovery *rec);
/* Tell every follower that logs will not grow any more (the server is
 * about to stop). */
void rain_jobs_quiesce(struct rain_jobs *j);
/* Stop the running jobs (they are recorded as failed, with the kind's
 * stopped_msg), join the workers and free. Queued jobs stay queued for
 * the next start. NULL is fine. */
void rain_jobs_stop(struct rain_jobs *j);

/* Submitting: begin (counts against the owner's limits; RAIN_ELIMIT
 * with a message naming the limit when one is reached), then submit
 * (prepare in a staging directory, made durable, then queued by one
 * rename), then end (always, whatever happened; frees s). */
int rain_jobs_submit_begin(struct rain_jobs *j, const char *kind, const char *owner,
			   struct rain_job_submission **out);
/* name: what the job is of (a build's image name), may be NULL; input
 * goes to the kind's prepare. *out (may be NULL) is the new record. */
int rain_jobs_submit(struct rain_job_submission *s, const char *name, void *input,
		     json_t **out);
void rain_jobs_submit_end(struct rain_job_submission *s);

/* The record of job id (of kind, or of any kind when kind is NULL): the
 * stored record plus "kind", "position" (1: next) while queued and
 * "cancel_requested" while a cancel is under way. */
int rain_jobs_get(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		  const char *kind, const char *id, json_t **out);
/* A new array of the records who may see, newest first. */
int rain_jobs_list(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		   const char *kind, json_t **out);
/* Cancel: a queued job at once; a running one is asked to stop and this
 * waits up to wait_s for it to end (answering at once when a cancel is
 * under way already). RAIN_ECONFLICT when finished. *out (may be NULL):
 * the record afterwards. */
int rain_jobs_cancel(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		     const char *kind, const char *id, int wait_s, json_t **out);
/* Only finished jobs (RAIN_ECONFLICT otherwise); removes the directory. */
int rain_jobs_delete(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		     const char *kind, const char *id);
/* Whether rain_jobs_quiesce() or rain_jobs_stop() was called. */
bool rain_jobs_quiescing(struct rain_jobs *j);
/* owner's jobs queued and running, and submissions under way (each may
 * be NULL). */
void rain_jobs_user_counts(struct rain_jobs *j, const char *owner, int *queued, int *running,
			   int *submitting);
/* How many records owner has (of kind; NULL: any). */
int64_t rain_jobs_count_owned(struct rain_jobs *j, const char *kind, const char *owner);
/* The directory of job id (new string), unchecked: for the kind's own
 * files. RAIN_ENOTFOUND when there is none. */
int rain_jobs_dir(struct rain_jobs *j, const char *kind, const char *id, char **out);

/* Logs: read from offset on, never blocking. With follow, a read that
 * returned 0 may return more later: rain_jobs_log_more() says whether it
 * still can (until the job finished, is deleted, or the engine quiesced;
 * then read to the end once more). */
int rain_jobs_log_open(struct rain_jobs *j, const struct rain_who *who, enum rain_action action,
		       const char *kind, const char *id, int64_t offset, bool follow,
		       struct rain_job_log **out);
/* Bytes read (> 0), 0 when nothing more is there now, or an error. */
ssize_t rain_jobs_log_read(struct rain_job_log *l, char *buf, size_t max);
bool rain_jobs_log_more(struct rain_job_log *l);
/* Whether a read would make progress now (bytes past the offset, or the
 * log cannot grow any more). Not concurrently with a read of l. */
bool rain_jobs_log_ready(struct rain_job_log *l);
void rain_jobs_log_close(struct rain_job_log *l);
/* Wait until something changes (see the changed callback) or timeout_ms
 * pass. */
void rain_jobs_wait_change(struct rain_jobs *j, int timeout_ms);

#endif
