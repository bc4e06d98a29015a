#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rain/error.h"
#include "util/process.h"
#include "util/timeutil.h"

struct lines {
	char text[4096];
	int n;
};

static void collect(void *ud, const char *line)
{
	struct lines *l = ud;

	l->n++;
	strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 2);
	strcat(l->text, "|");
}

static void test_output_and_status(void **state)
{
	const char *argv[] = { "sh", "-c", "echo one; echo two >&2; printf three; exit 7", NULL };
	struct lines l = { "", 0 };
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .on_line = collect, .ud = &l };
	int status = -1;

	assert_int_equal(process_run(&o, &status), 0);
	assert_int_equal(status, 7);
	assert_int_equal(l.n, 3);
	assert_non_null(strstr(l.text, "one|"));
	assert_non_null(strstr(l.text, "two|"));
	assert_non_null(strstr(l.text, "three|"));
}

static void test_argv_is_not_a_shell(void **state)
{
	/* a value with shell syntax reaches the program as one argument */
	const char *argv[] = { "printf", "%s\\n", "a; rm -rf /tmp/nothing $(id)", NULL };
	struct lines l = { "", 0 };
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .on_line = collect, .ud = &l };
	int status;

	assert_int_equal(process_run(&o, &status), 0);
	assert_int_equal(status, 0);
	assert_string_equal(l.text, "a; rm -rf /tmp/nothing $(id)|");
}

static void test_timeout_kills_group(void **state)
{
	/* the child's own child must die too */
	const char *argv[] = { "sh", "-c", "sleep 30 & sleep 30; echo never", NULL };
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .timeout_s = 1 };
	int64_t t0 = time_mono_us();
	int status;

	assert_int_equal(process_run(&o, &status), RAIN_ECANCELED);
	assert_true(time_mono_us() - t0 < 10 * 1000000);
	assert_non_null(strstr(rain_error_last(), "longer than 1 s"));
}

static void test_end_with_program(void **state)
{
	/* a background process keeps the output open: without the option the
	 * caller waits for it (here: its time limit); with it, the program's
	 * exit ends the run, with its status and output, and the straggler */
	const char *argv[] = { "sh", "-c", "echo started; sleep 30 & echo bye; exit 3", NULL };
	struct lines l = { "", 0 };
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .on_line = collect, .ud = &l,
				  .timeout_s = 20, .end_with_program = true };
	int64_t t0 = time_mono_us();
	int status = -1;

	assert_int_equal(process_run(&o, &status), 0);
	assert_int_equal(status, 3);
	assert_true(time_mono_us() - t0 < 15 * 1000000);
	assert_string_equal(l.text, "started|bye|");
	o.end_with_program = false;
	o.timeout_s = 2;
	o.on_line = NULL;
	assert_int_equal(process_run(&o, &status), RAIN_ECANCELED);
}

static void test_cancel(void **state)
{
	const char *argv[] = { "sleep", "30", NULL };
	volatile sig_atomic_t cancel = 1;
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .cancel = &cancel };
	int status;

	assert_int_equal(process_run(&o, &status), RAIN_ECANCELED);
}

static void test_missing_program(void **state)
{
	const char *argv[] = { "rain-no-such-program", NULL };
	struct process_opts o = { .argv = argv, .stdin_fd = -1 };
	int status;

	assert_int_equal(process_run(&o, &status), RAIN_ENOTFOUND);
}

static void test_cwd(void **state)
{
	const char *argv[] = { "pwd", NULL };
	struct lines l = { "", 0 };
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .cwd = "/tmp", .on_line = collect, .ud = &l };
	int status;

	assert_int_equal(process_run(&o, &status), 0);
	assert_string_equal(l.text, "/tmp|");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_argv_is_not_a_shell),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_end_with_program),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_cwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
