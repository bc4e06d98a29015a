/* raind's runs: a user's registration of an image started as N instances
 * at a site, a command run in them and everything taken down again
 * (rain/run-kind.h), on a job engine of their own (rain/jobs.h).
 *
 * A run's record is its job's, in DATA_DIR/runs/ID (run.json, the log,
 * the state of what exists at the site, fetched files in out/); shown,
 * followed and stopped through /rain/v1/runs (and /rain/v1/jobs).
 *
 * The quota: the instances one user has in use at once (queued and
 * running runs' n, and the instances of runs that keep them) stay within
 * [runs] max_instances.
 */
#ifndef RAIND_RUNS_H
#define RAIND_RUNS_H

#include <stdbool.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon/registrations.h"
#include "rain/jobs.h"
#include "rain/repo.h"
#include "rain/run-kind.h"

struct runs_config {
	const char *dir;                /* the jobs (created 0700) */
	const char *rain_command;       /* NULL: none found (runs are off) */
	struct registrations *registrations;    /* borrowed: sites, registrations */
	int max_concurrent;
	int max_queued_per_user;
	int max_instances;              /* per user at once */
	int max_per_run;
	int max_walltime_s;
	const char *share_roots;        /* [runs] share_roots, or NULL */
	bool enabled;
};

struct runs;

/* Load the records, recover (runs found running fail and what they
 * started is taken down) and start the workers when enabled. */
int runs_start(struct runs **out, const struct runs_config *cfg, struct rain_repo *repo);
void runs_quiesce(struct runs *g);
void runs_stop(struct runs *g);
/* NULL for NULL. */
struct rain_jobs *runs_jobs(struct runs *g);

/* Submit a run; *out is its record (queued). RAIN_ENOTFOUND (site, image,
 * registration: the message says to register first), RAIN_EFORBIDDEN
 * (who may not use the site, or the instances quota), RAIN_EINVAL,
 * RAIN_ETOOBIG (n past max_per_run), RAIN_ECONFLICT when runs are off,
 * RAIN_ELIMIT past max_queued_per_user. */
int runs_submit(struct runs *g, const struct rain_run_input *in, json_t **out);
/* {"runs": [...]} who may see (theirs; an admin all), newest first; with
 * status only those (queued, running, succeeded, failed, canceled, or
 * "active": queued, running or with instances kept). */
int runs_list(struct runs *g, const struct rain_who *who, const char *status, json_t **out);
int runs_get(struct runs *g, const struct rain_who *who, const char *id, json_t **out);
/* Stop a queued or running run (its instances are taken down) or take a
 * kept run's instances down; *out the record afterwards. RAIN_ECONFLICT
 * when it ended and nothing of it is up. */
int runs_halt(struct runs *g, const struct rain_who *who, const char *id, json_t **out);
/* A fetched file of the run, NAME relative to its out folder (nothing
 * outside it, no symbolic link): a new fd and its stat. */
int runs_file(struct runs *g, const struct rain_who *who, const char *id, const char *name,
	      int *fd, struct stat *st);

#endif
