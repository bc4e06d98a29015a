/* Helpers shared by the unit test programs (header only: each test-*.c is
 * its own program). Include after <cmocka.h>. */
#ifndef RAIN_TESTUTIL_H
#define RAIN_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "rain/error.h"

/* Fail unless the calling thread's last rain error message has needle. */
static inline void assert_error_contains(const char *needle)
{
	if (!strstr(rain_error_last(), needle))
		fail_msg("error \"%s\" lacks \"%s\"", rain_error_last(), needle);
}

static inline int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove a test's temporary tree. */
static inline void test_rmtree(const char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The schema version (PRAGMA user_version) of the closed SQLite catalog
 * at path. */
static inline int test_sqlite_user_version(const char *path)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

#endif
