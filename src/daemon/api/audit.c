/* The audit log and usage history (FutureGrid's histimg and histuser):
 *   GET /rain/v1/audit[?since=TIME&actor=NAME&target=ID|NAME&limit=N]
 *        (admins): {"events": [EVENT...]}, oldest first (the newest N,
 *        default 1000); TIME is ISO 8601 (UTC)
 *   GET /rain/v1/history/images/{id}   the owner or an admin: the image's
 *        access statistics and every change made to it
 *   GET /rain/v1/history/users/{name}  the user or an admin: the account,
 *        its usage, every change it made and every one made to it (logins,
 *        failed ones too, and an admin's changes of the account)
 * EVENT is {"id", "at", "actor", "address", "method", "path", "target",
 * "status"}. Entries come from http.c, one per request that changes
 * something, and are never changed or removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "rain/error.h"
#include "rain/policy.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* Reply 200 with {extra..., "events": [...]} for q; extra is consumed. */
static int reply_events(struct request *req, const struct rain_audit_query *q, json_t *extra)
{
	struct rain_audit_entry *v;
	size_t n;
	json_t *events;
	int r = rain_catalog_audit_query(rain_repo_catalog(request_repo(req)), q, &v, &n);

	if (r < 0) {
		json_decref(extra);
		return r;
	}
	events = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(events, json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:i}",
			"id", (json_int_t)v[i].id, "at", rain_time_json(v[i].at), "actor", v[i].actor,
			"address", v[i].address, "method", v[i].method, "path", v[i].path,
			"target", v[i].target, "status", v[i].status));
	free(v);
	json_object_set_new(extra, "events", events);
	return http_reply_json(req, 200, extra, NULL);
}

static int audit(struct request *req)
{
	struct rain_audit_query q = { .actor = request_query(req, "actor"),
				      .target = request_query(req, "target") };
	const char *since = request_query(req, "since"), *limit = request_query(req, "limit");
	int64_t n = 0;

	if (since && time_parse_iso(since, &q.since) < 0)
		return http_reply_error(req, 400, "since must be an ISO 8601 time (UTC), not '%s'", since);
	if (limit && (str_to_i64(limit, &n) < 0 || n < 1 || n > 100000))
		return http_reply_error(req, 400, "limit must be 1 to 100000, not '%s'", limit);
	q.limit = (size_t)n;
	return reply_events(req, &q, json_object());
}

static int image_history(struct request *req)
{
	struct rain_image *img;
	struct rain_audit_query q = { .target = req->params[0] };
	json_t *info;
	int r = rain_repo_image_load(request_repo(req), &req->who, req->params[0], RAIN_ACT_HISTORY,
				     &img);

	if (r < 0)
		return r;
	info = json_pack("{s:{s:s, s:s?, s:s?, s:s, s:o, s:o, s:I, s:I, s:o}}", "image",
			 "id", img->id, "name", img->name, "owner", img->owner,
			 "status", rain_image_status_name(img->status),
			 "created_at", rain_time_json(img->created_at), "updated_at", rain_time_json(img->updated_at),
			 "size", (json_int_t)img->size, "download_count", (json_int_t)img->download_count,
			 "last_accessed_at", rain_time_json(img->last_access));
	rain_image_free(img);
	return reply_events(req, &q, info);
}

static int user_history(struct request *req)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	struct rain_audit_query q = { 0 };
	char name[RAIN_USER_NAME_MAX + 1];
	struct rain_user *u;
	struct rain_usage use;
	json_t *info = NULL;
	int r;

	/* as every user path: "ALICE" is alice */
	r = rain_catalog_user_find(cat, req->params[0], &u);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s", u->name);
	q.party = name;
	r = rain_catalog_usage(cat, u->name, &use);
	if (r == 0)
		info = json_pack("{s:{s:s, s:s, s:s, s:o, s:o}, s:{s:I, s:I, s:I, s:I}}",
				 "user", "name", u->name, "role", rain_user_role_name(u->role),
				 "status", rain_user_status_name(u->status),
				 "created_at", rain_time_json(u->created_at), "last_login", rain_time_json(u->last_login),
				 "usage", "bytes", (json_int_t)use.bytes, "quota_bytes", (json_int_t)u->quota_bytes,
				 "images", (json_int_t)use.images, "quota_images", (json_int_t)u->quota_images);
	rain_user_free(u);
	return r < 0 ? r : reply_events(req, &q, info);
}

const struct route api_audit_routes[] = {
	{ "GET", "/rain/v1/audit", BODY_NONE, RAIN_ACT_AUDIT_READ, audit, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/history/images/{}", BODY_NONE, RAIN_ACT_HISTORY, image_history, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/history/users/{}", BODY_NONE, RAIN_ACT_USER_HISTORY, user_history, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
