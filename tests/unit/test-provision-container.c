/* The container provider (providers/container.c) through rain/provision.h
 * with the real ch-run: a tree published by the container site from a real
 * ext4 image holding this host's static busybox; up naming each
 * instance's folder before making it; a job's output lines, its exit
 * status, --each on two instances in parallel, a script, walltime (124,
 * RAIN_ETIMEDOUT, nothing left), cancel (RAIN_ECANCELED, nothing left), a
 * background process the job left ended; fetch of result files and its
 * refusals (a link to a host file, a path outside the job's folder); down
 * removing every folder and process; the registration's state naming a
 * tree elsewhere refused. Skipped where ch-run or busybox is missing. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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
#include "rain/provision.h"
#include "rain/target.h"
#include "testutil.h"
#include "util/fsutil.h"

static char tmp[] = "/tmp/rain-test-provision-container-XXXXXX";
static char site_dir[4096], uri[4200];
static struct rain_site *site;
static json_t *reg;
static bool usable;

#define MAX_LINES 64

struct out {
	char lines[MAX_LINES][256];
	size_t inst[MAX_LINES];
	size_t n;
	volatile sig_atomic_t *cancel_on;       /* set on the first line */
};

static void on_output(void *ud, size_t instance, const char *line, size_t len)
{
	struct out *o = ud;

	if (o->cancel_on)
		*o->cancel_on = 1;
	if (o->n == MAX_LINES)
		return;
	snprintf(o->lines[o->n], sizeof(o->lines[0]), "%.*s", (int)len, line);
	o->inst[o->n++] = instance;
}

static bool have(const struct out *o, size_t inst, const char *line)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->inst[i] == inst && !strcmp(o->lines[i], line))
			return true;
	return false;
}

static int save(void *ud, json_t *st)
{
	/* what exists is named: every instance folder on disk is in the state */
	json_t *list = json_object_get(st, "instances"), *v;
	DIR *d = opendir(site_dir);
	struct dirent *de;

	(void)ud;
	while (d && (de = readdir(d))) {
		bool named = false;
		size_t i;

		if (strncmp(de->d_name, ".rain-", 6))
			continue;
		json_array_foreach(list, i, v)
			if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", de->d_name + 1))
				named = true;
		assert_true(named);
	}
	if (d)
		closedir(d);
	return 0;
}

static int setup(void **state)
{
	char cmd[16384], img[4200];
	struct rain_target_image image = { .id = "img", .name = "busybox", .path = img, .disk_format = "raw" };
	struct rain_target_artifacts a = { 0 };
	struct rain_target_op op = { .reg_id = "reg-1", .workdir = tmp };
	const char *set[2] = { uri, NULL };

	(void)state;
	assert_non_null(mkdtemp(tmp));
	assert_int_equal(chmod(tmp, 0755), 0);  /* the site's user walks to its folder */
	snprintf(site_dir, sizeof(site_dir), "%s/site", tmp);
	snprintf(uri, sizeof(uri), "uri=container:%s", site_dir);
	snprintf(img, sizeof(img), "%s/img.raw", tmp);
	usable = access("/usr/bin/ch-run", X_OK) == 0 && access("/usr/bin/busybox", X_OK) == 0;
	if (!usable)
		return 0;
	setenv("USER", "root", 0);
	snprintf(cmd, sizeof(cmd),
		 "set -e; T='%s/tree'; mkdir -p \"$T/bin\" \"$T/etc\" \"$T/usr/lib\"; cp /usr/bin/busybox \"$T/bin/\"; "
		 "for c in sh echo cat sleep ln id; do ln -s busybox \"$T/bin/$c\"; done; "
		 "printf 'ID=unit\\n' >\"$T/usr/lib/os-release\"; ln -s ../usr/lib/os-release \"$T/etc/os-release\"; "
		 "truncate -s 16M '%s'; mke2fs -q -F -t ext4 -d \"$T\" '%s' >/dev/null", tmp, img, img);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rain_site_new("box", set, "test [site.box]", &site), 0);
	reg = json_pack("{s:s}", "registration", "reg-1");
	op.site = site;
	op.state = reg;
	assert_int_equal(rain_target_adapt(&op, &image, &a), 0);
	assert_int_equal(rain_target_publish(&op, &image, &a), 0);
	rain_target_artifacts_clear(&a);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (usable) {
		struct rain_target_op op = { .site = site, .reg_id = "reg-1", .state = reg };

		assert_int_equal(rain_target_unpublish(&op), 0);
	}
	json_decref(reg);
	rain_site_free(site);
	test_rmtree(tmp);
	return 0;
}

/* No process carries the run's marker. */
static void assert_no_process(const char *run_id)
{
	char entry[128], path[512];
	DIR *d = opendir("/proc");
	struct dirent *de;

	snprintf(entry, sizeof(entry), "RAIN_INSTANCE=rain-%s-", run_id);
	while ((de = readdir(d))) {
		char *env = NULL;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		if (fs_read_small(path, 1 << 20, &env, &len) < 0)
			continue;
		for (size_t off = 0; off < len; off += strlen(env + off) + 1)
			if (!strncmp(env + off, entry, strlen(entry)))
				fail_msg("process %s of run %s is left", de->d_name, run_id);
		free(env);
	}
	closedir(d);
}

/* Nothing of the run is left: no process, no instance folder. */
static void assert_nothing_left(const char *run_id)
{
	DIR *d;
	struct dirent *de;

	assert_no_process(run_id);
	d = opendir(site_dir);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".rain-", 6))
			fail_msg("%s is left", de->d_name);
	closedir(d);
}

static void run_new(struct rain_run_op *op, const char *id, int n, json_t *st, volatile sig_atomic_t *cancel)
{
	*op = (struct rain_run_op){ .site = site, .run_id = id, .workdir = tmp, .registration = reg, .n = n,
				    .state = st, .save = save, .cancel = cancel };
	assert_int_equal(rain_run_up(op), 0);
	assert_int_equal(rain_run_ready(op), 0);
}

static void test_jobs(void **state)
{
	json_t *st = json_object();
	struct rain_run_op op;
	struct out o = { .n = 0 };
	struct rain_run_job job = { .output = on_output, .ud = &o };
	char path[4400], script[4200];
	struct stat sb;
	int status = -1;

	(void)state;
	if (!usable)
		skip();
	run_new(&op, "r1", 2, st, NULL);
	assert_int_equal(rain_run_instance_count(&op), 2);
	snprintf(path, sizeof(path), "%s/.rain-r1-2", site_dir);
	assert_string_equal(json_string_value(json_object_get(rain_run_instance(&op, 1), "dir")), path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	/* the image's file, the job's folder, an exit status */
	job.argv = (const char *const[]){ "sh", "-c", "cat /etc/os-release; echo cwd=$(pwd) home=$HOME; "
					  "echo err >&2; exit 3", NULL };
	assert_int_equal(rain_run_exec(&op, &job, &status), 0);
	for (size_t i = 0; i < o.n && status != 3; i++)
		print_message("%zu: %s\n", o.inst[i], o.lines[i]);
	assert_int_equal(status, 3);
	assert_true(have(&o, 0, "ID=unit"));
	assert_true(have(&o, 0, "cwd=/rain/work home=/rain/work"));
	assert_true(have(&o, 0, "err"));

	/* on each, in parallel (both sleep 1 s), with result files */
	o.n = 0;
	job.each = true;
	job.argv = (const char *const[]){ "sh", "-c", "sleep 1; echo i=$RAIN_INSTANCE; echo $RAIN_INSTANCE >res.txt; "
					  "ln -s /etc/shadow leak; ln -s /etc/hostname /tmp/x", NULL };
	assert_int_equal(rain_run_exec(&op, &job, &status), 0);
	assert_int_equal(status, 0);
	assert_true(have(&o, 0, "i=rain-r1-1"));
	assert_true(have(&o, 1, "i=rain-r1-2"));
	snprintf(path, sizeof(path), "%s/out", tmp);
	assert_int_equal(rain_run_fetch(&op, (const char *const[]){ "res.txt", NULL }, true, path), 0);
	snprintf(path, sizeof(path), "%s/out/rain-r1-2/res.txt", tmp);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/out1", tmp);
	assert_int_equal(rain_run_fetch(&op, (const char *const[]){ "/rain/work/res.txt", NULL }, false, path), 0);
	/* a link the job made, a path outside its folder */
	assert_int_not_equal(rain_run_fetch(&op, (const char *const[]){ "leak", NULL }, false, path), 0);
	assert_int_equal(rain_run_fetch(&op, (const char *const[]){ "/etc/os-release", NULL }, false, path),
			 RAIN_EINVAL);
	snprintf(path, sizeof(path), "%s/out1/leak", tmp);
	assert_int_equal(access(path, F_OK), -1);

	/* a script, and a background process it leaves is ended */
	snprintf(script, sizeof(script), "%s/job.sh", tmp);
	assert_int_equal(fs_write_atomic(script, "echo from-script\nsleep 300 >/dev/null 2>&1 &\n", 45, 0600), 0);
	o.n = 0;
	job.each = false;
	job.argv = NULL;
	job.script = script;
	assert_int_equal(rain_run_exec(&op, &job, &status), 0);
	assert_int_equal(status, 0);
	assert_true(have(&o, 0, "from-script"));
	assert_no_process("r1");
	job.script = NULL;

	/* walltime */
	job.argv = (const char *const[]){ "sleep", "300", NULL };
	job.walltime_s = 1;
	job.each = true;
	assert_int_equal(rain_run_exec(&op, &job, &status), RAIN_ETIMEDOUT);
	assert_int_equal(status, RAIN_RUN_EXIT_TIMEOUT);
	job.walltime_s = 0;

	/* status: an instance is alive while its folder is there */
	{
		json_t *s = NULL;

		snprintf(path, sizeof(path), "%s/.rain-r1-2", site_dir);
		assert_int_equal(fs_remove_tree(path), 0);
		assert_int_equal(rain_run_status(&op, &s), 0);
		assert_true(json_is_true(json_object_get(json_array_get(json_object_get(s, "instances"), 0),
							 "alive")));
		assert_true(json_is_false(json_object_get(json_array_get(json_object_get(s, "instances"), 1),
							  "alive")));
		json_decref(s);
	}

	assert_int_equal(rain_run_down(&op), 0);
	assert_int_equal(rain_run_instance_count(&op), 0);
	assert_nothing_left("r1");
	json_decref(st);
}

static void test_cancel(void **state)
{
	json_t *st = json_object();
	volatile sig_atomic_t cancel = 0;
	struct rain_run_op op;
	struct out o = { .cancel_on = &cancel };
	struct rain_run_job job = { .output = on_output, .ud = &o, .each = true };
	int status = -1;

	(void)state;
	if (!usable)
		skip();
	run_new(&op, "r2", 2, st, &cancel);
	job.argv = (const char *const[]){ "sh", "-c", "echo started; sleep 300", NULL };
	assert_int_equal(rain_run_exec(&op, &job, &status), RAIN_ECANCELED);
	assert_int_equal(status, RAIN_RUN_EXIT_INTERRUPTED);
	cancel = 0;
	assert_int_equal(rain_run_down(&op), 0);
	assert_nothing_left("r2");

	/* a state naming another folder is left alone */
	run_new(&op, "r3", 1, st, NULL);
	json_object_set_new(rain_run_instance(&op, 0), "dir", json_string("/etc"));
	assert_int_equal(rain_run_down(&op), RAIN_EINVAL);
	json_object_del(rain_run_instance(&op, 0), "dir");
	assert_int_equal(rain_run_down(&op), 0);
	assert_nothing_left("r3");
	json_decref(st);
}

static void test_bad_registration(void **state)
{
	json_t *st = json_object();
	json_t *other = json_pack("{s:s, s:s}", "registration", "reg-1", "dir", "/etc");
	struct rain_run_op op = { .site = site, .run_id = "r4", .workdir = tmp, .registration = other, .n = 1,
				  .state = st };

	(void)state;
	if (!usable)
		skip();
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("/etc");
	assert_int_equal(rain_run_instance_count(&op), 0);

	/* a tree the site's user (nobody, as root) cannot walk to */
	if (geteuid() == 0) {
		op.registration = reg;
		assert_int_equal(chmod(tmp, 0700), 0);
		assert_int_equal(rain_run_up(&op), RAIN_EFORBIDDEN);
		assert_error_contains("cannot reach");
		assert_int_equal(chmod(tmp, 0755), 0);
		assert_int_equal(rain_run_instance_count(&op), 0);
	}
	/* a bind whose source is missing */
	{
		char bind[4200];
		const char *set[] = { uri, bind, NULL };
		struct rain_site *s2;

		snprintf(bind, sizeof(bind), "bind=%s/missing:/data", tmp);
		assert_int_equal(rain_site_new("box", set, "test", &s2), 0);
		op.site = s2;
		op.registration = reg;
		assert_int_equal(rain_run_up(&op), RAIN_ENOTFOUND);
		assert_error_contains("bind");
		assert_int_equal(rain_run_instance_count(&op), 0);
		rain_site_free(s2);
	}
	json_decref(other);
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bad_registration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
