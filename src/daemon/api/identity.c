/* Keystone v3 identity, as much as OpenStack clients need to log in to
 * raind (OS_AUTH_URL=http://HOST:PORT/v3):
 *   GET    /v3              the version document
 *   POST   /v3/auth/tokens  password login: 201, the token in X-Subject-Token
 *   GET    /v3/auth/tokens  validate X-Subject-Token (200 or 404; HEAD too)
 *   DELETE /v3/auth/tokens  revoke X-Subject-Token (204)
 *   GET    /v3/users        {"users": [USER...]}; name= filters
 *   GET    /v3/users/{id}   {"user": USER}
 *   GET    /v3/projects     {"projects": [PROJECT...]}; name= filters
 *   GET    /v3/projects/{id} {"project": PROJECT}
 *   GET    /v3/domains      {"domains": [DOMAIN]}; name= filters
 *   GET    /v3/domains/{id} {"domain": DOMAIN} (only "default")
 *
 * One project per user, named and identified like the user; one domain,
 * "default". The service catalog has two entries at raind's own base URL
 * as the client reached it: the image service (public) and the identity
 * service (base/v3; public, internal and admin), both in RegionOne, so
 * that clients which look names up (openstack image add project) find
 * the identity endpoint.
 *
 * Who sees whom (rain/policy.h: identity-list, user-show, project-show):
 * a user sees itself and its own project, admins see every one. A list
 * with name= also finds another user or project by its exact name (as
 * rain_catalog_user_find matches), so that a project can be named when
 * sharing an image; that answer holds only the id, the name and the
 * domain (not whether the account is enabled). Without name= a user's
 * list holds only itself; another user's id answers 403 whether it
 * exists or not.
 *
 * The login rules (lock-outs of names and addresses, the password-check
 * places, the LDAP first login) and the tokens are the library's
 * (rain/identity.h); this file maps HTTP to them. Refused logins answer
 * 401 with Keystone's body, whatever the reason (a wrong password, an
 * unknown or inactive user); a locked-out name is told so and until when,
 * as Keystone says "The account is locked" (the rule locks names that are
 * no user too, so this tells nothing of who exists); a locked-out address and
 * an account or address that has its share of the password-check places
 * 429, and all places taken 503, with Retry-After. Neither tokens nor
 * passwords are ever logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/http.h"
#include "rain/identity.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* Keystone's time format: 2015-03-02T15:56:09.541211Z */
static void iso_us(int64_t us, char *out, size_t outlen)
{
	char sec[32];

	time_format_iso(us - us % 1000000, sec, sizeof(sec));
	if (strlen(sec) > 0 && sec[strlen(sec) - 1] == 'Z')
		sec[strlen(sec) - 1] = '\0';
	snprintf(out, outlen, "%s.%06lldZ", sec, (long long)(us % 1000000));
}

static int keystone_error(struct request *req, unsigned int status, const char *title,
			  const char *message)
{
	char uri[600], base[512];

	request_base_url(req, base, sizeof(base));
	snprintf(uri, sizeof(uri), "Keystone uri=\"%s/v3\"", base);
	return http_reply_json(req, status, json_pack("{s:{s:i, s:s, s:s}}", "error", "code",
						      (int)status, "message", message, "title", title),
			       "WWW-Authenticate", uri, NULL);
}

static int unauthorized(struct request *req)
{
	return keystone_error(req, 401, "Unauthorized",
			      "The request you have made requires authentication.");
}

static json_t *domain_json(void)
{
	return json_pack("{s:s, s:s}", "id", "default", "name", "Default");
}

/* The service catalog: the image service at base, the identity service
 * at base/v3 (public, internal and admin), both in RegionOne. */
static json_t *catalog_json(const char *base)
{
	static const char *const interfaces[] = { "public", "internal", "admin" };
	char url[600];
	json_t *identity = json_array();

	snprintf(url, sizeof(url), "%s/v3", base);
	for (size_t i = 0; identity && i < sizeof(interfaces) / sizeof(interfaces[0]); i++) {
		char id[32];

		snprintf(id, sizeof(id), "identity-%s", interfaces[i]);
		if (json_array_append_new(identity, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id,
							      "interface", interfaces[i], "region",
							      "RegionOne", "region_id", "RegionOne",
							      "url", url)) < 0) {
			json_decref(identity);
			identity = NULL;
		}
	}
	return json_pack("[{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s}]}, {s:s, s:s, s:s, s:o}]",
			 "type", "image", "name", "glance", "id", "image",
			 "endpoints", "id", "image-public", "interface", "public",
			 "region", "RegionOne", "region_id", "RegionOne", "url", base,
			 "type", "identity", "name", "keystone", "id", "identity", "endpoints", identity);
}

/* The token body Keystone sends for a password-scoped token. */
static json_t *token_body(struct request *req, const struct rain_token *t)
{
	char issued[40], expires[40], base[512];
	bool admin = t->role == RAIN_ROLE_ADMIN;

	iso_us(t->issued_at, issued, sizeof(issued));
	iso_us(t->expires_at, expires, sizeof(expires));
	request_base_url(req, base, sizeof(base));
	return json_pack("{s:{s:[s], s:{s:s, s:s, s:o, s:n}, s:s, s:s, s:b, s:[{s:s, s:s}], "
			 "s:{s:s, s:s, s:o}, s:o}}",
			 "token",
			 "methods", "password",
			 "user", "id", t->user, "name", t->user, "domain", domain_json(),
			 "password_expires_at",
			 "issued_at", issued,
			 "expires_at", expires,
			 "is_domain", 0,
			 "roles", "id", admin ? "admin" : "member", "name", admin ? "admin" : "member",
			 "project", "id", t->user, "name", t->user, "domain", domain_json(),
			 "catalog", catalog_json(base));
}

static int version(struct request *req)
{
	char base[512], href[600];

	request_base_url(req, base, sizeof(base));
	snprintf(href, sizeof(href), "%s/v3/", base);
	return http_reply_json(req, 200, json_pack(
		"{s:{s:s, s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:s}]}}", "version",
		"id", "v3.14", "status", "stable", "updated", "2020-04-07T00:00:00Z",
		"links", "rel", "self", "href", href,
		"media-types", "base", "application/json",
		"type", "application/vnd.openstack.identity-v3+json"), NULL);
}

/* The name and password of a password-method request, or NULL. */
static int parse_login(json_t *body, const char **name, const char **password)
{
	json_t *identity = json_object_get(json_object_get(body, "auth"), "identity");
	json_t *methods = json_object_get(identity, "methods"), *m;
	json_t *user = json_object_get(json_object_get(identity, "password"), "user");
	json_t *domain = json_object_get(user, "domain");
	bool has_password = false;
	size_t i;

	json_array_foreach(methods, i, m)
		if (json_is_string(m) && !strcmp(json_string_value(m), "password"))
			has_password = true;
	if (!has_password)
		return RAIN_EINVAL;
	*name = json_string_value(json_object_get(user, "name"));
	*password = json_string_value(json_object_get(user, "password"));
	if (!*name || !*password)
		return RAIN_EINVAL;
	if (domain) {
		const char *dn = json_string_value(json_object_get(domain, "name"));
		const char *di = json_string_value(json_object_get(domain, "id"));

		if (!(dn && !strcmp(dn, "Default")) && !(di && !strcmp(di, "default")))
			return RAIN_EAUTH;
	}
	return 0;
}

/* Answer a refused login: 429 when the address is locked out or the
 * account or the address has its share of the places, 503 when all places
 * are taken, else 401 (the same for every other refusal). */
static int refused(struct request *req, const struct rain_login *lg)
{
	enum rain_login_refusal why = lg->refusal;
	unsigned int status = why == RAIN_LOGIN_BUSY_GLOBAL ? 503 : 429;
	const char *title = why == RAIN_LOGIN_BUSY_GLOBAL ? "Service Unavailable" : "Too Many Requests";
	const char *message =
		why == RAIN_LOGIN_BUSY_ACCOUNT ? "A login of this user is being checked; try again in a moment." :
		why == RAIN_LOGIN_BUSY_ADDRESS ? "Too many logins at once from this address; try again in a moment." :
		"Too many logins at once; try again in a moment.";
	char retry[16];

	if (why == RAIN_LOGIN_ADDRESS_LOCKED)
		return keystone_error(req, 429, "Too Many Requests",
				      "Too many failed logins from this address; try again later.");
	if (why == RAIN_LOGIN_LOCKED) {
		char until[32], msg[200];

		time_format_iso(lg->locked_until, until, sizeof(until));
		snprintf(msg, sizeof(msg), "The account is locked until %s after too many failed "
			 "logins; an admin can lift the lock-out.", until);
		return keystone_error(req, 401, "Unauthorized", msg);
	}
	if (why != RAIN_LOGIN_BUSY_ACCOUNT && why != RAIN_LOGIN_BUSY_ADDRESS &&
	    why != RAIN_LOGIN_BUSY_GLOBAL)
		return unauthorized(req);
	snprintf(retry, sizeof(retry), "%d", lg->retry_after_s);
	return http_reply_json(req, status, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", (int)status,
						      "message", message, "title", title),
			       "Retry-After", retry, NULL);
}

/* The login rules are the library's (rain/identity.h); this maps HTTP to
 * them. */
static int login(struct request *req)
{
	json_t *body = request_json(req);
	const char *name = NULL, *password = NULL;
	struct rain_login lg;
	char addr[64];
	int r;

	if (!body)
		return 0;
	r = parse_login(body, &name, &password);
	if (r == RAIN_EINVAL) {
		json_decref(body);
		return keystone_error(req, 400, "Bad Request",
				      "Expecting auth.identity with the password method: "
				      "{\"methods\": [\"password\"], \"password\": {\"user\": "
				      "{\"name\", \"domain\", \"password\"}}}");
	}
	request_client_addr(req, addr, sizeof(addr));
	/* a name in another domain is no user of ours: it costs the same */
	r = rain_identity_login(request_identity(req), r == 0 ? name : NULL, password, addr, &lg);
	json_decref(body);
	/* the audit log names who tried (printable names only) */
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", lg.account);
	if (r < 0 && lg.refusal != RAIN_LOGIN_OK)
		return refused(req, &lg);
	if (r < 0)
		return r;
	/* the audit log names the user who logged in as the actor */
	snprintf(req->who_name, sizeof(req->who_name), "%s", lg.t.user);
	req->who.owner = req->who_name;
	r = http_reply_json(req, 201, token_body(req, &lg.t), "X-Subject-Token", lg.token, NULL);
	explicit_bzero(lg.token, sizeof(lg.token));
	return r;
}

/* The subject token, if the caller may see it: its own, or any for
 * admins. 0, or a reply was sent. */
static int subject(struct request *req, struct rain_token *t, bool *found)
{
	const char *subj = request_header(req, "X-Subject-Token");
	struct rain_who who = { 0 };
	char name[RAIN_USER_NAME_MAX + 1];
	bool user_token;

	*found = false;
	if (!subj)
		return keystone_error(req, 400, "Bad Request", "X-Subject-Token is missing");
	if (request_resolve_token(req, subj, &who, name, t, &user_token) < 0 || !user_token ||
	    rain_policy_check_owned(&req->who, t->user, NULL, RAIN_ACT_TOKEN_CHECK) < 0)
		return keystone_error(req, 404, "Not Found", "Could not find token.");
	*found = true;
	return 0;
}

static int token_validate(struct request *req)
{
	struct rain_token t;
	bool found;
	int r = subject(req, &t, &found);

	if (!found)
		return r;
	return http_reply_json(req, 200, token_body(req, &t), NULL);
}

static int token_revoke(struct request *req)
{
	struct rain_token t;
	bool found;
	int r = subject(req, &t, &found);

	if (!found)
		return r;
	r = rain_identity_token_revoke(request_identity(req), t.hash);
	if (r < 0)
		return r;
	return http_reply_empty(req, 204);
}

/* USER or PROJECT (what) of the account u as Keystone writes them; full:
 * also whether it is enabled (the caller's own, or an admin asking). */
static json_t *account_json(struct request *req, const char *what, const struct rain_user *u, bool full)
{
	char base[512], self[700];
	bool user = !strcmp(what, "users");
	json_t *j;

	request_base_url(req, base, sizeof(base));
	snprintf(self, sizeof(self), "%s/v3/%s/%s", base, what, u->name);
	j = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", u->name, "name", u->name, "domain_id", "default",
		      "links", "self", self);
	if (j && !user)
		json_object_update_new(j, json_pack("{s:s, s:s, s:b, s:[], s:{}}", "description", "",
						    "parent_id", "default", "is_domain", 0, "tags",
						    "options"));
	if (j && user)
		json_object_update_new(j, json_pack("{s:n, s:{}}", "password_expires_at", "options"));
	if (j && full)
		json_object_set_new(j, "enabled", json_boolean(u->status == RAIN_USER_ACTIVE));
	return j;
}

/* Whether the caller is u itself. */
static bool is_self(struct request *req, const struct rain_user *u)
{
	return req->who.owner && !strcmp(req->who.owner, u->name);
}

/* GET /v3/users and /v3/projects (what names which): admins see all, a
 * user itself; name= finds one account by its exact name for anyone. */
static int account_list(struct request *req, const char *what)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	const char *name = request_query(req, "name");
	const char *domain = request_query(req, "domain_id");
	struct rain_user **list = NULL, *one = NULL;
	size_t n = 0;
	json_t *arr = json_array();
	int r = 0;

	if (!arr)
		return rain_error_oom();
	if (domain && strcmp(domain, "default")) {
		/* no account lives in another domain */
	} else if (name) {
		r = rain_catalog_user_find(cat, name, &one);
		if (r == RAIN_ENOTFOUND)
			r = 0;
		if (r == 0 && one) {
			list = &one;
			n = 1;
		}
	} else if (req->who.admin) {
		r = rain_catalog_user_list(cat, &list, &n);
	} else {
		r = req->who.owner ? rain_catalog_user_get(cat, req->who.owner, &one) : 0;
		if (r == RAIN_ENOTFOUND)
			r = 0;
		if (r == 0 && one) {
			list = &one;
			n = 1;
		}
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool full = req->who.admin || is_self(req, list[i]);

		if (json_array_append_new(arr, account_json(req, what, list[i], full)) < 0)
			r = rain_error_oom();
	}
	if (one)
		rain_user_free(one);
	else
		rain_user_list_free(list, n);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	return http_reply_json(req, 200, json_pack("{s:o, s:{s:n, s:n, s:n}}", what, arr, "links",
						   "self", "previous", "next"), NULL);
}

/* GET /v3/users/{id} and /v3/projects/{id}: the route's policy let only
 * the account itself and admins here. */
static int account_show(struct request *req, const char *what, const char *key)
{
	struct rain_user *u = NULL;
	int r = rain_catalog_user_find(rain_repo_catalog(request_repo(req)), req->params[0], &u);

	if (r == RAIN_ENOTFOUND)
		return keystone_error(req, 404, "Not Found", !strcmp(what, "users") ?
				      "Could not find user." : "Could not find project.");
	if (r < 0)
		return r;
	r = http_reply_json(req, 200, json_pack("{s:o}", key, account_json(req, what, u, true)), NULL);
	rain_user_free(u);
	return r;
}

static int users_list(struct request *req)
{
	return account_list(req, "users");
}

static int projects_list(struct request *req)
{
	return account_list(req, "projects");
}

static int user_show(struct request *req)
{
	return account_show(req, "users", "user");
}

static int project_show(struct request *req)
{
	return account_show(req, "projects", "project");
}

/* DOMAIN as Keystone writes it: the one domain, "default". */
static json_t *domain_full_json(struct request *req)
{
	char base[512], self[600];
	json_t *j = domain_json();

	request_base_url(req, base, sizeof(base));
	snprintf(self, sizeof(self), "%s/v3/domains/default", base);
	if (j)
		json_object_update_new(j, json_pack("{s:s, s:b, s:[], s:{}, s:{s:s}}", "description",
						    "The default domain", "enabled", 1, "tags", "options",
						    "links", "self", self));
	return j;
}

/* GET /v3/domains: the default domain, unless name= names another. */
static int domains_list(struct request *req)
{
	const char *name = request_query(req, "name");
	json_t *arr = json_array();

	if (!arr)
		return rain_error_oom();
	if (!name || !strcmp(name, "Default"))
		json_array_append_new(arr, domain_full_json(req));
	return http_reply_json(req, 200, json_pack("{s:o, s:{s:n, s:n, s:n}}", "domains", arr, "links",
						   "self", "previous", "next"), NULL);
}

static int domain_show(struct request *req)
{
	if (strcmp(req->params[0], "default"))
		return keystone_error(req, 404, "Not Found", "Could not find domain.");
	return http_reply_json(req, 200, json_pack("{s:o}", "domain", domain_full_json(req)), NULL);
}

const struct route api_identity_routes[] = {
	{ "GET", "/v3", BODY_NONE, RAIN_ACT_PUBLIC, version, NULL, NULL, NULL, 0 },
	{ "POST", "/v3/auth/tokens", BODY_JSON, RAIN_ACT_PUBLIC, login, NULL, NULL, NULL, 64 * 1024 },
	{ "GET", "/v3/auth/tokens", BODY_NONE, RAIN_ACT_TOKEN_CHECK, token_validate, NULL, NULL, NULL, 0 },
	{ "DELETE", "/v3/auth/tokens", BODY_NONE, RAIN_ACT_TOKEN_CHECK, token_revoke, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/users", BODY_NONE, RAIN_ACT_IDENTITY_LIST, users_list, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/users/{}", BODY_NONE, RAIN_ACT_USER_SHOW, user_show, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/projects", BODY_NONE, RAIN_ACT_IDENTITY_LIST, projects_list, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/projects/{}", BODY_NONE, RAIN_ACT_PROJECT_SHOW, project_show, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/domains", BODY_NONE, RAIN_ACT_ANY_USER, domains_list, NULL, NULL, NULL, 0 },
	{ "GET", "/v3/domains/{}", BODY_NONE, RAIN_ACT_ANY_USER, domain_show, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
