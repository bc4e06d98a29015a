/* Unit tests for the ironic site driver (src/lib/target/drivers/ironic.c):
 * its settings, the instance_info it sets, and what publish, unpublish
 * and status do with state when Ironic cannot be reached (nothing left
 * in publish_dir, the node named in state kept until it is dealt with).
 * The driver against a real Ironic: tests/integration/t0154-site-ironic.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/drivers/ironic-api.h"
#include "lib/target/target-internal.h"
#include "rain/netboot.h"
#include "rain/error.h"
#include "rain/target.h"
#include "testutil.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

struct fixture {
	char dir[64];
	char pub[128];
	char work[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/rain-test-ironic.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->pub, sizeof(f->pub), "%s/pub", f->dir);
	snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	assert_int_equal(mkdir(f->pub, 0755), 0);
	assert_int_equal(mkdir(f->work, 0700), 0);
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

/* A site with the common settings and one more (may be NULL), or the
 * error code. */
static int site_with(const char *uri, const char *pub, const char *extra, struct rain_site **out)
{
	char pd[160];
	const char *set[] = { uri, "nodes=n1 n2,00000000-0000-4000-8000-000000000001", pd,
			      "publish_url=http://10.0.2.2:8080/boot", extra, NULL };

	snprintf(pd, sizeof(pd), "publish_dir=%s", pub);
	return rain_site_new("bm", set, "test [site.bm]", out);
}

static void test_check(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = NULL;
	static const struct {
		const char *uri, *extra, *needle;
	} bad[] = {
		{ "uri=ironic:ftp://h", NULL, "not the URL of an Ironic API" },
		{ "uri=ironic:http://h:6385", "color=red", "unknown key 'color'" },
		{ "uri=ironic:http://h:6385", "kernel_args=a\nb", "kernel_args" },
		{ "uri=ironic:http://h:6385", "deploy_timeout=0", "deploy_timeout" },
		{ "uri=ironic:http://h:6385", "conductor_url=file:///srv", "conductor_url" },
		{ "uri=ironic:http://h:6385", "deploy_timeout=many", "deploy_timeout" },
		{ "uri=ironic:http://h:6385", "ssh=n9=h:22", "ssh: 'n9' is none of the site's nodes" },
		{ "uri=ironic:http://h:6385", "ssh=n1=h:0", "ssh: n1: '0' is not a port" },
		{ "uri=ironic:http://h:6385", "ssh=n1", "ssh: 'n1' is not NAME=HOST[:PORT]" },
		{ "uri=ironic:http://h:6385", "console=log/%n", "console: one absolute path" },
	};

	assert_int_equal(site_with("uri=ironic:http://127.0.0.1:6385", f->pub, "kernel_args=console=ttyS0",
				   &s), 0);
	assert_string_equal(s->driver->scheme, "ironic");
	assert_string_equal(s->location, "http://127.0.0.1:6385");
	rain_site_free(s);
	/* runs: where each node's sshd is, its console */
	assert_int_equal(site_with("uri=ironic:http://h", f->pub, "ssh=n2=127.0.0.1:2202, n1=[::1]", &s), 0);
	{
		char host[RAIN_NETBOOT_HOST_MAX + 1];
		char *con = NULL;
		int port;

		assert_int_equal(ironic_ssh_addr(s->priv, "n2", host, &port), 0);
		assert_string_equal(host, "127.0.0.1");
		assert_int_equal(port, 2202);
		assert_int_equal(ironic_ssh_addr(s->priv, "n1", host, &port), 0);
		assert_string_equal(host, "::1");
		assert_int_equal(port, 22);
		assert_int_equal(ironic_ssh_addr(s->priv, "00000000-0000-4000-8000-000000000001", host,
						 &port), 0);
		assert_string_equal(host, "00000000-0000-4000-8000-000000000001");
		assert_int_equal(ironic_console_path(s->priv, "n1", &con), 0);
		assert_null(con);
		rain_site_free(s);
		assert_int_equal(site_with("uri=ironic:http://h", f->pub, "console=/var/log/c/%n.log", &s),
				 0);
		assert_int_equal(ironic_console_path(s->priv, "n2", &con), 0);
		assert_string_equal(con, "/var/log/c/n2.log");
		free(con);
		rain_site_free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(site_with(bad[i].uri, f->pub, bad[i].extra, &s), RAIN_EINVAL);
		assert_null(s);
		assert_error_contains(bad[i].needle);
		assert_error_contains("test [site.bm]");
	}
	/* a relative publish_dir, a missing one, a node name that is no name */
	assert_int_equal(site_with("uri=ironic:http://h", "pub", NULL, &s), RAIN_EINVAL);
	assert_error_contains("publish_dir must be an absolute path");
	{
		const char *set[] = { "uri=ironic:http://h", "nodes=n1", "publish_url=http://x/",
				      NULL };
		const char *set2[] = { "uri=ironic:http://h", "nodes=n1 ../etc", "publish_dir=/srv",
				       "publish_url=http://x/", NULL };
		const char *set3[] = { "uri=ironic:http://h", "nodes=n1", "publish_dir=/srv",
				       "publish_url=http://x/a b", NULL };
		const char *set4[] = { "uri=ironic:http://h", "nodes= , ", "publish_dir=/srv",
				       "publish_url=http://x/", NULL };

		assert_int_equal(rain_site_new("bm", set, "t", &s), RAIN_EINVAL);
		assert_error_contains("publish_dir is missing");
		assert_int_equal(rain_site_new("bm", set2, "t", &s), RAIN_EINVAL);
		assert_error_contains("nodes: '../etc' is not an Ironic node name");
		assert_int_equal(rain_site_new("bm", set3, "t", &s), RAIN_EINVAL);
		assert_error_contains("publish_url must be an http://");
		assert_int_equal(rain_site_new("bm", set4, "t", &s), RAIN_EINVAL);
		assert_error_contains("nodes is empty");
	}
}

static void test_instance_info(void **state)
{
	json_t *ii = NULL;

	/* the conductor fetches kernel and ramdisk, the node the root */
	assert_int_equal(ironic_instance_info("http://127.0.0.1:8080/boot/r1", "http://10.0.2.2:8080/boot/r1",
					      "console=ttyS0 quiet", SHA_A, SHA_B, SHA_C, &ii), 0);
	assert_string_equal(json_string_value(json_object_get(ii, "kernel")),
			    "http://127.0.0.1:8080/boot/r1/vmlinuz");
	assert_string_equal(json_string_value(json_object_get(ii, "ramdisk")),
			    "http://127.0.0.1:8080/boot/r1/initramfs");
	assert_string_equal(json_string_value(json_object_get(ii, "image_source")),
			    "http://10.0.2.2:8080/boot/r1/root.squashfs");
	assert_string_equal(json_string_value(json_object_get(ii, "image_os_hash_algo")), "sha256");
	assert_string_equal(json_string_value(json_object_get(ii, "image_os_hash_value")), SHA_A);
	assert_string_equal(json_string_value(json_object_get(ii, "kernel_append_params")),
			    "rain.root=http://10.0.2.2:8080/boot/r1/root.squashfs rain.sha256=" SHA_A
			    " console=ttyS0 quiet");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ii, "rain_sha256"),
							      "kernel")), SHA_B);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ii, "rain_sha256"),
							      "ramdisk")), SHA_C);
	json_decref(ii);
	assert_int_equal(ironic_instance_info("http://h/b/r2", "http://h/b/r2", NULL, SHA_A, SHA_B, SHA_C,
					      &ii), 0);
	assert_string_equal(json_string_value(json_object_get(ii, "kernel_append_params")),
			    "rain.root=http://h/b/r2/root.squashfs rain.sha256=" SHA_A);
	json_decref(ii);
}

static int save_count;

static int save(void *ud, json_t *st)
{
	(void)ud;
	(void)st;
	save_count++;
	return 0;
}

static void write_file(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

/* Ironic unreachable: publish fails before it writes a file; unpublish of
 * a state naming a node keeps it (and says why), removes the files. */
static void test_unreachable(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = NULL;
	struct rain_target_artifacts a = { 0 };
	struct rain_target_image img = { .id = "i", .name = "img" };
	struct rain_target_op op = { .reg_id = "reg1", .save = save };
	char kernel[200], initrd[200], root[200], regdir[200], pubfile[260];
	json_t *st = NULL;
	struct stat sb;

	/* port 1: nothing listens */
	assert_int_equal(site_with("uri=ironic:http://127.0.0.1:1", f->pub, NULL, &s), 0);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", f->work);
	snprintf(initrd, sizeof(initrd), "%s/initrd", f->work);
	snprintf(root, sizeof(root), "%s/root.sqfs", f->work);
	write_file(kernel, "kernel");
	write_file(initrd, "initrd");
	write_file(root, "root");
	a.kernel = kernel;
	a.initramfs = initrd;
	a.rootfs = root;
	op.site = s;
	op.workdir = f->work;
	op.state = json_object();

	assert_int_equal(s->driver->publish(&op, &img, &a), RAIN_ENET);
	assert_error_contains("ironic at http://127.0.0.1:1: GET /v1/nodes/n1");
	assert_int_equal(json_object_size(op.state), 0);
	snprintf(regdir, sizeof(regdir), "%s/reg1", f->pub);
	assert_int_equal(stat(regdir, &sb), -1);

	/* no artifacts to boot: refused before anything */
	a.rootfs = NULL;
	assert_int_equal(s->driver->publish(&op, &img, &a), RAIN_EINVAL);
	assert_error_contains("adaptation made no root squashfs");
	a.rootfs = root;

	/* a state from an interrupted publish: the folder and a node */
	assert_int_equal(mkdir(regdir, 0755), 0);
	snprintf(pubfile, sizeof(pubfile), "%s/vmlinuz", regdir);
	write_file(pubfile, "kernel");
	json_object_set_new(op.state, "publish_dir", json_string(regdir));
	json_object_set_new(op.state, "node",
			    json_pack("{s:s, s:s, s:s}", "uuid", "00000000-0000-4000-8000-000000000001",
				      "name", "n2", "instance_uuid",
				      "00000000-0000-4000-8000-0000000000aa"));
	assert_int_equal(s->driver->unpublish(&op), RAIN_ENET);
	/* the node stays named for a later try; nothing was removed yet */
	assert_non_null(json_object_get(op.state, "node"));
	assert_int_equal(stat(pubfile, &sb), 0);
	assert_int_equal(s->driver->status(&op, &st), RAIN_ENET);
	assert_null(st);

	/* without the node (never claimed) the files go */
	json_object_del(op.state, "node");
	save_count = 0;
	assert_int_equal(s->driver->unpublish(&op), 0);
	assert_int_equal(stat(regdir, &sb), -1);
	assert_int_equal(json_object_size(op.state), 0);
	assert_true(save_count > 0);
	/* again: what is gone is no error */
	assert_int_equal(s->driver->unpublish(&op), 0);
	assert_int_equal(s->driver->status(&op, &st), 0);
	assert_true(json_is_false(json_object_get(st, "present")));
	assert_true(json_is_false(json_object_get(st, "files")));
	json_decref(st);

	/* a state naming another folder is refused, the folder left */
	json_object_set_new(op.state, "publish_dir", json_string(f->work));
	assert_int_equal(s->driver->unpublish(&op), RAIN_EINVAL);
	assert_error_contains("left alone");
	assert_int_equal(stat(kernel, &sb), 0);
	/* a registration id that is no folder name */
	op.reg_id = "../x";
	json_object_clear(op.state);
	assert_int_equal(s->driver->publish(&op, &img, &a), RAIN_EINVAL);
	assert_error_contains("cannot name a folder");

	json_decref(op.state);
	rain_site_free(s);
}

/* Keystone through a clouds.yaml entry: a missing entry is refused when
 * the site is read; an unreachable Keystone fails publish before a file
 * is written. */
static void test_cloud(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = NULL;
	struct rain_target_artifacts a = { .kernel = "/k", .initramfs = "/i", .rootfs = "/r" };
	struct rain_target_image img = { .id = "i", .name = "img" };
	struct rain_target_op op = { .reg_id = "reg1", .save = save };
	char yaml[200], cy[220];
	struct stat sb;

	snprintf(yaml, sizeof(yaml), "%s/clouds.yaml", f->dir);
	snprintf(cy, sizeof(cy), "clouds_yaml=%s", yaml);
	write_file(yaml, "clouds:\n"
			 "  lab:\n"
			 "    auth:\n"
			 "      auth_url: http://127.0.0.1:1/v3\n"
			 "      username: admin\n"
			 "      password: pw\n"
			 "      project_name: admin\n"
			 "      user_domain_name: Default\n"
			 "      project_domain_name: Default\n");
	{
		const char *set[] = { "uri=ironic:http://127.0.0.1:1", "nodes=n1", "cloud=lab", cy,
				      "publish_dir=/srv", "publish_url=http://x/", NULL };
		const char *nocloud[] = { "uri=ironic:http://127.0.0.1:1", "nodes=n1", "cloud=other", cy,
					  "publish_dir=/srv", "publish_url=http://x/", NULL };
		const char *noname[] = { "uri=ironic:http://127.0.0.1:1", "nodes=n1", cy,
					 "publish_dir=/srv", "publish_url=http://x/", NULL };

		assert_int_equal(rain_site_new("bm", nocloud, "t", &s), RAIN_ENOTFOUND);
		assert_error_contains("cloud: ");
		assert_error_contains("other");
		assert_int_equal(rain_site_new("bm", noname, "t", &s), RAIN_EINVAL);
		assert_error_contains("cloud is not");
		assert_int_equal(rain_site_new("bm", set, "t", &s), 0);
	}
	op.site = s;
	op.workdir = f->work;
	op.state = json_object();
	assert_int_equal(s->driver->publish(&op, &img, &a), RAIN_ENET);
	assert_error_contains("Keystone at http://127.0.0.1:1/v3");
	assert_int_equal(json_object_size(op.state), 0);
	assert_int_equal(stat("/srv/reg1", &sb), -1);
	json_decref(op.state);
	rain_site_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test(test_instance_info),
		cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cloud, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
