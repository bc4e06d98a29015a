/* Unit tests for src/lib/provision/run-kind.c with a real repository in a
 * temporary folder, a container site and an openstack one (no provider):
 * what a run's submission is refused for (n, walltime, command or
 * script, output paths, site, who may use it, image, registration) and
 * what it finds (the user's registration of the image's current data,
 * an image named rather than given by id), and the instances read back
 * from a run's state, and the shared-folder policy
 * (rain_run_share_allowed) on real folders and symlinks. The container site's kind gets a provider through
 * the driver registry (rain/sys/registry.h) when rain has none built in,
 * so that a site that runs things is checked whatever providers exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "rain/register-kind.h"
#include "rain/repo.h"
#include "rain/run-kind.h"
#include "rain/sys/provider.h"
#include "rain/sys/registry.h"
#include "rain/target.h"
#include "util/cleanup-json.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static const struct rain_who alice = { .owner = "alice" };
static const struct rain_who bob = { .owner = "bob" };

struct fixture {
	char base[64];
	struct rain_repo *repo;
	struct rain_site *sites[3];
	struct rain_register_kind *reg;
	struct rain_run_kind *run;
	char image[37];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rain_repo_options opts = { 0 };
	char data[96], cache[96], box[96], uri[128];
	const char *box_set[] = { uri, NULL };
	const char *few_set[] = { uri, "users=carol", NULL };
	char clouds[96], clouds_set[128];
	const char *cloud_set[] = { "uri=openstack:test", clouds_set, NULL };
	static const char clouds_text[] = "clouds:\n  test:\n    auth_type: none\n"
					  "    image_endpoint_override: http://127.0.0.1:9\n";
	struct rain_register_kind_config rc = { 0 };
	struct rain_run_kind_config kc = { 0 };
	_cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s}", "name", "hello", "disk_format",
						"raw", "container_format", "bare");
	struct rain_image *img = NULL;
	struct rain_upload *up = NULL;

	if (!f || !body)
		return -1;
	snprintf(f->base, sizeof(f->base), "/tmp/rain-test-run-kind.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(data, sizeof(data), "%s/data", f->base);
	snprintf(cache, sizeof(cache), "%s/cache", f->base);
	snprintf(box, sizeof(box), "%s/box", f->base);
	snprintf(uri, sizeof(uri), "uri=container:%s", box);
	snprintf(clouds, sizeof(clouds), "%s/clouds.yaml", f->base);
	snprintf(clouds_set, sizeof(clouds_set), "clouds_yaml=%s", clouds);
	opts.data_dir = data;
	if (fs_write_atomic(clouds, clouds_text, strlen(clouds_text), 0600) < 0)
		return -1;
	if (fs_mkdir_p(box, 0755) < 0 || rain_repo_open(&f->repo, &opts, NULL) < 0 ||
	    rain_site_new("box", box_set, "test [site.box]", &f->sites[0]) < 0 ||
	    rain_site_new("few", few_set, "test [site.few]", &f->sites[1]) < 0 ||
	    rain_site_new("cloud", cloud_set, "test [site.cloud]", &f->sites[2]) < 0) {
		fprintf(stderr, "setup: %s\n", rain_error_last());
		return -1;
	}
	rc = (struct rain_register_kind_config){ .repo = f->repo, .sites = f->sites, .nsites = 3,
						 .cache_dir = cache };
	if (rain_register_kind_new(&rc, &f->reg) < 0)
		return -1;
	kc = (struct rain_run_kind_config){ .repo = f->repo, .registrations = f->reg,
					    .rain_command = "rain", .max_per_run = 4,
					    .max_walltime_s = 3600 };
	if (rain_run_kind_new(&kc, &f->run) < 0)
		return -1;
	/* alice's image, with data */
	if (rain_repo_image_create(f->repo, &alice, body, &img) < 0)
		return -1;
	snprintf(f->image, sizeof(f->image), "%s", img->id);
	rain_image_free(img);
	img = NULL;
	if (rain_repo_upload_begin(f->repo, &alice, f->image, 5, &up) < 0 ||
	    rain_repo_upload_write(up, "hello", 5) < 0 || rain_repo_upload_finish(up, &img) < 0) {
		fprintf(stderr, "upload: %s\n", rain_error_last());
		return -1;
	}
	rain_image_free(img);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rain_run_kind_free(f->run);
	rain_register_kind_free(f->reg);
	for (size_t i = 0; i < 3; i++)
		rain_site_free(f->sites[i]);
	rain_repo_close(f->repo);
	test_rmtree(f->base);
	free(f);
	return 0;
}

/* A registration of the image at site by owner with status and the
 * image data's hash sha. */
static void put_registration(struct fixture *f, const char *id, const char *site,
			     const char *owner, const char *status, const char *sha)
{
	struct rain_registration reg = { .created_at = time_now_us(), .updated_at = time_now_us() };
	char doc[256];

	snprintf(reg.id, sizeof(reg.id), "%s", id);
	snprintf(reg.image_id, sizeof(reg.image_id), "%s", f->image);
	snprintf(reg.site, sizeof(reg.site), "%s", site);
	snprintf(reg.owner, sizeof(reg.owner), "%s", owner);
	snprintf(reg.status, sizeof(reg.status), "%s", status);
	snprintf(doc, sizeof(doc), "{\"image_name\": \"hello\", \"image_sha256\": \"%s\", "
		 "\"state\": {\"site\": \"%s\", \"tree\": \"/x\"}}", sha, site);
	reg.doc = doc;
	assert_int_equal(rain_catalog_registration_put(rain_repo_catalog(f->repo), &reg), 0);
}

static const char *const echo[] = { "echo", "hi", NULL };

static struct rain_run_input input(struct fixture *f, const struct rain_who *who)
{
	return (struct rain_run_input){ .image = f->image, .site = "box", .n = 1,
					.argv = echo, .who = who };
}

static void test_input_refused(void **state)
{
	struct fixture *f = *state;
	struct rain_run_input in = input(f, &alice);
	static const char *const empty[] = { NULL };
	static const char *const blank[] = { "", NULL };
	static const char *const bad_out[] = { "ok.txt", "bad\001name", NULL };
	const char *many[40];

	in.n = 0;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("at least 1");
	in.n = 5;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_ETOOBIG);
	assert_error_contains("max_per_run");
	in.n = 1;
	in.walltime_s = 3601;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("max_walltime");
	in.walltime_s = -1;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	in.walltime_s = 0;
	in.argv = NULL;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("a command or a script");
	in.argv = echo;
	in.script = "echo hi\n";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	in.script = NULL;
	in.argv = empty;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("empty");
	in.argv = blank;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	in.argv = echo;
	in.out = bad_out;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("printable");
	for (size_t i = 0; i < 39; i++)
		many[i] = "a";
	many[39] = NULL;
	in.out = many;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_ETOOBIG);
}

static void test_site_refused(void **state)
{
	struct fixture *f = *state;
	struct rain_run_input in = input(f, &alice);

	in.site = "nowhere";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_ENOTFOUND);
	assert_error_contains("box, few, cloud");
	in.site = "few";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EFORBIDDEN);
	assert_error_contains("carol");
	/* an openstack site registers images but runs nothing */
	in.site = "cloud";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("no provider");
}

static void test_image_refused(void **state)
{
	struct fixture *f = *state;
	struct rain_run_input in = input(f, &alice);
	struct rain_run_input other = input(f, &bob);

	in.image = "no-such-image";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_ENOTFOUND);
	assert_error_contains("no image named 'no-such-image'");
	in.image = "0b6f1e36-3f5e-4d5b-9a9e-6c1d2b3a4f50";
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_ENOTFOUND);
	/* alice's private image is not bob's to run */
	assert_true(rain_run_check(f->run, &other, NULL) < 0);
	other.image = "hello";
	assert_int_equal(rain_run_check(f->run, &other, NULL), RAIN_ENOTFOUND);
}

static void test_registration(void **state)
{
	struct fixture *f = *state;
	struct rain_run_input in = input(f, &alice);
	struct rain_registration reg;

	/* none: register first */
	assert_int_equal(rain_run_check(f->run, &in, &reg), RAIN_ENOTFOUND);
	assert_error_contains("register it first");
	assert_error_contains("rain register");
	/* bob's, one that failed, one of other data: not alice's registration */
	put_registration(f, "11111111-1111-4111-8111-111111111111", "box", "bob", "registered",
			 SHA_HELLO);
	put_registration(f, "22222222-2222-4222-8222-222222222222", "box", "alice", "failed",
			 SHA_HELLO);
	put_registration(f, "33333333-3333-4333-8333-333333333333", "box", "alice", "registered",
			 "00000000000000000000000000000000000000000000000000000000000000ff");
	assert_int_equal(rain_run_check(f->run, &in, &reg), RAIN_ENOTFOUND);
	put_registration(f, "44444444-4444-4444-8444-444444444444", "box", "alice", "registered",
			 SHA_HELLO);
	assert_int_equal(rain_run_check(f->run, &in, &reg), 0);
	assert_string_equal(reg.id, "44444444-4444-4444-8444-444444444444");
	assert_non_null(strstr(reg.doc, "\"tree\""));
	free(reg.doc);
	/* by name, with a script and output paths */
	in.image = "hello";
	in.argv = NULL;
	in.script = "#!/bin/sh\necho hi\n";
	in.out = (const char *const[]){ "result.txt", "/var/log/x", NULL };
	in.n = 4;
	in.walltime_s = 3600;
	assert_int_equal(rain_run_check(f->run, &in, NULL), 0);
}

static void test_instances(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[160];
	_cleanup_json_ json_t *none = NULL, *two = NULL;
	static const char state_text[] =
		"{\"registration\": {}, \"instances\": ["
		"{\"name\": \"rain-R-1\", \"ssh\": {\"host\": \"127.0.0.1\", \"port\": 2201}, "
		"\"console\": \"/secret/path\", \"pid\": 42},"
		"{\"name\": \"rain-R-2\"}, {\"no-name\": true}]}";

	snprintf(dir, sizeof(dir), "%s/run", f->base);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	none = rain_run_instances(dir);
	assert_int_equal(json_array_size(none), 0);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(fs_write_atomic(path, state_text, strlen(state_text), 0600), 0);
	two = rain_run_instances(dir);
	assert_int_equal(json_array_size(two), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(two, 0), "name")),
			    "rain-R-1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(two, 0),
									    "ssh"), "port")), 2201);
	assert_null(json_object_get(json_array_get(two, 0), "console"));
	assert_null(json_object_get(json_array_get(two, 0), "pid"));
	assert_null(json_object_get(json_array_get(two, 1), "ssh"));
	/* a state that is no JSON object: no instances */
	assert_int_equal(fs_write_atomic(path, "[1]", 3, 0600), 0);
	json_decref(two);
	two = rain_run_instances(dir);
	assert_int_equal(json_array_size(two), 0);
}

/* The instances a run had: up while its state names them, then gone,
 * each with its ssh address (or null). */
static void test_history(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[160];
	_cleanup_json_ json_t *none = NULL, *h = NULL;
	static const char state_text[] =
		"{\"instances\": [{\"name\": \"rain-H-2\"}],"
		" \"history\": [{\"name\": \"rain-H-1\", \"ssh\": {\"host\": \"127.0.0.1\", \"port\": 2201}},"
		" {\"name\": \"rain-H-2\"}, {\"ssh\": {}}]}";

	snprintf(dir, sizeof(dir), "%s/hist", f->base);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	none = rain_run_history(dir);
	assert_int_equal(json_array_size(none), 0);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(fs_write_atomic(path, state_text, strlen(state_text), 0600), 0);
	h = rain_run_history(dir);
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "name")), "rain-H-1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "address")),
			    "127.0.0.1:2201");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "state")), "gone");
	assert_true(json_is_null(json_object_get(json_array_get(h, 1), "address")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "state")), "up");
}

/* The shared-folder policy: roots with %u, real paths, symlinks in and
 * out, another user's folder, '..', a prefix that is not a parent. */
static void test_share(void **state)
{
	struct fixture *f = *state;
	char roots[256], p[7][192], q[256];
	struct rain_run_input in = input(f, &alice);
	char *real = NULL;

	snprintf(p[0], sizeof(p[0]), "%s/share/alice/work", f->base);
	snprintf(p[1], sizeof(p[1]), "%s/share/bob", f->base);
	snprintf(p[2], sizeof(p[2]), "%s/share/alice2", f->base);
	snprintf(p[3], sizeof(p[3]), "%s/share/alice/out", f->base);      /* -> base */
	snprintf(p[4], sizeof(p[4]), "%s/share/alice/in", f->base);       /* -> work */
	snprintf(p[5], sizeof(p[5]), "%s/share/alice/file", f->base);
	snprintf(p[6], sizeof(p[6]), "%s/share/alice", f->base);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fs_mkdir_p(p[i], 0700), 0);
	assert_int_equal(symlink(f->base, p[3]), 0);
	assert_int_equal(symlink("work", p[4]), 0);
	assert_int_equal(fs_write_atomic(p[5], "x", 1, 0600), 0);
	snprintf(roots, sizeof(roots), "/nonexistent/%%u %s/share/%%u", f->base);

	assert_int_equal(rain_run_share_allowed(NULL, "alice", p[0], &real), RAIN_EFORBIDDEN);
	assert_error_contains("share_roots is not set");
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[0], &real), 0);
	assert_string_equal(real, p[0]);
	free(real);
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[6], &real), 0);
	assert_string_equal(real, p[6]);
	free(real);
	/* a symlink that stays inside: its target is what is shared */
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[4], &real), 0);
	assert_string_equal(real, p[0]);
	free(real);
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[3], &real), RAIN_EFORBIDDEN);
	assert_error_contains("really");
	assert_error_contains("not under a folder this server lets alice share");
	assert_null(real);
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[1], &real), RAIN_EFORBIDDEN);
	assert_int_equal(rain_run_share_allowed(roots, "bob", p[1], &real), 0);
	free(real);
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[2], &real), RAIN_EFORBIDDEN);
	assert_int_equal(rain_run_share_allowed(roots, "alice", p[5], &real), RAIN_EINVAL);
	assert_error_contains("not a folder");
	snprintf(q, sizeof(q), "%s/../bob", p[0]);
	assert_int_equal(rain_run_share_allowed(roots, "alice", q, &real), RAIN_EINVAL);
	assert_error_contains("'..'");
	assert_int_equal(rain_run_share_allowed(roots, "alice", "share/alice", &real), RAIN_EINVAL);
	assert_int_equal(rain_run_share_allowed(roots, "../x", p[0], &real), RAIN_EFORBIDDEN);
	snprintf(q, sizeof(q), "%s/nosuch", p[6]);
	assert_int_equal(rain_run_share_allowed(roots, "alice", q, &real), RAIN_ENOTFOUND);

	/* a run asking for a share at a site whose provider cannot */
	in.share = p[0];
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("cannot have a host folder shared in");
	in.share = NULL;
	in.share_rw = true;
	assert_int_equal(rain_run_check(f->run, &in, NULL), RAIN_EINVAL);
	assert_error_contains("share_rw goes with");
}

static int noop(struct rain_run_op *op)
{
	(void)op;
	return 0;
}

static const struct rain_provider_driver container_provider = {
	.version = RAIN_PROVIDER_DRIVER_VERSION, .scheme = "container", .up = noop, .down = noop,
};
static const struct rain_driver container_driver = {
	.kind = "provider", .scheme = "container", .usage = "container:DIR",
	.table = &container_provider,
};

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_input_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_site_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share, setup, teardown),
	};

	if (rain_driver_register(&container_driver) < 0) {
		fprintf(stderr, "register: %s\n", rain_error_last());
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
