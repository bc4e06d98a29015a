/* The netboot site driver (drivers/netboot.c): its settings and their
 * refusals; publish into a real folder (the registration's files, each
 * node's iPXE script, boot.ipxe, dnsmasq.conf that dnsmasq accepts, all
 * named in the state first); a second registration taking the nodes over;
 * unpublish removing only what the state names and the scripts that
 * still point to it, the site's files with the last; status. Adaptation
 * from a real image is t0153's. */
#include <dirent.h>
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
#include "rain/netboot.h"
#include "rain/target.h"
#include "testutil.h"
#include "util/fsutil.h"

static char tmp[] = "/tmp/rain-test-target-netboot-XXXXXX";
static char site_dir[4096], uri[4200];

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(site_dir, sizeof(site_dir), "%s/site", tmp);
	snprintf(uri, sizeof(uri), "uri=netboot:%s", site_dir);
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
	const char *set[16] = { uri, "url=http://10.0.2.2:8080/netboot/lab/" };
	size_t n = 2;

	for (size_t i = 0; extra && extra[i]; i++)
		set[n++] = extra[i];
	return rain_site_new("lab", set, "test [site.lab]", out);
}

static void test_settings(void **state)
{
	struct rain_site *s;

	(void)state;
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01, n2=52-54-00-00-00-02",
						"node=n3 52:54:00:00:00:03", "node=n4 52:54:00:00:00:04",
						"modules=e1000e igb", "compressor=lz4", NULL }, &s), 0);
	rain_site_free(s);

	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "colour=blue", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("unknown setting 'colour'");
	assert_null(s);
	assert_int_equal(site(NULL, &s), RAIN_EINVAL);
	assert_error_contains("no nodes");
	assert_int_equal(site((const char *[]){ "nodes=n1", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("'n1' is not NAME=MAC");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("is not a MAC address");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01 n2=52-54-00-00-00-01", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("listed twice");
	assert_int_equal(site((const char *[]){ "nodes=../x=52:54:00:00:00:01", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("not a host name");
	assert_int_equal(site((const char *[]){ "node=n1 52:54:00:00:00:01 extra", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("'NAME MAC'");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "compressor=bzip9", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("compressor");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "modules=../../evil", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("modules");
	{
		const char *set[] = { "uri=netboot:relative/dir", "url=http://h/", "nodes=n=52:54:00:00:00:01", NULL };

		assert_int_equal(rain_site_new("lab", set, "test", &s), RAIN_EINVAL);
		assert_error_contains("absolute folder");
	}
	{
		const char *set[] = { uri, "nodes=n=52:54:00:00:00:01", NULL };

		assert_int_equal(rain_site_new("lab", set, "test", &s), RAIN_EINVAL);
		assert_error_contains("url:");
	}
	{
		const char *set[] = { uri, "url=file:///etc", "nodes=n=52:54:00:00:00:01", NULL };

		assert_int_equal(rain_site_new("lab", set, "test", &s), RAIN_EINVAL);
	}
	/* runs: power programs and ssh addresses */
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01 n2=52:54:00:00:00:02",
						"power_on=ipmitool -H %n-bmc chassis power on",
						"power_off=ipmitool -H %n-bmc chassis power off",
						"power_status=/usr/local/bin/is-on %m", "ssh=n1=127.0.0.1:2201",
						"console=/var/log/conserver/%n.log", NULL },
			      &s), 0);
	{
		const struct rain_netboot_node *nodes;
		size_t n;

		assert_int_equal(rain_netboot_site_nodes(s, &nodes, &n), 0);
		assert_int_equal(n, 2);
		assert_string_equal(nodes[1].name, "n2");
		assert_string_equal(nodes[1].mac, "52-54-00-00-00-02");
	}
	rain_site_free(s);
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "power_on=ipmitool %x", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("site lab: power_on: '%x'");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "power_on=/bin/true", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("power_on and power_off go together");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "power_on=/bin/true",
						"power_off='/bin/false", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("power_off: the quote");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "ssh=n2=h:22", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("site lab: ssh: 'n2' is none of the site's nodes");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "ssh=n1=h:port", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("not a port");
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "console=relative/%n.log", NULL }, &s),
			 RAIN_EINVAL);
	assert_error_contains("site lab: console: one absolute path");
	/* architecture */
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", NULL }, &s), 0);
	{
		json_t *props = json_pack("{s:s}", "architecture", "aarch64");
		struct rain_target_image img = { .id = "i", .path = "/nonexistent", .properties = props };

		assert_int_equal(rain_target_accepts(s, &img), RAIN_EINVAL);
		assert_error_contains("x86_64");
		json_object_set_new(props, "architecture", json_string("x86_64"));
		assert_int_equal(rain_target_accepts(s, &img), 0);
		json_decref(props);
	}
	rain_site_free(s);
}

static char *slurp(const char *rel)
{
	char path[4300], *data = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", site_dir, rel);
	if (fs_read_small(path, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
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
	assert_int_equal(fs_write_atomic(path, "root", 4, 0600), 0);
	a->rootfs = strdup(path);
	assert_int_equal(fs_sha256_file(path, sha, &size), 0);
	a->rootfs_sha256 = strdup(sha);
	a->cmdline = strdup("console=ttyS0");
}

static int saves;
static int save(void *ud, json_t *st)
{
	(void)ud;
	(void)st;
	saves++;
	return 0;
}

static void test_publish(void **state)
{
	struct rain_site *s;
	struct rain_target_artifacts a1, a2;
	struct rain_target_image img = { .id = "img", .name = "img" };
	struct rain_target_op op1 = { .reg_id = "reg-1", .workdir = tmp, .save = save };
	struct rain_target_op op2 = { .reg_id = "reg-2", .workdir = tmp, .save = save };
	char *text, path[4300];
	json_t *st;

	(void)state;
	assert_int_equal(site((const char *[]){ "nodes=n1=52:54:00:00:00:01", "node=n2 52:54:00:AB:00:02",
				"kernel_args=console=ttyS0", NULL },
			      &s), 0);
	op1.site = op2.site = s;
	op1.state = json_object();
	op2.state = json_object();
	artifacts("a1", &a1);
	artifacts("a2", &a2);

	assert_int_equal(rain_target_publish(&op1, &img, &a1), 0);
	assert_true(saves >= 4);
	snprintf(path, sizeof(path), "%s/reg-1", site_dir);
	assert_string_equal(json_string_value(json_object_get(op1.state, "dir")), path);
	assert_int_equal(json_array_size(json_object_get(op1.state, "nodes")), 2);
	text = slurp("reg-1/root.squashfs");
	assert_string_equal(text, "root");
	free(text);
	text = slurp("ipxe/52-54-00-ab-00-02.ipxe");
	assert_non_null(text);
	assert_true(rain_netboot_ipxe_names(text, "reg-1"));
	assert_non_null(strstr(text, "kernel http://10.0.2.2:8080/netboot/lab/reg-1/vmlinuz initrd=initramfs "
				     "console=ttyS0 rain.root=http://10.0.2.2:8080/netboot/lab/reg-1/root.squashfs "
				     "rain.sha256="));
	assert_non_null(strstr(text, a1.rootfs_sha256));
	assert_non_null(strstr(text, "\ninitrd --name initramfs http://10.0.2.2:8080/netboot/lab/reg-1/initramfs\n"));
	free(text);
	text = slurp("boot.ipxe");
	assert_non_null(strstr(text, "chain http://10.0.2.2:8080/netboot/lab/ipxe/${netX/mac:hexhyp}\n"));
	free(text);
	text = slurp("dnsmasq.conf");
	assert_non_null(strstr(text, "dhcp-host=52:54:00:ab:00:02,set:rain-lab,n2\n"));
	assert_non_null(strstr(text, "dhcp-boot=tag:rain-lab,tag:ipxe,http://10.0.2.2:8080/netboot/lab/boot.ipxe\n"));
	free(text);
	assert_non_null(json_object_get(json_object_get(op1.state, "show"), "nodes"));
	/* files are readable by the server, not writable */
	{
		struct stat sb;

		snprintf(path, sizeof(path), "%s/reg-1/vmlinuz", site_dir);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0644);
	}
	assert_int_equal(rain_target_status(&op1, &st), 0);
	assert_true(json_is_true(json_object_get(st, "present")));
	assert_int_equal(json_integer_value(json_object_get(st, "nodes_booting_it")), 2);
	json_decref(st);

	/* a second registration takes the nodes over */
	assert_int_equal(rain_target_publish(&op2, &img, &a2), 0);
	text = slurp("ipxe/52-54-00-00-00-01.ipxe");
	assert_true(rain_netboot_ipxe_names(text, "reg-2"));
	free(text);
	assert_int_equal(rain_target_status(&op1, &st), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "nodes_booting_it")), 0);
	json_decref(st);
	/* removing the first leaves the second whole */
	assert_int_equal(rain_target_unpublish(&op1), 0);
	assert_int_equal(json_object_size(op1.state), 0);
	snprintf(path, sizeof(path), "%s/reg-1", site_dir);
	assert_int_equal(access(path, F_OK), -1);
	text = slurp("ipxe/52-54-00-00-00-01.ipxe");
	assert_non_null(text);
	assert_true(rain_netboot_ipxe_names(text, "reg-2"));
	free(text);
	text = slurp("dnsmasq.conf");
	assert_non_null(text);
	free(text);
	/* again: nothing left to remove is fine */
	assert_int_equal(rain_target_unpublish(&op1), 0);
	/* the last one takes the site's files along */
	assert_int_equal(rain_target_unpublish(&op2), 0);
	assert_int_equal(count_entries(site_dir), 0);

	/* a state naming a folder other than the registration's own is left alone */
	json_object_set_new(op1.state, "dir", json_string("/etc"));
	assert_int_equal(rain_target_unpublish(&op1), RAIN_EINVAL);
	assert_error_contains("left alone");
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	json_object_clear(op1.state);
	/* a registration id that cannot be a folder */
	op1.reg_id = "../x";
	assert_int_equal(rain_target_publish(&op1, &img, &a1), RAIN_EINVAL);
	op1.reg_id = "ipxe";
	assert_int_equal(rain_target_publish(&op1, &img, &a1), RAIN_EINVAL);
	assert_int_equal(json_object_size(op1.state), 0);

	rain_target_artifacts_clear(&a1);
	rain_target_artifacts_clear(&a2);
	json_decref(op1.state);
	json_decref(op2.state);
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
