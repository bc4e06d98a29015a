/* Unit tests for src/lib/client/clouds.c: clouds.yaml entries (as
 * openstacksdk's documentation writes them), hostile YAML, the standard
 * search for the file, the Keystone v3 login body and the image endpoint
 * from a token's catalog. Logging in for real is t0151's (raind's
 * Keystone, a real Glance). */
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

#include "rain/clouds.h"
#include "rain/error.h"
#include "testutil.h"

static const char full[] =
	"# a comment\n"
	"clouds:\n"
	"  devstack:\n"
	"    auth:\n"
	"      auth_url: http://keystone.example:5000/v3\n"
	"      username: demo\n"
	"      password: 's3cret: with colon'\n"
	"      project_name: demo-project\n"
	"      user_domain_name: Users\n"
	"      project_domain_name: Projects\n"
	"    region_name: RegionTwo\n"
	"    interface: internal\n"
	"    identity_api_version: 3\n"
	"    cacert: /etc/ssl/ca.pem\n"
	"    verify: false\n"
	"  glance-only:\n"
	"    auth_type: none\n"
	"    image_endpoint_override: http://127.0.0.1:9292/v2/\n"
	"  domains:\n"
	"    auth: {auth_url: 'https://k', user_id: u1, password: p, project_id: p1, domain_id: d9}\n";

static struct rain_cloud *parse_ok(const char *text, const char *name)
{
	struct rain_cloud *c = NULL;
	int r = rain_cloud_parse(text, strlen(text), "clouds.yaml", name, &c);

	if (r < 0)
		fail_msg("parse failed: %s", rain_error_last());
	return c;
}

static void test_parse_password(void **state)
{
	struct rain_cloud *c = parse_ok(full, "devstack");

	assert_string_equal(c->name, "devstack");
	assert_string_equal(c->file, "clouds.yaml");
	assert_int_equal(c->auth_type, RAIN_CLOUD_AUTH_PASSWORD);
	assert_string_equal(c->auth_url, "http://keystone.example:5000/v3");
	assert_string_equal(c->username, "demo");
	assert_string_equal(c->password, "s3cret: with colon");
	assert_string_equal(c->project_name, "demo-project");
	assert_string_equal(c->user_domain_name, "Users");
	assert_string_equal(c->project_domain_name, "Projects");
	assert_string_equal(c->region_name, "RegionTwo");
	assert_string_equal(c->interface, "internal");
	assert_string_equal(c->cacert, "/etc/ssl/ca.pem");
	assert_true(c->insecure);
	assert_null(c->image_endpoint);
	rain_cloud_free(c);
}

static void test_parse_none_and_ids(void **state)
{
	struct rain_cloud *c = parse_ok(full, "glance-only");

	assert_int_equal(c->auth_type, RAIN_CLOUD_AUTH_NONE);
	assert_string_equal(c->image_endpoint, "http://127.0.0.1:9292/v2/");
	assert_string_equal(c->interface, "public");
	assert_false(c->insecure);
	assert_null(c->auth_url);
	rain_cloud_free(c);

	/* domain_id stands for both domains; flow style */
	c = parse_ok(full, "domains");
	assert_string_equal(c->user_id, "u1");
	assert_null(c->username);
	assert_string_equal(c->project_id, "p1");
	assert_string_equal(c->user_domain_id, "d9");
	assert_string_equal(c->project_domain_id, "d9");
	rain_cloud_free(c);
}

static void expect_parse(const char *text, const char *name, int code, const char *msg)
{
	struct rain_cloud *c = (void *)1;

	assert_int_equal(rain_cloud_parse(text, strlen(text), "f.yaml", name, &c), code);
	assert_null(c);
	assert_error_contains(msg);
}

static void test_parse_errors(void **state)
{
	expect_parse(full, "nope", RAIN_ENOTFOUND, "f.yaml has no cloud 'nope' (it has: devstack, glance-only, domains)");
	expect_parse("clouds: [a, b]\n", "a", RAIN_EFORMAT, "no \"clouds:\" mapping");
	expect_parse("", "a", RAIN_EFORMAT, "no \"clouds:\" mapping");
	expect_parse("clouds:\n  a: {auth: {auth_url: x\n", "a", RAIN_EFORMAT, "f.yaml: not YAML");
	expect_parse("clouds:\n  a:\n\tauth: 1\n", "a", RAIN_EFORMAT, "(line 3");
	expect_parse("clouds:\n  a: 1\n", "a", RAIN_EINVAL, "cloud 'a' is not a mapping");
	expect_parse("clouds:\n  a: {auth: [1]}\n", "a", RAIN_EINVAL, "auth is not a mapping");
	expect_parse("clouds:\n  a: {auth: {username: u, password: p}}\n", "a", RAIN_EINVAL,
		     "cloud 'a' has no auth.auth_url");
	expect_parse("clouds:\n  a: {auth: {auth_url: u, password: p}}\n", "a", RAIN_EINVAL,
		     "has no auth.username");
	expect_parse("clouds:\n  a: {auth: {auth_url: u, username: p}}\n", "a", RAIN_EINVAL,
		     "has no auth.password");
	expect_parse("clouds:\n  a: {auth: {auth_url: u, username: [p], password: p}}\n", "a", RAIN_EINVAL,
		     "auth.username must be a single value");
	expect_parse("clouds:\n  a: {auth_type: v3token}\n", "a", RAIN_EINVAL,
		     "auth_type 'v3token' is not supported (password or none)");
	expect_parse("clouds:\n  a: {auth_type: none, identity_api_version: 2}\n", "a", RAIN_EINVAL,
		     "identity_api_version 2 is not supported");
	expect_parse("clouds:\n  a: {auth_type: none, verify: maybe}\n", "a", RAIN_EINVAL,
		     "verify must be true or false");
	expect_parse("clouds:\n  a: {auth_type: none, interface: private}\n", "a", RAIN_EINVAL,
		     "interface 'private' is not public, internal or admin");
	expect_parse("clouds:\n  ? [a]\n  : 1\n", "a", RAIN_EFORMAT, "a key that is not a plain value");
}

/* a billion laughs, a deep nest, invalid UTF-8: refused within bounds */
static void test_yaml_bounds(void **state)
{
	char *deep;
	size_t n = 0;
	json_t *j;
	static const char laughs[] =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";

	assert_int_equal(rain_yaml_to_json(laughs, strlen(laughs), "l.yaml", &j), RAIN_EFORMAT);
	assert_null(j);
	assert_error_contains("more than 100000 values");

	deep = malloc(200 * 2 + 1);
	assert_non_null(deep);
	for (int i = 0; i < 200; i++)
		deep[n++] = '[';
	for (int i = 0; i < 200; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	assert_int_equal(rain_yaml_to_json(deep, n, "d.yaml", &j), RAIN_EFORMAT);
	assert_error_contains("deeper than 64 levels");
	free(deep);

	assert_int_equal(rain_yaml_to_json("a: \xff\n", 5, "u.yaml", &j), RAIN_EFORMAT);

	/* what passes: scalars as strings, an anchor used twice */
	assert_int_equal(rain_yaml_to_json("x: &v 3\ny: [*v, true]\n", 22, "ok.yaml", &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "x")), "3");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "y"), 0)), "3");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "y"), 1)), "true");
	json_decref(j);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* $OS_CLIENT_CONFIG_FILE, ./clouds.yaml, $XDG_CONFIG_HOME/openstack */
static void test_find_file(void **state)
{
	char dir[] = "/tmp/rain-test-clouds.XXXXXX", cwd[4096], path[4200], path2[4200];
	struct rain_cloud *c;
	char *f;

	assert_non_null(mkdtemp(dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	unsetenv("OS_CLIENT_CONFIG_FILE");
	setenv("XDG_CONFIG_HOME", dir, 1);
	setenv("HOME", dir, 1);
	if (access("/etc/openstack/clouds.yaml", F_OK) != 0) {
		assert_int_equal(rain_cloud_find_file(NULL, &f), RAIN_ENOTFOUND);
		assert_error_contains("looked at clouds.yaml, ");
		assert_error_contains("/openstack/clouds.yaml, /etc/openstack/clouds.yaml");
	}
	snprintf(path, sizeof(path), "%s/openstack", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/openstack/clouds.yaml", dir);
	write_file(path, "clouds: {x: {auth_type: none, image_endpoint_override: 'http://a'}}\n");
	assert_int_equal(rain_cloud_find_file(NULL, &f), 0);
	assert_string_equal(f, path);
	free(f);
	write_file("clouds.yaml", "clouds: {y: {auth_type: none}}\n");
	assert_int_equal(rain_cloud_find_file(NULL, &f), 0);
	assert_string_equal(f, "clouds.yaml");
	free(f);
	snprintf(path2, sizeof(path2), "%s/env.yaml", dir);
	setenv("OS_CLIENT_CONFIG_FILE", path2, 1);
	write_file(path2, "clouds: {z: {auth_type: none}}\n");
	assert_int_equal(rain_cloud_load(NULL, "z", &c), 0);
	assert_string_equal(c->file, path2);
	rain_cloud_free(c);
	/* an explicit path wins, even when it does not exist */
	assert_int_equal(rain_cloud_load(path, "x", &c), 0);
	assert_string_equal(c->image_endpoint, "http://a");
	rain_cloud_free(c);
	assert_int_equal(rain_cloud_load("/nonexistent/clouds.yaml", "x", &c), RAIN_ENOTFOUND);
	assert_error_contains("/nonexistent/clouds.yaml");
	unsetenv("OS_CLIENT_CONFIG_FILE");
	assert_int_equal(chdir(cwd), 0);
	test_rmtree(dir);
}

static void test_auth_body(void **state)
{
	struct rain_cloud *c = parse_ok(full, "devstack");
	json_t *b, *user, *project;

	assert_int_equal(rain_cloud_auth_body(c, &b), 0);
	user = json_object_get(json_object_get(json_object_get(json_object_get(b, "auth"), "identity"),
					       "password"), "user");
	assert_string_equal(json_string_value(json_object_get(user, "name")), "demo");
	assert_string_equal(json_string_value(json_object_get(user, "password")), "s3cret: with colon");
	assert_string_equal(json_string_value(json_object_get(json_object_get(user, "domain"), "name")), "Users");
	project = json_object_get(json_object_get(json_object_get(b, "auth"), "scope"), "project");
	assert_string_equal(json_string_value(json_object_get(project, "name")), "demo-project");
	assert_string_equal(json_string_value(json_object_get(json_object_get(project, "domain"), "name")),
			    "Projects");
	json_decref(b);
	rain_cloud_free(c);

	/* ids, and the default domain when none is named */
	c = parse_ok(full, "domains");
	assert_int_equal(rain_cloud_auth_body(c, &b), 0);
	user = json_object_get(json_object_get(json_object_get(json_object_get(b, "auth"), "identity"),
					       "password"), "user");
	assert_string_equal(json_string_value(json_object_get(user, "id")), "u1");
	assert_null(json_object_get(user, "domain"));
	json_decref(b);
	rain_cloud_free(c);
	c = parse_ok("clouds: {a: {auth: {auth_url: u, username: n, password: p}}}", "a");
	assert_int_equal(rain_cloud_auth_body(c, &b), 0);
	user = json_object_get(json_object_get(json_object_get(json_object_get(b, "auth"), "identity"),
					       "password"), "user");
	assert_string_equal(json_string_value(json_object_get(json_object_get(user, "domain"), "id")), "default");
	assert_null(json_object_get(json_object_get(b, "auth"), "scope"));
	json_decref(b);
	rain_cloud_free(c);

	c = parse_ok(full, "glance-only");
	assert_int_equal(rain_cloud_auth_body(c, &b), RAIN_EINVAL);
	rain_cloud_free(c);
}

static void test_image_url(void **state)
{
	struct rain_cloud *c = parse_ok(full, "devstack");
	json_t *tok = json_pack("{s:{s:[{s:s, s:[]}, {s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, "
				"{s:s, s:s, s:s}]}]}}", "token", "catalog",
				"type", "identity", "endpoints",
				"type", "image", "endpoints",
				"interface", "public", "region", "RegionTwo", "url", "http://pub:9292",
				"interface", "internal", "region", "RegionOne", "url", "http://one:9292",
				"interface", "internal", "region_id", "RegionTwo", "url", "http://two:9292/v2/");
	char *url;

	assert_int_equal(rain_cloud_image_url(c, tok, &url), 0);
	assert_string_equal(url, "http://two:9292");
	free(url);
	free(c->region_name);
	c->region_name = strdup("RegionThree");
	assert_int_equal(rain_cloud_image_url(c, tok, &url), RAIN_ENOTFOUND);
	assert_error_contains("has no image service (type image, interface internal, region RegionThree)");
	json_decref(tok);
	rain_cloud_free(c);
}

/* auth_type none without an endpoint, and one that is no URL: refused
 * before anything is sent */
static void test_connect_refusals(void **state)
{
	struct rain_cloud *c = parse_ok("clouds: {a: {auth_type: none}}", "a");
	struct rain_client *cl = (void *)1;

	assert_int_equal(rain_cloud_connect(c, NULL, 0, &cl), RAIN_EINVAL);
	assert_null(cl);
	assert_error_contains("has auth_type none but no image_endpoint_override");
	assert_int_equal(rain_cloud_connect(c, "ftp://x", 0, &cl), RAIN_EINVAL);
	assert_error_contains("cloud 'a' in clouds.yaml: server URL 'ftp://x' must start with http://");
	rain_cloud_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_password),
		cmocka_unit_test(test_parse_none_and_ids),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_yaml_bounds),
		cmocka_unit_test(test_find_file),
		cmocka_unit_test(test_auth_body),
		cmocka_unit_test(test_image_url),
		cmocka_unit_test(test_connect_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
