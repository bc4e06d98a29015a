/* Unit tests for the identity rules (src/lib/identity: login.c, token.c,
 * account.c) over a real SQLite catalog: logins, the lock-outs of names and
 * addresses (also across a reopen), the password-check places (with a
 * verifier that holds until the test lets it go), the one token issuer,
 * validation, revocation and expiry, inactive users, new passwords
 * and users, and the log callback that replaces raind's own logging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/identity.h"

#define PASSWORD "correct horse battery"

struct fixture {
	char dir[64];
	char uri[160];
	struct rain_catalog *cat;
	struct rain_identity *id;
	struct rain_identity_config cfg;
	/* the log callback's record */
	char log[8192];
	int warnings;
	/* the holding verifier */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered;
	bool release;
};

static void log_cb(void *ud, enum rain_identity_log_level level, const char *message)
{
	struct fixture *f = ud;

	pthread_mutex_lock(&f->lock);
	f->warnings += level == RAIN_IDENTITY_LOG_WARN;
	if (strlen(f->log) + strlen(message) + 2 < sizeof(f->log)) {
		strcat(f->log, message);
		strcat(f->log, "\n");
	}
	pthread_mutex_unlock(&f->lock);
}

/* A verifier that waits until the test sets release, then verifies. */
static int holding_verify(void *ud, const char *encoded, const char *password)
{
	struct fixture *f = ud;

	pthread_mutex_lock(&f->lock);
	f->entered++;
	pthread_cond_broadcast(&f->cond);
	while (!f->release)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	return rain_password_verify(encoded, password);
}

static void open_identity(struct fixture *f)
{
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	assert_int_equal(rain_identity_new(f->cat, &f->cfg, &f->id), 0);
}

static void close_identity(struct fixture *f)
{
	rain_identity_free(f->id);
	rain_catalog_close(f->cat);
	f->id = NULL;
	f->cat = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-test-identity.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->uri, sizeof(f->uri), "sqlite:%s/catalog.db", f->dir);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->cfg.log = log_cb;
	f->cfg.log_ud = f;
	f->cfg.token_lifetime_us = 3600LL * 1000000;
	if (rain_catalog_open(&f->cat, f->uri) < 0 || rain_identity_new(f->cat, &f->cfg, &f->id) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close_identity(f);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void add_user(struct fixture *f, const char *name, enum rain_user_status status)
{
	struct rain_user u = { .name = (char *)name, .role = RAIN_ROLE_USER, .status = status,
			       .quota_bytes = RAIN_USER_QUOTA_BYTES_DEFAULT, .last_login = -1 };

	assert_int_equal(rain_password_hash(PASSWORD, &u.password_hash), 0);
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	free(u.password_hash);
}

static void test_login_success(void **state)
{
	struct fixture *f = *state;
	struct rain_login lg;
	struct rain_token t;
	struct rain_user *u = NULL;

	add_user(f, "alice", RAIN_USER_ACTIVE);
	/* the name is found as user_find does */
	assert_int_equal(rain_identity_login(f->id, "Alice", PASSWORD, "192.0.2.1", &lg), 0);
	assert_int_equal(lg.refusal, RAIN_LOGIN_OK);
	assert_string_equal(lg.account, "alice");
	assert_string_equal(lg.t.user, "alice");
	assert_int_equal(strlen(lg.token), RAIN_TOKEN_LEN);
	assert_true(lg.t.expires_at - lg.t.issued_at == 3600LL * 1000000);
	assert_int_equal(rain_identity_token_validate(f->id, lg.token, &t), 0);
	assert_string_equal(t.user, "alice");
	assert_string_equal(t.hash, lg.t.hash);
	assert_int_equal(t.role, RAIN_ROLE_USER);
	/* the login is recorded */
	assert_int_equal(rain_catalog_user_get(f->cat, "alice", &u), 0);
	assert_true(u->last_login > 0);
	rain_user_free(u);
	assert_non_null(strstr(f->log, "user 'alice' logged in from 192.0.2.1"));
	assert_null(strstr(f->log, PASSWORD));
	assert_null(strstr(f->log, lg.token));
}

static void test_bad_password(void **state)
{
	struct fixture *f = *state;
	struct rain_login lg;

	add_user(f, "alice", RAIN_USER_ACTIVE);
	assert_int_equal(rain_identity_login(f->id, "alice", "wrong", "192.0.2.1", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BAD_CREDENTIALS);
	assert_string_equal(lg.token, "");
	assert_error_contains("wrong user name or password");
	/* an unknown name answers the same, under the name as the rule makes it */
	assert_int_equal(rain_identity_login(f->id, "Nobody", PASSWORD, "192.0.2.1", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BAD_CREDENTIALS);
	assert_string_equal(lg.account, "nobody");
	/* no name at all (e.g. another domain) */
	assert_int_equal(rain_identity_login(f->id, NULL, PASSWORD, "192.0.2.1", &lg), RAIN_EAUTH);
	assert_string_equal(lg.account, "");
	assert_non_null(strstr(f->log, "login failed for user 'alice' from 192.0.2.1"));
	assert_null(strstr(f->log, "wrong\n"));
}

static void test_lockout_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct rain_login lg;

	add_user(f, "alice", RAIN_USER_ACTIVE);
	for (int i = 0; i < RAIN_LOGIN_ACCOUNT_LIMIT; i++) {
		assert_int_equal(rain_identity_login(f->id, "alice", "wrong", "192.0.2.1", &lg), RAIN_EAUTH);
		assert_int_equal(lg.refusal, RAIN_LOGIN_BAD_CREDENTIALS);
	}
	assert_non_null(strstr(f->log, "user 'alice' locked out for 15 minutes after 5 failed logins"));
	/* the right password does not open a locked account */
	assert_int_equal(rain_identity_login(f->id, "alice", PASSWORD, "192.0.2.2", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_LOCKED);
	assert_string_equal(lg.token, "");
	/* the count is in the catalog */
	close_identity(f);
	open_identity(f);
	assert_int_equal(rain_identity_login(f->id, "alice", PASSWORD, "192.0.2.3", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_LOCKED);
	/* others are not touched */
	add_user(f, "bob", RAIN_USER_ACTIVE);
	assert_int_equal(rain_identity_login(f->id, "bob", PASSWORD, "192.0.2.1", &lg), 0);
	explicit_bzero(lg.token, sizeof(lg.token));
}

static void test_address_lockout(void **state)
{
	struct fixture *f = *state;
	struct rain_login lg;

	close_identity(f);
	f->cfg.login_address_limit = 3;
	open_identity(f);
	add_user(f, "alice", RAIN_USER_ACTIVE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rain_identity_login(f->id, "user-x", "wrong", "198.51.100.7", &lg),
				 RAIN_EAUTH);
	assert_non_null(strstr(f->log, "address 198.51.100.7 refused logins for 15 minutes"));
	assert_int_equal(rain_identity_login(f->id, "alice", PASSWORD, "198.51.100.7", &lg), RAIN_ELIMIT);
	assert_int_equal(lg.refusal, RAIN_LOGIN_ADDRESS_LOCKED);
	assert_true(lg.retry_after_s > 0 && lg.retry_after_s <= 15 * 60);
	assert_string_equal(lg.account, "alice");
	/* another address logs in */
	assert_int_equal(rain_identity_login(f->id, "alice", PASSWORD, "198.51.100.8", &lg), 0);
	explicit_bzero(lg.token, sizeof(lg.token));
}

struct attempt {
	struct fixture *f;
	const char *name, *addr;
	int r;
	enum rain_login_refusal refusal;
	pthread_t th;
};

static void *attempt_run(void *arg)
{
	struct attempt *a = arg;
	struct rain_login lg;

	a->r = rain_identity_login(a->f->id, a->name, PASSWORD, a->addr, &lg);
	a->refusal = lg.refusal;
	explicit_bzero(lg.token, sizeof(lg.token));
	return NULL;
}

static void wait_entered(struct fixture *f, int n)
{
	pthread_mutex_lock(&f->lock);
	while (f->entered < n)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static void test_busy_places(void **state)
{
	struct fixture *f = *state;
	struct attempt a[RAIN_LOGIN_CHECKS] = {
		{ f, "alice", "192.0.2.1", 0, 0, 0 }, { f, "bob", "192.0.2.1", 0, 0, 0 },
		{ f, "carol", "192.0.2.3", 0, 0, 0 }, { f, "dave", "192.0.2.4", 0, 0, 0 },
	};
	struct rain_login lg;

	close_identity(f);
	f->cfg.verify = holding_verify;
	f->cfg.verify_ud = f;
	open_identity(f);
	add_user(f, "alice", RAIN_USER_ACTIVE);
	/* alice's check is running: another login of alice is refused at once */
	assert_int_equal(pthread_create(&a[0].th, NULL, attempt_run, &a[0]), 0);
	wait_entered(f, 1);
	assert_int_equal(rain_identity_login(f->id, "ALICE", PASSWORD, "192.0.2.2", &lg), RAIN_ELIMIT);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BUSY_ACCOUNT);
	assert_int_equal(lg.retry_after_s, 1);
	/* two checks from 192.0.2.1: a third from there is refused */
	assert_int_equal(pthread_create(&a[1].th, NULL, attempt_run, &a[1]), 0);
	wait_entered(f, 2);
	assert_int_equal(rain_identity_login(f->id, "erin", PASSWORD, "192.0.2.1", &lg), RAIN_ELIMIT);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BUSY_ADDRESS);
	/* every check place taken: a new login waits its bounded time, then
	 * is refused (the held checks cannot end meanwhile) */
	assert_int_equal(pthread_create(&a[2].th, NULL, attempt_run, &a[2]), 0);
	assert_int_equal(pthread_create(&a[3].th, NULL, attempt_run, &a[3]), 0);
	wait_entered(f, RAIN_LOGIN_CHECKS);
	assert_int_equal(rain_identity_login(f->id, "frank", PASSWORD, "192.0.2.6", &lg), RAIN_ELIMIT);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BUSY_GLOBAL);
	assert_int_equal(lg.retry_after_s, 2);
	assert_non_null(strstr(f->log, "login of 'frank' from 192.0.2.6 refused: 4 password checks"));
	/* let them go: alice gets in, the unknown names do not */
	pthread_mutex_lock(&f->lock);
	f->release = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < RAIN_LOGIN_CHECKS; i++)
		assert_int_equal(pthread_join(a[i].th, NULL), 0);
	assert_int_equal(a[0].r, 0);
	for (int i = 1; i < RAIN_LOGIN_CHECKS; i++)
		assert_int_equal(a[i].refusal, RAIN_LOGIN_BAD_CREDENTIALS);
	/* the places are free again */
	assert_int_equal(rain_identity_login(f->id, "alice", PASSWORD, "192.0.2.1", &lg), 0);
	explicit_bzero(lg.token, sizeof(lg.token));
}

struct hook_seen {
	char hash[RAIN_TOKEN_HASH_LEN + 1];
	int fail;
};

static int before_store(void *ud, const char *hash)
{
	struct hook_seen *s = ud;

	snprintf(s->hash, sizeof(s->hash), "%s", hash);
	return s->fail ? rain_error_set(RAIN_EIO, "cannot write the hash down") : 0;
}

static void test_tokens(void **state)
{
	struct fixture *f = *state;
	struct hook_seen seen = { "", 0 };
	struct rain_token_hook hook = { before_store, &seen };
	char token[RAIN_TOKEN_LEN + 1], other[RAIN_TOKEN_LEN + 1];
	struct rain_token t, v;

	add_user(f, "alice", RAIN_USER_ACTIVE);
	add_user(f, "ivan", RAIN_USER_INACTIVE);
	assert_int_equal(rain_identity_token_issue(f->id, "alice", 600LL * 1000000, "the build's owner",
						   &hook, token, &t), 0);
	assert_string_equal(seen.hash, t.hash);
	assert_true(t.expires_at - t.issued_at == 600LL * 1000000);
	assert_int_equal(rain_identity_token_validate(f->id, token, &v), 0);
	assert_string_equal(v.user, "alice");
	/* a second one is another token */
	assert_int_equal(rain_identity_token_issue(f->id, "alice", 0, "build 2", NULL, other, NULL), 0);
	assert_string_not_equal(token, other);
	/* revoke: the one, not the other */
	assert_int_equal(rain_identity_token_revoke(f->id, t.hash), 0);
	assert_int_equal(rain_identity_token_validate(f->id, token, &v), RAIN_EAUTH);
	assert_int_equal(rain_identity_token_validate(f->id, other, &v), 0);
	/* garbage, a token changed in one character */
	assert_int_equal(rain_identity_token_validate(f->id, "", &v), RAIN_EAUTH);
	assert_int_equal(rain_identity_token_validate(f->id, NULL, &v), RAIN_EAUTH);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	assert_int_equal(rain_identity_token_validate(f->id, other, &v), RAIN_EAUTH);
	/* expiry */
	assert_int_equal(rain_identity_token_issue(f->id, "alice", 1000, "short", NULL, token, &t), 0);
	usleep(20000);
	assert_int_equal(rain_identity_token_validate(f->id, token, &v), RAIN_EAUTH);
	/* who may have one */
	assert_int_equal(rain_identity_token_issue(f->id, "nobody", 0, "build 3", NULL, token, &t),
			 RAIN_ENOTFOUND);
	assert_error_contains("build 3 'nobody' is not a user any more");
	assert_string_equal(token, "");
	assert_int_equal(rain_identity_token_issue(f->id, "ivan", 0, "build 4", NULL, token, &t),
			 RAIN_EAUTH);
	assert_error_contains("'ivan' is inactive");
	/* a hook that fails: nothing is stored */
	seen.fail = 1;
	assert_int_equal(rain_identity_token_issue(f->id, "alice", 0, "build 5", &hook, token, &t),
			 RAIN_EIO);
	assert_string_equal(token, "");
	assert_int_equal(rain_catalog_token_lookup(f->cat, seen.hash, &v), RAIN_ENOTFOUND);
}

static void test_token_of_deactivated_user(void **state)
{
	struct fixture *f = *state;
	char token[RAIN_TOKEN_LEN + 1];
	struct rain_token v;
	struct rain_user *u = NULL;

	add_user(f, "alice", RAIN_USER_ACTIVE);
	assert_int_equal(rain_identity_token_issue(f->id, "alice", 0, "login", NULL, token, NULL), 0);
	assert_int_equal(rain_catalog_user_get(f->cat, "alice", &u), 0);
	u->status = RAIN_USER_INACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, u), 0);
	rain_user_free(u);
	assert_int_equal(rain_identity_token_validate(f->id, token, &v), RAIN_EAUTH);
}

static void test_inactive_user(void **state)
{
	struct fixture *f = *state;
	struct rain_login lg;

	add_user(f, "ivan", RAIN_USER_INACTIVE);
	assert_int_equal(rain_identity_login(f->id, "ivan", PASSWORD, "192.0.2.1", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_INACTIVE);
	assert_string_equal(lg.token, "");
	assert_error_contains("not active");
	/* a wrong password says nothing about the status */
	assert_int_equal(rain_identity_login(f->id, "ivan", "wrong", "192.0.2.1", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BAD_CREDENTIALS);
}

/* A user without a local password and a directory that cannot be
 * reached: refused, and the operator is told why. */
static void test_ldap_unreachable(void **state)
{
	struct fixture *f = *state;
	struct rain_ldap_config ldap = { .url = "ldap://127.0.0.1:1",
					 .user_dn = "uid={user},dc=example", .timeout_s = 2 };
	struct rain_login lg;
	struct rain_user *u = NULL;

	close_identity(f);
	f->cfg.ldap = &ldap;
	open_identity(f);
	f->cfg.ldap = NULL;
	assert_int_equal(rain_identity_login(f->id, "newcomer", PASSWORD, "192.0.2.1", &lg), RAIN_EAUTH);
	assert_int_equal(lg.refusal, RAIN_LOGIN_BAD_CREDENTIALS);
	assert_non_null(strstr(f->log, "login of 'newcomer': ldap: ldap://127.0.0.1:1"));
	/* nobody was made */
	assert_int_equal(rain_catalog_user_get(f->cat, "newcomer", &u), RAIN_ENOTFOUND);
}

/* The password rule of new passwords: the configured minimum (the
 * default when 0), a clear refusal, a hash that verifies; and the
 * defaults of a new user, which the catalog takes as they are. */
static void test_new_password_and_user(void **state)
{
	struct fixture *f = *state;
	struct rain_user u, *got = NULL;
	char *hash = (char *)"not touched";

	/* 0: RAIN_PASSWORD_MIN_DEFAULT (8) */
	assert_int_equal(rain_identity_password_new(f->id, "1234567", &hash), RAIN_EINVAL);
	assert_null(hash);
	assert_non_null(strstr(rain_error_last(), "at least 8 wanted ([auth] min_password_length)"));
	assert_int_equal(rain_identity_password_new(f->id, NULL, &hash), RAIN_EINVAL);
	assert_non_null(strstr(rain_error_last(), "password must be a string of 8 to 4096"));
	close_identity(f);
	f->cfg.min_password_length = 12;
	open_identity(f);
	assert_int_equal(rain_identity_password_new(f->id, "12345678901", &hash), RAIN_EINVAL);
	assert_non_null(strstr(rain_error_last(), "11 characters, at least 12 wanted"));
	assert_null(strstr(rain_error_last(), "12345678901"));
	assert_int_equal(rain_identity_password_new(f->id, PASSWORD, &hash), 0);
	assert_int_equal(rain_password_verify(hash, PASSWORD), 0);

	rain_identity_user_init(&u, (char *)"carol");
	u.password_hash = hash;
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	free(hash);
	assert_int_equal(rain_catalog_user_get(f->cat, "carol", &got), 0);
	assert_int_equal(got->role, RAIN_ROLE_USER);
	assert_int_equal(got->status, RAIN_USER_ACTIVE);
	assert_int_equal(got->quota_bytes, RAIN_USER_QUOTA_BYTES_DEFAULT);
	assert_int_equal(got->quota_images, 0);
	assert_int_equal(got->last_login, -1);
	assert_true(got->created_at > 0);
	rain_user_free(got);
	/* and she logs in with it */
	{
		struct rain_login lg;

		assert_int_equal(rain_identity_login(f->id, "Carol", PASSWORD, "192.0.2.9", &lg), 0);
		assert_string_equal(lg.t.user, "carol");
		explicit_bzero(lg.token, sizeof(lg.token));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_places, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_of_deactivated_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inactive_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ldap_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_password_and_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
