/* The table a job kind implements for the job engine (rain/jobs.h).
 *
 * A job kind is what raind runs for a while on behalf of a user: a build,
 * later a vetting, a registration or a provisioning. The engine owns the
 * queue, the workers, the records, the log, cancel, the time limit and
 * recovery after a crash; the kind says how one job of it is laid out
 * (prepare) and what running it means (run).
 *
 * A kind is registered with rain_jobs_add_kind() before rain_jobs_start().
 * version must be RAIN_JOB_KIND_VERSION; name and run are required, every
 * other method is optional (the engine tests it for NULL). Methods are
 * called without the engine's lock held and may block, unless said
 * otherwise; they return 0 or a negative RAIN_E* code with a message set.
 */
#ifndef RAIN_SYS_JOB_H
#define RAIN_SYS_JOB_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/blob.h"
#include "rain/jobs.h"
#include "rain/repo.h"

#define RAIN_JOB_KIND_VERSION 1

/* What run() gets: the job and its log. Valid during run() only. */
struct rain_job_run {
	const char *id;
	const char *owner;
	const char *name;               /* what the job is of; may be NULL */
	const char *dir;                /* the job's directory (its files) */
	int log_fd;                     /* the job's log, open for appending */
	int timeout_s;                  /* its time limit; 0: none */
	int64_t started_mono_us;        /* time_mono_us() when it started */
	/* non-zero once the job is to stop (cancel, time limit, shutdown):
	 * run() returns RAIN_ECANCELED soon after */
	volatile sig_atomic_t *cancel;
	struct rain_jobs *jobs;         /* for rain_job_log(), rain_job_token(), ... */
	void *priv;                     /* the engine's */
};

struct rain_job_kind {
	unsigned version;               /* RAIN_JOB_KIND_VERSION */
	const char *name;               /* "build": [a-z0-9-], unique */
	/* The record's file in the job's directory; NULL: "job.json". */
	const char *record_file;
	/* The error of a job that was running when the engine last stopped
	 * (found at start); NULL: "the service stopped during the job". */
	const char *stopped_msg;

	/* Lay out a new job in dir (its staging directory, created empty,
	 * 0700) from input (the kind's own, as given to rain_jobs_submit);
	 * data is the job's stored fields (an object the kind may fill);
	 * *name (NULL on entry) may be set to a new string naming what the
	 * job is of. On error the engine removes dir; whatever else prepare
	 * did it undoes itself. When the job is refused after a prepare
	 * that succeeded, removed() is called. */
	int (*prepare)(void *ud, const char *id, const char *owner, const char *dir,
		       void *input, json_t *data, char **name);
	/* Run the job (required). 0: succeeded; RAIN_ECANCELED after
	 * run->cancel was set; other codes: failed, the message is the
	 * job's error. May set stored fields with rain_job_set(). */
	int (*run)(void *ud, struct rain_job_run *run, json_t *data);
	/* Called (with the engine's lock held: must not block) when a
	 * running job is asked to stop, after run->cancel is set. */
	void (*cancel)(void *ud, const char *id);

	/* What it stores: check the stored fields of a record read back
	 * (RAIN_EFORMAT names the bad field). Unset: taken as they are. */
	int (*check)(void *ud, json_t *data);
	/* At start, for a job found running: stop what it left (processes
	 * working in dir). Returns how many it stopped. */
	int64_t (*recover)(void *ud, const char *id, const char *dir);
	/* After run(), once the job's outcome is known (st, and error for
	 * failed jobs), before it is shown as finished; the log is still
	 * open (run->log_fd). */
	void (*finished)(void *ud, struct rain_job_run *run, enum rain_job_status st,
			 const char *error);
	/* After a finished job was deleted, or a prepared one refused; its
	 * directory is gone. */
	void (*removed)(void *ud, const char *id, const char *owner);
};

/* During run(): append a line (a newline is added; one write, so that
 * readers never see half a line) to the job's log and tell followers. */
void rain_job_log(struct rain_job_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set a stored field of the running job (takes value's reference) and
 * save the record. */
int rain_job_set(struct rain_job_run *run, const char *key, json_t *value);
/* A token of the job's owner, valid until the job's time limit is over
 * and revoked when the job ends (however it ends; at the next start when
 * the engine stops during it). *token is the engine's: valid during
 * run() only. */
int rain_job_token(struct rain_job_run *run, const char **token);

/* During run(): run a program for the job (an argument vector, never a
 * shell string; envp NULL: inherit) in the job's directory, with the
 * job's time limit and cancel, each line of its output appended to the
 * log. A line starting "rain: error: " (how rain's programs report) is
 * kept as the failure's message. RAIN_ECANCELED when canceled or past the
 * time limit (timeout_name, may be NULL, names the setting: "... took
 * longer than 60 s ([vet] timeout)"). 0 when it exited with status 0,
 * else RAIN_EIO with the kept line or "WHAT exited with status N" (what:
 * NULL for argv[0]). status (may be NULL) gets the exit status (128 +
 * signal when killed; -1 when it did not run to its end), for programs
 * whose status means more than failure. */
int rain_job_run_program(struct rain_job_run *run, const char *const *argv,
			 const char *const *envp, const char *what, const char *timeout_name,
			 int *status);

/* During run(): the image data rd reads (rain_repo_data_open) as a local
 * file a child program can open, in *out (new): the stored blob itself
 * when the store keeps it as a local file, else a copy DIR/data (the
 * kind removes it when done). */
int rain_job_image_file(struct rain_job_run *job, struct rain_repo *repo,
			const struct rain_blob_reader *rd, char **out);

/* At start (a kind's recover): processes whose working directory is dir,
 * a program a previous raind started for a job and that outlived it.
 * Ends their process groups (SIGTERM: the program cleans up), waits up to
 * wait_s, then kills what is left. Returns how many there were. */
int64_t rain_job_stop_leftovers(const char *dir, int wait_s);

#endif
