/* Vetting images (daemon/vetting.h does the work):
 *
 *   POST   /rain/v1/images/{id}/vet      {"policy": NAME, "runtime": bool}
 *                                        (both optional): 202 and the job's
 *                                        record (Location /rain/v1/jobs/ID);
 *                                        409 when the image has no data or
 *                                        vetting is disabled, 429 past
 *                                        [vet] max_queued_per_user
 *   GET    /rain/v1/images/{id}/vetting  the last report kept with the image;
 *                                        404 when it has none
 *   PUT    /rain/v1/vetting/feed         admins: a new vulnerability feed (rain
 *                                        vet feed's file, application/octet-stream):
 *                                        200 and what it is; 400 when it is no
 *                                        feed, 413 past 256 MiB
 *   GET    /rain/v1/vetting/feed         what the feed is (release, origin, date,
 *                                        counts); 404 when there is none
 *
 * Vetting needs the right to modify the image (its owner, an admin); the
 * report can be read by whoever may see the image.
 */
#include <stdio.h>

#include "daemon/http.h"
#include "daemon/vetting.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"

static int submit(struct request *req)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *rec = NULL, *policy = NULL, *runtime = NULL;
	char location[96];
	int r;

	if (!request_vetting(req))
		return http_reply_error(req, 409, "this raind does not vet images");
	if (req->body_len) {
		body = request_json(req);
		if (!body)
			return 0;
		if (!json_is_object(body))
			return http_reply_error(req, 400, "the body must be a JSON object: "
						"{\"policy\": NAME, \"runtime\": true|false}");
		policy = json_object_get(body, "policy");
		runtime = json_object_get(body, "runtime");
		if ((policy && !json_is_string(policy)) || (runtime && !json_is_boolean(runtime)))
			return http_reply_error(req, 400, "\"policy\" must be a string and "
						"\"runtime\" true or false");
		if (json_object_size(body) > (size_t)!!policy + !!runtime)
			return http_reply_error(req, 400, "the body may hold only \"policy\" and "
						"\"runtime\"");
	}
	r = vetting_submit(request_vetting(req), &req->who, req->params[0],
			   json_string_value(policy), json_is_true(runtime), NULL, &rec);
	if (r < 0)
		return r;
	snprintf(location, sizeof(location), "/rain/v1/jobs/%s",
		 json_string_value(json_object_get(rec, "id")));
	return http_reply_json(req, 202, rec, "Location", location, NULL);
}

static int report(struct request *req)
{
	json_t *out = NULL;
	int r = rain_repo_vetting_get(request_repo(req), &req->who, req->params[0], &out);

	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int feed_begin(struct request *req)
{
	const char *ctype = request_header(req, "Content-Type");
	struct vetting_feed_upload *u;
	int r;

	if (!request_vetting(req))
		return http_reply_error(req, 409, "this raind does not vet images");
	if (!ctype || !str_has_prefix(ctype, "application/octet-stream"))
		return http_reply_error(req, 415, "a feed is sent as application/octet-stream, "
					"not '%s'", ctype ? ctype : "(none)");
	r = vetting_feed_begin(request_vetting(req), &u);
	if (r < 0)
		return r;
	req->state = u;
	return 0;
}

static int feed_data(struct request *req, const char *buf, size_t len)
{
	int r = vetting_feed_write(req->state, buf, len);

	if (r < 0) {
		vetting_feed_abort(req->state);
		req->state = NULL;
	}
	return r;
}

static int feed_end(struct request *req)
{
	struct vetting_feed_upload *u = req->state;
	json_t *info = NULL;
	int r;

	req->state = NULL;
	if (!u)
		return http_reply_error(req, 500, "the feed upload was lost");
	r = vetting_feed_end(u, &info);
	if (r == RAIN_EFORMAT || r == RAIN_EINVAL)
		return http_reply_error(req, 400, "not a feed rain vet can read: %s; make one with "
					"'rain vet feed build' or 'rain vet feed import'",
					rain_error_last());
	return r < 0 ? r : http_reply_json(req, 200, info, NULL);
}

static void feed_abort(struct request *req)
{
	vetting_feed_abort(req->state);
	req->state = NULL;
}

static int feed_info(struct request *req)
{
	json_t *out = NULL;
	int r;

	if (!request_vetting(req))
		return http_reply_error(req, 404, "this raind does not vet images");
	r = vetting_feed_info(request_vetting(req), &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

const struct route api_vetting_routes[] = {
	{ "POST", "/rain/v1/images/{}/vet", BODY_JSON, RAIN_ACT_MODIFY, submit, NULL, NULL, NULL, 4096 },
	{ "GET", "/rain/v1/images/{}/vetting", BODY_NONE, RAIN_ACT_SHOW, report, NULL, NULL, NULL, 0 },
	{ "PUT", "/rain/v1/vetting/feed", BODY_STREAM, RAIN_ACT_VET_FEED, feed_begin, feed_data, feed_end, feed_abort, 0 },
	{ "GET", "/rain/v1/vetting/feed", BODY_NONE, RAIN_ACT_ANY_USER, feed_info, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
