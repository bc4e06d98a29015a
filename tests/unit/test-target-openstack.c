/* Unit tests for the openstack site driver (src/lib/target/drivers/openstack.c):
 * its settings (hostile values refused naming the key), the bodies of
 * POST /v2/images it sends (properties, formats, the ec2 model's links),
 * and what publish, unpublish and status do with state when Glance cannot
 * be reached. The driver against a real Glance and raind's Keystone:
 * tests/integration/t0151-site-openstack.sh. */
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

#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/error.h"
#include "rain/target.h"
#include "testutil.h"

#define IMG_ID "9b3c1f0e-0000-4000-8000-000000000001"

struct fixture {
	char dir[64];
	char clouds[128];
	char set_clouds[160];
};

static void write_file(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/rain-test-openstack.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->clouds, sizeof(f->clouds), "%s/clouds.yaml", f->dir);
	snprintf(f->set_clouds, sizeof(f->set_clouds), "clouds_yaml=%s", f->clouds);
	/* port 1 of loopback: nothing listens there */
	write_file(f->clouds, "clouds:\n"
		   "  local:\n    auth_type: none\n    image_endpoint_override: http://127.0.0.1:1\n"
		   "  bare:\n    auth_type: none\n"
		   "  keystone:\n    auth: {auth_url: 'http://127.0.0.1:1/v3', username: u, password: p}\n");
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

static int site_with(struct fixture *f, const char *uri, const char *e1, const char *e2,
		     struct rain_site **out)
{
	const char *set[] = { uri, f->set_clouds, e1, e2, NULL };

	if (!e1)
		set[2] = NULL;
	return rain_site_new("cloud", set, "test [site.cloud]", out);
}

static void test_check(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = NULL;
	static const struct {
		const char *uri, *extra, *needle;
	} bad[] = {
		{ "uri=openstack:local", "color=red", "unknown setting 'color'" },
		{ "uri=openstack:local", "disk_format=vmdk", "disk_format = 'vmdk'" },
		{ "uri=openstack:local", "visibility=everyone", "visibility = 'everyone'" },
		{ "uri=openstack:local", "model=ami", "model = 'ami' is not image or ec2" },
		{ "uri=openstack:local", "min_disk=lots", "min_disk = 'lots' is not a size" },
		{ "uri=openstack:local", "min_disk=-1", "min_disk = '-1'" },
		{ "uri=openstack:local", "min_ram=99999999999999", "min_ram = '99999999999999'" },
		{ "uri=openstack:local", "hw_qemu_guest_agent=maybe", "hw_qemu_guest_agent" },
		{ "uri=openstack:local", "image_endpoint=file:///etc", "image_endpoint = 'file:///etc'" },
		{ "uri=openstack:nowhere", NULL, "has no cloud 'nowhere' (it has: local, bare, keystone)" },
		{ "uri=openstack:", NULL, "names no cloud" },
		{ "uri=openstack:bare", NULL, "has auth_type none: set image_endpoint_override" },
	};

	assert_int_equal(site_with(f, "uri=openstack:local", "min_disk=20G", "visibility=public", &s), 0);
	assert_string_equal(s->driver->scheme, "openstack");
	assert_string_equal(s->location, "local");
	rain_site_free(s);
	assert_int_equal(site_with(f, "uri=openstack:bare", "image_endpoint=http://g:9292", NULL, &s), 0);
	rain_site_free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(site_with(f, bad[i].uri, bad[i].extra, NULL, &s),
				 strstr(bad[i].needle, "has no cloud") ? RAIN_ENOTFOUND : RAIN_EINVAL);
		assert_null(s);
		assert_error_contains(bad[i].needle);
		assert_error_contains("test [site.cloud]");
	}
	/* a clouds.yaml that is not there */
	{
		const char *set[] = { "uri=openstack:local", "clouds_yaml=/nonexistent/clouds.yaml", NULL };

		assert_int_equal(rain_site_new("c", set, "t", &s), RAIN_ENOTFOUND);
		assert_error_contains("/nonexistent/clouds.yaml");
	}
}

static struct rain_site *site_ok(struct fixture *f, const char *e1, const char *e2)
{
	struct rain_site *s = NULL;

	if (site_with(f, "uri=openstack:local", e1, e2, &s) < 0)
		fail_msg("site: %s", rain_error_last());
	return s;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_fields(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = site_ok(f, "min_ram=2G", "hw_qemu_guest_agent=yes");
	char long_value[400];
	json_t *props = json_pack("{s:s, s:s, s:s, s:s, s:s}", "os_distro", "debian", "os_version", "12",
				  "architecture", "arm64", "hw_firmware_type", "uefi", "recipe", "x");
	json_t *adapted = json_pack("{s:s}", "os_admin_user", "root");
	struct rain_target_image img = { .id = IMG_ID, .name = "bookworm", .disk_format = "raw",
					 .size = 1 << 20, .properties = props };
	struct rain_target_artifacts a = { .disk_format = "qcow2", .virtual_size = 3 * (1LL << 30) + 1,
					   .disk_sha256 = "abcd", .properties = adapted };
	struct rain_target_op op = { .site = s, .reg_id = "reg-7", .state = json_object() };
	json_t *b;

	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	json_object_set_new(props, "os_long", json_string(long_value));
	assert_int_equal(openstack_image_fields(&op, &img, &a, "image", "id-1", &b), 0);
	assert_string_equal(str(b, "id"), "id-1");
	assert_string_equal(str(b, "name"), "bookworm");
	assert_string_equal(str(b, "disk_format"), "qcow2");
	assert_string_equal(str(b, "container_format"), "bare");
	assert_string_equal(str(b, "visibility"), "private");
	assert_int_equal(json_integer_value(json_object_get(b, "min_disk")), 4);
	assert_int_equal(json_integer_value(json_object_get(b, "min_ram")), 2048);
	assert_string_equal(str(b, "architecture"), "aarch64");
	assert_string_equal(str(b, "os_distro"), "debian");
	assert_string_equal(str(b, "os_version"), "12");
	assert_string_equal(str(b, "hw_firmware_type"), "uefi");
	assert_string_equal(str(b, "hw_disk_bus"), "virtio");
	assert_string_equal(str(b, "hw_qemu_guest_agent"), "yes");
	assert_string_equal(str(b, "os_admin_user"), "root");
	assert_string_equal(str(b, "rain_image_id"), IMG_ID);
	assert_string_equal(str(b, "rain_registration"), "reg-7");
	assert_string_equal(str(b, "rain_site"), "cloud");
	assert_string_equal(str(b, "rain_disk_sha256"), "abcd");
	assert_string_equal(json_string_value(json_array_get(json_object_get(b, "tags"), 0)), "rain");
	assert_null(json_object_get(b, "recipe"));      /* not a property clouds read */
	assert_null(json_object_get(b, "os_long"));     /* past Glance's 255 */
	assert_null(json_object_get(b, "kernel_id"));
	json_decref(b);
	json_decref(op.state);
	rain_site_free(s);

	/* ec2: aki and ari, then the ami naming them; min_disk as set */
	s = site_ok(f, "model=ec2", "min_disk=10");
	op.site = s;
	op.state = json_pack("{s:s, s:s}", "kernel_id", "k-1", "ramdisk_id", "r-1");
	a.cmdline = "root=LABEL=root console=ttyS0";
	assert_int_equal(openstack_image_fields(&op, &img, &a, "kernel", "k-1", &b), 0);
	assert_string_equal(str(b, "name"), "bookworm-kernel");
	assert_string_equal(str(b, "disk_format"), "aki");
	assert_string_equal(str(b, "container_format"), "aki");
	assert_null(json_object_get(b, "min_disk"));
	json_decref(b);
	assert_int_equal(openstack_image_fields(&op, &img, &a, "ramdisk", "r-1", &b), 0);
	assert_string_equal(str(b, "disk_format"), "ari");
	json_decref(b);
	assert_int_equal(openstack_image_fields(&op, &img, &a, "image", "m-1", &b), 0);
	assert_string_equal(str(b, "disk_format"), "ami");
	assert_string_equal(str(b, "container_format"), "ami");
	assert_string_equal(str(b, "kernel_id"), "k-1");
	assert_string_equal(str(b, "ramdisk_id"), "r-1");
	assert_string_equal(str(b, "os_command_line"), "root=LABEL=root console=ttyS0");
	assert_int_equal(json_integer_value(json_object_get(b, "min_disk")), 10);
	json_decref(b);
	json_decref(op.state);
	json_decref(props);
	json_decref(adapted);
	rain_site_free(s);
}

static int saves;

static int save(void *ud, json_t *st)
{
	saves++;
	return 0;
}

/* Glance or Keystone unreachable: publish fails naming the cloud and URL
 * before anything is named in state; unpublish of an empty state needs no
 * network; one naming an image keeps it and says why. */
static void test_unreachable(void **state)
{
	struct fixture *f = *state;
	struct rain_site *s = site_ok(f, NULL, NULL), *k = NULL;
	char disk[128];
	struct rain_target_image img = { .id = IMG_ID, .name = "b", .disk_format = "raw", .size = 5 };
	struct rain_target_artifacts a = { .disk = disk, .disk_format = "raw" };
	struct rain_target_op op = { .site = s, .reg_id = "r", .workdir = f->dir, .state = json_object(),
				     .save = save };
	json_t *out = NULL;

	snprintf(disk, sizeof(disk), "%s/disk.raw", f->dir);
	write_file(disk, "12345");
	assert_int_equal(rain_target_publish(&op, &img, &a), RAIN_ENET);
	assert_error_contains("cloud 'local': Glance at http://127.0.0.1:1: listing images: cannot talk to");
	assert_error_contains("is the image service running and reachable?");
	assert_int_equal(json_object_size(op.state), 0);
	/* the site is asked before the copy is made */
	{
		struct rain_target_artifacts ad = { 0 };

		assert_int_equal(rain_target_adapt(&op, &img, &ad), RAIN_ENET);
		assert_error_contains("cloud 'local': Glance at http://127.0.0.1:1: listing images");
		assert_null(ad.disk);
	}
	saves = 0;
	assert_int_equal(rain_target_unpublish(&op), 0);
	assert_int_equal(json_object_size(op.state), 0);

	json_object_set_new(op.state, "image_id", json_string(IMG_ID));
	assert_int_equal(rain_target_unpublish(&op), RAIN_ENET);
	assert_error_contains("deleting image " IMG_ID);
	assert_string_equal(str(op.state, "image_id"), IMG_ID);
	assert_int_equal(rain_target_status(&op, &out), RAIN_ENET);
	assert_null(out);
	json_decref(op.state);

	/* Keystone unreachable */
	assert_int_equal(site_with(f, "uri=openstack:keystone", NULL, NULL, &k), 0);
	op.site = k;
	op.state = json_object();
	assert_int_equal(rain_target_publish(&op, &img, &a), RAIN_ENET);
	assert_error_contains("cloud 'keystone': Keystone at http://127.0.0.1:1/v3: cannot talk to");
	assert_int_equal(json_object_size(op.state), 0);
	json_decref(op.state);
	/* an image that is no disk */
	img.disk_format = "iso";
	assert_int_equal(rain_target_accepts(s, &img), RAIN_EINVAL);
	assert_error_contains("its data is iso, not a qcow2 or raw disk");
	rain_site_free(k);
	rain_site_free(s);
}

/* The artifacts.json of a copy of image "ab12" adapted with key, no
 * user's key, its disk.raw disk_size bytes. */
static void write_artifacts(struct fixture *f, const char *key, int64_t disk_size)
{
	json_t *j = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:I, s:s, s:s}}", "source",
			      "sha256", "ab12", "adapt", key, "ssh_key", "", "artifacts", "disk",
			      "disk.raw", "disk_format", "raw", "disk_size", (json_int_t)disk_size,
			      "disk_sha256", "d256", "disk_sha512", "d512");
	char *text = json_dumps(j, 0), path[160];

	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/artifacts.json", f->dir);
	write_file(path, text);
	free(text);
	json_decref(j);
}

/* Sites of the same disk format and model share one adaptation: their
 * adapt keys are equal whatever their names, clouds and endpoints, and
 * differ with the format or the model; an adapted copy made for one
 * (artifacts.json naming the image, the key and no user's key) is reused
 * for the other without asking the cloud, unless its disk is no longer
 * the size it was made with, the user's key differs, or the key does. */
static void test_adapt_key(void **state)
{
	struct fixture *f = *state;
	struct rain_site *a = site_ok(f, "disk_format=raw", NULL), *b = NULL, *q = site_ok(f, NULL, NULL);
	struct rain_site *e = site_ok(f, "model=ec2", "disk_format=raw");
	char *ka = NULL, *kb = NULL, *kq = NULL, *ke = NULL, path[160];
	struct rain_target_image img = { .id = IMG_ID, .name = "b", .disk_format = "raw", .size = 5,
					 .sha256 = "ab12" };
	struct rain_target_artifacts out = { 0 };
	struct rain_target_op op = { .reg_id = "r", .workdir = f->dir, .state = json_object() };
	const char *set[] = { "uri=openstack:bare", f->set_clouds, "disk_format=raw",
			      "image_endpoint=http://127.0.0.1:1", "visibility=public", NULL };

	assert_int_equal(rain_site_new("other", set, "t", &b), 0);
	assert_int_equal(rain_target_adapt_key(a, &ka), 0);
	assert_int_equal(rain_target_adapt_key(b, &kb), 0);
	assert_int_equal(rain_target_adapt_key(q, &kq), 0);
	assert_int_equal(rain_target_adapt_key(e, &ke), 0);
	assert_string_equal(ka, kb);
	assert_non_null(strstr(ka, "openstack "));
	assert_non_null(strstr(ka, "format=raw"));
	assert_null(strstr(ka, "cloud"));
	assert_string_not_equal(ka, kq);
	assert_string_not_equal(ka, ke);

	/* a copy adapted for a (as rain_target_adapt writes it down) */
	snprintf(path, sizeof(path), "%s/disk.raw", f->dir);
	write_file(path, "12345");
	write_artifacts(f, ka, 5);
	op.site = b;
	assert_int_equal(rain_target_adapt(&op, &img, &out), 0);
	assert_non_null(strstr(out.disk, "/disk.raw"));
	assert_string_equal(out.disk_sha256, "d256");
	assert_string_equal(out.disk_sha512, "d512");
	rain_target_artifacts_clear(&out);
	/* another adaptation: the cloud is asked (and cannot be reached) */
	op.site = q;
	assert_int_equal(rain_target_adapt(&op, &img, &out), RAIN_ENET);
	/* another user's key */
	write_artifacts(f, ka, 5);
	op.site = b;
	op.ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq4 u@h";
	assert_int_equal(rain_target_adapt(&op, &img, &out), RAIN_ENET);
	op.ssh_key = NULL;
	/* a disk that is not the size it was made with */
	write_artifacts(f, ka, 6);
	assert_int_equal(rain_target_adapt(&op, &img, &out), RAIN_ENET);
	assert_null(out.disk);
	json_decref(op.state);
	free(ka);
	free(kb);
	free(kq);
	free(ke);
	rain_site_free(a);
	rain_site_free(b);
	rain_site_free(q);
	rain_site_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adapt_key, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
