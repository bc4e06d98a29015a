/* Runs (daemon/runs.h does the work):
 *
 *   POST   /rain/v1/runs                 {"image": ID|NAME, "site": NAME,
 *                                        "command": [ARGV...] or "script": TEXT,
 *                                        "n": N, "walltime": S, "each": bool,
 *                                        "keep": bool, "out": [PATH...],
 *                                        "share": DIR, "share_rw": bool} (all
 *                                        but image, site and command or
 *                                        script optional; share: a host
 *                                        folder under [runs] share_roots,
 *                                        403 otherwise): 202 and the run
 *                                        (Location /rain/v1/runs/ID); 404 no
 *                                        such site or image, or the image is
 *                                        not registered there (register it
 *                                        first); 403 who may not use the
 *                                        site, or past [runs] max_instances;
 *                                        413 n past [runs] max_per_run; 409
 *                                        runs are off; 429
 *   GET    /rain/v1/runs                 {"runs": [...]}, newest first;
 *                                        ?status= (a job status, or active:
 *                                        queued, running or kept)
 *   GET    /rain/v1/runs/{id}            one run: the job's record with
 *                                        instances (those up), kept and
 *                                        history (every instance it had:
 *                                        name, address, state up or gone)
 *   GET    /rain/v1/runs/{id}/log        its log (?offset=N, ?follow=1): lines
 *                                        starting "rain: " are progress, the
 *                                        others the job's output
 *   GET    /rain/v1/runs/{id}/files/{name}  a fetched file ("files" of the
 *                                        record; name URL-encoded)
 *   POST   /rain/v1/runs/{id}/stop       stop it (its instances are taken
 *   DELETE /rain/v1/runs/{id}            down), or take a kept run's down:
 *                                        200 and the run; 409 when nothing of
 *                                        it is up
 *
 * Users see their own runs, admins all. A run's start is written to the
 * audit log (method RUN: who ran what image where, how many instances).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/runs.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define STRV_MAX 256

static struct runs *service(struct request *req)
{
	struct runs *g = request_runs(req);

	if (!g)
		http_reply_error(req, 409, "this raind does not run images");
	return g;
}

/* A JSON array of strings as a new NULL-terminated vector of borrowed
 * strings; NULL (and *bad) when it is something else. */
static const char **strv_of(json_t *a, bool *bad)
{
	const char **v;
	json_t *s;
	size_t i;

	if (!a)
		return NULL;
	if (!json_is_array(a) || json_array_size(a) > STRV_MAX) {
		*bad = true;
		return NULL;
	}
	v = calloc(json_array_size(a) + 1, sizeof(*v));
	if (!v) {
		*bad = true;
		return NULL;
	}
	json_array_foreach(a, i, s) {
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
			free(v);
			*bad = true;
			return NULL;
		}
		v[i] = json_string_value(s);
	}
	return v;
}

static bool int_ok(json_t *v, int *out)
{
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30)
		return false;
	*out = (int)json_integer_value(v);
	return true;
}

static void audit_run(struct request *req, json_t *run)
{
	struct rain_audit_entry e = { .at = time_now_us(), .status = 202 };

	snprintf(e.actor, sizeof(e.actor), "%s", req->who.owner ? req->who.owner : "");
	request_client_addr(req, e.address, sizeof(e.address));
	snprintf(e.method, sizeof(e.method), "RUN");
	snprintf(e.path, sizeof(e.path), "/rain/v1/runs/%s: image %s at site %s, %" PRId64
		 " instance(s)", json_string_value(json_object_get(run, "id")),
		 json_string_value(json_object_get(run, "image_id")),
		 json_string_value(json_object_get(run, "site")),
		 (int64_t)json_integer_value(json_object_get(run, "n")));
	snprintf(e.target, sizeof(e.target), "%s", json_string_value(json_object_get(run, "id")));
	if (rain_catalog_audit_append(rain_repo_catalog(request_repo(req)), &e) < 0)
		log_printf(LOG_WARN, "cannot append to the audit log: %s", rain_error_last());
}

static int submit(struct request *req)
{
	static const char *const keys[] = { "image", "site", "command", "script", "n", "walltime",
					    "each", "keep", "out", "share", "share_rw", NULL };
	struct runs *g = service(req);
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ const char **argv = NULL, **out = NULL;
	struct rain_run_input in = { .n = 1, .who = &req->who };
	json_t *run = NULL, *image, *site, *script, *each, *keep, *share, *share_rw;
	const char *key;
	json_t *v;
	char location[96];
	bool bad = false;
	int r;

	if (!g)
		return 0;
	body = request_json(req);
	if (!body)
		return 0;
	if (!json_is_object(body))
		return http_reply_error(req, 400, "the body must be a JSON object");
	json_object_foreach(body, key, v)
		if (!str_in_list(keys, key))
			return http_reply_error(req, 400, "a run has no field \"%s\" (it has image, site, "
						"command or script, n, walltime, each, keep, out, share "
						"and share_rw)",
						key);
	image = json_object_get(body, "image");
	site = json_object_get(body, "site");
	script = json_object_get(body, "script");
	each = json_object_get(body, "each");
	keep = json_object_get(body, "keep");
	share = json_object_get(body, "share");
	share_rw = json_object_get(body, "share_rw");
	argv = strv_of(json_object_get(body, "command"), &bad);
	out = strv_of(json_object_get(body, "out"), &bad);
	if (!json_is_string(image) || !json_is_string(site) || bad ||
	    (script && (!json_is_string(script) ||
			strlen(json_string_value(script)) != json_string_length(script))) || (each && !json_is_boolean(each)) ||
	    (keep && !json_is_boolean(keep)) || (share && !json_is_string(share)) ||
	    (share_rw && !json_is_boolean(share_rw)) || !int_ok(json_object_get(body, "n"), &in.n) ||
	    !int_ok(json_object_get(body, "walltime"), &in.walltime_s))
		return http_reply_error(req, 400, "the body must be {\"image\": ID or NAME, \"site\": "
					"NAME, \"command\": [strings] or \"script\": TEXT} with "
					"optional \"n\" and \"walltime\" (counts), \"each\", "
					"\"keep\" and \"share_rw\" (true or false), \"out\" "
					"(paths) and \"share\" (a host folder)");
	in.image = json_string_value(image);
	in.site = json_string_value(site);
	in.argv = argv;
	in.script = json_string_value(script);
	in.out = out;
	in.each = json_is_true(each);
	in.keep = json_is_true(keep);
	in.share = json_string_value(share);
	in.share_rw = json_is_true(share_rw);
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", in.image);
	r = runs_submit(g, &in, &run);
	if (r < 0)
		return r;
	audit_run(req, run);
	snprintf(location, sizeof(location), "/rain/v1/runs/%s",
		 json_string_value(json_object_get(run, "id")));
	return http_reply_json(req, 202, run, "Location", location, NULL);
}

static int list(struct request *req)
{
	struct runs *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = runs_list(g, &req->who, request_query(req, "status"), &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int show(struct request *req)
{
	struct runs *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = runs_get(g, &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int halt(struct request *req)
{
	struct runs *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = runs_halt(g, &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int log_get(struct request *req)
{
	struct runs *g = service(req);
	int r;

	if (!g)
		return 0;
	r = api_job_log(req, runs_jobs(g), "run", RAIN_ACT_JOB_SHOW, req->params[0]);
	if (r == RAIN_ENOTFOUND)
		return http_reply_error(req, 404, "no run %s", req->params[0]);
	return r;
}

static int file_get(struct request *req)
{
	struct runs *g = service(req);
	struct MHD_Response *resp;
	struct stat st;
	int fd, r;

	if (!g)
		return 0;
	r = runs_file(g, &req->who, req->params[0], req->params[1], &fd, &st);
	if (r < 0)
		return r;
	resp = MHD_create_response_from_fd_at_offset64((uint64_t)st.st_size, fd, 0);
	if (!resp) {
		close(fd);
		return rain_error_set(RAIN_ENOMEM, "cannot build the response for %s",
				      req->params[1]);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	req->bytes_out = st.st_size;
	return http_reply_response(req, 200, resp);
}

const struct route api_runs_routes[] = {
	{ "POST", "/rain/v1/runs", BODY_JSON, RAIN_ACT_ANY_USER, submit, NULL, NULL, NULL,
	  2 << 20 },
	{ "GET", "/rain/v1/runs", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/runs/{}", BODY_NONE, RAIN_ACT_ANY_USER, show, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/runs/{}/log", BODY_NONE, RAIN_ACT_ANY_USER, log_get, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/runs/{}/files/{}", BODY_NONE, RAIN_ACT_ANY_USER, file_get, NULL, NULL,
	  NULL, 0 },
	{ "POST", "/rain/v1/runs/{}/stop", BODY_NONE, RAIN_ACT_ANY_USER, halt, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/runs/{}", BODY_NONE, RAIN_ACT_ANY_USER, halt, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
