/* Unit tests for src/lib/repo/image.c: the image record, attribute validation
 * as Glance does it, JSON patches applied to a record, and the API's JSON
 * representation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/image.h"
#include "rain/repo.h"
#include "rain/jsonpatch.h"
#include "util/strutil.h"

#define ID "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f"

static int img_setup(void **state)
{
	struct rain_image *img = rain_image_new();

	if (!img)
		return -1;
	snprintf(img->id, sizeof(img->id), "%s", ID);
	*state = img;
	return 0;
}

static int img_teardown(void **state)
{
	rain_image_free(*state);
	return 0;
}

/* attr_set with a JSON value that is released afterwards. */
static int set(struct rain_image *img, const char *name, json_t *v)
{
	int r = rain_image_attr_set(img, name, v);

	json_decref(v);
	return r;
}

static int set_str(struct rain_image *img, const char *name, const char *s)
{
	return set(img, name, json_string(s));
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int patch(struct rain_image *img, const char *text)
{
	struct rain_jsonpatch *p = NULL;
	int r = rain_jsonpatch_parse(text, strlen(text), &p);

	if (r < 0)
		fail_msg("bad patch in test: %s", rain_error_last());
	r = rain_image_apply_patch(img, p);
	rain_jsonpatch_free(p);
	return r;
}

static void test_new_defaults(void **state)
{
	struct rain_image *img = rain_image_new();

	assert_non_null(img);
	assert_string_equal(img->id, "");
	assert_null(img->name);
	assert_int_equal(img->status, RAIN_STATUS_QUEUED);
	assert_int_equal(img->visibility, RAIN_VIS_SHARED);
	assert_false(img->protected_);
	assert_false(img->os_hidden);
	assert_true(img->size == -1);
	assert_true(img->virtual_size == -1);
	assert_true(img->min_disk == 0);
	assert_true(img->min_ram == 0);
	assert_null(img->checksum);
	assert_null(img->os_hash_algo);
	assert_null(img->os_hash_value);
	assert_null(img->disk_format);
	assert_null(img->container_format);
	assert_null(img->owner);
	assert_int_equal(img->ntags, 0);
	assert_int_equal(img->nprops, 0);
	rain_image_free(img);
	rain_image_free(NULL);
}

static void test_names_and_parse(void **state)
{
	static const char *const statuses[] = {
		"queued", "saving", "active", "killed", "deleted", "deactivated"
	};
	static const char *const vis[] = { "private", "shared", "community", "public" };
	enum rain_image_status s;
	enum rain_visibility v;

	for (int i = 0; i < 6; i++) {
		assert_string_equal(rain_image_status_name((enum rain_image_status)i), statuses[i]);
		assert_int_equal(rain_image_status_parse(statuses[i], &s), 0);
		assert_int_equal(s, i);
	}
	for (int i = 0; i < 4; i++) {
		assert_string_equal(rain_visibility_name((enum rain_visibility)i), vis[i]);
		assert_int_equal(rain_visibility_parse(vis[i], &v), 0);
		assert_int_equal(v, i);
	}
	assert_string_equal(rain_image_status_name((enum rain_image_status)99), "unknown");
	assert_string_equal(rain_visibility_name((enum rain_visibility)-1), "unknown");
	s = RAIN_STATUS_ACTIVE;
	assert_int_equal(rain_image_status_parse("Active", &s), RAIN_EINVAL);
	assert_int_equal(rain_image_status_parse("", &s), RAIN_EINVAL);
	assert_int_equal(s, RAIN_STATUS_ACTIVE);
	v = RAIN_VIS_PUBLIC;
	assert_int_equal(rain_visibility_parse("all", &v), RAIN_EINVAL);
	assert_error_contains("invalid visibility 'all'");
	assert_int_equal(v, RAIN_VIS_PUBLIC);
}

static void test_attr_groups(void **state)
{
	static const char *const core[] = {
		"name", "visibility", "protected", "os_hidden", "disk_format",
		"container_format", "min_disk", "min_ram", "tags"
	};
	static const char *const ro[] = {
		"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
		"virtual_size", "owner", "created_at", "updated_at", "self", "file",
		"schema", "direct_url", "locations", "download_count", "last_accessed_at"
	};

	for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++) {
		assert_true(rain_image_attr_is_core(core[i]));
		assert_false(rain_image_attr_is_readonly(core[i]));
	}
	for (size_t i = 0; i < sizeof(ro) / sizeof(*ro); i++) {
		assert_true(rain_image_attr_is_readonly(ro[i]));
		assert_false(rain_image_attr_is_core(ro[i]));
	}
	assert_false(rain_image_attr_is_core("os_distro"));
	assert_false(rain_image_attr_is_readonly("os_distro"));
	assert_false(rain_image_attr_is_core("Name"));
	assert_false(rain_image_attr_is_readonly(""));
}

static void test_set_name(void **state)
{
	struct rain_image *img = *state;
	static const char *const bad[] = {
		"../etc/passwd", "a/../b", "..", "a/..", "x\ny", "\x1b[2J", "tab\there",
		"del\x7f", "\r",
	};
	_cleanup_free_ char *n255 = repeat('n', 255);
	_cleanup_free_ char *n256 = repeat('n', 256);

	assert_int_equal(set_str(img, "name", "cirros-0.6.2"), 0);
	assert_string_equal(img->name, "cirros-0.6.2");
	assert_int_equal(set_str(img, "name", n255), 0);
	assert_string_equal(img->name, n255);
	assert_int_equal(set_str(img, "name", "caf\xc3\xa9 / ... ./x"), 0);
	assert_string_equal(img->name, "caf\xc3\xa9 / ... ./x");
	assert_int_equal(set_str(img, "name", ""), 0);       /* Glance allows "" */
	assert_string_equal(img->name, "");
	assert_int_equal(set_str(img, "name", "keep"), 0);

	rain_error_clear();
	assert_int_equal(set_str(img, "name", n256), RAIN_EINVAL);
	assert_error_contains("'name'");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (set_str(img, "name", bad[i]) != RAIN_EINVAL)
			fail_msg("name '%s' was accepted", bad[i]);
		assert_string_equal(img->name, "keep");
	}
	assert_int_equal(set(img, "name", json_stringn("a\0b", 3)), RAIN_EINVAL);
	assert_int_equal(set(img, "name", json_integer(5)), RAIN_EINVAL);
	assert_int_equal(set(img, "name", json_true()), RAIN_EINVAL);
	assert_int_equal(set(img, "name", json_array()), RAIN_EINVAL);
	assert_string_equal(img->name, "keep");

	assert_int_equal(set(img, "name", json_null()), 0);
	assert_null(img->name);
}

static void test_set_visibility(void **state)
{
	struct rain_image *img = *state;

	assert_int_equal(set_str(img, "visibility", "private"), 0);
	assert_int_equal(img->visibility, RAIN_VIS_PRIVATE);
	assert_int_equal(set_str(img, "visibility", "community"), 0);
	assert_int_equal(img->visibility, RAIN_VIS_COMMUNITY);
	assert_int_equal(set_str(img, "visibility", "public"), 0);
	assert_int_equal(img->visibility, RAIN_VIS_PUBLIC);
	assert_int_equal(set_str(img, "visibility", "shared"), 0);
	assert_int_equal(img->visibility, RAIN_VIS_SHARED);

	assert_int_equal(set_str(img, "visibility", "Public"), RAIN_EINVAL);
	assert_int_equal(set_str(img, "visibility", "all"), RAIN_EINVAL);
	assert_int_equal(set_str(img, "visibility", ""), RAIN_EINVAL);
	assert_int_equal(set(img, "visibility", json_null()), RAIN_EINVAL);
	assert_int_equal(set(img, "visibility", json_integer(1)), RAIN_EINVAL);
	assert_error_contains("visibility");
	assert_int_equal(img->visibility, RAIN_VIS_SHARED);
}

static void test_set_booleans(void **state)
{
	struct rain_image *img = *state;
	static const char *const attrs[] = { "protected", "os_hidden" };

	for (int i = 0; i < 2; i++) {
		bool *field = i == 0 ? &img->protected_ : &img->os_hidden;

		assert_int_equal(set(img, attrs[i], json_true()), 0);
		assert_true(*field);
		assert_int_equal(set(img, attrs[i], json_false()), 0);
		assert_false(*field);
		assert_int_equal(set(img, attrs[i], json_true()), 0);
		rain_error_clear();
		assert_int_equal(set_str(img, attrs[i], "false"), RAIN_EINVAL);
		assert_error_contains(attrs[i]);
		assert_int_equal(set(img, attrs[i], json_integer(0)), RAIN_EINVAL);
		assert_int_equal(set(img, attrs[i], json_null()), RAIN_EINVAL);
		assert_true(*field);
	}
}

static void test_set_formats(void **state)
{
	struct rain_image *img = *state;
	static const char *const disk[] = {
		"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"
	};
	static const char *const container[] = {
		"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"
	};
	size_t n;

	for (n = 0; rain_disk_formats[n]; n++)
		;
	assert_int_equal(n, sizeof(disk) / sizeof(*disk));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(rain_disk_formats[i], disk[i]);
		assert_int_equal(set_str(img, "disk_format", disk[i]), 0);
		assert_string_equal(img->disk_format, disk[i]);
	}
	for (n = 0; rain_container_formats[n]; n++)
		;
	assert_int_equal(n, sizeof(container) / sizeof(*container));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(rain_container_formats[i], container[i]);
		assert_int_equal(set_str(img, "container_format", container[i]), 0);
		assert_string_equal(img->container_format, container[i]);
	}

	assert_int_equal(set_str(img, "disk_format", "qcow2"), 0);
	rain_error_clear();
	assert_int_equal(set_str(img, "disk_format", "qcow3"), RAIN_EINVAL);
	assert_error_contains("invalid disk_format 'qcow3' (one of ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop)");
	assert_int_equal(set_str(img, "disk_format", "QCOW2"), RAIN_EINVAL);
	assert_int_equal(set_str(img, "disk_format", "bare"), RAIN_EINVAL);
	assert_int_equal(set(img, "disk_format", json_stringn("raw\0x", 5)), RAIN_EINVAL);
	assert_int_equal(set(img, "disk_format", json_integer(3)), RAIN_EINVAL);
	assert_string_equal(img->disk_format, "qcow2");
	assert_int_equal(set_str(img, "container_format", "raw"), RAIN_EINVAL);
	assert_error_contains("container_format");
	assert_string_equal(img->container_format, "compressed");

	assert_int_equal(set(img, "disk_format", json_null()), 0);
	assert_null(img->disk_format);
	assert_int_equal(set(img, "container_format", json_null()), 0);
	assert_null(img->container_format);
}

static void test_set_sizes(void **state)
{
	struct rain_image *img = *state;
	static const char *const attrs[] = { "min_disk", "min_ram" };

	for (int i = 0; i < 2; i++) {
		int64_t *field = i == 0 ? &img->min_disk : &img->min_ram;

		assert_int_equal(set(img, attrs[i], json_integer(0)), 0);
		assert_true(*field == 0);
		assert_int_equal(set(img, attrs[i], json_integer(40)), 0);
		assert_true(*field == 40);
		assert_int_equal(set(img, attrs[i], json_integer(INT64_MAX)), 0);
		assert_true(*field == INT64_MAX);
		assert_int_equal(set(img, attrs[i], json_integer(40)), 0);
		rain_error_clear();
		assert_int_equal(set(img, attrs[i], json_integer(-1)), RAIN_EINVAL);
		assert_error_contains("non-negative integer");
		assert_error_contains(attrs[i]);
		assert_int_equal(set(img, attrs[i], json_real(1.5)), RAIN_EINVAL);
		assert_int_equal(set(img, attrs[i], json_real(2.0)), RAIN_EINVAL);
		assert_int_equal(set_str(img, attrs[i], "10"), RAIN_EINVAL);
		assert_int_equal(set(img, attrs[i], json_null()), RAIN_EINVAL);
		assert_int_equal(set(img, attrs[i], json_true()), RAIN_EINVAL);
		assert_true(*field == 40);
	}
}

static void test_set_tags(void **state)
{
	struct rain_image *img = *state;
	_cleanup_free_ char *t255 = repeat('t', 255);
	_cleanup_free_ char *t256 = repeat('t', 256);
	json_t *many;

	assert_int_equal(set(img, "tags", json_pack("[sss]", "b", "a", "b")), 0);
	assert_int_equal(img->ntags, 2);      /* duplicates collapse */
	assert_string_equal(img->tags[0], "b");
	assert_string_equal(img->tags[1], "a");
	assert_true(rain_image_has_tag(img, "a"));
	assert_false(rain_image_has_tag(img, "c"));

	/* a bad list leaves the old tags alone */
	assert_int_equal(set(img, "tags", json_pack("[si]", "x", 1)), RAIN_EINVAL);
	assert_error_contains("tag 1 must be a string");
	assert_int_equal(set(img, "tags", json_pack("[ss]", "x", "")), RAIN_EINVAL);
	assert_int_equal(set(img, "tags", json_pack("[ss]", "x", "a\nb")), RAIN_EINVAL);
	assert_int_equal(set(img, "tags", json_pack("[s]", t256)), RAIN_EINVAL);
	assert_int_equal(set(img, "tags", json_pack("[o]", json_stringn("a\0b", 3))), RAIN_EINVAL);
	assert_int_equal(set_str(img, "tags", "a"), RAIN_EINVAL);
	assert_error_contains("'tags' must be an array");
	assert_int_equal(set(img, "tags", json_null()), RAIN_EINVAL);
	assert_int_equal(img->ntags, 2);
	assert_string_equal(img->tags[0], "b");

	many = json_array();
	for (int i = 0; i < RAIN_MAX_TAGS + 1; i++)
		json_array_append_new(many, json_sprintf("tag-%d", i));
	json_incref(many);
	assert_int_equal(set(img, "tags", many), RAIN_ETOOBIG);
	assert_int_equal(img->ntags, 2);
	json_array_remove(many, 0);
	assert_int_equal(set(img, "tags", many), 0);
	assert_int_equal(img->ntags, RAIN_MAX_TAGS);
	assert_string_equal(img->tags[0], "tag-1");

	assert_int_equal(set(img, "tags", json_pack("[s]", t255)), 0);
	assert_int_equal(img->ntags, 1);
	assert_int_equal(set(img, "tags", json_array()), 0);
	assert_int_equal(img->ntags, 0);
}

static void test_tag_functions(void **state)
{
	struct rain_image *img = *state;

	assert_int_equal(rain_image_tag_add(img, "one"), 0);
	assert_int_equal(rain_image_tag_add(img, "two"), 0);
	assert_int_equal(rain_image_tag_add(img, "three"), 0);
	assert_int_equal(rain_image_tag_add(img, "two"), 0);   /* idempotent */
	assert_int_equal(img->ntags, 3);
	assert_int_equal(rain_image_tag_add(img, ""), RAIN_EINVAL);
	assert_int_equal(rain_image_tag_remove(img, "one"), 0);
	assert_int_equal(img->ntags, 2);
	assert_string_equal(img->tags[0], "two");                /* order kept */
	assert_string_equal(img->tags[1], "three");
	assert_int_equal(rain_image_tag_remove(img, "one"), RAIN_ENOTFOUND);
	assert_error_contains("one");
	assert_int_equal(img->ntags, 2);
}

static void test_set_properties(void **state)
{
	struct rain_image *img = *state;
	_cleanup_free_ char *v65535 = repeat('v', 65535);
	_cleanup_free_ char *v65536 = repeat('v', 65536);
	_cleanup_free_ char *k255 = repeat('k', 255);
	_cleanup_free_ char *k256 = repeat('k', 256);
	char name[32];

	assert_int_equal(set_str(img, "os_distro", "ubuntu"), 0);
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "ubuntu");
	assert_int_equal(set_str(img, "os_distro", "debian"), 0);     /* replaces */
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "debian");
	assert_int_equal(img->nprops, 1);
	assert_int_equal(set_str(img, "empty", ""), 0);
	assert_string_equal(rain_image_prop_get(img, "empty"), "");
	assert_int_equal(set_str(img, "big", v65535), 0);
	assert_int_equal(strlen(rain_image_prop_get(img, "big")), 65535);
	assert_int_equal(set_str(img, k255, "x"), 0);
	assert_int_equal(img->nprops, 4);

	rain_error_clear();
	assert_int_equal(set(img, "os_distro", json_integer(5)), RAIN_EINVAL);
	assert_error_contains("property 'os_distro' must be a string");
	assert_int_equal(set(img, "os_distro", json_null()), RAIN_EINVAL);
	assert_int_equal(set(img, "os_distro", json_true()), RAIN_EINVAL);
	assert_int_equal(set(img, "os_distro", json_pack("[s]", "x")), RAIN_EINVAL);
	assert_int_equal(set(img, "os_distro", json_stringn("ub\0untu", 7)), RAIN_EINVAL);
	assert_error_contains("NUL");
	assert_int_equal(set_str(img, "os_distro", v65536), RAIN_EINVAL);
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "debian");
	assert_int_equal(set_str(img, k256, "x"), RAIN_EINVAL);
	assert_int_equal(set_str(img, "bad\nname", "x"), RAIN_EINVAL);
	assert_int_equal(set_str(img, "", "x"), RAIN_EINVAL);
	assert_int_equal(img->nprops, 4);
	assert_null(rain_image_prop_get(img, "missing"));

	/* at most RAIN_MAX_PROPERTIES; changing one at the limit is fine */
	for (int i = (int)img->nprops; i < RAIN_MAX_PROPERTIES; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(set_str(img, name, "v"), 0);
	}
	assert_int_equal(img->nprops, RAIN_MAX_PROPERTIES);
	assert_int_equal(set_str(img, "one_more", "v"), RAIN_ETOOBIG);
	assert_int_equal(set_str(img, "os_distro", "fedora"), 0);
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "fedora");
	assert_int_equal(img->nprops, RAIN_MAX_PROPERTIES);

	assert_int_equal(rain_image_prop_remove(img, "os_distro"), 0);
	assert_null(rain_image_prop_get(img, "os_distro"));
	assert_string_equal(rain_image_prop_get(img, "empty"), "");
	assert_int_equal(rain_image_prop_remove(img, "os_distro"), RAIN_ENOTFOUND);
}

static void test_readonly_attrs(void **state)
{
	struct rain_image *img = *state;
	static const char *const ro[] = {
		"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
		"virtual_size", "owner", "created_at", "updated_at", "self", "file",
		"schema", "direct_url", "locations", "download_count", "last_accessed_at",
		"deleted", "deleted_at"
	};

	for (size_t i = 0; i < sizeof(ro) / sizeof(*ro); i++) {
		char msg[64];

		rain_error_clear();
		assert_int_equal(set_str(img, ro[i], "x"), RAIN_EFORBIDDEN);
		snprintf(msg, sizeof(msg), "Attribute '%s' is read-only.", ro[i]);
		assert_string_equal(rain_error_last(), msg);
		assert_int_equal(set(img, ro[i], json_integer(1)), RAIN_EFORBIDDEN);
		assert_int_equal(rain_image_attr_remove(img, ro[i]), RAIN_EFORBIDDEN);
	}
	/* nothing leaked into properties or fields */
	assert_int_equal(img->nprops, 0);
	assert_string_equal(img->id, ID);
	assert_null(img->owner);
	assert_true(img->size == -1);
	assert_int_equal(img->status, RAIN_STATUS_QUEUED);
}

static void test_attr_remove(void **state)
{
	struct rain_image *img = *state;
	static const char *const core[] = {
		"name", "visibility", "protected", "os_hidden", "disk_format",
		"container_format", "min_disk", "min_ram", "tags"
	};

	assert_int_equal(set_str(img, "name", "n"), 0);
	for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++) {
		rain_error_clear();
		assert_int_equal(rain_image_attr_remove(img, core[i]), RAIN_EFORBIDDEN);
		assert_error_contains("cannot be removed");
	}
	assert_string_equal(img->name, "n");

	assert_int_equal(set_str(img, "os_distro", "ubuntu"), 0);
	assert_int_equal(set_str(img, "os_version", "24.04"), 0);
	assert_int_equal(rain_image_attr_remove(img, "os_distro"), 0);
	assert_null(rain_image_prop_get(img, "os_distro"));
	assert_string_equal(rain_image_prop_get(img, "os_version"), "24.04");
	assert_int_equal(img->nprops, 1);
	/* Glance answers 409 for a property that is not there */
	assert_int_equal(rain_image_attr_remove(img, "os_distro"), RAIN_ECONFLICT);
	assert_string_equal(rain_error_last(), "Property os_distro does not exist.");
	assert_int_equal(img->nprops, 1);
}

static void test_apply_patch(void **state)
{
	struct rain_image *img = *state;

	assert_int_equal(patch(img, "["
			       "{\"op\":\"add\",\"path\":\"/name\",\"value\":\"first\"},"
			       "{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"second\"},"
			       "{\"op\":\"add\",\"path\":\"/os_distro\",\"value\":\"ubuntu\"},"
			       "{\"op\":\"add\",\"path\":\"/os_distro\",\"value\":\"debian\"},"
			       "{\"op\":\"add\",\"path\":\"/hw~1disk\",\"value\":\"virtio\"},"
			       "{\"op\":\"replace\",\"path\":\"/os_distro\",\"value\":\"fedora\"},"
			       "{\"op\":\"add\",\"path\":\"/tmp\",\"value\":\"x\"},"
			       "{\"op\":\"remove\",\"path\":\"/tmp\"},"
			       "{\"op\":\"replace\",\"path\":\"/min_ram\",\"value\":512},"
			       "{\"op\":\"add\",\"path\":\"/tags\",\"value\":[\"t1\",\"t2\"]},"
			       "{\"op\":\"replace\",\"path\":\"/disk_format\",\"value\":\"raw\"},"
			       "{\"op\":\"replace\",\"path\":\"/protected\",\"value\":true}"
			       "]"), 0);
	assert_string_equal(img->name, "second");
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "fedora");
	assert_string_equal(rain_image_prop_get(img, "hw/disk"), "virtio");
	assert_null(rain_image_prop_get(img, "tmp"));
	assert_int_equal(img->nprops, 2);
	assert_true(img->min_ram == 512);
	assert_int_equal(img->ntags, 2);
	assert_string_equal(img->disk_format, "raw");
	assert_true(img->protected_);

	/* replace of a property that does not exist: 409, as Glance */
	assert_int_equal(patch(img, "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":\"x\"}]"),
			 RAIN_ECONFLICT);
	assert_string_equal(rain_error_last(), "Property nope does not exist.");
	assert_null(rain_image_prop_get(img, "nope"));
	assert_int_equal(patch(img, "[{\"op\":\"remove\",\"path\":\"/nope\"}]"), RAIN_ECONFLICT);

	/* read-only and core rules apply inside patches too */
	assert_int_equal(patch(img, "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"active\"}]"),
			 RAIN_EFORBIDDEN);
	assert_int_equal(patch(img, "[{\"op\":\"add\",\"path\":\"/owner\",\"value\":\"me\"}]"),
			 RAIN_EFORBIDDEN);
	assert_int_equal(patch(img, "[{\"op\":\"remove\",\"path\":\"/name\"}]"), RAIN_EFORBIDDEN);
	assert_int_equal(patch(img, "[{\"op\":\"remove\",\"path\":\"/id\"}]"), RAIN_EFORBIDDEN);
	assert_int_equal(img->status, RAIN_STATUS_QUEUED);
	assert_null(img->owner);
	assert_string_equal(img->name, "second");

	/* replace works on a core attribute whose value is null */
	assert_int_equal(patch(img, "[{\"op\":\"replace\",\"path\":\"/container_format\",\"value\":\"bare\"}]"), 0);
	assert_string_equal(img->container_format, "bare");
}

static void test_apply_patch_sequencing(void **state)
{
	struct rain_image *img = *state;

	/* in order: an attribute added earlier can be replaced later */
	assert_int_equal(patch(img, "["
			       "{\"op\":\"add\",\"path\":\"/a\",\"value\":\"1\"},"
			       "{\"op\":\"replace\",\"path\":\"/a\",\"value\":\"2\"},"
			       "{\"op\":\"remove\",\"path\":\"/a\"},"
			       "{\"op\":\"add\",\"path\":\"/a\",\"value\":\"3\"}"
			       "]"), 0);
	assert_string_equal(rain_image_prop_get(img, "a"), "3");

	/* ... and a remove before the add fails */
	assert_int_equal(patch(img, "["
			       "{\"op\":\"remove\",\"path\":\"/b\"},"
			       "{\"op\":\"add\",\"path\":\"/b\",\"value\":\"1\"}"
			       "]"), RAIN_ECONFLICT);
	assert_null(rain_image_prop_get(img, "b"));

	/* it stops at the first failure: earlier ops applied, later not */
	assert_int_equal(patch(img, "["
			       "{\"op\":\"add\",\"path\":\"/name\",\"value\":\"before\"},"
			       "{\"op\":\"add\",\"path\":\"/min_disk\",\"value\":-1},"
			       "{\"op\":\"add\",\"path\":\"/c\",\"value\":\"after\"}"
			       "]"), RAIN_EINVAL);
	assert_string_equal(img->name, "before");
	assert_null(rain_image_prop_get(img, "c"));
	assert_true(img->min_disk == 0);

	/* an empty patch changes nothing */
	assert_int_equal(patch(img, "[]"), 0);
	assert_string_equal(img->name, "before");
}

static struct rain_image *full_image(void)
{
	struct rain_image *img = rain_image_new();

	assert_non_null(img);
	snprintf(img->id, sizeof(img->id), "%s", ID);
	img->name = strdup("cirros");
	img->status = RAIN_STATUS_ACTIVE;
	img->visibility = RAIN_VIS_PUBLIC;
	img->protected_ = true;
	img->os_hidden = true;
	img->checksum = strdup("900150983cd24fb0d6963f7d28e17f72");
	img->os_hash_algo = strdup("sha256");
	img->os_hash_value = strdup("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	img->size = 3;
	img->virtual_size = 1073741824;
	img->disk_format = strdup("qcow2");
	img->container_format = strdup("bare");
	img->min_disk = 1;
	img->min_ram = 64;
	img->owner = strdup("alice");
	img->created_at = 1700000000123456LL;
	img->updated_at = 1700000060000000LL;
	img->download_count = 7;
	img->last_access = 1700000120000000LL;
	img->revision = 42;
	assert_int_equal(rain_image_tag_add(img, "t1"), 0);
	assert_int_equal(rain_image_tag_add(img, "t2"), 0);
	assert_int_equal(rain_image_prop_set(img, "os_distro", "cirros"), 0);
	assert_int_equal(rain_image_prop_set(img, "hw_disk_bus", "virtio"), 0);
	return img;
}

static void assert_same_str(const char *a, const char *b)
{
	if (!a || !b) {
		assert_ptr_equal(a, b);
		return;
	}
	assert_string_equal(a, b);
	assert_ptr_not_equal(a, b);    /* a copy, not shared */
}

static void test_dup(void **state)
{
	struct rain_image *img = full_image(), *copy = rain_image_dup(img);
	struct rain_image *empty = rain_image_new(), *ecopy;

	assert_non_null(copy);
	assert_string_equal(copy->id, img->id);
	assert_same_str(copy->name, img->name);
	assert_int_equal(copy->status, img->status);
	assert_int_equal(copy->visibility, img->visibility);
	assert_true(copy->protected_);
	assert_true(copy->os_hidden);
	assert_same_str(copy->checksum, img->checksum);
	assert_same_str(copy->os_hash_algo, img->os_hash_algo);
	assert_same_str(copy->os_hash_value, img->os_hash_value);
	assert_true(copy->size == 3);
	assert_true(copy->virtual_size == 1073741824);
	assert_same_str(copy->disk_format, img->disk_format);
	assert_same_str(copy->container_format, img->container_format);
	assert_true(copy->min_disk == 1);
	assert_true(copy->min_ram == 64);
	assert_same_str(copy->owner, img->owner);
	assert_true(copy->created_at == img->created_at);
	assert_true(copy->updated_at == img->updated_at);
	assert_true(copy->download_count == 7);
	assert_true(copy->last_access == img->last_access);
	assert_true(copy->revision == 42);
	assert_int_equal(copy->ntags, 2);
	assert_ptr_not_equal(copy->tags, img->tags);
	assert_same_str(copy->tags[0], img->tags[0]);
	assert_same_str(copy->tags[1], img->tags[1]);
	assert_int_equal(copy->nprops, 2);
	assert_ptr_not_equal(copy->props, img->props);
	assert_same_str(rain_image_prop_get(copy, "os_distro"), rain_image_prop_get(img, "os_distro"));
	assert_same_str(rain_image_prop_get(copy, "hw_disk_bus"), rain_image_prop_get(img, "hw_disk_bus"));

	/* changing the copy leaves the original alone */
	assert_int_equal(set_str(copy, "name", "changed"), 0);
	assert_int_equal(set_str(copy, "os_distro", "changed"), 0);
	assert_int_equal(rain_image_tag_add(copy, "t3"), 0);
	assert_int_equal(rain_image_tag_remove(copy, "t1"), 0);
	assert_string_equal(img->name, "cirros");
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "cirros");
	assert_int_equal(img->ntags, 2);
	assert_string_equal(img->tags[0], "t1");
	rain_image_free(img);
	/* and the copy outlives the original */
	assert_string_equal(copy->owner, "alice");
	rain_image_free(copy);

	assert_non_null(empty);
	ecopy = rain_image_dup(empty);
	assert_non_null(ecopy);
	assert_null(ecopy->name);
	assert_null(ecopy->tags);
	assert_null(ecopy->props);
	assert_true(ecopy->size == -1);
	rain_image_free(empty);
	rain_image_free(ecopy);
}

static const char *const glance_fields[] = {
	"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
	"os_hash_algo", "os_hash_value", "size", "virtual_size", "disk_format",
	"container_format", "min_disk", "min_ram", "owner", "tags", "created_at",
	"updated_at", "self", "file", "schema", "download_count", "last_accessed_at",
};
#define NFIELDS (sizeof(glance_fields) / sizeof(*glance_fields))

static void test_to_json_empty(void **state)
{
	static const char *const nulls[] = {
		"name", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
		"disk_format", "container_format", "owner", "created_at", "updated_at",
		"last_accessed_at"
	};
	struct rain_image *img = *state;
	json_t *o = rain_image_to_json(img);

	assert_non_null(o);
	assert_int_equal(json_object_size(o), NFIELDS);     /* no "stores": no data */
	for (size_t i = 0; i < NFIELDS; i++)
		if (!json_object_get(o, glance_fields[i]))
			fail_msg("field %s missing", glance_fields[i]);
	for (size_t i = 0; i < sizeof(nulls) / sizeof(*nulls); i++)
		if (!json_is_null(json_object_get(o, nulls[i])))
			fail_msg("field %s is not null", nulls[i]);
	assert_string_equal(json_string_value(json_object_get(o, "id")), ID);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(o, "visibility")), "shared");
	assert_true(json_is_false(json_object_get(o, "protected")));
	assert_true(json_is_false(json_object_get(o, "os_hidden")));
	assert_true(json_is_integer(json_object_get(o, "min_disk")));
	assert_int_equal(json_integer_value(json_object_get(o, "min_disk")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "min_ram")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "download_count")), 0);
	assert_true(json_is_array(json_object_get(o, "tags")));
	assert_int_equal(json_array_size(json_object_get(o, "tags")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "self")), "/v2/images/" ID);
	assert_string_equal(json_string_value(json_object_get(o, "file")), "/v2/images/" ID "/file");
	assert_string_equal(json_string_value(json_object_get(o, "schema")), "/v2/schemas/image");
	json_decref(o);
}

static void test_to_json_full(void **state)
{
	struct rain_image *img = full_image();
	json_t *o, *tags;

	/* a property spelled like a core field never hides the field */
	assert_int_equal(rain_image_prop_set(img, "status", "fake"), 0);
	o = rain_image_to_json(img);
	assert_non_null(o);
	/* the fields, two properties, and "stores" (it has data) */
	assert_int_equal(json_object_size(o), NFIELDS + 3);
	assert_string_equal(json_string_value(json_object_get(o, "stores")), RAIN_STORE_ID);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "cirros");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "active");
	assert_string_equal(json_string_value(json_object_get(o, "visibility")), "public");
	assert_true(json_is_true(json_object_get(o, "protected")));
	assert_true(json_is_true(json_object_get(o, "os_hidden")));
	assert_string_equal(json_string_value(json_object_get(o, "checksum")),
			    "900150983cd24fb0d6963f7d28e17f72");
	assert_string_equal(json_string_value(json_object_get(o, "os_hash_algo")), "sha256");
	assert_string_equal(json_string_value(json_object_get(o, "os_hash_value")),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "virtual_size")), 1073741824);
	assert_string_equal(json_string_value(json_object_get(o, "disk_format")), "qcow2");
	assert_string_equal(json_string_value(json_object_get(o, "container_format")), "bare");
	assert_int_equal(json_integer_value(json_object_get(o, "min_disk")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "min_ram")), 64);
	assert_string_equal(json_string_value(json_object_get(o, "owner")), "alice");
	assert_string_equal(json_string_value(json_object_get(o, "created_at")), "2023-11-14T22:13:20Z");
	assert_string_equal(json_string_value(json_object_get(o, "updated_at")), "2023-11-14T22:14:20Z");
	assert_string_equal(json_string_value(json_object_get(o, "last_accessed_at")), "2023-11-14T22:15:20Z");
	assert_int_equal(json_integer_value(json_object_get(o, "download_count")), 7);
	tags = json_object_get(o, "tags");
	assert_int_equal(json_array_size(tags), 2);
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "t1");
	assert_string_equal(json_string_value(json_array_get(tags, 1)), "t2");
	assert_string_equal(json_string_value(json_object_get(o, "os_distro")), "cirros");
	assert_string_equal(json_string_value(json_object_get(o, "hw_disk_bus")), "virtio");
	/* internal bookkeeping stays internal */
	assert_null(json_object_get(o, "revision"));
	assert_null(json_object_get(o, "last_access"));
	assert_null(json_object_get(o, "protected_"));
	json_decref(o);

	/* zero sizes are values, not null */
	img->size = 0;
	img->virtual_size = 0;
	o = rain_image_to_json(img);
	assert_true(json_is_integer(json_object_get(o, "size")));
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 0);
	assert_true(json_is_integer(json_object_get(o, "virtual_size")));
	json_decref(o);
	rain_image_free(img);
}

/* A public call starts with no message: a failure earlier on the thread
 * does not show through a later call (include/rain/error.h). */
static void test_stale_message_cleared(void **state)
{
	struct rain_image *img = rain_image_new();

	assert_non_null(img);
	assert_true(rain_image_tag_add(img, "") < 0);
	assert_string_not_equal(rain_error_last(), "");
	assert_int_equal(rain_image_tag_add(img, "fine"), 0);
	assert_string_equal(rain_error_last(), "");
	rain_error_set(RAIN_EIO, "stale");
	assert_int_equal(rain_image_tag_add(img, "other"), 0);
	assert_string_equal(rain_error_last(), "");
	rain_image_free(img);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, img_setup, img_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_defaults),
		cmocka_unit_test(test_names_and_parse),
		cmocka_unit_test(test_attr_groups),
		T(test_set_name),
		T(test_set_visibility),
		T(test_set_booleans),
		T(test_set_formats),
		T(test_set_sizes),
		T(test_set_tags),
		T(test_tag_functions),
		T(test_set_properties),
		T(test_readonly_attrs),
		T(test_attr_remove),
		T(test_apply_patch),
		T(test_apply_patch_sequencing),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_stale_message_cleared),
		T(test_to_json_empty),
		cmocka_unit_test(test_to_json_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
