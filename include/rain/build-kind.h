/* Builds as a job kind (rain/sys/job.h): what raind's build service
 * (POST /rain/v1/builds, raind(8)) runs on the job engine.
 *
 * A build's directory holds build.json (its record: the job record with
 * the build's fields store, boot_check and image_id, as
 * rain/build-record.h describes), recipe (the text as submitted), input/
 * (the files sent with it and a copy of the recipe, so that its relative
 * paths resolve there), log and out/. It runs as a child process
 *
 *   RAIN generate DIR/input/.rain-build.recipe -o DIR/out --cache CACHE
 *        [--boot-check]
 *
 * in DIR, with its output lines in the log; a build that succeeds and
 * asked to be stored is put into the repository, owned by the user who
 * submitted it. A recipe with base = image:REF gets RAIN_URL, RAIN_TOKEN
 * (the job's token, rain_job_token) and, with TLS, RAIN_CACERT in its
 * environment; of the caller's environment it gets only PATH, LANG,
 * LANGUAGE, LC_*, TZ and the proxy variables.
 *
 * A build's bytes count against its owner's quota and usage
 * (rain_repo_charge_set, key "build/ID"): its files from before it is
 * queued, the whole folder once it has run; deleting it gives them back.
 */
#ifndef RAIN_BUILD_KIND_H
#define RAIN_BUILD_KIND_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/jobs.h"
#include "rain/repo.h"

#define RAIN_BUILD_KIND_LIMITS_MAX 16

struct rain_build_kind_config {
	struct rain_repo *repo;
	const char *cache_dir;      /* the package cache shared by the builds */
	const char *rain_command;   /* the rain program; NULL: none found */
	/* at most RAIN_BUILD_KIND_LIMITS_MAX limits of each build, "KEY=VALUE"
	 * as rain generate --limit takes them (rain/build.h), NULL-terminated;
	 * NULL: the defaults. Copied. */
	char *const *limits;
	int max_files;              /* files sent with one build; 0: no limit */
	int timeout_s;              /* per build, as given to the engine */
	/* Where builds run (rain/sys/worker.h): "local" (NULL: the same),
	 * a child of raind, or "slurm", a batch job whose worker reports to
	 * raind's worker API; the slurm_* settings are [builds]'s
	 * (raind.conf(5)). Copied. */
	const char *backend;
	const char *slurm_partition, *slurm_account, *slurm_conf;
	int slurm_time_limit_s;     /* 0: timeout_s */
	/* What the kind has to say (a charge that cannot be counted, ...);
	 * may be NULL. */
	void (*log)(void *ud, enum rain_jobs_level level, const char *msg);
	void *log_ud;
	/* A build stored an image (its owner's): to vet it, say; manifest
	 * is the path of the build's manifest.json. May be NULL. Called
	 * from the build's worker. */
	void (*stored)(void *ud, const char *owner, const char *image_id, const char *manifest);
	void *stored_ud;
};

struct rain_build_kind;

/* The kind's state, the ud of rain_build_job_kind's methods. */
int rain_build_kind_new(const struct rain_build_kind_config *cfg, struct rain_build_kind **out);
/* The engine the kind is added to (before any submission). */
void rain_build_kind_attach(struct rain_build_kind *k, struct rain_jobs *jobs);
/* Where the builds reach the repository ("http(s)://HOST:PORT") and the
 * certificate to check it with (NULL: plain HTTP or the system's CAs);
 * before the engine serves. */
int rain_build_kind_set_url(struct rain_build_kind *k, const char *url, const char *cacert);
/* After rain_jobs_start(): drop the charges of builds that are gone (a
 * crash between a charge and the build's publication or deletion) and
 * count the builds that have none. */
void rain_build_kind_reconcile(struct rain_build_kind *k);
void rain_build_kind_free(struct rain_build_kind *k);

/* raind's worker API (POST /rain/v1/builds/ID/worker/..., raind(8)): what
 * a remote worker sends about build id with token, the build's worker
 * token (rain/sys/worker.h), good for that build only while it runs. A
 * token that is not the running build's own is RAIN_EAUTH, with one
 * message whatever the reason. Thread-safe.
 *
 * log: len bytes of the worker's output, appended to the build's log
 * line by line (RAIN_ETOOBIG past 256 MiB in all). */
int rain_build_kind_worker_log(struct rain_build_kind *k, const char *id, const char *token,
			       const char *text, size_t len);
/* An output file name (a plain name, not starting with '.'): *fd (the
 * caller's) is a new file that output_commit (which closes it, whatever
 * happens) makes DIR/out/NAME once the whole file is written. Uploads
 * not committed when the build ends are removed. */
int rain_build_kind_worker_output_open(struct rain_build_kind *k, const char *id,
				       const char *token, const char *name, int *fd);
int rain_build_kind_worker_output_commit(struct rain_build_kind *k, const char *id,
					 const char *token, const char *name, int fd);
/* The worker's outcome, once (RAIN_ECONFLICT after): ok once its outputs
 * are sent; else error says why. */
int rain_build_kind_worker_done(struct rain_build_kind *k, const char *id, const char *token,
				bool ok, const char *error);

extern const struct rain_job_kind rain_build_job_kind;

/* The input of a build submission (rain_jobs_submit's input): the JSON
 * body of POST /rain/v1/builds (see raind(8)). The recipe is parsed, the
 * files' names are checked and every file the recipe's [files] and
 * [scripts] name must be among them: RAIN_EINVAL (the message says what
 * is wrong, with the recipe's line and key), RAIN_ETOOBIG past
 * RAIN_BUILD_FILES_MAX or max_files files or when the bytes do not fit in
 * who's quota. gone (may be NULL) is asked now and then whether the
 * client went away: then nothing is left of the submission and
 * RAIN_ECANCELED is returned. */
struct rain_build_input {
	json_t *body;
	const struct rain_who *who;
	bool (*gone)(void *ud);
	void *gone_ud;
	/* set by the submission: */
	size_t nfiles;
	int64_t bytes;
	int64_t check_us, write_us; /* how long checking and writing took */
};

#endif
