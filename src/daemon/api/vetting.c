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
 *
 * Vetting needs the right to modify the image (its owner, an admin); the
 * report can be read by whoever may see the image.
 */
#include <stdio.h>

#include "daemon/http.h"
#include "daemon/vetting.h"
#include "rain/error.h"
#include "util/cleanup-json.h"

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
			   json_string_value(policy), json_is_true(runtime), &rec);
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

const struct route api_vetting_routes[] = {
	{ "POST", "/rain/v1/images/{}/vet", BODY_JSON, RAIN_ACT_MODIFY, submit, NULL, NULL, NULL, 4096 },
	{ "GET", "/rain/v1/images/{}/vetting", BODY_NONE, RAIN_ACT_SHOW, report, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
