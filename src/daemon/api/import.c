/* Glance's interoperable import (daemon/import.h); the data of
 * glance-direct is staged by api/image-data.c (PUT /v2/images/{id}/stage):
 *   POST /v2/images/{id}/import   {"method": {"name": "glance-direct"}} or
 *                                 {"method": {"name": "web-download", "uri": URL}}
 *                                 starts the import (202)
 *   GET  /v2/images/{id}/tasks    the image's import tasks (its owner, admins)
 *   GET  /v2/info/import          the methods offered
 *   GET  /v2/info/stores          the one store */
#include <stdio.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/import.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"

static int import_image(struct request *req)
{
	_cleanup_json_ json_t *body = request_json(req);
	json_t *method, *name, *uri, *v;
	size_t i;
	int r;

	if (!body)
		return 0;
	method = json_object_get(body, "method");
	name = json_object_get(method, "name");
	uri = json_object_get(method, "uri");
	if (!json_is_object(method) || !json_is_string(name))
		return http_reply_error(req, 400, "the body needs \"method\": {\"name\": METHOD} "
					"(GET /v2/info/import lists the methods)");
	if (uri && !json_is_string(uri))
		return http_reply_error(req, 400, "\"uri\" must be a string");
	json_array_foreach(json_object_get(body, "stores"), i, v)
		if (!json_is_string(v) || strcmp(json_string_value(v), RAIN_STORE_ID))
			return http_reply_error(req, 409, "Unknown store: this server has one "
						"store, '%s'", RAIN_STORE_ID);
	r = imports_start(request_imports(req), &req->who, req->params[0],
			  json_string_value(name), json_string_value(uri), req->request_id);
	if (r < 0)
		return r;
	return http_reply_empty(req, 202);
}

static int image_tasks(struct request *req)
{
	struct rain_image *img;
	json_t *tasks;
	int r;

	/* tasks name their URL and requester: the owner's and admins' */
	r = rain_repo_image_load(request_repo(req), &req->who, req->params[0], RAIN_ACT_UPLOAD, &img);
	if (r < 0)
		return r;
	tasks = imports_tasks(request_imports(req), img);
	rain_image_free(img);
	if (!tasks)
		return rain_error_oom();
	return http_reply_json(req, 200, json_pack("{s:o}", "tasks", tasks), NULL);
}

static int info_import(struct request *req)
{
	json_t *methods = imports_methods(request_imports(req));

	if (!methods)
		return rain_error_oom();
	return http_reply_json(req, 200, json_pack("{s:{s:s, s:s, s:o}}", "import-methods",
						   "description", "Import methods available.",
						   "type", "array", "value", methods), NULL);
}

static int info_stores(struct request *req)
{
	return http_reply_json(req, 200, json_pack("{s:[{s:s, s:s, s:b}]}", "stores",
						   "id", RAIN_STORE_ID,
						   "description", "raind's image store",
						   "default", 1), NULL);
}

const struct route api_import_routes[] = {
	{ "POST", "/v2/images/{}/import", BODY_JSON, RAIN_ACT_UPLOAD, import_image, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/images/{}/tasks", BODY_NONE, RAIN_ACT_UPLOAD, image_tasks, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/info/import", BODY_NONE, RAIN_ACT_ANY_USER, info_import, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/info/stores", BODY_NONE, RAIN_ACT_ANY_USER, info_stores, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
