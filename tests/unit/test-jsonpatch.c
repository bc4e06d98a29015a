/* Unit tests for src/lib/repo/jsonpatch.c: parsing Glance's restricted JSON
 * patch documents (add, replace, remove on one-token paths). */
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
#include "rain/jsonpatch.h"

static int parse(const char *text, struct rain_jsonpatch **out)
{
	return rain_jsonpatch_parse(text, strlen(text), out);
}

/* Parse text expecting failure with code and a message containing msg. */
static void expect_fail(const char *text, int code, const char *msg)
{
	struct rain_jsonpatch *p = (struct rain_jsonpatch *)0x1;
	int r;

	rain_error_clear();
	r = parse(text, &p);
	if (r != code)
		fail_msg("%s: got %d (%s), expected %d", text, r, rain_error_last(), code);
	assert_ptr_equal(p, (struct rain_jsonpatch *)0x1);   /* *out untouched */
	assert_error_contains(msg);
}

/* Glance's v2.0 media type: draft 4, the operation's name holds the path
 * (tempest's images client sends it) */
static void test_draft4(void **state)
{
	static const char text[] =
		"[{\"replace\": \"/protected\", \"value\": false},"
		" {\"add\": \"/a~1b\", \"value\": \"x\"}, {\"remove\": \"/os_distro\"}]";
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "[{\"op\": \"replace\", \"path\": \"/name\", \"value\": 1}]", "unknown member 'op'" },
		{ "[{\"replace\": \"/name\", \"add\": \"/x\", \"value\": 1}]", "more than one of add" },
		{ "[{\"value\": 1}]", "needs one member named add, replace or remove" },
		{ "[{\"move\": \"/name\"}]", "unknown member 'move'" },
		{ "[{\"replace\": 3, \"value\": 1}]", "'replace' must be a path string" },
		{ "[{\"remove\": \"/name\", \"value\": 1}]", "remove takes no 'value'" },
		{ "[{\"add\": \"/name\"}]", "add needs a 'value'" },
		{ "[{\"add\": \"/a/b\", \"value\": 1}]", "not a single attribute" },
	};
	struct rain_jsonpatch *p = NULL;
	size_t i;

	(void)state;
	assert_int_equal(rain_jsonpatch_parse_dialect(text, strlen(text), RAIN_JSONPATCH_DRAFT4, &p), 0);
	assert_int_equal(p->n, 3);
	assert_int_equal(p->items[0].op, RAIN_PATCH_REPLACE);
	assert_string_equal(p->items[0].attr, "protected");
	assert_true(json_is_false(p->items[0].value));
	assert_int_equal(p->items[1].op, RAIN_PATCH_ADD);
	assert_string_equal(p->items[1].attr, "a/b");
	assert_int_equal(p->items[2].op, RAIN_PATCH_REMOVE);
	assert_null(p->items[2].value);
	rain_jsonpatch_free(p);
	/* and the other dialect refuses it */
	assert_int_equal(rain_jsonpatch_parse(text, strlen(text), &p), RAIN_EINVAL);
	assert_error_contains("unknown member 'replace'");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = NULL;
		if (rain_jsonpatch_parse_dialect(bad[i].text, strlen(bad[i].text), RAIN_JSONPATCH_DRAFT4,
						 &p) != RAIN_EINVAL)
			fail_msg("%s: accepted", bad[i].text);
		assert_null(p);
		assert_error_contains(bad[i].msg);
	}
}

static void test_valid_ops(void **state)
{
	static const char text[] =
		"[{\"op\": \"add\", \"path\": \"/name\", \"value\": \"cirros\"},"
		" {\"op\": \"replace\", \"path\": \"/min_disk\", \"value\": 5},"
		" {\"op\": \"remove\", \"path\": \"/os_distro\"},"
		" {\"path\": \"/tags\", \"value\": [\"a\", \"b\"], \"op\": \"add\"},"
		" {\"op\": \"add\", \"path\": \"/name\", \"value\": null},"
		" {\"op\": \"replace\", \"path\": \"/protected\", \"value\": true}]";
	struct rain_jsonpatch *p = NULL;

	assert_int_equal(parse(text, &p), 0);
	assert_non_null(p);
	assert_int_equal(p->n, 6);

	assert_int_equal(p->items[0].op, RAIN_PATCH_ADD);
	assert_string_equal(p->items[0].attr, "name");
	assert_true(json_is_string(p->items[0].value));
	assert_string_equal(json_string_value(p->items[0].value), "cirros");

	assert_int_equal(p->items[1].op, RAIN_PATCH_REPLACE);
	assert_string_equal(p->items[1].attr, "min_disk");
	assert_true(json_is_integer(p->items[1].value));
	assert_int_equal(json_integer_value(p->items[1].value), 5);

	assert_int_equal(p->items[2].op, RAIN_PATCH_REMOVE);
	assert_string_equal(p->items[2].attr, "os_distro");
	assert_null(p->items[2].value);

	assert_int_equal(p->items[3].op, RAIN_PATCH_ADD);
	assert_string_equal(p->items[3].attr, "tags");
	assert_true(json_is_array(p->items[3].value));
	assert_int_equal(json_array_size(p->items[3].value), 2);
	assert_string_equal(json_string_value(json_array_get(p->items[3].value, 1)), "b");

	/* an explicit null value is a value */
	assert_int_equal(p->items[4].op, RAIN_PATCH_ADD);
	assert_non_null(p->items[4].value);
	assert_true(json_is_null(p->items[4].value));

	assert_int_equal(p->items[5].op, RAIN_PATCH_REPLACE);
	assert_true(json_is_true(p->items[5].value));
	rain_jsonpatch_free(p);
}

static void test_values_outlive_document(void **state)
{
	/* the values are the patch's own references: usable after parsing,
	 * freed with the patch (the sanitizer build checks both) */
	struct rain_jsonpatch *p = NULL;
	json_t *v;

	assert_int_equal(parse("[{\"op\":\"add\",\"path\":\"/x\",\"value\":{\"k\":[1,2,3]}}]", &p), 0);
	v = p->items[0].value;
	assert_true(json_is_object(v));
	assert_int_equal(json_array_size(json_object_get(v, "k")), 3);
	assert_int_equal(v->refcount, 1);
	rain_jsonpatch_free(p);
	rain_jsonpatch_free(NULL);
}

static void test_empty_array(void **state)
{
	struct rain_jsonpatch *p = NULL;

	assert_int_equal(parse("[]", &p), 0);
	assert_non_null(p);
	assert_int_equal(p->n, 0);
	rain_jsonpatch_free(p);
	assert_int_equal(parse("  [ ]  \n", &p), 0);
	assert_int_equal(p->n, 0);
	rain_jsonpatch_free(p);
}

static void test_unescape(void **state)
{
	static const struct {
		const char *path;
		const char *attr;
	} cases[] = {
		{ "/a~1b", "a/b" },
		{ "/a~0b", "a~b" },
		{ "/~01", "~1" },        /* ~0 first, then a literal 1 */
		{ "/~10", "/0" },
		{ "/~0~0~1~1", "~~//" },
		{ "/x~1~1y", "x//y" },
		{ "/os_distro", "os_distro" },
		{ "/ spaced key ", " spaced key " },
		{ "/caf\\u00e9", "caf\xc3\xa9" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct rain_jsonpatch *p = NULL;

		snprintf(text, sizeof(text), "[{\"op\":\"remove\",\"path\":\"%s\"}]", cases[i].path);
		assert_int_equal(parse(text, &p), 0);
		assert_int_equal(p->n, 1);
		assert_string_equal(p->items[0].attr, cases[i].attr);
		rain_jsonpatch_free(p);
	}
}

static void test_bad_paths(void **state)
{
	expect_fail("[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", RAIN_EINVAL,
		    "operation 0: path '/a/b' is not a single attribute");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/tags/0\"}]", RAIN_EINVAL,
		    "is not a single attribute");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/name/\"}]", RAIN_EINVAL,
		    "is not a single attribute");
	expect_fail("[{\"op\":\"remove\",\"path\":\"//\"}]", RAIN_EINVAL,
		    "is not a single attribute");
	expect_fail("[{\"op\":\"remove\",\"path\":\"name\"}]", RAIN_EINVAL,
		    "path 'name' must start with '/'");
	expect_fail("[{\"op\":\"remove\",\"path\":\"\"}]", RAIN_EINVAL, "must start with '/'");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/\"}]", RAIN_EINVAL, "names no attribute");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/a~2\"}]", RAIN_EINVAL, "bad escape '~2'");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/a~\"}]", RAIN_EINVAL, "bad escape");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/~\"}]", RAIN_EINVAL, "bad escape");
	/* a NUL cannot hide in a path: "/a\0b" would otherwise become "a" */
	expect_fail("[{\"op\":\"remove\",\"path\":\"/a\\u0000b\"}]", RAIN_EINVAL, "");
	/* the index names the offending operation */
	expect_fail("[{\"op\":\"remove\",\"path\":\"/ok\"},"
		    " {\"op\":\"remove\",\"path\":\"/ok2\"},"
		    " {\"op\":\"remove\",\"path\":\"/a/b\"}]", RAIN_EINVAL,
		    "operation 2: path '/a/b'");
}

static void test_missing_members(void **state)
{
	expect_fail("[{\"path\":\"/name\",\"value\":\"x\"}]", RAIN_EINVAL,
		    "operation 0: 'op' must be a string");
	expect_fail("[{\"op\":5,\"path\":\"/name\",\"value\":\"x\"}]", RAIN_EINVAL,
		    "'op' must be a string");
	expect_fail("[{\"op\":null,\"path\":\"/name\",\"value\":\"x\"}]", RAIN_EINVAL,
		    "'op' must be a string");
	expect_fail("[{\"op\":\"add\",\"value\":\"x\"}]", RAIN_EINVAL,
		    "operation 0: 'path' must be a string");
	expect_fail("[{\"op\":\"add\",\"path\":[\"/name\"],\"value\":\"x\"}]", RAIN_EINVAL,
		    "'path' must be a string");
	expect_fail("[{\"op\":\"add\",\"path\":\"/name\"}]", RAIN_EINVAL,
		    "operation 0: add needs a 'value'");
	expect_fail("[{\"op\":\"replace\",\"path\":\"/name\"}]", RAIN_EINVAL,
		    "replace needs a 'value'");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/name\",\"value\":\"x\"}]", RAIN_EINVAL,
		    "remove takes no 'value'");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/name\",\"value\":null}]", RAIN_EINVAL,
		    "remove takes no 'value'");
	expect_fail("[{}]", RAIN_EINVAL, "'op' must be a string");
}

static void test_unknown_op_and_member(void **state)
{
	static const char *const ops[] = { "move", "copy", "test", "ADD", "Add", "", "add " };
	char text[256];

	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		char msg[64];

		snprintf(text, sizeof(text),
			 "[{\"op\":\"%s\",\"path\":\"/name\",\"value\":\"x\",\"from\":\"/a\"}]", ops[i]);
		/* "from" is also unknown; whichever is reported, it is refused */
		assert_int_equal(parse(text, &(struct rain_jsonpatch *){ NULL }), RAIN_EINVAL);
		snprintf(text, sizeof(text),
			 "[{\"op\":\"%s\",\"path\":\"/name\",\"value\":\"x\"}]", ops[i]);
		snprintf(msg, sizeof(msg), "op '%s' is not one of add, replace, remove", ops[i]);
		expect_fail(text, RAIN_EINVAL, msg);
	}
	expect_fail("[{\"op\":\"add\",\"path\":\"/name\",\"value\":\"x\",\"from\":\"/a\"}]",
		    RAIN_EINVAL, "operation 0: unknown member 'from'");
	expect_fail("[{\"op\":\"add\",\"path\":\"/name\",\"value\":\"x\",\"Op\":\"add\"}]",
		    RAIN_EINVAL, "unknown member 'Op'");
}

static void test_not_an_array(void **state)
{
	expect_fail("{\"op\":\"add\",\"path\":\"/name\",\"value\":\"x\"}", RAIN_EINVAL,
		    "must be an array");
	expect_fail("\"add\"", RAIN_EINVAL, "");
	expect_fail("null", RAIN_EINVAL, "");
	expect_fail("42", RAIN_EINVAL, "");
	expect_fail("[1]", RAIN_EINVAL, "operation 0 is not a JSON object");
	expect_fail("[{\"op\":\"remove\",\"path\":\"/a\"}, \"x\"]", RAIN_EINVAL,
		    "operation 1 is not a JSON object");
	expect_fail("[[]]", RAIN_EINVAL, "operation 0 is not a JSON object");
	expect_fail("[null]", RAIN_EINVAL, "operation 0 is not a JSON object");
}

static void test_malformed_json(void **state)
{
	expect_fail("", RAIN_EINVAL, "malformed JSON");
	expect_fail("[", RAIN_EINVAL, "malformed JSON at line 1");
	expect_fail("[{\"op\": }]", RAIN_EINVAL, "malformed JSON at line 1 column 9");
	expect_fail("[\n  {\"op\": \"add\",\n   \"path\": /name}]", RAIN_EINVAL,
		    "malformed JSON at line 3 column");
	expect_fail("[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}] trailing", RAIN_EINVAL,
		    "malformed JSON");
	expect_fail("[{'op':'add'}]", RAIN_EINVAL, "malformed JSON");
	/* duplicate members are ambiguous and refused */
	expect_fail("[{\"op\":\"add\",\"op\":\"remove\",\"path\":\"/a\"}]", RAIN_EINVAL,
		    "malformed JSON");
}

static void test_length_not_nul(void **state)
{
	/* only len bytes count; what follows is not read as part of the text */
	static const char text[] = "[]garbage";
	static const char op[] = "[{\"op\":\"remove\",\"path\":\"/abc\"}]XYZ";
	struct rain_jsonpatch *p = NULL;

	assert_int_equal(rain_jsonpatch_parse(text, 2, &p), 0);
	assert_int_equal(p->n, 0);
	rain_jsonpatch_free(p);
	assert_int_equal(rain_jsonpatch_parse(op, sizeof(op) - 4, &p), 0);
	assert_int_equal(p->n, 1);
	assert_string_equal(p->items[0].attr, "abc");
	rain_jsonpatch_free(p);
	/* a NUL byte inside the given length is not the end */
	assert_int_equal(rain_jsonpatch_parse("[]\0[", 4, &p), RAIN_EINVAL);
	assert_int_equal(rain_jsonpatch_parse("[", 0, &p), RAIN_EINVAL);
}

static char *make_ops(size_t n)
{
	static const char one[] = "{\"op\":\"add\",\"path\":\"/p\",\"value\":\"v\"},";
	char *text = malloc(n * (sizeof(one) - 1) + 3), *o = text;

	assert_non_null(text);
	*o++ = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(o, one, sizeof(one) - 1);
		o += sizeof(one) - 1;
	}
	if (n)
		o--;
	*o++ = ']';
	*o = '\0';
	return text;
}

static void test_too_many_ops(void **state)
{
	struct rain_jsonpatch *p = NULL;
	char *text;

	text = make_ops(RAIN_JSONPATCH_MAX_OPS);
	assert_int_equal(parse(text, &p), 0);
	assert_int_equal(p->n, RAIN_JSONPATCH_MAX_OPS);
	assert_string_equal(p->items[RAIN_JSONPATCH_MAX_OPS - 1].attr, "p");
	rain_jsonpatch_free(p);
	free(text);

	text = make_ops(RAIN_JSONPATCH_MAX_OPS + 1);
	p = NULL;
	assert_int_equal(parse(text, &p), RAIN_ETOOBIG);
	assert_null(p);
	assert_error_contains("at most 256 operations");
	free(text);
}

static void test_error_frees_partial(void **state)
{
	/* the first operations parse, the last fails: nothing leaks (ASan) */
	struct rain_jsonpatch *p = NULL;

	assert_int_equal(parse("[{\"op\":\"add\",\"path\":\"/a\",\"value\":[1,2]},"
			       " {\"op\":\"add\",\"path\":\"/b\",\"value\":{\"x\":1}},"
			       " {\"op\":\"add\",\"path\":\"/c/d\",\"value\":1}]", &p), RAIN_EINVAL);
	assert_null(p);
}

static void test_arbitrary_bytes(void **state)
{
	/* never crashes, never leaks, and a success is a well-formed patch */
	static const char alphabet[] = "[]{}\":,/~01 \\addreplaceremoveoppathvalue\x01\xff";
	unsigned int seed = 12345;
	char buf[128];

	for (int iter = 0; iter < 20000; iter++) {
		struct rain_jsonpatch *p = NULL;
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		int r;

		for (size_t i = 0; i < len; i++)
			buf[i] = (rand_r(&seed) & 3) ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
						     : (char)rand_r(&seed);
		r = rain_jsonpatch_parse(buf, len, &p);
		if (r == 0) {
			for (size_t i = 0; i < p->n; i++) {
				assert_non_null(p->items[i].attr);
				assert_true((p->items[i].op == RAIN_PATCH_REMOVE) ==
					    (p->items[i].value == NULL));
			}
			rain_jsonpatch_free(p);
		} else {
			assert_true(r == RAIN_EINVAL || r == RAIN_ETOOBIG);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_ops),
		cmocka_unit_test(test_values_outlive_document),
		cmocka_unit_test(test_empty_array),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_missing_members),
		cmocka_unit_test(test_unknown_op_and_member),
		cmocka_unit_test(test_not_an_array),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_length_not_nul),
		cmocka_unit_test(test_too_many_ops),
		cmocka_unit_test(test_error_frees_partial),
		cmocka_unit_test(test_arbitrary_bytes),
		cmocka_unit_test(test_draft4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
