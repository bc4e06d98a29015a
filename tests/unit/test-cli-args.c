/* Unit tests for src/cli/args.c: the option tables commands declare, the
 * parser, the operand checks of cli_cmd_run() and the --help lines made
 * from the tables.  Linked with the CLI's args.c and util.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { K_OUT = 1, K_TAG, K_ALL };

static const struct cli_opt opts[] = {
	CLI_OPT("output", 'o', "FILE", K_OUT, "write to FILE\n(default: standard output)"),
	{ .name = "file", .arg = "FILE", .same_as = "output" },
	CLI_OPT("tag", 0, "TAG", K_TAG, "a tag (repeatable)"),
	{ .help = "Heading:" },
	CLI_OPT("all", 'a', NULL, K_ALL, "every page"),
	{ 0 },
};

static int calls;
static struct cli_args seen;

static int exec_count(struct cli *cli, const struct cli_args *a)
{
	calls++;
	seen = *a;
	return CLI_EXIT_OK;
}

static const struct cli_cmd cmd = {
	.name = "thing", .usage = "ID [OPTIONS]", .summary = "do a thing",
	.opts = opts, .args = { 1, 2, "give one or two ids" },
	.exec = exec_count, .prefix = "rain test",
};

static const struct cli_cmd cmd_none = {
	.name = "plain", .usage = "", .summary = "nothing", .exec = exec_count,
	.prefix = "rain test",
};

/* argv from a string (space-separated), static storage, argv[0] "thing". */
static char **make_argv(const char *line, int *argc)
{
	static char buf[512];
	static char *argv[32];
	char *save = NULL, *t;
	int n = 0;

	snprintf(buf, sizeof(buf), "thing %s", line);
	for (t = strtok_r(buf, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save))
		argv[n++] = strcmp(t, "''") ? t : t + 2;       /* '' is an empty argument */
	argv[n] = NULL;
	*argc = n;
	return argv;
}

static int parse(const char *line, bool stop, struct cli_args *a)
{
	int argc;
	char **argv = make_argv(line, &argc);

	return cli_args_parse(&cmd, argc, argv, stop, a);
}

static void test_values_and_flags(void **state)
{
	struct cli_args a;

	assert_int_equal(parse("-o out --tag x X --all --tag=y -q Y", false, &a), 0);
	assert_ptr_equal(a.cmd, &cmd);
	assert_string_equal(cli_arg(&a, "output"), "out");
	assert_string_equal(cli_arg(&a, "tag"), "y");     /* the last one */
	assert_true(cli_flag(&a, "all"));
	assert_string_equal(cli_arg(&a, "all"), "");
	assert_true(cli_flag(&a, "quiet"));
	assert_false(cli_flag(&a, "json"));
	assert_null(cli_arg(&a, "help"));
	/* every option in command-line order, with its key */
	assert_int_equal(a.nopts, 5);
	assert_int_equal(a.opts[0].opt->key, K_OUT);
	assert_int_equal(a.opts[1].opt->key, K_TAG);
	assert_string_equal(a.opts[1].value, "x");
	assert_int_equal(a.opts[2].opt->key, K_ALL);
	assert_string_equal(a.opts[3].value, "y");
	assert_string_equal(a.opts[4].opt->name, "quiet");
	/* operands, options taken out wherever they stood */
	assert_int_equal(a.argc, 2);
	assert_string_equal(a.argv[0], "X");
	assert_string_equal(a.argv[1], "Y");
	cli_args_free(&a);
}

static void test_short_forms(void **state)
{
	struct cli_args a;

	assert_int_equal(parse("-ofile -a", false, &a), 0);
	assert_string_equal(cli_arg(&a, "output"), "file");
	assert_true(cli_flag(&a, "all"));
	assert_int_equal(a.argc, 0);
	cli_args_free(&a);
	/* a unique prefix of a long name, as getopt_long allows */
	assert_int_equal(parse("--out=o2 --al", false, &a), 0);
	assert_string_equal(cli_arg(&a, "output"), "o2");
	assert_true(cli_flag(&a, "all"));
	cli_args_free(&a);
	/* an empty value is a value */
	assert_int_equal(parse("-o ''", false, &a), 0);
	assert_string_equal(cli_arg(&a, "output"), "");
	cli_args_free(&a);
}

static void test_same_as(void **state)
{
	struct cli_args a;

	assert_int_equal(parse("--file f1 X", false, &a), 0);
	/* recorded as the option it spells */
	assert_string_equal(cli_arg(&a, "output"), "f1");
	assert_null(cli_arg(&a, "file"));
	assert_int_equal(a.opts[0].opt->key, K_OUT);
	cli_args_free(&a);
}

static void test_errors(void **state)
{
	struct cli_args a;

	assert_int_equal(parse("--no-such X", false, &a), CLI_EXIT_USAGE);
	assert_null(a.opts);
	assert_int_equal(parse("-Z X", false, &a), CLI_EXIT_USAGE);
	assert_int_equal(parse("X --output", false, &a), CLI_EXIT_USAGE);
	assert_int_equal(parse("X -o", false, &a), CLI_EXIT_USAGE);
	/* a flag takes no value */
	assert_int_equal(parse("--all=1 X", false, &a), CLI_EXIT_USAGE);
	/* ambiguous: --json, --j... only one; --a matches --all only */
	assert_int_equal(parse("--a X", false, &a), 0);
	cli_args_free(&a);
}

static void test_stop_at_operand(void **state)
{
	struct cli_args a;

	assert_int_equal(parse("-a CMD --tag t", true, &a), 0);
	assert_true(cli_flag(&a, "all"));
	assert_null(cli_arg(&a, "tag"));
	assert_int_equal(a.argc, 3);
	assert_string_equal(a.argv[0], "CMD");
	assert_string_equal(a.argv[1], "--tag");
	cli_args_free(&a);
}

static void test_final_stops(void **state)
{
	struct cli_args a;

	/* --help ends the parsing: what follows is not checked */
	assert_int_equal(parse("--all --help --no-such", false, &a), 0);
	assert_true(cli_flag(&a, "help"));
	assert_true(cli_flag(&a, "all"));
	cli_args_free(&a);
}

static void test_reparse(void **state)
{
	struct cli_args a;

	/* getopt's state does not leak from one parse to the next */
	assert_int_equal(parse("-o x X", false, &a), 0);
	cli_args_free(&a);
	assert_int_equal(parse("-o y Y", false, &a), 0);
	assert_string_equal(cli_arg(&a, "output"), "y");
	assert_string_equal(a.argv[0], "Y");
	cli_args_free(&a);
}

static int run(const struct cli_cmd *c, struct cli *cli, const char *line)
{
	int argc;
	char **argv = make_argv(line, &argc);

	return cli_cmd_run(cli, c, argc, argv);
}

static void test_run_operands(void **state)
{
	struct cli cli = { 0 };

	calls = 0;
	assert_int_equal(run(&cmd, &cli, "-o x"), CLI_EXIT_USAGE);
	assert_int_equal(run(&cmd, &cli, "A B C"), CLI_EXIT_USAGE);
	assert_int_equal(calls, 0);
	assert_int_equal(run(&cmd, &cli, "A --json B"), CLI_EXIT_OK);
	assert_int_equal(calls, 1);
	assert_int_equal(seen.argc, 2);
	assert_true(cli.json);
	assert_false(cli.quiet);
	assert_int_equal(run(&cmd, &cli, "-q A"), CLI_EXIT_OK);
	assert_true(cli.quiet);
	assert_int_equal(calls, 2);
	/* no declared operands: none taken */
	assert_int_equal(run(&cmd_none, &cli, "extra"), CLI_EXIT_USAGE);
	assert_int_equal(run(&cmd_none, &cli, ""), CLI_EXIT_OK);
	assert_int_equal(calls, 3);
}

static void test_run_help(void **state)
{
	struct cli cli = { 0 };
	FILE *saved = stdout;
	char *text = NULL;
	size_t len = 0;
	int r;

	calls = 0;
	stdout = open_memstream(&text, &len);
	assert_non_null(stdout);
	r = run(&cmd, &cli, "--help");
	fclose(stdout);
	stdout = saved;
	assert_int_equal(r, CLI_EXIT_OK);
	assert_int_equal(calls, 0);
	assert_string_equal(text,
		"Usage: rain test thing ID [OPTIONS]\n"
		"\n"
		"Do a thing.\n"
		"\n"
		"Options:\n"
		"  -o, --output FILE  write to FILE\n"
		"                     (default: standard output)\n"
		"      --tag TAG      a tag (repeatable)\n"
		"Heading:\n"
		"  -a, --all          every page\n"
		"\n"
		"Common options:\n"
		"  -h, --help         show this help\n"
		"      --json         print the server's JSON instead of tables\n"
		"  -q, --quiet        no progress bars or notes\n");
	free(text);
}

static void test_opts_width(void **state)
{
	static const struct cli_opt none[] = { { 0 } };

	assert_int_equal(cli_opts_width(opts), (int)strlen("  -o, --output FILE"));
	assert_int_equal(cli_opts_width(none), 0);
	assert_int_equal(cli_opts_width(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_flags),
		cmocka_unit_test(test_short_forms),
		cmocka_unit_test(test_same_as),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stop_at_operand),
		cmocka_unit_test(test_final_stops),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_run_operands),
		cmocka_unit_test(test_run_help),
		cmocka_unit_test(test_opts_width),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
