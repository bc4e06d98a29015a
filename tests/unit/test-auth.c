/* Unit tests for passwords and tokens (src/lib/identity/auth.c) and the users and
 * token store of the catalog (src/lib/repo/catalog.c, backends/catalog-sqlite.c),
 * including the migration of a version 1 catalog. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rain/auth.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "util/timeutil.h"

#define T0 1700000000000000LL
#define SEC 1000000LL

struct fixture {
	char dir[64];
	char path[128];
	char uri[160];
	struct rain_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-test-auth.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path);
	if (rain_catalog_open(&f->cat, f->uri) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rain_catalog_close(f->cat);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* ---- passwords ---- */

static void test_password_hash_verify(void **state)
{
	char *enc = NULL, *enc2 = NULL;
	int64_t t0, ms;

	(void)state;
	t0 = time_mono_us();
	assert_int_equal(rain_password_hash("correct horse", &enc), 0);
	ms = (time_mono_us() - t0) / 1000;
	print_message("argon2id hash: %lld ms\n", (long long)ms);
	assert_non_null(enc);
	assert_true(strncmp(enc, "$argon2id$v=19$m=32768,t=3,p=1$", 31) == 0);
	assert_int_equal(rain_password_verify(enc, "correct horse"), 0);
	assert_int_equal(rain_password_verify(enc, "correct horsE"), RAIN_EAUTH);
	assert_int_equal(rain_password_verify(enc, ""), RAIN_EAUTH);
	/* salted: the same password hashes differently */
	assert_int_equal(rain_password_hash("correct horse", &enc2), 0);
	assert_string_not_equal(enc, enc2);
	assert_int_equal(rain_password_verify(enc2, "correct horse"), 0);
	free(enc);
	free(enc2);
}

static void test_password_bad_input(void **state)
{
	char *enc = NULL;
	char *big = malloc(5000);

	(void)state;
	assert_int_equal(rain_password_hash("", &enc), RAIN_EINVAL);
	assert_null(enc);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	assert_int_equal(rain_password_hash(big, &enc), RAIN_EINVAL);
	assert_int_equal(rain_password_verify("$1$md5$abc", "x"), RAIN_EINVAL);
	assert_int_equal(rain_password_verify("$argon2id$garbage", "x"), RAIN_EINVAL);
	assert_int_equal(rain_password_verify(NULL, "x"), RAIN_EINVAL);
	free(big);
}

/* [auth] min_password_length counts characters (code points), not bytes */
static void test_password_check(void **state)
{
	char *big = malloc(RAIN_PASSWORD_MAX + 2);

	(void)state;
	assert_int_equal(rain_password_check("12345678", 8), 0);
	rain_error_clear();
	assert_int_equal(rain_password_check("1234567", 8), RAIN_EINVAL);
	assert_error_contains("too short: 7 characters, at least 8");
	assert_int_equal(rain_password_check("x", 8), RAIN_EINVAL);
	assert_int_equal(rain_password_check("", 1), RAIN_EINVAL);
	assert_int_equal(rain_password_check(NULL, 1), RAIN_EINVAL);
	assert_int_equal(rain_password_check("", 0), RAIN_EINVAL);     /* never empty */
	assert_int_equal(rain_password_check("x", 1), 0);
	/* 8 characters in 16 bytes; 4 characters in 8 bytes */
	assert_int_equal(rain_password_check("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", 8), 0);
	assert_int_equal(rain_password_check("\u00e9\u00e9\u00e9\u00e9", 8), RAIN_EINVAL);
	assert_int_equal(rain_password_check("\U0001F600\U0001F600", 3), RAIN_EINVAL);
	assert_int_equal(rain_password_check("\U0001F600\U0001F600", 2), 0);
	memset(big, 'a', RAIN_PASSWORD_MAX + 1);
	big[RAIN_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(rain_password_check(big, 8), RAIN_EINVAL);
	assert_error_contains("too long");
	big[RAIN_PASSWORD_MAX] = '\0';
	assert_int_equal(rain_password_check(big, 8), 0);
	/* the message never holds the password */
	rain_password_check("sekrit", 8);
	assert_null(strstr(rain_error_last(), "sekrit"));
	/* a success leaves no stale message (rain_error_clear on entry) */
	assert_int_equal(rain_password_check("12345678", 8), 0);
	assert_string_equal(rain_error_last(), "");
	free(big);
}

static void test_password_generate(void **state)
{
	char a[21], b[21];

	(void)state;
	assert_int_equal(rain_password_generate(a, 20), 0);
	assert_int_equal(rain_password_generate(b, 20), 0);
	assert_int_equal(strlen(a), 20);
	assert_string_not_equal(a, b);
	for (int i = 0; i < 20; i++)
		assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
			    (a[i] >= '0' && a[i] <= '9'));
}

static void test_token_new_hash(void **state)
{
	char tok[RAIN_TOKEN_LEN + 1], hash[RAIN_TOKEN_HASH_LEN + 1], again[RAIN_TOKEN_HASH_LEN + 1];
	char tok2[RAIN_TOKEN_LEN + 1], hash2[RAIN_TOKEN_HASH_LEN + 1];

	(void)state;
	assert_int_equal(rain_token_new(tok, hash), 0);
	assert_int_equal(strlen(tok), 64);
	assert_int_equal(strlen(hash), 64);
	assert_string_not_equal(tok, hash);
	rain_token_hash(tok, again);
	assert_true(rain_token_hash_equal(hash, again));
	assert_int_equal(rain_token_new(tok2, hash2), 0);
	assert_string_not_equal(tok, tok2);
	assert_false(rain_token_hash_equal(hash, hash2));
	assert_false(rain_token_hash_equal(hash, "short"));
	/* SHA-256 of "abc" */
	rain_token_hash("abc", again);
	assert_string_equal(again, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- users ---- */

static struct rain_user user_of(const char *name, enum rain_user_role role)
{
	struct rain_user u = {
		.name = (char *)name, .role = role, .status = RAIN_USER_ACTIVE,
		.quota_bytes = RAIN_USER_QUOTA_BYTES_DEFAULT, .quota_images = 0,
		.created_at = T0, .last_login = -1, .password_hash = (char *)"$argon2id$x",
	};
	return u;
}

static void test_user_crud(void **state)
{
	struct fixture *f = *state;
	struct rain_user u = user_of("alice", RAIN_ROLE_USER), *got = NULL, **list = NULL;
	int64_t count = -1;
	size_t n = 0;

	assert_int_equal(rain_catalog_user_count(f->cat, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EEXISTS);
	u = user_of("bob", RAIN_ROLE_ADMIN);
	u.status = RAIN_USER_PENDING;
	u.quota_images = 10;
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_count(f->cat, &count), 0);
	assert_int_equal(count, 2);

	assert_int_equal(rain_catalog_user_get(f->cat, "bob", &got), 0);
	assert_string_equal(got->name, "bob");
	assert_int_equal(got->role, RAIN_ROLE_ADMIN);
	assert_int_equal(got->status, RAIN_USER_PENDING);
	assert_int_equal(got->quota_bytes, 8LL << 30);
	assert_int_equal(got->quota_images, 10);
	assert_int_equal(got->created_at, T0);
	assert_int_equal(got->last_login, -1);
	assert_string_equal(got->password_hash, "$argon2id$x");

	got->status = RAIN_USER_INACTIVE;
	got->quota_bytes = 1000;
	got->created_at = 5;   /* not changed by an update */
	assert_int_equal(rain_catalog_user_update(f->cat, got), 0);
	rain_user_free(got);
	assert_int_equal(rain_catalog_user_touch(f->cat, "bob", T0 + SEC), 0);
	assert_int_equal(rain_catalog_user_get(f->cat, "bob", &got), 0);
	assert_int_equal(got->status, RAIN_USER_INACTIVE);
	assert_int_equal(got->quota_bytes, 1000);
	assert_int_equal(got->created_at, T0);
	assert_int_equal(got->last_login, T0 + SEC);
	rain_user_free(got);

	assert_int_equal(rain_catalog_user_list(f->cat, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0]->name, "alice");
	assert_string_equal(list[1]->name, "bob");
	rain_user_list_free(list, n);

	assert_int_equal(rain_catalog_user_get(f->cat, "carol", &got), RAIN_ENOTFOUND);
	u = user_of("carol", RAIN_ROLE_USER);
	assert_int_equal(rain_catalog_user_update(f->cat, &u), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_user_delete(f->cat, "carol"), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_user_delete(f->cat, "alice"), 0);
	assert_int_equal(rain_catalog_user_get(f->cat, "alice", &got), RAIN_ENOTFOUND);
}

static void test_user_names(void **state)
{
	struct fixture *f = *state;
	struct rain_user u = user_of("a/b", RAIN_ROLE_USER);
	char long_name[80];

	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	u.name = (char *)"";
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	u.name = (char *)"tab\there";
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	memset(long_name, 'x', 65);
	long_name[65] = '\0';
	u.name = long_name;
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	long_name[64] = '\0';
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_true(rain_user_name_valid("Zoë Smith"));
	/* only names in their normal form are made */
	u.name = (char *)"Alice";
	rain_error_clear();
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	assert_error_contains("use 'alice'");
	u.name = (char *)"Zoë Smith";
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
	u.name = (char *)"..";
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EINVAL);
}

/* The one rule for new names (rain_user_name_normalize). */
static void test_user_name_rule(void **state)
{
	static const struct {
		const char *in, *out;   /* out NULL: refused */
	} cases[] = {
		{ "alice", "alice" }, { "Alice", "alice" }, { "ADMIN", "admin" }, { "a", "a" },
		{ "0day", "0day" }, { "j.doe_2-x", "j.doe_2-x" }, { "A.B-C_D", "a.b-c_d" },
		{ "admin ", NULL }, { " admin", NULL }, { "ad min", NULL }, { ".", NULL },
		{ "..", NULL }, { ".alice", NULL }, { "-alice", NULL }, { "_alice", NULL },
		{ "a/b", NULL }, { "a@b", NULL }, { "zo\u00eb", NULL }, { "\u0130stanbul", NULL },
		{ "tab\there", NULL }, { "alice\n", NULL }, { "", NULL }, { "a:b", NULL },
		{ "a\\b", NULL }, { "a+b", NULL },
	};
	char out[RAIN_USER_NAME_MAX + 1], long_name[RAIN_USER_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = rain_user_name_normalize(cases[i].in, out, sizeof(out));

		if (cases[i].out) {
			if (r != 0)
				fail_msg("'%s' refused: %s", cases[i].in, rain_error_last());
			assert_string_equal(out, cases[i].out);
			/* every new name is one an older catalog could hold */
			assert_true(rain_user_name_valid(out));
		} else {
			if (r != RAIN_EINVAL)
				fail_msg("'%s' accepted as '%s'", cases[i].in, out);
			assert_string_equal(out, "");
			assert_error_contains("a-z, 0-9");
		}
	}
	assert_int_equal(rain_user_name_normalize(NULL, out, sizeof(out)), RAIN_EINVAL);
	memset(long_name, 'X', RAIN_USER_NAME_MAX + 1);
	long_name[RAIN_USER_NAME_MAX + 1] = '\0';
	assert_int_equal(rain_user_name_normalize(long_name, out, sizeof(out)), RAIN_EINVAL);
	long_name[RAIN_USER_NAME_MAX] = '\0';
	assert_int_equal(rain_user_name_normalize(long_name, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), RAIN_USER_NAME_MAX);
	assert_int_equal(out[0], 'x');
	/* too small a buffer is refused, not cut */
	assert_int_equal(rain_user_name_normalize("alice", out, 5), RAIN_EINVAL);
}

/* Put a user into the catalog as an older raind could have (any
 * printable name), around rain_catalog_user_create's rule. */
static void legacy_user(struct fixture *f, const char *name)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO users (name, role, status, quota_bytes, "
					    "quota_images, created_at, last_login, password_hash) VALUES "
					    "(?1, 'user', 'active', 0, 0, 1, NULL, '$argon2id$x')", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Names that differ only in case are one user; older names stay
 * reachable under their exact spelling. */
static void test_user_find_and_case(void **state)
{
	struct fixture *f = *state;
	struct rain_user u = user_of("alice", RAIN_ROLE_USER), *got = NULL;

	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_find(f->cat, "ALICE", &got), 0);
	assert_string_equal(got->name, "alice");
	rain_user_free(got);
	assert_int_equal(rain_catalog_user_find(f->cat, "alice", &got), 0);
	rain_user_free(got);
	assert_int_equal(rain_catalog_user_find(f->cat, "alice ", &got), RAIN_ENOTFOUND);
	assert_null(got);
	assert_int_equal(rain_catalog_user_find(f->cat, "a/b", &got), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_user_find(f->cat, "", &got), RAIN_ENOTFOUND);

	/* an older catalog's "Bob" and "admin ": found by their exact name,
	 * and no new "bob" beside "Bob" */
	legacy_user(f, "Bob");
	legacy_user(f, "admin ");
	assert_int_equal(rain_catalog_user_find(f->cat, "Bob", &got), 0);
	assert_string_equal(got->name, "Bob");
	rain_user_free(got);
	assert_int_equal(rain_catalog_user_find(f->cat, "admin ", &got), 0);
	assert_string_equal(got->name, "admin ");
	rain_user_free(got);
	u = user_of("bob", RAIN_ROLE_USER);
	rain_error_clear();
	assert_int_equal(rain_catalog_user_create(f->cat, &u), RAIN_EEXISTS);
	assert_error_contains("as Bob");
	/* they can be deleted, and then the name is free */
	assert_int_equal(rain_catalog_user_delete(f->cat, "Bob"), 0);
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_delete(f->cat, "admin "), 0);
}

/* A user made inactive or pending loses every token for good: neither
 * reactivation nor a restart brings them back, and no token is made for
 * a user who is not active. */
static void test_deactivation_revokes(void **state)
{
	struct fixture *f = *state;
	struct rain_user u = user_of("alice", RAIN_ROLE_USER);
	struct rain_token t1 = { 0 }, t2 = { 0 }, other = { 0 }, got;
	char tok[RAIN_TOKEN_LEN + 1];

	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_create(f->cat, &(struct rain_user){ .name = "bob",
		.status = RAIN_USER_ACTIVE, .created_at = T0, .last_login = -1 }), 0);
	for (int i = 0; i < 3; i++) {
		struct rain_token *t = i == 0 ? &t1 : i == 1 ? &t2 : &other;

		assert_int_equal(rain_token_new(tok, t->hash), 0);
		snprintf(t->user, sizeof(t->user), "%s", i < 2 ? "alice" : "bob");
		t->issued_at = T0;
		t->expires_at = T0 + 86400 * SEC;
		assert_int_equal(rain_catalog_token_create(f->cat, t), 0);
	}
	/* a warm token cache must not hide the change */
	assert_int_equal(rain_catalog_token_lookup(f->cat, t1.hash, &got), 0);
	assert_false(got.revoked);

	u.status = RAIN_USER_INACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t1.hash, &got), 0);
	assert_true(got.revoked);
	assert_int_equal(rain_catalog_token_create(f->cat, &(struct rain_token){ .hash = "f00",
		.user = "alice", .issued_at = T0, .expires_at = T0 + SEC }), RAIN_ENOTFOUND);
	u.status = RAIN_USER_ACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t1.hash, &got), 0);
	assert_true(got.revoked);
	assert_int_equal(got.status, RAIN_USER_ACTIVE);

	/* pending does the same; others' tokens stay */
	rain_catalog_close(f->cat);
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t2.hash, &got), 0);
	assert_true(got.revoked);
	assert_int_equal(rain_token_new(tok, t1.hash), 0);
	assert_int_equal(rain_catalog_token_create(f->cat, &t1), 0);
	u.status = RAIN_USER_PENDING;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	u.status = RAIN_USER_ACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t1.hash, &got), 0);
	assert_true(got.revoked);
	assert_int_equal(rain_catalog_token_lookup(f->cat, other.hash, &got), 0);
	assert_false(got.revoked);
	/* a change that keeps alice active revokes nothing */
	assert_int_equal(rain_token_new(tok, t1.hash), 0);
	assert_int_equal(rain_catalog_token_create(f->cat, &t1), 0);
	u.quota_images = 7;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t1.hash, &got), 0);
	assert_false(got.revoked);
}

/* ---- tokens ---- */

static void test_token_store(void **state)
{
	struct fixture *f = *state;
	struct rain_user u = user_of("alice", RAIN_ROLE_ADMIN);
	struct rain_token t = { 0 }, got;
	char tok[RAIN_TOKEN_LEN + 1], h[RAIN_TOKEN_HASH_LEN + 1];
	int64_t removed = -1;

	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_token_new(tok, t.hash), 0);
	snprintf(t.user, sizeof(t.user), "alice");
	t.issued_at = T0;
	t.expires_at = T0 + 86400 * SEC;
	assert_int_equal(rain_catalog_token_create(f->cat, &t), 0);
	assert_int_equal(rain_catalog_token_create(f->cat, &t), RAIN_EEXISTS);

	rain_token_hash(tok, h);
	assert_int_equal(rain_catalog_token_lookup(f->cat, h, &got), 0);
	assert_true(rain_token_hash_equal(got.hash, h));
	assert_string_equal(got.user, "alice");
	assert_int_equal(got.issued_at, T0);
	assert_int_equal(got.expires_at, T0 + 86400 * SEC);
	assert_false(got.revoked);
	assert_int_equal(got.role, RAIN_ROLE_ADMIN);
	assert_int_equal(got.status, RAIN_USER_ACTIVE);

	/* the store never holds the token itself */
	rain_token_hash("forged", h);
	assert_int_equal(rain_catalog_token_lookup(f->cat, h, &got), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_token_lookup(f->cat, tok, &got), RAIN_ENOTFOUND);

	/* the user's status is read with the token */
	u.status = RAIN_USER_INACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &got), 0);
	assert_int_equal(got.status, RAIN_USER_INACTIVE);
	u.status = RAIN_USER_ACTIVE;
	assert_int_equal(rain_catalog_user_update(f->cat, &u), 0);

	assert_int_equal(rain_catalog_token_revoke(f->cat, t.hash), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &got), 0);
	assert_true(got.revoked);
	assert_int_equal(rain_catalog_token_revoke(f->cat, h), RAIN_ENOTFOUND);

	/* an unknown user */
	snprintf(t.user, sizeof(t.user), "nobody");
	rain_token_hash("other", t.hash);
	assert_int_not_equal(rain_catalog_token_create(f->cat, &t), 0);

	/* purge expired; deleting the user deletes its tokens */
	assert_int_equal(rain_catalog_token_purge(f->cat, T0 + 86401 * SEC, &removed), 0);
	assert_int_equal(removed, 1);
	snprintf(t.user, sizeof(t.user), "alice");
	assert_int_equal(rain_catalog_token_create(f->cat, &t), 0);
	assert_int_equal(rain_catalog_user_delete(f->cat, "alice"), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &got), RAIN_ENOTFOUND);
}

/* A catalog made by the previous raind (schema 1, no users) gains the
 * users and tokens tables and keeps its images. */
static void test_migrate_v1(void **state)
{
	struct fixture *f = *state;
	struct rain_catalog *cat = NULL;
	struct rain_user u = user_of("alice", RAIN_ROLE_USER);
	sqlite3 *db;
	int64_t count = -1;

	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE login_failures; DROP TABLE audit; DROP TABLE image_members; DROP TABLE tokens; DROP TABLE users; "
				      "INSERT INTO images (id, status, visibility, protected, "
				      "os_hidden, owner, created_at, updated_at, download_count, revision) "
				      "VALUES ('00000000-0000-4000-8000-000000000001', 'queued', "
				      "'shared', 0, 0, 'admin', 1, 1, 0, 1);"
				      "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rain_catalog_open(&cat, f->uri), 0);
	f->cat = cat;
	assert_int_equal(rain_catalog_user_count(cat, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(rain_catalog_user_create(cat, &u), 0);
	{
		struct rain_image *img = NULL;

		assert_int_equal(rain_catalog_image_get(cat, "00000000-0000-4000-8000-000000000001",
							&img), 0);
		rain_image_free(img);
	}
	/* every migration ran: the newest schema (9, tags with their creation times) */
	assert_int_equal(test_sqlite_user_version(f->path), 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash_verify),
		cmocka_unit_test(test_password_bad_input),
		cmocka_unit_test(test_password_check),
		cmocka_unit_test(test_password_generate),
		cmocka_unit_test(test_token_new_hash),
		T(test_user_crud),
		T(test_user_names),
		cmocka_unit_test(test_user_name_rule),
		T(test_user_find_and_case),
		T(test_deactivation_revokes),
		T(test_token_store),
		T(test_migrate_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
