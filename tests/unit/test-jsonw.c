/* The streaming JSON writer (util/jsonw.h) against jansson, whose
 * json_dumps(JSON_COMPACT) text raind sent before: byte for byte for every
 * byte value, random hostile strings and whole image representations
 * (rain_image_write_json vs rain_image_to_json), and parsed equal where
 * the writer is documented to differ in order only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rain/image.h"
#include "testutil.h"
#include "util/cleanup.h"
#include "util/jsonw.h"

/* jansson's text of one string value, NULL when it refuses the string. */
static char *jansson_string(const char *s)
{
	json_t *v = json_string(s);
	char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return t;
}

/* The writer's text of one string value, NULL when it refuses it. */
static char *writer_string(const char *s)
{
	struct jsonw w;
	char *t;
	size_t len;
	int r;

	jsonw_init(&w, 1);
	r = jsonw_str(&w, s);
	if (r < 0) {
		assert_int_equal(r, RAIN_EINVAL);
		assert_int_equal(w.len, 0);
		jsonw_free(&w);
		return NULL;
	}
	assert_int_equal(jsonw_finish(&w, &t, &len), 0);
	assert_int_equal(strlen(t), len);
	return t;
}

static void assert_same_string(const char *s)
{
	_cleanup_free_ char *a = jansson_string(s), *b = writer_string(s);

	if (!a != !b)
		fail_msg("jansson %s \"%s\", the writer %s it", a ? "takes" : "refuses", s,
			 b ? "takes" : "refuses");
	if (a && strcmp(a, b))
		fail_msg("jansson writes %s, the writer %s", a, b);
	assert_int_equal(jsonw_utf8_valid(s, strlen(s)), a != NULL);
}

/* Every byte alone, after text and before text: escapes, DEL, '/', and
 * the bytes that cannot stand alone in UTF-8. */
static void test_every_byte(void **state)
{
	for (int c = 1; c < 256; c++) {
		char s[8];

		snprintf(s, sizeof(s), "%c", c);
		assert_same_string(s);
		snprintf(s, sizeof(s), "a%cb", c);
		assert_same_string(s);
	}
	assert_same_string("");
}

/* Sequences on both sides of each UTF-8 boundary. */
static void test_utf8_edges(void **state)
{
	static const char *const seqs[] = {
		"\xc2\x80", "\xdf\xbf", "\xc0\x80", "\xc1\xbf",               /* 2 bytes, overlong */
		"\xe0\xa0\x80", "\xe0\x9f\xbf", "\xed\x9f\xbf", "\xed\xa0\x80", /* overlong, surrogate */
		"\xee\x80\x80", "\xef\xbf\xbf", "\xe2\x80\xa8", "\xe2\x80\xa9",
		"\xf0\x90\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\xfe",
		"\xc2", "\xe2\x82", "\xf0\x9f\x98", "\xe2\x28\xa1", "\xf0\x9f\x98\x80",
		"\x80", "\xbf", "\xc2\xc2\x80", "x\xf0\x9f\x98\x80y\xe2\x82\xac\"\\\x01",
	};

	for (size_t i = 0; i < sizeof(seqs) / sizeof(*seqs); i++)
		assert_same_string(seqs[i]);
}

/* Random strings drawn from the bytes that matter. */
static void test_random_strings(void **state)
{
	static const char pool[] = "aZ09 /\"\\\x01\x08\x09\x0a\x0c\x0d\x1f\x7f"
				   "\x80\xbf\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xff\xa0\x9f\x90\x8f";
	uint32_t x = 2463534242u;

	for (int n = 0; n < 20000; n++) {
		char s[24];
		size_t len;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		len = x % (sizeof(s) - 1);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			s[i] = pool[x % (sizeof(pool) - 1)];
		}
		s[len] = '\0';
		assert_same_string(s);
	}
}

/* Objects, arrays, numbers, commas: the same text as jansson's tree. */
static void test_structure(void **state)
{
	json_t *o = json_pack("{s:[i,i,i,b,b,n,s,{}], s:{s:{s:[]}}, s:s, s:n, s:I}",
			      "a", 0, -1, 42, 1, 0, "x", "b", "c", "d", "e", "\"q\"", "f",
			      "g", (json_int_t)INT64_MIN);
	_cleanup_free_ char *want = json_dumps(o, JSON_COMPACT), *got = NULL;
	struct jsonw w;
	size_t len;

	json_decref(o);
	jsonw_init(&w, 0);
	jsonw_object_begin(&w);
	jsonw_member_array_begin(&w, "a");
	jsonw_int(&w, 0);
	jsonw_int(&w, -1);
	jsonw_int(&w, 42);
	jsonw_bool(&w, true);
	jsonw_bool(&w, false);
	jsonw_null(&w);
	jsonw_str(&w, "x");
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_array_end(&w);
	jsonw_member_object_begin(&w, "b");
	jsonw_member_object_begin(&w, "c");
	jsonw_member_array_begin(&w, "d");
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	jsonw_object_end(&w);
	jsonw_member_str(&w, "e", "\"q\"");
	jsonw_member_str(&w, "f", NULL);
	jsonw_member_int(&w, "g", INT64_MIN);
	jsonw_object_end(&w);
	assert_int_equal(jsonw_finish(&w, &got, &len), 0);
	assert_string_equal(got, want);

	/* INT64_MAX and a bare top-level value */
	free(got);
	jsonw_init(&w, 1);
	jsonw_int(&w, INT64_MAX);
	assert_int_equal(jsonw_finish(&w, &got, &len), 0);
	assert_string_equal(got, "9223372036854775807");
}

/* A member whose key or value is not UTF-8 is left out whole, as
 * json_object_set_new() leaves it out, and the commas stay right. */
static void test_member_left_out(void **state)
{
	_cleanup_free_ char *got = NULL;
	struct jsonw w;
	size_t len;

	jsonw_init(&w, 1);
	jsonw_object_begin(&w);
	assert_int_equal(jsonw_member_str(&w, "bad\xff", "v"), RAIN_EINVAL);
	assert_int_equal(jsonw_member_str(&w, "k", "bad\xc0\x80"), RAIN_EINVAL);
	assert_int_equal(jsonw_member_int(&w, "\xed\xa0\x80", 1), RAIN_EINVAL);
	assert_int_equal(jsonw_member_str(&w, "a", "1"), 0);
	assert_int_equal(jsonw_member_str(&w, "b", "\xf4\x90\x80\x80"), RAIN_EINVAL);
	assert_int_equal(jsonw_member_array_begin(&w, "\xff"), RAIN_EINVAL);
	assert_int_equal(jsonw_member_array_begin(&w, "t"), 0);
	assert_int_equal(jsonw_str(&w, "\xff"), RAIN_EINVAL);
	assert_int_equal(jsonw_str(&w, "x"), 0);
	assert_int_equal(jsonw_str(&w, "\xc2"), RAIN_EINVAL);
	assert_int_equal(jsonw_str(&w, "y"), 0);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	assert_int_equal(jsonw_finish(&w, &got, &len), 0);
	assert_string_equal(got, "{\"a\":\"1\",\"t\":[\"x\",\"y\"]}");
}

static void expect_misuse(struct jsonw *w)
{
	char *t = (char *)"unset";
	size_t len = 7;

	assert_int_equal(jsonw_finish(w, &t, &len), RAIN_EINVAL);
	assert_null(t);
	assert_int_equal(len, 0);
	assert_error_contains("JSON writer");
	assert_null(w->buf);
}

static void test_misuse(void **state)
{
	struct jsonw w;

	jsonw_init(&w, 0);                 /* nothing written */
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* a value inside an object */
	jsonw_object_begin(&w);
	jsonw_int(&w, 1);
	jsonw_object_end(&w);
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* a member inside an array */
	jsonw_array_begin(&w);
	assert_int_equal(jsonw_member_int(&w, "a", 1), RAIN_EINVAL);
	jsonw_array_end(&w);
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* left open */
	jsonw_array_begin(&w);
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* closed with the wrong bracket */
	jsonw_array_begin(&w);
	jsonw_object_end(&w);
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* two values at the top */
	jsonw_null(&w);
	jsonw_null(&w);
	expect_misuse(&w);
	jsonw_init(&w, 0);                 /* too deep */
	for (int i = 0; i < JSONW_MAX_DEPTH + 2; i++)
		jsonw_array_begin(&w);
	expect_misuse(&w);
}

/* Deep but allowed nesting, and growth from a one-byte buffer. */
static void test_depth_and_growth(void **state)
{
	_cleanup_free_ char *got = NULL;
	struct jsonw w;
	size_t len;

	jsonw_init(&w, 1);
	for (int i = 0; i < JSONW_MAX_DEPTH - 1; i++)
		jsonw_array_begin(&w);
	for (int i = 0; i < 1000; i++)
		jsonw_str(&w, "\x01\"\\\xe2\x82\xac");
	for (int i = 0; i < JSONW_MAX_DEPTH - 1; i++)
		jsonw_array_end(&w);
	assert_int_equal(jsonw_finish(&w, &got, &len), 0);
	assert_int_equal(len, 2 * (JSONW_MAX_DEPTH - 1) + 1000 * 16 - 1);
	json_t *v = json_loads(got, 0, NULL);

	assert_non_null(v);
	json_decref(v);
}

static void prop_add(struct rain_image *img, const char *name, const char *value)
{
	img->props = realloc(img->props, (img->nprops + 1) * sizeof(*img->props));
	assert_non_null(img->props);
	img->props[img->nprops].name = strdup(name);
	img->props[img->nprops].value = strdup(value);
	img->nprops++;
}

static void tag_add(struct rain_image *img, const char *tag)
{
	img->tags = realloc(img->tags, (img->ntags + 2) * sizeof(*img->tags));
	assert_non_null(img->tags);
	img->tags[img->ntags++] = strdup(tag);
	img->tags[img->ntags] = NULL;
}

static struct rain_image *hostile_image(void)
{
	struct rain_image *img = rain_image_new();

	assert_non_null(img);
	snprintf(img->id, sizeof(img->id), "%s", "5b0ea1d2-7a44-4f5c-9f1b-1e2d3c4b5a69");
	img->name = strdup("na\"me\\ \x01\x1f\x7f \xe2\x80\xa8 \xf0\x9f\x98\x80 </script>");
	img->owner = strdup("alice");
	img->disk_format = strdup("qcow2");
	img->container_format = strdup("bare");
	img->checksum = strdup("900150983cd24fb0d6963f7d28e17f72");
	img->os_hash_algo = strdup("sha256");
	img->size = INT64_MAX;
	img->virtual_size = -1;
	img->min_disk = 3;
	img->min_ram = 0;
	img->created_at = 1700000000000000;
	img->updated_at = 1700000060000000;
	img->last_access = 0;
	img->download_count = 12;
	img->protected_ = true;
	prop_add(img, "quote\"key", "back\\slash\"quote");
	prop_add(img, "ctl", "\b\f\n\r\t\x0b\x1b end");
	prop_add(img, "bad-value", "ok \xff not");
	prop_add(img, "bad-key-\xc0\xaf", "v");
	prop_add(img, "surrogate", "\xed\xb0\x80");
	prop_add(img, "unicode-\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac \xef\xbf\xbf");
	prop_add(img, "", "empty key");
	prop_add(img, "long", "");
	tag_add(img, "t\"1");
	tag_add(img, "\xfe bad");
	tag_add(img, "t\n2");
	return img;
}

static char *writer_image(const struct rain_image *img)
{
	char *t;
	size_t len;
	struct jsonw w;

	jsonw_init(&w, 16);
	rain_image_write_json(img, &w);
	assert_int_equal(jsonw_finish(&w, &t, &len), 0);
	return t;
}

static void assert_same_image(const struct rain_image *img, bool bytes)
{
	json_t *o = rain_image_to_json(img), *a, *b;
	_cleanup_free_ char *want = json_dumps(o, JSON_COMPACT), *got = writer_image(img);

	json_decref(o);
	assert_non_null(want);
	if (bytes && strcmp(want, got))
		fail_msg("jansson:\n%s\nwriter:\n%s", want, got);
	a = json_loads(want, 0, NULL);
	b = json_loads(got, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(a);
	assert_non_null(b);
	if (!json_equal(a, b))
		fail_msg("parsed differ:\njansson: %s\nwriter:  %s", want, got);
	json_decref(a);
	json_decref(b);
}

/* Hostile names, values and tags: the same bytes as jansson's, and what
 * jansson leaves out (invalid UTF-8) is left out. */
static void test_image_hostile(void **state)
{
	struct rain_image *img = hostile_image();
	_cleanup_free_ char *got = NULL;

	assert_same_image(img, true);
	got = writer_image(img);
	assert_null(strstr(got, "bad-value"));
	assert_null(strstr(got, "bad-key"));
	assert_null(strstr(got, "surrogate"));
	assert_null(strstr(got, " bad"));
	assert_non_null(strstr(got, "\"t\\n2\""));

	/* an invalid name drops the field, as json_object_set_new did */
	free(img->name);
	img->name = strdup("x\xff");
	assert_same_image(img, true);
	free(got);
	got = writer_image(img);
	assert_null(strstr(got, "\"name\""));

	/* the empty image: every field null or zero */
	rain_image_free(img);
	img = rain_image_new();
	assert_same_image(img, true);
	rain_image_free(img);
}

/* A property named as a field: the field's value, in the field's place
 * (jansson keeps the property's place): equal once parsed. */
static void test_image_shadowed(void **state)
{
	struct rain_image *img = hostile_image();

	prop_add(img, "id", "forged");
	prop_add(img, "self", "/elsewhere");
	prop_add(img, "tags", "not a list");
	assert_same_image(img, false);
	rain_image_free(img);
}

/* Random images: property names and values from the hostile pool. */
static void test_image_random(void **state)
{
	static const char pool[] = "ab/\"\\\x01\x0a\x1f\x7f\xc3\xa9\xe2\x82\xac\xff\xc0";
	uint32_t x = 88172645u;

	for (int n = 0; n < 300; n++) {
		struct rain_image *img = rain_image_new();
		size_t np;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		np = x % 6;
		for (size_t p = 0; p < np; p++) {
			char name[12], value[12];
			size_t nl, vl;

			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			nl = 1 + x % 8;
			vl = (x >> 8) % 10;
			snprintf(name, sizeof(name), "%zu", p);   /* unique names */
			for (size_t i = 1; i < nl; i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				name[i] = pool[x % (sizeof(pool) - 1)];
			}
			name[nl > 1 ? nl : 1] = '\0';
			for (size_t i = 0; i < vl; i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				value[i] = pool[x % (sizeof(pool) - 1)];
			}
			value[vl] = '\0';
			prop_add(img, name, value);
		}
		assert_same_image(img, true);
		rain_image_free(img);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_utf8_edges),
		cmocka_unit_test(test_random_strings),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_member_left_out),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_depth_and_growth),
		cmocka_unit_test(test_image_hostile),
		cmocka_unit_test(test_image_shadowed),
		cmocka_unit_test(test_image_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
