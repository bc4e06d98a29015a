/* Registration as a job kind (rain/sys/job.h): what raind runs for
 * POST /rain/v1/registrations, and deregistration (raind(8)).
 *
 * A registration's id is its job's id. Its record lives in the catalog
 * (struct rain_registration in rain/catalog.h), status
 *   registering --> registered | failed | canceled
 *   registered --deregister--> removing --> removed (or failed again,
 *   with what could not be removed still named; or back to what it was,
 *   RAIN_ECONFLICT, when the site refused before removing anything, as a
 *   libvirt site does while a run's disk is backed by the volume)
 * and its doc holds: image_name, image_sha256, site_kind, policy, vetting
 * ({verdict, policy, override, failing: [rules]}), adapted (the
 * artifacts' hashes, sizes and kernel version), state (what exists at
 * the site, the driver's: rain/sys/target.h), show (what the driver says
 * users want to see: remote ids, URLs), error, seconds.
 *
 * Its job's directory holds register.json (the job record), log,
 * state.json, and while it runs site.ini (the site's settings, 0600) and
 * key.pub. It runs as a child process
 *
 *   RAIN target publish --sites DIR/site.ini --site NAME --state DIR/state.json
 *       --work CACHE/KEY --id ID --sha256 HEX [--ssh-key DIR/key.pub]
 *       [--property K=V]... DATA
 *
 * where DATA is the image's stored data, read in place and never written,
 * and CACHE/KEY the adapted copy for this image data, site and key: a
 * second registration of the same image at the same site reuses it.
 * When the child fails, is canceled, or raind stops during it, what
 * state.json names is removed with `RAIN target unpublish`.
 */
#ifndef RAIN_REGISTER_KIND_H
#define RAIN_REGISTER_KIND_H

#include <stdbool.h>

#include <jansson.h>

#include "rain/catalog.h"
#include "rain/jobs.h"
#include "rain/repo.h"
#include "rain/target.h"

struct rain_register_kind_config {
	struct rain_repo *repo;
	const char *rain_command;       /* the rain program; NULL: none found */
	struct rain_site *const *sites; /* borrowed: live as long as the kind */
	size_t nsites;
	const char *cache_dir;          /* adapted copies (created 0700) */
	int timeout_s;                  /* per registration (the engine's) */
	void (*log)(void *ud, enum rain_jobs_level level, const char *msg);
	void *log_ud;
};

struct rain_register_kind;

int rain_register_kind_new(const struct rain_register_kind_config *cfg,
			   struct rain_register_kind **out);
void rain_register_kind_free(struct rain_register_kind *k);

extern const struct rain_job_kind rain_register_job_kind;

/* The site of that name, or RAIN_ENOTFOUND naming the sites there are. */
int rain_register_site(struct rain_register_kind *k, const char *name, const struct rain_site **out);

/* The input of a registration (rain_jobs_submit's input). */
struct rain_register_input {
	const char *image_id;
	const char *site;
	const char *ssh_key;            /* one public key line; NULL: none */
	bool override;                  /* register despite the vetting gate (admins) */
	const struct rain_who *who;
};

/* What prepare checks, for answering before a job is made: the site
 * exists and who may register there, who may download the image, it has
 * data, and the vetting gate: when the site names a policy, the image
 * must have passed (or passed with warnings) that policy on its current
 * data. Refused with RAIN_EFORBIDDEN naming the failing rules, unless
 * in->override by an admin. *gate (may be NULL) is a new object
 * {verdict, policy, override, failing: [...]}. */
int rain_register_check(struct rain_register_kind *k, const struct rain_register_input *in,
			json_t **gate);

/* An earlier registration of the same image data at the same site by
 * owner that is still registered, into *out (out->doc new); RAIN_ENOTFOUND
 * when there is none. */
int rain_register_find(struct rain_register_kind *k, const char *image_id, const char *site,
		       const char *owner, struct rain_registration *out);

/* A registration as the API shows it (a new object): id, image_id, site,
 * owner, status, created_at, updated_at (ISO 8601) and the doc's fields. */
int rain_register_to_json(const struct rain_registration *r, json_t **out);

/* Deregister: remove what the registration made at its site (the
 * registration must be registered or failed with things left), through
 * `RAIN target unpublish`; the record goes to removed, or keeps what
 * could not be removed and the error. who must own it or be an admin
 * (RAIN_ENOTFOUND otherwise). RAIN_ECONFLICT while it is registering, or
 * when the site refused before removing anything (the record stays as it
 * was).
 * *out (may be NULL): the record afterwards. */
int rain_register_remove(struct rain_register_kind *k, const struct rain_who *who, const char *id,
			 json_t **out);

#endif
