/* Keystone v3 identity, as much as OpenStack clients need to log in to
 * raind (OS_AUTH_URL=http://HOST:PORT/v3):
 *   GET    /v3              the version document
 *   POST   /v3/auth/tokens  password login: 201, the token in X-Subject-Token
 *   GET    /v3/auth/tokens  validate X-Subject-Token (200 or 404; HEAD too)
 *   DELETE /v3/auth/tokens  revoke X-Subject-Token (204)
 *
 * One project per user, named and identified like the user; one domain,
 * "default". The service catalog has one entry, the image service, at
 * raind's own base URL as the client reached it.
 *
 * Failed logins answer 401 with Keystone's body after the same work
 * (one Argon2id verification, against a dummy hash for unknown users) so
 * that the delay does not tell whether a user exists. After 5 failures
 * of one user name within 15 minutes, that name is refused for 15
 * minutes; the count is in the catalog, so a restart does not reset it.
 * So it is for an address ([auth] login_address_limit failures, 30 by
 * default), which is then answered 429 without a password check.
 * At most VERIFY_CONCURRENT passwords are checked at once. Neither tokens
 * nor passwords are ever logged.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static const struct rain_lockout_rule lockout = {
	.limit = 5,
	.window_us = 15LL * 60 * 1000000,
	.lock_us = 15LL * 60 * 1000000,
};

/* Password checks at once (each Argon2id takes RAIN_ARGON2_M KiB and a
 * core for a while), and how many more may wait for one; beyond that a
 * login is answered 503 at once, so a flood cannot take raind's memory. */
#define VERIFY_CONCURRENT 4
#define VERIFY_WAITING 64

static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t verify_free = PTHREAD_COND_INITIALIZER;
static int verify_running, verify_waiting;

static bool verify_enter(void)
{
	bool ok = true;

	pthread_mutex_lock(&verify_lock);
	if (verify_running >= VERIFY_CONCURRENT && verify_waiting >= VERIFY_WAITING) {
		ok = false;
	} else {
		verify_waiting++;
		while (verify_running >= VERIFY_CONCURRENT)
			pthread_cond_wait(&verify_free, &verify_lock);
		verify_waiting--;
		verify_running++;
	}
	pthread_mutex_unlock(&verify_lock);
	return ok;
}

static void verify_leave(void)
{
	pthread_mutex_lock(&verify_lock);
	verify_running--;
	pthread_cond_signal(&verify_free);
	pthread_mutex_unlock(&verify_lock);
}

/* Whether key (a user name, or "/addr/IP") is locked out now; a catalog
 * that cannot tell counts as a lock: fail closed. */
static bool is_locked(struct rain_catalog *cat, const char *key, int64_t now)
{
	struct rain_login_failures lf;

	return rain_catalog_login_get(cat, key, &lf) < 0 || lf.locked_until > now;
}

/* Count a failed login of key under rule; true when this locks key. */
static bool count_failure(struct rain_catalog *cat, const char *key,
			  const struct rain_lockout_rule *rule, int64_t now)
{
	struct rain_login_failures lf;
	bool locks = false;

	if (rain_catalog_login_failed(cat, key, now, rule, &lf, &locks) < 0)
		log_printf(LOG_ERROR, "cannot count a failed login of '%s': %s", key, rain_error_last());
	return locks;
}

/* A hash of a random password, verified for unknown users. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char *dummy_hash;

static void dummy_init(void)
{
	char pw[33];

	if (rain_password_generate(pw, 32) == 0 && rain_password_hash(pw, &dummy_hash) < 0)
		dummy_hash = NULL;
	explicit_bzero(pw, sizeof(pw));
}

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

/* The token body Keystone sends for a password-scoped token. */
static json_t *token_body(struct request *req, const struct rain_token *t)
{
	char issued[40], expires[40], base[512];
	bool admin = t->role == RAIN_ROLE_ADMIN;

	iso_us(t->issued_at, issued, sizeof(issued));
	iso_us(t->expires_at, expires, sizeof(expires));
	request_base_url(req, base, sizeof(base));
	return json_pack("{s:{s:[s], s:{s:s, s:s, s:o, s:n}, s:s, s:s, s:b, s:[{s:s, s:s}], "
			 "s:{s:s, s:s, s:o}, s:[{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s}]}]}}",
			 "token",
			 "methods", "password",
			 "user", "id", t->user, "name", t->user, "domain", domain_json(),
			 "password_expires_at",
			 "issued_at", issued,
			 "expires_at", expires,
			 "is_domain", 0,
			 "roles", "id", admin ? "admin" : "member", "name", admin ? "admin" : "member",
			 "project", "id", t->user, "name", t->user, "domain", domain_json(),
			 "catalog", "type", "image", "name", "glance", "id", "image",
			 "endpoints", "id", "image-public", "interface", "public",
			 "region", "RegionOne", "region_id", "RegionOne", "url", base);
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

static int login(struct request *req)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	json_t *body = request_json(req);
	const char *name = NULL, *password = NULL;
	char addr[64], addr_key[80], token[RAIN_TOKEN_LEN + 1];
	struct rain_lockout_rule addr_rule = lockout;
	struct rain_user *u = NULL;
	struct rain_token t = { 0 };
	int64_t now = time_now_us();
	bool ok = false, locked = false;
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
	/* the audit log names who tried (printable names only) */
	if (r == 0 && rain_user_name_valid(name))
		snprintf(req->audit_target, sizeof(req->audit_target), "%s", name);
	pthread_once(&dummy_once, dummy_init);
	/* an address that failed too often is refused before any password
	 * check ('/' is in no user name: the keys cannot meet) */
	snprintf(addr_key, sizeof(addr_key), "/addr/%s", addr);
	addr_rule.limit = request_login_address_limit(req);
	if (addr_rule.limit > 0 && is_locked(cat, addr_key, now)) {
		json_decref(body);
		return keystone_error(req, 429, "Too Many Requests",
				      "Too many failed logins from this address; try again later.");
	}
	locked = r == 0 && rain_user_name_valid(name) && is_locked(cat, name, now);
	if (!verify_enter()) {
		log_printf(LOG_WARN, "login of '%s' from %s refused: %d password checks running and %d "
			   "waiting", rain_user_name_valid(name) ? name : "?", addr, VERIFY_CONCURRENT,
			   VERIFY_WAITING);
		json_decref(body);
		return keystone_error(req, 503, "Service Unavailable",
				      "Too many logins at once; try again in a moment.");
	}
	if (r == 0 && rain_user_name_valid(name) &&
	    rain_catalog_user_get(cat, name, &u) == 0 && u->password_hash) {
		ok = rain_password_verify(u->password_hash, password) == 0 &&
		     u->status == RAIN_USER_ACTIVE && !locked;
	} else if (r == 0 && rain_user_name_valid(name) && request_ldap(req) && !locked &&
		   (!u || u->status == RAIN_USER_ACTIVE)) {
		/* no local password: the directory decides; a first login makes
		 * the user here (role user, active, default quotas) */
		int lr = rain_ldap_authenticate(request_ldap(req), name, password);

		if (lr == RAIN_ENET)
			log_printf(LOG_WARN, "login of '%s': %s", name, rain_error_last());
		if (lr == 0 && !u) {
			struct rain_user nu = { .name = (char *)name, .role = RAIN_ROLE_USER,
						.status = RAIN_USER_ACTIVE,
						.quota_bytes = RAIN_USER_QUOTA_BYTES_DEFAULT,
						.created_at = now, .last_login = -1 };

			if (rain_catalog_user_create(cat, &nu) == 0)
				log_printf(LOG_INFO, "user '%s' created at their first LDAP login", name);
			if (rain_catalog_user_get(cat, name, &u) < 0)
				u = NULL;
		}
		ok = lr == 0 && u && u->status == RAIN_USER_ACTIVE;
	} else if (dummy_hash) {
		rain_password_verify(dummy_hash, password);   /* the same delay */
	}
	verify_leave();
	if (!ok) {
		if (addr_rule.limit > 0 && count_failure(cat, addr_key, &addr_rule, now))
			log_printf(LOG_WARN, "address %s refused logins for %lld minutes after %lld failed "
				   "logins within %lld minutes", addr, (long long)(addr_rule.lock_us / 60000000),
				   (long long)addr_rule.limit, (long long)(addr_rule.window_us / 60000000));
		if (locked) {
			log_printf(LOG_WARN, "login refused: user '%s' is locked out after %lld failed "
				   "logins (from %s)", name, (long long)lockout.limit, addr);
		} else if (name && rain_user_name_valid(name)) {
			log_printf(LOG_INFO, "login failed for user '%s' from %s", name, addr);
			if (count_failure(cat, name, &lockout, now))
				log_printf(LOG_WARN, "user '%s' locked out for %lld minutes after %lld "
					   "failed logins within %lld minutes (last from %s)", name,
					   (long long)(lockout.lock_us / 60000000), (long long)lockout.limit,
					   (long long)(lockout.window_us / 60000000), addr);
		}
		rain_user_free(u);
		json_decref(body);
		return unauthorized(req);
	}
	if (rain_catalog_login_clear(cat, name) < 0)
		log_printf(LOG_ERROR, "cannot clear the failed logins of '%s': %s", name, rain_error_last());
	r = rain_token_new(token, t.hash);
	if (r == 0) {
		snprintf(t.user, sizeof(t.user), "%s", u->name);
		t.issued_at = now;
		t.expires_at = now + request_token_lifetime_us(req);
		t.role = u->role;
		t.status = u->status;
		r = rain_catalog_token_create(cat, &t);
	}
	if (r == 0)
		rain_catalog_user_touch(cat, u->name, now);
	rain_user_free(u);
	json_decref(body);
	if (r < 0) {
		explicit_bzero(token, sizeof(token));
		return r;
	}
	log_printf(LOG_INFO, "user '%s' logged in from %s", t.user, addr);
	/* the audit log names the user who logged in as the actor */
	snprintf(req->who_name, sizeof(req->who_name), "%s", t.user);
	req->who.owner = req->who_name;
	r = http_reply_json(req, 201, token_body(req, &t), "X-Subject-Token", token, NULL);
	explicit_bzero(token, sizeof(token));
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
	r = rain_catalog_token_revoke(rain_repo_catalog(request_repo(req)), t.hash);
	if (r < 0)
		return r;
	return http_reply_empty(req, 204);
}

const struct route api_identity_routes[] = {
	{ "GET", "/v3", BODY_NONE, RAIN_ACT_PUBLIC, version, NULL, NULL, NULL, 0 },
	{ "POST", "/v3/auth/tokens", BODY_JSON, RAIN_ACT_PUBLIC, login, NULL, NULL, NULL, 64 * 1024 },
	{ "GET", "/v3/auth/tokens", BODY_NONE, RAIN_ACT_TOKEN_CHECK, token_validate, NULL, NULL, NULL, 0 },
	{ "DELETE", "/v3/auth/tokens", BODY_NONE, RAIN_ACT_TOKEN_CHECK, token_revoke, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
