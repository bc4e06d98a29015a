/* The job engine (rain/jobs.h) with a trivial kind whose run sleeps,
 * fails or asks for a token: queue order, limits, cancel, time limit,
 * crash recovery and log follow. Real threads and files; no mocks of the
 * engine. */
#include <dirent.h>
#include <pthread.h>
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

#include "rain/error.h"
#include "rain/jobs.h"
#include "rain/sys/job.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "testutil.h"

static const struct rain_who alice = { .owner = "alice" };
static const struct rain_who bob = { .owner = "bob" };
static const struct rain_who carol = { .owner = "carol" };
static const struct rain_who root = { .owner = "root", .admin = true };

/* What the test kind was asked to do (prepare stores it). */
struct input {
	int sleep_ms;
	bool fail;
	bool token;
	int lines;          /* log lines, one every sleep_ms / lines */
};

/* What the test saw (guarded by mu). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char started[16][64];       /* owner/name in the order runs began */
static int nstarted, running_now, running_max, alice_now, alice_max, changes, minted, revoked, recovered;
static char live_hash[129];
static bool token_file_seen, cancel_called;

static void reset(void)
{
	pthread_mutex_lock(&mu);
	nstarted = running_now = running_max = alice_now = alice_max = changes = minted = revoked = recovered = 0;
	live_hash[0] = '\0';
	token_file_seen = cancel_called = false;
	pthread_mutex_unlock(&mu);
}

static int t_prepare(void *ud, const char *id, const char *owner, const char *dir, void *input,
		     json_t *data, char **name)
{
	const struct input *in = input;
	_cleanup_free_ char *p = fs_path_join(dir, "input");

	if (in->sleep_ms < 0)
		return rain_error_set(RAIN_EINVAL, "sleep_ms must not be negative");
	/* the kind's own file, next to the record */
	assert_int_equal(fs_write_atomic(p, "x", 1, 0600), 0);
	json_object_set_new(data, "sleep_ms", json_integer(in->sleep_ms));
	json_object_set_new(data, "fail", json_boolean(in->fail));
	json_object_set_new(data, "token", json_boolean(in->token));
	json_object_set_new(data, "lines", json_integer(in->lines));
	*name = strdup("slept");
	return *name ? 0 : RAIN_ENOMEM;
}

static int t_run(void *ud, struct rain_job_run *run, json_t *data)
{
	int sleep_ms = (int)json_integer_value(json_object_get(data, "sleep_ms"));
	int lines = (int)json_integer_value(json_object_get(data, "lines"));
	_cleanup_free_ char *input = fs_path_join(run->dir, "input");
	const char *token;
	int r = 0;

	/* (the minimal kind prepares nothing) */
	if (json_object_get(data, "sleep_ms") && access(input, F_OK) < 0)
		return rain_error_set(RAIN_EIO, "the input prepared is missing");
	pthread_mutex_lock(&mu);
	if (nstarted < 16)
		snprintf(started[nstarted++], sizeof(started[0]), "%s", run->owner);
	if (++running_now > running_max)
		running_max = running_now;
	if (!strcmp(run->owner, "alice") && ++alice_now > alice_max)
		alice_max = alice_now;
	pthread_mutex_unlock(&mu);
	rain_job_log(run, "job %s started", run->id);
	if (json_is_true(json_object_get(data, "token"))) {
		_cleanup_free_ char *tf = fs_path_join(run->dir, "token.sha256");

		r = rain_job_token(run, &token);
		pthread_mutex_lock(&mu);
		token_file_seen = r == 0 && !strcmp(token, "secret-of-alice") && access(tf, F_OK) == 0;
		pthread_mutex_unlock(&mu);
	}
	for (int t = 0; t < sleep_ms && r == 0; t += 10) {
		if (*run->cancel)
			r = rain_error_set(RAIN_ECANCELED, "canceled");
		else if (lines > 0 && t % (sleep_ms / lines) == 0)
			rain_job_log(run, "line at %d ms", t);
		usleep(10000);
	}
	if (r == 0 && json_is_true(json_object_get(data, "fail")))
		r = rain_error_set(RAIN_EIO, "asked to fail");
	if (r == 0)
		r = rain_job_set(run, "result", json_string("done"));
	pthread_mutex_lock(&mu);
	running_now--;
	if (!strcmp(run->owner, "alice"))
		alice_now--;
	pthread_mutex_unlock(&mu);
	return r;
}

static void t_cancel(void *ud, const char *id)
{
	pthread_mutex_lock(&mu);
	cancel_called = true;     /* (called under the engine's lock) */
	pthread_mutex_unlock(&mu);
}

static int t_check(void *ud, json_t *data)
{
	if (!json_is_integer(json_object_get(data, "sleep_ms")))
		return rain_error_set(RAIN_EFORMAT, "bad job record: field 'sleep_ms'");
	return 0;
}

static int64_t t_recover(void *ud, const char *id, const char *dir)
{
	pthread_mutex_lock(&mu);
	recovered++;
	pthread_mutex_unlock(&mu);
	return 1;
}

static const struct rain_job_kind sleeper = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "sleep",
	.record_file = "sleep.json",
	.stopped_msg = "the test stopped during the sleep",
	.prepare = t_prepare,
	.run = t_run,
	.cancel = t_cancel,
	.check = t_check,
	.recover = t_recover,
};

/* A second kind with only what is required. */
static const struct rain_job_kind minimal = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "minimal",
	.run = t_run,
};

static void on_changed(void *ud)
{
	pthread_mutex_lock(&mu);
	changes++;
	pthread_mutex_unlock(&mu);
}

static int on_mint(void *ud, const char *owner, int64_t expires_us,
		   int (*commit)(void *commit_ud, const char *hash), void *commit_ud, char **token)
{
	char hash[64];
	int r;

	if (expires_us <= time_now_us())
		return rain_error_set(RAIN_EINVAL, "the token would be expired");
	snprintf(hash, sizeof(hash), "hash-of-%s", owner);
	r = commit(commit_ud, hash);
	if (r < 0)
		return r;
	*token = strdup("secret-of-alice");
	pthread_mutex_lock(&mu);
	minted++;
	snprintf(live_hash, sizeof(live_hash), "%s", hash);
	pthread_mutex_unlock(&mu);
	return 0;
}

static int on_revoke(void *ud, const char *hash)
{
	pthread_mutex_lock(&mu);
	revoked++;
	if (!strcmp(hash, live_hash))
		live_hash[0] = '\0';
	pthread_mutex_unlock(&mu);
	return 0;
}

struct fixture {
	char dir[64];
	char kdir[96], mdir[96];
	struct rain_jobs *j;
};

static struct fixture fx;

static void engine(struct rain_jobs_config cfg, int timeout_s, int kind_max_running,
		   struct rain_jobs_recovery *rec)
{
	struct rain_jobs_kind_config k = { .dir = fx.kdir, .timeout_s = timeout_s,
					   .max_running = kind_max_running };
	struct rain_jobs_kind_config m = { .dir = fx.mdir };

	cfg.changed = on_changed;
	cfg.token_mint = on_mint;
	cfg.token_revoke = on_revoke;
	if (cfg.workers == 0)
		cfg.workers = 1;
	assert_int_equal(rain_jobs_new(&fx.j, &cfg), 0);
	assert_int_equal(rain_jobs_add_kind(fx.j, &sleeper, &k), 0);
	assert_int_equal(rain_jobs_add_kind(fx.j, &minimal, &m), 0);
	assert_int_equal(rain_jobs_start(fx.j, rec), 0);
}

static int setup(void **state)
{
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test-jobs.XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(fx.kdir, sizeof(fx.kdir), "%s/sleep", fx.dir);
	snprintf(fx.mdir, sizeof(fx.mdir), "%s/minimal", fx.dir);
	fx.j = NULL;
	reset();
	return 0;
}

static int teardown(void **state)
{
	rain_jobs_stop(fx.j);
	fx.j = NULL;
	test_rmtree(fx.dir);
	return 0;
}

/* Submit a job of kind for who; its id into id (37 bytes). */
static int submit(const char *kind, const struct rain_who *who, struct input in, char *id)
{
	struct rain_job_submission *s;
	json_t *rec = NULL;
	int r = rain_jobs_submit_begin(fx.j, kind, who->owner, &s);

	if (r < 0)
		return r;
	r = rain_jobs_submit(s, "test", &in, &rec);
	rain_jobs_submit_end(s);
	if (r == 0 && id)
		snprintf(id, 37, "%s", json_string_value(json_object_get(rec, "id")));
	json_decref(rec);
	return r;
}

static const char *status_of(const char *id, json_t **keep)
{
	json_decref(*keep);
	*keep = NULL;
	if (rain_jobs_get(fx.j, &root, RAIN_ACT_BUILD_SHOW, NULL, id, keep) < 0)
		return "gone";
	return json_string_value(json_object_get(*keep, "status"));
}

/* Wait (generously: the machine is shared) until job id has status. */
static void wait_status(const char *id, const char *want)
{
	json_t *j = NULL;

	for (int i = 0; i < 6000 && strcmp(status_of(id, &j), want); i++)
		usleep(10000);
	assert_string_equal(status_of(id, &j), want);
	json_decref(j);
}

static int64_t position(const char *id)
{
	json_t *j = NULL;
	int64_t pos;

	assert_int_equal(rain_jobs_get(fx.j, &root, RAIN_ACT_BUILD_SHOW, NULL, id, &j), 0);
	pos = json_integer_value(json_object_get(j, "position"));
	json_decref(j);
	return pos;
}

/* The status names jobs (and build records, rain/build-record.h) are
 * written with, and back. */
static void test_status_names(void **state)
{
	enum rain_job_status st;

	(void)state;
	for (int i = RAIN_JOB_QUEUED; i <= RAIN_JOB_CANCELED; i++) {
		assert_int_equal(rain_job_status_parse(rain_job_status_name(i), &st), 0);
		assert_int_equal((int)st, i);
	}
	assert_string_equal(rain_job_status_name(RAIN_JOB_CANCELED), "canceled");
	assert_int_equal(rain_job_status_parse("done", &st), RAIN_EINVAL);
	assert_int_equal(rain_job_status_parse(NULL, &st), RAIN_EINVAL);
	assert_false(rain_job_status_finished(RAIN_JOB_QUEUED));
	assert_false(rain_job_status_finished(RAIN_JOB_RUNNING));
	assert_true(rain_job_status_finished(RAIN_JOB_SUCCEEDED));
	assert_true(rain_job_status_finished(RAIN_JOB_FAILED));
	assert_true(rain_job_status_finished(RAIN_JOB_CANCELED));
}

static void test_kind_table(void **state)
{
	struct rain_jobs_config cfg = { .workers = 1 };
	struct rain_jobs_kind_config k = { .dir = fx.kdir };
	struct rain_job_kind bad = sleeper;
	struct rain_jobs *j;

	assert_int_equal(rain_jobs_new(&j, &(struct rain_jobs_config){ .workers = 0 }), RAIN_EINVAL);
	assert_int_equal(rain_jobs_new(&j, &cfg), 0);
	bad.version = 99;
	assert_int_equal(rain_jobs_add_kind(j, &bad, &k), RAIN_EINVAL);
	assert_error_contains("version 99");
	bad = sleeper;
	bad.run = NULL;
	assert_int_equal(rain_jobs_add_kind(j, &bad, &k), RAIN_EINVAL);
	bad = sleeper;
	bad.name = "Sleep/../x";
	assert_int_equal(rain_jobs_add_kind(j, &bad, &k), RAIN_EINVAL);
	assert_int_equal(rain_jobs_add_kind(j, &sleeper, &k), 0);
	assert_int_equal(rain_jobs_add_kind(j, &sleeper, &k), RAIN_EINVAL);
	assert_error_contains("there already");
	assert_int_equal(rain_jobs_start(j, NULL), 0);
	assert_int_equal(rain_jobs_add_kind(j, &minimal, &k), RAIN_ECONFLICT);
	rain_jobs_stop(j);
}

/* Round robin between users, each user's oldest first; the positions
 * shown while queued are the order they run in. */
static void test_queue_order(void **state)
{
	struct input quick = { .sleep_ms = 0 };
	char a1[37], a2[37], a3[37], b1[37], c1[37];
	const char *want[] = { "alice", "bob", "carol", "alice", "alice" };

	engine((struct rain_jobs_config){ .workers = 1 }, 0, 0, NULL);
	assert_int_equal(submit("sleep", &alice, quick, a1), 0);
	assert_int_equal(submit("sleep", &alice, quick, a2), 0);
	assert_int_equal(submit("sleep", &alice, quick, a3), 0);
	assert_int_equal(submit("sleep", &bob, quick, b1), 0);
	assert_int_equal(submit("minimal", &carol, quick, c1), 0);
	assert_int_equal(position(a1), 1);
	assert_int_equal(position(b1), 2);
	assert_int_equal(position(c1), 3);
	assert_int_equal(position(a2), 4);
	assert_int_equal(position(a3), 5);
	{
		json_t *j = NULL;

		assert_int_equal(rain_jobs_get(fx.j, &alice, RAIN_ACT_BUILD_SHOW, "sleep", a1, &j), 0);
		assert_string_equal(json_string_value(json_object_get(j, "name")), "slept");
		json_decref(j);
	}
	assert_int_equal(submit("nothing", &alice, quick, NULL), RAIN_EINVAL);
	assert_error_contains("no job kind 'nothing'");
	/* a refused submission leaves nothing: no record, no staging */
	assert_int_equal(submit("sleep", &bob, (struct input){ .sleep_ms = -1 }, NULL), RAIN_EINVAL);
	assert_error_contains("must not be negative");
	assert_int_equal(rain_jobs_count_owned(fx.j, NULL, "bob"), 1);
	{
		DIR *d = opendir(fx.kdir);
		struct dirent *de;
		int n = 0;

		assert_non_null(d);
		while ((de = readdir(d)))
			n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		closedir(d);
		assert_int_equal(n, 4);     /* a1, a2, a3, b1 */
	}
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(a3, "succeeded");
	wait_status(c1, "succeeded");
	assert_int_equal(nstarted, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(started[i], want[i]);
	assert_int_equal(rain_jobs_count_owned(fx.j, NULL, "alice"), 3);
	assert_int_equal(rain_jobs_count_owned(fx.j, "minimal", "alice"), 0);
	assert_true(changes > 0);
}

/* Per-user queued, submitting and running limits; per-kind running. */
static void test_limits(void **state)
{
	struct input slow = { .sleep_ms = 400 };
	struct rain_job_submission *s1, *s2;
	char a1[37], a2[37], b1[37];

	engine((struct rain_jobs_config){ .workers = 3, .max_queued_per_user = 2,
					  .max_running_per_user = 1,
					  .max_submitting_per_user = 1 }, 0, 0, NULL);
	assert_int_equal(submit("sleep", &alice, slow, a1), 0);
	assert_int_equal(submit("sleep", &alice, slow, a2), 0);
	assert_int_equal(submit("sleep", &alice, slow, NULL), RAIN_ELIMIT);
	assert_error_contains("2 jobs queued");
	assert_int_equal(rain_jobs_submit_begin(fx.j, "sleep", "bob", &s1), 0);
	assert_int_equal(rain_jobs_submit_begin(fx.j, "sleep", "bob", &s2), RAIN_ELIMIT);
	assert_error_contains("submissions under way");
	rain_jobs_submit_end(s1);
	assert_int_equal(submit("sleep", &bob, slow, b1), 0);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(a2, "succeeded");
	wait_status(b1, "succeeded");
	/* alice's two never ran at once, though a worker was free */
	assert_int_equal(alice_max, 1);
	assert_true(running_max <= 2);
	assert_int_equal(nstarted, 3);
}

static void test_kind_limit(void **state)
{
	struct input slow = { .sleep_ms = 300 };
	char a1[37], b1[37], c1[37];

	engine((struct rain_jobs_config){ .workers = 3 }, 0, 1, NULL);
	assert_int_equal(submit("sleep", &alice, slow, a1), 0);
	assert_int_equal(submit("sleep", &bob, slow, b1), 0);
	assert_int_equal(submit("sleep", &carol, slow, c1), 0);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(a1, "succeeded");
	wait_status(b1, "succeeded");
	wait_status(c1, "succeeded");
	assert_int_equal(running_max, 1);
}

/* Cancel a queued and a running job; only the owner and admins see them. */
static void test_cancel(void **state)
{
	struct input slow = { .sleep_ms = 60000 };
	char a1[37], a2[37];
	json_t *rec = NULL;

	engine((struct rain_jobs_config){ .workers = 1 }, 0, 0, NULL);
	assert_int_equal(submit("sleep", &alice, slow, a1), 0);
	assert_int_equal(submit("sleep", &alice, slow, a2), 0);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(a1, "running");
	assert_int_equal(rain_jobs_cancel(fx.j, &bob, RAIN_ACT_BUILD_CANCEL, NULL, a2, 5, NULL),
			 RAIN_ENOTFOUND);
	assert_error_contains(a2);
	assert_int_equal(rain_jobs_cancel(fx.j, &alice, RAIN_ACT_BUILD_CANCEL, "minimal", a2, 5,
					  NULL), RAIN_ENOTFOUND);
	assert_int_equal(rain_jobs_cancel(fx.j, &alice, RAIN_ACT_BUILD_CANCEL, "sleep", a2, 5, &rec),
			 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "canceled");
	assert_string_equal(json_string_value(json_object_get(rec, "kind")), "sleep");
	json_decref(rec);
	assert_int_equal(rain_jobs_delete(fx.j, &alice, RAIN_ACT_BUILD_DELETE, NULL, a1),
			 RAIN_ECONFLICT);
	assert_int_equal(rain_jobs_cancel(fx.j, &root, RAIN_ACT_BUILD_CANCEL, NULL, a1, 60, &rec), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "canceled");
	assert_true(cancel_called);
	json_decref(rec);
	assert_int_equal(rain_jobs_cancel(fx.j, &alice, RAIN_ACT_BUILD_CANCEL, NULL, a1, 5, NULL),
			 RAIN_ECONFLICT);
	assert_error_contains("nothing to cancel");
	/* lists: alice sees her two, bob none, root all */
	assert_int_equal(rain_jobs_list(fx.j, &alice, RAIN_ACT_BUILD_SHOW, NULL, &rec), 0);
	assert_int_equal(json_array_size(rec), 2);
	json_decref(rec);
	assert_int_equal(rain_jobs_list(fx.j, &bob, RAIN_ACT_BUILD_SHOW, NULL, &rec), 0);
	assert_int_equal(json_array_size(rec), 0);
	json_decref(rec);
	assert_int_equal(rain_jobs_delete(fx.j, &bob, RAIN_ACT_BUILD_DELETE, NULL, a1),
			 RAIN_ENOTFOUND);
	assert_int_equal(rain_jobs_delete(fx.j, &alice, RAIN_ACT_BUILD_DELETE, NULL, a1), 0);
	assert_int_equal(rain_jobs_list(fx.j, &root, RAIN_ACT_BUILD_SHOW, NULL, &rec), 0);
	assert_int_equal(json_array_size(rec), 1);
	json_decref(rec);
}

/* A job past its time limit is stopped and failed, naming the limit; a
 * job that fails keeps its message; one that succeeds keeps its field;
 * its token lives only while it runs. */
static void test_time_limit_and_outcomes(void **state)
{
	char slow[37], bad[37], good[37];
	json_t *rec = NULL;

	engine((struct rain_jobs_config){ .workers = 2 }, 1, 0, NULL);
	assert_int_equal(submit("sleep", &alice, (struct input){ .sleep_ms = 60000 }, slow), 0);
	assert_int_equal(submit("sleep", &bob, (struct input){ .fail = true }, bad), 0);
	assert_int_equal(submit("sleep", &alice, (struct input){ .sleep_ms = 10, .token = true },
				good), 0);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(slow, "failed");
	assert_int_equal(rain_jobs_get(fx.j, &alice, RAIN_ACT_BUILD_SHOW, NULL, slow, &rec), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "error")),
			    "the sleep took longer than 1 s (its time limit) and was stopped");
	json_decref(rec);
	wait_status(bad, "failed");
	assert_int_equal(rain_jobs_get(fx.j, &bob, RAIN_ACT_BUILD_SHOW, NULL, bad, &rec), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "error")), "asked to fail");
	json_decref(rec);
	wait_status(good, "succeeded");
	assert_int_equal(rain_jobs_get(fx.j, &alice, RAIN_ACT_BUILD_SHOW, NULL, good, &rec), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "result")), "done");
	assert_true(json_is_null(json_object_get(rec, "error")));
	json_decref(rec);
	assert_int_equal(minted, 1);
	assert_true(token_file_seen);
	assert_string_equal(live_hash, "");    /* revoked */
}

/* Write a record as a crashed engine left it. */
static void leave_record(const char *id, const char *status, bool token)
{
	char dir[160], path[200], text[600];

	snprintf(dir, sizeof(dir), "%s/%s", fx.kdir, id);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	snprintf(text, sizeof(text), "{\"id\": \"%s\", \"owner\": \"alice\", \"name\": \"old\", "
		 "\"status\": \"%s\", \"created_at\": \"2026-12-07T01:00:00Z\", "
		 "\"started_at\": null, \"finished_at\": null, \"error\": null, "
		 "\"sleep_ms\": 0, \"fail\": false, \"token\": false, \"lines\": 0}", id, status);
	snprintf(path, sizeof(path), "%s/sleep.json", dir);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
	snprintf(path, sizeof(path), "%s/input", dir);
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600), 0);
	if (token) {
		snprintf(path, sizeof(path), "%s/token.sha256", dir);
		assert_int_equal(fs_write_atomic(path, "hash-of-alice\n", 14, 0600), 0);
	}
}

/* Reopen with a record left running, one queued, a staging directory,
 * a submission without a record and an unreadable record. */
static void test_recovery(void **state)
{
	const char *run_id = "11111111-2222-4333-8444-555555555555";
	const char *q_id = "21111111-2222-4333-8444-555555555555";
	const char *bad_id = "31111111-2222-4333-8444-555555555555";
	const char *half_id = "41111111-2222-4333-8444-555555555555";
	struct rain_jobs_recovery rec;
	char path[200];
	json_t *j = NULL;

	assert_int_equal(fs_mkdir_p(fx.kdir, 0700), 0);
	leave_record(run_id, "running", true);
	leave_record(q_id, "queued", false);
	snprintf(path, sizeof(path), "%s/%s", fx.kdir, bad_id);
	assert_int_equal(fs_mkdir_p(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s/sleep.json", fx.kdir, bad_id);
	assert_int_equal(fs_write_atomic(path, "{\"id\": 1}", 9, 0600), 0);
	snprintf(path, sizeof(path), "%s/%s", fx.kdir, half_id);
	assert_int_equal(fs_mkdir_p(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.staging-%s", fx.kdir, half_id);
	assert_int_equal(fs_mkdir_p(path, 0700), 0);
	live_hash[0] = '\0';
	engine((struct rain_jobs_config){ .workers = 1 }, 0, 0, &rec);
	assert_int_equal(rec.failed, 1);
	assert_int_equal(rec.requeued, 1);
	assert_int_equal(rec.stopped, 1);
	assert_int_equal(rec.unreadable, 1);
	assert_int_equal(rec.tokens_revoked, 1);
	assert_int_equal(revoked, 1);
	assert_int_equal(recovered, 1);
	assert_string_equal(status_of(run_id, &j), "failed");
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "the test stopped during the sleep");
	json_decref(j);
	snprintf(path, sizeof(path), "%s/%s/token.sha256", fx.kdir, run_id);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/.staging-%s", fx.kdir, half_id);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s", fx.kdir, half_id);
	assert_int_equal(access(path, F_OK), -1);
	/* the record on disk says so too */
	snprintf(path, sizeof(path), "%s/%s/sleep.json", fx.kdir, run_id);
	j = json_load_file(path, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
	assert_non_null(json_string_value(json_object_get(j, "finished_at")));
	json_decref(j);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	wait_status(q_id, "succeeded");
	/* stopping during a run records it failed at once */
	{
		char slow[37];

		assert_int_equal(submit("sleep", &alice, (struct input){ .sleep_ms = 60000 }, slow),
				 0);
		wait_status(slow, "running");
		rain_jobs_stop(fx.j);
		fx.j = NULL;
		snprintf(path, sizeof(path), "%s/%s/sleep.json", fx.kdir, slow);
		j = json_load_file(path, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "error")),
				    "the test stopped during the sleep");
		json_decref(j);
	}
}

/* A follower reads a growing log without blocking, is told of changes,
 * and learns when the log cannot grow any more. */
static int changed_since(int before)
{
	int n;

	pthread_mutex_lock(&mu);
	n = changes - before;
	pthread_mutex_unlock(&mu);
	return n;
}

static void test_log_follow(void **state)
{
	struct rain_job_log *l;
	char id[37], buf[4096];
	size_t total = 0;
	int before;
	bool saw_wait = false;

	engine((struct rain_jobs_config){ .workers = 1 }, 0, 0, NULL);
	assert_int_equal(submit("sleep", &alice, (struct input){ .sleep_ms = 1500, .lines = 5 },
				id), 0);
	assert_int_equal(rain_jobs_log_open(fx.j, &bob, RAIN_ACT_BUILD_SHOW, NULL, id, 0, true, &l),
			 RAIN_ENOTFOUND);
	assert_int_equal(rain_jobs_log_open(fx.j, &alice, RAIN_ACT_BUILD_SHOW, NULL, id, 0, true,
					    &l), 0);
	/* queued: nothing to read yet, but more may come */
	assert_int_equal(rain_jobs_log_read(l, buf, sizeof(buf)), 0);
	assert_true(rain_jobs_log_more(l));
	assert_false(rain_jobs_log_ready(l));
	pthread_mutex_lock(&mu);
	before = changes;
	pthread_mutex_unlock(&mu);
	assert_int_equal(rain_jobs_serve(fx.j), 0);
	for (int i = 0; i < 3000; i++) {
		ssize_t n;

		if (!rain_jobs_log_ready(l)) {
			rain_jobs_wait_change(fx.j, 100);
			saw_wait = true;
			continue;
		}
		n = rain_jobs_log_read(l, buf + total, sizeof(buf) - 1 - total);
		assert_true(n >= 0);
		total += (size_t)n;
		if (n == 0 && !rain_jobs_log_more(l))
			break;
	}
	buf[total] = '\0';
	assert_true(saw_wait);
	assert_non_null(strstr(buf, "started"));
	assert_non_null(strstr(buf, "line at 0 ms"));
	assert_non_null(strstr(buf, "line at 1200 ms"));
	assert_false(rain_jobs_log_more(l));
	/* running, six lines, finished: each told (the last one may come
	 * just after the log says it is complete; never assert holding mu:
	 * a failed assertion would leave it locked for the workers) */
	for (int i = 0; i < 100 && changed_since(before) < 8; i++)
		usleep(50000);
	assert_true(changed_since(before) >= 8);
	rain_jobs_log_close(l);
	/* from an offset, without follow */
	assert_int_equal(rain_jobs_log_open(fx.j, &root, RAIN_ACT_BUILD_SHOW, "sleep", id, 4, false,
					    &l), 0);
	assert_false(rain_jobs_log_more(l));
	assert_int_equal(rain_jobs_log_read(l, buf, 8), 8);
	assert_memory_equal(buf, id, 8);
	rain_jobs_log_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test_setup_teardown(test_kind_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kind_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_limit_and_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_follow, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
