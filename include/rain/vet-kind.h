/* Vetting as a job kind (rain/sys/job.h): what raind runs for
 * POST /rain/v1/images/{id}/vet and, with [vet] auto, for every image a
 * build stores (raind(8)).
 *
 * A vetting's directory holds vet.json (the job record with the fields
 * image_id, policy, runtime and, once done, verdict, sha256 and counts),
 * log, report.json, for an image whose recipe is stored with it
 * (rain_recipe) recipe, and for an image a build just stored the build's
 * manifest.json. It runs as a child process
 *
 *   RAIN vet DATA --json -o DIR/report.json --policy NAME [--set K=V]...
 *       [--feed FEED] [--recipe DIR/recipe] [--manifest DIR/manifest.json]
 *       [--runtime]
 *
 * where DATA is the image's stored data, read in place (never mounted,
 * nothing in it run; rain/imgfs.h): so that a hostile image that trips a
 * reader takes down a child, not raind. Its lines go to the log. When it
 * succeeds the report is kept with the image (rain_repo_vetting_set),
 * unless the image got other data meanwhile.
 */
#ifndef RAIN_VET_KIND_H
#define RAIN_VET_KIND_H

#include <stdbool.h>

#include <jansson.h>

#include "rain/jobs.h"
#include "rain/repo.h"

#define RAIN_VET_KIND_SETTINGS_MAX 64

/* rain vet's exit status when the image failed its policy (rain-vet(1)). */
#define RAIN_VET_EXIT_FAILED 3

/* A named policy: its settings as rain vet --set takes them. */
struct rain_vet_kind_policy {
	const char *name;
	const char *const *settings;    /* "KEY=VALUE", NULL-terminated */
};

struct rain_vet_kind_config {
	struct rain_repo *repo;
	const char *rain_command;       /* the rain program; NULL: none found */
	const char *feed;               /* the vulnerability feed file (used by each
					 * vetting when it exists); NULL: none */
	const char *default_policy;     /* NULL: "default" */
	/* the policies of the config (besides the built-in "default"),
	 * NULL-terminated by name; copied */
	const struct rain_vet_kind_policy *policies;
	size_t npolicies;
	int timeout_s;                  /* per vetting, as given to the engine */
	void (*log)(void *ud, enum rain_jobs_level level, const char *msg);
	void *log_ud;
};

struct rain_vet_kind;

int rain_vet_kind_new(const struct rain_vet_kind_config *cfg, struct rain_vet_kind **out);
void rain_vet_kind_free(struct rain_vet_kind *k);

extern const struct rain_job_kind rain_vet_job_kind;

/* The input of a vetting (rain_jobs_submit's input). who must be allowed
 * to modify the image (rain/policy.h); the image must have data.
 * RAIN_EINVAL for an unknown policy (the message names the known ones). */
struct rain_vet_input {
	const char *image_id;
	const char *policy;             /* NULL: the default */
	bool runtime;                   /* also boot it (rain vet --runtime) */
	/* the manifest.json of the build that made the image (a path, copied
	 * into the vetting; rain vet --manifest); NULL: none */
	const char *manifest;
	const struct rain_who *who;
};

#endif
