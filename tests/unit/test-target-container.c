/* The container site driver (drivers/container.c): its settings and their
 * refusals; publish of a real ext4 image (made by mke2fs -d from a tree
 * with a link out of it, a setuid file, a fifo, a hard link, a mode-0 file
 * and links where ch-run mounts) into a real folder: regular files,
 * folders and links as links, no setuid bit, no fifo, the mount points
 * made real, nothing written outside the site's folder, the state naming
 * the tree before it existed; a second publish of the same id refused;
 * cancel leaving nothing; unpublish removing the tree; status. Running it
 * with ch-run is t0162's. */
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
#include "rain/target.h"
#include "testutil.h"
#include "util/fsutil.h"

static char tmp[] = "/tmp/rain-test-target-container-XXXXXX";
static char site_dir[4096], uri[4200], outside[4096];

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(site_dir, sizeof(site_dir), "%s/site", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	snprintf(uri, sizeof(uri), "uri=container:%s", site_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	return 0;
}

static int site(const char *const *extra, struct rain_site **out)
{
	const char *set[16] = { uri };
	size_t n = 1;

	for (size_t i = 0; extra && extra[i]; i++)
		set[n++] = extra[i];
	return rain_site_new("box", set, "test [site.box]", out);
}

static void refused(const char *const *extra, const char *why)
{
	struct rain_site *s = NULL;

	assert_int_equal(site(extra, &s), RAIN_EINVAL);
	assert_error_contains(why);
	assert_null(s);
}

static void test_settings(void **state)
{
	struct rain_site *s;

	(void)state;
	assert_int_equal(site((const char *[]){ "bind=/srv/data:/data /opt:/opt", "bind=/scratch:/scratch",
						NULL }, &s), 0);
	rain_site_free(s);

	refused((const char *[]){ "colour=blue", NULL }, "unknown setting 'colour'");
	refused((const char *[]){ "bind=/srv", NULL }, "'/srv' is not SRC:DST");
	refused((const char *[]){ "bind=srv:/data", NULL }, "is not SRC:DST");
	refused((const char *[]){ "bind=/srv:/data/../etc", NULL }, "is not SRC:DST");
	refused((const char *[]){ "bind=/srv:/", NULL }, "is not SRC:DST");
	refused((const char *[]){ "bind=/srv:/a:/b", NULL }, "is not SRC:DST");
	refused((const char *[]){ "bind=/srv:/rain/work", NULL }, "/rain is rain's own");
	refused((const char *[]){ "user=no-such-user-here", NULL }, "there is no user 'no-such-user-here'");
	refused((const char *[]){ "user=root", NULL }, "is root: containers run unprivileged");
	{
		const char *set[] = { "uri=container:relative/dir", NULL };

		assert_int_equal(rain_site_new("box", set, "t", &s), RAIN_EINVAL);
		assert_error_contains("needs an absolute folder");
		set[0] = "uri=container:/";
		assert_int_equal(rain_site_new("box", set, "t", &s), RAIN_EINVAL);
		set[0] = "uri=container:/srv/../etc";
		assert_int_equal(rain_site_new("box", set, "t", &s), RAIN_EINVAL);
	}
}

/* Every state saved: what exists on disk of a registration is named in
 * it first; ud (may be NULL) is set once the staging folder is named, to
 * cancel the publish from there. */
static int save(void *ud, json_t *st)
{
	const char *reg = json_string_value(json_object_get(st, "registration"));
	char path[4400];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", site_dir, reg);
	if (lstat(path, &sb) == 0)
		assert_non_null(json_object_get(st, "dir"));
	snprintf(path, sizeof(path), "%s/.%s.publish", site_dir, reg);
	if (lstat(path, &sb) == 0)
		assert_non_null(json_object_get(st, "staging"));
	if (ud && json_object_get(st, "staging"))
		*(volatile sig_atomic_t *)ud = 1;
	return 0;
}

static char warned[4096];

static void on_log(void *ud, enum rain_target_level level, const char *msg)
{
	(void)ud;
	if (level == RAIN_TARGET_WARN && strlen(warned) + strlen(msg) + 2 < sizeof(warned)) {
		strcat(warned, msg);
		strcat(warned, "\n");
	}
}

/* An ext4 image of a tree that tries what it can. */
static void make_image(const char *img)
{
	char cmd[32768];

	snprintf(cmd, sizeof(cmd),
		 "set -e; T='%s/tree'; rm -rf \"$T\"; mkdir -p \"$T/etc\" \"$T/usr/lib\" \"$T/bin\" \"$T/data\"; "
		 "printf 'ID=testos\\n' >\"$T/usr/lib/os-release\"; ln -s ../usr/lib/os-release \"$T/etc/os-release\"; "
		 "printf 'x' >\"$T/bin/tool\"; chmod 4755 \"$T/bin/tool\"; ln \"$T/bin/tool\" \"$T/bin/tool2\"; "
		 "printf 'secret' >\"$T/etc/zero\"; chmod 0 \"$T/etc/zero\"; mkfifo \"$T/fifo\"; "
		 "ln -s '%s' \"$T/escape\"; ln -s / \"$T/tmp\"; ln -s '%s/passwd' \"$T/etc/passwd\"; "
		 "printf 'file' >\"$T/rain\"; ln -s '%s' \"$T/data/out\"; "
		 "truncate -s 8M '%s'; mke2fs -q -F -t ext4 -d \"$T\" '%s' >/dev/null",
		 tmp, outside, outside, outside, img, img);
	assert_int_equal(system(cmd), 0);
}

static void test_publish(void **state)
{
	char img_path[4200], path[4400], link[256];
	struct rain_target_image img = { .id = "img", .name = "testimg", .path = img_path, .disk_format = "raw" };
	struct rain_target_artifacts a = { 0 };
	json_t *st = json_pack("{s:s}", "registration", "reg-1"), *status = NULL;
	struct rain_target_op op = { .reg_id = "reg-1", .workdir = tmp, .state = st, .save = save, .log = on_log };
	struct rain_site *s;
	struct stat sb;
	ssize_t n;

	(void)state;
	snprintf(img_path, sizeof(img_path), "%s/img.raw", tmp);
	make_image(img_path);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(site((const char *[]){ "bind=/srv:/data/out", NULL }, &s), 0);
	op.site = s;
	assert_int_equal(rain_target_adapt(&op, &img, &a), 0);
	assert_int_equal(rain_target_publish(&op, &img, &a), 0);
	snprintf(path, sizeof(path), "%s/reg-1", site_dir);
	assert_string_equal(json_string_value(json_object_get(st, "dir")), path);
	assert_null(json_object_get(st, "staging"));
	/* the links the image had where ch-run mounts, and (as root, whose
	 * default user is nobody) the test's 0700 folder on the way */
	assert_non_null(strstr(warned, "the image's /tmp is no folder"));
	assert_non_null(strstr(warned, "the image's /etc/passwd is no file"));
	if (geteuid() == 0)
		assert_non_null(strstr(warned, "the site's user nobody cannot reach"));

	/* the content, links as links, no setuid, no fifo, modes kept */
	snprintf(path, sizeof(path), "%s/reg-1/usr/lib/os-release", site_dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/reg-1/etc/os-release", site_dir);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "../usr/lib/os-release");
	snprintf(path, sizeof(path), "%s/reg-1/escape", site_dir);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	snprintf(path, sizeof(path), "%s/reg-1/bin/tool", site_dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/reg-1/bin/tool2", site_dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/reg-1/etc/zero", site_dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0);
	if (geteuid() == 0)
		assert_int_equal(sb.st_uid, 65534);     /* nobody, the default user as root */
	snprintf(path, sizeof(path), "%s/reg-1/fifo", site_dir);
	assert_int_equal(lstat(path, &sb), -1);

	/* what ch-run mounts over is real, whatever the image had there */
	for (const char *const *m = (const char *const[]){ "tmp", "rain", "rain/work", "dev", "proc", "sys",
							    "data/out", NULL }; *m; m++) {
		snprintf(path, sizeof(path), "%s/reg-1/%s", site_dir, *m);
		assert_int_equal(lstat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
	}
	snprintf(path, sizeof(path), "%s/reg-1/etc/passwd", site_dir);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));

	/* nothing outside: the links were never followed */
	snprintf(path, sizeof(path), "%s/passwd", outside);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s", outside);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(mkdir(outside, 0755), 0);

	assert_int_equal(rain_target_status(&op, &status), 0);
	assert_true(json_is_true(json_object_get(status, "present")));
	json_decref(status);

	/* the same registration twice */
	assert_int_equal(rain_target_publish(&op, &img, &a), RAIN_EEXISTS);

	assert_int_equal(rain_target_unpublish(&op), 0);
	assert_null(json_object_get(st, "dir"));
	snprintf(path, sizeof(path), "%s/reg-1", site_dir);
	assert_int_equal(lstat(path, &sb), -1);
	assert_int_equal(rain_target_status(&op, &status), 0);
	assert_true(json_is_false(json_object_get(status, "present")));
	json_decref(status);
	/* again: nothing left is fine */
	assert_int_equal(rain_target_unpublish(&op), 0);

	/* a state naming another folder is left alone */
	json_object_set_new(st, "dir", json_string("/etc"));
	assert_int_equal(rain_target_unpublish(&op), RAIN_EINVAL);
	assert_error_contains("left alone");
	json_object_del(st, "dir");

	/* canceled once the walk began: nothing is left, not even the
	 * staging folder */
	{
		volatile sig_atomic_t cancel = 0;
		json_t *st2 = json_pack("{s:s}", "registration", "reg-2");
		struct rain_target_op op2 = { .site = s, .reg_id = "reg-2", .workdir = tmp, .state = st2,
					      .save = save, .ud = (void *)&cancel, .cancel = &cancel };

		assert_int_equal(rain_target_publish(&op2, &img, &a), RAIN_ECANCELED);
		snprintf(path, sizeof(path), "%s/reg-2", site_dir);
		assert_int_equal(lstat(path, &sb), -1);
		snprintf(path, sizeof(path), "%s/.reg-2.publish", site_dir);
		assert_int_equal(lstat(path, &sb), -1);
		op2.cancel = NULL;
		assert_int_equal(rain_target_unpublish(&op2), 0);
		assert_null(json_object_get(st2, "staging"));
		json_decref(st2);
	}
	/* a registration id that is no folder name */
	op.reg_id = "../x";
	assert_int_equal(rain_target_publish(&op, &img, &a), RAIN_EINVAL);

	rain_target_artifacts_clear(&a);
	json_decref(st);
	rain_site_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_publish),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
