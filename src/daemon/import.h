/* Glance's interoperable import in raind: the methods offered
 * (glance-direct: data staged with PUT /v2/images/ID/stage; web-download:
 * raind fetches a URL itself), the imports running and their tasks.
 *
 * An import runs on a thread of its own (at most [import] max_concurrent
 * at once; more are refused with RAIN_ELIMIT): it copies the staged data,
 * or fetches the URL with libcurl (no proxy, http and https only, at most
 * 5 redirects, each followed by hand and checked against the allow-list,
 * every connection's resolved address checked: daemon/import-url.h),
 * into the image through the repository's import upload (rain/repo.h),
 * which verifies it as an upload (size, disk format, quota, checksums).
 * Tasks are kept in memory (the last IMPORT_TASKS_MAX); after a restart
 * an image's task is described from its properties
 * (os_glance_import_task, os_glance_failed_import, rain_import_error).
 * All functions may be called from any thread. */
#ifndef RAIND_IMPORT_H
#define RAIND_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/repo.h"

#define IMPORT_TASKS_MAX 1000

struct import_config {
	bool glance_direct;
	const char *web_download_allow;     /* URL prefixes; NULL: no web-download */
	const char *web_download_private;   /* CIDR ranges */
	int64_t web_download_max_size;      /* bytes; 0: none besides the repository's */
	int web_download_timeout;           /* seconds */
	int max_concurrent;
};

struct imports;

/* RAIN_EINVAL naming the bad allow-list entry or range. */
int imports_new(struct imports **out, const struct import_config *cfg, struct rain_repo *repo);
/* Stop the running imports (each fails, its image back to queued) and
 * wait for them; free. NULL is fine. */
void imports_free(struct imports *im);

/* The methods offered, a new JSON array of strings. */
json_t *imports_methods(struct imports *im);
/* The same, comma-separated, for the header OpenStack-image-import-methods
 * (borrowed, valid while im lives). */
const char *imports_methods_header(struct imports *im);
/* Start importing image id by method ("glance-direct", "web-download"
 * with uri) for who, request_id naming the request in the task. Returns
 * once the image is importing and the thread runs; RAIN_EINVAL for a
 * method not offered or a bad uri, RAIN_EFORBIDDEN for a uri not
 * allowed, RAIN_ELIMIT when max_concurrent imports run, and the
 * repository's errors (rain_repo_import_begin). */
int imports_start(struct imports *im, const struct rain_who *who, const char *id,
		  const char *method, const char *uri, const char *request_id);
/* Glance's task records of image img (a new array, newest first). */
json_t *imports_tasks(struct imports *im, const struct rain_image *img);
/* Imports running now. */
int imports_running(struct imports *im);

#endif
