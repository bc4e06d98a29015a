/* The slurm site driver (drivers/slurm.c): its settings and their
 * refusals; the feature a registration makes; publish into a real folder
 * and a real helpers.conf (the boot files, cmdline, the Feature= line
 * added to the site's own lines, the reload program run, each named in
 * the state first); a second registration; unpublish removing its own
 * line and folder only, twice; status. With a real Slurm: t0164. */
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

#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "rain/target.h"
#include "testutil.h"
#include "util/fsutil.h"

static char tmp[] = "/tmp/rain-test-target-slurm-XXXXXX";
static char pub[4096], pubset[4200], conf[4096], confset[4200], reloadset[4300], marker[4096];

static const char base_conf[] = "# the site's own\nFeature=img_base Helper=/usr/local/sbin/img-helper\n";

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(pub, sizeof(pub), "%s/boot", tmp);
	snprintf(pubset, sizeof(pubset), "publish_dir=%s", pub);
	snprintf(conf, sizeof(conf), "%s/helpers.conf", tmp);
	snprintf(confset, sizeof(confset), "helpers_conf=%s", conf);
	snprintf(marker, sizeof(marker), "%s/reloaded", tmp);
	/* the reload program: an argument vector, the marker its argument */
	snprintf(reloadset, sizeof(reloadset), "reload=touch %s", marker);
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
	const char *set[24] = { "uri=slurm:hpc", pubset, "publish_url=http://10.0.2.2:8080/boot/",
				"helper=/usr/local/sbin/img-helper", confset, reloadset, "feature_wait=0" };
	size_t n = 7;

	/* a setting given replaces the default of the same key */
	for (size_t i = 0; extra && extra[i]; i++) {
		size_t k = 0, kl = strcspn(extra[i], "=") + 1;

		while (k < n && strncmp(set[k], extra[i], kl))
			k++;
		set[k] = extra[i];
		n += k == n;
	}
	return rain_site_new("hpc", set, "test [site.hpc]", out);
}

static void test_settings(void **state)
{
	static const struct {
		const char *set, *err;
	} bad[] = {
		{ "colour=blue", "unknown setting 'colour' for a slurm site" },
		{ "uri=slurm:", "slurm:CLUSTER names the cluster" },
		{ "uri=slurm:a b", "slurm:CLUSTER names the cluster" },
		{ "helper=relative/helper", "helper: the Helper program" },
		{ "helper=/a helper", "helper: the Helper program" },
		{ "helpers_conf=/etc/../x y", "helpers_conf: an absolute path" },
		{ "slurm_conf=slurm.conf", "slurm_conf: an absolute path" },
		{ "feature_prefix=1img", "feature_prefix: a Slurm feature's start" },
		{ "feature_prefix=img-", "feature_prefix: a Slurm feature's start" },
		{ "feature_prefix=img|x", "feature_prefix: a Slurm feature's start" },
		{ "feature_wait=soon", "feature_wait = 'soon' is not a number of seconds" },
		{ "partition=-p", "partition: a Slurm name" },
		{ "partition=a;b", "partition: a Slurm name" },
		{ "account=$(id)", "account: a Slurm name" },
		{ "compressor=rar", "compressor: 'rar'" },
		{ "node_exec=ssh node", "node_exec: a program (absolute path)" },
		{ "publish_dir=boot", "publish_dir must be an absolute path" },
		{ "publish_url=ftp://x", "publish_url must be an http://" },
	};
	struct rain_site *s;
	char *feature;

	(void)state;
	assert_int_equal(site((const char *[]){ "partition=batch", "feature_prefix=rain_", "account=lab-1",
						"slurm_conf=/etc/slurm/slurm.conf", "kernel_args=quiet",
						"modules=e1000e", "compressor=xz", "node_exec=/usr/local/bin/in-vm --quiet",
						NULL }, &s), 0);
	assert_int_equal(target_slurm_feature(s, "0b5e-77", &feature), 0);
	assert_string_equal(feature, "rain_0b5e_77");
	free(feature);
	assert_int_equal(target_slurm_feature(s, "a/b", &feature), RAIN_EINVAL);
	assert_error_contains("makes no Slurm feature name");
	rain_site_free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = (struct rain_site *)1;
		if (site((const char *[]){ bad[i].set, NULL }, &s) != RAIN_EINVAL)
			fail_msg("'%s' was taken", bad[i].set);
		assert_null(s);
		assert_error_contains(bad[i].err);
	}
	{
		json_t *props = json_pack("{s:s}", "architecture", "aarch64");
		struct rain_target_image img = { .id = "i", .path = "/nonexistent", .properties = props };

		assert_int_equal(site(NULL, &s), 0);
		assert_int_equal(rain_target_accepts(s, &img), RAIN_EINVAL);
		assert_error_contains("x86_64");
		json_decref(props);
		rain_site_free(s);
	}
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (fs_read_small(path, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static void artifacts(const char *name, struct rain_target_artifacts *a)
{
	char path[4300], sha[65];
	int64_t size;

	memset(a, 0, sizeof(*a));
	snprintf(path, sizeof(path), "%s/%s-vmlinuz", tmp, name);
	assert_int_equal(fs_write_atomic(path, "kernel", 6, 0600), 0);
	a->kernel = strdup(path);
	snprintf(path, sizeof(path), "%s/%s-initramfs", tmp, name);
	assert_int_equal(fs_write_atomic(path, "initramfs", 9, 0600), 0);
	a->initramfs = strdup(path);
	snprintf(path, sizeof(path), "%s/%s-root", tmp, name);
	assert_int_equal(fs_write_atomic(path, name, strlen(name), 0600), 0);
	a->rootfs = strdup(path);
	assert_int_equal(fs_sha256_file(path, sha, &size), 0);
	a->rootfs_sha256 = strdup(sha);
}

/* At each save of op1's state (ud: its feature): helpers.conf has the
 * feature's line only when the state names it. */
static int named_before;
static int save(void *ud, json_t *st)
{
	const char *line = json_string_value(json_object_get(json_object_get(st, "helpers_conf"), "line"));
	char *text, want[64];

	if (!ud)
		return 0;
	text = slurp(conf);
	snprintf(want, sizeof(want), "Feature=%s ", (const char *)ud);
	if (text && strstr(text, want) && !(line && strstr(line, want)))
		named_before = -1;
	else if (line && !named_before)
		named_before = 1;
	free(text);
	return 0;
}

static void test_publish(void **state)
{
	struct rain_site *s;
	struct rain_target_artifacts a1, a2;
	struct rain_target_image img = { .id = "img", .name = "img" };
	struct rain_target_op op1 = { .reg_id = "reg-1", .workdir = tmp, .save = save, .ud = "img_reg_1" };
	struct rain_target_op op2 = { .reg_id = "reg-2", .workdir = tmp, .save = save };
	char path[4300], *text;
	struct stat sb;
	json_t *st;

	(void)state;
	assert_int_equal(fs_write_atomic(conf, base_conf, strlen(base_conf), 0640), 0);
	assert_int_equal(site((const char *[]){ "kernel_args=console=ttyS0", NULL }, &s), 0);
	op1.site = op2.site = s;
	op1.state = json_object();
	op2.state = json_object();
	artifacts("a1", &a1);
	artifacts("a2", &a2);

	assert_int_equal(rain_target_publish(&op1, &img, &a1), 0);
	assert_int_equal(named_before, 1);
	assert_string_equal(json_string_value(json_object_get(op1.state, "feature")), "img_reg_1");
	snprintf(path, sizeof(path), "%s/img_reg_1", pub);
	assert_string_equal(json_string_value(json_object_get(op1.state, "dir")), path);
	snprintf(path, sizeof(path), "%s/img_reg_1/root.squashfs", pub);
	text = slurp(path);
	assert_string_equal(text, "a1");
	free(text);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	snprintf(path, sizeof(path), "%s/img_reg_1/cmdline", pub);
	text = slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "console=ttyS0 rain.root=http://10.0.2.2:8080/boot/img_reg_1/root.squashfs "
				     "rain.sha256="));
	assert_non_null(strstr(text, a1.rootfs_sha256));
	free(text);
	text = slurp(conf);
	assert_string_equal(text, "# the site's own\nFeature=img_base Helper=/usr/local/sbin/img-helper\n"
				  "Feature=img_reg_1 Helper=/usr/local/sbin/img-helper\n");
	free(text);
	assert_int_equal(stat(conf, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(access(marker, F_OK), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(op1.state, "show"), "feature")),
			    "img_reg_1");

	assert_int_equal(rain_target_publish(&op2, &img, &a2), 0);
	assert_int_equal(rain_target_status(&op1, &st), 0);
	assert_true(json_is_true(json_object_get(st, "present")));
	assert_true(json_is_true(json_object_get(st, "in_helpers_conf")));
	json_decref(st);

	/* the first goes; the second and the site's own line stay */
	unlink(marker);
	assert_int_equal(rain_target_unpublish(&op1), 0);
	assert_int_equal(json_object_size(op1.state), 0);
	assert_int_equal(access(marker, F_OK), 0);
	text = slurp(conf);
	assert_string_equal(text, "# the site's own\nFeature=img_base Helper=/usr/local/sbin/img-helper\n"
				  "Feature=img_reg_2 Helper=/usr/local/sbin/img-helper\n");
	free(text);
	snprintf(path, sizeof(path), "%s/img_reg_1", pub);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/img_reg_2/root.squashfs", pub);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(rain_target_status(&op1, &st), 0);
	assert_true(json_is_false(json_object_get(st, "present")));
	json_decref(st);
	/* again: nothing to remove, no reload */
	unlink(marker);
	assert_int_equal(rain_target_unpublish(&op1), 0);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(rain_target_unpublish(&op2), 0);
	text = slurp(conf);
	assert_string_equal(text, base_conf);
	free(text);

	/* a helpers.conf that is not there: the site must make it */
	unlink(conf);
	json_object_clear(op1.state);
	assert_int_equal(rain_target_publish(&op1, &img, &a1), RAIN_ENOTFOUND);
	assert_error_contains("helpers_conf");
	assert_int_equal(rain_target_unpublish(&op1), 0);
	snprintf(path, sizeof(path), "%s/img_reg_1", pub);
	assert_int_equal(access(path, F_OK), -1);

	/* a reload that fails is an error naming it */
	assert_int_equal(fs_write_atomic(conf, base_conf, strlen(base_conf), 0640), 0);
	rain_site_free(s);
	assert_int_equal(site((const char *[]){ "reload=false", NULL }, &s), 0);
	op1.site = s;
	json_object_clear(op1.state);
	assert_int_equal(rain_target_publish(&op1, &img, &a1), RAIN_EIO);
	assert_error_contains("reload (false) failed with exit status 1");
	json_object_del(op1.state, "helpers_conf");
	assert_int_equal(rain_target_unpublish(&op1), 0);

	json_decref(op1.state);
	json_decref(op2.state);
	rain_target_artifacts_clear(&a1);
	rain_target_artifacts_clear(&a2);
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
