/* A build on a repository image (base = image:REF) inspects the stored
 * data before any tool reads it: data made by the real qemu-img that names
 * a backing file is refused before any reader sees it. A crafted base (an
 * ext4 made by mke2fs -d) clones as data: its link to the host's
 * /etc/shadow is a link, its device node is not made, its capability and
 * ACL are kept, and nothing is mounted while it is read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>
#include "lib/build/build-internal.h"
#include "lib/build/sandbox.h"
#include "rain/build.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "testutil.h"
#include "util/fsutil.h"
#include "util/process.h"

struct fixture {
	char dir[64];
	char log[8192];          /* the build's log lines */
	struct rain_recipe r;
	struct rain_build_base_image bi;
	struct rain_build_options o;
	struct build_ctx b;
};

static void on_log(void *ud, const char *line)
{
	struct fixture *f = ud;

	strncat(f->log, line, sizeof(f->log) - strlen(f->log) - 2);
	strcat(f->log, "\n");
}

/* qemu-img create -f qcow2 [more...] path 64M; 0 when it worked. */
static int qemu_img_create(const char *path, const char *backing)
{
	const char *plain[] = { "qemu-img", "create", "-q", "-f", "qcow2", path, "64M", NULL };
	const char *with_backing[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", backing,
				       path, "64M", NULL };
	struct process_opts po = { .argv = backing ? with_backing : plain, .stdin_fd = -1 };
	int status;

	return process_run(&po, &status) < 0 || status ? -1 : 0;
}

static char *path_in(struct fixture *f, const char *name)
{
	char *p = fs_path_join(f->dir, name);

	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *tmp;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-test-clone-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	tmp = fs_path_join(f->dir, "tmp");
	if (!tmp || mkdir(tmp, 0700) < 0)
		return -1;
	free(tmp);
	f->r.file = "clone.recipe";
	f->bi.id = "11111111-2222-3333-4444-555555555555";
	f->o.base_image = &f->bi;
	f->o.cache_dir = f->dir;
	f->o.log = on_log;
	f->o.ud = f;
	f->b.r = &f->r;
	f->b.o = &f->o;
	f->b.scratch = f->dir;
	f->b.lockfd = f->b.idsfd = -1;
	/* a cgroup of the test's own, with a build's default limits */
	snprintf(f->b.cg_name, sizeof(f->b.cg_name), "%s", strrchr(f->dir, '/') + 1);
	build_limits_resolve(&f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	build_cgroup_remove(&f->b);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_backing_file_refused(void **state)
{
	struct fixture *f = *state;
	char *data = path_in(f, "data"), *root = path_in(f, "root"), *raw = path_in(f, "tmp/clone.raw");
	const char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };

	if (qemu_img_create(data, "/etc/passwd") < 0)
		skip();
	assert_int_equal(build_clone_base(&f->b, data, "qcow2", root, env), RAIN_EFORMAT);
	assert_error_contains("clone.recipe: [image] base: the data of image 11111111-2222-3333-4444-555555555555 "
			      "(disk_format qcow2) is refused before any tool reads it");
	assert_error_contains("backing file \"/etc/passwd\"");
	assert_error_contains("upload a self-contained copy of it");
	/* nothing read it: no tool ran (an older clone converted it with
	 * qemu-img into clone.raw) and no tree was made */
	assert_null(strstr(f->log, "qemu-img"));
	assert_null(strstr(f->log, "cloning the base image"));
	assert_int_equal(access(raw, F_OK), -1);
	assert_int_equal(access(root, F_OK), -1);
	/* declared raw, the same data is refused as a qcow2 in disguise */
	assert_int_equal(build_clone_base(&f->b, data, "raw", root, env), RAIN_EFORMAT);
	assert_error_contains("disk_format is raw, but the data is a qcow2 image");
	assert_int_equal(access(raw, F_OK), -1);
	free(data);
	free(root);
	free(raw);
}

static void test_self_contained_accepted(void **state)
{
	struct fixture *f = *state;
	char *data = path_in(f, "plain.qcow2"), *rawdata = path_in(f, "plain.raw");
	static const char zeros[4096];

	if (qemu_img_create(data, NULL) < 0)
		skip();
	assert_int_equal(build_clone_inspect(&f->b, data, "qcow2"), 0);
	assert_int_equal(fs_write_atomic(rawdata, zeros, sizeof(zeros), 0600), 0);
	assert_int_equal(build_clone_inspect(&f->b, rawdata, "raw"), 0);
	/* a qcow2 without a backing file still is not raw data */
	assert_int_equal(build_clone_inspect(&f->b, data, "raw"), RAIN_EFORMAT);
	free(data);
	free(rawdata);
}

static int run(const char *const *argv)
{
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .timeout_s = 120 };
	int status;

	return process_run(&po, &status) < 0 ? -1 : status;
}

static void put(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Whether any process's mountinfo names dir (a mount of something in the
 * test's directory: the old clone mounted the base at tmp/clone.mnt). */
static bool mounted_under(const char *dir)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[300], line[4096];
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/mountinfo", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, dir) != NULL;
		fclose(f);
	}
	closedir(d);
	return found;
}

/* A process that scans every process's mountinfo until dir/stop exists
 * (or the test is gone); its exit status: 1 when it saw a mount under
 * dir. It writes a byte to *ready when its first scan is done. */
static pid_t watch_mounts(const char *dir, int *ready)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char stop[300];
		bool seen = false;

		close(p[0]);
		snprintf(stop, sizeof(stop), "%s/stop", dir);
		for (unsigned long scans = 0; access(stop, F_OK) < 0 && getppid() != 1; scans++) {
			seen |= mounted_under(dir);
			if (scans == 0 && write(p[1], "x", 1) != 1)
				_exit(2);
			usleep(2000);
		}
		_exit(seen ? 1 : 0);
	}
	close(p[1]);
	*ready = p[0];
	return pid;
}

struct cap_v3 {
	uint32_t magic_etc;
	struct {
		uint32_t permitted, inheritable;
	} data[2];
	uint32_t rootid;
};

static void test_crafted_base(void **state)
{
	struct fixture *f = *state;
	char *src = path_in(f, "src"), *img = path_in(f, "base.ext4"), *base = path_in(f, "base");
	char *root = path_in(f, "base/root");
	const char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	/* cap_net_raw permitted and effective, as setcap writes it (v2) */
	const uint32_t cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };
	/* user::rw- user:1000:r-- group::r-- mask::r-- other::--- */
	const unsigned char acl[] = { 2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 4, 0, 0xe8, 3, 0, 0,
				      4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
				      0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	const char *mkfs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img, "32M", NULL };
	char path[512], buf[256];
	struct cap_v3 got;
	struct stat st, st2;
	ssize_t n;
	int ready, status;
	pid_t watcher;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/usr", src);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/usr/bin", src);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/usr/bin/ping", src);
	put(path, "#!/bin/sh\n", 0755);
	assert_int_equal(setxattr(path, "security.capability", cap, sizeof(cap), 0), 0);
	assert_int_equal(setxattr(path, "trusted.overlay.x", "y", 1, 0), 0);
	snprintf(path, sizeof(path), "%s/secret", src);
	put(path, "acl\n", 0640);
	assert_int_equal(chown(path, 1000, 1000), 0);
	assert_int_equal(setxattr(path, "system.posix_acl_access", acl, sizeof(acl), 0), 0);
	assert_int_equal(setxattr(path, "user.origin", "crafted", 7, 0), 0);
	snprintf(path, sizeof(path), "%s/suid", src);
	put(path, "x\n", 04755);
	snprintf(buf, sizeof(buf), "%s/hard", src);
	assert_int_equal(link(path, buf), 0);
	snprintf(path, sizeof(path), "%s/shadow", src);
	assert_int_equal(symlink("/etc/shadow", path), 0);
	snprintf(path, sizeof(path), "%s/up", src);
	assert_int_equal(symlink("../../../../../../etc", path), 0);
	snprintf(path, sizeof(path), "%s/sda", src);
	assert_int_equal(mknod(path, S_IFBLK | 0666, makedev(8, 0)), 0);
	snprintf(path, sizeof(path), "%s/fifo", src);
	assert_int_equal(mkfifo(path, 0620), 0);
	assert_int_equal(chmod(path, 0620), 0);
	snprintf(path, sizeof(path), "%s/sparse", src);
	assert_int_equal(fs_write_atomic(path, "", 0, 0644), 0);
	assert_int_equal(truncate(path, 64 << 20), 0);
	if (run(mkfs) != 0)
		skip();

	/* as build.c does: the sandbox's root owns the tree's parent */
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(mkdir(base, 0700), 0);
	assert_int_equal(sandbox_chown(base, SANDBOX_HOST_ID), 0);
	watcher = watch_mounts(f->dir, &ready);
	assert_int_equal(read(ready, buf, 1), 1);
	assert_int_equal(build_clone_base(&f->b, img, "raw", root, env), 0);
	snprintf(path, sizeof(path), "%s/stop", f->dir);
	put(path, "", 0600);
	assert_int_equal(waitpid(watcher, &status, 0), watcher);
	close(ready);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);       /* no mount of the base, ever */
	unlink(path);
	assert_null(strstr(f->log, "+ mount"));

	/* the links are links, never followed */
	snprintf(path, sizeof(path), "%s/shadow", root);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "/etc/shadow", 11);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, SANDBOX_HOST_ID);
	snprintf(path, sizeof(path), "%s/up", root);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* no device: the sandbox cannot make one, and the log says so */
	snprintf(path, sizeof(path), "%s/sda", root);
	assert_int_equal(lstat(path, &st), -1);
	assert_non_null(strstr(f->log, "skipped 1 device nodes"));
	snprintf(path, sizeof(path), "%s/fifo", root);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	/* the capability kept (the kernel stores it for the sandbox's root) */
	snprintf(path, sizeof(path), "%s/usr/bin/ping", root);
	memset(&got, 0, sizeof(got));
	n = getxattr(path, "security.capability", &got, sizeof(got));
	assert_true(n == 20 || n == 24);
	assert_int_equal(got.magic_etc & 1, 1);
	assert_int_equal(got.data[0].permitted, 1u << 13);
	if (n == 24)
		assert_int_equal(got.rootid, SANDBOX_HOST_ID);
	assert_int_equal(getxattr(path, "trusted.overlay.x", buf, sizeof(buf)), -1);
	assert_non_null(strstr(f->log, "trusted.overlay.x x1"));
	/* the ACL and user.*: ids in the ACL are the sandbox's */
	snprintf(path, sizeof(path), "%s/secret", root);
	n = getxattr(path, "system.posix_acl_access", buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)sizeof(acl));
	{
		uint32_t id;

		memcpy(&id, buf + 4 + 8 + 4, 4);
		assert_int_equal(id, SANDBOX_HOST_ID + 1000);
	}
	assert_int_equal(getxattr(path, "user.origin", buf, sizeof(buf)), 7);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, SANDBOX_HOST_ID + 1000);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* setuid kept, hard links one file, holes kept */
	snprintf(path, sizeof(path), "%s/suid", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	snprintf(path, sizeof(path), "%s/hard", root);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	snprintf(path, sizeof(path), "%s/sparse", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(st.st_blocks < 1024);
	/* the host's file is untouched and unread into the tree */
	assert_int_equal(lstat("/etc/shadow", &st), 0);
	free(src);
	free(img);
	free(base);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backing_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_contained_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crafted_base, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
