/* Password logins: the lock-outs, the password-check places and the LDAP
 * first login; see rain/identity.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity-internal.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static const struct rain_lockout_rule lockout = {
	.limit = RAIN_LOGIN_ACCOUNT_LIMIT,
	.window_us = 15LL * 60 * 1000000,
	.lock_us = 15LL * 60 * 1000000,
};

int rain_identity_new(struct rain_catalog *cat, const struct rain_identity_config *cfg,
		      struct rain_identity **out)
{
	struct rain_identity *id = calloc(1, sizeof(*id));
	pthread_condattr_t attr;

	rain_error_clear();
	*out = NULL;
	if (!id)
		return rain_error_oom();
	id->cat = cat;
	if (cfg)
		id->cfg = *cfg;
	id->cfg.ldap = NULL;
	if (id->cfg.min_password_length <= 0)
		id->cfg.min_password_length = RAIN_PASSWORD_MIN_DEFAULT;
	if (cfg && cfg->ldap && cfg->ldap->url) {
		id->ldap_url = strdup(cfg->ldap->url);
		id->ldap_user_dn = cfg->ldap->user_dn ? strdup(cfg->ldap->user_dn) : NULL;
		if (!id->ldap_url || (cfg->ldap->user_dn && !id->ldap_user_dn)) {
			free(id->ldap_url);
			free(id->ldap_user_dn);
			free(id);
			return rain_error_oom();
		}
		id->ldap = *cfg->ldap;
		id->ldap.url = id->ldap_url;
		id->ldap.user_dn = id->ldap_user_dn;
		id->cfg.ldap = &id->ldap;
	}
	pthread_mutex_init(&id->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&id->place_free, &attr);
	pthread_condattr_destroy(&attr);
	*out = id;
	return 0;
}

void rain_identity_free(struct rain_identity *id)
{
	if (!id)
		return;
	pthread_mutex_destroy(&id->lock);
	pthread_cond_destroy(&id->place_free);
	free(id->ldap_url);
	free(id->ldap_user_dn);
	free(id);
}

/* Take a place for a password check of account from addr and wait (a
 * bounded time) until it may run; *place is what place_leave gives
 * back. RAIN_LOGIN_OK or a BUSY refusal. */
static enum rain_login_refusal place_enter(struct rain_identity *id, const char *account,
					   const char *addr, struct login_place **place)
{
	enum rain_login_refusal res = RAIN_LOGIN_OK;
	struct login_place *mine = NULL;
	int of_account = 0, of_addr = 0;
	struct timespec deadline;

	*place = NULL;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += RAIN_LOGIN_WAIT_MS / 1000;
	deadline.tv_nsec += (RAIN_LOGIN_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&id->lock);
	for (size_t i = 0; i < sizeof(id->places) / sizeof(id->places[0]); i++) {
		struct login_place *p = &id->places[i];

		if (!p->used) {
			mine = mine ? mine : p;
			continue;
		}
		of_account += account[0] && !strcmp(p->account, account);
		of_addr += !strcmp(p->addr, addr);
	}
	if (of_account >= RAIN_LOGIN_PER_ACCOUNT)
		res = RAIN_LOGIN_BUSY_ACCOUNT;
	else if (of_addr >= RAIN_LOGIN_PER_ADDRESS)
		res = RAIN_LOGIN_BUSY_ADDRESS;
	else if (!mine)
		res = RAIN_LOGIN_BUSY_GLOBAL;
	if (res == RAIN_LOGIN_OK) {
		mine->used = true;
		snprintf(mine->account, sizeof(mine->account), "%s", account);
		snprintf(mine->addr, sizeof(mine->addr), "%s", addr);
		while (id->running >= RAIN_LOGIN_CHECKS && res == RAIN_LOGIN_OK)
			if (pthread_cond_timedwait(&id->place_free, &id->lock, &deadline) == ETIMEDOUT &&
			    id->running >= RAIN_LOGIN_CHECKS)
				res = RAIN_LOGIN_BUSY_GLOBAL;
		if (res == RAIN_LOGIN_OK) {
			id->running++;
			*place = mine;
		} else {
			mine->used = false;
		}
	}
	pthread_mutex_unlock(&id->lock);
	return res;
}

static void place_leave(struct rain_identity *id, struct login_place *place)
{
	pthread_mutex_lock(&id->lock);
	place->used = false;
	id->running--;
	/* every waiter: one whose wait just timed out must not swallow it */
	pthread_cond_broadcast(&id->place_free);
	pthread_mutex_unlock(&id->lock);
}

/* Whether key (a user name, or "/addr/IP") is locked out now; a catalog
 * that cannot tell counts as a lock: fail closed. *until: till when. */
static bool is_locked(struct rain_identity *id, const char *key, int64_t now, int64_t *until)
{
	struct rain_login_failures lf = { 0 };
	bool locked = rain_catalog_login_get(id->cat, key, &lf) < 0 || lf.locked_until > now;

	*until = lf.locked_until > now ? lf.locked_until : now;
	return locked;
}

/* Count a failed login of key under rule; true when this locks key. */
static bool count_failure(struct rain_identity *id, const char *key,
			  const struct rain_lockout_rule *rule, int64_t now)
{
	struct rain_login_failures lf;
	bool locks = false;

	if (rain_catalog_login_failed(id->cat, key, now, rule, &lf, &locks) < 0)
		identity_log(id, RAIN_IDENTITY_LOG_ERROR, "cannot count a failed login of '%s': %s",
			     key, rain_error_last());
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

static int verify(struct rain_identity *id, const char *encoded, const char *password)
{
	if (id->cfg.verify)
		return id->cfg.verify(id->cfg.verify_ud, encoded, password);
	return rain_password_verify(encoded, password);
}

static int refuse(struct rain_login *out, enum rain_login_refusal why, int retry_after_s)
{
	static const char *const what[] = {
		[RAIN_LOGIN_BAD_CREDENTIALS] = "wrong user name or password",
		[RAIN_LOGIN_LOCKED] = "the account is locked out after too many failed logins",
		[RAIN_LOGIN_ADDRESS_LOCKED] = "too many failed logins from this address; try again later",
		[RAIN_LOGIN_BUSY_ACCOUNT] = "a login of this user is being checked; try again in a moment",
		[RAIN_LOGIN_BUSY_ADDRESS] = "too many logins at once from this address; try again in a moment",
		[RAIN_LOGIN_BUSY_GLOBAL] = "too many logins at once; try again in a moment",
		[RAIN_LOGIN_INACTIVE] = "the user is not active",
	};
	bool limit = why == RAIN_LOGIN_ADDRESS_LOCKED || why == RAIN_LOGIN_BUSY_ACCOUNT ||
		     why == RAIN_LOGIN_BUSY_ADDRESS || why == RAIN_LOGIN_BUSY_GLOBAL;

	out->refusal = why;
	out->retry_after_s = retry_after_s;
	return rain_error_set(limit ? RAIN_ELIMIT : RAIN_EAUTH, "login of '%s': %s",
			      out->account[0] ? out->account : "?", what[why]);
}

/* The directory's word on a user without a local password; a first login
 * makes the user here (role user, active, default quotas) under the name
 * as the rule makes it. *u is the user afterwards (or NULL). */
static bool ldap_login(struct rain_identity *id, const char *account, const char *password,
		       int64_t now, struct rain_user **u)
{
	int lr = rain_ldap_authenticate(id->cfg.ldap, account, password);

	if (lr == RAIN_ENET)
		identity_log(id, RAIN_IDENTITY_LOG_WARN, "login of '%s': %s", account, rain_error_last());
	if (lr == 0 && !*u) {
		struct rain_user nu;

		rain_identity_user_init(&nu, (char *)account);
		nu.created_at = now;
		if (rain_catalog_user_create(id->cat, &nu) == 0)
			identity_log(id, RAIN_IDENTITY_LOG_INFO,
				     "user '%s' created at their first LDAP login", account);
		if (rain_catalog_user_get(id->cat, account, u) < 0)
			*u = NULL;
	}
	return lr == 0;
}

int rain_identity_login(struct rain_identity *id, const char *name, const char *password,
			const char *addr, struct rain_login *out)
{
	char addr_key[80];
	struct rain_lockout_rule addr_rule = lockout;
	struct login_place *place = NULL;
	enum rain_login_refusal vr;
	struct rain_user *u = NULL;
	int64_t now = time_now_us(), until = 0;
	bool ok = false, right = false, locked = false, rule_name = false;
	int r;

	rain_error_clear();
	memset(out, 0, sizeof(*out));
	if (!password)
		password = "";
	if (name && rain_user_name_valid(name)) {
		int fr = rain_catalog_user_find(id->cat, name, &u);

		if (fr < 0 && fr != RAIN_ENOTFOUND)
			identity_log(id, RAIN_IDENTITY_LOG_ERROR, "login: cannot read user '%s': %s",
				     name, rain_error_last());
		rule_name = rain_user_name_normalize(name, out->account, sizeof(out->account)) == 0;
		if (u)
			snprintf(out->account, sizeof(out->account), "%s", u->name);
		else if (!rule_name)
			snprintf(out->account, sizeof(out->account), "%s", name);
	}
	pthread_once(&dummy_once, dummy_init);
	/* an address that failed too often is refused before any password
	 * check ('/' is in no user name: the keys cannot meet) */
	snprintf(addr_key, sizeof(addr_key), "/addr/%s", addr);
	addr_rule.limit = id->cfg.login_address_limit;
	if (addr_rule.limit > 0 && is_locked(id, addr_key, now, &until)) {
		rain_user_free(u);
		return refuse(out, RAIN_LOGIN_ADDRESS_LOCKED, (int)((until - now + 999999) / 1000000));
	}
	locked = out->account[0] && is_locked(id, out->account, now, &until);
	vr = place_enter(id, out->account, addr, &place);
	if (vr != RAIN_LOGIN_OK) {
		if (vr == RAIN_LOGIN_BUSY_GLOBAL)
			identity_log(id, RAIN_IDENTITY_LOG_WARN, "login of '%s' from %s refused: %d "
				     "password checks running and %d waiting",
				     out->account[0] ? out->account : "?", addr, RAIN_LOGIN_CHECKS,
				     RAIN_LOGIN_WAITING);
		rain_user_free(u);
		return refuse(out, vr, vr == RAIN_LOGIN_BUSY_GLOBAL ? 2 : 1);
	}
	if (u && u->password_hash) {
		right = verify(id, u->password_hash, password) == 0;
		ok = right && u->status == RAIN_USER_ACTIVE && !locked;
	} else if ((u || rule_name) && id->cfg.ldap && !locked &&
		   (!u || u->status == RAIN_USER_ACTIVE)) {
		right = ldap_login(id, out->account, password, now, &u);
		ok = right && u && u->status == RAIN_USER_ACTIVE;
	} else if (dummy_hash) {
		verify(id, dummy_hash, password);   /* the same delay */
	}
	place_leave(id, place);
	if (!ok) {
		if (addr_rule.limit > 0 && count_failure(id, addr_key, &addr_rule, now))
			identity_log(id, RAIN_IDENTITY_LOG_WARN, "address %s refused logins for %lld "
				     "minutes after %lld failed logins within %lld minutes", addr,
				     (long long)(addr_rule.lock_us / 60000000), (long long)addr_rule.limit,
				     (long long)(addr_rule.window_us / 60000000));
		if (locked) {
			identity_log(id, RAIN_IDENTITY_LOG_WARN, "login refused: user '%s' is locked "
				     "out after %lld failed logins (from %s)", out->account,
				     (long long)lockout.limit, addr);
		} else if (out->account[0]) {
			identity_log(id, RAIN_IDENTITY_LOG_INFO, "login failed for user '%s' from %s",
				     out->account, addr);
			if (count_failure(id, out->account, &lockout, now))
				identity_log(id, RAIN_IDENTITY_LOG_WARN, "user '%s' locked out for %lld "
					     "minutes after %lld failed logins within %lld minutes (last "
					     "from %s)", out->account, (long long)(lockout.lock_us / 60000000),
					     (long long)lockout.limit,
					     (long long)(lockout.window_us / 60000000), addr);
		}
		rain_user_free(u);
		if (locked)
			out->locked_until = until;
		return refuse(out, locked ? RAIN_LOGIN_LOCKED :
			      right && u ? RAIN_LOGIN_INACTIVE : RAIN_LOGIN_BAD_CREDENTIALS, 0);
	}
	if (rain_catalog_login_clear(id->cat, out->account) < 0)
		identity_log(id, RAIN_IDENTITY_LOG_ERROR, "cannot clear the failed logins of '%s': %s",
			     out->account, rain_error_last());
	r = identity_token_issue_user(id, u, id->cfg.token_lifetime_us, NULL, out->token, &out->t);
	if (r == 0)
		rain_catalog_user_touch(id->cat, u->name, now);
	rain_user_free(u);
	if (r == RAIN_ENOTFOUND)     /* made inactive (or deleted) during the check */
		return refuse(out, RAIN_LOGIN_INACTIVE, 0);
	if (r < 0)
		return r;
	identity_log(id, RAIN_IDENTITY_LOG_INFO, "user '%s' logged in from %s", out->t.user, addr);
	return 0;
}
