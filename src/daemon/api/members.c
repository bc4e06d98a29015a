/* Image members (Glance's sharing): who a shared image is shared with and
 * their answer. The rules are rain/policy.h's; repo.c enforces them.
 *   POST   /v2/images/{id}/members            {"member": NAME} -> MEMBER
 *   GET    /v2/images/{id}/members            {"members": [MEMBER...], "schema"}
 *   GET    /v2/images/{id}/members/{member}   MEMBER
 *   PUT    /v2/images/{id}/members/{member}   {"status": pending|accepted|rejected}
 *   DELETE /v2/images/{id}/members/{member}   204
 * MEMBER is {"image_id", "member_id", "status", "created_at", "updated_at",
 * "schema"}, as Glance writes it.
 */
#include <stdlib.h>

#include "daemon/http.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/timeutil.h"

static json_t *member_json(const struct rain_member *m)
{
	char created[32], updated[32];

	time_format_iso(m->created_at, created, sizeof(created));
	time_format_iso(m->updated_at, updated, sizeof(updated));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "image_id", m->image_id, "member_id", m->member,
			 "status", rain_member_status_name(m->status), "created_at", created,
			 "updated_at", updated, "schema", "/v2/schemas/member");
}

/* The string field key of the JSON body, or NULL after a 400. */
static const char *body_string(struct request *req, json_t **body, const char *key)
{
	const char *v;

	*body = request_json(req);
	if (!*body)
		return NULL;
	v = json_string_value(json_object_get(*body, key));
	if (!v)
		http_reply_error(req, 400, "the body needs \"%s\" (a string)", key);
	return v;
}

static int add(struct request *req)
{
	struct rain_member m;
	_cleanup_json_ json_t *body = NULL;
	const char *name = body_string(req, &body, "member");
	int r;

	if (!name)
		return 0;
	r = rain_repo_member_add(request_repo(req), &req->who, req->params[0], name, &m);
	return r < 0 ? r : http_reply_json(req, 200, member_json(&m), NULL);
}

static int list(struct request *req)
{
	struct rain_member *v;
	size_t n;
	json_t *arr;
	int r = rain_repo_member_list(request_repo(req), &req->who, req->params[0], &v, &n);

	if (r < 0)
		return r;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, member_json(&v[i]));
	free(v);
	return http_reply_json(req, 200, json_pack("{s:o, s:s}", "members", arr, "schema", "/v2/schemas/members"),
			       NULL);
}

static int show(struct request *req)
{
	struct rain_member m;
	int r = rain_repo_member_get(request_repo(req), &req->who, req->params[0], req->params[1], &m);

	return r < 0 ? r : http_reply_json(req, 200, member_json(&m), NULL);
}

static int answer(struct request *req)
{
	enum rain_member_status status;
	struct rain_member m;
	_cleanup_json_ json_t *body = NULL;
	const char *s = body_string(req, &body, "status");
	int r;

	if (!s)
		return 0;
	if (rain_member_status_parse(s, &status) < 0)
		return http_reply_error(req, 400, "status must be pending, accepted or rejected, not '%s'", s);
	r = rain_repo_member_answer(request_repo(req), &req->who, req->params[0], req->params[1], status, &m);
	return r < 0 ? r : http_reply_json(req, 200, member_json(&m), NULL);
}

static int remove_member(struct request *req)
{
	int r = rain_repo_member_delete(request_repo(req), &req->who, req->params[0], req->params[1]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

const struct route api_members_routes[] = {
	{ "POST", "/v2/images/{}/members", BODY_JSON, RAIN_ACT_SHARE, add, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/images/{}/members", BODY_NONE, RAIN_ACT_SHOW, list, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/images/{}/members/{}", BODY_NONE, RAIN_ACT_SHOW, show, NULL, NULL, NULL, 0 },
	{ "PUT", "/v2/images/{}/members/{}", BODY_JSON, RAIN_ACT_ANSWER, answer, NULL, NULL, NULL, 0 },
	{ "DELETE", "/v2/images/{}/members/{}", BODY_NONE, RAIN_ACT_SHARE, remove_member, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
