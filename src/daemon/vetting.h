/* raind's vetting service: vettings (rain/vet-kind.h) on a job engine of
 * their own (rain/jobs.h), so that an image is vetted while long builds
 * hold the build workers and a user's running build does not count
 * against their vettings.
 *
 * A vetting is submitted for an image (POST /rain/v1/images/{id}/vet) by
 * whoever may modify it, and, with [vet] auto, by raind itself for every
 * image a build stores (as the build's owner). Records live in
 * DATA_DIR/vettings/ID/vet.json; the job API (/rain/v1/jobs) shows, logs,
 * cancels and deletes them like builds. The report is kept with the
 * image (rain_repo_vetting_set: GET /rain/v1/images/{id}/vetting).
 */
#ifndef RAIND_VETTING_H
#define RAIND_VETTING_H

#include <stdbool.h>

#include <jansson.h>

#include "rain/jobs.h"
#include "rain/repo.h"
#include "rain/vet-kind.h"

struct vetting_config {
	const char *dir;            /* the records (created 0700) */
	const char *rain_command;   /* NULL: none found */
	const char *feed;           /* NULL: none */
	const char *default_policy; /* NULL: "default" */
	const struct rain_vet_kind_policy *policies;
	size_t npolicies;
	int max_concurrent;         /* workers, >= 1 */
	int max_queued_per_user;    /* 0: no limit */
	int timeout_s;
	bool enabled;               /* false: submissions refused */
};

struct vetting;

/* Load the records, recover (vettings found running failed) and start
 * the workers when enabled. */
int vetting_start(struct vetting **out, const struct vetting_config *cfg, struct rain_repo *repo);
void vetting_quiesce(struct vetting *v);
/* Stop, join and free; NULL is fine. */
void vetting_stop(struct vetting *v);
struct rain_jobs *vetting_jobs(struct vetting *v);

/* Vet image id for who with policy (NULL: the default); *out is the new
 * record. RAIN_ECONFLICT when the service is disabled or the image has no
 * data; RAIN_ELIMIT past max_queued_per_user (HTTP 429); RAIN_EINVAL for
 * an unknown policy. */
int vetting_submit(struct vetting *v, const struct rain_who *who, const char *id,
		   const char *policy, bool runtime, json_t **out);

#endif
