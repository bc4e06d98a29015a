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
 * At most VERIFY_CONCURRENT passwords are checked at once, one at a time
 * per account and two per address (429 beyond; 503 when all places are
 * taken). The name is found as rain_catalog_user_find does ("Alice" logs
 * in as alice). Neither tokens nor passwords are ever logged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
 * core for a while) and how many more may wait for one, for at most
 * VERIFY_WAIT_MS: a login never holds a thread of raind longer, and
 * beyond that it is answered 503 with Retry-After. Of these places one
 * account (the user name, or the name tried) takes at most
 * VERIFY_PER_ACCOUNT and one client address at most VERIFY_PER_ADDRESS;
 * more is answered 429 at once, so that one client, or a flood of logins
 * of one account, cannot keep the others' logins out. */
#define VERIFY_CONCURRENT 4
#define VERIFY_WAITING 4
#define VERIFY_WAIT_MS 3000
#define VERIFY_PER_ACCOUNT 1
#define VERIFY_PER_ADDRESS 2

struct verify_place {
	bool used;
	char account[RAIN_USER_NAME_MAX + 1];   /* "": no account (not a name) */
	char addr[64];
};

enum verify_result { VERIFY_OK, VERIFY_ACCOUNT_BUSY, VERIFY_ADDRESS_BUSY, VERIFY_FULL };

static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;
static pthread_cond_t verify_free;      /* on CLOCK_MONOTONIC */
static struct verify_place verify_places[VERIFY_CONCURRENT + VERIFY_WAITING];
static int verify_running;

static void verify_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&verify_free, &attr);
	pthread_condattr_destroy(&attr);
}

/* Take a place for a password check of account from addr and wait (a
 * bounded time) until it may run; *place is what verify_leave gives
 * back. */
static enum verify_result verify_enter(const char *account, const char *addr,
				       struct verify_place **place)
{
	enum verify_result res = VERIFY_OK;
	struct verify_place *mine = NULL;
	int of_account = 0, of_addr = 0;
	struct timespec deadline;

	*place = NULL;
	pthread_once(&verify_once, verify_init);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += VERIFY_WAIT_MS / 1000;
	deadline.tv_nsec += (VERIFY_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&verify_lock);
	for (size_t i = 0; i < sizeof(verify_places) / sizeof(verify_places[0]); i++) {
		struct verify_place *p = &verify_places[i];

		if (!p->used) {
			mine = mine ? mine : p;
			continue;
		}
		of_account += account[0] && !strcmp(p->account, account);
		of_addr += !strcmp(p->addr, addr);
	}
	if (of_account >= VERIFY_PER_ACCOUNT)
		res = VERIFY_ACCOUNT_BUSY;
	else if (of_addr >= VERIFY_PER_ADDRESS)
		res = VERIFY_ADDRESS_BUSY;
	else if (!mine)
		res = VERIFY_FULL;
	if (res == VERIFY_OK) {
		mine->used = true;
		snprintf(mine->account, sizeof(mine->account), "%s", account);
		snprintf(mine->addr, sizeof(mine->addr), "%s", addr);
		while (verify_running >= VERIFY_CONCURRENT && res == VERIFY_OK)
			if (pthread_cond_timedwait(&verify_free, &verify_lock, &deadline) == ETIMEDOUT &&
			    verify_running >= VERIFY_CONCURRENT)
				res = VERIFY_FULL;
		if (res == VERIFY_OK) {
			verify_running++;
			*place = mine;
		} else {
			mine->used = false;
		}
	}
	pthread_mutex_unlock(&verify_lock);
	return res;
}

static void verify_leave(struct verify_place *place)
{
	pthread_mutex_lock(&verify_lock);
	place->used = false;
	verify_running--;
	/* every waiter: one whose wait just timed out must not swallow it */
	pthread_cond_broadcast(&verify_free);
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

/* Answer a login that may not wait for a password check: 429 (the
 * account or the address has its share) or 503 (every place taken). */
static int busy(struct request *req, enum verify_result res, const char *account, const char *addr)
{
	unsigned int status = res == VERIFY_FULL ? 503 : 429;
	const char *title = res == VERIFY_FULL ? "Service Unavailable" : "Too Many Requests";
	const char *message =
		res == VERIFY_ACCOUNT_BUSY ? "A login of this user is being checked; try again in a moment." :
		res == VERIFY_ADDRESS_BUSY ? "Too many logins at once from this address; try again in a moment." :
		"Too many logins at once; try again in a moment.";

	if (res == VERIFY_FULL)
		log_printf(LOG_WARN, "login of '%s' from %s refused: %d password checks running and %d "
			   "waiting", account[0] ? account : "?", addr, VERIFY_CONCURRENT, VERIFY_WAITING);
	return http_reply_json(req, status, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", (int)status,
						      "message", message, "title", title),
			       "Retry-After", res == VERIFY_FULL ? "2" : "1", NULL);
}

static int login(struct request *req)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	json_t *body = request_json(req);
	const char *name = NULL, *password = NULL;
	char addr[64], addr_key[80], token[RAIN_TOKEN_LEN + 1];
	/* whom the login is for: the user's stored name, else the name as
	 * the rule makes it, else (printable) as given; "" for none */
	char account[RAIN_USER_NAME_MAX + 1] = "";
	struct rain_lockout_rule addr_rule = lockout;
	struct verify_place *place = NULL;
	enum verify_result vr;
	struct rain_user *u = NULL;
	struct rain_token t = { 0 };
	int64_t now = time_now_us();
	bool ok = false, locked = false, rule_name = false;
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
	if (r == 0 && rain_user_name_valid(name)) {
		int fr = rain_catalog_user_find(cat, name, &u);

		if (fr < 0 && fr != RAIN_ENOTFOUND)
			log_printf(LOG_ERROR, "login: cannot read user '%s': %s", name, rain_error_last());
		rule_name = rain_user_name_normalize(name, account, sizeof(account)) == 0;
		if (u)
			snprintf(account, sizeof(account), "%s", u->name);
		else if (!rule_name)
			snprintf(account, sizeof(account), "%s", name);
	}
	/* the audit log names who tried (printable names only) */
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", account);
	pthread_once(&dummy_once, dummy_init);
	/* an address that failed too often is refused before any password
	 * check ('/' is in no user name: the keys cannot meet) */
	snprintf(addr_key, sizeof(addr_key), "/addr/%s", addr);
	addr_rule.limit = request_login_address_limit(req);
	if (addr_rule.limit > 0 && is_locked(cat, addr_key, now)) {
		rain_user_free(u);
		json_decref(body);
		return keystone_error(req, 429, "Too Many Requests",
				      "Too many failed logins from this address; try again later.");
	}
	locked = account[0] && is_locked(cat, account, now);
	vr = verify_enter(account, addr, &place);
	if (vr != VERIFY_OK) {
		rain_user_free(u);
		json_decref(body);
		return busy(req, vr, account, addr);
	}
	if (u && u->password_hash) {
		ok = rain_password_verify(u->password_hash, password) == 0 &&
		     u->status == RAIN_USER_ACTIVE && !locked;
	} else if ((u || rule_name) && request_ldap(req) && !locked &&
		   (!u || u->status == RAIN_USER_ACTIVE)) {
		/* no local password: the directory decides; a first login makes
		 * the user here (role user, active, default quotas) under the
		 * name as the rule makes it */
		int lr = rain_ldap_authenticate(request_ldap(req), account, password);

		if (lr == RAIN_ENET)
			log_printf(LOG_WARN, "login of '%s': %s", account, rain_error_last());
		if (lr == 0 && !u) {
			struct rain_user nu = { .name = account, .role = RAIN_ROLE_USER,
						.status = RAIN_USER_ACTIVE,
						.quota_bytes = RAIN_USER_QUOTA_BYTES_DEFAULT,
						.created_at = now, .last_login = -1 };

			if (rain_catalog_user_create(cat, &nu) == 0)
				log_printf(LOG_INFO, "user '%s' created at their first LDAP login", account);
			if (rain_catalog_user_get(cat, account, &u) < 0)
				u = NULL;
		}
		ok = lr == 0 && u && u->status == RAIN_USER_ACTIVE;
	} else if (dummy_hash) {
		rain_password_verify(dummy_hash, password);   /* the same delay */
	}
	verify_leave(place);
	if (!ok) {
		if (addr_rule.limit > 0 && count_failure(cat, addr_key, &addr_rule, now))
			log_printf(LOG_WARN, "address %s refused logins for %lld minutes after %lld failed "
				   "logins within %lld minutes", addr, (long long)(addr_rule.lock_us / 60000000),
				   (long long)addr_rule.limit, (long long)(addr_rule.window_us / 60000000));
		if (locked) {
			log_printf(LOG_WARN, "login refused: user '%s' is locked out after %lld failed "
				   "logins (from %s)", account, (long long)lockout.limit, addr);
		} else if (account[0]) {
			log_printf(LOG_INFO, "login failed for user '%s' from %s", account, addr);
			if (count_failure(cat, account, &lockout, now))
				log_printf(LOG_WARN, "user '%s' locked out for %lld minutes after %lld "
					   "failed logins within %lld minutes (last from %s)", account,
					   (long long)(lockout.lock_us / 60000000), (long long)lockout.limit,
					   (long long)(lockout.window_us / 60000000), addr);
		}
		rain_user_free(u);
		json_decref(body);
		return unauthorized(req);
	}
	if (rain_catalog_login_clear(cat, account) < 0)
		log_printf(LOG_ERROR, "cannot clear the failed logins of '%s': %s", account, rain_error_last());
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
		/* made inactive (or deleted) during the check */
		return r == RAIN_ENOTFOUND ? unauthorized(req) : r;
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
