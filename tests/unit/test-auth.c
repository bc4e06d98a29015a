/* Unit tests for passwords and tokens (src/lib/auth.c) and the users and
 * token store of the catalog (src/lib/catalog.c, catalog-sqlite.c),
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
	sqlite3_stmt *st;
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
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash_verify),
		cmocka_unit_test(test_password_bad_input),
		cmocka_unit_test(test_password_generate),
		cmocka_unit_test(test_token_new_hash),
		T(test_user_crud),
		T(test_user_names),
		T(test_token_store),
		T(test_migrate_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
