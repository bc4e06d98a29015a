/* The cached bases' bound (rain_build_cache_prune): the least recently
 * used bases go until the rest fit, never one a build holds or the one
 * kept; sizes are measured once; leftovers of killed builds and of
 * interrupted removals count and go too. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>
#include "rain/build.h"
#include "rain/error.h"
#include "testutil.h"
#include "util/fsutil.h"

#define MIB (1 << 20)

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rain-test-cache.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(dir);
	return 0;
}

static void key_of(char c, char key[33])
{
	memset(key, c, 32);
	key[32] = '\0';
}

/* A base KEY (of c) holding mib MiB, last used `age` seconds ago. */
static void make_base(char c, const char *suffix, int mib, int age)
{
	char key[33], path[256];
	struct timeval tv[2];
	char *buf = calloc(1, MIB);
	FILE *f;
	int fd;

	assert_non_null(buf);
	memset(buf, 'x', MIB);
	key_of(c, key);
	snprintf(path, sizeof(path), "%s/bases/%s%s/root", dir, key, suffix);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/bases/%s%s/root/data", dir, key, suffix);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < mib; i++)
		assert_int_equal(fwrite(buf, 1, MIB, f), MIB);
	fclose(f);
	free(buf);
	snprintf(path, sizeof(path), "%s/bases/%s.lock", dir, key);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= age;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
}

static bool have(char c, const char *suffix)
{
	char key[33], path[256];

	key_of(c, key);
	snprintf(path, sizeof(path), "%s/bases/%s%s", dir, key, suffix);
	return access(path, F_OK) == 0;
}

static void test_prune(void **state)
{
	char key[33], dkey[33], path[256];
	int64_t freed = 0;
	int removed = 0, held;

	(void)state;
	key_of('d', dkey);
	make_base('a', "", 2, 400);     /* the oldest */
	make_base('b', "", 2, 300);     /* held by a build */
	make_base('c', "", 2, 200);
	make_base('d', "", 2, 100);     /* kept: the build's own */
	make_base('e', "", 1, 50);      /* the newest */

	/* everything fits: nothing goes, and each size is measured */
	assert_int_equal(rain_build_cache_prune(dir, 100 * MIB, NULL, &removed, &freed), 0);
	assert_int_equal(removed, 0);
	key_of('a', key);
	snprintf(path, sizeof(path), "%s/bases/%s.size", dir, key);
	assert_int_equal(access(path, F_OK), 0);

	key_of('b', key);
	snprintf(path, sizeof(path), "%s/bases/%s.lock", dir, key);
	held = open(path, O_RDWR);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_SH), 0);

	/* 9 MiB (and the folders' blocks) in all, 4 allowed, oldest first: a
	 * goes, b is held, c goes, d is kept, e goes; b and d are left, a
	 * little over 4 MiB, but neither may go */
	assert_int_equal(rain_build_cache_prune(dir, 4 * MIB, dkey, &removed, &freed), 0);
	assert_int_equal(removed, 3);
	assert_true(freed >= 5 * MIB && freed < 6 * MIB);
	assert_false(have('a', ""));
	assert_true(have('b', ""));
	assert_false(have('c', ""));
	assert_true(have('d', ""));
	assert_false(have('e', ""));

	/* released, b goes */
	close(held);
	assert_int_equal(rain_build_cache_prune(dir, 4 * MIB, dkey, &removed, &freed), 0);
	assert_int_equal(removed, 1);
	assert_false(have('b', ""));
	assert_true(have('d', ""));
}

/* A killed build's half-made base (KEY.new, its lock free) and what an
 * interrupted removal left (KEY.gone-PID) go; a base being made (its lock
 * held) stays. */
static void test_leftovers(void **state)
{
	char key[33], path[256];
	int removed = 0, making;

	(void)state;
	make_base('f', ".new", 2, 500);
	make_base('g', ".new", 2, 400);
	make_base('h', ".gone-1", 1, 300);
	key_of('g', key);
	snprintf(path, sizeof(path), "%s/bases/%s.lock", dir, key);
	making = open(path, O_RDWR);
	assert_true(making >= 0);
	assert_int_equal(flock(making, LOCK_EX), 0);
	assert_int_equal(rain_build_cache_prune(dir, 1 * MIB, NULL, &removed, NULL), 0);
	assert_false(have('f', ".new"));
	assert_true(have('g', ".new"));
	assert_false(have('h', ".gone-1"));
	close(making);
}

/* No cache yet: nothing to do. */
static void test_no_cache(void **state)
{
	int removed = -1;

	(void)state;
	assert_int_equal(rain_build_cache_prune("/nonexistent/rain-cache", 0, NULL, &removed, NULL), 0);
	assert_int_equal(removed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
		cmocka_unit_test(test_no_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
