/* The table a build worker backend implements: where the build job kind
 * (rain/build-kind.h) runs a build's `rain generate`.
 *
 *   local   a child of raind in the build's directory (the default);
 *   slurm   a batch job on a compute node (src/lib/build/workers/slurm.c):
 *           `rain build-worker` there runs the build and reports back to
 *           raind's worker API with a token of that build only.
 *
 * One file each in src/lib/build/workers/, found through the driver
 * registry (rain/sys/registry.h, kind "worker") by [builds] backend.
 * version must be RAIN_WORKER_BACKEND_VERSION; name and run are
 * required, every other method is optional (tested for NULL). Methods
 * return 0 or a negative RAIN_E* code with a message set.
 *
 * A remote backend's worker reports through a session (below) that the
 * build kind opens before run() and closes after it: the worker's log
 * lines go into the build's log as they come, its outputs into DIR/out,
 * and its outcome into the session, which run() polls. raind stores the
 * result itself after run() returned 0, as for a local build, so a build
 * stopped at any point leaves no image half stored.
 */
#ifndef RAIN_SYS_WORKER_H
#define RAIN_SYS_WORKER_H

#include <stdbool.h>

#include "rain/sys/job.h"

#define RAIN_WORKER_BACKEND_VERSION 1

/* The settings of [builds] a backend reads (strings borrowed for the
 * backend's open only: it copies what it keeps). */
struct rain_worker_settings {
	const char *partition;          /* slurm: sbatch --partition; NULL: the default */
	const char *account;            /* slurm: sbatch --account; NULL: none */
	const char *slurm_conf;         /* slurm: SLURM_CONF of its commands; NULL: inherit */
	int time_limit_s;               /* slurm: the job's walltime; 0: the build's timeout */
	int timeout_s;                  /* the build's time limit ([builds] timeout) */
};

/* What one build is. Valid during run() only. */
struct rain_worker_task {
	/* the `rain generate ...` command line of a local build
	 * (argv[0] the rain program) and its environment */
	const char *const *argv;
	const char *const *envp;
	const char *rain_command;       /* the rain program (argv[0]) */
	const char *recipe;             /* DIR/input/.rain-build.recipe */
	const char *cache_dir;
	bool boot_check;
	char *const *limits;            /* "KEY=VALUE", NULL-terminated */
	const char *url;                /* where a remote worker reaches raind */
	const char *cacert;             /* its CA certificate; NULL: none */
	const char *token;              /* the build's worker token (a secret) */
	struct rain_worker_session *session;    /* NULL for local backends */
};

struct rain_worker_backend {
	unsigned version;               /* RAIN_WORKER_BACKEND_VERSION */
	const char *name;               /* "local", "slurm" */
	/* Whether it needs a worker session (a worker that reports back). */
	bool remote;
	/* Check settings and make the backend's state (*state, may stay
	 * NULL). RAIN_EINVAL names the bad setting. */
	int (*open)(const struct rain_worker_settings *s, void **state);
	void (*close)(void *state);
	/* Run the build (required): 0 when it succeeded and DIR/out holds
	 * its outputs (manifest.json among them); RAIN_ECANCELED soon after
	 * job->cancel was set; other codes: it failed, the message says why
	 * (a remote worker's own error, or what became of its job). */
	int (*run)(void *state, struct rain_job_run *job, const struct rain_worker_task *task);
	/* At start, for a build found running (raind stopped during it):
	 * stop what it left (processes, jobs). Returns how many. */
	int64_t (*recover)(void *state, const char *id, const char *dir);
};

/* A remote build's session (build-worker.c), for run(). */
struct rain_worker_session;

/* Whether the worker reported its outcome: true with *ok and, when it
 * failed, *error (a new string, or NULL). */
bool rain_worker_session_reported(struct rain_worker_session *ws, bool *ok, char **error);
/* Whether the worker reached raind at all (any report). */
bool rain_worker_session_contacted(struct rain_worker_session *ws);

#endif
