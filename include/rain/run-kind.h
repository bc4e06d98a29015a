/* Runs as a job kind (rain/sys/job.h): what raind runs for
 * POST /rain/v1/runs (raind(8), rain-run(1)).
 *
 * A run starts N instances of a user's registration of an image at a site
 * (rain/provision.h), runs a command or a script in them and takes them
 * down. Its record is the job's (DIR/ID/run.json), with the stored fields
 * image_id, image_name, site, site_kind, registration, n, walltime, each,
 * keep, command (the argument vector) or script (true), out (paths to
 * fetch), share and share_rw (the shared folder's real path, or null),
 * and once known exit_code (the job's exit status; 124 when the
 * walltime passed, 125 when rain failed, 130 when it was stopped: see
 * RAIN_RUN_EXIT_*), files (what was fetched, relative to DIR/ID/out) and
 * seconds. What exists at the site is DIR/ID/state.json, the provider's
 * (rain/provision.h).
 *
 * Its job's directory holds run.json, log, state.json, registration.json
 * (the registration's state), job.sh (a script), out/ (fetched files)
 * and while it runs site.ini (0600). It runs as a child process
 *
 *   RAIN provision run --sites DIR/site.ini --site NAME
 *       --registration DIR/registration.json --state DIR/state.json
 *       --work DIR --id ID -n N [--each] [--walltime S] [--keep]
 *       [--script DIR/job.sh] [--out P]... --outdir DIR/out
 *       [--share REAL [--share-rw]] [-- ARGV]
 *
 * (the share checked again against the roots just before the child
 * starts: a folder swapped for a symlink while the run was queued is
 * refused)
 *
 * whose output is the job's log: lines starting "rain: " are rain's
 * progress, the others the job's output. When the child fails, is
 * canceled, or raind stops during it, what state.json names is removed
 * with `RAIN provision down` (unless the run keeps its instances and the
 * job ended by itself). A kept run's instances are removed by
 * rain_run_kind_down.
 */
#ifndef RAIN_RUN_KIND_H
#define RAIN_RUN_KIND_H

#include <stdbool.h>

#include <jansson.h>

#include "rain/jobs.h"
#include "rain/register-kind.h"
#include "rain/repo.h"

struct rain_run_kind_config {
	struct rain_repo *repo;
	/* borrowed, must outlive the kind: the sites and registrations */
	struct rain_register_kind *registrations;
	const char *rain_command;       /* the rain program; NULL: none found */
	int max_per_run;                /* instances one run may ask for
					 * (1..RAIN_RUN_MAX_INSTANCES) */
	int max_walltime_s;             /* the longest walltime; a run
					 * without one gets it */
	/* The host folders users may share into their instances
	 * (rain_run_share_allowed; raind's [runs] share_roots); NULL: none. */
	const char *share_roots;
	void (*log)(void *ud, enum rain_jobs_level level, const char *msg);
	void *log_ud;
};

struct rain_run_kind;

int rain_run_kind_new(const struct rain_run_kind_config *cfg, struct rain_run_kind **out);
void rain_run_kind_free(struct rain_run_kind *k);

extern const struct rain_job_kind rain_run_job_kind;

/* The input of a run (rain_jobs_submit's input). */
struct rain_run_input {
	const char *image;              /* an image id, or a name of one image */
	const char *site;
	int n;                          /* instances */
	int walltime_s;                 /* 0: the kind's max_walltime_s */
	bool each;                      /* on every instance */
	bool keep;                      /* leave the instances up */
	const char *const *argv;        /* NULL-terminated, or NULL with script */
	const char *script;             /* a script's text, or NULL with argv */
	const char *const *out;         /* paths to fetch, NULL-terminated; may be NULL */
	const char *share;              /* a host folder shared into each instance
					 * (rain_run_share_allowed), or NULL */
	bool share_rw;                  /* writable from inside */
	const struct rain_who *who;
};

/* Whether user may share the host folder path into a run's instances:
 * roots is a list of absolute folders separated by blanks, where a path
 * component "%u" stands for the user's name. path must be absolute
 * without "." or ".." components, and its real path (symlinks resolved)
 * a folder at or under the real path of one root: a symlink that leads
 * out of the roots is refused. *real (new) is that real path, the one to
 * share. RAIN_EFORBIDDEN when there are no roots (the server shares
 * nothing) or the path is not under one, RAIN_EINVAL for a bad path,
 * RAIN_ENOTFOUND when it does not exist; the message names the path and
 * the user's roots. */
int rain_run_share_allowed(const char *roots, const char *user, const char *path, char **real);

/* What prepare checks, for answering before a job is made: the input
 * (n within 1..max_per_run, walltime within max_walltime_s, argv or a
 * script, out paths, a share: rain_run_share_allowed, and a provider
 * that shares), the site exists, who may use it and its kind has a
 * provider, who may read the image, and who's registration of the image
 * at the site exists and is registered (RAIN_ENOTFOUND saying to
 * register it first: rain register IMAGE --site SITE). *reg (may be
 * NULL; reg->doc new) is that registration. */
int rain_run_check(struct rain_run_kind *k, const struct rain_run_input *in,
		   struct rain_registration *reg);

/* The run's instances as its state names them (a new array of {name,
 * ...}, secrets left out) from DIR/state.json; an empty array when there
 * is none. */
json_t *rain_run_instances(const char *dir);

/* Every instance the run had, up or gone (a new array of {name, address
 * ("HOST:PORT" of its ssh, or null), state: "up" while the state names
 * it, else "gone"}) from DIR/state.json; empty when there is none. */
json_t *rain_run_history(const char *dir);

/* Remove what a run's state (dir/state.json) names with `RAIN provision
 * down`, its lines appended to the run's log; site is the run's
 * ("site" of its record). What is gone already is not an error. */
int rain_run_kind_down(struct rain_run_kind *k, const char *site, const char *dir);

#endif
