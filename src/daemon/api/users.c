/* User accounts (rain/policy.h: admins manage them; a user may read their
 * own account and change their own password; others get 403):
 *   GET    /rain/v1/users            {"users": [USER...]} by name
 *   POST   /rain/v1/users            {name, password, role, status,
 *                                     quota_bytes, quota_images} -> 201 USER
 *                                     (the name as rain_user_name_normalize
 *                                     makes it: "Alice" becomes "alice")
 *   GET    /rain/v1/users/{name}     USER
 *   PATCH  /rain/v1/users/{name}     any of password, role, status,
 *                                     quota_bytes, quota_images -> USER; a
 *                                     new password revokes the user's tokens
 *                                     but the caller's own; "locked": false
 *                                     (admins) lifts a lock-out and forgets
 *                                     the failed logins
 *   DELETE /rain/v1/users/{name}     204 (the user's tokens and memberships
 *                                     go too); 409 while the user owns images
 *                                     or builds
 * {name} is found as rain_catalog_user_find does: the exact name, else its
 * lower-case form. New names follow rain_user_name_normalize's rule and
 * new passwords the identity's (rain/identity.h: [auth]
 * min_password_length); a status other than active revokes the user's
 * tokens for good (the catalog does it with the change).
 * USER is {"name", "role", "status", "quota_bytes", "quota_images",
 * "bytes_used", "images", "created_at", "last_login", "locked_until",
 * "failed_logins"} (bytes_used and images: what the user's images take
 * now, as /v2/info/usage counts; locked_until: null unless the name is
 * locked out after failed logins (rain/identity.h); failed_logins: the
 * failures counted towards a lock-out);
 * password hashes never leave raind.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "rain/identity.h"
#include "rain/policy.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* USER, with what the user's images take now; NULL when the catalog
 * cannot tell. */
static json_t *user_json(struct request *req, const struct rain_user *u)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	struct rain_login_failures lf;
	struct rain_usage use;
	char created[32], login[32], locked[32];

	if (rain_catalog_usage(cat, u->name, &use) < 0 || rain_catalog_login_get(cat, u->name, &lf) < 0)
		return NULL;
	if (lf.locked_until > time_now_us())
		time_format_iso(lf.locked_until, locked, sizeof(locked));
	time_format_iso(u->created_at, created, sizeof(created));
	if (u->last_login >= 0)
		time_format_iso(u->last_login, login, sizeof(login));
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s?, s:s?, s:I}",
			 "name", u->name,
			 "role", rain_user_role_name(u->role),
			 "status", rain_user_status_name(u->status),
			 "quota_bytes", (json_int_t)u->quota_bytes,
			 "quota_images", (json_int_t)u->quota_images,
			 "bytes_used", (json_int_t)use.bytes,
			 "images", (json_int_t)use.images,
			 "created_at", created,
			 "last_login", u->last_login >= 0 ? login : NULL,
			 "locked_until", lf.locked_until > time_now_us() ? locked : NULL,
			 "failed_logins", (json_int_t)lf.count);
}

/* Apply the fields of body to u (password hashed). 0, or a reply went
 * out (400). */
static int apply(struct request *req, json_t *body, struct rain_user *u, bool create)
{
	static const char *const known[] = { "name", "password", "role", "status", "quota_bytes",
					     "quota_images", "locked", NULL };
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(body)) {
		http_reply_error(req, 400, "the body must be a JSON object");
		return RAIN_EINVAL;
	}
	json_object_foreach(body, key, v) {
		if (!str_in_list(known, key) || (!create && !strcmp(key, "name"))) {
			http_reply_error(req, 400, "unknown or read-only user attribute '%s'", key);
			return RAIN_EINVAL;
		}
		/* the route allows a password change; the rest is more */
		if (!create && strcmp(key, "password") &&
		    rain_policy_check_owned(&req->who, u->name, u->name, RAIN_ACT_USER_MODIFY) < 0) {
			http_reply_rain_error(req, RAIN_EFORBIDDEN);
			return RAIN_EFORBIDDEN;
		}
	}
	if ((v = json_object_get(body, "role")) &&
	    rain_user_role_parse(json_string_value(v), &u->role) < 0)
		goto fail;
	if ((v = json_object_get(body, "status")) &&
	    rain_user_status_parse(json_string_value(v), &u->status) < 0)
		goto fail;
	if ((v = json_object_get(body, "quota_bytes"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			http_reply_error(req, 400, "quota_bytes must be a non-negative integer");
			return RAIN_EINVAL;
		}
		u->quota_bytes = json_integer_value(v);
	}
	if ((v = json_object_get(body, "quota_images"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			http_reply_error(req, 400, "quota_images must be a non-negative integer "
					 "(0: no limit)");
			return RAIN_EINVAL;
		}
		u->quota_images = json_integer_value(v);
	}
	if ((v = json_object_get(body, "locked")) && (create || !json_is_false(v))) {
		http_reply_error(req, 400, "\"locked\" takes only false (lift a lock-out)");
		return RAIN_EINVAL;
	}
	if ((v = json_object_get(body, "password"))) {
		char *hash = NULL;

		/* the password rule is the identity's ([auth] min_password_length) */
		r = rain_identity_password_new(request_identity(req), json_string_value(v), &hash);
		if (r == RAIN_EINVAL)
			goto fail;
		if (r < 0) {
			http_reply_rain_error(req, r);
			return r;
		}
		free(u->password_hash);
		u->password_hash = hash;
	}
	return 0;
fail:
	http_reply_error(req, 400, "%s", rain_error_last());
	return RAIN_EINVAL;
}

static int users_list(struct request *req)
{
	struct rain_user **list = NULL;
	json_t *arr;
	size_t n = 0;
	int r;
	r = rain_catalog_user_list(rain_repo_catalog(request_repo(req)), &list, &n);
	if (r < 0)
		return r;
	arr = json_array();
	for (size_t i = 0; i < n && arr; i++) {
		json_t *one = user_json(req, list[i]);

		if (!one || json_array_append_new(arr, one) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	rain_user_list_free(list, n);
	if (!arr)
		return RAIN_EIO;
	return http_reply_json(req, 200, json_pack("{s:o}", "users", arr), NULL);
}

static int users_create(struct request *req)
{
	struct rain_user u;
	char name[RAIN_USER_NAME_MAX + 1];
	_cleanup_json_ json_t *body = request_json(req);
	int r;

	if (!body)
		return 0;
	if (!json_is_string(json_object_get(body, "name")))
		return http_reply_error(req, 400, "the body needs \"name\" (a string)");
	if (rain_user_name_normalize(json_string_value(json_object_get(body, "name")), name,
				     sizeof(name)) < 0)
		return http_reply_error(req, 400, "%s", rain_error_last());
	/* the audit log names the new account */
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", name);
	rain_identity_user_init(&u, name);
	r = apply(req, body, &u, true);
	if (r == 0 && !u.password_hash)
		r = http_reply_error(req, 400, "a new user needs a password");
	else if (r == 0) {
		r = rain_catalog_user_create(rain_repo_catalog(request_repo(req)), &u);
		if (r == RAIN_EEXISTS)
			r = http_reply_error(req, 409, "%s", rain_error_last());
		else if (r == 0) {
			log_printf(LOG_INFO, "user '%s' created by %s", name, req->who.owner);
			r = http_reply_json(req, 201, user_json(req, &u), NULL);
		}
	} else {
		r = 0;
	}
	free(u.password_hash);
	return r;
}

static int user_load(struct request *req, struct rain_user **u)
{
	int r = rain_catalog_user_find(rain_repo_catalog(request_repo(req)), req->params[0], u);

	if (r == RAIN_ENOTFOUND)
		http_reply_error(req, 404, "%s", rain_error_last());
	return r;
}

static int users_get(struct request *req)
{
	struct rain_user *u = NULL;
	int r = user_load(req, &u);

	if (r < 0)
		return req->replied ? 0 : r;
	r = http_reply_json(req, 200, user_json(req, u), NULL);
	rain_user_free(u);
	return r;
}

static int users_patch(struct request *req)
{
	struct rain_user *u = NULL;
	_cleanup_json_ json_t *body = NULL;
	int r = user_load(req, &u);

	if (r < 0)
		return req->replied ? 0 : r;
	body = request_json(req);
	if (body && apply(req, body, u, false) == 0) {
		struct rain_catalog *cat = rain_repo_catalog(request_repo(req));

		r = rain_catalog_user_update(cat, u);
		if (r == 0 && json_object_get(body, "locked")) {
			r = rain_catalog_login_clear(cat, u->name);
			if (r == 0)
				log_printf(LOG_INFO, "lock-out of '%s' lifted by %s", u->name,
					   req->who.owner);
		}
		/* as Keystone: a new password ends the user's other sessions
		 * (the token of the user changing it stays) */
		if (r == 0 && json_object_get(body, "password")) {
			char keep[RAIN_TOKEN_HASH_LEN + 1];
			bool self = req->user_token && !strcmp(req->who.owner, u->name);
			int64_t n = 0;

			if (self)
				rain_token_hash(request_header(req, "X-Auth-Token"), keep);
			r = rain_catalog_token_revoke_user(cat, u->name, self ? keep : NULL, &n);
			if (r == 0 && n > 0)
				log_printf(LOG_INFO, "revoked %lld token(s) of '%s' with the password change",
					   (long long)n, u->name);
		}
		if (r == 0) {
			log_printf(LOG_INFO, "user '%s' changed by %s", u->name, req->who.owner);
			r = http_reply_json(req, 200, user_json(req, u), NULL);
		}
	}
	rain_user_free(u);
	return r;
}

static int users_delete(struct request *req)
{
	struct builds *b = request_builds(req);
	struct rain_user *u = NULL;
	char name[RAIN_USER_NAME_MAX + 1];
	int64_t builds;
	int r = user_load(req, &u);

	if (r < 0)
		return req->replied ? 0 : r;
	snprintf(name, sizeof(name), "%s", u->name);
	rain_user_free(u);
	builds = b ? builds_count_owned(b, name) : 0;
	/* as with images: a later user of this name would see these */
	if (builds > 0)
		return http_reply_error(req, 409, "user %s has %lld build%s: delete %s first ('rain build "
					"delete'), or make the user inactive instead", name,
					(long long)builds, builds == 1 ? "" : "s",
					builds == 1 ? "it" : "them");
	r = rain_catalog_user_delete(rain_repo_catalog(request_repo(req)), name);
	if (r == RAIN_ENOTFOUND)
		return http_reply_error(req, 404, "no user %s", name);
	if (r < 0)
		return r;
	log_printf(LOG_INFO, "user '%s' deleted by %s", name, req->who.owner);
	return http_reply_empty(req, 204);
}

const struct route api_users_routes[] = {
	{ "GET", "/rain/v1/users", BODY_NONE, RAIN_ACT_USER_LIST, users_list, NULL, NULL, NULL, 0 },
	{ "POST", "/rain/v1/users", BODY_JSON, RAIN_ACT_USER_CREATE, users_create, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/users/{}", BODY_NONE, RAIN_ACT_USER_SHOW, users_get, NULL, NULL, NULL, 0 },
	{ "PATCH", "/rain/v1/users/{}", BODY_JSON, RAIN_ACT_USER_PASSWORD, users_patch, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/users/{}", BODY_NONE, RAIN_ACT_USER_DELETE, users_delete, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
