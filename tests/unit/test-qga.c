/* Unit tests for the QEMU guest agent's messages (src/lib/provision/qga.c):
 * the commands as JSON read back by jansson, and replies as qemu-ga 7.2
 * gives them (guest-exec, guest-exec-status running and exited with its
 * captured output, a signal, guest-file-open/read) read right; hostile or
 * garbled replies (not JSON, no "return", wrong types, out-of-range
 * numbers, bad base64, a count that lies, an agent error with control
 * characters) refused with a message naming the command and what was
 * wrong, never a crash. The way through a real qemu-ga is t0168's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/provision/qga.h"
#include "rain/error.h"

/* cmd read back: its "execute" and "arguments" (borrowed from *root). */
static json_t *load(char *cmd, const char *execute, json_t **root)
{
	json_error_t e;

	assert_non_null(cmd);
	*root = json_loads(cmd, 0, &e);
	free(cmd);
	assert_non_null(*root);
	assert_string_equal(json_string_value(json_object_get(*root, "execute")), execute);
	return json_object_get(*root, "arguments");
}

static void test_commands(void **state)
{
	const char *const args[] = { "-c", "echo \"$1\"", "sh", "it's \"quoted\"\n", NULL };
	const char *const env[] = { "HOME=/root", NULL };
	json_t *root, *a;

	(void)state;
	a = load(qga_cmd_exec("/bin/sh", args, env, "ab\0c", 4, true), "guest-exec", &root);
	assert_string_equal(json_string_value(json_object_get(a, "path")), "/bin/sh");
	assert_int_equal(json_array_size(json_object_get(a, "arg")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "arg"), 3)),
			    "it's \"quoted\"\n");
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "env"), 0)),
			    "HOME=/root");
	assert_string_equal(json_string_value(json_object_get(a, "input-data")), "YWIAYw==");
	assert_true(json_is_true(json_object_get(a, "capture-output")));
	json_decref(root);

	a = load(qga_cmd_exec("/bin/true", NULL, NULL, NULL, 0, false), "guest-exec", &root);
	assert_null(json_object_get(a, "arg"));
	assert_null(json_object_get(a, "env"));
	assert_null(json_object_get(a, "input-data"));
	assert_true(json_is_false(json_object_get(a, "capture-output")));
	json_decref(root);

	a = load(qga_cmd_exec_status(4242), "guest-exec-status", &root);
	assert_int_equal(json_integer_value(json_object_get(a, "pid")), 4242);
	json_decref(root);
	a = load(qga_cmd_file_open("/root/rain-job/out file", "r"), "guest-file-open", &root);
	assert_string_equal(json_string_value(json_object_get(a, "path")), "/root/rain-job/out file");
	assert_string_equal(json_string_value(json_object_get(a, "mode")), "r");
	json_decref(root);
	a = load(qga_cmd_file_read(1000, 4096), "guest-file-read", &root);
	assert_int_equal(json_integer_value(json_object_get(a, "handle")), 1000);
	assert_int_equal(json_integer_value(json_object_get(a, "count")), 4096);
	json_decref(root);
	a = load(qga_cmd_file_seek(7, 123456789012LL), "guest-file-seek", &root);
	assert_int_equal(json_integer_value(json_object_get(a, "offset")), 123456789012LL);
	assert_int_equal(json_integer_value(json_object_get(a, "whence")), 0);
	json_decref(root);
	a = load(qga_cmd_file_close(7), "guest-file-close", &root);
	assert_int_equal(json_integer_value(json_object_get(a, "handle")), 7);
	json_decref(root);
	load(strdup(QGA_CMD_PING), "guest-ping", &root);
	json_decref(root);
}

/* Replies as qemu-ga 7.2 sends them. */
static void test_replies(void **state)
{
	struct qga_exec_status st;
	unsigned char *buf;
	int64_t v;
	size_t len;
	bool eof;

	(void)state;
	assert_int_equal(qga_parse_ok("{\"return\": {}}", "guest-ping"), 0);
	assert_int_equal(qga_parse_exec("{\"return\": {\"pid\": 1234}}", &v), 0);
	assert_int_equal(v, 1234);

	assert_int_equal(qga_parse_exec_status("{\"return\": {\"exited\": false}}", &st), 0);
	assert_false(st.exited);
	assert_null(st.out);
	qga_exec_status_clear(&st);

	/* "hello\n" and "oops\n", exit code 3 */
	assert_int_equal(qga_parse_exec_status("{\"return\": {\"exitcode\": 3, \"out-data\": "
					       "\"aGVsbG8K\", \"err-data\": \"b29wcwo=\", "
					       "\"exited\": true}}", &st), 0);
	assert_true(st.exited);
	assert_int_equal(qga_exit_status(&st), 3);
	assert_int_equal(st.out_len, 6);
	assert_memory_equal(st.out, "hello\n", 6);
	assert_int_equal(st.err_len, 5);
	assert_memory_equal(st.err, "oops\n", 5);
	assert_false(st.truncated);
	qga_exec_status_clear(&st);

	assert_int_equal(qga_parse_exec_status("{\"return\": {\"signal\": 9, \"exited\": true, "
					       "\"out-truncated\": true}}", &st), 0);
	assert_int_equal(qga_exit_status(&st), 137);
	assert_true(st.truncated);
	qga_exec_status_clear(&st);

	assert_int_equal(qga_parse_file_open("{\"return\": 1000}", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(qga_parse_file_read("{\"return\": {\"count\": 3, \"buf-b64\": \"YQBi\", "
					     "\"eof\": false}}", &buf, &len, &eof), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "a\0b", 3);
	assert_false(eof);
	free(buf);
	/* at the end: no buf-b64 at all */
	assert_int_equal(qga_parse_file_read("{\"return\": {\"count\": 0, \"eof\": true}}", &buf, &len,
					     &eof), 0);
	assert_int_equal(len, 0);
	assert_non_null(buf);
	assert_true(eof);
	free(buf);
}

#define REFUSED(call, code, needle)                                                              \
	do {                                                                                     \
		assert_int_equal((call), (code));                                                \
		assert_error_contains(needle);                                                   \
	} while (0)

static void test_hostile(void **state)
{
	struct qga_exec_status st;
	unsigned char *buf;
	int64_t v;
	size_t len;
	bool eof;
	char *huge;

	(void)state;
	REFUSED(qga_parse_ok(NULL, "guest-ping"), RAIN_EFORMAT, "guest-ping: no reply");
	REFUSED(qga_parse_ok("", "guest-ping"), RAIN_EFORMAT, "guest-ping: the reply is no JSON");
	REFUSED(qga_parse_ok("{\"return\": ", "guest-ping"), RAIN_EFORMAT, "is no JSON object");
	REFUSED(qga_parse_ok("[1, 2]", "guest-ping"), RAIN_EFORMAT, "no JSON object (not an object)");
	REFUSED(qga_parse_ok("{\"return\": 1, \"return\": 2}", "guest-ping"), RAIN_EFORMAT,
		"no JSON object");
	REFUSED(qga_parse_ok("{\"greeting\": {}}", "guest-ping"), RAIN_EFORMAT, "has no \"return\"");
	/* the agent's error, its words cleaned of control characters */
	REFUSED(qga_parse_exec("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Guest "
			       "agent command failed\\u001b[2J\\n\"}}", &v), RAIN_EIO,
		"qemu-ga: guest-exec failed: Guest agent command failed?[2J? GenericError");
	REFUSED(qga_parse_exec("{\"error\": 5}", &v), RAIN_EIO, "guest-exec failed: no reason given");
	REFUSED(qga_parse_exec("{\"return\": {}}", &v), RAIN_EFORMAT, "\"pid\" is no integer");
	REFUSED(qga_parse_exec("{\"return\": {\"pid\": \"12\"}}", &v), RAIN_EFORMAT, "\"pid\"");
	REFUSED(qga_parse_exec("{\"return\": {\"pid\": -1}}", &v), RAIN_EFORMAT, "\"pid\"");
	REFUSED(qga_parse_exec("{\"return\": {\"pid\": 99999999999}}", &v), RAIN_EFORMAT, "\"pid\"");
	REFUSED(qga_parse_exec_status("{\"return\": {}}", &st), RAIN_EFORMAT, "no \"exited\"");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": 1}}", &st), RAIN_EFORMAT,
		"no \"exited\"");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": true}}", &st), RAIN_EFORMAT,
		"\"exitcode\" is no integer");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": true, \"exitcode\": 256}}", &st),
		RAIN_EFORMAT, "\"exitcode\" is no integer in 0..255");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": true, \"signal\": 0}}", &st),
		RAIN_EFORMAT, "\"signal\"");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": true, \"exitcode\": 0, "
				      "\"out-data\": \"a!==\"}}", &st), RAIN_EFORMAT,
		"\"out-data\" is no base64");
	REFUSED(qga_parse_exec_status("{\"return\": {\"exited\": true, \"exitcode\": 0, "
				      "\"out-data\": \"aGk=\", \"err-data\": 7}}", &st), RAIN_EFORMAT,
		"\"err-data\" is no string");
	assert_null(st.out);    /* nothing half-made is handed back */
	REFUSED(qga_parse_file_open("{\"return\": \"1000\"}", &v), RAIN_EFORMAT, "is no handle");
	REFUSED(qga_parse_file_open("{\"return\": -3}", &v), RAIN_EFORMAT, "is no handle");
	REFUSED(qga_parse_file_read("{\"return\": {\"count\": 9, \"buf-b64\": \"YQBi\", \"eof\": "
				    "false}}", &buf, &len, &eof), RAIN_EFORMAT,
		"says 9 bytes and carries 3");
	assert_null(buf);
	REFUSED(qga_parse_file_read("{\"return\": {\"count\": 3, \"buf-b64\": \"YQBi\"}}", &buf, &len,
				    &eof), RAIN_EFORMAT, "no \"eof\"");
	REFUSED(qga_parse_file_read("{\"return\": {\"count\": -1, \"eof\": true}}", &buf, &len, &eof),
		RAIN_EFORMAT, "\"count\" is no integer");
	REFUSED(qga_parse_file_read("{\"return\": []}", &buf, &len, &eof), RAIN_EFORMAT, "\"count\"");

	/* a reply over the limit is not parsed at all */
	huge = malloc(QGA_REPLY_MAX + 2);
	assert_non_null(huge);
	memset(huge, ' ', QGA_REPLY_MAX + 1);
	huge[QGA_REPLY_MAX + 1] = '\0';
	REFUSED(qga_parse_ok(huge, "guest-file-read"), RAIN_EFORMAT, "the reply is over");
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
