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
	/* the feed file: used by each vetting when it exists; replaced by
	 * vetting_feed_put (when it is raind's own, not [vet] feed) */
	const char *feed;
	bool feed_writable;
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

/* Vet image id for who with policy (NULL: the default), with the
 * manifest of the build that made it (a path; NULL: none); *out is the
 * new record. RAIN_ECONFLICT when the service is disabled or the image has no
 * data; RAIN_ELIMIT past max_queued_per_user (HTTP 429); RAIN_EINVAL for
 * an unknown policy. */
int vetting_submit(struct vetting *v, const struct rain_who *who, const char *id,
		   const char *policy, bool runtime, const char *manifest, json_t **out);

/* The vulnerability feed kept with the repository (DATA_DIR/vet/feed,
 * or [vet] feed, which raind only reads): PUT /rain/v1/vetting/feed
 * replaces it (admins), GET shows what it is. */
#define VETTING_FEED_MAX (256 << 20)

struct vetting_feed_upload;
/* Receive a new feed: begin, write its bytes, then end (which checks
 * that it is a feed, rain/vet-feed.h, and puts it in place atomically,
 * made durable) or abort. RAIN_EFORBIDDEN when the feed is [vet] feed's,
 * RAIN_ETOOBIG past VETTING_FEED_MAX. *info is what the new feed is. */
int vetting_feed_begin(struct vetting *v, struct vetting_feed_upload **out);
int vetting_feed_write(struct vetting_feed_upload *u, const void *buf, size_t len);
int vetting_feed_end(struct vetting_feed_upload *u, json_t **info);
void vetting_feed_abort(struct vetting_feed_upload *u);
/* {"release", "origin", "kind", "family", "date", "advisories",
 * "packages", "ids", "unfixed"}; RAIN_ENOTFOUND when there is none. */
int vetting_feed_info(struct vetting *v, json_t **out);

#endif
