/* A build on a repository image (base = image:REF) inspects the stored
 * data before any tool reads it: data made by the real qemu-img that names
 * a backing file is refused before qemu-img convert runs on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "lib/build/build-internal.h"
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
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

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
	/* qemu-img never ran: it would have logged its step and written
	 * clone.raw */
	assert_null(strstr(f->log, "qemu-img"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backing_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_contained_accepted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
