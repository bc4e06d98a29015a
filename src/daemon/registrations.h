/* raind's registration service: registrations of images at sites
 * (rain/register-kind.h) on a job engine of their own (rain/jobs.h), the
 * sites of the configuration ([site.NAME], rain/target.h) and
 * deregistration.
 *
 * Registration records live in the catalog; the job of a registration
 * (same id) in DATA_DIR/registrations/ID, shown, logged and canceled
 * through /rain/v1/jobs like builds and vettings.
 */
#ifndef RAIND_REGISTRATIONS_H
#define RAIND_REGISTRATIONS_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/config.h"
#include "rain/jobs.h"
#include "rain/register-kind.h"
#include "rain/repo.h"

struct registrations_config {
	const char *dir;            /* the jobs (created 0700) */
	const char *cache_dir;      /* adapted copies */
	const char *rain_command;   /* NULL: none found (registration is off) */
	const struct config_section *sites;
	size_t nsites;
	int max_concurrent;
	int max_queued_per_user;
	int timeout_s;
	bool enabled;
};

struct registrations;

/* Make the sites (a bad one stops raind: the error names the section and
 * key), load the records, recover and start the workers when enabled. */
int registrations_start(struct registrations **out, const struct registrations_config *cfg,
			struct rain_repo *repo);
void registrations_quiesce(struct registrations *g);
void registrations_stop(struct registrations *g);
struct rain_jobs *registrations_jobs(struct registrations *g);
/* The registration kind (its sites and registrations), for runs. */
struct rain_register_kind *registrations_kind(struct registrations *g);

/* Register image id at site for who. *out is the registration's record;
 * *created false when an earlier registration of the same image data at
 * the site is still registered (that one is returned). override: past
 * the vetting gate (admins; the caller audits it). RAIN_ENOTFOUND for an
 * unknown site or image, RAIN_EFORBIDDEN (who may not register there, or
 * the vetting gate with its failing rules), RAIN_ECONFLICT when disabled
 * or the image has no data, RAIN_ELIMIT past max_queued_per_user. */
int registrations_submit(struct registrations *g, const struct rain_who *who, const char *id,
			 const char *site, const char *ssh_key, bool override, json_t **out,
			 bool *created);
/* {"registrations": [...]} who may see (theirs; an admin all), newest
 * first, filtered by site, image and status when not NULL. */
int registrations_list(struct registrations *g, const struct rain_who *who, const char *site,
		       const char *image_id, const char *status, json_t **out);
int registrations_get(struct registrations *g, const struct rain_who *who, const char *id,
		      json_t **out);
/* Deregister (rain_register_remove). */
int registrations_remove(struct registrations *g, const struct rain_who *who, const char *id,
			 json_t **out);
/* {"sites": [...]}: each site's name, kind, policy, kernels, users and
 * whether who may register there; admins also see uri and settings (with
 * secrets hidden). */
int registrations_sites(struct registrations *g, const struct rain_who *who, const char *name,
			json_t **out);

#endif
