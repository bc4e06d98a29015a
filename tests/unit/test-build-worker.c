/* The sessions of remote build workers (src/lib/build/build-worker.c):
 * a worker token is good for its own running build only, output names
 * cannot leave the build's out/, uploads appear whole or not at all, the
 * outcome is reported once; and the worker backends' lookup. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/build/build-worker.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "util/timeutil.h"
#include "testutil.h"

#define ID "3f0fffba-9c16-483a-9aa3-5c1d72aea424"
#define OTHER "5d2c3b52-8a1e-4f3a-9b53-0c4e5d6f7a8b"

struct fixture {
	char dir[64];
	volatile sig_atomic_t cancel;
	struct rain_job_run job;
	struct worker_sessions *s;
	struct rain_worker_session *ws;
	char token[RAIN_TOKEN_LEN + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-build-worker-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* no log descriptor: rain_job_log writes nothing, tells no engine */
	f->job = (struct rain_job_run){ .id = ID, .owner = "alice", .dir = f->dir, .log_fd = -1,
					.cancel = &f->cancel };
	assert_int_equal(worker_sessions_new(&f->s), 0);
	assert_int_equal(worker_session_open(f->s, &f->job, time_now_us() + 60 * 1000000LL, &f->ws,
					     f->token), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	worker_session_close(f->s, f->ws);
	worker_sessions_free(f->s);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_token_scope(void **state)
{
	struct fixture *f = *state;
	char wrong[RAIN_TOKEN_LEN + 1], hash[RAIN_TOKEN_HASH_LEN + 1];

	assert_int_equal(strlen(f->token), RAIN_TOKEN_LEN);
	assert_int_equal(worker_session_log(f->s, ID, f->token, "a line\n", 7), 0);
	assert_int_equal(worker_session_log(f->s, OTHER, f->token, "x", 1), RAIN_EAUTH);
	assert_error_contains("not valid for build " OTHER);
	assert_int_equal(rain_token_new(wrong, hash), 0);
	assert_int_equal(worker_session_log(f->s, ID, wrong, "x", 1), RAIN_EAUTH);
	assert_int_equal(worker_session_log(f->s, ID, NULL, "x", 1), RAIN_EAUTH);
	assert_int_equal(worker_session_log(f->s, ID, "", "x", 1), RAIN_EAUTH);
}

static void test_expired(void **state)
{
	struct fixture *f = *state;
	struct rain_worker_session *old = NULL;
	struct rain_job_run job = f->job;
	char token[RAIN_TOKEN_LEN + 1];

	job.id = OTHER;
	assert_int_equal(worker_session_open(f->s, &job, time_now_us() - 1, &old, token), 0);
	assert_int_equal(worker_session_done(f->s, OTHER, token, true, NULL), RAIN_EAUTH);
	worker_session_close(f->s, old);
}

static void test_output_names(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "../build.json", ".hidden", "a/b", "..", "", NULL };
	int fd;

	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(worker_session_output_open(f->s, ID, f->token, bad[i], &fd),
				 RAIN_EINVAL);
		assert_int_equal(fd, -1);
	}
}

static void test_output_whole(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat st;
	int fd;

	assert_int_equal(worker_session_output_open(f->s, ID, f->token, "image.qcow2", &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	snprintf(path, sizeof(path), "%s/out/image.qcow2", f->dir);
	assert_int_equal(stat(path, &st), -1);          /* not before the commit */
	assert_int_equal(worker_session_output_commit(f->s, ID, f->token, "image.qcow2", fd), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	/* an upload never committed is gone once the session closes */
	assert_int_equal(worker_session_output_open(f->s, ID, f->token, "half.raw", &fd), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/out/.upload-half.raw", f->dir);
	assert_int_equal(stat(path, &st), 0);
	worker_session_close(f->s, f->ws);
	f->ws = NULL;
	assert_int_equal(stat(path, &st), -1);
	/* and the token with it */
	assert_int_equal(worker_session_log(f->s, ID, f->token, "x", 1), RAIN_EAUTH);
}

static void test_done_once(void **state)
{
	struct fixture *f = *state;
	bool ok = true;
	char *error = NULL;
	int fd;

	assert_false(rain_worker_session_contacted(f->ws));
	assert_false(rain_worker_session_reported(f->ws, &ok, &error));
	assert_int_equal(worker_session_done(f->s, ID, f->token, false, "package x missing"), 0);
	assert_true(rain_worker_session_contacted(f->ws));
	assert_true(rain_worker_session_reported(f->ws, &ok, &error));
	assert_false(ok);
	assert_string_equal(error, "package x missing");
	free(error);
	assert_int_equal(worker_session_done(f->s, ID, f->token, true, NULL), RAIN_ECONFLICT);
	assert_int_equal(worker_session_output_open(f->s, ID, f->token, "late.raw", &fd),
			 RAIN_ECONFLICT);
}

static void test_backends(void **state)
{
	const struct rain_worker_backend *b = NULL;

	assert_int_equal(worker_backend_find(NULL, &b), 0);
	assert_string_equal(b->name, "local");
	assert_false(b->remote);
	assert_int_equal(worker_backend_find("slurm", &b), 0);
	assert_true(b->remote);
	assert_int_equal(worker_backend_find("opennebula", &b), RAIN_EINVAL);
	assert_error_contains("unknown backend 'opennebula' (known: local, slurm)");
}

static void test_slurm_settings(void **state)
{
	const struct rain_worker_backend *b = NULL;
	struct rain_worker_settings set = { .partition = "batch", .time_limit_s = 60 };
	void *st = NULL;

	assert_int_equal(worker_backend_find("slurm", &b), 0);
	assert_int_equal(b->open(&set, &st), 0);
	b->close(st);
	set.partition = "batch --wrap=id";
	assert_int_equal(b->open(&set, &st), RAIN_EINVAL);
	assert_error_contains("slurm_partition");
	set.partition = NULL;
	set.account = "a,b";
	assert_int_equal(b->open(&set, &st), RAIN_EINVAL);
	set.account = NULL;
	set.slurm_conf = "relative/slurm.conf";
	assert_int_equal(b->open(&set, &st), RAIN_EINVAL);
	assert_error_contains("absolute path");
	assert_null(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_once, setup, teardown),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_slurm_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
