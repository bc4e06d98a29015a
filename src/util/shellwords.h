/* Splitting a command line into words the way a POSIX shell treats
 * quoting, and nothing more: blanks separate words; single quotes keep
 * everything up to the next single quote; double quotes keep everything
 * but a backslash before \ " $ ` or a newline; a backslash outside quotes
 * keeps the next character; a backslash before a newline joins the lines;
 * a '#' that starts a word starts a comment up to the end of the line.
 * Nothing is expanded ($, `, ~, * and ? are ordinary characters), ; | & <
 * > are ordinary characters, and nothing is ever run.  rain shell
 * (src/cli/cmd/shell.c) reads its command lines with it. */
#ifndef RAIN_UTIL_SHELLWORDS_H
#define RAIN_UTIL_SHELLWORDS_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* A line that ends inside a quote or with a backslash is not an
	 * error: the words so far come back and the fields below say how
	 * the line ends (for completion, and to read another line). */
	SHELLWORDS_PARTIAL = 1 << 0,
};

struct shellwords {
	char **v;               /* the words, NULL-terminated; owned */
	size_t n;
	/* How the text ends (set with and without SHELLWORDS_PARTIAL): */
	char quote;             /* '\'' or '"' when inside that quote, else 0 */
	bool backslash;         /* a last backslash that escapes nothing yet,
				   or one before a last newline: the line
				   goes on */
	bool in_word;           /* the text ends inside v[n - 1]: no blank
				   after it (an open quote counts) */
	size_t word_start;      /* with in_word: the byte offset in the text
				   where v[n - 1] starts */
};

/* Split len bytes of text (no NUL among them) into *out; free it with
 * shellwords_free(), also after a failure.  Returns 0, or RAIN_EINVAL
 * with a message saying where ("column 7: ..." or, with first_line > 0,
 * "line 12, column 7: ...", columns counted in characters from 1 and
 * lines from first_line at the text's start) for an unclosed quote or a
 * last backslash (not with SHELLWORDS_PARTIAL) and for a NUL byte;
 * rain_error_oom(). */
int shellwords_split(const char *text, size_t len, unsigned flags, size_t first_line,
		     struct shellwords *out);
void shellwords_free(struct shellwords *w);

/* s written so that, put after text that ends with the quote state
 * quote ('\'', '"' or 0 for none), it splits back as the same characters:
 * with 0, blanks, quotes, backslashes and '#' get a backslash (and a string
 * with a newline or another control character is put in single quotes);
 * inside single quotes a ' is written '\''; inside double quotes \ " $ `
 * get a backslash.  A new string owned by the caller, NULL when out of
 * memory. */
char *shellwords_quote(const char *s, char quote);

#endif
