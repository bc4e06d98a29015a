/* Unit tests for the driver registry (src/lib/core/registry.c): built-in
 * and registered drivers by scheme, bare locations, the unknown-scheme
 * message, duplicates and table versions; a catalog and a blob store
 * opened through registered drivers whose optional methods are NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdlib.h>
#include <unistd.h>

#include "rain/error.h"
#include "rain/sys/blob.h"
#include "rain/sys/catalog.h"
#include "rain/sys/registry.h"

struct fake_table {
	unsigned int version;
	int id;
};

static const struct fake_table table_a = { 3, 1 }, table_b = { 3, 2 }, table_old = { 2, 3 };
static const struct rain_driver drv_a = { "fake", "aa", "aa:PATH", &table_a };
static const struct rain_driver drv_b = { "fake", "bb", "bb://HOST/DB", &table_b };
static const struct rain_driver drv_old = { "fake", "old", "old:X", &table_old };
static const struct rain_driver other_kind = { "other", "cc", "cc:X", &table_b };
static const struct rain_driver *const builtin[] = { &drv_a, NULL };

static void test_builtin_and_bare(void **state)
{
	const struct rain_driver *d = NULL;
	const char *loc = NULL;

	(void)state;
	assert_int_equal(rain_driver_lookup("fake", "fake store", "aa:/x/y", builtin, 3, &d, &loc), 0);
	assert_ptr_equal(d, &drv_a);
	assert_string_equal(loc, "/x/y");
	/* no scheme: the first built-in driver, the whole text */
	assert_int_equal(rain_driver_lookup("fake", "fake store", "/x/y", builtin, 3, &d, &loc), 0);
	assert_ptr_equal(d, &drv_a);
	assert_string_equal(loc, "/x/y");
	/* a colon that is no known scheme and no "://" is part of a path */
	assert_int_equal(rain_driver_lookup("fake", "fake store", "dir:x", builtin, 3, &d, &loc), 0);
	assert_string_equal(loc, "dir:x");
}

static void test_register_unknown(void **state)
{
	const struct rain_driver *d = NULL;
	const char *loc = NULL;

	(void)state;
	assert_int_equal(rain_driver_lookup("fake", "fake store", "bb://h/db", builtin, 3, &d, &loc),
			 RAIN_EINVAL);
	assert_error_contains("unknown fake store in 'bb://h/db' (known: aa:PATH)");
	assert_int_equal(rain_driver_register(&drv_b), 0);
	assert_int_equal(rain_driver_register(&other_kind), 0);
	assert_int_equal(rain_driver_register(&drv_b), RAIN_EEXISTS);
	assert_error_contains("'bb:'");
	assert_int_equal(rain_driver_lookup("fake", "fake store", "bb://h/db", builtin, 3, &d, &loc), 0);
	assert_ptr_equal(d, &drv_b);
	assert_string_equal(loc, "//h/db");
	/* every driver of the kind is listed, none of another kind */
	assert_int_equal(rain_driver_lookup("fake", "fake store", "zz://q", builtin, 3, &d, &loc),
			 RAIN_EINVAL);
	assert_error_contains("(known: aa:PATH, bb://HOST/DB)");
	assert_null(strstr(rain_error_last(), "cc:X"));
	/* a scheme of another kind is unknown here */
	assert_int_equal(rain_driver_lookup("fake", "fake store", "cc://q", builtin, 3, &d, &loc),
			 RAIN_EINVAL);
}

static void test_version_and_bad(void **state)
{
	const struct rain_driver *d = NULL;
	const char *loc = NULL;
	const struct rain_driver no_table = { "fake", "nt", "nt:X", NULL };
	const struct rain_driver colon = { "fake", "a:b", "a:b:X", &table_a };

	(void)state;
	assert_int_equal(rain_driver_register(&drv_old), 0);
	assert_int_equal(rain_driver_lookup("fake", "fake store", "old:x", builtin, 3, &d, &loc),
			 RAIN_EINVAL);
	assert_error_contains("table version 2");
	assert_int_equal(rain_driver_register(&no_table), RAIN_EINVAL);
	assert_int_equal(rain_driver_register(&colon), RAIN_EINVAL);
	assert_int_equal(rain_driver_register(NULL), RAIN_EINVAL);
}

static bool no_refs(void *ud, const char *sha256)
{
	(void)ud;
	(void)sha256;
	return false;
}

/* The SQLite catalog without its optional methods, as scheme "sqlmin". */
static struct rain_catalog_image_backend min_images;
static struct rain_catalog_identity_backend min_identity;
static struct rain_catalog_driver min_catalog;
static const struct rain_driver min_catalog_driver = { "catalog", "sqlmin", "sqlmin:PATH", &min_catalog };

/* The filesystem blob store without tmp_sync and purge_tmp, as "fsmin". */
static struct rain_blob_backend min_blob;
static const struct rain_driver min_blob_driver = { "blob", "fsmin", "fsmin:DIR", &min_blob };

static void test_optional_methods(void **state)
{
	char dir[] = "/tmp/rain-test-registry.XXXXXX", uri[128];
	static const char data[] = "some bytes";
	struct rain_catalog *cat = NULL;
	struct rain_blob_store *bs = NULL;
	struct rain_blob_writer *w = NULL;
	struct rain_blob_result res;
	int64_t removed = -1, tmp = -1;
	bool yes = false;

	(void)state;
	assert_non_null(mkdtemp(dir));
	min_images = *rain_catalog_sqlite.images;
	min_images.image_touch = NULL;
	min_identity = *rain_catalog_sqlite.identity;
	min_identity.user_touch = NULL;
	min_identity.token_purge = NULL;
	min_catalog = rain_catalog_sqlite;
	min_catalog.images = &min_images;
	min_catalog.identity = &min_identity;
	assert_int_equal(rain_driver_register(&min_catalog_driver), 0);
	snprintf(uri, sizeof(uri), "sqlmin:%s/catalog.db", dir);
	assert_int_equal(rain_catalog_open(&cat, uri), 0);
	assert_int_equal(rain_catalog_image_touch(cat, "00000000-0000-4000-8000-000000000001", 1), 0);
	assert_int_equal(rain_catalog_user_touch(cat, "nobody", 1), 0);
	assert_int_equal(rain_catalog_token_purge(cat, 1, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(rain_catalog_token_purge(cat, 1, NULL), 0);
	rain_catalog_close(cat);

	min_blob = rain_blob_fs;
	min_blob.tmp_sync = NULL;
	min_blob.purge_tmp = NULL;
	assert_int_equal(rain_driver_register(&min_blob_driver), 0);
	snprintf(uri, sizeof(uri), "fsmin:%s/blobs", dir);
	assert_int_equal(rain_blob_store_open(&bs, uri), 0);
	assert_int_equal(rain_blob_write_open(bs, false, &w), 0);
	assert_int_equal(rain_blob_write(w, data, sizeof(data)), 0);
	assert_int_equal(rain_blob_write_sync(w), 0);
	assert_int_equal(rain_blob_write_commit(w, &res), 0);
	assert_int_equal(rain_blob_exists(bs, res.sha256, &yes), 0);
	assert_true(yes);
	assert_int_equal(rain_blob_store_gc(bs, no_refs, NULL, &tmp, &removed), 0);
	assert_int_equal(tmp, 0);
	assert_int_equal(removed, 1);
	rain_blob_store_close(bs);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_and_bare),
		cmocka_unit_test(test_register_unknown),
		cmocka_unit_test(test_version_and_bad),
		cmocka_unit_test(test_optional_methods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
