/* Unit tests for the driver registry (src/lib/core/registry.c): built-in
 * and registered drivers by scheme, bare locations, the unknown-scheme
 * message, duplicates and table versions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "rain/error.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_and_bare),
		cmocka_unit_test(test_register_unknown),
		cmocka_unit_test(test_version_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
