/* Unit tests for src/util/shellwords.c: command lines split with a shell's
 * quoting (rain shell), the errors that say where, the partial split TAB
 * completion reads, and quoting that splits back to the same text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "testutil.h"
#include "util/shellwords.h"

/* Split s (whole) and compare with the NULL-terminated expected words. */
static void split_is(const char *s, const char *const *want)
{
	struct shellwords w;
	size_t n = 0;

	if (shellwords_split(s, strlen(s), 0, 0, &w) < 0)
		fail_msg("'%s' fails: %s", s, rain_error_last());
	while (want[n])
		n++;
	if (w.n != n)
		fail_msg("'%s': %zu words, want %zu", s, w.n, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(w.v[i], want[i]))
			fail_msg("'%s': word %zu is '%s', want '%s'", s, i, w.v[i], want[i]);
	assert_null(w.v[n]);
	shellwords_free(&w);
}

#define SPLIT_IS(s, ...) split_is((s), (const char *const[]){ __VA_ARGS__, NULL })

static void test_blanks(void **state)
{
	(void)state;
	SPLIT_IS("image list", "image", "list");
	SPLIT_IS("  image \t  show   x  ", "image", "show", "x");
	SPLIT_IS("image show x\r\n", "image", "show", "x");
	split_is("", (const char *const[]){ NULL });
	split_is("   \t ", (const char *const[]){ NULL });
}

static void test_quotes(void **state)
{
	(void)state;
	SPLIT_IS("image show 'my image'", "image", "show", "my image");
	SPLIT_IS("a 'b \"c\" \\d' e", "a", "b \"c\" \\d", "e");
	SPLIT_IS("\"it's\" \"a\\\"b\" \"c\\\\d\" \"\\$x\" \"\\`y\" \"\\z\"",
		 "it's", "a\"b", "c\\d", "$x", "`y", "\\z");
	/* quotes join with what is next to them; empty quotes are a word */
	SPLIT_IS("ab'c d'\"e f\"g", "abc de fg");
	SPLIT_IS("a '' \"\" b", "a", "", "", "b");
}

static void test_backslash(void **state)
{
	(void)state;
	SPLIT_IS("my\\ image \\'x\\' \\\\ \\#", "my image", "'x'", "\\", "#");
	/* a backslash before a newline joins the lines, in and out of double
	 * quotes; in single quotes it is kept */
	SPLIT_IS("image \\\nlist", "image", "list");
	SPLIT_IS("ima\\\nge", "image");
	SPLIT_IS("\"a\\\nb\" 'c\\\nd'", "ab", "c\\\nd");
	SPLIT_IS("'a\nb'", "a\nb");
}

static void test_no_expansion(void **state)
{
	(void)state;
	/* nothing a shell would expand or run is special here */
	SPLIT_IS("$HOME ~ * ? [a] `id` $(id) ; | && > < {a,b}",
		 "$HOME", "~", "*", "?", "[a]", "`id`", "$(id)", ";", "|", "&&", ">", "<", "{a,b}");
}

static void test_comments(void **state)
{
	(void)state;
	SPLIT_IS("image list # all of them", "image", "list");
	SPLIT_IS("a#b '#c' \\#d", "a#b", "#c", "#d");
	split_is("# only a comment 'unclosed", (const char *const[]){ NULL });
	SPLIT_IS("a # x\nb", "a", "b");
}

/* s fails with a message that has each of the needles. */
static void fails_with(const char *s, size_t len, size_t first_line, const char *n1, const char *n2)
{
	struct shellwords w;

	assert_int_equal(shellwords_split(s, len, 0, first_line, &w), RAIN_EINVAL);
	assert_error_contains(n1);
	assert_error_contains(n2);
	shellwords_free(&w);
}

static void test_errors(void **state)
{
	(void)state;
	fails_with("image show 'abc", 15, 0, "column 12:", "single quote here is not closed");
	fails_with("image show \"abc", 15, 0, "column 12:", "double quote here is not closed");
	/* columns count characters, not bytes */
	fails_with("\xc3\xa9t\xc3\xa9 'x", 8, 0, "column 5:", "single quote");
	fails_with("a\nb 'c", 6, 7, "line 8, column 3:", "single quote");
	fails_with("image list \\", 12, 0, "column 12:", "a backslash ends the line");
	fails_with("a\0b", 3, 0, "column 2:", "NUL byte");
	/* a backslash before the last newline: the line would go on */
	fails_with("a \\\n", 4, 3, "line 3, column 3:", "a backslash ends the line");
	/* a quote that closes on a later line is no error */
	split_is("'a\nb' c", (const char *const[]){ "a\nb", "c", NULL });
}

static void test_partial(void **state)
{
	struct shellwords w;

	(void)state;
	assert_int_equal(shellwords_split("image show 'my im", 17, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.v[2], "my im");
	assert_true(w.in_word);
	assert_int_equal(w.word_start, 11);
	assert_int_equal(w.quote, '\'');
	shellwords_free(&w);

	assert_int_equal(shellwords_split("image ", 6, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_int_equal(w.n, 1);
	assert_false(w.in_word);
	assert_int_equal(w.quote, 0);
	shellwords_free(&w);

	assert_int_equal(shellwords_split("a \"", 3, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.v[1], "");
	assert_int_equal(w.quote, '"');
	assert_true(w.in_word);
	shellwords_free(&w);

	assert_int_equal(shellwords_split("a b\\", 4, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_true(w.backslash);
	assert_string_equal(w.v[1], "b");
	shellwords_free(&w);

	/* a script reads on after "\\\n" at the end */
	assert_int_equal(shellwords_split("image \\\n", 8, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_true(w.backslash);
	assert_int_equal(w.n, 1);
	shellwords_free(&w);

	assert_int_equal(shellwords_split("x my\\ i", 7, SHELLWORDS_PARTIAL, 0, &w), 0);
	assert_string_equal(w.v[1], "my i");
	assert_int_equal(w.word_start, 2);
	assert_int_equal(w.quote, 0);
	shellwords_free(&w);
}

/* What shellwords_quote() writes splits back to the same text in each of
 * the three places it can go. */
static void test_quote_round_trip(void **state)
{
	static const char *const texts[] = {
		"plain", "my image", "it's", "say \"hi\"", "back\\slash", "#hash", "a#b",
		"$x `y` ~", "new\nline", "tab\there", "''", "\"\"", "\\", "caf\xc3\xa9 \xe2\x9c\x93", "",
	};
	static const char quotes[] = { 0, '\'', '"' };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		for (size_t q = 0; q < 3; q++) {
			char *s = shellwords_quote(texts[i], quotes[q]), *line;
			struct shellwords w;

			assert_non_null(s);
			/* the open quote before, the closing one after, and a
			 * word's worth of text around it so that "" stays a word */
			assert_true(asprintf(&line, "x%s%s%s%sy", quotes[q] ? (char[]){ quotes[q], 0 } : "",
					     s, quotes[q] ? (char[]){ quotes[q], 0 } : "", "") > 0);
			if (shellwords_split(line, strlen(line), 0, 0, &w) < 0)
				fail_msg("'%s' (quote %d) as '%s': %s", texts[i], quotes[q], line,
					 rain_error_last());
			assert_int_equal(w.n, 1);
			if (strncmp(w.v[0] + 1, texts[i], strlen(texts[i])) ||
			    strcmp(w.v[0] + 1 + strlen(texts[i]), "y"))
				fail_msg("'%s' (quote %d) as '%s' splits to '%s'", texts[i], quotes[q],
					 line, w.v[0]);
			shellwords_free(&w);
			free(line);
			free(s);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blanks),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_backslash),
		cmocka_unit_test(test_no_expansion),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_quote_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
