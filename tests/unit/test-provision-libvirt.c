/* The libvirt provider (src/lib/provision/providers/libvirt.c) against
 * libvirt's own in-process test driver (test:///default: pools, volumes
 * and domains without a daemon or qemu), through rain_run_up, _down and
 * _status: what it refuses before it names anything (a site whose network
 * is not user, a remote URI, a bad run id, a registration without a
 * domain or of another URI, a registration volume that is gone, a domain
 * of an instance's name that exists already), the rule that every name is
 * in the state before the object is made (the test driver cannot upload,
 * so up fails at the first seed after the overlay was made: the state
 * names it and down removes it), alive from the domain's state, and down
 * removing what the state names, whatever exists. The runs on a real
 * libvirtd are t0161's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lib/target/drivers/libvirt-internal.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "rain/target.h"
#include "testutil.h"

#define URI "test:///default"
#define POOL "default-pool"
#define PUB "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9v rain-run-x"

static char tmp[] = "/tmp/rain-test-provlv.XXXXXX";
/* held open for the whole test: the test driver's default state lives
 * while a connection to it does */
static virConnectPtr conn;

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int setup(void **state)
{
	struct libvirt_domain d = {
		.name = "rain-r1", .type = "qemu", .arch = "x86_64", .memory_mib = 256, .vcpus = 1,
		.pool = POOL, .disk_volume = "rain-r1.qcow2", .disk_format = "qcow2",
		.seed_volume = "rain-r1-seed.iso", .network = "user", .reg_id = "r1",
	};
	virStoragePoolPtr pool;
	virStorageVolPtr vol;
	virDomainPtr dom;
	char *xml = NULL;

	(void)state;
	if (!mkdtemp(tmp))
		return -1;
	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen(URI);
	pool = conn ? virStoragePoolLookupByName(conn, POOL) : NULL;
	if (!pool)
		return -1;
	/* the registration: its disk volume and its domain */
	vol = virStorageVolCreateXML(pool, "<volume><name>rain-r1.qcow2</name><capacity>1073741824"
				     "</capacity><target><format type='qcow2'/></target></volume>", 0);
	if (!vol || libvirt_domain_xml(&d, &xml) < 0)
		return -1;
	dom = virDomainDefineXML(conn, xml);
	free(xml);
	if (!dom)
		return -1;
	virDomainFree(dom);
	virStorageVolFree(vol);
	virStoragePoolFree(pool);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virConnectClose(conn);
	test_rmtree(tmp);
	return 0;
}

static bool vol_exists(const char *name)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(conn, POOL);
	virStorageVolPtr v = virStorageVolLookupByName(pool, name);

	virStoragePoolFree(pool);
	if (v)
		virStorageVolFree(v);
	return v != NULL;
}

static bool dom_exists(const char *name)
{
	virDomainPtr d = virDomainLookupByName(conn, name);

	if (d)
		virDomainFree(d);
	return d != NULL;
}

struct run {
	struct rain_site *site;
	json_t *state, *reg;
	struct rain_run_op op;
};

/* A run of run_id at a site with extra (NULL-terminated, may be empty)
 * settings, of the registration r1. */
static void run_init(struct run *t, const char *run_id, int n, const char *extra)
{
	const char *settings[] = { "uri=libvirt:" URI, "pool=" POOL, extra, NULL };

	memset(t, 0, sizeof(*t));
	assert_int_equal(rain_site_new("lv", settings, "test", &t->site), 0);
	t->state = json_object();
	t->reg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uri", URI, "pool", POOL, "volume",
			   "rain-r1.qcow2", "seed", "rain-r1-seed.iso", "domain", "rain-r1");
	t->op = (struct rain_run_op){
		.site = t->site, .run_id = run_id, .workdir = tmp, .registration = t->reg, .n = n,
		.key_public = PUB, .state = t->state,
	};
}

static void run_clear(struct run *t)
{
	json_decref(t->state);
	json_decref(t->reg);
	rain_site_free(t->site);
}

static void test_refused(void **state)
{
	struct run t;

	(void)state;
	run_init(&t, "x1", 1, "network=bridge:br0");
	assert_int_equal(rain_run_up(&t.op), RAIN_EINVAL);
	assert_error_contains("network = bridge:br0: runs at libvirt sites");
	assert_int_equal(rain_run_instance_count(&t.op), 0);
	run_clear(&t);

	{
		const char *remote[] = { "uri=libvirt:qemu+ssh://elsewhere/system", NULL };

		run_init(&t, "x1", 1, NULL);
		rain_site_free(t.site);
		assert_int_equal(rain_site_new("far", remote, "test", &t.site), 0);
		t.op.site = t.site;
		assert_int_equal(rain_run_up(&t.op), RAIN_EINVAL);
		assert_error_contains("qemu+ssh://elsewhere/system is not on this host");
		run_clear(&t);
	}

	run_init(&t, "a/b", 1, NULL);
	assert_int_equal(rain_run_up(&t.op), RAIN_EINVAL);
	assert_error_contains("run id 'a/b' cannot name a domain");
	run_clear(&t);

	/* define_domain = no: nothing to make instances from */
	run_init(&t, "x1", 1, NULL);
	json_object_del(t.reg, "domain");
	assert_int_equal(rain_run_up(&t.op), RAIN_EINVAL);
	assert_error_contains("has no domain (define_domain = no)");
	run_clear(&t);

	run_init(&t, "x1", 1, NULL);
	json_object_set_new(t.reg, "uri", json_string("qemu:///system"));
	assert_int_equal(rain_run_up(&t.op), RAIN_EINVAL);
	assert_error_contains("the registration was made at qemu:///system");
	run_clear(&t);

	run_init(&t, "x1", 1, NULL);
	json_object_set_new(t.reg, "volume", json_string("rain-gone.qcow2"));
	assert_int_equal(rain_run_up(&t.op), RAIN_ENOTFOUND);
	assert_error_contains("the registration's volume rain-gone.qcow2 is not in pool");
	assert_int_equal(rain_run_instance_count(&t.op), 0);
	run_clear(&t);
}

/* A domain of an instance's name that rain did not make: refused before
 * it is named, and left alone. */
static void test_exists(void **state)
{
	virDomainPtr d;
	struct run t;

	(void)state;
	d = virDomainDefineXML(conn, "<domain type='test'><name>rain-x2-1</name><memory>1024</memory>"
			       "<os><type>hvm</type></os></domain>");
	assert_non_null(d);
	run_init(&t, "x2", 1, NULL);
	assert_int_equal(rain_run_up(&t.op), RAIN_EEXISTS);
	assert_error_contains("a domain rain-x2-1 exists already");
	assert_int_equal(rain_run_instance_count(&t.op), 0);
	assert_int_equal(rain_run_down(&t.op), 0);
	assert_true(dom_exists("rain-x2-1"));
	virDomainUndefine(d);
	virDomainFree(d);
	run_clear(&t);
}

/* up names the instance first: the test driver cannot upload the seed,
 * so up fails after the overlay was made; down removes it. */
static void test_named_first(void **state)
{
	virStoragePoolPtr pool;
	virStorageVolPtr vol;
	char *xml;
	json_t *inst;
	struct run t;

	(void)state;
	run_init(&t, "x3", 2, NULL);
	assert_int_not_equal(rain_run_up(&t.op), 0);
	assert_error_contains("rain-x3-1-seed.iso");
	assert_int_equal(rain_run_instance_count(&t.op), 1);
	inst = rain_run_instance(&t.op, 0);
	assert_string_equal(json_string_value(json_object_get(inst, "name")), "rain-x3-1");
	assert_string_equal(json_string_value(json_object_get(inst, "domain")), "rain-x3-1");
	assert_string_equal(json_string_value(json_object_get(inst, "volume")), "rain-x3-1.qcow2");
	assert_string_equal(json_string_value(json_object_get(inst, "seed")), "rain-x3-1-seed.iso");
	assert_string_equal(json_string_value(json_object_get(json_object_get(inst, "ssh"), "host")),
			    "127.0.0.1");
	assert_true(json_integer_value(json_object_get(json_object_get(inst, "ssh"), "port")) > 0);
	assert_string_equal(json_string_value(json_object_get(t.state, "pool")), POOL);
	/* the overlay: qcow2 over the registration's volume, its size */
	pool = virStoragePoolLookupByName(conn, POOL);
	vol = virStorageVolLookupByName(pool, "rain-x3-1.qcow2");
	assert_non_null(vol);
	xml = virStorageVolGetXMLDesc(vol, 0);
	assert_non_null(strstr(xml, "<backingStore>"));
	assert_non_null(strstr(xml, "/rain-r1.qcow2</path>"));
	assert_non_null(strstr(xml, "<capacity unit='bytes'>1073741824</capacity>"));
	free(xml);
	virStorageVolFree(vol);
	virStoragePoolFree(pool);
	/* the seed was written in the run's folder and removed again */
	{
		char seed[128];

		snprintf(seed, sizeof(seed), "%s/rain-x3-1-seed.iso", tmp);
		assert_true(access(seed, F_OK) != 0);
	}

	assert_int_equal(rain_run_down(&t.op), 0);
	assert_false(vol_exists("rain-x3-1.qcow2"));
	assert_int_equal(rain_run_instance_count(&t.op), 0);
	assert_true(vol_exists("rain-r1.qcow2"));
	assert_true(dom_exists("rain-r1"));
	run_clear(&t);
}

/* alive follows the domain; down removes domains and volumes the state
 * names, whatever of them exists, and leaves the registration's. */
static void test_alive_down(void **state)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(conn, POOL);
	virStorageVolPtr vol;
	virDomainPtr d;
	struct run t;

	(void)state;
	run_init(&t, "x4", 2, NULL);
	json_object_set_new(t.state, "pool", json_string(POOL));
	json_object_set_new(t.state, "instances",
			    json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]", "name",
				      "rain-x4-1", "domain", "rain-x4-1", "volume", "rain-x4-1.qcow2",
				      "seed", "rain-x4-1-seed.iso", "name", "rain-x4-2", "domain",
				      "rain-x4-2", "volume", "rain-x4-2.qcow2", "seed",
				      "rain-x4-2-seed.iso"));
	/* instance 1 exists and runs; of instance 2 only its seed was made */
	d = virDomainDefineXML(conn, "<domain type='test'><name>rain-x4-1</name><memory>1024</memory>"
			       "<os><type>hvm</type></os></domain>");
	assert_non_null(d);
	assert_int_equal(virDomainCreate(d), 0);
	vol = virStorageVolCreateXML(pool, "<volume><name>rain-x4-1.qcow2</name><capacity>1024"
				     "</capacity></volume>", 0);
	virStorageVolFree(vol);
	vol = virStorageVolCreateXML(pool, "<volume><name>rain-x4-2-seed.iso</name><capacity>1024"
				     "</capacity></volume>", 0);
	virStorageVolFree(vol);

	json_t *out = NULL;

	assert_int_equal(rain_run_status(&t.op, &out), 0);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(out, "instances"), 0),
						 "alive")));
	assert_true(json_is_false(json_object_get(json_array_get(json_object_get(out, "instances"), 1),
						  "alive")));
	json_decref(out);
	assert_int_equal(virDomainSuspend(d), 0);
	assert_int_equal(rain_run_status(&t.op, &out), 0);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(out, "instances"), 0),
						 "alive")));
	json_decref(out);
	assert_int_equal(virDomainDestroy(d), 0);
	virDomainFree(d);
	assert_int_equal(rain_run_status(&t.op, &out), 0);
	assert_true(json_is_false(json_object_get(json_array_get(json_object_get(out, "instances"), 0),
						  "alive")));
	json_decref(out);

	if (rain_run_down(&t.op) != 0)
		fail_msg("down: %s", rain_error_last());
	assert_false(dom_exists("rain-x4-1"));
	assert_false(vol_exists("rain-x4-1.qcow2"));
	assert_false(vol_exists("rain-x4-2-seed.iso"));
	assert_int_equal(rain_run_instance_count(&t.op), 0);
	assert_null(json_object_get(t.state, "pool"));
	assert_true(vol_exists("rain-r1.qcow2"));
	assert_true(dom_exists("rain-r1"));
	/* again: nothing to do */
	assert_int_equal(rain_run_down(&t.op), 0);
	virStoragePoolFree(pool);
	run_clear(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_exists),
		cmocka_unit_test(test_named_first),
		cmocka_unit_test(test_alive_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
