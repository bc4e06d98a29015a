/* The netboot provider (src/lib/provision/providers/netboot.c) through
 * rain_run_up/down/status on a real site folder with a real registration
 * (the site driver's publish) and real power programs (sh, files for
 * "power"): free nodes claimed (one another run holds is skipped and left
 * alone), each claim and instance named in the saved state before it is
 * made (the power_on program itself checks the saved state), the nodes'
 * iPXE scripts carrying the run's key and mark, alive from power_status,
 * each node's console log where the site says;
 * down powering off, restoring the registration's scripts and releasing
 * the claims; a power_off that fails keeps the node's claim and state
 * until a second down; too few free nodes refused before any node is
 * powered; a script a registration replaced mid-run is left alone. */
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
#include "rain/provision.h"
#include "rain/target.h"
#include "testutil.h"
#include "util/fsutil.h"

static char tmp[] = "/tmp/rain-test-provider-netboot-XXXXXX";
static const char key[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ0rf+/n0d2Hd4gKkEBL0dEv7yvQq2f9sFhJ8Q8+w7v "
			  "rain-run-r1";

static char *at(const char *rel)
{
	static char bufs[8][4096];
	static int i;
	char *b = bufs[i++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, rel);
	return b;
}

static char *slurp(const char *rel)
{
	char *data = NULL;
	size_t len;

	if (fs_read_small(at(rel), 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

/* The file rel holds exactly want. */
static void assert_file(const char *rel, const char *want)
{
	char *text = slurp(rel);

	if (!text)
		fail_msg("%s cannot be read", rel);
	assert_string_equal(text, want);
	free(text);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmp));
	assert_int_equal(mkdir(at("bmc"), 0700), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	return 0;
}

/* The site: three nodes; power is a file bmc/on-NAME; power_on checks
 * that the saved run state names the node first; power_off fails while
 * bmc/stuck exists. */
static struct rain_site *make_site(bool with_power)
{
	char uri[4200], on[8192], off[8192], status[4200], console[4200];
	const char *set[12] = { uri, "url=http://10.0.2.2:8080/netboot/lab",
				"nodes=n1=52:54:00:00:00:01 n2=52:54:00:00:00:02 n3=52:54:00:00:00:03",
				"ssh=n2=127.0.0.1:2202", NULL };
	struct rain_site *s;

	snprintf(uri, sizeof(uri), "uri=netboot:%s", at("site"));
	snprintf(on, sizeof(on), "power_on=sh -c 'grep -q \"\\\"node\\\": \\\"%%n\\\"\" %s && touch %s/on-%%n "
		 "&& echo on %%n >>%s/log'", at("run.json"), at("bmc"), at("bmc"));
	snprintf(off, sizeof(off), "power_off=sh -c 'test ! -e %s/stuck && rm -f %s/on-%%n && echo off %%n "
		 ">>%s/log'", at("bmc"), at("bmc"), at("bmc"));
	snprintf(status, sizeof(status), "power_status=test -e %s/on-%%n", at("bmc"));
	snprintf(console, sizeof(console), "console=%s/%%n.console", at("bmc"));
	if (with_power) {
		set[4] = on;
		set[5] = off;
		set[6] = status;
		set[7] = console;
	}
	assert_int_equal(rain_site_new("lab", set, "test [site.lab]", &s), 0);
	return s;
}

static int reg_save(void *ud, json_t *st)
{
	(void)ud;
	(void)st;
	return 0;
}

/* A real registration at the site (fake boot files): its state. */
static json_t *publish(struct rain_site *s)
{
	struct rain_target_op op = { .site = s, .reg_id = "reg-1", .workdir = tmp, .save = reg_save };
	struct rain_target_image img = { .id = "img", .name = "img" };
	struct rain_target_artifacts a = { 0 };
	char sha[65];
	int64_t size;

	assert_int_equal(fs_write_atomic(at("k"), "kernel", 6, 0600), 0);
	assert_int_equal(fs_write_atomic(at("i"), "initramfs", 9, 0600), 0);
	assert_int_equal(fs_write_atomic(at("r"), "root", 4, 0600), 0);
	assert_int_equal(fs_sha256_file(at("r"), sha, &size), 0);
	a.kernel = strdup(at("k"));
	a.initramfs = strdup(at("i"));
	a.rootfs = strdup(at("r"));
	a.rootfs_sha256 = strdup(sha);
	op.state = json_object();
	assert_int_equal(rain_target_publish(&op, &img, &a), 0);
	rain_target_artifacts_clear(&a);
	return op.state;
}

/* Every save: written where power_on looks, and every claim file holding
 * the run's id is named in it. */
static int run_save(void *ud, json_t *st)
{
	const char *names[] = { "n1", "n2", "n3" };

	(void)ud;
	for (size_t i = 0; i < 3; i++) {
		char rel[64], *holder;
		json_t *v;
		size_t j;
		bool named = false;

		snprintf(rel, sizeof(rel), "site/claims/%s", names[i]);
		holder = slurp(rel);
		if (!holder)
			continue;
		json_array_foreach(json_object_get(st, "claims"), j, v)
			named |= !strcmp(json_string_value(v), names[i]);
		if (!strcmp(holder, "r1\n") && !named)
			fail_msg("claim of %s not named in the state", names[i]);
		free(holder);
	}
	return json_dump_file(st, at("run.json"), JSON_INDENT(1)) == 0 ? 0 : RAIN_EIO;
}

static void op_init(struct rain_run_op *op, struct rain_site *s, json_t *reg, int n)
{
	memset(op, 0, sizeof(*op));
	op->site = s;
	op->run_id = "r1";
	op->workdir = tmp;
	op->registration = reg;
	op->n = n;
	op->key_public = key;
	op->state = json_object();
	op->save = run_save;
}

static void test_up_down(void **state)
{
	struct rain_site *s = make_site(true);
	json_t *reg = publish(s), *inst, *st;
	struct rain_run_op op;
	char *before1 = slurp("site/ipxe/52-54-00-00-00-01.ipxe"), *before2 = slurp("site/ipxe/52-54-00-00-00-02.ipxe"),
	     *before3 = slurp("site/ipxe/52-54-00-00-00-03.ipxe"), *text, *keyarg;

	(void)state;
	assert_non_null(before2);
	/* n1 is another run's */
	assert_int_equal(mkdir(at("site/claims"), 0755), 0);
	assert_int_equal(fs_write_atomic(at("site/claims/n1"), "r0\n", 3, 0644), 0);

	op_init(&op, s, reg, 2);
	assert_int_equal(rain_run_up(&op), 0);
	assert_int_equal(rain_run_instance_count(&op), 2);
	inst = rain_run_instance(&op, 0);
	assert_string_equal(json_string_value(json_object_get(inst, "name")), "rain-r1-1");
	assert_string_equal(json_string_value(json_object_get(inst, "node")), "n2");
	assert_string_equal(json_string_value(json_object_get(json_object_get(inst, "ssh"), "host")), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(inst, "ssh"), "port")), 2202);
	assert_string_equal(json_string_value(json_object_get(json_object_get(inst, "ssh"), "user")), "root");
	inst = rain_run_instance(&op, 1);
	assert_string_equal(json_string_value(json_object_get(inst, "node")), "n3");
	/* n3 is reached at its name */
	assert_string_equal(json_string_value(json_object_get(json_object_get(inst, "ssh"), "host")), "n3");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(inst, "ssh"), "port")), 22);
	assert_string_equal(json_string_value(json_object_get(inst, "console")), at("bmc/n3.console"));
	assert_file("site/claims/n2", "r1\n");
	assert_file("site/claims/n1", "r0\n");
	assert_file("bmc/log", "on n2\non n3\n");
	/* the scripts: the registration's boot with the key, marked */
	assert_int_equal(rain_netboot_key_arg(key, &keyarg), 0);
	text = slurp("site/ipxe/52-54-00-00-00-02.ipxe");
	assert_true(rain_netboot_ipxe_names(text, "reg-1"));
	assert_non_null(strstr(text, "\n# rain run r1\n"));
	assert_non_null(strstr(text, keyarg));
	assert_non_null(strstr(text, " rain.root=http://10.0.2.2:8080/netboot/lab/reg-1/root.squashfs "));
	free(text);
	free(keyarg);
	assert_file("site/ipxe/52-54-00-00-00-01.ipxe", before1);
	/* alive: power_status */
	assert_int_equal(rain_run_status(&op, &st), 0);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(st, "instances"), 0), "alive")));
	json_decref(st);
	unlink(at("bmc/on-n3"));
	assert_int_equal(rain_run_status(&op, &st), 0);
	assert_true(json_is_false(json_object_get(json_array_get(json_object_get(st, "instances"), 1), "alive")));
	json_decref(st);

	/* a power_off that fails: the nodes stay claimed and named */
	assert_int_equal(fs_write_atomic(at("bmc/stuck"), "", 0, 0600), 0);
	assert_int_equal(rain_run_down(&op), RAIN_EIO);
	assert_error_contains("power_off of node n2 exited with 1");
	assert_int_equal(rain_run_instance_count(&op), 2);
	assert_file("site/claims/n2", "r1\n");
	unlink(at("bmc/stuck"));
	assert_int_equal(rain_run_down(&op), 0);
	assert_int_equal(rain_run_instance_count(&op), 0);
	assert_null(json_object_get(op.state, "claims"));
	assert_int_equal(access(at("site/claims/n2"), F_OK), -1);
	assert_int_equal(access(at("site/claims/n3"), F_OK), -1);
	assert_file("site/claims/n1", "r0\n");
	assert_file("bmc/log", "on n2\non n3\noff n2\noff n3\n");
	assert_file("site/ipxe/52-54-00-00-00-02.ipxe", before2);
	assert_file("site/ipxe/52-54-00-00-00-03.ipxe", before3);
	/* down again: nothing to do */
	assert_int_equal(rain_run_down(&op), 0);
	json_decref(op.state);

	/* three asked for, two free: refused before any node is powered */
	unlink(at("bmc/log"));
	op_init(&op, s, reg, 3);
	assert_int_equal(rain_run_up(&op), RAIN_ECONFLICT);
	assert_error_contains("2 of its 3 nodes are free");
	assert_int_equal(access(at("bmc/log"), F_OK), -1);
	assert_int_equal(rain_run_down(&op), 0);
	assert_int_equal(access(at("site/claims/n2"), F_OK), -1);
	assert_file("site/claims/n1", "r0\n");
	json_decref(op.state);
	unlink(at("site/claims/n1"));

	/* a script a registration replaced while the run ran is left alone */
	op_init(&op, s, reg, 1);
	assert_int_equal(rain_run_up(&op), 0);
	assert_int_equal(fs_write_atomic(at("site/ipxe/52-54-00-00-00-01.ipxe"), "#!ipxe\n# newer\n", 15, 0644), 0);
	assert_int_equal(rain_run_down(&op), 0);
	assert_file("site/ipxe/52-54-00-00-00-01.ipxe", "#!ipxe\n# newer\n");
	assert_int_equal(access(at("site/claims"), F_OK), -1);
	json_decref(op.state);

	free(before1);
	free(before2);
	free(before3);
	json_decref(reg);
	rain_site_free(s);
}

static void test_refused(void **state)
{
	struct rain_site *s = make_site(false), *p;
	json_t *reg = publish(s), *empty = json_object();
	struct rain_run_op op;

	(void)state;
	op_init(&op, s, reg, 1);
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("runs need power_on and power_off");
	json_decref(op.state);

	p = make_site(true);
	op_init(&op, p, empty, 1);
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("no published netboot image");
	json_decref(op.state);
	op_init(&op, p, reg, 4);
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("has 3 nodes, not the 4");
	json_decref(op.state);
	op_init(&op, p, reg, 1);
	op.run_id = "r1\nboot http://evil/";
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("the run's id");
	json_decref(op.state);
	op_init(&op, p, reg, 1);
	op.key_public = "not a key";
	assert_int_equal(rain_run_up(&op), RAIN_EINVAL);
	assert_error_contains("no OpenSSH public key");
	json_decref(op.state);
	/* nothing was claimed or powered */
	assert_int_equal(access(at("site/claims"), F_OK), -1);
	assert_int_equal(access(at("bmc/log"), F_OK), -1);

	json_decref(empty);
	json_decref(reg);
	rain_site_free(s);
	rain_site_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_up_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
