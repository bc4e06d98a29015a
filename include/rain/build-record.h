/* The record of one build of raind's build service (POST /rain/v1/builds),
 * as kept in DATA_DIR/builds/ID/build.json and sent to clients, and the
 * rules for the names of the files sent with a build.
 *
 * A build's status is its job's (rain/jobs.h: rain_job_status_name,
 * rain_job_status_parse, rain_job_status_finished):
 *   queued --a worker takes it--> running --> succeeded | failed | canceled
 *   queued --cancel--> canceled
 *   running, after raind stopped during it --> failed
 */
#ifndef RAIN_BUILD_RECORD_H
#define RAIN_BUILD_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/jobs.h"

/* At most this many bytes of files (decoded) go with one build. */
#define RAIN_BUILD_FILES_MAX ((int64_t)64 << 20)
/* The copy of the recipe among the build's input files has this name,
 * which submitted files therefore cannot use. */
#define RAIN_BUILD_RECIPE_NAME ".rain-build.recipe"

struct rain_build_record {
	char id[37];
	char *owner;
	char *name;               /* the recipe's [image] name */
	enum rain_job_status status;
	int64_t created_us;
	int64_t started_us;       /* 0: not yet */
	int64_t finished_us;      /* 0: not yet */
	char *error;              /* why it failed; NULL otherwise */
	char *image_id;           /* the stored image; NULL when not stored */
	bool store;               /* store the result when it succeeds */
	bool boot_check;
};

/* The record as JSON (a new object): id, owner, name, status, created_at,
 * started_at, finished_at (ISO 8601 or null), error, image_id, store,
 * boot_check. NULL on ENOMEM. */
json_t *rain_build_record_to_json(const struct rain_build_record *r);
/* Read a record back (as written by rain_build_record_to_json), checking
 * every field; *out owns its strings (rain_build_record_clear).
 * RAIN_EFORMAT names the first bad field. */
int rain_build_record_from_json(json_t *j, struct rain_build_record *out);
void rain_build_record_clear(struct rain_build_record *r);

/* Normalize the name of a file sent with a build into a new string in
 * *out: it must be relative, made of printable path components that are
 * not "..", at most 1024 bytes; "." components and repeated slashes are
 * dropped ("./files//motd" is "files/motd"). RAIN_EINVAL with a message
 * naming the file otherwise, also for RAIN_BUILD_RECIPE_NAME. */
int rain_build_file_name(const char *name, char **out);

#endif
