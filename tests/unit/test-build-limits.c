/* What a build may use: its limits as text (rain generate --limit), and
 * which mirrors it may reach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "lib/build/build-internal.h"
#include "rain/build.h"
#include "rain/error.h"

static void limit_bad(const char *key, const char *value, const char *want)
{
	struct rain_build_limits l = { 0 };

	assert_int_equal(rain_build_limits_set(&l, key, value), RAIN_EINVAL);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
	/* nothing is set by a refused value */
	assert_int_equal(l.pids, 0);
	assert_int_equal(l.memory, 0);
	assert_false(l.allow_private_mirrors);
}

static void test_limits(void **state)
{
	struct rain_build_limits l = { 0 };

	assert_int_equal(rain_build_limits_set(&l, "pids", "512"), 0);
	assert_int_equal(l.pids, 512);
	assert_int_equal(rain_build_limits_set(&l, "memory", "1.5G"), 0);
	assert_int_equal(l.memory, 3LL << 29);
	assert_int_equal(rain_build_limits_set(&l, "cpus", "0.5"), 0);
	assert_int_equal(l.cpus_milli, 500);
	assert_int_equal(rain_build_limits_set(&l, "io_bps", "50M"), 0);
	assert_int_equal(l.io_bps, 50LL << 20);
	assert_int_equal(rain_build_limits_set(&l, "tmpfs_size", "64MiB"), 0);
	assert_int_equal(l.tmpfs, 64LL << 20);
	assert_int_equal(rain_build_limits_set(&l, "cache_size", "100G"), 0);
	assert_int_equal(l.cache, 100LL << 30);
	assert_int_equal(rain_build_limits_set(&l, "scratch_size", "20G"), 0);
	assert_int_equal(l.scratch, 20LL << 30);
	assert_int_equal(rain_build_limits_set(&l, "allow_private_mirrors", "yes"), 0);
	assert_true(l.allow_private_mirrors);

	limit_bad("pids", "-1", "limit pids: '-1' is not a number of processes");
	limit_bad("pids", "15", "from 16 to 4194304");
	limit_bad("pids", "99999999999999999999", "not a number");
	limit_bad("cache_size", "lots", "limit cache_size: 'lots' is not a size of at least 1M");
	limit_bad("cache_size", "-5G", "not a size");
	limit_bad("pids", "12x", "not a number");
	limit_bad("memory", "", "limit memory: '' is not a size of at least 1M");
	limit_bad("memory", "-4G", "not a size");
	limit_bad("memory", "1k", "at least 1M");
	limit_bad("memory", "2E", "not a size");
	limit_bad("scratch_size", "99999999T", "not a size");
	limit_bad("cpus", "0", "0.01 to 4096");
	limit_bad("cpus", "nan", "0.01 to 4096");
	limit_bad("cpus", "inf", "0.01 to 4096");
	limit_bad("allow_private_mirrors", "maybe", "say yes or no");
	limit_bad("Pids", "1", "unknown limit 'Pids'");
	limit_bad("", "1", "unknown limit ''");
}

static void mirror_refused(const char *mirror, const char *want)
{
	assert_int_equal(build_mirror_allowed(mirror, false), RAIN_EFORBIDDEN);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
	/* allowed, it passes */
	assert_int_equal(build_mirror_allowed(mirror, true), 0);
}

static void test_mirrors(void **state)
{
	/* numeric hosts need no resolver: the classification itself */
	mirror_refused("http://127.0.0.1/debian", "127.0.0.1 is 127.0.0.1, a loopback");
	mirror_refused("http://127.1.2.3:8080/debian", "127.1.2.3");
	mirror_refused("http://10.0.0.1/debian", "10.0.0.1");
	mirror_refused("http://172.16.0.1/debian", "172.16.0.1");
	mirror_refused("http://172.31.255.255/debian", "172.31.255.255");
	mirror_refused("http://192.168.0.10/debian", "192.168.0.10");
	mirror_refused("http://169.254.169.254/latest", "169.254.169.254");
	mirror_refused("http://100.64.0.1/debian", "100.64.0.1");
	mirror_refused("http://0.0.0.0/debian", "0.0.0.0");
	mirror_refused("http://224.0.0.1/debian", "224.0.0.1");
	mirror_refused("http://[::1]/debian", "::1");
	mirror_refused("http://[fe80::1]/debian", "fe80::1");
	mirror_refused("http://[fd00::5]:80/debian", "fd00::5");
	mirror_refused("http://[::ffff:127.0.0.1]/debian", "::ffff:127.0.0.1");
	mirror_refused("https://user:pw@10.1.1.1/debian", "10.1.1.1");
	mirror_refused("file:///srv/mirror", "only http:// and https://");
	mirror_refused("ftp://10.0.0.1/debian", "only http:// and https://");
	/* public addresses pass; so do names that do not resolve (the
	 * backend says the mirror cannot be reached) */
	assert_int_equal(build_mirror_allowed("http://172.32.0.1/debian", false), 0);
	assert_int_equal(build_mirror_allowed("http://100.128.0.1/debian", false), 0);
	assert_int_equal(build_mirror_allowed("http://8.8.8.8/debian", false), 0);
	assert_int_equal(build_mirror_allowed("http://[2001:4860::8888]/debian", false), 0);
	assert_int_equal(build_mirror_allowed("http://no-such-host.invalid/debian", false), 0);
	assert_int_equal(build_mirror_allowed("http:///debian", false), RAIN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_mirrors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
