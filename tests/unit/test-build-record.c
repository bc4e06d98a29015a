/* Build records, build file names, base64 and the image fields of a
 * finished build (the build service's pure parts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rain/build-image.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/base64.h"
#include "testutil.h"

static void test_record_roundtrip(void **state)
{
	struct rain_build_record r = {
		.id = "3F0FFFBA-9C16-483A-9AA3-5C1D72AEA424",
		.owner = (char *)"alice", .name = (char *)"web",
		.status = RAIN_JOB_FAILED,
		.created_us = 1764640000LL * 1000000, .started_us = 1764640001LL * 1000000,
		.finished_us = 1764640042LL * 1000000,
		.error = (char *)"package 'x' does not exist",
		.image_id = (char *)"5d2c3b52-8a1e-4f3a-9b53-0c4e5d6f7a8b",
		.store = true, .boot_check = false,
	};
	struct rain_build_record back;
	json_t *j = rain_build_record_to_json(&r);
	char *text;

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(j, "created_at")), "2025-12-02T01:46:40Z");
	/* through text, as build.json is */
	text = json_dumps(j, 0);
	json_decref(j);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(rain_build_record_from_json(j, &back), 0);
	json_decref(j);
	assert_string_equal(back.id, "3f0fffba-9c16-483a-9aa3-5c1d72aea424");
	assert_string_equal(back.owner, "alice");
	assert_string_equal(back.name, "web");
	assert_int_equal(back.status, RAIN_JOB_FAILED);
	assert_int_equal(back.created_us, r.created_us);
	assert_int_equal(back.started_us, r.started_us);
	assert_int_equal(back.finished_us, r.finished_us);
	assert_string_equal(back.error, r.error);
	assert_string_equal(back.image_id, r.image_id);
	assert_true(back.store);
	assert_false(back.boot_check);
	rain_build_record_clear(&back);
}

static void test_record_queued_nulls(void **state)
{
	struct rain_build_record r = {
		.id = "3f0fffba-9c16-483a-9aa3-5c1d72aea424", .owner = (char *)"bob",
		.status = RAIN_JOB_QUEUED, .created_us = 1000000,
	}, back;
	json_t *j = rain_build_record_to_json(&r);

	assert_true(json_is_null(json_object_get(j, "started_at")));
	assert_true(json_is_null(json_object_get(j, "finished_at")));
	assert_true(json_is_null(json_object_get(j, "error")));
	assert_true(json_is_null(json_object_get(j, "image_id")));
	assert_int_equal(rain_build_record_from_json(j, &back), 0);
	assert_int_equal(back.started_us, 0);
	assert_null(back.error);
	assert_null(back.name);
	rain_build_record_clear(&back);
	json_decref(j);
}

static void record_bad(const char *text, const char *field)
{
	struct rain_build_record back;
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	assert_int_equal(rain_build_record_from_json(j, &back), RAIN_EFORMAT);
	assert_error_contains(field);
	json_decref(j);
}

static void test_record_bad(void **state)
{
	const char *id = "\"id\": \"3f0fffba-9c16-483a-9aa3-5c1d72aea424\"";
	char buf[512];

	record_bad("{\"status\": \"queued\"}", "'id'");
	record_bad("{\"id\": \"../../etc\", \"status\": \"queued\"}", "'id'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"done\", \"owner\": \"a\", "
		 "\"created_at\": \"2026-01-01T00:00:00Z\"}", id);
	record_bad(buf, "'status'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"queued\", "
		 "\"created_at\": \"2026-01-01T00:00:00Z\"}", id);
	record_bad(buf, "'owner'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"queued\", \"owner\": \"a\", "
		 "\"created_at\": \"yesterday\"}", id);
	record_bad(buf, "'created_at'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"queued\", \"owner\": \"a\", "
		 "\"created_at\": \"2026-01-01T00:00:00Z\", \"image_id\": \"x\"}", id);
	record_bad(buf, "'image_id'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"queued\", \"owner\": \"a\", "
		 "\"created_at\": \"2026-01-01T00:00:00Z\", \"store\": \"yes\"}", id);
	record_bad(buf, "'store'");
	snprintf(buf, sizeof(buf), "{%s, \"status\": \"queued\", \"owner\": 7, "
		 "\"created_at\": \"2026-01-01T00:00:00Z\"}", id);
	record_bad(buf, "'owner'");
	record_bad("[1, 2]", "not a JSON object");
}

static void name_ok(const char *in, const char *want)
{
	char *out = NULL;

	if (rain_build_file_name(in, &out) != 0)
		fail_msg("'%s' refused: %s", in, rain_error_last());
	assert_string_equal(out, want);
	free(out);
}

static void name_bad(const char *in, const char *want)
{
	char *out = NULL;

	assert_int_equal(rain_build_file_name(in, &out), RAIN_EINVAL);
	assert_null(out);
	assert_error_contains(want);
}

static void test_file_names(void **state)
{
	name_ok("motd", "motd");
	name_ok("files/etc/motd", "files/etc/motd");
	name_ok("./files//motd", "files/motd");
	name_ok("a/./b/", "a/b");
	name_ok("...", "...");
	name_ok("a..b", "a..b");
	name_bad("/etc/passwd", "absolute");
	name_bad("../etc/passwd", "no '..'");
	name_bad("a/../../b", "no '..'");
	name_bad("a/..", "no '..'");
	name_bad("", "empty name");
	name_bad(NULL, "empty name");
	name_bad(".", "not a usable file name");
	name_bad("./", "not a usable file name");
	name_bad("a\nb", "printable");
	name_bad("a\033[2Jb", "printable");
	name_bad(RAIN_BUILD_RECIPE_NAME, "not a usable file name");
	name_bad("./" RAIN_BUILD_RECIPE_NAME, "not a usable file name");
	{
		char longname[1100];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		name_bad(longname, "at most");
		/* one component longer than a file name can be */
		longname[300] = '\0';
		name_bad(longname, "no '..'");
	}
}

static void test_base64(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	unsigned char *out;
	size_t n;

	for (size_t i = 0; i < 7; i++) {
		char *s = base64_encode(plain[i], strlen(plain[i]));

		assert_string_equal(s, coded[i]);
		free(s);
		assert_int_equal(base64_decode(coded[i], strlen(coded[i]), &out, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], n);
		free(out);
	}
	{
		unsigned char bin[256];
		char *s;

		for (int i = 0; i < 256; i++)
			bin[i] = (unsigned char)i;
		s = base64_encode(bin, sizeof(bin));
		assert_int_equal(base64_decode(s, strlen(s), &out, &n), 0);
		assert_int_equal(n, sizeof(bin));
		assert_memory_equal(out, bin, n);
		free(out);
		free(s);
	}
	assert_int_equal(base64_decode("Zm9", 3, &out, &n), RAIN_EINVAL);
	assert_int_equal(base64_decode("Zm9v\n", 5, &out, &n), RAIN_EINVAL);
	assert_int_equal(base64_decode("Zm*v", 4, &out, &n), RAIN_EINVAL);
	assert_int_equal(base64_decode("Z===", 4, &out, &n), RAIN_EINVAL);
	assert_null(out);
}

static const char manifest_text[] =
	"{\"name\": \"web\", \"packages\": [{\"name\": \"a\", \"version\": \"1\"},"
	" {\"name\": \"b\", \"version\": \"2\"}, {\"name\": \"c\", \"version\": \"3\"}],"
	" \"outputs\": [{\"format\": \"disk\", \"file\": \"web.raw\", \"size\": 10},"
	"  {\"format\": \"qcow2\", \"file\": \"web.qcow2\", \"size\": 5},"
	"  {\"format\": \"kernel\", \"file\": \"vmlinuz\", \"size\": 1}],"
	" \"timings\": {\"total_s\": 42.25},"
	" \"boot_check\": {\"result\": \"passed\"}}";

static struct rain_recipe *recipe(const char *formats)
{
	struct rain_recipe *r = NULL;
	char text[512];

	snprintf(text, sizeof(text),
		 "[image]\nname = web\ndescription = a web server\ndistribution = debian\n"
		 "release = bookworm\narchitecture = amd64\n[output]\nformats = %s\n"
		 "[metadata]\nvm_type = kvm\nos_distro = debian\n", formats);
	if (rain_recipe_parse(text, "t.recipe", ".", &r) < 0)
		fail_msg("%s", rain_error_last());
	return r;
}

static const char *field(json_t *f, const char *key)
{
	const char *v = json_string_value(json_object_get(f, key));

	if (!v)
		fail_msg("no string field %s", key);
	return v;
}

static void test_image_fields(void **state)
{
	struct rain_recipe *r = recipe("disk, qcow2");
	json_t *m = json_loads(manifest_text, 0, NULL);
	struct rain_build_image bi;

	assert_true(rain_build_image_storable(r));
	assert_int_equal(rain_build_image_make(r, m, &bi), 0);
	/* the qcow2 wins over the raw disk */
	assert_string_equal(bi.format, "qcow2");
	assert_string_equal(bi.file, "web.qcow2");
	assert_string_equal(field(bi.fields, "name"), "web");
	assert_string_equal(field(bi.fields, "disk_format"), "qcow2");
	assert_string_equal(field(bi.fields, "container_format"), "bare");
	assert_string_equal(field(bi.fields, "os_distro"), "debian");
	assert_string_equal(field(bi.fields, "os_version"), "bookworm");
	assert_string_equal(field(bi.fields, "architecture"), "x86_64");
	assert_string_equal(field(bi.fields, "description"), "a web server");
	assert_string_equal(field(bi.fields, "vm_type"), "kvm");
	assert_string_equal(field(bi.fields, "rain_packages"), "3");
	/* every package and version, one line each */
	assert_string_equal(field(bi.fields, "rain_package_list"), "a 1 ?\nb 2 ?\nc 3 ?\n");
	assert_null(json_object_get(bi.fields, "rain_package_list_2"));
	assert_string_equal(field(bi.fields, "rain_boot_check"), "passed");
	assert_string_equal(field(bi.fields, "rain_build_seconds"), "42.2");
	assert_null(json_object_get(bi.fields, "hw_firmware_type"));   /* BIOS: not said */
	assert_non_null(strstr(field(bi.fields, "rain_recipe"), "name = web"));
	{
		/* every property is a string, as Glance wants */
		const char *key;
		json_t *v;

		json_object_foreach(bi.fields, key, v)
			assert_true(json_is_string(v));
	}
	rain_build_image_clear(&bi);

	/* without the qcow2: the raw disk, and no boot check recorded */
	json_array_remove(json_object_get(m, "outputs"), 1);
	json_object_del(m, "boot_check");
	assert_int_equal(rain_build_image_make(r, m, &bi), 0);
	assert_string_equal(bi.format, "disk");
	assert_string_equal(bi.file, "web.raw");
	assert_string_equal(field(bi.fields, "disk_format"), "raw");
	assert_string_equal(field(bi.fields, "rain_boot_check"), "not run");
	rain_build_image_clear(&bi);

	/* nothing storable */
	json_array_remove(json_object_get(m, "outputs"), 0);
	assert_int_equal(rain_build_image_make(r, m, &bi), RAIN_EINVAL);
	assert_error_contains("disk or qcow2");
	assert_null(bi.fields);
	json_decref(m);
	rain_recipe_free(r);

	/* a UEFI disk tells Nova to boot it with UEFI firmware */
	r = recipe("disk\nfirmware = uefi");
	m = json_loads(manifest_text, 0, NULL);
	assert_int_equal(rain_build_image_make(r, m, &bi), 0);
	assert_string_equal(field(bi.fields, "hw_firmware_type"), "uefi");
	assert_non_null(strstr(field(bi.fields, "rain_recipe"), "firmware = uefi"));
	rain_build_image_clear(&bi);
	json_decref(m);
	rain_recipe_free(r);

	/* a list longer than a property goes on in rain_package_list_2, ...
	 * split between lines */
	r = recipe("disk");
	m = json_loads(manifest_text, 0, NULL);
	{
		json_t *pkgs = json_array();
		char name[64];
		size_t total = 0;
		const char *p1, *p2;

		for (int i = 0; i < 4000; i++) {
			snprintf(name, sizeof(name), "package-with-a-long-name-%04d", i);
			json_array_append_new(pkgs, json_pack("{s:s, s:s, s:s}", "name", name, "version",
							      "1.2.3-4+deb12u1", "architecture", "amd64"));
		}
		json_object_set_new(m, "packages", pkgs);
		assert_int_equal(rain_build_image_make(r, m, &bi), 0);
		p1 = field(bi.fields, "rain_package_list");
		p2 = field(bi.fields, "rain_package_list_2");
		assert_true(strlen(p1) <= RAIN_BUILD_PACKAGE_LIST_PART);
		assert_true(p1[strlen(p1) - 1] == '\n');
		assert_true(!strncmp(p2, "package-with-a-long-name-", 25));
		for (int k = 1; k <= RAIN_BUILD_PACKAGE_LIST_PARTS; k++) {
			char key[32];
			const char *v;

			snprintf(key, sizeof(key), k == 1 ? "rain_package_list" : "rain_package_list_%d", k);
			v = json_string_value(json_object_get(bi.fields, key));
			for (; v && *v; v++)
				total += *v == '\n';
		}
		assert_int_equal(total, 4000);
		assert_string_equal(field(bi.fields, "rain_packages"), "4000");
		rain_build_image_clear(&bi);
	}
	json_decref(m);
	rain_recipe_free(r);

	r = recipe("tar");
	assert_false(rain_build_image_storable(r));
	m = json_loads("{\"packages\": []}", 0, NULL);
	assert_int_equal(rain_build_image_make(r, m, &bi), RAIN_EFORMAT);
	json_decref(m);
	rain_recipe_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_queued_nulls),
		cmocka_unit_test(test_record_bad),
		cmocka_unit_test(test_file_names),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_image_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
