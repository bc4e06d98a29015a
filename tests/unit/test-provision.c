/* The steps of a run (rain/provision.h) that every provider without its
 * own exec shares: the run's key pair, the ssh readiness wait, the job
 * over ssh (output, exit status, time limit, cancel, each instance), a
 * job script, result files, the ready timeout, and down; one ssh
 * connection per instance shared by the steps and ended by down.
 *
 * The provider here ("sshtest", registered by this test for kinds
 * "target" and "provider") is a test's own: each of its instances is a
 * real OpenSSH sshd on 127.0.0.1 that takes the run's key, started by up
 * and killed by down. Each instance's job folder is in the test's temp
 * folder. Skipped when sshd is not installed. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <pwd.h>

#include "lib/provision/provision-internal.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "rain/sys/provider.h"
#include "rain/sys/registry.h"
#include "rain/sys/target.h"
#include "testutil.h"

#define SSHD "/usr/sbin/sshd"

static char tmp[64];
static pid_t started[16];
static size_t nstarted;

/* ---- the test's provider: an sshd per instance ---------------------------- */

static int st_publish(struct rain_target_op *op, const struct rain_target_image *img,
		      const struct rain_target_artifacts *a)
{
	return 0;
}

static int st_unpublish(struct rain_target_op *op)
{
	return 0;
}

static const struct rain_target_driver sshtest_target = {
	.version = RAIN_TARGET_DRIVER_VERSION, .scheme = "sshtest", .usage = "sshtest:",
	.publish = st_publish, .unpublish = st_unpublish,
};

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int pv_up(struct rain_run_op *op)
{
	struct passwd *pw = getpwuid(getuid());

	for (int k = 1; k <= op->n; k++) {
		char name[64], dir[128], cfg[256], key[192], port[16], pidf[192];
		FILE *f;
		pid_t pid;
		int r, status;

		snprintf(name, sizeof(name), "rain-%s-%d", op->run_id, k);
		snprintf(dir, sizeof(dir), "%s/%s", op->workdir, name);
		snprintf(port, sizeof(port), "%d", free_port());
		r = rain_run_instance_add(op, json_pack("{s:s, s:{s:s, s:i, s:s, s:s}}", "name", name, "ssh",
							"host", "127.0.0.1", "port", atoi(port), "user",
							pw->pw_name, "dir", dir));
		if (r < 0)
			return r;
		mkdir(dir, 0700);
		snprintf(key, sizeof(key), "%s/hostkey", dir);
		unlink(key);
		snprintf(cfg, sizeof(cfg), "%s.pub", key);
		unlink(cfg);
		{
			const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key, NULL };

			pid = fork();
			if (pid == 0) {
				execvp(argv[0], (char **)argv);
				_exit(127);
			}
			waitpid(pid, &status, 0);
		}
		snprintf(cfg, sizeof(cfg), "%s/sshd_config", dir);
		snprintf(pidf, sizeof(pidf), "%s/pid", dir);
		f = fopen(cfg, "w");
		fprintf(f, "Port %s\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s/key.pub\n"
			"PidFile %s\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
			"PasswordAuthentication no\nSubsystem sftp /usr/lib/openssh/sftp-server\n", port, key, op->workdir, pidf);
		fclose(f);
		pid = fork();
		if (pid == 0) {
			const char *argv[] = { SSHD, "-D", "-e", "-f", cfg, NULL };
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			execv(argv[0], (char **)argv);
			_exit(127);
		}
		if (nstarted < 16)
			started[nstarted++] = pid;
		json_object_set_new(rain_run_instance(op, (size_t)k - 1), "pid", json_integer(pid));
	}
	return op->save ? op->save(op->ud, op->state) : 0;
}

static pid_t pid_of(struct rain_run_op *op, size_t i)
{
	return (pid_t)json_integer_value(json_object_get(rain_run_instance(op, i), "pid"));
}

static int pv_alive(struct rain_run_op *op, size_t i)
{
	pid_t pid = pid_of(op, i);

	if (pid <= 0)
		return 0;       /* not one of its sshd */
	if (waitpid(pid, NULL, WNOHANG) != 0)
		return rain_error_set(RAIN_EIO, "its sshd exited");
	return 0;
}

static int pv_down(struct rain_run_op *op)
{
	for (size_t i = 0; i < rain_run_instance_count(op); i++) {
		pid_t pid = pid_of(op, i);

		if (pid > 0 && kill(pid, SIGTERM) == 0)
			waitpid(pid, NULL, 0);
	}
	return 0;
}

static const struct rain_provider_driver sshtest_provider = {
	.version = RAIN_PROVIDER_DRIVER_VERSION, .scheme = "sshtest", .up = pv_up,
	.alive = pv_alive, .down = pv_down,
};

/* a site kind without a provider */
static const struct rain_target_driver noprov_target = {
	.version = RAIN_TARGET_DRIVER_VERSION, .scheme = "noprov", .usage = "noprov:",
	.publish = st_publish, .unpublish = st_unpublish,
};

static const struct rain_driver drivers[] = {
	{ .kind = "target", .scheme = "sshtest", .usage = "sshtest:", .table = &sshtest_target },
	{ .kind = "target", .scheme = "noprov", .usage = "noprov:", .table = &noprov_target },
	{ .kind = "provider", .scheme = "sshtest", .usage = "sshtest:", .table = &sshtest_provider },
};

/* ---- a run --------------------------------------------------------------- */

struct run {
	struct rain_site *site;
	json_t *state, *reg;
	char *pub, key[128];
	struct rain_run_op op;
	char out[4096];
	size_t outlen;
	int saves;
	volatile sig_atomic_t cancel;
};

static int on_save(void *ud, json_t *state)
{
	((struct run *)ud)->saves++;
	return 0;
}

static void on_output(void *ud, size_t instance, const char *line, size_t len)
{
	struct run *t = ud;

	t->outlen += (size_t)snprintf(t->out + t->outlen, sizeof(t->out) - t->outlen, "%zu:%.*s\n",
				      instance, (int)len, line);
}

static void run_init(struct run *t, int n)
{
	const char *settings[] = { "uri=sshtest:x", NULL };

	memset(t, 0, sizeof(*t));
	assert_int_equal(rain_site_new("s", settings, "test", &t->site), 0);
	assert_int_equal(rain_run_keygen(tmp, "r1", &t->pub), 0);
	assert_true(strncmp(t->pub, "ssh-ed25519 ", 12) == 0);
	assert_non_null(strstr(t->pub, "rain-run-r1"));
	snprintf(t->key, sizeof(t->key), "%s/key", tmp);
	t->state = json_object();
	t->reg = json_pack("{s:s}", "registration", "reg1");
	t->op = (struct rain_run_op){
		.site = t->site, .run_id = "r1", .workdir = tmp, .registration = t->reg, .n = n,
		.ready_timeout_s = 30, .key_private = t->key, .key_public = t->pub, .state = t->state,
		.save = on_save, .ud = t, .cancel = &t->cancel,
	};
	assert_int_equal(rain_run_up(&t->op), 0);
	assert_int_equal(rain_run_instance_count(&t->op), (size_t)n);
	assert_true(t->saves >= n);
	assert_string_equal(json_string_value(json_object_get(json_object_get(t->state, "registration"),
							      "registration")), "reg1");
	if (rain_run_ready(&t->op) != 0)
		fail_msg("%s", rain_error_last());
}

static void run_clear(struct run *t)
{
	pid_t pid = pid_of(&t->op, 0);
	char pat[128];
	glob_t g;

	assert_int_equal(rain_run_down(&t->op), 0);
	/* down ended the shared connections */
	snprintf(pat, sizeof(pat), "%s/cm-*", tmp);
	assert_int_equal(glob(pat, 0, NULL, &g), GLOB_NOMATCH);
	assert_int_equal(rain_run_instance_count(&t->op), 0);
	assert_true(kill(pid, 0) < 0);
	json_decref(t->state);
	json_decref(t->reg);
	free(t->pub);
	rain_site_free(t->site);
}

static int exec(struct run *t, const char *const *argv, bool each, int walltime, int *status)
{
	struct rain_run_job job = {
		.argv = argv, .each = each, .walltime_s = walltime, .output = on_output, .ud = t,
	};

	t->outlen = 0;
	t->out[0] = '\0';
	return rain_run_exec(&t->op, &job, status);
}

static void test_command_quoting(void **state)
{
	const char *argv[] = { "echo", "it's", "a b", "$HOME", NULL };
	char *cmd = run_ssh_command(argv, false, NULL);

	(void)state;
	assert_string_equal(cmd, "mkdir -p 'rain-job' && cd 'rain-job' && exec 'echo' 'it'\\''s' 'a b' '$HOME'");
	free(cmd);
	cmd = run_ssh_command(NULL, true, "/scratch/a'b");
	assert_string_equal(cmd, "mkdir -p '/scratch/a'\\''b' && cd '/scratch/a'\\''b' && exec './job'");
	free(cmd);
}

static void test_no_provider(void **state)
{
	const char *settings[] = { "uri=noprov:x", NULL };
	struct rain_site *site;
	struct rain_run_op op = { .n = 1 };

	(void)state;
	assert_int_equal(rain_site_new("nb", settings, "test", &site), 0);
	op.site = site;
	op.state = json_object();
	op.registration = op.state;
	assert_false(rain_run_site_supported(site));
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("site 'nb' is a noprov site, where rain cannot start instances");
	json_decref(op.state);
	rain_site_free(site);
}

static void test_job(void **state)
{
	const char *hello[] = { "sh", "-c", "echo out; pwd; echo err >&2", NULL };
	const char *fail[] = { "sh", "-c", "exit 3", NULL };
	const char *slow[] = { "sleep", "30", NULL };
	const char *make[] = { "sh", "-c", "echo result > r.txt", NULL };
	const char *paths[] = { "r.txt", NULL }, *missing[] = { "nope.txt", NULL };
	const char *bad[] = { "a/..", NULL };
	char dir[128], path[192], expect[256];
	struct run t;
	int status;

	(void)state;
	if (access(SSHD, X_OK) < 0)
		skip();
	run_init(&t, 1);
	/* output in order, the job's folder made and used */
	assert_int_equal(exec(&t, hello, false, 0, &status), 0);
	assert_int_equal(status, 0);
	/* the readiness test's login stays open for the job (one key exchange) */
	{
		glob_t g;
		char pat[128];

		snprintf(pat, sizeof(pat), "%s/cm-*", tmp);
		assert_int_equal(glob(pat, 0, NULL, &g), 0);
		assert_int_equal(g.gl_pathc, 1);
		globfree(&g);
	}
	/* stdout in order; stderr comes on its own channel */
	snprintf(expect, sizeof(expect), "0:out\n0:%s/rain-r1-1\n", tmp);
	assert_non_null(strstr(t.out, "0:err\n"));
	memmove(strstr(t.out, "0:err\n"), strstr(t.out, "0:err\n") + 6, strlen(strstr(t.out, "0:err\n") + 6) + 1);
	assert_string_equal(t.out, expect);
	/* the job's exit status */
	assert_int_equal(exec(&t, fail, false, 0, &status), 0);
	assert_int_equal(status, 3);
	/* the time limit */
	assert_int_equal(exec(&t, slow, false, 1, &status), RAIN_ETIMEDOUT);
	assert_int_equal(status, RAIN_RUN_EXIT_TIMEOUT);
	assert_error_contains("time limit (1 s)");
	/* result files */
	assert_int_equal(exec(&t, make, false, 0, &status), 0);
	snprintf(dir, sizeof(dir), "%s/out", tmp);
	assert_int_equal(rain_run_fetch(&t.op, paths, false, dir), 0);
	snprintf(path, sizeof(path), "%s/r.txt", dir);
	{
		FILE *f = fopen(path, "r");
		char line[64] = "";

		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_string_equal(line, "result\n");
	}
	assert_int_equal(rain_run_fetch(&t.op, missing, false, dir), RAIN_ENOTFOUND);
	assert_error_contains("nope.txt");
	assert_int_equal(rain_run_fetch(&t.op, bad, false, dir), RAIN_EINVAL);
	/* canceled: stops at once */
	t.cancel = 1;
	assert_int_equal(exec(&t, slow, false, 0, &status), RAIN_ECANCELED);
	t.cancel = 0;
	run_clear(&t);
}

static void test_each(void **state)
{
	const char *who[] = { "sh", "-c", "basename \"$PWD\"", NULL };
	const char *fail2[] = { "sh", "-c", "case $PWD in *-2) exit 7;; esac", NULL };
	char script[192];
	struct run t;
	FILE *f;
	int status;

	(void)state;
	if (access(SSHD, X_OK) < 0)
		skip();
	run_init(&t, 2);
	assert_int_equal(exec(&t, who, true, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_non_null(strstr(t.out, "0:rain-r1-1\n"));
	assert_non_null(strstr(t.out, "1:rain-r1-2\n"));
	/* each: the failing instance's status */
	assert_int_equal(exec(&t, fail2, true, 0, &status), 0);
	assert_int_equal(status, 7);
	/* a job script, copied in */
	snprintf(script, sizeof(script), "%s/job.sh", tmp);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\necho from script \"$(basename \"$0\")\"\nexit 4\n");
	fclose(f);
	{
		struct rain_run_job job = { .script = script, .output = on_output, .ud = &t };

		t.outlen = 0;
		assert_int_equal(rain_run_exec(&t.op, &job, &status), 0);
		assert_int_equal(status, 4);
		assert_string_equal(t.out, "0:from script job\n");
	}
	run_clear(&t);
}

static void test_ready_timeout(void **state)
{
	struct run t;

	(void)state;
	if (access(SSHD, X_OK) < 0)
		skip();
	memset(&t, 0, sizeof(t));
	{
		const char *settings[] = { "uri=sshtest:x", NULL };
		char console[192];
		FILE *f;

		assert_int_equal(rain_site_new("s", settings, "test", &t.site), 0);
		assert_int_equal(rain_run_keygen(tmp, "r2", &t.pub), 0);
		snprintf(t.key, sizeof(t.key), "%s/key", tmp);
		t.state = json_object();
		t.reg = json_object();
		t.op = (struct rain_run_op){
			.site = t.site, .run_id = "r2", .workdir = tmp, .registration = t.reg, .n = 1,
			.ready_timeout_s = 2, .key_private = t.key, .key_public = t.pub,
			.state = t.state, .ud = &t, .cancel = &t.cancel,
		};
		/* an instance whose ssh port has nothing behind it */
		snprintf(console, sizeof(console), "%s/console.log", tmp);
		f = fopen(console, "w");
		fprintf(f, "early line\nKernel panic - not syncing\n");
		fclose(f);
		assert_int_equal(rain_run_instance_add(&t.op, json_pack("{s:s, s:s, s:{s:s, s:i}}", "name",
									"dead-1", "console", console,
									"ssh", "host", "127.0.0.1", "port",
									free_port())), 0);
		if (rain_run_ready(&t.op) != RAIN_ETIMEDOUT)
			fail_msg("%s", rain_error_last());
		assert_error_contains("dead-1 did not answer ssh within 2 s");
		assert_error_contains("Kernel panic");
		/* a hostile address is refused, not handed to ssh as an option */
		json_object_set_new(json_object_get(rain_run_instance(&t.op, 0), "ssh"), "host",
				    json_string("-oProxyCommand=x"));
		assert_int_equal(rain_run_ready(&t.op), RAIN_EINVAL);
		assert_int_equal(rain_run_down(&t.op), 0);
	}
	json_decref(t.state);
	json_decref(t.reg);
	free(t.pub);
	rain_site_free(t.site);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/rain-test-provision-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	/* a failed test leaves no sshd behind */
	for (size_t i = 0; i < nstarted; i++)
		if (kill(started[i], SIGTERM) == 0)
			waitpid(started[i], NULL, 0);
	test_rmtree(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_quoting),
		cmocka_unit_test(test_no_provider),
		cmocka_unit_test(test_job),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_ready_timeout),
	};

	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (rain_driver_register(&drivers[i]) < 0)
			return 1;
	signal(SIGPIPE, SIG_IGN);
	/* sshd run by root wants its privilege separation folder */
	if (getuid() == 0)
		mkdir("/run/sshd", 0755);
	return cmocka_run_group_tests(tests, setup, teardown);
}
