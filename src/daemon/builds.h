/* raind's build service, mapped onto the library's job engine
 * (rain/jobs.h) with builds as its kind (rain/build-kind.h, which says
 * how a build is laid out, run, stored and counted in quotas).
 *
 * Builds submitted by many users wait in the engine's queue and a fixed
 * pool of max_concurrent worker threads runs them. The queue is fair
 * between users: round robin, each user's builds oldest first; the user
 * whose last build started longest ago (or none since raind started) goes
 * next. A user may have max_queued_per_user builds queued (more are
 * refused) and max_running_per_user running (the others wait even when a
 * worker is free), and send BUILDS_SUBMITTING_MAX submissions at once
 * (each body is held in memory while it is checked).
 *
 * Each build lives in DIR = builds_dir/ID (its record, build.json,
 * replaced atomically and fsynced on every change). A submission is
 * checked in time linear in its size, then laid out without the lock in
 * builds_dir/.staging-ID, made durable (one syncfs), and accepted by one
 * rename to DIR under the lock. At start-up, builds found running (raind
 * stopped during them) become failed, and any `rain generate` still
 * working in their directory is stopped; queued ones are queued again;
 * staging directories are removed and charges without a build dropped.
 *
 * A recipe with base = image:REF makes the child a client of this
 * repository with its owner's rights: for the build, the engine mints a
 * token of the owner in the catalog (rain/jobs-token.h: like a Keystone
 * login; only its hash is stored, in the catalog and in DIR/token.sha256;
 * it expires with the build's time limit) and the child gets RAIN_URL
 * (raind's own address, see builds_serve), RAIN_TOKEN and, with TLS,
 * RAIN_CACERT in its environment, never in its arguments or a log. The
 * token is revoked when the build ends however it ends, and at start-up
 * for builds that were running when raind stopped. Builds of the service
 * token (owner "admin" when no user has that name) get the service token.
 *
 * Everything here is thread-safe. Functions taking a who only show a
 * build to its owner and to admins (others get RAIN_ENOTFOUND).
 */
#ifndef RAIND_BUILDS_H
#define RAIND_BUILDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "rain/identity.h"
#include "rain/jobs.h"
#include "rain/repo.h"

struct builds_config {
	const char *dir;            /* where the builds live (created 0700) */
	const char *cache_dir;      /* the package cache shared by the builds */
	const char *rain_command;   /* the rain program; NULL: none found */
	/* each build's limits, "KEY=VALUE" as rain generate --limit takes
	 * them (rain/build.h); NULL-terminated, NULL for the defaults */
	char *const *limits;
	int max_concurrent;         /* worker threads, >= 1 */
	int max_queued_per_user;    /* builds one user may have queued; 0: no limit */
	int max_running_per_user;   /* ... running at once; 0: no limit */
	int max_files;              /* files sent with one build; 0: no limit */
	int timeout_s;              /* per build */
	/* where builds run: "local" (NULL) or "slurm", and the slurm
	 * backend's settings (rain/build-kind.h) */
	const char *backend;
	const char *slurm_partition, *slurm_account, *slurm_conf;
	int slurm_time_limit_s;
	bool enabled;               /* false: nothing runs, submissions refused */
	const char *disabled_why;   /* the reason given when !enabled */
	const char *admin_token;    /* the service token (for its builds); may be NULL */
	/* issues and revokes the builds' tokens (borrowed: raind's one
	 * identity, which must outlive the build service) */
	struct rain_identity *identity;
	/* called when a build stored an image, with the path of its
	 * manifest.json (may be NULL) */
	void (*stored)(void *ud, const char *owner, const char *image_id, const char *manifest);
	void *stored_ud;
};

struct builds_recovery {
	int64_t failed;             /* were running: now failed */
	int64_t requeued;           /* were queued: queued again */
	int64_t stopped;            /* leftover build processes stopped */
	int64_t unreadable;         /* directories whose record cannot be read */
	int64_t tokens_revoked;     /* build tokens left by them, now revoked */
};

struct builds;
struct builds_log;

/* Load the records and recover from the previous run. Builds can be
 * submitted from here on, but none runs before builds_serve(). *rec may
 * be NULL. */
int builds_start(struct builds **out, const struct builds_config *cfg, struct rain_repo *repo,
		 struct builds_recovery *rec);
/* Start the workers (when enabled), once the server listens: builds reach
 * the repository at url ("http(s)://HOST:PORT", raind's own address),
 * checking its certificate with cacert (NULL: plain HTTP or the system's
 * CAs). Once only. */
int builds_serve(struct builds *b, const char *url, const char *cacert);
/* End every log stream now (the HTTP server is about to stop). */
void builds_quiesce(struct builds *b);
/* Stop the running builds (they are recorded as failed: raind stopped
 * during the build), join the workers and free. Queued builds stay
 * queued for the next start. NULL is fine. */
void builds_stop(struct builds *b);

/* The job engine the builds run on (GET /rain/v1/jobs lists its jobs of
 * every kind). */
struct rain_jobs *builds_jobs(struct builds *b);

/* NULL when builds can be submitted, else why not (for a 503). */
const char *builds_unavailable(struct builds *b);

/* Submissions one user may have being received and checked at once. */
#define BUILDS_SUBMITTING_MAX 2
/* Returned (with a message) when a per-user limit refuses a submission:
 * HTTP 429. Not a rain error code: only the builds_submit* functions
 * return it. */
#define BUILDS_ELIMIT (-1000)

struct builds_submission;

/* Start a submission of who, before its body arrives: BUILDS_ELIMIT when
 * who has BUILDS_SUBMITTING_MAX submissions under way or
 * max_queued_per_user builds queued. End it with builds_submit_end(),
 * whatever happens (it frees *out). */
int builds_submit_begin(struct builds *b, const struct rain_who *who,
			struct builds_submission **out);
/* Submit the build from the JSON body of POST /rain/v1/builds (see
 * raind(8)): the recipe is parsed, the files' names are checked and every
 * file the recipe's [files] and [scripts] name must be among them.
 * RAIN_EINVAL (the message says what is wrong, with the recipe's line and
 * key), RAIN_ETOOBIG past RAIN_BUILD_FILES_MAX or max_files files or
 * when the bytes do not fit in who's quota, BUILDS_ELIMIT past
 * max_queued_per_user. gone (may be NULL) is asked now and then whether
 * the client went away: then nothing is left of the submission and
 * RAIN_ECANCELED is returned. *out is the new record. */
int builds_submit(struct builds_submission *s, json_t *body, bool (*gone)(void *ud), void *ud,
		  json_t **out);
void builds_submit_end(struct builds_submission *s);

/* The record with, while queued, "position" (1: next), and once
 * succeeded the build's "manifest". */
int builds_get(struct builds *b, const struct rain_who *who, const char *id, json_t **out);
/* {"builds": [...]}, newest first; the caller's own (an admin's: all). */
int builds_list(struct builds *b, const struct rain_who *who, json_t **out);
/* queued: canceled at once. running: the build is stopped and this waits
 * (a while) until it is; when a cancel is under way already, this answers
 * at once (still running). Finished builds: RAIN_ECONFLICT. *out is the
 * record afterwards. */
int builds_cancel(struct builds *b, const struct rain_who *who, const char *id, json_t **out);
/* One file of a finished build's outputs (a name its manifest lists:
 * kernel, initramfs, manifest.json, build.log, the images), opened
 * beneath the build's output folder: *fd (the caller closes it) and *st.
 * RAIN_ENOTFOUND for a name that is none (or has a '/'), or a build
 * without outputs. */
int builds_file(struct builds *b, const struct rain_who *who, const char *id, const char *name,
		int *fd, struct stat *st);
/* Only finished builds (RAIN_ECONFLICT otherwise); removes the directory. */
int builds_delete(struct builds *b, const struct rain_who *who, const char *id);
/* How many build records owner has (any status). */
int64_t builds_count_owned(struct builds *b, const char *owner);

/* The worker API (rain/build-kind.h's rain_build_kind_worker_*): what a
 * remote build's worker sends with its token. */
int builds_worker_log(struct builds *b, const char *id, const char *token, const char *text,
		      size_t len);
int builds_worker_output_open(struct builds *b, const char *id, const char *token,
			      const char *name, int *fd);
int builds_worker_output_commit(struct builds *b, const char *id, const char *token,
				const char *name, int fd);
int builds_worker_done(struct builds *b, const char *id, const char *token, bool ok,
		       const char *error);

/* Read a build's log from byte offset on. Reading never blocks. With
 * follow, the log may grow after a read returned 0: builds_log_more()
 * says whether it still can (until the build has finished, is deleted,
 * or builds_quiesce() was called; then read to the end once more). */
int builds_log_open(struct builds *b, const struct rain_who *who, const char *id,
		    int64_t offset, bool follow, struct builds_log **out);
/* Bytes read (> 0), 0 when nothing more is there now, or a negative rain
 * error code. */
ssize_t builds_log_read(struct builds_log *l, char *buf, size_t max);
/* Whether a followed log can still grow (false without follow). */
bool builds_log_more(struct builds_log *l);
/* Whether a read would make progress now: bytes past the offset, or the
 * log cannot grow any more. Not concurrently with a read of l. */
bool builds_log_ready(struct builds_log *l);
/* Wait until the service changes (a log grows, a status changes, it
 * quiesces) or timeout_ms pass; the HTTP server resumes parked log
 * streams after it. */
void builds_wait_change(struct builds *b, int timeout_ms);
void builds_log_close(struct builds_log *l);

#endif
