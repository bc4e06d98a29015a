/* The build service's API (daemon/builds.h does the work):
 *
 *   POST   /rain/v1/builds              submit {"recipe", "files", "store",
 *                                       "boot_check"}: 202 and the record
 *   GET    /rain/v1/builds              {"builds": [...]}, newest first
 *   GET    /rain/v1/builds/{id}         the record (+ position, manifest)
 *   GET    /rain/v1/builds/{id}/log     text/plain; ?offset=N starts at byte N;
 *                                       ?follow=1 streams until the build ends
 *   POST   /rain/v1/builds/{id}/cancel  the record afterwards; 409 when finished
 *   DELETE /rain/v1/builds/{id}         204; 409 unless finished
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "util/strutil.h"

/* The files of a build may reach RAIN_BUILD_FILES_MAX; base64 adds a third. */
#define BUILD_BODY_MAX ((size_t)RAIN_BUILD_FILES_MAX / 3 * 4 + (4 << 20))

static int submit(struct request *req)
{
	struct builds *b = request_builds(req);
	const char *why = b ? builds_unavailable(b) : "raind runs without a build service";
	json_t *body, *rec;
	char location[80];
	int r;

	if (why)
		return http_reply_error(req, 503, "%s", why);
	body = request_json(req);
	if (!body)
		return 0;
	r = builds_submit(b, &req->who, body, &rec);
	json_decref(body);
	if (r < 0)
		return r;
	snprintf(location, sizeof(location), "/rain/v1/builds/%s",
		 json_string_value(json_object_get(rec, "id")));
	return http_reply_json(req, 202, rec, "Location", location, NULL);
}

static int list(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_json(req, 200, json_pack("{s:[]}", "builds"), NULL);
	r = builds_list(request_builds(req), &req->who, &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int show(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_get(request_builds(req), &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int cancel(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_cancel(request_builds(req), &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int delete(struct request *req)
{
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_delete(request_builds(req), &req->who, req->params[0]);
	return r < 0 ? r : http_reply_empty(req, 204);
}

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = builds_log_read(cls, buf, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void log_free(void *cls)
{
	builds_log_close(cls);
}

static int log_get(struct request *req)
{
	const char *follow = request_query(req, "follow"), *offset = request_query(req, "offset");
	struct builds_log *l;
	struct MHD_Response *resp;
	int64_t off = 0;
	bool f = false;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	if (follow && str_to_bool(follow, &f) < 0)
		return http_reply_error(req, 400, "follow must be 1 or 0, not '%s'", follow);
	if (offset && (str_to_i64(offset, &off) < 0 || off < 0))
		return http_reply_error(req, 400, "offset must be a byte count, not '%s'", offset);
	r = builds_log_open(request_builds(req), &req->who, req->params[0], off, f, &l);
	if (r < 0)
		return r;
	/* unknown size: chunked, so that lines go out as they are written */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, log_read, l, log_free);
	if (!resp) {
		builds_log_close(l);
		return rain_error_set(RAIN_ENOMEM, "cannot build the log response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=UTF-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_reply_response(req, 200, resp);
}

const struct route api_builds_routes[] = {
	{ "POST", "/rain/v1/builds", BODY_JSON, RAIN_ACT_BUILD_SUBMIT, submit, NULL, NULL, NULL, BUILD_BODY_MAX },
	{ "GET", "/rain/v1/builds", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/builds/{}", BODY_NONE, RAIN_ACT_BUILD_SHOW, show, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/builds/{}", BODY_NONE, RAIN_ACT_BUILD_DELETE, delete, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/builds/{}/log", BODY_NONE, RAIN_ACT_BUILD_SHOW, log_get, NULL, NULL, NULL, 0 },
	{ "POST", "/rain/v1/builds/{}/cancel", BODY_NONE, RAIN_ACT_BUILD_CANCEL, cancel, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
